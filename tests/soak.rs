//! Soak: many `vegas assume` processes at once, round after round, over four
//! profiles on two MFA devices, while the credentials keep expiring — so
//! refreshes race with cache hits, on the device locks and in the database.
//!
//! The strict STS issues credentials that live 10 minutes and
//! [`FRESH_SECONDS`]: vegas's mandatory refresh (the last 10 minutes) makes
//! each profile refresh every [`FRESH_SECONDS`] for the whole run. Two
//! profiles share each device, so a refresh may wait for a fresh 30 s TOTP
//! step (the STS rejects a reused code): that is what bounds the run's time.
//!
//! Owed: no failure, no "database is locked", exactly one STS call per
//! refresh of a profile (never one per process), every output valid JSON
//! with credentials good for at least the refresh window. The figures are
//! printed and recorded in docs/reliability.md.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use support::sts::Action;
use support::world::*;

const PROCESSES: usize = 50;
const ROUNDS: usize = 20;
const PROFILES: [(&str, &str); 4] = [
    ("admin", ROLE_ARN),
    ("readonly", OTHER_ROLE_ARN),
    ("ops", OPS_ROLE_ARN),
    ("audit", AUDIT_ROLE_ARN),
];
/// Credentials outlive vegas's 600 s mandatory refresh window by this much.
const FRESH_SECONDS: u64 = 45;
/// After the first round (every profile cached), the other rounds are spread
/// over at least this long, so that every profile reaches its refresh
/// window during the run whatever the machine's speed.
const SPREAD: Duration = Duration::from_secs(FRESH_SECONDS + 10);

fn expiration_unix(v: &serde_json::Value) -> i64 {
    let text = v["Expiration"].as_str().expect("Expiration");
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("Expiration {text:?}: {e}"))
        .unix_timestamp()
}

#[test]
fn fifty_processes_twenty_rounds_four_profiles_two_devices_with_refreshes() {
    let world = World::with_two_devices(
        CardSetup::default(),
        two_device_sts_config().credential_lifetime(Duration::from_secs(600 + FRESH_SECONDS)),
    );
    let started = Instant::now();
    let mut failures = Vec::new();
    // Per profile, every distinct access key id printed.
    let mut seen: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut outputs = 0;

    let mut spread_until = None;
    for round in 0..ROUNDS {
        let children: Vec<_> = (0..PROCESSES)
            .map(|i| {
                let (profile, _) = PROFILES[(i + round) % PROFILES.len()];
                let child = world
                    .vegas(&["assume", "--profile", profile])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn vegas");
                (profile, child)
            })
            .collect();
        // Each process is waited for on its own thread, so that its output
        // is judged at the moment it was written, not when its turn came.
        let finished: Vec<_> = children
            .into_iter()
            .map(|(profile, child)| {
                std::thread::spawn(move || {
                    let out = child.wait_with_output().expect("wait for vegas");
                    (profile, out, unix_now() as i64)
                })
            })
            .collect();
        for done in finished {
            let (profile, out, now): (&str, Output, i64) = done.join().expect("waiter thread");
            outputs += 1;
            let err = stderr(&out);
            if !out.status.success() || err.contains("locked") || err.contains("panicked") {
                failures.push(format!("round {round} {profile}: {:?}\n{err}", out.status));
                continue;
            }
            let v: serde_json::Value = match serde_json::from_slice(&out.stdout) {
                Ok(v) => v,
                Err(e) => {
                    failures.push(format!("round {round} {profile}: not JSON: {e}"));
                    continue;
                }
            };
            let left = expiration_unix(&v) - now;
            if left < 590 {
                failures.push(format!(
                    "round {round} {profile}: served with {left} s left"
                ));
            }
            let key = v["AccessKeyId"].as_str().unwrap_or_default().to_owned();
            seen.entry(profile).or_default().insert(key);
        }
        let until = *spread_until.get_or_insert_with(|| Instant::now() + SPREAD);
        let rounds_left = (ROUNDS - round - 1).max(1) as u32;
        std::thread::sleep(until.saturating_duration_since(Instant::now()) / rounds_left);
    }
    let wall = started.elapsed();

    let calls = world.sts.calls();
    let assume_calls: Vec<_> = calls
        .iter()
        .filter(|c| c.action == Action::AssumeRole)
        .collect();
    let rejected: Vec<_> = assume_calls.iter().filter(|c| !c.succeeded()).collect();
    let credentials_issued: usize = seen.values().map(BTreeSet::len).sum();
    eprintln!(
        "soak: {PROCESSES} processes x {ROUNDS} rounds = {outputs} runs of vegas assume, \
         {} profiles on 2 devices; STS AssumeRole calls: {} ({} rejected); \
         credentials issued and served: {credentials_issued} ({} refreshes); \
         failures: {}; wall time {:.1} s",
        PROFILES.len(),
        assume_calls.len(),
        rejected.len(),
        credentials_issued - PROFILES.len(),
        failures.len(),
        wall.as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        rejected.is_empty(),
        "every STS call succeeded: {rejected:#?}"
    );
    for (profile, role) in PROFILES {
        let calls_for_role = assume_calls
            .iter()
            .filter(|c| c.role_arn.as_deref() == Some(role))
            .count();
        let served = seen.get(profile).map_or(0, BTreeSet::len);
        assert_eq!(
            calls_for_role, served,
            "{profile}: one STS call per refresh, and every issued credential was served"
        );
        assert!(
            served >= 2,
            "{profile} refreshed during the run ({served} credentials)"
        );
    }
    assert_eq!(outputs, PROCESSES * ROUNDS);
}
