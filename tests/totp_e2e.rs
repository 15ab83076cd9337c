//! Getting the MFA code end to end (issue #5): real ykman against the virtual
//! YubiKey behind a private pcscd, a person typing on a real pseudo-terminal
//! (tmux) while a touch account waits, a GUI dialog program on PATH when
//! there is no terminal, and the strict STS checking every code sent.

mod support;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use support::card::account::decode_base32;
use support::card::{Account, TouchResponse};
use support::sts::{Action, TokenCheck};
use support::world::*;

const SECOND: Duration = Duration::from_secs(1);

fn run(cmd: &mut std::process::Command) -> (Output, Duration) {
    let started = Instant::now();
    let out = cmd.output().expect("vegas runs");
    (out, started.elapsed())
}

fn touch_world(touch: TouchResponse) -> World {
    World::with(
        CardSetup {
            touch: Some(touch),
            ..Default::default()
        },
        sts_config(),
    )
}

/// The one AssumeRole call made, which STS accepted with the right code.
fn assert_one_accepted_call(world: &World) {
    let calls = world.sts.calls();
    let assume: Vec<_> = calls
        .iter()
        .filter(|c| c.action == Action::AssumeRole)
        .collect();
    assert_eq!(assume.len(), 1, "{calls:?}");
    assert!(
        matches!(assume[0].token_check, Some(TokenCheck::Accepted { .. })),
        "{:?}",
        assume[0].token_check
    );
    assert!(assume[0].succeeded());
}

fn assert_credentials(stdout: &str) {
    let v: serde_json::Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout:?}"));
    assert_eq!(v["Version"], 1, "{v}");
}

/// Drops the world without waiting for its card, which may still be sleeping
/// through the touch vegas stopped waiting for (dropping it joins that
/// thread). The card's thread ends by itself once the touch delay is over.
fn end_without_waiting_for_the_card(mut world: World) {
    if let Some(card) = world.card.take() {
        std::mem::forget(card);
    }
}

