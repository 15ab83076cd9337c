//! `vegas setup` end to end: the virtual YubiKey behind a private pcscd, the
//! strict local STS answering the IAM calls too, ykman and the AWS CLI.
//! What it proves: a setup makes a device that `vegas assume` and the AWS
//! CLI then use; the config keeps every other byte; a failure at
//! EnableMFADevice, a Ctrl-C between the two codes or during the enable, a
//! refused CreateVirtualMFADevice, a "no" at the prompt leave nothing behind;
//! the seed shows up in no output, file, argument or environment.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::card::TouchResponse;
use support::sts::{Action, Fault};
use support::world::*;

/// The device `vegas setup` names after the card's serial.
const DEVICE_SERIAL: &str = "arn:aws:iam::111111111111:mfa/vegas-12345678";
const NEW_PROFILE: &str = "fresh";

/// A config with comments, odd spacing and profiles setup must not touch.
const CONFIG: &str = "\
# team AWS config: keep this comment
[default]
region = eu-west-1   # inline comment

[profile src]
region = eu-west-1
; a note about src

[profile other]
output = json
";

fn setup_command(world: &World, extra: &[&str]) -> Command {
    let mut args = vec![
        "setup",
        "--source-profile",
        "src",
        "--role-arn",
        ROLE_ARN,
        "--profile",
        NEW_PROFILE,
        "--yes",
    ];
    args.extend_from_slice(extra);
    let mut cmd = world.vegas(&args);
    cmd.env("AWS_ENDPOINT_URL_IAM", world.sts.url())
        .env("AWS_ENDPOINT_URL_STS", world.sts.url());
    cmd
}

fn run(mut cmd: Command) -> Output {
    cmd.output().expect("command runs")
}

fn world_with_config() -> World {
    let world = World::new();
    world.write_config(CONFIG);
    world
}

