//! Role chains end to end (issue #8): a vegas profile whose
//! `vegas_source_profile` is another vegas profile. The first hop carries the
//! MFA; each later hop is signed by the credentials of the hop below it, with
//! its duration clamped to AWS's one-hour limit for chained roles. Against
//! the virtual YubiKey and the strict STS, which refuses a chained
//! AssumeRole longer than an hour and records who signed every call.

mod support;

use std::process::{Command, Output};

use support::sts::{Action, Fault, RoleConfig, TokenCheck};
use support::world::*;

const HOP2_ROLE: &str = "arn:aws:iam::333333333333:role/Hop2";
const HOP3_ROLE: &str = "arn:aws:iam::444444444444:role/Hop3";

fn run(mut cmd: Command) -> Output {
    cmd.output().expect("command runs")
}

/// `src` (long-term keys) → `admin` (MFA) → `hop2` → `hop3`; the last hop
/// asks for two hours.
fn chain_world() -> World {
    let sts = sts_config()
        .role(RoleConfig::new(HOP2_ROLE).max_session_duration(7200))
        .role(RoleConfig::new(HOP3_ROLE).max_session_duration(7200));
    let world = World::with(CardSetup::default(), sts);
    let url = world.sts.url();
    world.write_config(&format!(
        "{}\n\
         [profile hop2]\n\
         vegas_source_profile = admin\n\
         vegas_role_arn = {HOP2_ROLE}\n\
         role_session_name = hop2-session\n\
         endpoint_url = {url}\n\
         \n\
         [profile hop3]\n\
         vegas_source_profile = hop2\n\
         vegas_role_arn = {HOP3_ROLE}\n\
         role_session_name = hop3-session\n\
         duration_seconds = 7200\n\
         endpoint_url = {url}\n",
        default_config(&url)
    ));
    world
}

fn assume_json(world: &World, args: &[&str]) -> (serde_json::Value, String) {
    let out = run(world.vegas(args));
    assert!(out.status.success(), "vegas failed:\n{}", stderr(&out));
    (
        serde_json::from_slice(&out.stdout).expect("stdout is JSON"),
        stderr(&out),
    )
}

#[test]
fn a_three_profile_chain_resolves_and_its_last_hop_is_clamped_to_an_hour() {
    let world = chain_world();
    let (creds, err) = assume_json(&world, &["--verbose", "assume", "--profile", "hop3"]);
    assert_eq!(creds["Version"], 1);

    let calls = world.sts.calls();
    let assumes: Vec<_> = calls
        .iter()
        .filter(|c| c.action == Action::AssumeRole)
        .collect();
    assert_eq!(assumes.len(), 3, "one AssumeRole per hop: {calls:#?}");
    assert!(assumes.iter().all(|c| c.succeeded()), "{calls:#?}");
    let (first, second, third) = (assumes[0], assumes[1], assumes[2]);

    // The first hop carries the MFA and is signed by the long-term keys.
    assert_eq!(first.role_arn.as_deref(), Some(ROLE_ARN));
    assert_eq!(first.signer.as_deref(), Some(SOURCE_KEY_ID));
    assert_eq!(first.serial_number.as_deref(), Some(MFA_SERIAL));
    assert!(matches!(
        first.token_check,
        Some(TokenCheck::Accepted { .. })
    ));
    assert_eq!(first.duration_seconds.as_deref(), Some("1800"));

    // Each later hop: no MFA, signed by the credentials the hop below got.
    assert_eq!(second.role_arn.as_deref(), Some(HOP2_ROLE));
    assert_eq!(second.serial_number, None);
    assert_eq!(second.signer, first.issued_access_key_id);
    assert_eq!(second.duration_seconds.as_deref(), Some("3600"));
    assert_eq!(third.role_arn.as_deref(), Some(HOP3_ROLE));
    assert_eq!(third.serial_number, None);
    assert_eq!(third.signer, second.issued_access_key_id);
    assert_eq!(
        third.duration_seconds.as_deref(),
        Some("3600"),
        "7200 asked, clamped to the role-chain limit"
    );
    assert_eq!(
        creds["AccessKeyId"].as_str(),
        third.issued_access_key_id.as_deref(),
        "the credentials printed are the last hop's"
    );
    assert!(err.contains("clamped to 3600"), "--verbose says so:\n{err}");
    assert_eq!(world.card_handle().calculations(OATH_LABEL), 1, "one touch");
    for key in ["SecretAccessKey", "SessionToken"] {
        assert!(!err.contains(creds[key].as_str().unwrap()), "{key} logged");
    }
}

