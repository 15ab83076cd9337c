//! The encrypted cache end to end: hits that touch neither the card nor STS,
//! misses whenever the profile or the machine identity changes, damage that
//! heals itself, one touch for a crowd, and codes never reused.

mod support;

use std::borrow::BorrowMut;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::card::TouchResponse;
use support::sts::{Action, TokenCheck};
use support::world::*;

fn run(mut cmd: impl BorrowMut<Command>) -> Output {
    cmd.borrow_mut().output().expect("command runs")
}

fn assume_ok(world: &World, profile: &str) -> (serde_json::Value, String) {
    let out = run(world.vegas(&["assume", "--profile", profile]));
    assert!(
        out.status.success(),
        "vegas assume --profile {profile}:\n{}",
        stderr(&out)
    );
    (
        serde_json::from_slice(&out.stdout).expect("JSON"),
        stderr(&out),
    )
}

fn assume_roles(world: &World) -> usize {
    world.sts.successes(&Action::AssumeRole)
}

fn db_path(world: &World) -> std::path::PathBuf {
    world.cache_dir().join("vegas.db")
}

#[test]
fn second_assume_is_served_from_the_cache_without_card_or_sts() {
    let world = World::new();
    let (first, _) = assume_ok(&world, "admin");
    let apdus = world.card_handle().apdu_count();
    let (second, err) = assume_ok(&world, "admin");
    assert_eq!(first, second, "the same credentials");
    assert_eq!(assume_roles(&world), 1, "no second STS call");
    assert_eq!(
        world.card_handle().apdu_count(),
        apdus,
        "the card was not spoken to"
    );
    assert!(err.is_empty(), "a hit says nothing: {err}");
}

#[test]
fn cache_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let world = World::new();
    assume_ok(&world, "admin");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&world.cache_dir()), 0o700);
    assert_eq!(mode(&db_path(&world)), 0o600);
    // Loosened by someone: tightened again on the next call, with a warning.
    std::fs::set_permissions(world.cache_dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let (_, err) = assume_ok(&world, "admin");
    assert_eq!(mode(&world.cache_dir()), 0o700);
    assert!(err.contains("tightened"), "{err}");
}

#[test]
fn an_edited_profile_is_a_miss_never_stale_credentials() {
    let world = World::new();
    let (first, _) = assume_ok(&world, "admin");
    let config = default_config(&world.sts.url())
        .replace("duration_seconds = 1800", "duration_seconds = 2400");
    world.write_config(&config);
    let (second, _) = assume_ok(&world, "admin");
    assert_ne!(first["AccessKeyId"], second["AccessKeyId"]);
    assert_eq!(assume_roles(&world), 2);
    let last = world
        .sts
        .calls()
        .into_iter()
        .rfind(|c| c.action == Action::AssumeRole)
        .unwrap();
    assert_eq!(last.duration_seconds.as_deref(), Some("2400"));
}

#[test]
fn another_host_name_makes_every_row_unreadable_which_is_a_miss() {
    let world = World::new();
    assume_ok(&world, "admin");
    // A private UTS namespace with another host name: the cache keys differ.
    let mut cmd = Command::new("unshare");
    cmd.args([
        "-u",
        "sh",
        "-c",
        "hostname vegas-other-host && exec \"$0\" assume --profile admin",
    ])
    .arg(vegas_bin())
    .env_clear()
    .envs(world.env())
    .stdin(Stdio::null());
    let out = run(cmd);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        assume_roles(&world),
        2,
        "a miss that fetched fresh credentials"
    );
}

#[test]
fn a_flipped_byte_in_any_sealed_column_is_a_miss_and_a_refetch() {
    let world = World::new();
    assume_ok(&world, "admin");
    let mut expected_calls = 1;
    for column in ["iv", "ciphertext", "mac"] {
        {
            let conn = rusqlite::Connection::open(db_path(&world)).unwrap();
            let blob: Vec<u8> = conn
                .query_row(
                    &format!("SELECT {column} FROM credentials WHERE profile = 'admin'"),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            let mut flipped = blob.clone();
            flipped[0] ^= 0x01;
            conn.execute(
                &format!("UPDATE credentials SET {column} = ?1 WHERE profile = 'admin'"),
                [flipped],
            )
            .unwrap();
        }
        let (v, _) = assume_ok(&world, "admin");
        expected_calls += 1;
        assert_eq!(
            assume_roles(&world),
            expected_calls,
            "flipping {column} must refetch"
        );
        assert_eq!(v["Version"], 1);
    }
}

#[test]
fn a_garbage_database_is_moved_aside_and_rebuilt() {
    let world = World::new();
    assume_ok(&world, "admin");
    std::fs::write(
        db_path(&world),
        b"this is not a database at all, not even a little",
    )
    .unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(world.cache_dir().join(format!("vegas.db{suffix}")));
    }
    let (_, err) = assume_ok(&world, "admin");
    assert!(err.contains("kept it as"), "one warning line: {err}");
    assert_eq!(assume_roles(&world), 2);
    let (_, err) = assume_ok(&world, "admin");
    assert!(err.is_empty(), "the rebuilt cache serves hits: {err}");
    assert_eq!(assume_roles(&world), 2);
}

