//! The AWS SDKs for Rust and JavaScript reading vegas through
//! `credential_process`, end to end: the virtual YubiKey behind a private
//! pcscd, the strict local STS, and each SDK as a child process with the
//! world's environment. (The AWS CLI and boto3 are in assume_e2e.rs.)
//!
//! Each consumer runs more than once: the first run assumes the role (one
//! CALCULATE on the card, one AssumeRole at STS), the others are cache hits.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support::sts::Action;
use support::world::*;

const ADMIN_ARN: &str = "arn:aws:sts::222222222222:assumed-role/Admin/alice-session";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `program ARGS` with exactly the world's environment and no terminal.
fn in_world(world: &World, program: &Path, args: &[&str]) -> Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(world.env())
        .stdin(Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.output().expect("consumer runs")
}

fn arn_of(out: &Output, who: &str) -> String {
    assert!(
        out.status.success(),
        "{who} failed:\nstdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    stdout(out).trim().to_string()
}

fn assume_role_calls(world: &World) -> usize {
    world
        .sts
        .calls()
        .iter()
        .filter(|c| c.action == Action::AssumeRole)
        .count()
}

/// The example built next to the vegas binary (`cargo build --all-targets`,
/// which scripts/test runs, builds it).
fn example(name: &str) -> PathBuf {
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

#[test]
fn rust_sdk_gets_the_assumed_role_then_a_cache_hit() {
    let world = World::new();
    let consumer = example("rust-sdk-consumer");
    let url = world.sts.url();
    for run in 1..=2 {
        let out = in_world(&world, &consumer, &["admin", &url]);
        assert_eq!(arn_of(&out, "the Rust SDK"), ADMIN_ARN, "run {run}");
    }
    assert_eq!(
        assume_role_calls(&world),
        1,
        "the second run is a cache hit"
    );
    assert_eq!(world.card_handle().calculations(OATH_LABEL), 1);
}

fn node_consumer() -> PathBuf {
    let dir = root().join("tests/js-consumer");
    assert!(
        dir.join("node_modules/@aws-sdk/client-sts").exists(),
        "the JS SDK is not installed: run `npm ci` in {} (scripts/test does)",
        dir.display()
    );
    dir.join("consumer.mjs")
}

fn node() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("node"))
        .find(|p| p.is_file())
        .expect("node is on PATH")
}

#[test]
fn js_sdk_from_ini_and_from_process_get_the_assumed_role_then_cache_hits() {
    let world = World::new();
    let script = node_consumer();
    let script = script.to_str().unwrap();
    let url = world.sts.url();
    for provider in ["ini", "ini", "process", "process"] {
        let out = in_world(&world, &node(), &[script, "admin", &url, provider]);
        assert_eq!(arn_of(&out, &format!("the JS SDK ({provider})")), ADMIN_ARN);
    }
    assert_eq!(
        assume_role_calls(&world),
        1,
        "every run after the first is a hit"
    );
    assert_eq!(world.card_handle().calculations(OATH_LABEL), 1);
}

#[test]
fn js_sdk_reads_the_second_profile_through_its_own_assume_role() {
    let world = World::new();
    let script = node_consumer();
    let out = in_world(
        &world,
        &node(),
        &[
            script.to_str().unwrap(),
            "readonly",
            &world.sts.url(),
            "ini",
        ],
    );
    let arn = arn_of(&out, "the JS SDK");
    assert!(
        arn.starts_with("arn:aws:sts::333333333333:assumed-role/ReadOnly/"),
        "{arn}"
    );
}
