//! The fuzz targets (fuzz/bodies.rs) on stable Rust, in every `cargo test`:
//! each seed of fixtures/fuzz/TARGET/ (and any crash input saved there),
//! every truncation and every one-byte flip of it (every 4th for cache rows),
//! then random inputs.
//! The long coverage-guided runs are `cargo fuzz` (docs/reliability.md).

#[path = "../fuzz/bodies.rs"]
mod bodies;

use proptest::prelude::*;
use std::path::Path;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/fuzz")
        .join(target);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.expect("entry").path()).expect("read seed"))
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds.sort();
    seeds
}

/// The seed, each of its prefixes, and each one-byte flip of it.
fn replay(target: &str, body: fn(&[u8])) {
    replay_every(target, body, 1);
}

/// Like [`replay`], at every `stride`-th position only.
fn replay_every(target: &str, body: fn(&[u8]), stride: usize) {
    for seed in seeds(target) {
        body(&seed);
        for end in (0..seed.len()).step_by(stride) {
            body(&seed[..end]);
        }
        for at in (0..seed.len()).step_by(stride) {
            let mut flipped = seed.clone();
            flipped[at] ^= 0xFF;
            body(&flipped);
        }
    }
}

#[test]
fn oath_tlv_survives_its_corpus() {
    replay("oath_tlv", bodies::oath_tlv);
}

#[test]
fn oath_responses_survive_their_corpus() {
    replay("oath_responses", bodies::oath_responses);
}

#[test]
fn oath_session_survives_its_corpus() {
    replay("oath_session", bodies::oath_session);
}

#[test]
fn config_survives_its_corpus() {
    replay("config", bodies::config);
}

#[test]
fn cache_row_survives_its_corpus() {
    // Each run is a synced database write: every 4th position keeps it short.
    replay_every("cache_row", bodies::cache_row, 4);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic_a_card_parser(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        bodies::oath_tlv(&data);
        bodies::oath_responses(&data);
        bodies::oath_session(&data);
    }

    #[test]
    fn random_text_never_panics_the_config_parser(text in "(\\[[a-z ]{0,12}\\]|[a-z_]{1,12} ?= ?[a-z0-9:/]{0,12}|  [a-z]+ = x|#.*|\\n){0,30}") {
        bodies::config(text.as_bytes());
    }
}

proptest! {
    // Each case is a synced database write.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_rows_are_never_served(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        bodies::cache_row(&data);
    }
}
