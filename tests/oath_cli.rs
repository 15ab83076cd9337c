//! `vegas oath …` where no pcscd is needed: without the smart card service,
//! every oath command fails at once with one line, a hint and exit 1; bad
//! flags are usage errors (exit 2). The commands against a real pcscd and the
//! virtual card are in tests/oath_e2e.rs.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Run vegas with a fresh environment whose pcscd socket does not exist.
fn vegas_without_pcscd(scratch: &Path, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_vegas"))
        .args(args)
        .env_clear()
        .env("HOME", scratch)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PCSCLITE_CSOCK_NAME", scratch.join("no-pcscd/pcscd.comm"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run vegas");
    (output, started.elapsed())
}

#[test]
fn every_oath_command_reports_pcscd_not_running_with_a_hint() {
    let scratch = tempfile::tempdir().unwrap();
    for args in [
        &["oath", "keys"][..],
        &["oath", "keys", "--json"],
        &["oath", "list"],
        &["oath", "list", "--serial", "12345678", "--json"],
        &["oath", "code"],
        &["oath", "code", "AWS", "--reader", "Yubico"],
    ] {
        let (output, elapsed) = vegas_without_pcscd(scratch.path(), args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?} wrote to stdout");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{args:?}: {stderr}");
        assert_eq!(
            lines[0], "vegas: pcscd (the smart card service) is not running",
            "{args:?}"
        );
        assert!(
            lines[1].starts_with("hint: start it"),
            "{args:?}: {}",
            lines[1]
        );
        assert!(
            elapsed < Duration::from_secs(1),
            "{args:?} took {elapsed:?}"
        );
    }
}

#[test]
fn a_serial_that_is_not_a_number_is_a_usage_error() {
    let scratch = tempfile::tempdir().unwrap();
    let (output, _) = vegas_without_pcscd(scratch.path(), &["oath", "code", "--serial", "abc"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
}
