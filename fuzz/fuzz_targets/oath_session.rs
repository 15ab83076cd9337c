//! A whole OATH session against a card whose every answer comes from the
//! fuzzer: SELECT, LIST and CALCULATE ALL with `61xx` response chaining and
//! status words. The input is a script of answers, each a one-byte length
//! then that many bytes (data and SW1 SW2). vegas must end with accounts,
//! codes or an error — never a panic, never a loop.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::oath_session(data));