/// The ids of the OATH accounts on the card, as vegas lists them.
fn card_accounts(world: &World) -> Vec<String> {
    let out = run(world.vegas(&["oath", "list", "--json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    list.as_array()
        .expect("array")
        .iter()
        .map(|a| a["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Everything in `~/.aws`, by file name.
fn aws_dir(world: &World) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(world.home.path().join(".aws"))
        .expect("~/.aws")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn assert_nothing_left(world: &World) {
    assert_eq!(world.sts.virtual_devices(), [], "no device left in IAM");
    assert!(
        !card_accounts(world).iter().any(|id| id == DEVICE_SERIAL),
        "no account left on the key"
    );
    assert_eq!(
        std::fs::read_to_string(world.config_path()).unwrap(),
        CONFIG,
        "config unchanged"
    );
    assert_eq!(aws_dir(world), ["config", "credentials"], "no backup left");
}

#[test]
fn setup_makes_a_device_that_assume_and_the_aws_cli_then_use() {
    let world = world_with_config();
    let out = run(setup_command(&world, &[]));
    assert!(out.status.success(), "setup failed:\n{}", stderr(&out));

    let devices = world.sts.virtual_devices();
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(devices[0].serial, DEVICE_SERIAL);
    assert_eq!(devices[0].enabled_for.as_deref(), Some("vegas-test"));
    assert_eq!(world.card_handle().touches(), 2, "one touch per code");

    // Every other byte of the config is as it was.
    let expected = CONFIG.replace(
        "[profile src]\nregion = eu-west-1\n",
        &format!("[profile src]\nregion = eu-west-1\nmfa_serial = {DEVICE_SERIAL}\n"),
    ) + &format!(
        "\n[profile {NEW_PROFILE}]\ncredential_process = {} assume --profile {NEW_PROFILE}\n\
         vegas_source_profile = src\nvegas_role_arn = {ROLE_ARN}\n",
        vegas_bin().display()
    );
    assert_eq!(
        std::fs::read_to_string(world.config_path()).unwrap(),
        expected
    );
    let backups: Vec<String> = aws_dir(&world)
        .into_iter()
        .filter(|n| n.starts_with("config.vegas-backup-"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let backup = world.home.path().join(".aws").join(&backups[0]);
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), CONFIG);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // ykman sees the account, with touch required.
    let ykman = run({
        let mut cmd = world.tool("ykman");
        cmd.args([
            "--reader",
            &world.pcscd.reader_name(0),
            "oath",
            "accounts",
            "code",
        ]);
        cmd
    });
    let listing = stdout(&ykman);
    assert!(
        listing
            .lines()
            .any(|l| l.contains(DEVICE_SERIAL) && l.contains("[Requires Touch]")),
        "ykman: {listing}{}",
        stderr(&ykman)
    );

    // vegas assume: one touch, AssumeRole with the new device.
    let out = run({
        let mut cmd = world.vegas(&["assume", "--profile", NEW_PROFILE]);
        cmd.env("AWS_ENDPOINT_URL_STS", world.sts.url());
        cmd
    });
    assert!(out.status.success(), "assume failed:\n{}", stderr(&out));
    assert_eq!(world.card_handle().touches(), 3);

    // The AWS CLI through credential_process, with an empty cache: one touch.
    let out = run(world.vegas(&["cache", "clean"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run({
        let mut cmd = world.tool("aws");
        cmd.args([
            "sts",
            "get-caller-identity",
            "--profile",
            NEW_PROFILE,
            "--region",
            "eu-west-1",
            "--output",
            "json",
        ])
        .env("AWS_ENDPOINT_URL_STS", world.sts.url());
        cmd
    });
    assert!(out.status.success(), "aws failed:\n{}", stderr(&out));
    assert!(
        stdout(&out).contains("assumed-role/Admin/"),
        "{}",
        stdout(&out)
    );
    assert_eq!(world.card_handle().touches(), 4);
    let assumed: Vec<_> = world
        .sts
        .calls()
        .into_iter()
        .filter(|c| c.action == Action::AssumeRole && c.succeeded())
        .collect();
    assert_eq!(assumed.len(), 2);
    assert!(assumed
        .iter()
        .all(|c| c.serial_number.as_deref() == Some(DEVICE_SERIAL)));
}

#[test]
fn the_seed_appears_in_no_output_no_file_and_no_process_argument_or_environment() {
    let world = world_with_config();
    // EnableMFADevice answers slowly: while the helper waits for it, after
    // the seed went to the key, every process's argv and environment is read.
    world
        .sts
        .fail_next(Action::EnableMfaDevice, Fault::Slow(Duration::from_secs(2)));
    let mut cmd = setup_command(&world, &["--verbose"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("setup starts");
    let started = std::time::Instant::now();
    let (base32, base64) = loop {
        // The slow EnableMFADevice has reached the server (its helper runs).
        if world.sts.pending_faults() == 0 {
            break world
                .sts
                .virtual_device_seed(DEVICE_SERIAL)
                .expect("the device exists");
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "EnableMFADevice never came"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let unpadded = base32.trim_end_matches('=').to_owned();
    let processes = processes();
    // A process whose environment could not be read would pass unseen:
    // vegas's and its helper's must have been read.
    let vegas_pid = child.id().to_string();
    let assert_read = |what: &str, found: Vec<&Process>| {
        assert!(!found.is_empty(), "{what} is not running");
        assert!(
            found
                .iter()
                .all(|p| p.environ.as_ref().is_some_and(|e| e.contains("HOME="))),
            "the environment of {what} was not read"
        );
    };
    assert_read(
        "vegas",
        processes.iter().filter(|p| p.pid == vegas_pid).collect(),
    );
    assert_read(
        "its helper",
        processes.iter().filter(|p| p.ppid == vegas_pid).collect(),
    );
    for Process { argv, environ, .. } in &processes {
        let environ = environ.as_deref().unwrap_or_default();
        for seed in [&base32, &base64, &unpadded] {
            assert!(
                !argv.contains(seed.as_str()),
                "seed in a process's argv: {argv}"
            );
            assert!(
                !environ.contains(seed.as_str()),
                "seed in a process's environment"
            );
        }
    }
    let out = child.wait_with_output().expect("setup ends");
    assert!(out.status.success(), "setup failed:\n{}", stderr(&out));
    let shown = format!("{}{}", stdout(&out), stderr(&out));
    for seed in [&base32, &base64, &unpadded] {
        assert!(!shown.contains(seed.as_str()), "seed in the output");
        assert_no_file_holds(world.home.path(), seed);
    }
}

/// A running process: its argv, and its environment when it could be read.
struct Process {
    pid: String,
    /// The parent's pid.
    ppid: String,
    argv: String,
    environ: Option<String>,
}

/// Every process in /proc.
fn processes() -> Vec<Process> {
    let read = |path: std::path::PathBuf| {
        std::fs::read(path)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
    };
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .map(|e| Process {
            pid: e.file_name().to_string_lossy().into_owned(),
            // `PID (COMM) STATE PPID …`; COMM may hold spaces and parentheses.
            ppid: read(e.path().join("stat"))
                .and_then(|stat| {
                    let (_, after) = stat.rsplit_once(')')?;
                    after.split_whitespace().nth(1).map(str::to_owned)
                })
                .unwrap_or_default(),
            argv: read(e.path().join("cmdline")).unwrap_or_default(),
            environ: read(e.path().join("environ")),
        })
        .collect()
}

fn assert_no_file_holds(dir: &Path, needle: &str) {
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            assert_no_file_holds(&path, needle);
        } else if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(needle),
                "the seed is in {}",
                path.display()
            );
        }
    }
}

#[test]
fn a_failure_at_enable_mfa_device_leaves_nothing_behind() {
    let world = world_with_config();
    world
        .sts
        .fail_next(Action::EnableMfaDevice, Fault::AccessDenied);
    let out = run(setup_command(&world, &[]));
    let err = assert_clean_failure(&out);
    assert!(err.contains("iam:EnableMFADevice"), "{err}");
    assert!(err.contains("hint: the user needs an IAM policy"), "{err}");
    assert_nothing_left(&world);
    let deleted = world
        .sts
        .calls()
        .iter()
        .filter(|c| c.action == Action::DeleteVirtualMfaDevice && c.succeeded())
        .count();
    assert_eq!(deleted, 1);
}

#[test]
fn an_interrupt_between_the_two_codes_undoes_everything() {
    signal_between_the_two_codes_undoes_everything(libc::SIGINT);
}

#[test]
fn the_terminal_closing_between_the_two_codes_undoes_everything_too() {
    signal_between_the_two_codes_undoes_everything(libc::SIGHUP);
}

/// `signal` while the second touch is awaited: the rollback runs, exit 130.
fn signal_between_the_two_codes_undoes_everything(signal: libc::c_int) {
    let world = World::with(
        CardSetup {
            touch: Some(TouchResponse::TouchedAfter(Duration::from_secs(2))),
            ..CardSetup::default()
        },
        sts_config(),
    );
    world.write_config(CONFIG);
    let mut cmd = setup_command(&world, &[]);
    cmd.stderr(Stdio::piped()).stdout(Stdio::piped());
    let mut child = cmd.spawn().expect("setup starts");
    let mut stderr_lines = BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let read = stderr_lines.read_line(&mut line).expect("stderr readable");
        assert!(read > 0, "setup ended before the second touch:\n{seen}");
        seen.push_str(&line);
        if line.contains("code 2 of 2") {
            break;
        }
    }
    // The second touch is awaited: the signal now.
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: a plain kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr_lines, &mut rest).expect("stderr");
    let status = child.wait().expect("setup ends");
    seen.push_str(&rest);
    assert_eq!(
        status.code(),
        Some(130),
        "exit 130 after signal {signal}:\n{seen}"
    );
    assert!(seen.contains("vegas: interrupted"), "{seen}");
    assert!(seen.contains("hint: "), "{seen}");
    assert_eq!(world.sts.count(&Action::EnableMfaDevice), 0);
    assert_nothing_left(&world);
}

#[test]
fn an_existing_profile_stops_setup_before_anything_is_made() {
    let world = world_with_config();
    let first = run(setup_command(&world, &[]));
    assert!(first.status.success(), "{}", stderr(&first));
    let out = run(setup_command(&world, &["--device-name", "another"]));
    let err = assert_clean_failure(&out);
    assert!(
        err.contains(&format!("profile '{NEW_PROFILE}' already exists")),
        "{err}"
    );
    assert_eq!(world.sts.count(&Action::CreateVirtualMfaDevice), 1);
}

#[test]
fn an_account_of_that_name_on_the_key_is_never_overwritten() {
    let taken = support::card::Account::totp(DEVICE_SERIAL, b"0123456789abcdef0123");
    let world = World::with(
        CardSetup {
            extra_accounts: vec![taken],
            ..CardSetup::default()
        },
        sts_config(),
    );
    world.write_config(CONFIG);
    let out = run(setup_command(&world, &[]));
    let err = assert_clean_failure(&out);
    assert!(err.contains("already has an OATH account"), "{err}");
    assert!(err.contains("--device-name"), "{err}");
    assert_eq!(world.sts.count(&Action::CreateVirtualMfaDevice), 0);
    assert_eq!(
        std::fs::read_to_string(world.config_path()).unwrap(),
        CONFIG
    );
}

#[test]
fn without_a_terminal_or_yes_nothing_is_made() {
    let world = world_with_config();
    let mut cmd = world.vegas(&["setup", "--source-profile", "src"]);
    cmd.env("AWS_ENDPOINT_URL_IAM", world.sts.url());
    let out = run(cmd);
    let err = assert_clean_failure(&out);
    assert!(err.contains("no terminal to confirm"), "{err}");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(world.sts.count(&Action::CreateVirtualMfaDevice), 0);
    assert_nothing_left(&world);
}

#[test]
fn a_missing_config_file_is_created_private() {
    let world = World::new();
    std::fs::remove_file(world.config_path()).expect("no config");
    let mut cmd = world.vegas(&["setup", "--source-profile", "src", "--yes"]);
    cmd.env("AWS_ENDPOINT_URL_IAM", world.sts.url());
    let out = run(cmd);
    assert!(out.status.success(), "setup failed:\n{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(world.config_path()).unwrap(),
        format!("[profile src]\nmfa_serial = {DEVICE_SERIAL}\n")
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(world.config_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        aws_dir(&world),
        ["config", "credentials"],
        "nothing to back up"
    );
}

/// Ctrl-C as a terminal sends it, to vegas's whole process group, while
/// the (slow) EnableMFADevice is in flight; what setup printed, and how it
/// ended.
fn interrupt_during_enable(world: &World) -> Output {
    use std::os::unix::process::CommandExt;
    world
        .sts
        .fail_next(Action::EnableMfaDevice, Fault::Slow(Duration::from_secs(2)));
    let faults_before = world.sts.pending_faults();
    let mut cmd = setup_command(world, &[]);
    // Its own group, as a shell gives a foreground job.
    cmd.process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("setup starts");
    let started = std::time::Instant::now();
    // The slow EnableMFADevice has reached the server: it answers in 2 s.
    while world.sts.pending_faults() == faults_before {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "EnableMFADevice never came"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pgid = i32::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) of the process group of our own child.
    assert_eq!(unsafe { libc::kill(-pgid, libc::SIGINT) }, 0);
    child.wait_with_output().expect("setup ends")
}

fn succeeded(world: &World, action: Action) -> usize {
    world
        .sts
        .calls()
        .iter()
        .filter(|c| c.action == action && c.succeeded())
        .count()
}

#[test]
fn an_interrupt_while_the_device_is_being_enabled_deactivates_and_deletes_it() {
    let world = world_with_config();
    let out = interrupt_during_enable(&world);
    let err = stderr(&out);
    // The helper, in its own process group, finished the call: exit 130,
    // not "the STS helper failed … SIGINT".
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted; everything setup had made was removed"),
        "{err}"
    );
    assert_eq!(succeeded(&world, Action::EnableMfaDevice), 1, "{err}");
    assert_eq!(succeeded(&world, Action::DeactivateMfaDevice), 1, "{err}");
    assert_eq!(
        succeeded(&world, Action::DeleteVirtualMfaDevice),
        1,
        "{err}"
    );
    assert_nothing_left(&world);
}

#[test]
fn a_deactivation_refused_to_the_long_term_keys_is_retried_with_an_mfa_session() {
    let world = world_with_config();
    // A force-MFA policy: long-term keys may not deactivate the device.
    world
        .sts
        .fail_next(Action::DeactivateMfaDevice, Fault::AccessDenied);
    let out = interrupt_during_enable(&world);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("trying again with an MFA session"), "{err}");
    assert!(
        err.contains("interrupted; everything setup had made was removed"),
        "{err}"
    );
    assert_eq!(succeeded(&world, Action::GetSessionToken), 1, "{err}");
    assert_eq!(succeeded(&world, Action::DeactivateMfaDevice), 1, "{err}");
    assert_eq!(
        succeeded(&world, Action::DeleteVirtualMfaDevice),
        1,
        "{err}"
    );
    // Signed by the session GetSessionToken issued, not the long-term keys.
    let calls = world.sts.calls();
    let session_key = calls
        .iter()
        .find(|c| c.action == Action::GetSessionToken)
        .and_then(|c| c.issued_access_key_id.clone())
        .expect("a session was issued");
    for action in [Action::DeactivateMfaDevice, Action::DeleteVirtualMfaDevice] {
        let signers: Vec<Option<&str>> = calls
            .iter()
            .filter(|c| c.action == action && c.succeeded())
            .map(|c| c.signer.as_deref())
            .collect();
        assert_eq!(signers, [Some(session_key.as_str())], "{action:?}");
    }
    assert_nothing_left(&world);
}

#[test]
fn a_refused_deactivation_keeps_the_account_on_the_key_and_says_what_is_left() {
    let world = world_with_config();
    // Refused to the long-term keys, and to the MFA session too.
    for _ in 0..2 {
        world
            .sts
            .fail_next(Action::DeactivateMfaDevice, Fault::AccessDenied);
    }
    let out = interrupt_during_enable(&world);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains(&format!(
            "MFA device {DEVICE_SERIAL} stays enabled for vegas-test"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "the OATH account \"{DEVICE_SERIAL}\" stays on the YubiKey, since its device is enabled"
        )),
        "{err}"
    );
    assert!(
        err.contains("hint: to finish by hand:") && err.contains("deactivate-mfa-device"),
        "{err}"
    );
    // The remedy names a way to an MFA session that still exists: the
    // config that setup wrote is already put back, so no vegas profile.
    let hint = err
        .lines()
        .find(|l| l.starts_with("hint:"))
        .unwrap_or_default();
    assert!(
        hint.contains("aws sts get-session-token") && !hint.contains("vegas assume"),
        "{err}"
    );
    assert!(
        !err.contains("everything setup had made was removed"),
        "{err}"
    );
    // The user can still sign in: the device and its account are both kept.
    assert_eq!(
        world.sts.virtual_devices()[0].enabled_for.as_deref(),
        Some("vegas-test")
    );
    assert!(
        card_accounts(&world).iter().any(|id| id == DEVICE_SERIAL),
        "the account stays on the key"
    );
    assert_eq!(world.sts.count(&Action::DeleteVirtualMfaDevice), 0);
    assert_eq!(
        std::fs::read_to_string(world.config_path()).unwrap(),
        CONFIG,
        "the config is put back"
    );
}

#[test]
fn keys_in_the_config_file_are_masked_in_the_diff() {
    let world = World::new();
    world.write_credentials("");
    let config = format!(
        "[profile src]\nregion = eu-west-1\naws_access_key_id = {SOURCE_KEY_ID}\n\
         aws_secret_access_key = {SOURCE_SECRET}\n"
    );
    world.write_config(&config);
    let out = run(setup_command(&world, &[]));
    assert!(out.status.success(), "setup failed:\n{}", stderr(&out));
    let shown = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        shown.contains("aws_secret_access_key = ****"),
        "the diff shows the key's line, masked:\n{shown}"
    );
    assert!(!shown.contains(SOURCE_SECRET), "{shown}");
    assert!(!shown.contains(SOURCE_KEY_ID), "{shown}");
}

#[test]
fn a_profile_name_that_breaks_the_file_or_has_keys_in_credentials_is_refused() {
    let world = world_with_config();
    let setup_with_profile = |profile: &str| {
        let mut cmd = world.vegas(&[
            "setup",
            "--source-profile",
            "src",
            "--role-arn",
            ROLE_ARN,
            "--profile",
            profile,
            "--yes",
        ]);
        cmd.env("AWS_ENDPOINT_URL_IAM", world.sts.url());
        run(cmd)
    };
    let err = assert_clean_failure(&setup_with_profile("bad] name"));
    assert!(err.contains("cannot be written as a profile name"), "{err}");
    world.write_credentials(&format!(
        "[src]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = {SOURCE_SECRET}\n\
         [keyed]\naws_access_key_id = AKIAOTHER\n"
    ));
    let err = assert_clean_failure(&setup_with_profile("keyed"));
    assert!(err.contains("profile 'keyed' already exists in"), "{err}");
    assert!(err.contains("credentials"), "{err}");
    assert_eq!(world.sts.count(&Action::CreateVirtualMfaDevice), 0);
    assert_nothing_left(&world);
}

#[test]
fn an_iam_endpoint_that_is_not_a_url_is_refused_before_anything_is_made() {
    let world = world_with_config();
    let mut cmd = setup_command(&world, &[]);
    cmd.env("AWS_ENDPOINT_URL_IAM", "not a url");
    let err = assert_clean_failure(&run(cmd));
    assert!(
        err.contains("AWS_ENDPOINT_URL_IAM = 'not a url' is not valid"),
        "{err}"
    );
    assert!(
        err.contains("hint: fix or unset AWS_ENDPOINT_URL_IAM"),
        "{err}"
    );
    assert_eq!(world.sts.calls().len(), 0);
}

#[test]
fn on_a_terminal_the_diff_is_shown_and_no_makes_nothing_while_yes_goes_ahead() {
    let world = world_with_config();
    let url = world.sts.url();
    let env = [("AWS_ENDPOINT_URL_IAM", url.as_str())];
    let args = ["setup", "--source-profile", "src"];

    let tty = world.vegas_in_terminal(&args, &env);
    let screen = tty.wait_for_screen("[y/N]", Duration::from_secs(20));
    assert!(
        screen.contains(&format!("+mfa_serial = {DEVICE_SERIAL}")),
        "{screen}"
    );
    tty.type_line("n");
    let outcome = tty.wait(Duration::from_secs(20));
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert!(outcome.stderr.contains("was not confirmed"), "{outcome:?}");
    assert_eq!(world.sts.count(&Action::CreateVirtualMfaDevice), 0);
    assert_nothing_left(&world);

    let tty = world.vegas_in_terminal(&args, &env);
    tty.wait_for_screen("[y/N]", Duration::from_secs(20));
    tty.type_line("y");
    let outcome = tty.wait(Duration::from_secs(30));
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(outcome.screen.contains("code 2 of 2"), "{outcome:?}");
    assert_eq!(world.sts.virtual_devices().len(), 1);
}

#[test]
fn no_permission_to_create_the_device_names_the_policy_and_makes_nothing() {
    let world = world_with_config();
    world
        .sts
        .fail_next(Action::CreateVirtualMfaDevice, Fault::AccessDenied);
    let out = run(setup_command(&world, &[]));
    let err = assert_clean_failure(&out);
    assert!(
        err.contains("may not call iam:CreateVirtualMFADevice"),
        "{err}"
    );
    assert!(
        err.contains("hint: the user needs an IAM policy allowing iam:CreateVirtualMFADevice"),
        "{err}"
    );
    assert!(!err.contains("Undoing"), "{err}");
    // IAM said no: a device of that name, if any, is not setup's to delete.
    assert_eq!(world.sts.count(&Action::DeleteVirtualMfaDevice), 0);
    assert_nothing_left(&world);
}
