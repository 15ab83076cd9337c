//! MFA sessions end to end (issue #8): with `vegas_mfa_session = true` on the
//! source profile, one touch and one GetSessionToken serve every role assumed
//! from that source, each AssumeRole signed by the session's credentials and
//! sent without MFA. Against the virtual YubiKey and the strict STS, which
//! accepts a role that requires MFA only from a caller that proved it, and
//! records who signed every call.

mod support;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::card::TouchResponse;
use support::sts::{Action, CallRecord, Fault, RoleConfig, StsConfig, TokenCheck};
use support::world::*;

const TARGETS: [&str; 5] = ["t1", "t2", "t3", "t4", "t5"];

fn role_arn(target: &str) -> String {
    format!("arn:aws:iam::222222222222:role/Target-{target}")
}

fn run(mut cmd: Command) -> Output {
    cmd.output().expect("command runs")
}

fn sts_with_targets() -> StsConfig {
    TARGETS.iter().fold(sts_config(), |sts, target| {
        sts.role(
            RoleConfig::new(&role_arn(target))
                .max_session_duration(7200)
                .require_mfa(),
        )
    })
}

/// Source `src` with an MFA session, five targets on it, and `chained`,
/// a role chained to `t1`.
fn config(sts_url: &str, source_extra: &str) -> String {
    let mut text = format!(
        "[profile src]\n\
         mfa_serial = {MFA_SERIAL}\n\
         vegas_yubikey_label = {OATH_LABEL}\n\
         region = eu-west-1\n\
         vegas_mfa_session = true\n\
         {source_extra}\n"
    );
    for target in TARGETS {
        text.push_str(&format!(
            "\n[profile {target}]\n\
             credential_process = @VEGAS@ assume --profile {target}\n\
             vegas_source_profile = src\n\
             vegas_role_arn = {}\n\
             role_session_name = alice-{target}\n\
             endpoint_url = {sts_url}\n",
            role_arn(target)
        ));
    }
    text.push_str(&format!(
        "\n[profile chained]\n\
         vegas_source_profile = t1\n\
         vegas_role_arn = {OTHER_ROLE_ARN}\n\
         endpoint_url = {sts_url}\n"
    ));
    text
}

fn world_with(setup: CardSetup, sts: StsConfig, source_extra: &str) -> World {
    let world = World::with(setup, sts);
    world.write_config(&config(&world.sts.url(), source_extra));
    world
}

