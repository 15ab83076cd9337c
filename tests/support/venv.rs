//! Where the tests find the pinned virtualenv's programs (python, ykman, aws).
//! One home, so that no test names a path into one particular checkout: the
//! suite must pass from a clone in any directory.
//!
//! `scripts/test` creates the virtualenv in `.venv` and exports
//! `VEGAS_PYTHON` and `VEGAS_YKMAN` (scripts/lib/setup.sh). A program is
//! found, in this order:
//! 1. in its own variable (`VEGAS_PYTHON`, `VEGAS_YKMAN`), when set;
//! 2. beside `VEGAS_PYTHON` (the `aws` of the same virtualenv);
//! 3. in `.venv/bin` of this checkout (`CARGO_MANIFEST_DIR`): a bare `cargo
//!    test` after `scripts/test` made the virtualenv.

use std::path::PathBuf;

/// The variable `scripts/test` sets for `program`, if it sets one.
fn own_variable(program: &str) -> Option<&'static str> {
    match program {
        "python" => Some("VEGAS_PYTHON"),
        "ykman" => Some("VEGAS_YKMAN"),
        _ => None,
    }
}

/// A program of the pinned virtualenv (see the module header for where).
pub fn venv_bin(program: &str) -> PathBuf {
    let own = own_variable(program)
        .and_then(std::env::var_os)
        .map(PathBuf::from);
    let beside_python = || {
        let python = PathBuf::from(std::env::var_os("VEGAS_PYTHON")?);
        Some(python.parent()?.join(program))
    };
    let in_checkout = || {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(".venv/bin")
            .join(program)
    };
    let path = own.or_else(beside_python).unwrap_or_else(in_checkout);
    assert!(
        path.exists(),
        "{} is missing: run scripts/test, which creates the virtualenv",
        path.display()
    );
    path
}
