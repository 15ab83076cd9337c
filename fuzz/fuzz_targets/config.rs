//! The AWS shared config and credentials files as vegas reads them: any text
//! parses or fails with an error naming file and line; every profile then
//! resolves or fails with an error — never a panic. A 0xFF byte (never in
//! UTF-8) separates the config file from the credentials file.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::config(data));