fn assume_ok(world: &World, args: &[&str]) -> serde_json::Value {
    let out = run(world.vegas(args));
    assert!(out.status.success(), "vegas failed:\n{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

fn calls_of(world: &World, action: Action) -> Vec<CallRecord> {
    world
        .sts
        .calls()
        .into_iter()
        .filter(|c| c.action == action)
        .collect()
}

/// The one GetSessionToken, checked: MFA accepted, signed by the long-term
/// keys. Returns the session's access key id.
fn the_session(world: &World) -> String {
    let sessions = calls_of(world, Action::GetSessionToken);
    assert_eq!(sessions.len(), 1, "one GetSessionToken: {sessions:#?}");
    let session = &sessions[0];
    assert!(session.succeeded(), "{session:?}");
    assert_eq!(session.signer.as_deref(), Some(SOURCE_KEY_ID));
    assert_eq!(session.serial_number.as_deref(), Some(MFA_SERIAL));
    assert!(matches!(
        session.token_check,
        Some(TokenCheck::Accepted { .. })
    ));
    assert_eq!(session.duration_seconds.as_deref(), Some("43200"), "12 h");
    session
        .issued_access_key_id
        .clone()
        .expect("the session's key id")
}

#[test]
fn five_roles_one_after_another_cost_one_touch_and_one_session() {
    let world = world_with(CardSetup::default(), sts_with_targets(), "");
    let mut printed = Vec::new();
    for target in TARGETS {
        printed.push(assume_ok(&world, &["assume", "--profile", target]));
    }

    assert_eq!(
        world.card_handle().calculations(OATH_LABEL),
        1,
        "one CALCULATE"
    );
    let session_key = the_session(&world);
    let assumes = calls_of(&world, Action::AssumeRole);
    assert_eq!(assumes.len(), 5, "{assumes:#?}");
    for (call, (target, creds)) in assumes.iter().zip(TARGETS.iter().zip(&printed)) {
        assert!(call.succeeded(), "{call:?}");
        assert_eq!(call.role_arn.as_deref(), Some(role_arn(target).as_str()));
        assert_eq!(call.serial_number, None, "no MFA on AssumeRole");
        assert_eq!(call.token_check, None);
        assert_eq!(
            call.signer.as_deref(),
            Some(session_key.as_str()),
            "signed by the MFA session"
        );
        assert_eq!(
            creds["AccessKeyId"].as_str(),
            call.issued_access_key_id.as_deref()
        );
    }

    // Each profile is now a hit; nothing more reaches the card or STS.
    for target in TARGETS {
        assume_ok(&world, &["assume", "--profile", target]);
    }
    assert_eq!(world.sts.calls().len(), 6);
    assert_eq!(world.card_handle().calculations(OATH_LABEL), 1);
}

#[test]
fn thirty_two_processes_across_five_roles_cost_one_touch_and_one_session() {
    let setup = CardSetup {
        touch: Some(TouchResponse::TouchedAfter(Duration::from_secs(2))),
        ..Default::default()
    };
    let world = world_with(setup, sts_with_targets(), "");
    let children: Vec<_> = (0..32)
        .map(|i| {
            world
                .vegas(&["assume", "--profile", TARGETS[i % TARGETS.len()]])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn vegas")
        })
        .collect();
    let outputs: Vec<(usize, Output)> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .enumerate()
        .collect();
    for (_, out) in &outputs {
        assert!(out.status.success(), "{}", stderr(out));
    }
    // Processes for one profile print one set of credentials.
    for (t, _) in TARGETS.iter().enumerate() {
        let mut same: Vec<&[u8]> = outputs
            .iter()
            .filter(|(i, _)| i % TARGETS.len() == t)
            .map(|(_, o)| o.stdout.as_slice())
            .collect();
        same.dedup();
        assert_eq!(same.len(), 1, "one set of credentials per profile");
    }
    assert_eq!(
        world.card_handle().calculations(OATH_LABEL),
        1,
        "one CALCULATE"
    );
    assert_eq!(world.card_handle().touches(), 1, "one touch");
    let session_key = the_session(&world);
    let assumes = calls_of(&world, Action::AssumeRole);
    assert_eq!(assumes.len(), 5, "one AssumeRole per profile: {assumes:#?}");
    assert!(assumes
        .iter()
        .all(|c| c.signer.as_deref() == Some(session_key.as_str())));
}

#[test]
fn a_session_in_its_last_ten_minutes_is_renewed_with_a_new_touch() {
    // Everything STS issues lasts five minutes: inside the refresh window.
    let sts = sts_with_targets().credential_lifetime(Duration::from_secs(300));
    let world = world_with(CardSetup::default(), sts, "");
    assume_ok(&world, &["assume", "--profile", "t1"]);
    // Served until it really expires when the user says so…
    assume_ok(
        &world,
        &["assume", "--profile", "t2", "--disable-mandatory-refresh"],
    );
    assert_eq!(world.sts.count(&Action::GetSessionToken), 1);
    // …but by default a session that short is renewed, with a new code.
    assume_ok(&world, &["assume", "--profile", "t3"]);
    let sessions = calls_of(&world, Action::GetSessionToken);
    assert_eq!(sessions.len(), 2, "{sessions:#?}");
    assert!(sessions.iter().all(|c| c.succeeded()), "{sessions:#?}");
    assert_eq!(world.card_handle().calculations(OATH_LABEL), 2);
    let last = calls_of(&world, Action::AssumeRole)
        .pop()
        .expect("an AssumeRole");
    assert_eq!(last.signer, sessions[1].issued_access_key_id);
}

#[test]
fn a_chain_on_an_mfa_session_signs_its_first_hop_with_the_session() {
    let sts = sts_with_targets().role(RoleConfig::new(OTHER_ROLE_ARN).require_mfa());
    let world = world_with(CardSetup::default(), sts, "");
    assume_ok(&world, &["assume", "--profile", "chained"]);
    let session_key = the_session(&world);
    let assumes = calls_of(&world, Action::AssumeRole);
    assert_eq!(assumes.len(), 2, "{assumes:#?}");
    assert_eq!(assumes[0].signer.as_deref(), Some(session_key.as_str()));
    assert_eq!(assumes[1].signer, assumes[0].issued_access_key_id);
    assert!(
        assumes[1].succeeded(),
        "the MFA context carries down the chain"
    );
}

#[test]
fn cache_list_shows_the_mfa_session_apart_and_no_secret() {
    let world = world_with(CardSetup::default(), sts_with_targets(), "");
    let creds = assume_ok(&world, &["assume", "--profile", "t1"]);
    let out = run(world.vegas(&["cache", "list"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let listing = stdout(&out);
    assert!(listing.contains("MFA SESSION"), "{listing}");
    let session_section = listing
        .split("MFA SESSION")
        .nth(1)
        .expect("a section for MFA sessions");
    assert!(
        session_section.contains("src") && session_section.contains(MFA_SERIAL),
        "{listing}"
    );
    assert!(!listing.contains(creds["SecretAccessKey"].as_str().unwrap()));

    let out = run(world.vegas(&["cache", "list", "--json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = json.as_array().expect("a list");
    let sessions: Vec<_> = entries
        .iter()
        .filter(|e| e["kind"] == "mfa-session")
        .collect();
    assert_eq!(sessions.len(), 1, "{json}");
    assert_eq!(sessions[0]["source_profile"], "src");
    assert_eq!(sessions[0]["mfa_serial"], MFA_SERIAL);
    let roles: Vec<_> = entries.iter().filter(|e| e["profile"] == "t1").collect();
    assert_eq!(roles.len(), 1, "{json}");
    let session_key = the_session(&world);
    assert!(
        !stdout(&out).contains(&session_key),
        "no session key id in full"
    );
}

#[test]
fn a_cached_session_sts_no_longer_accepts_is_replaced_with_one_new_touch() {
    let world = world_with(CardSetup::default(), sts_with_targets(), "");
    assume_ok(&world, &["assume", "--profile", "t1"]);
    // As if the session had been revoked: its next use is refused.
    world.sts.push_fault(Fault::ExpiredToken);
    assume_ok(&world, &["assume", "--profile", "t2"]);

    let sessions = calls_of(&world, Action::GetSessionToken);
    assert_eq!(sessions.len(), 2, "{sessions:#?}");
    assert!(sessions.iter().all(|c| c.succeeded()), "{sessions:#?}");
    let assumes = calls_of(&world, Action::AssumeRole);
    assert_eq!(assumes.len(), 3, "{assumes:#?}");
    assert_eq!(assumes[1].error_code(), Some("ExpiredToken"));
    assert_eq!(assumes[1].signer, sessions[0].issued_access_key_id);
    assert!(assumes[2].succeeded());
    assert_eq!(assumes[2].signer, sessions[1].issued_access_key_id);
    assert_eq!(world.card_handle().calculations(OATH_LABEL), 2);
}

#[test]
fn verbose_shows_neither_the_session_nor_the_role_secrets() {
    let world = world_with(CardSetup::default(), sts_with_targets(), "");
    for target in ["t1", "t2", "chained"] {
        let out = run(world.vegas(&["--verbose", "assume", "--profile", target]));
        assert!(out.status.success(), "{}", stderr(&out));
        let err = stderr(&out);
        let creds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for key in ["SecretAccessKey", "SessionToken"] {
            assert!(!err.contains(creds[key].as_str().unwrap()), "{key} logged");
        }
        // Every session token the strict STS issues starts so: none of the
        // MFA session's (nor any hop's) may reach the log.
        assert!(
            !err.contains("FwoGZXIvYXdzE"),
            "a session token logged:\n{err}"
        );
        assert!(err.contains("DEBUG"), "--verbose logs");
    }
    the_session(&world);
    assert_eq!(
        world.sts.count(&Action::AssumeRole),
        3,
        "t1, t2, and chained on the cached t1"
    );
}
