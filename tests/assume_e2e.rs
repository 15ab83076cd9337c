//! `vegas assume` end to end: the virtual YubiKey behind a private pcscd, the
//! strict local STS, and the real AWS CLI and boto3 reading the JSON through
//! `credential_process`.

mod support;

use std::process::Output;

use support::card::TouchResponse;
use support::sts::{Action, Fault, TokenCheck};
use support::world::*;

fn run(mut cmd: impl std::borrow::BorrowMut<std::process::Command>) -> Output {
    cmd.borrow_mut().output().expect("command runs")
}

fn assume_json(world: &World, profile: &str) -> serde_json::Value {
    let out = run(world.vegas(&["assume", "--profile", profile]));
    assert!(
        out.status.success(),
        "vegas assume failed:\n{}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

#[test]
fn aws_cli_gets_the_assumed_role_through_credential_process() {
    let world = World::new();
    let start = unix_now();
    let out = run(world.tool("aws").args([
        "sts",
        "get-caller-identity",
        "--profile",
        "admin",
        "--endpoint-url",
        &world.sts.url(),
        "--region",
        "eu-west-1",
        "--output",
        "json",
    ]));
    assert!(out.status.success(), "aws failed:\n{}", stderr(&out));
    let identity: serde_json::Value = serde_json::from_slice(&out.stdout).expect("aws prints JSON");
    assert_eq!(
        identity["Arn"], "arn:aws:sts::222222222222:assumed-role/Admin/alice-session",
        "{identity}"
    );

    let calls = world.sts.calls();
    let assume: Vec<_> = calls
        .iter()
        .filter(|c| c.action == Action::AssumeRole)
        .collect();
    assert_eq!(assume.len(), 1, "{calls:?}");
    let call = assume[0];
    assert_eq!(
        call.signer.as_deref(),
        Some(SOURCE_KEY_ID),
        "signed by the source keys"
    );
    assert!(
        matches!(call.token_check, Some(TokenCheck::Accepted { .. })),
        "{:?}",
        call.token_check
    );
    assert_eq!(call.serial_number.as_deref(), Some(MFA_SERIAL));
    assert_eq!(call.role_arn.as_deref(), Some(ROLE_ARN));
    assert_eq!(call.role_session_name.as_deref(), Some("alice-session"));
    assert_eq!(call.duration_seconds.as_deref(), Some("1800"));
    assert_eq!(call.external_id.as_deref(), Some("ext-1234"));
    assert!(call.succeeded());
    assert!(unix_now() >= start);
    assert_eq!(
        world.card_handle().calculations(OATH_LABEL),
        1,
        "one CALCULATE on the card"
    );
}

#[test]
fn boto3_gets_the_assumed_role_through_credential_process() {
    let world = World::new();
    let script = format!(
        "import boto3\n\
         s = boto3.Session(profile_name='readonly')\n\
         c = s.client('sts', endpoint_url='{url}', region_name='eu-west-1')\n\
         print(c.get_caller_identity()['Arn'])\n",
        url = world.sts.url()
    );
    let out = run(world.tool("python").args(["-c", &script]));
    assert!(out.status.success(), "boto3 failed:\n{}", stderr(&out));
    let arn = stdout(&out);
    assert!(
        arn.starts_with("arn:aws:sts::333333333333:assumed-role/ReadOnly/"),
        "{arn}"
    );
}

#[test]
fn output_is_credential_process_json_with_a_zoned_expiration() {
    let world = World::new();
    let v = assume_json(&world, "admin");
    assert_eq!(v["Version"], 1);
    for key in [
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
    ] {
        assert!(
            v[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key} in {v}"
        );
    }
    let expiration = v["Expiration"].as_str().unwrap();
    assert!(
        expiration.ends_with('Z') && expiration.contains('T'),
        "{expiration}"
    );
    let obj = v.as_object().unwrap();
    assert_eq!(
        obj.len(),
        5,
        "nothing but the five credential_process fields: {v}"
    );
}

#[test]
fn environment_profile_and_keys_never_sign_the_assume_role_call() {
    let world = World::new();
    let out = run(world.vegas(&["assume", "--profile", "admin"]).envs([
        ("AWS_PROFILE", "admin"),
        ("AWS_ACCESS_KEY_ID", "AKIASTRAYENVIRONMENT"),
        ("AWS_SECRET_ACCESS_KEY", "stray/secret"),
        ("AWS_SESSION_TOKEN", "stray-token"),
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let calls = world.sts.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].signer.as_deref(), Some(SOURCE_KEY_ID));
}

#[test]
fn token_code_flag_is_sent_instead_of_asking_the_yubikey() {
    let world = World::new();
    let code = world.account.totp_code_at(unix_now());
    let out = run(world.vegas(&["assume", "--profile", "admin", "--token-code", &code]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        world.card_handle().total_calculations(),
        0,
        "the card was not asked"
    );
    assert!(matches!(
        world.sts.calls()[0].token_check,
        Some(TokenCheck::Accepted { .. })
    ));
}

#[test]
fn touch_account_says_touch_and_waits_for_it() {
    let setup = CardSetup {
        touch: Some(TouchResponse::TouchedAfter(
            std::time::Duration::from_millis(1500),
        )),
        ..Default::default()
    };
    let world = World::with(setup, sts_config());
    let out = run(world.vegas(&["assume", "--profile", "admin"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Touch your YubiKey"),
        "{}",
        stderr(&out)
    );
    assert_eq!(world.card_handle().touches(), 1);
}

#[test]
fn touch_timeout_is_a_clean_error() {
    let setup = CardSetup {
        touch: Some(TouchResponse::TimesOutAfter(
            std::time::Duration::from_millis(500),
        )),
        ..Default::default()
    };
    let world = World::with(setup, sts_config());
    let out = run(world.vegas(&["assume", "--profile", "admin"]));
    let err = assert_clean_failure(&out);
    assert!(err.contains("touched"), "{err}");
    assert_eq!(world.sts.count(&Action::AssumeRole), 0);
}

#[test]
fn wrong_mfa_code_gets_the_invalid_code_hint() {
    let world = World::new();
    let good = world.account.totp_code_at(unix_now());
    let bad: String = good
        .chars()
        .map(|c| {
            if c == '9' {
                '0'
            } else {
                ((c as u8) + 1) as char
            }
        })
        .collect();
    let out = run(world.vegas(&["assume", "--profile", "admin", "--token-code", &bad]));
    let err = assert_clean_failure(&out);
    assert!(err.contains("rejected the MFA code"), "{err}");
    assert!(!err.contains(&bad), "the code is never shown: {err}");
}

#[test]
fn sts_faults_each_give_their_own_hint_and_empty_stdout() {
    let cases: [(Fault, &str); 3] = [
        (Fault::AccessDenied, "not allowed to assume"),
        (Fault::ExpiredToken, "were rejected by STS"),
        (Fault::InternalFailure, "STS failed"),
    ];
    for (fault, expected) in cases {
        let world = World::new();
        world.sts.fail_all(Some(fault.clone()));
        let out = run(world.vegas(&["assume", "--profile", "admin"]));
        let err = assert_clean_failure(&out);
        assert!(err.contains(expected), "{fault:?}: {err}");
    }
}

#[test]
fn throttling_is_retried_then_succeeds() {
    let world = World::new();
    world
        .sts
        .push_faults([Fault::Throttling, Fault::Throttling]);
    let out = run(world.vegas(&["assume", "--profile", "admin"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(world.sts.successes(&Action::AssumeRole), 1);
    assert_eq!(world.sts.count(&Action::AssumeRole), 3);
}

#[test]
fn duration_above_the_roles_maximum_says_so() {
    let world = World::new();
    let config = default_config(&world.sts.url()).replace(
        "vegas_role_arn = arn:aws:iam::333333333333:role/team/ReadOnly",
        "vegas_role_arn = arn:aws:iam::333333333333:role/team/ReadOnly\nduration_seconds = 7200",
    );
    world.write_config(&config);
    let out = run(world.vegas(&["assume", "--profile", "readonly"]));
    let err = assert_clean_failure(&out);
    assert!(err.contains("duration_seconds 7200"), "{err}");
}

#[test]
fn unreachable_endpoint_fails_fast_with_a_network_hint() {
    let world = World::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    world.write_config(&default_config(&format!("http://{closed}")));
    let out = run(world.vegas(&["assume", "--profile", "admin"]));
    let err = assert_clean_failure(&out);
    assert!(
        err.contains("cannot reach STS") || err.contains("did not answer"),
        "{err}"
    );
}

#[test]
fn missing_source_keys_are_named() {
    let world = World::new();
    world.write_credentials(
        "[someone-else]\naws_access_key_id = AKIAX\naws_secret_access_key = y\n",
    );
    let out = run(world.vegas(&["assume", "--profile", "admin"]));
    let err = assert_clean_failure(&out);
    assert!(err.contains("'src'"), "{err}");
    assert!(
        err.contains("aws_access_key_id"),
        "names the missing keys: {err}"
    );
}

/// Issue #11, bug 1: a call that cannot be signed must not cost a touch.
/// Everything that can fail without the key is checked before a code is
/// asked for: the card sees no CALCULATE, and no time step is used up.
#[test]
fn missing_source_keys_fail_before_the_yubikey_is_asked_for_a_code() {
    let world = World::new();
    world.write_credentials("[src]\naws_access_key_id = AKIAX\n");
    let out = run(world.vegas(&["assume", "--profile", "admin"]));
    let err = assert_clean_failure(&out);
    assert!(err.contains("has no aws_secret_access_key"), "{err}");
    let card = world.card_handle.as_ref().expect("the world has a card");
    assert_eq!(card.total_calculations(), 0, "no code was calculated");
    assert_eq!(card.calculate_alls(), 0);
    assert_eq!(world.sts.count(&Action::AssumeRole), 0);
}

#[test]
fn invalid_configurations_name_file_profile_and_key() {
    let world = World::new();
    let config_path = world.config_path().display().to_string();
    let base = default_config(&world.sts.url());
    let cases: Vec<(String, &str, &[&str])> = vec![
        (base.clone(), "nosuch", &["'nosuch'", "not found"]),
        (
            base.replace("vegas_role_arn = arn:aws:iam::222222222222:role/Admin", ""),
            "admin",
            &["'admin'", "vegas_role_arn"],
        ),
        (
            base.replace("role/Admin", "user/Admin"),
            "admin",
            &["'admin'", "vegas_role_arn"],
        ),
        (
            base.replace(":mfa/alice", ":mfa/"),
            "admin",
            &["'src'", "mfa_serial"],
        ),
        (
            base.replace("duration_seconds = 1800", "duration_seconds = 100"),
            "admin",
            &["'admin'", "duration_seconds"],
        ),
        (
            base.replace(
                "vegas_source_profile = src\nvegas_role_arn = arn:aws:iam::222",
                "vegas_source_profile = gone\nvegas_role_arn = arn:aws:iam::222",
            ),
            "admin",
            &["'gone'"],
        ),
        (format!("{base}\n[profile broken\n"), "admin", &["line"]),
    ];
    for (config, profile, needles) in cases {
        world.write_config(&config);
        let out = run(world.vegas(&["assume", "--profile", profile]));
        let err = assert_clean_failure(&out);
        assert!(err.contains(&config_path), "names the file: {err}");
        for needle in needles {
            assert!(err.contains(needle), "{needle:?} in {err}");
        }
    }
    assert_eq!(world.sts.calls().len(), 0);
}

#[test]
fn no_secret_appears_on_stderr_even_when_verbose() {
    let world = World::new();
    let start = unix_now();
    let out = run(world.vegas(&["--verbose", "assume", "--profile", "admin"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let err = stderr(&out);
    for secret in [
        v["SecretAccessKey"].as_str().unwrap(),
        v["SessionToken"].as_str().unwrap(),
        SOURCE_SECRET,
    ] {
        assert!(!err.contains(secret), "secret leaked on stderr");
    }
    for code in world.codes_since(start.saturating_sub(30)) {
        assert!(!err.contains(&code), "TOTP code leaked on stderr:\n{err}");
    }
}

#[test]
fn without_its_sts_helper_vegas_serves_hits_and_fails_misses_cleanly() {
    let world = World::new();
    let first = assume_json(&world, "admin");
    // vegas alone in a folder, without vegas-sts beside it.
    let alone = tempfile::tempdir().unwrap();
    let lonely = alone.path().join("vegas");
    std::fs::copy(vegas_bin(), &lonely).unwrap();
    let out = run(std::process::Command::new(&lonely)
        .args(["assume", "--profile", "admin"])
        .env_clear()
        .envs(world.env())
        .stdin(std::process::Stdio::null()));
    assert!(
        out.status.success(),
        "a hit needs no helper: {}",
        stderr(&out)
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        first
    );

    let out = run(std::process::Command::new(&lonely)
        .args(["assume", "--profile", "readonly"])
        .env_clear()
        .envs(world.env())
        .stdin(std::process::Stdio::null()));
    let err = assert_clean_failure(&out);
    assert!(err.contains("vegas-sts"), "{err}");
}