/// PATH with the virtualenv's ykman in front.
fn path_with_ykman() -> OsString {
    let venv = venv_bin("ykman");
    let mut dirs = vec![venv.parent().unwrap().to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

/// A PATH with system tools only: no ykman, no dialog program.
const BARE_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// A `zenity` that records its arguments and pid, waits `delay_seconds`,
/// then prints `answer`.
fn fake_zenity(dir: &Path, answer: &str, delay_seconds: u32) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = format!(
        "#!/bin/sh\n\
         echo $$ > {dir}/zenity.pid\n\
         printf '%s\\n' \"$@\" >> {dir}/zenity.args\n\
         sleep {delay_seconds}\n\
         printf '%s\\n' '{answer}'\n",
        dir = dir.display()
    );
    let path = bin.join("zenity");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn process_alive(pid: &str) -> bool {
    Path::new(&format!("/proc/{}", pid.trim())).exists()
        && !std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .unwrap_or_default()
            .contains(") Z ")
}

/// Processes whose command line mentions `program` and whose environment
/// holds `marker` (this world's pcscd socket): this test's children only.
fn processes_of_world(program: &str, marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let dir = entry.path();
        let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        let environ = std::fs::read(dir.join("environ")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(program) && String::from_utf8_lossy(&environ).contains(marker) {
            found.push(cmdline);
        }
    }
    found
}

// ---------------------------------------------------------------------------
// ykman
// ---------------------------------------------------------------------------

/// The environment for the ykman backend: ykman on PATH, and the reader named
/// (ykman counts the empty second vpcd slot as a key otherwise).
fn ykman_env(world: &World) -> Vec<(&'static str, OsString)> {
    vec![
        ("VEGAS_YUBIKEY_BACKEND", "ykman".into()),
        ("PATH", path_with_ykman()),
        ("VEGAS_READER", world.pcscd.reader_name(0).into()),
    ]
}

#[test]
fn ykman_backend_gets_the_code_through_real_ykman() {
    let world = World::new();
    let (out, _) = run(world
        .vegas(&["assume", "--profile", "admin"])
        .envs(ykman_env(&world)));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_credentials(&stdout(&out));
    assert_one_accepted_call(&world);
    assert!(
        world.card_handle().calculate_alls() >= 1,
        "ykman read the code with CALCULATE ALL"
    );
}

#[test]
fn ykman_backend_waits_for_a_touch_and_says_so() {
    let world = touch_world(TouchResponse::TouchedAfter(Duration::from_millis(800)));
    let (out, _) = run(world
        .vegas(&["assume", "--profile", "admin"])
        .envs(ykman_env(&world)));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Touch your YubiKey"),
        "{}",
        stderr(&out)
    );
    assert_eq!(world.card_handle().touches(), 1);
    assert_one_accepted_call(&world);
}

#[test]
fn ykman_failures_map_to_vegas_errors() {
    // No such account.
    let world = World::new();
    world.write_config(&default_config(&world.sts.url()).replace(OATH_LABEL, "AWS:nobody"));
    let (out, _) = run(world
        .vegas(&["assume", "--profile", "admin"])
        .envs(ykman_env(&world)));
    let err = assert_clean_failure(&out);
    assert!(err.contains("no OATH account 'AWS:nobody'"), "{err}");
    assert!(err.contains("ykman oath accounts list"), "{err}");
    assert_eq!(world.sts.count(&Action::AssumeRole), 0);

    // The touch times out.
    let world = touch_world(TouchResponse::TimesOutAfter(Duration::from_millis(300)));
    let (out, _) = run(world
        .vegas(&["assume", "--profile", "admin"])
        .envs(ykman_env(&world)));
    let err = assert_clean_failure(&out);
    assert!(err.contains("not touched in time"), "{err}");
    assert_eq!(world.sts.count(&Action::AssumeRole), 0);

    // A password, and no terminal to ask it on.
    let world = World::with(
        CardSetup {
            password: Some("sesame".into()),
            ..Default::default()
        },
        sts_config(),
    );
    let (out, _) = run(world
        .vegas(&["assume", "--profile", "admin"])
        .envs(ykman_env(&world)));
    let err = assert_clean_failure(&out);
    assert!(err.contains("OATH password"), "{err}");
    assert!(err.contains("ykman oath access remember"), "{err}");

    // No key in the reader.
    let mut world = World::new();
    world.card.take().unwrap().remove();
    let (out, elapsed) = run(world
        .vegas(&["assume", "--profile", "admin"])
        .envs(ykman_env(&world)));
    let err = assert_clean_failure(&out);
    assert!(err.contains("ykman found no YubiKey"), "{err}");
    assert!(err.contains("typed code: no terminal"), "{err}");
    assert!(elapsed < 5 * SECOND, "{elapsed:?}");
    assert_eq!(world.sts.count(&Action::AssumeRole), 0);
}

#[test]
fn ykman_gets_the_oath_password_on_stdin_from_a_terminal_prompt() {
    let world = World::with(
        CardSetup {
            password: Some("open sesame".into()),
            ..Default::default()
        },
        sts_config(),
    );
    let path = path_with_ykman();
    let reader = world.pcscd.reader_name(0);
    let tty = world.vegas_in_terminal(
        &["assume", "--profile", "admin"],
        &[
            ("VEGAS_YUBIKEY_BACKEND", "ykman"),
            ("PATH", path.to_str().unwrap()),
            ("VEGAS_READER", &reader),
        ],
    );
    tty.wait_for_screen("OATH password", 15 * SECOND);
    tty.type_line("open sesame");
    let outcome = tty.wait(15 * SECOND);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_credentials(&outcome.stdout);
    assert!(
        !outcome.screen.contains("open sesame"),
        "the password is not echoed"
    );
    assert_one_accepted_call(&world);
}

#[test]
fn typed_code_beats_ykman_waiting_for_a_touch_and_ykman_is_killed() {
    let world = touch_world(TouchResponse::TouchedAfter(Duration::from_secs(30)));
    let path = path_with_ykman();
    let reader = world.pcscd.reader_name(0);
    let tty = world.vegas_in_terminal(
        &["assume", "--profile", "admin"],
        &[
            ("VEGAS_YUBIKEY_BACKEND", "ykman"),
            ("PATH", path.to_str().unwrap()),
            ("VEGAS_READER", &reader),
        ],
    );
    tty.wait_for_screen("or type the code", 15 * SECOND);
    tty.type_line(&world.account.totp_code_at(unix_now()));
    let outcome = tty.wait(10 * SECOND);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_credentials(&outcome.stdout);
    assert_one_accepted_call(&world);
    let socket = world.pcscd.socket_path().display().to_string();
    let left = processes_of_world("ykman", &socket);
    assert!(left.is_empty(), "ykman still runs: {left:?}");
    end_without_waiting_for_the_card(world);
}

// ---------------------------------------------------------------------------
// The typed code on a terminal, raced with a touch
// ---------------------------------------------------------------------------

#[test]
fn a_typed_code_wins_while_the_touch_waits_and_the_card_is_ignored() {
    let world = touch_world(TouchResponse::TouchedAfter(Duration::from_secs(20)));
    let tty = world.vegas_in_terminal(&["assume", "--profile", "admin"], &[]);
    let screen = tty.wait_for_screen("Touch your YubiKey (or type the code)", 10 * SECOND);
    assert!(screen.contains("profile admin"), "{screen}");
    assert!(
        screen.contains(MFA_SERIAL),
        "names the MFA device: {screen}"
    );
    tty.type_line(&world.account.totp_code_at(unix_now()));
    let outcome = tty.wait(10 * SECOND);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_credentials(&outcome.stdout);
    assert!(
        outcome.elapsed < 10 * SECOND,
        "did not wait for the card: {:?}",
        outcome.elapsed
    );
    assert_eq!(world.card_handle().touches(), 1, "the card was asked");
    assert_one_accepted_call(&world);
    end_without_waiting_for_the_card(world);
}

#[test]
fn a_touch_wins_while_the_prompt_waits_and_the_prompt_is_dropped() {
    let world = touch_world(TouchResponse::TouchedAfter(Duration::from_millis(1500)));
    let tty = world.vegas_in_terminal(&["assume", "--profile", "admin"], &[]);
    tty.wait_for_screen("Touch your YubiKey (or type the code)", 10 * SECOND);
    let outcome = tty.wait(10 * SECOND);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_credentials(&outcome.stdout);
    assert_eq!(world.card_handle().touches(), 1);
    assert_one_accepted_call(&world);
    // What is typed after the touch is the shell's again, not vegas's.
    assert!(outcome.stderr.is_empty(), "{:?}", outcome.stderr);
}

#[test]
fn a_malformed_typed_code_is_asked_again() {
    let world = touch_world(TouchResponse::TouchedAfter(Duration::from_secs(20)));
    let tty = world.vegas_in_terminal(&["assume", "--profile", "admin"], &[]);
    tty.wait_for_screen("or type the code", 10 * SECOND);
    tty.type_line("12ab56");
    tty.wait_for_screen("not a 6 to 8 digit code", 5 * SECOND);
    tty.type_line(&world.account.totp_code_at(unix_now()));
    let outcome = tty.wait(10 * SECOND);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_one_accepted_call(&world);
    end_without_waiting_for_the_card(world);
}

#[test]
fn with_no_key_the_terminal_asks_for_the_code_alone() {
    let mut world = World::new();
    world.card.take().unwrap().remove();
    let tty = world.vegas_in_terminal(&["assume", "--profile", "admin"], &[("PATH", BARE_PATH)]);
    let screen = tty.wait_for_screen("MFA code for profile admin", 10 * SECOND);
    assert!(!screen.contains("Touch your YubiKey"), "{screen}");
    tty.type_line(&world.account.totp_code_at(unix_now()));
    let outcome = tty.wait(10 * SECOND);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_one_accepted_call(&world);
}

// ---------------------------------------------------------------------------
// A GUI dialog when there is no terminal
// ---------------------------------------------------------------------------

#[test]
fn without_a_terminal_a_dialog_asks_and_its_code_is_used() {
    let world = World::new();
    let scratch = tempfile::tempdir().unwrap();
    let code = world.account.totp_code_at(unix_now());
    let bin = fake_zenity(scratch.path(), &code, 0);
    let path = format!("{}:{BARE_PATH}", bin.display());
    let (out, _) = run(world.vegas(&["assume", "--profile", "admin"]).envs([
        ("PATH", path.as_str()),
        ("DISPLAY", ":99"),
        ("VEGAS_YUBIKEY_BACKEND", "none"),
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_credentials(&stdout(&out));
    assert_one_accepted_call(&world);
    assert_eq!(world.card_handle().apdu_count(), 0, "backend none: no card");
    let args = std::fs::read_to_string(scratch.path().join("zenity.args")).unwrap();
    assert!(args.contains("--entry"), "{args}");
    assert!(args.contains("profile admin"), "{args}");
}

#[test]
fn no_gui_flag_skips_the_dialog_and_fails_at_once() {
    let world = World::new();
    let scratch = tempfile::tempdir().unwrap();
    let bin = fake_zenity(scratch.path(), "123456", 0);
    let path = format!("{}:{BARE_PATH}", bin.display());
    let (out, elapsed) = run(world
        .vegas(&["--no-gui", "assume", "--profile", "admin"])
        .envs([
            ("PATH", path.as_str()),
            ("DISPLAY", ":99"),
            ("VEGAS_YUBIKEY_BACKEND", "none"),
        ]));
    let err = assert_clean_failure(&out);
    assert!(err.contains("--no-gui"), "{err}");
    assert!(elapsed < SECOND, "{elapsed:?}");
    assert!(
        !scratch.path().join("zenity.args").exists(),
        "zenity was not run"
    );
}

#[test]
fn a_touch_that_wins_closes_the_dialog() {
    let world = touch_world(TouchResponse::TouchedAfter(Duration::from_millis(1500)));
    let scratch = tempfile::tempdir().unwrap();
    let bin = fake_zenity(scratch.path(), "000000", 60);
    let path = format!("{}:{BARE_PATH}", bin.display());
    let (out, elapsed) = run(world
        .vegas(&["assume", "--profile", "admin"])
        .envs([("PATH", path.as_str()), ("DISPLAY", ":99")]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(elapsed < 10 * SECOND, "{elapsed:?}");
    assert_one_accepted_call(&world);
    let pid = std::fs::read_to_string(scratch.path().join("zenity.pid")).expect("zenity ran");
    assert!(!process_alive(&pid), "the dialog was closed");
}

#[test]
fn a_dialog_code_beats_a_touch_that_never_comes() {
    let world = touch_world(TouchResponse::TouchedAfter(Duration::from_secs(30)));
    let scratch = tempfile::tempdir().unwrap();
    let code = world.account.totp_code_at(unix_now() + 1);
    let bin = fake_zenity(scratch.path(), &code, 1);
    let path = format!("{}:{BARE_PATH}", bin.display());
    let (out, elapsed) = run(world
        .vegas(&["assume", "--profile", "admin"])
        .envs([("PATH", path.as_str()), ("DISPLAY", ":99")]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(elapsed < 10 * SECOND, "{elapsed:?}");
    assert_one_accepted_call(&world);
    end_without_waiting_for_the_card(world);
}

// ---------------------------------------------------------------------------
// Never hang
// ---------------------------------------------------------------------------

#[test]
fn no_terminal_no_gui_no_key_fails_within_a_second_naming_the_three_ways() {
    let world = World::new();
    let scratch = tempfile::tempdir().unwrap();
    let mut cmd = world.vegas(&["assume", "--profile", "admin"]);
    cmd.env("PATH", BARE_PATH).env(
        "PCSCLITE_CSOCK_NAME",
        scratch.path().join("no-pcscd/pcscd.comm"),
    );
    let (out, elapsed) = run(&mut cmd);
    let err = assert_clean_failure(&out);
    assert!(elapsed < SECOND, "took {elapsed:?}");
    for way in [
        "YubiKey over PC/SC",
        "pcscd",
        "ykman",
        "typed code",
        "no terminal",
    ] {
        assert!(err.contains(way), "{way:?} in {err}");
    }
    assert_eq!(world.sts.count(&Action::AssumeRole), 0);
}

/// A world whose MFA device has just used the current time step (a call
/// with `--token-code`), its credentials cleaned away so the next call is a
/// miss that would have to wait for a fresh step.
fn world_with_the_current_step_used() -> World {
    let world = World::new();
    let code = world.account.totp_code_at(unix_now());
    let (out, _) = run(&mut world.vegas(&["assume", "--profile", "admin", "--token-code", &code]));
    assert!(out.status.success(), "{}", stderr(&out));
    let (out, _) = run(&mut world.vegas(&["cache", "clean", "--profile", "admin"]));
    assert!(out.status.success(), "{}", stderr(&out));
    world
}

/// Run `cmd`: "no way to get an MFA code", at once, with no wait first.
fn assert_no_way_without_waiting(cmd: &mut std::process::Command) -> String {
    let (out, elapsed) = run(cmd);
    let err = assert_clean_failure(&out);
    assert!(err.contains("no way to get an MFA code"), "{err}");
    assert!(
        !err.contains("Waiting"),
        "no wait for a fresh step first: {err}"
    );
    assert!(elapsed < 5 * SECOND, "took {elapsed:?}");
    err
}

/// Issue #11, bug 2: right after another call used the current time step,
/// "no way to get a code" must still fail at once, not wait for the next
/// step first.
#[test]
fn no_way_to_get_a_code_fails_at_once_even_right_after_a_step_was_used() {
    let world = world_with_the_current_step_used();

    let scratch = tempfile::tempdir().unwrap();
    let mut cmd = world.vegas(&["--no-gui", "assume", "--profile", "admin"]);
    cmd.env("PATH", BARE_PATH).env(
        "PCSCLITE_CSOCK_NAME",
        scratch.path().join("no-pcscd/pcscd.comm"),
    );
    assert_no_way_without_waiting(&mut cmd);
    assert_eq!(
        world.sts.count(&Action::AssumeRole),
        1,
        "only the first call"
    );
}

/// The same with an installed ykman that finds no key either (a CI runner
/// with yubikey-manager pip-installed): ykman is asked whether it sees a key
/// (`oath info`, nothing more), and the answer comes before any wait.
#[test]
fn no_way_to_get_a_code_fails_at_once_when_ykman_finds_no_key_either() {
    let world = world_with_the_current_step_used();

    let scratch = tempfile::tempdir().unwrap();
    let bin = scratch.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let ykman = bin.join("ykman");
    std::fs::write(
        &ykman,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\necho 'ERROR: No YubiKey detected!' >&2\nexit 1\n",
            scratch.path().join("ykman.args").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ykman, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{BARE_PATH}", bin.display());
    let mut cmd = world.vegas(&["--no-gui", "assume", "--profile", "admin"]);
    cmd.env("PATH", &path).env(
        "PCSCLITE_CSOCK_NAME",
        scratch.path().join("no-pcscd/pcscd.comm"),
    );
    let err = assert_no_way_without_waiting(&mut cmd);
    assert!(err.contains("ykman: ykman found no YubiKey"), "{err}");
    let asked = std::fs::read_to_string(scratch.path().join("ykman.args")).unwrap();
    assert!(
        asked.lines().all(|l| l.ends_with("oath info")),
        "ykman was only asked whether it sees a key: {asked}"
    );
    assert_eq!(
        world.sts.count(&Action::AssumeRole),
        1,
        "only the first call"
    );
}

#[test]
fn auto_falls_back_to_ykman_when_pcscd_is_unreachable_for_vegas() {
    // vegas's own PC/SC sees no pcscd; ykman (given the socket in its own
    // environment by a wrapper) reaches the card.
    let world = World::new();
    let scratch = tempfile::tempdir().unwrap();
    let bin = scratch.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let wrapper = bin.join("ykman");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nPCSCLITE_CSOCK_NAME={} exec {} \"$@\"\n",
            world.pcscd.socket_path().display(),
            venv_bin("ykman").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = world.vegas(&["assume", "--profile", "admin"]);
    cmd.env("PATH", format!("{}:{BARE_PATH}", bin.display()))
        .env("VEGAS_READER", world.pcscd.reader_name(0))
        .env(
            "PCSCLITE_CSOCK_NAME",
            scratch.path().join("no-pcscd/pcscd.comm"),
        );
    let (out, _) = run(&mut cmd);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_one_accepted_call(&world);
}

#[test]
fn the_whole_wait_ends_at_vegas_mfa_timeout() {
    let world = touch_world(TouchResponse::TouchedAfter(Duration::from_secs(30)));
    world.write_config(&default_config(&world.sts.url()).replace(
        "region = eu-west-1\n",
        "region = eu-west-1\nvegas_mfa_timeout = 2\n",
    ));
    let (out, elapsed) = run(&mut world.vegas(&["assume", "--profile", "admin"]));
    let err = assert_clean_failure(&out);
    assert!(err.contains("no MFA code within 2 s"), "{err}");
    assert!(err.contains("vegas_mfa_timeout"), "{err}");
    assert!(elapsed < 5 * SECOND, "{elapsed:?}");
    assert_eq!(world.sts.count(&Action::AssumeRole), 0);
    end_without_waiting_for_the_card(world);
}

// ---------------------------------------------------------------------------
// A password-protected OATH applet
// ---------------------------------------------------------------------------

const BOB_SERIAL: &str = "arn:aws:iam::111111111111:mfa/bob";
const BOB_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const CAROL_SERIAL: &str = "arn:aws:iam::111111111111:mfa/carol";
const CAROL_SECRET: &str = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";

/// A profile per MFA device, so three cold calls need no wait for a fresh
/// time step.
fn three_device_config(sts_url: &str) -> String {
    let mut config = default_config(sts_url);
    for (who, serial) in [("bob", BOB_SERIAL), ("carol", CAROL_SERIAL)] {
        config.push_str(&format!(
            "\n[profile src-{who}]\n\
             mfa_serial = {serial}\n\
             vegas_yubikey_label = AWS:{who}\n\
             region = eu-west-1\n\
             \n\
             [profile admin-{who}]\n\
             vegas_source_profile = src-{who}\n\
             vegas_role_arn = {ROLE_ARN}\n\
             endpoint_url = {sts_url}\n"
        ));
    }
    config
}

#[test]
fn the_oath_password_is_asked_once_then_remembered_until_it_changes() {
    let account =
        |who: &str, secret: &str| Account::totp(who, &decode_base32(secret).unwrap()).issuer("AWS");
    let world = World::with(
        CardSetup {
            password: Some("first secret".into()),
            extra_accounts: vec![account("bob", BOB_SECRET), account("carol", CAROL_SECRET)],
            ..Default::default()
        },
        sts_config()
            .mfa_device(BOB_SERIAL, BOB_SECRET)
            .mfa_device(CAROL_SERIAL, CAROL_SECRET),
    );
    world.write_config(&three_device_config(&world.sts.url()));
    let mut credentials = String::new();
    for profile in ["src", "src-bob", "src-carol"] {
        credentials.push_str(&format!(
            "[{profile}]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = {SOURCE_SECRET}\n"
        ));
    }
    world.write_credentials(&credentials);

    // 1. Asked on the terminal.
    let tty = world.vegas_in_terminal(&["assume", "--profile", "admin"], &[]);
    tty.wait_for_screen("OATH password for YubiKey serial 12345678", 10 * SECOND);
    tty.type_line("first secret");
    let outcome = tty.wait(10 * SECOND);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(!outcome.screen.contains("first secret"), "not echoed");

    // 2. Remembered: no terminal needed.
    let (out, _) = run(&mut world.vegas(&["assume", "--profile", "admin-bob"]));
    assert!(out.status.success(), "{}", stderr(&out));

    // 3. The password changes on the card (through ykman): asked once more.
    let changed = world
        .tool("ykman")
        .args(["--reader", &world.pcscd.reader_name(0)])
        .args([
            "oath",
            "access",
            "change",
            "-p",
            "first secret",
            "-n",
            "second secret",
        ])
        .output()
        .unwrap();
    assert!(changed.status.success(), "{}", stderr(&changed));
    let tty = world.vegas_in_terminal(&["assume", "--profile", "admin-carol"], &[]);
    tty.wait_for_screen("OATH password for YubiKey", 10 * SECOND);
    tty.type_line("second secret");
    let outcome = tty.wait(10 * SECOND);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(
        outcome.screen.matches("OATH password for").count(),
        1,
        "one prompt:\n{}",
        outcome.screen
    );
    assert!(outcome.screen.contains("has changed"), "{}", outcome.screen);

    let accepted = world
        .sts
        .calls()
        .iter()
        .filter(|c| matches!(c.token_check, Some(TokenCheck::Accepted { .. })))
        .count();
    assert_eq!(accepted, 3);
}