#[test]
fn a_chain_reuses_the_cached_credentials_of_its_intermediate_hops() {
    let world = chain_world();
    assume_json(&world, &["assume", "--profile", "hop2"]);
    assert_eq!(world.sts.count(&Action::AssumeRole), 2);
    // hop3 rides on the cached hop2: one more AssumeRole, no touch.
    assume_json(&world, &["assume", "--profile", "hop3"]);
    assert_eq!(world.sts.count(&Action::AssumeRole), 3);
    assert_eq!(world.card_handle().calculations(OATH_LABEL), 1, "one touch");
    // And everything is now a hit.
    for profile in ["admin", "hop2", "hop3"] {
        assume_json(&world, &["assume", "--profile", profile]);
    }
    assert_eq!(world.sts.count(&Action::AssumeRole), 3);
}

#[test]
fn a_loop_of_two_profiles_is_one_error_naming_both() {
    let world = World::new();
    world.write_config(&format!(
        "{}\n\
         [profile ping]\n\
         vegas_source_profile = pong\n\
         vegas_role_arn = {HOP2_ROLE}\n\
         \n\
         [profile pong]\n\
         vegas_source_profile = ping\n\
         vegas_role_arn = {HOP3_ROLE}\n",
        default_config(&world.sts.url())
    ));
    let out = run(world.vegas(&["assume", "--profile", "ping"]));
    let err = assert_clean_failure(&out);
    assert!(
        err.contains("'ping'") && err.contains("'pong'") && err.contains("loop"),
        "{err}"
    );
    assert!(world.sts.calls().is_empty(), "nothing sent to STS");
    assert_eq!(world.card_handle().calculations(OATH_LABEL), 0, "no touch");
}

#[test]
fn show_profile_shows_the_chain_and_the_clamp() {
    let world = chain_world();
    let out = run(world.vegas(&["config", "show-profile", "hop3"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("hop3 → hop2 → admin → src"), "{text}");
    assert!(text.contains("clamped to 3600 (role chain)"), "{text}");
    assert!(text.contains("vegas_mfa_session "), "{text}");
    let out = run(world.vegas(&["config", "show-profile", "admin", "--json"]));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        json["settings"]["role_chain"].is_null(),
        "a first hop has no chain"
    );
    assert_eq!(json["settings"]["vegas_mfa_session"]["value"], "false");
    assert_eq!(
        json["settings"]["vegas_mfa_session_duration"]["value"],
        "43200"
    );
}

#[test]
fn cached_hop_credentials_sts_rejects_are_assumed_again_without_a_touch() {
    let world = chain_world();
    assume_json(&world, &["assume", "--profile", "hop2"]);
    // As if hop2's sessions had been revoked: its next use is refused.
    world.sts.push_fault(Fault::ExpiredToken);
    let (creds, _) = assume_json(&world, &["assume", "--profile", "hop3"]);

    let assumes: Vec<_> = world
        .sts
        .calls()
        .into_iter()
        .filter(|c| c.action == Action::AssumeRole)
        .collect();
    let roles: Vec<_> = assumes.iter().map(|c| c.role_arn.as_deref()).collect();
    assert_eq!(
        roles,
        [
            Some(ROLE_ARN),
            Some(HOP2_ROLE),
            Some(HOP3_ROLE), // refused: signed by the revoked hop2
            Some(HOP2_ROLE), // hop2 again, signed by the cached admin
            Some(HOP3_ROLE),
        ]
    );
    assert_eq!(assumes[2].error_code(), Some("ExpiredToken"));
    assert_eq!(assumes[3].signer, assumes[0].issued_access_key_id);
    assert_eq!(assumes[4].signer, assumes[3].issued_access_key_id);
    assert_eq!(
        creds["AccessKeyId"].as_str(),
        assumes[4].issued_access_key_id.as_deref()
    );
    assert_eq!(
        world.card_handle().calculations(OATH_LABEL),
        1,
        "no new touch"
    );
}