/// A read-only cache directory, for real even as root: a read-only bind
/// mount in a private mount namespace.
fn vegas_on_read_only_cache(world: &World, profile: &str) -> Output {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount --bind -o ro \"$1\" \"$1\" && exec \"$0\" assume --profile \"$2\"",
    ])
    .arg(vegas_bin())
    .arg(world.cache_dir())
    .arg(profile)
    .env_clear()
    .envs(world.env())
    .stdin(Stdio::null());
    run(cmd)
}

#[test]
fn a_read_only_cache_still_serves_hits_and_misses_still_print_credentials() {
    let world = World::new();
    let (first, _) = assume_ok(&world, "admin");
    let out = vegas_on_read_only_cache(&world, "admin");
    assert!(out.status.success(), "{}", stderr(&out));
    let hit: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hit, first, "served from the read-only cache");

    let out = vegas_on_read_only_cache(&world, "readonly");
    assert!(out.status.success(), "{}", stderr(&out));
    let fresh: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(fresh["Version"], 1);
    assert!(
        stderr(&out).contains("warning"),
        "says the cache could not be written: {}",
        stderr(&out)
    );
}

#[test]
fn two_profiles_on_one_device_back_to_back_both_succeed() {
    let world = World::new();
    assume_ok(&world, "admin");
    let (_, err) = assume_ok(&world, "readonly");
    let assumes: Vec<_> = world
        .sts
        .calls()
        .into_iter()
        .filter(|c| c.action == Action::AssumeRole)
        .collect();
    assert_eq!(assumes.len(), 2, "no rejected call: {assumes:?}");
    let steps: Vec<u64> = assumes
        .iter()
        .map(|c| match c.token_check {
            Some(TokenCheck::Accepted { step }) => step,
            ref other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        steps[1] > steps[0],
        "the second used a fresh step: {steps:?}"
    );
    if err.contains("Waiting") {
        assert!(err.contains("fresh code"), "{err}");
    }
}

#[test]
fn mandatory_refresh_refetches_credentials_in_their_last_ten_minutes() {
    let world = World::with(
        CardSetup::default(),
        sts_config().credential_lifetime(Duration::from_secs(300)),
    );
    let (first, _) = assume_ok(&world, "admin");
    let out = run(world.vegas(&[
        "assume",
        "--profile",
        "admin",
        "--disable-mandatory-refresh",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let served: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(served, first, "served until it really expires");
    assert_eq!(assume_roles(&world), 1);
    let (refreshed, _) = assume_ok(&world, "admin");
    assert_ne!(refreshed["AccessKeyId"], first["AccessKeyId"]);
    assert_eq!(assume_roles(&world), 2);
}

#[test]
fn thirty_two_processes_at_once_cost_one_touch_and_one_sts_call() {
    let setup = CardSetup {
        touch: Some(TouchResponse::TouchedAfter(Duration::from_secs(2))),
        ..Default::default()
    };
    let world = World::with(setup, sts_config());
    let children: Vec<_> = (0..32)
        .map(|_| {
            world
                .vegas(&["assume", "--profile", "admin"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn vegas")
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for out in &outputs {
        assert!(out.status.success(), "{}", stderr(out));
        assert!(!stderr(out).contains("locked"), "{}", stderr(out));
    }
    let first = &outputs[0].stdout;
    assert!(
        outputs.iter().all(|o| &o.stdout == first),
        "32 identical outputs"
    );
    assert_eq!(
        world.card_handle().calculations(OATH_LABEL),
        1,
        "one CALCULATE"
    );
    assert_eq!(world.card_handle().touches(), 1, "one touch");
    assert_eq!(world.sts.count(&Action::AssumeRole), 1, "one AssumeRole");
}

#[test]
fn a_holder_killed_while_waiting_for_the_touch_lets_the_next_one_proceed() {
    let setup = CardSetup {
        touch: Some(TouchResponse::TouchedAfter(Duration::from_secs(3))),
        ..Default::default()
    };
    let world = World::with(setup, sts_config());
    let mut holder = world
        .vegas(&["assume", "--profile", "admin"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the holder is waiting for the touch (the card has the CALCULATE).
    let deadline = Instant::now() + Duration::from_secs(15);
    while world.card_handle().calculations(OATH_LABEL) == 0 {
        assert!(
            Instant::now() < deadline,
            "the holder never reached the card"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    holder.kill().unwrap(); // SIGKILL
    holder.wait().unwrap();
    let started = Instant::now();
    let (v, _) = assume_ok(&world, "admin");
    assert_eq!(v["Version"], 1);
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(assume_roles(&world), 1);
}

#[test]
fn cache_list_shows_no_secret_and_clean_drops_a_profile() {
    let world = World::new();
    let (creds, _) = assume_ok(&world, "admin");
    let out = run(world.vegas(&["cache", "list"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let listing = stdout(&out);
    assert!(
        listing.contains("admin") && listing.contains(ROLE_ARN) && listing.contains(MFA_SERIAL),
        "{listing}"
    );
    for key in ["AccessKeyId", "SecretAccessKey", "SessionToken"] {
        assert!(
            !listing.contains(creds[key].as_str().unwrap()),
            "{key} shown in the listing"
        );
    }
    let out = run(world.vegas(&["cache", "list", "--json"]));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["profile"], "admin");
    assert!(json[0]["expires_in_seconds"].as_i64().unwrap() > 1700);

    let out = run(world.vegas(&["cache", "clean", "--profile", "admin"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let out = run(world.vegas(&["cache", "list", "--json"]));
    assert_eq!(stdout(&out).trim(), "[]");
}
