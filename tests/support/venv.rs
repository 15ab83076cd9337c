//! Where the tests find the pinned virtualenv's programs (python, ykman, aws).
//! One home, so that no test names a path into one particular checkout: the
//! suite must pass from a clone in any directory.
//!
//! `scripts/test` creates the virtualenv in `.venv` and exports
//! `VEGAS_PYTHON` and `VEGAS_YKMAN`; without them (a bare `cargo test`) the
//! programs come from `.venv` in this checkout (`CARGO_MANIFEST_DIR`).

use std::path::PathBuf;

/// The variable `scripts/test` (scripts/lib/setup.sh) sets for `program`.
fn override_variable(program: &str) -> Option<&'static str> {
    match program {
        "python" => Some("VEGAS_PYTHON"),
        "ykman" => Some("VEGAS_YKMAN"),
        _ => None,
    }
}

/// A program of the pinned virtualenv: the path in its `VEGAS_*` variable
/// when set, else `$CARGO_MANIFEST_DIR/.venv/bin/<program>`.
pub fn venv_bin(program: &str) -> PathBuf {
    let path = override_variable(program)
        .and_then(std::env::var_os)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(".venv/bin")
                .join(program)
        });
    assert!(
        path.exists(),
        "{} is missing: run scripts/test, which creates the virtualenv",
        path.display()
    );
    path
}
