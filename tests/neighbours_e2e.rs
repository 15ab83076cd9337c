//! vegas on a real desk (issue #12). First the exact APDUs it sends on the
//! paths users run, proven by the virtual card's log, so that the card is
//! held as briefly as possible; then neighbours: a second PC/SC client
//! (examples/pcsc-neighbour.rs) that holds the card exclusively, selects the
//! PIV applet or resets the card beside vegas, as scdaemon, yubikey-agent or
//! a browser do. vegas waits out a short hold, reports a long one as a busy
//! key (never a missing one) within ten seconds, and survives a switch or a
//! reset, each with one CALCULATE and one code sent to STS.

mod support;

use std::process::Output;
use std::time::Duration;

use support::card::TouchResponse;
use support::world::*;

const SECOND: Duration = Duration::from_secs(1);

fn run(cmd: &mut std::process::Command) -> Output {
    cmd.output().expect("vegas runs")
}

fn log_of(world: &World) -> Vec<String> {
    world.card_handle().apdu_log()
}

#[test]
fn a_cold_assume_sends_select_oath_and_calculate_and_nothing_else() {
    let world = World::new();
    let out = run(&mut world.vegas(&["assume", "--profile", "admin"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(log_of(&world), ["SELECT OATH", "CALCULATE"]);
    // Every handle let go with "leave card": nothing reset under others.
    assert_eq!(world.card_handle().resets(), 0);
}

#[test]
fn a_cold_assume_with_a_remembered_password_adds_only_validate() {
    let world = World::with(
        CardSetup {
            password: Some("hunter2 on the key".into()),
            ..Default::default()
        },
        sts_config(),
    );
    let tty = world.vegas_in_terminal(&["assume", "--profile", "admin"], &[]);
    tty.wait_for_screen("OATH password for YubiKey", 10 * SECOND);
    tty.type_line("hunter2 on the key");
    let outcome = tty.wait(10 * SECOND);
    assert_eq!(outcome.code, 0, "{outcome:?}");

    // Another profile on the same MFA device: no credentials cached for it,
    // the access key remembered. (It may wait for the next time step.)
    world.card_handle().clear_log();
    let out = run(&mut world.vegas(&["assume", "--profile", "readonly"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(log_of(&world), ["SELECT OATH", "VALIDATE", "CALCULATE"]);
}

#[test]
fn a_missing_account_is_explained_with_a_list_after_the_calculate() {
    let world = World::new();
    let config = default_config(&world.sts.url()).replace(OATH_LABEL, "AWS:nobody");
    world.write_config(&config);
    let out = run(&mut world.vegas(&["assume", "--profile", "admin"]));
    let err = assert_clean_failure(&out);
    assert!(
        err.contains("AWS:nobody") && err.contains(OATH_LABEL),
        "{err}"
    );
    assert_eq!(log_of(&world), ["SELECT OATH", "CALCULATE", "LIST"]);
}

#[test]
fn oath_code_for_one_account_sends_select_and_calculate_all() {
    let world = World::new();
    let out = run(&mut world.vegas(&["oath", "code", OATH_LABEL]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(log_of(&world), ["SELECT OATH", "CALCULATE ALL"]);
}

#[test]
fn oath_list_sends_select_list_and_calculate_all() {
    let world = World::new();
    let out = run(&mut world.vegas(&["oath", "list"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(log_of(&world), ["SELECT OATH", "LIST", "CALCULATE ALL"]);
}

// ---------------------------------------------------------------------------
// Neighbours: a second PC/SC client (examples/pcsc-neighbour.rs) on the
// same virtual key.

/// The neighbour example, built next to the vegas binary (scripts/test
/// builds all targets; `cargo build --example pcsc-neighbour` otherwise).
fn neighbour_bin() -> std::path::PathBuf {
    let path = vegas_bin()
        .parent()
        .expect("target dir")
        .join("examples")
        .join("pcsc-neighbour");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --example pcsc-neighbour`",
        path.display()
    );
    path
}

/// Start the neighbour doing `action` on the world's key; returns once it
/// says it has done its part (for `hold`: holds the card).
fn neighbour(world: &World, action: &[&str]) -> std::process::Child {
    use std::io::BufRead;
    let mut child = std::process::Command::new(neighbour_bin())
        .arg("--reader")
        .arg(world.pcscd.reader_name(0))
        .args(action)
        .env_clear()
        .envs(world.env())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the neighbour starts");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped");
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the neighbour speaks");
    assert_eq!(line.trim(), "ready", "the neighbour failed");
    child
}

fn accepted_codes(world: &World) -> usize {
    world
        .sts
        .calls()
        .iter()
        .filter(|c| {
            matches!(
                c.token_check,
                Some(support::sts::TokenCheck::Accepted { .. })
            )
        })
        .count()
}

fn one_accepted_code(world: &World) {
    assert_eq!(accepted_codes(world), 1, "{:?}", world.sts.calls());
    assert_eq!(world.card_handle().total_calculations(), 1, "one CALCULATE");
}

#[test]
fn a_neighbour_selecting_piv_all_the_time_never_comes_between_select_validate_and_calculate() {
    use std::io::Write;
    let world = World::with(
        CardSetup {
            password: Some("hunter2 on the key".into()),
            ..Default::default()
        },
        sts_config(),
    );
    let mut selector = neighbour(&world, &["select-piv-for", "20"]);
    world.card_handle().clear_log();
    let mut vegas = world
        .vegas(&["oath", "code", OATH_LABEL, "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("vegas starts");
    // The password comes late, as from a password manager: the neighbour
    // has all the time it wants, and must still find no gap between
    // vegas's SELECT, VALIDATE and CALCULATE ALL.
    let waited = std::time::Instant::now();
    while waited.elapsed() < Duration::from_millis(500)
        && !log_of(&world).iter().any(|name| name == "SELECT OATH")
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    // The password is read before the key is opened: nothing held meanwhile.
    assert!(
        !log_of(&world).iter().any(|name| name == "SELECT OATH"),
        "the key was opened before the password came: {:?}",
        log_of(&world)
    );
    vegas
        .stdin
        .take()
        .expect("piped")
        .write_all(b"hunter2 on the key\n")
        .expect("the password is written");
    let out = vegas.wait_with_output().expect("vegas ends");
    let _ = selector.kill();
    let _ = selector.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    let log = log_of(&world);
    let ours: Vec<&String> = log.iter().filter(|name| *name != "SELECT PIV").collect();
    assert_eq!(
        ours,
        ["SELECT OATH", "VALIDATE", "CALCULATE ALL"],
        "{log:?}"
    );
    let first = log.iter().position(|name| name == "SELECT OATH").unwrap();
    assert_eq!(
        log[first..first + 3],
        ["SELECT OATH", "VALIDATE", "CALCULATE ALL"],
        "nothing between them: {log:?}"
    );
}

#[test]
fn a_neighbour_selecting_piv_all_the_time_costs_a_touch_assume_at_most_one_more_calculate() {
    let world = World::with(
        CardSetup {
            touch: Some(TouchResponse::TouchedAfter(Duration::from_millis(300))),
            ..Default::default()
        },
        sts_config(),
    );
    let mut selector = neighbour(&world, &["select-piv-for", "20"]);
    world.card_handle().clear_log();
    let out = run(&mut world.vegas(&["assume", "--profile", "admin", "--no-gui"]));
    let _ = selector.kill();
    let _ = selector.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    let log = log_of(&world);
    let ours: Vec<&String> = log.iter().filter(|name| *name != "SELECT PIV").collect();
    assert!(
        ours.iter().filter(|name| **name == "CALCULATE").count() <= 2,
        "{log:?}"
    );
    one_accepted_code(&world);
    assert_eq!(world.card_handle().touches(), 1);
}

#[test]
fn a_short_exclusive_hold_is_waited_out_with_one_touch() {
    let world = World::with(
        CardSetup {
            touch: Some(TouchResponse::TouchedAfter(Duration::from_millis(300))),
            ..Default::default()
        },
        sts_config(),
    );
    let mut holder = neighbour(&world, &["hold", "1.5"]);
    let out = run(&mut world.vegas(&["assume", "--profile", "admin"]));
    assert!(out.status.success(), "{}", stderr(&out));
    one_accepted_code(&world);
    assert_eq!(world.card_handle().touches(), 1);
    assert!(holder.wait().expect("the neighbour ends").success());
}

#[test]
fn a_long_exclusive_hold_is_a_busy_key_with_the_usual_holders_named_within_ten_seconds() {
    let world = World::new();
    let mut holder = neighbour(&world, &["hold", "20"]);
    let started = std::time::Instant::now();
    let out = run(&mut world.vegas(&["assume", "--profile", "admin", "--no-gui"]));
    let elapsed = started.elapsed();
    let err = assert_clean_failure(&out);
    assert!(elapsed < 10 * SECOND, "{elapsed:?}: {err}");
    assert!(err.contains("is in use by another program"), "{err}");
    assert!(err.contains("gpgconf --kill scdaemon"), "{err}");
    assert!(
        err.contains("pcsc-shared") && err.contains("disable-ccid"),
        "{err}"
    );
    assert!(!err.to_lowercase().contains("no yubikey"), "{err}");
    assert_eq!(world.card_handle().total_calculations(), 0);
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn a_long_shared_transaction_is_a_busy_key_with_its_hint_within_ten_seconds() {
    let world = World::new();
    let mut holder = neighbour(&world, &["transaction", "30"]);
    let started = std::time::Instant::now();
    let out = run(world
        .vegas(&["assume", "--profile", "admin", "--no-gui"])
        .env("VEGAS_YUBIKEY_BACKEND", "pcsc"));
    let elapsed = started.elapsed();
    let _ = holder.kill();
    let _ = holder.wait();
    let err = assert_clean_failure(&out);
    assert!(elapsed < 10 * SECOND, "{elapsed:?}: {err}");
    assert!(err.contains("is in use by another program"), "{err}");
    assert!(err.contains("gpgconf --kill scdaemon"), "{err}");
    assert!(!err.to_lowercase().contains("no yubikey"), "{err}");
    assert_eq!(world.card_handle().total_calculations(), 0);
}

/// The touch CALCULATE goes outside any transaction (docs/protocol.md,
/// "Transactions and the touch"). pcsc-lite's client library retries such a
/// transmit for as long as another program's transaction lasts unless vegas
/// has it refuse at once (`pcsc::refuse_rather_than_wait`): then vegas's own
/// patience bounds it. Sent from the neighbour binary acting as vegas, so
/// the transaction is sure to begin before the send.
#[test]
fn a_send_outside_a_transaction_beside_a_long_transaction_is_a_busy_key_with_its_hint_within_ten_seconds(
) {
    use std::io::{BufRead, Write};
    let world = World::new();
    let mut vegas = std::process::Command::new(neighbour_bin())
        .arg("--reader")
        .arg(world.pcscd.reader_name(0))
        .arg("as-vegas-outside-a-transaction")
        .env_clear()
        .envs(world.env())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("vegas's transport starts");
    let mut said = std::io::BufReader::new(vegas.stdout.take().expect("piped"));
    let mut line = String::new();
    said.read_line(&mut line).expect("it speaks");
    assert_eq!(line.trim(), "ready", "it failed to connect");
    let mut holder = neighbour(&world, &["transaction", "30"]);
    let started = std::time::Instant::now();
    writeln!(vegas.stdin.as_mut().expect("piped"), "send").expect("it listens");
    line.clear();
    said.read_line(&mut line).expect("it answers");
    let elapsed = started.elapsed();
    let _ = holder.kill();
    let _ = holder.wait();
    let _ = vegas.wait();
    assert!(elapsed < 10 * SECOND, "{elapsed:?}: {line}");
    assert!(line.contains("is in use by another program"), "{line}");
    assert!(line.contains("gpgconf --kill scdaemon"), "{line}");
}

#[test]
fn a_long_shared_transaction_under_auto_tries_ykman_which_gets_the_code_once_it_ends() {
    let world = World::new();
    let mut holder = neighbour(&world, &["transaction", "8"]);
    let out = run(world
        .vegas(&["--verbose", "assume", "--profile", "admin", "--no-gui"])
        .env("PATH", path_with_ykman())
        .env("VEGAS_READER", world.pcscd.reader_name(0))
        .env("VEGAS_YUBIKEY_BACKEND", "auto"));
    let _ = holder.kill();
    let _ = holder.wait();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("is in use by another program; trying ykman instead"),
        "{err}"
    );
    // ykman's own CALCULATE ALL: one code, at STS.
    assert_eq!(accepted_codes(&world), 1, "{:?}", world.sts.calls());
}

/// vegas has pcsc-lite refuse rather than wait (`PCSCLITE_NO_BLOCKING`,
/// set in its main); ykman is run with the environment vegas was given.
#[test]
fn ykman_runs_without_the_pcsc_setting_vegas_gives_itself() {
    use std::os::unix::fs::PermissionsExt;
    let world = World::new();
    let bin = tempfile::tempdir().expect("a dir for a fake ykman");
    let seen = bin.path().join("env");
    let ykman = bin.path().join("ykman");
    std::fs::write(
        &ykman,
        format!("#!/bin/sh\nenv >> '{}'\nexit 1\n", seen.display()),
    )
    .expect("the fake ykman is written");
    std::fs::set_permissions(&ykman, std::fs::Permissions::from_mode(0o755))
        .expect("the fake ykman runs");
    let mut dirs = vec![bin.path().to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let out = run(world
        .vegas(&["assume", "--profile", "admin", "--no-gui"])
        .env("PATH", std::env::join_paths(dirs).expect("a PATH"))
        .env("VEGAS_YUBIKEY_BACKEND", "ykman"));
    let _ = assert_clean_failure(&out);
    let env = std::fs::read_to_string(&seen).expect("vegas ran the fake ykman");
    assert!(env.contains("PATH="), "{env}");
    assert!(!env.contains("PCSCLITE_NO_BLOCKING"), "{env}");
}

/// This process's PATH with the test virtualenv's ykman first.
fn path_with_ykman() -> std::ffi::OsString {
    let ykman = support::venv::venv_bin("ykman");
    let mut dirs = vec![ykman.parent().expect("the venv's bin").to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("a PATH")
}

#[test]
fn a_long_hold_under_auto_tries_ykman_then_ends_as_the_busy_key_within_ten_seconds() {
    let world = World::new();
    let mut holder = neighbour(&world, &["hold", "20"]);
    let started = std::time::Instant::now();
    let out = run(world
        .vegas(&["--verbose", "assume", "--profile", "admin", "--no-gui"])
        .env("PATH", path_with_ykman())
        .env("VEGAS_READER", world.pcscd.reader_name(0))
        .env("VEGAS_YUBIKEY_BACKEND", "auto"));
    let elapsed = started.elapsed();
    let _ = holder.kill();
    let _ = holder.wait();
    let err = assert_clean_failure(&out);
    assert!(elapsed < 10 * SECOND, "{elapsed:?}: {err}");
    assert!(err.contains("trying ykman instead"), "{err}");
    assert!(
        err.contains("ykman could not reach the busy key either"),
        "{err}"
    );
    // The error itself (after the diagnostics): the busy key, with its hint.
    let error = err
        .lines()
        .skip_while(|line| !line.starts_with("vegas: "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(error.contains("is in use by another program"), "{err}");
    assert!(error.contains("gpgconf --kill scdaemon"), "{err}");
    assert!(!error.to_lowercase().contains("no yubikey"), "{err}");
    assert_eq!(world.card_handle().total_calculations(), 0);
}

#[test]
fn with_a_terminal_a_long_hold_offers_the_typed_code_once_ykman_failed_too() {
    let world = World::new();
    let mut holder = neighbour(&world, &["hold", "30"]);
    let path = path_with_ykman();
    let reader = world.pcscd.reader_name(0);
    let tty = world.vegas_in_terminal(
        &["assume", "--profile", "admin"],
        &[
            ("PATH", path.to_str().expect("a UTF-8 PATH")),
            ("VEGAS_READER", &reader),
            ("VEGAS_YUBIKEY_BACKEND", "auto"),
        ],
    );
    let screen = tty.wait_for_screen("MFA code for profile admin", 15 * SECOND);
    assert!(screen.contains("is in use by another program"), "{screen}");
    tty.type_line(&world.account.totp_code_at(unix_now()));
    let outcome = tty.wait(10 * SECOND);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(world.card_handle().total_calculations(), 0);
    let accepted = world
        .sts
        .calls()
        .iter()
        .filter(|c| {
            matches!(
                c.token_check,
                Some(support::sts::TokenCheck::Accepted { .. })
            )
        })
        .count();
    assert_eq!(accepted, 1, "{:?}", world.sts.calls());
}

/// `vegas assume` on a password-protected key, with the neighbour doing
/// `action` while the password is being typed: vegas succeeds, one code.
fn survives_while_the_password_is_typed(action: &str) -> Survived {
    let world = World::with(
        CardSetup {
            password: Some("typed slowly".into()),
            ..Default::default()
        },
        sts_config(),
    );
    let tty = world.vegas_in_terminal(&["assume", "--profile", "admin"], &[]);
    tty.wait_for_screen("OATH password for YubiKey", 10 * SECOND);
    let mut neighbour = neighbour(&world, &[action]);
    assert!(neighbour.wait().expect("the neighbour ends").success());
    tty.type_line("typed slowly");
    let outcome = tty.wait(10 * SECOND);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    one_accepted_code(&world);
    Survived {
        outcome,
        resets: world.card_handle().resets(),
    }
}

/// What [`survives_while_the_password_is_typed`] saw.
struct Survived {
    outcome: TerminalOutcome,
    resets: u32,
}

#[test]
fn an_applet_switch_while_the_password_is_typed_is_survived() {
    let outcome = survives_while_the_password_is_typed("select-piv").outcome;
    assert!(!outcome.screen.contains("wrong"), "{}", outcome.screen);
}

#[test]
fn a_reset_while_the_password_is_typed_is_survived() {
    let world_resets = survives_while_the_password_is_typed("reset").resets;
    // The card saw the neighbour's reset: the counter the tests below
    // rely on counts what pcscd does.
    assert!(world_resets >= 1, "{world_resets}");
}

/// vegas killed with `signal` while the key waits for a touch: pcscd
/// resets the card under every other program when a client dies inside a
/// PC/SC transaction, so the touch CALCULATE must be outside one.
fn killed_during_a_touch_leaves_the_card_as_it_was(signal: libc::c_int) {
    let world = World::with(
        CardSetup {
            touch: Some(TouchResponse::TouchedAfter(2 * SECOND)),
            ..Default::default()
        },
        sts_config(),
    );
    world.card_handle().clear_log();
    let mut vegas = world
        .vegas(&["assume", "--profile", "admin", "--no-gui"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("vegas starts");
    let waited = std::time::Instant::now();
    while !log_of(&world).iter().any(|name| name == "CALCULATE") {
        assert!(waited.elapsed() < 10 * SECOND, "{:?}", log_of(&world));
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = libc::pid_t::try_from(vegas.id()).expect("a pid");
    // SAFETY: a child of ours, not yet waited for.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    let status = vegas.wait().expect("vegas ends");
    assert!(!status.success(), "{status:?}");
    // The card answers the CALCULATE once touched; pcscd cleans up after
    // the dead client then.
    std::thread::sleep(3 * SECOND);
    assert_eq!(world.card_handle().resets(), 0, "{:?}", log_of(&world));
}

#[test]
fn ctrl_c_at_touch_your_yubikey_leaves_the_card_unreset_for_other_programs() {
    killed_during_a_touch_leaves_the_card_as_it_was(libc::SIGINT);
}

#[test]
fn a_credential_process_killed_while_the_key_waits_for_a_touch_leaves_the_card_unreset() {
    killed_during_a_touch_leaves_the_card_as_it_was(libc::SIGKILL);
}

#[test]
fn doctor_reports_a_busy_key_and_the_scdaemon_settings_that_would_free_it() {
    let world = World::new();
    let mut holder = neighbour(&world, &["hold", "20"]);
    let out = run(&mut world.vegas(&["doctor", "--json"]));
    let _ = holder.kill();
    let _ = holder.wait();
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    let check = |name: &str| {
        report
            .as_array()
            .expect("an array of checks")
            .iter()
            .find(|c| c["check"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} check in {report}"))
    };
    let keys = check("YubiKeys");
    assert_eq!(keys["level"], "fail", "{keys}");
    let detail = keys["detail"].as_str().unwrap();
    assert!(detail.contains("is in use by another program"), "{keys}");
    assert!(keys["fix"].as_str().unwrap().contains("scdaemon"), "{keys}");
    if on_path("gpgconf") || on_path("gpg") {
        let gnupg = check("GnuPG scdaemon");
        assert_eq!(gnupg["level"], "warn", "{gnupg}");
        assert!(gnupg["detail"]
            .as_str()
            .unwrap()
            .contains("lacks disable-ccid and pcsc-shared"));
    }
}

/// Whether `program` is in one of the directories of this process's PATH
/// (which the world hands to vegas).
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
