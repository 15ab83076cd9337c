//! The YKOATH TLV reader: any bytes a card sends parse to TLVs or to an
//! error, never a panic, and every TLV found lies inside the input.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::oath_tlv(data));
