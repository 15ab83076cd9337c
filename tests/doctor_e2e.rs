//! `vegas doctor` against real parts (the virtual YubiKey behind a private
//! pcscd, the strict local STS), healthy and broken in each way the doctor
//! must name; and the shell side: completions and man pages.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::world::*;

fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> Output {
    cmd.borrow_mut().output().expect("command runs")
}

// ---- completions and man pages -------------------------------------------

/// `vegas ARGS` with an empty environment: completions need nothing else.
fn bare_vegas(args: &[&str]) -> Command {
    let mut cmd = Command::new(vegas_bin());
    cmd.args(args).env_clear();
    cmd
}

#[test]
fn bash_accepts_the_bash_completion_script() {
    let out = run(bare_vegas(&["completions", "bash"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let script = stdout(&out);
    assert!(script.contains("complete -F"), "{script}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vegas.bash");
    std::fs::write(&file, &script).unwrap();
    let check = run(Command::new("bash").arg("-n").arg(&file));
    assert!(check.status.success(), "bash -n: {}", stderr(&check));
}

#[test]
fn every_shell_gets_a_completion_script() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = run(bare_vegas(&["completions", shell]));
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        assert!(stdout(&out).contains("doctor"), "{shell}");
    }
    let out = run(bare_vegas(&["completions", "tcsh"]));
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

fn man_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/man"))
}

#[test]
fn committed_man_pages_match_the_command_line() {
    use clap::CommandFactory;
    let fresh = tempfile::tempdir().unwrap();
    clap_mangen::generate_to(vegas::cli::Cli::command(), fresh.path()).unwrap();
    let mut names: Vec<_> = std::fs::read_dir(fresh.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert!(names.len() > 5, "{names:?}");
    for name in names {
        let want = std::fs::read_to_string(fresh.path().join(&name)).unwrap();
        let have = std::fs::read_to_string(man_dir().join(&name)).unwrap_or_default();
        assert!(
            want == have,
            "docs/man/{} is out of date: run `cargo run --example man -- docs/man`",
            name.to_string_lossy()
        );
    }
}

#[test]
fn man_renders_every_page() {
    for entry in std::fs::read_dir(man_dir()).expect("docs/man exists") {
        let path = entry.unwrap().path();
        let out = run(Command::new("man")
            .arg("-l")
            .arg(&path)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80"));
        assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("NAME") && text.contains("SYNOPSIS"), "{text}");
        assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    }
}
