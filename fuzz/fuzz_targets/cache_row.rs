//! The cache's row decoder: a row whose columns hold anything (as a damaged
//! disk, another program or an attacker with the user's rights could leave)
//! is a miss, never credentials it did not seal and never a panic. The input
//! is split into expires_at, iv, ciphertext and mac, written over a real
//! sealed row with SQL, then read back with `Cache::get` and `Cache::list`.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::cache_row(data));
