//! The parsers of the OATH applet's answers (SELECT, LIST, CALCULATE ALL,
//! CALCULATE), each fed the data of a response after chaining: an error or a
//! value, never a panic. The first byte picks the parser.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::oath_responses(data));
