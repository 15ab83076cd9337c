//! The AWS SDKs for Rust and JavaScript reading vegas through
//! `credential_process`, end to end: the virtual YubiKey behind a private
//! pcscd, the strict local STS, and each SDK as a child process with the
//! world's environment. (The AWS CLI and boto3 are in assume_e2e.rs.)
//!
//! Each consumer runs more than once: the first run assumes the role (one
//! CALCULATE on the card, one AssumeRole at STS), the others are cache hits.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::consumers::{example, node, node_consumer};
use support::sts::Action;
use support::world::*;

const ADMIN_ARN: &str = "arn:aws:sts::222222222222:assumed-role/Admin/alice-session";

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

// ---- what any consumer sees: never a secret ------------------------------

const OATH_PASSWORD: &str = "open sesame 42";

/// `vegas ARGS` with `input` on stdin.
fn vegas_with_stdin(world: &World, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut cmd = world.vegas(args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("vegas starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("vegas ends")
}

/// Whether `code` appears in `text` as a number of its own (not inside a
/// longer run of digits such as a timestamp).
fn contains_code(text: &str, code: &str) -> bool {
    text.match_indices(code).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + code.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

#[test]
fn no_command_shows_a_secret_even_with_verbose() {
    let world = World::with(
        CardSetup {
            password: Some(OATH_PASSWORD.into()),
            ..Default::default()
        },
        sts_config(),
    );
    let start = unix_now();
    // (what was shown, where, whether TOTP codes belong there by design)
    let mut shown: Vec<(String, String, bool)> = Vec::new();

    // A miss on a terminal: the OATH password is typed, the access key kept.
    let tty = world.vegas_in_terminal(&["--verbose", "assume", "--profile", "admin"], &[]);
    tty.wait_for_screen("OATH password", std::time::Duration::from_secs(15));
    tty.type_line(OATH_PASSWORD);
    let outcome = tty.wait(std::time::Duration::from_secs(30));
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let issued: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("JSON");
    let mut secrets: Vec<String> = vec![SOURCE_SECRET.into(), OATH_PASSWORD.into()];
    let mut remember = |creds: &serde_json::Value| {
        for key in ["SecretAccessKey", "SessionToken"] {
            secrets.push(creds[key].as_str().expect(key).to_string());
        }
    };
    remember(&issued);
    shown.push((outcome.stderr, "assume (miss) stderr".into(), false));
    shown.push((outcome.screen, "assume (miss) terminal".into(), false));

    // A hit, and a miss of another profile with the remembered access key.
    for profile in ["admin", "readonly"] {
        let out = world
            .vegas(&["--verbose", "assume", "--profile", profile])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        remember(&serde_json::from_slice(&out.stdout).expect("JSON"));
        assert!(!out.stderr.is_empty(), "--verbose says something");
        shown.push((stderr(&out), format!("assume {profile} stderr"), false));
    }

    let password_line = format!("{OATH_PASSWORD}\n");
    let listings: [(&[&str], Option<&str>, bool); 10] = [
        (&["--verbose", "oath", "keys"], None, false),
        (
            &["--verbose", "oath", "list", "--password-stdin"],
            Some(&password_line),
            false,
        ),
        (
            &["--verbose", "oath", "code", "--password-stdin"],
            Some(&password_line),
            true,
        ),
        (&["--verbose", "cache", "list"], None, false),
        (&["--verbose", "cache", "list", "--json"], None, false),
        (
            &["--verbose", "config", "show-profile", "admin"],
            None,
            false,
        ),
        (&["--verbose", "doctor"], None, false),
        (&["--verbose", "doctor", "--json"], None, false),
        (&["--verbose", "completions", "bash"], None, false),
        (&["--verbose", "cache", "clean"], None, false),
    ];
    for (args, input, codes_expected) in listings {
        let out = match input {
            Some(input) => vegas_with_stdin(&world, args, input),
            None => world.vegas(args).output().unwrap(),
        };
        let what = args.join(" ");
        shown.push((stdout(&out), format!("{what} stdout"), codes_expected));
        shown.push((stderr(&out), format!("{what} stderr"), false));
    }

    let codes = world.codes_since(start.saturating_sub(30));
    assert!(!codes.is_empty());
    assert!(
        secrets.iter().all(|s| s.len() >= 12),
        "real secrets to look for"
    );
    for (text, what, codes_expected) in &shown {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret in {what}:\n{text}"
            );
        }
        if !codes_expected {
            for code in &codes {
                assert!(
                    !contains_code(text, code),
                    "TOTP code {code} in {what}:\n{text}"
                );
            }
        }
    }
    // The one place codes belong, so the search above can find them.
    let listed = shown
        .iter()
        .find(|(_, what, _)| what.starts_with("--verbose oath code"))
        .map(|(text, _, _)| text.clone())
        .unwrap();
    assert!(codes.iter().any(|c| contains_code(&listed, c)), "{listed}");
}
