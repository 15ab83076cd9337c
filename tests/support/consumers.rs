//! Where the end-to-end tests find the SDK consumers that are not in the
//! virtualenv: the Rust SDK example and the JS SDK v3 script with node.

use std::path::{Path, PathBuf};

use super::world::vegas_bin;

/// An example built next to the vegas binary (`cargo build --all-targets`,
/// which scripts/test runs, builds it).
pub fn example(name: &str) -> PathBuf {
    let path = vegas_bin()
        .parent()
        .expect("target dir")
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --example {name}` (scripts/test does)",
        path.display()
    );
    path
}

/// tests/js-consumer/consumer.mjs, once its node_modules are installed.
pub fn node_consumer() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js-consumer");
    assert!(
        dir.join("node_modules/@aws-sdk/client-sts").exists(),
        "the JS SDK is not installed: run `npm ci` in {} (scripts/test does)",
        dir.display()
    );
    dir.join("consumer.mjs")
}

/// `node` on PATH.
pub fn node() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("node"))
        .find(|p| p.is_file())
        .expect("node is on PATH")
}
