//! Secrets at rest and in the process (issue 13), end to end: what another
//! process, a planted file or a verbose log can get out of vegas.

mod support;

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use support::card::TouchResponse;
use support::sts::TokenCheck;
use support::world::*;

fn run(cmd: &mut std::process::Command) -> Output {
    cmd.output().expect("command runs")
}

/// Polls `ready` every 20 ms; panics after `limit`.
fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn finish(child: Child) -> Output {
    child.wait_with_output().expect("vegas ends")
}

// ---- the process -----------------------------------------------------------

#[test]
fn while_waiting_for_a_touch_vegas_can_write_no_core_file() {
    let world = World::with(
        CardSetup {
            touch: Some(TouchResponse::TouchedAfter(Duration::from_secs(2))),
            ..CardSetup::default()
        },
        sts_config(),
    );
    let child = world
        .vegas(&["assume", "--profile", "admin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vegas starts");
    let pid = child.id();
    wait_until("the card asks for a touch", Duration::from_secs(20), || {
        world.card_handle().touches() > 0
    });
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("a core line");
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..6], ["0", "0"], "soft and hard limit: {core}");
    let out = finish(child);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The world's HOME opened to another user, so vegas can run as `nobody`
/// (as root, every process may look at every other: only a process of
/// another user shows what non-dumpable means).
fn open_home_to_nobody(world: &World) {
    for dir in [
        world.home.path().to_path_buf(),
        world.home.path().join(".aws"),
    ] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for file in [
        world.config_path(),
        world.home.path().join(".aws/credentials"),
    ] {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
}

const NOBODY: u32 = 65534;

#[test]
fn vegas_is_not_dumpable_so_other_processes_of_its_user_cannot_read_its_memory() {
    use std::os::unix::process::CommandExt;
    let world = World::new();
    open_home_to_nobody(&world);
    // `nobody` may not enter the checkout (a clone in a 0700 directory):
    // run a copy of the binary from a directory anyone may enter.
    let bin_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(bin_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let vegas = bin_dir.path().join("vegas");
    std::fs::copy(vegas_bin(), &vegas).unwrap();
    let mut child = std::process::Command::new(&vegas)
        .args(["assume", "--profile", "admin", "--token-code", "-"])
        .env_clear()
        .envs(world.env())
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vegas starts");
    let status = format!("/proc/{}/status", child.id());
    // Waiting for the code on stdin: the process of `nobody`, yet its
    // /proc files belong to root, which is what PR_SET_DUMPABLE 0 does (a
    // dumpable process's belong to its own user).
    wait_until("vegas reads its stdin", Duration::from_secs(10), || {
        std::fs::read_to_string(&status).is_ok_and(|s| s.contains("State:\tS"))
    });
    let text = std::fs::read_to_string(&status).unwrap();
    assert!(text.contains(&format!("Uid:\t{NOBODY}")), "{text}");
    let owner = std::fs::metadata(&status).unwrap().uid();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        owner, 0,
        "the /proc files of a non-dumpable process are root's"
    );
}

#[test]
fn a_token_code_from_stdin_is_used_and_appears_in_no_argv() {
    let world = World::new();
    let mut child = world
        .vegas(&["assume", "--profile", "admin", "--token-code", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vegas starts");
    let argv = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap();
    let code = world.account.totp_code_at(unix_now());
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{code}").unwrap();
    drop(stdin);
    let out = finish(child);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!String::from_utf8_lossy(&argv).contains(&code));
    let calls = world.sts.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        matches!(calls[0].token_check, Some(TokenCheck::Accepted { .. })),
        "{calls:?}"
    );
    assert_eq!(
        world.card_handle().total_calculations(),
        0,
        "the typed code was used, the key was not asked"
    );
}

#[test]
fn a_ykman_planted_in_the_current_directory_is_never_run() {
    let world = World::new();
    let cwd = tempfile::tempdir().unwrap();
    let marker = cwd.path().join("planted-ykman-ran");
    let script = cwd.path().join("ykman");
    std::fs::write(
        &script,
        format!("#!/bin/sh\ntouch '{}'\necho 123456\n", marker.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    // An empty entry (the current directory), `.` and a relative one.
    let out = run(world
        .vegas(&["assume", "--profile", "admin", "--no-gui"])
        .current_dir(cwd.path())
        .env("PATH", "::.:./:/usr/bin:/bin")
        .env("VEGAS_YUBIKEY_BACKEND", "ykman"));
    assert!(!marker.exists(), "the planted ykman ran");
    assert!(!out.status.success(), "no ykman, no code: {}", stderr(&out));
    assert!(world.sts.calls().is_empty());
}

#[test]
fn verbose_output_names_neither_the_secret_key_nor_the_whole_access_key_id() {
    let world = World::new();
    let out = run(&mut world.vegas(&["assume", "--profile", "admin", "--verbose"]));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("configuration read"),
        "vegas's own events are there: {err}"
    );
    assert!(!err.contains(SOURCE_SECRET), "{err}");
    assert!(!err.contains(SOURCE_KEY_ID), "{err}");
    let issued: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for field in ["SecretAccessKey", "SessionToken"] {
        let value = issued[field].as_str().unwrap();
        assert!(!err.contains(value), "{field} in the log");
    }
}

// ---- files vegas trusts ----------------------------------------------------

/// `vegas assume --profile admin`, which must succeed; its stderr.
fn assume_ok(world: &World, extra: &[&str]) -> String {
    let mut args = vec!["assume", "--profile", "admin"];
    args.extend_from_slice(extra);
    let out = run(&mut world.vegas(&args));
    let err = stderr(&out);
    assert!(out.status.success(), "vegas assume failed:\n{err}");
    err
}

/// A code STS takes although this step's code was used already: the next
/// step's (its window reaches one step ahead), so a second fresh call needs
/// no 30 s wait.
fn next_step_code(world: &World) -> String {
    world.account.totp_code_at(unix_now() + 30)
}

#[test]
fn a_vegas_db_that_is_a_symlink_is_never_written_through() {
    let world = World::new();
    let dir = world.cache_dir();
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let victim = world.home.path().join("victim");
    std::fs::write(&victim, b"precious bytes\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("vegas.db")).unwrap();

    let err = assume_ok(&world, &[]);
    assert!(err.contains("symbolic link"), "says why: {err}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious bytes\n");
    assert_eq!(
        std::fs::metadata(&victim).unwrap().mode() & 0o777,
        0o644,
        "not even its mode was changed through the link"
    );
    let db = std::fs::symlink_metadata(dir.join("vegas.db")).unwrap();
    assert!(db.file_type().is_file(), "a new cache of vegas's own");
    assume_ok(&world, &[]);
    assert_eq!(world.sts.calls().len(), 1, "the new cache serves");
}

#[test]
fn a_vegas_db_owned_by_another_user_is_not_served_from() {
    let world = World::new();
    assume_ok(&world, &[]);
    assert_eq!(world.sts.calls().len(), 1);
    let db = world.cache_dir().join("vegas.db");
    std::os::unix::fs::chown(&db, Some(4242), None).unwrap();

    let code = next_step_code(&world);
    let err = assume_ok(&world, &["--token-code", &code]);
    assert_eq!(
        world.sts.calls().len(),
        2,
        "fetched afresh, not served: {err}"
    );
    assert!(err.contains("owned by user 4242"), "{err}");
    let db = std::fs::metadata(&db).unwrap();
    assert_eq!(db.uid(), 0, "a new cache of vegas's own");
}

#[test]
fn a_relative_cache_dir_is_refused_with_a_hint() {
    let world = World::new();
    for (variable, keep_vegas_dir) in [("VEGAS_CACHE_DIR", true), ("XDG_CACHE_HOME", false)] {
        let mut cmd = world.vegas(&["assume", "--profile", "admin"]);
        if !keep_vegas_dir {
            cmd.env_remove("VEGAS_CACHE_DIR");
        }
        let out = run(cmd
            .env(variable, "relative/cache")
            .current_dir(world.home.path()));
        let err = assert_clean_failure(&out);
        assert!(
            err.contains(&format!("{variable} is a relative path")),
            "{err}"
        );
        assert!(err.contains("absolute"), "{err}");
        assert!(!world.home.path().join("relative").exists());
    }
    assert!(world.sts.calls().is_empty());
}

// ---- deleting means gone ---------------------------------------------------

/// Every sealed column of the cache in `dir`, as stored.
fn ciphertexts(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let db = rusqlite::Connection::open(dir.join("vegas.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT ciphertext FROM credentials UNION ALL SELECT ciphertext FROM secrets")
        .unwrap();
    let rows = stmt.query_map([], |row| row.get::<_, Vec<u8>>(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

/// The bytes of every file under `dir`.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn after_cache_clean_no_ciphertext_of_a_removed_row_is_left_in_any_file() {
    let world = World::new();
    assume_ok(&world, &[]);
    let code = next_step_code(&world);
    let out = run(&mut world.vegas(&["assume", "--profile", "readonly", "--token-code", &code]));
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = world.cache_dir();
    let sealed = ciphertexts(&dir);
    assert_eq!(sealed.len(), 2, "two role rows");
    // A copy vegas set aside earlier, holding the same rows.
    std::fs::copy(
        dir.join("vegas.db"),
        dir.join("vegas.db.corrupt-1700000000"),
    )
    .unwrap();

    let out = run(&mut world.vegas(&["cache", "clean"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!dir.join("vegas.db.corrupt-1700000000").exists());
    let files = files_under(&dir);
    assert!(files.iter().any(|(p, _)| p.ends_with("vegas.db")));
    for ciphertext in &sealed {
        // Any 24 bytes of it, at its start, middle and end.
        let n = ciphertext.len();
        for start in [0, n / 2 - 12, n - 24] {
            let piece = &ciphertext[start..start + 24];
            for (path, bytes) in &files {
                assert!(
                    !contains(bytes, piece),
                    "{} still holds ciphertext bytes {start}..",
                    path.display()
                );
            }
        }
    }
}

// ---- the keyring: a cache key no one else can compute, the access key ------

/// What vegas names the keyring entries of the cache in `dir` (the same
/// rule as `cache::identity::keyring_prefix`, over the resolved path).
fn keyring_prefix(dir: &std::path::Path) -> String {
    use sha2::Digest;
    use std::os::unix::ffi::OsStrExt;
    let resolved = dir.canonicalize().unwrap();
    let digest = sha2::Sha256::digest(resolved.as_os_str().as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("vegas:{hex}:")
}

fn user_keyring() -> linux_keyutils::KeyRing {
    linux_keyutils::KeyRing::from_special_id(linux_keyutils::KeyRingIdentifier::User, true)
        .expect("this machine has a user keyring")
}

/// The payload of the key `name` in the user keyring, if it is there.
fn keyring_payload(name: &str) -> Option<Vec<u8>> {
    let key = user_keyring().search(name).ok()?;
    let mut buffer = vec![0u8; 256];
    let len = key.read(&mut buffer).ok()?;
    buffer.truncate(len);
    Some(buffer)
}

/// The live keys of the user keyring whose names start with `prefix`, with the
/// timeout column of /proc/keys ("11h", "perm"…).
fn keyring_entries(prefix: &str) -> Vec<(String, String)> {
    std::fs::read_to_string("/proc/keys")
        .unwrap()
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // Invalidated, revoked or dead keys linger until the kernel's
            // garbage collector runs; they are gone for every caller.
            if fields.get(1)?.contains(['i', 'R', 'D']) {
                return None;
            }
            let name = fields.get(8)?.trim_end_matches(':');
            name.starts_with(prefix)
                .then(|| (name.to_string(), fields[3].to_string()))
        })
        .collect()
}

/// "11h", "59m", "30s" → at most 12 hours; "perm" or days → not.
fn at_most_12_hours(timeout: &str) -> bool {
    let (value, unit) = timeout.split_at(timeout.len() - 1);
    match (value.parse::<u64>(), unit) {
        (Ok(h), "h") => h <= 12,
        (Ok(_), "m" | "s") => true,
        _ => false,
    }
}

const BOB_SERIAL: &str = "arn:aws:iam::111111111111:mfa/bob";
const BOB_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

/// A card with an OATH password and a second account (bob), so a second
/// cold call needs no fresh time step.
fn world_with_a_password(password: &str) -> World {
    let bob = support::card::Account::totp(
        "bob",
        &support::card::account::decode_base32(BOB_SECRET).unwrap(),
    )
    .issuer("AWS");
    let world = World::with(
        CardSetup {
            password: Some(password.into()),
            extra_accounts: vec![bob],
            ..CardSetup::default()
        },
        sts_config().mfa_device(BOB_SERIAL, BOB_SECRET),
    );
    world.write_config(&format!(
        "{}\n[profile src-bob]\nmfa_serial = {BOB_SERIAL}\nvegas_yubikey_label = AWS:bob\nregion = eu-west-1\n\
         \n[profile admin-bob]\nvegas_source_profile = src-bob\nvegas_role_arn = {ROLE_ARN}\nendpoint_url = {}\n",
        default_config(&world.sts.url()),
        world.sts.url()
    ));
    world.write_credentials(&format!(
        "[src]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = {SOURCE_SECRET}\n\
         [src-bob]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = {SOURCE_SECRET}\n"
    ));
    world
}

#[test]
fn the_oath_access_key_lives_in_the_keyring_for_at_most_12_hours_and_never_on_disk() {
    let world = world_with_a_password("open sesame");
    let tty = world.vegas_in_terminal(&["assume", "--profile", "admin"], &[]);
    tty.wait_for_screen("OATH password for YubiKey", Duration::from_secs(15));
    tty.type_line("open sesame");
    let outcome = tty.wait(Duration::from_secs(15));
    assert_eq!(outcome.code, 0, "{outcome:?}");

    let prefix = keyring_prefix(&world.cache_dir());
    let entries = keyring_entries(&format!("{prefix}oath-access-key:"));
    assert_eq!(
        entries.len(),
        1,
        "one access key in the keyring: {entries:?}"
    );
    let (name, timeout) = &entries[0];
    assert!(at_most_12_hours(timeout), "timeout {timeout}");
    let access_key = keyring_payload(name).expect("readable by its user");
    assert_eq!(access_key.len(), 16);
    for (path, bytes) in files_under(&world.cache_dir()) {
        assert!(
            !contains(&bytes, &access_key),
            "{} holds the access key",
            path.display()
        );
    }
    // Nor sealed: a sealed row never shows the plaintext, so count the rows.
    let db = rusqlite::Connection::open(world.cache_dir().join("vegas.db")).unwrap();
    let sealed: i64 = db
        .query_row(
            "SELECT count(*) FROM secrets WHERE kind = 'oath-access-key'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sealed, 0, "no access key row in vegas.db, sealed or not");
    drop(db);

    // Remembered: no terminal, no password, and it works.
    let out = run(&mut world.vegas(&["assume", "--profile", "admin-bob"]));
    assert!(out.status.success(), "{}", stderr(&out));

    let out = run(&mut world.vegas(&["cache", "clean"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(keyring_payload(name), None, "cache clean forgets it");
    assert!(keyring_entries(&format!("{prefix}oath-access-key:")).is_empty());
}

#[test]
fn with_the_keyring_secret_gone_cached_rows_are_misses_and_fresh_credentials_are_fetched() {
    let world = World::new();
    assume_ok(&world, &[]);
    assume_ok(&world, &[]);
    assert_eq!(world.sts.calls().len(), 1, "the second call is a hit");
    let secret = format!("{}cache-secret", keyring_prefix(&world.cache_dir()));
    assert_eq!(keyring_payload(&secret).map(|s| s.len()), Some(32));
    let entries = keyring_entries(&secret);
    assert!(entries.iter().all(|(_, t)| t != "perm"), "{entries:?}");

    user_keyring()
        .search(&secret)
        .unwrap()
        .invalidate()
        .unwrap();
    let code = next_step_code(&world);
    let err = assume_ok(&world, &["--token-code", &code]);
    assert_eq!(world.sts.calls().len(), 2, "a miss, not an error: {err}");
    assert!(!err.contains("vegas: "), "{err}");
    assume_ok(&world, &[]);
    assert_eq!(world.sts.calls().len(), 2, "and the new secret serves hits");
}

#[test]
fn without_a_keyring_the_cache_works_on_the_machine_facts_alone() {
    use support::seccomp::deny_keyctl;
    let world = World::new();
    for _ in 0..2 {
        let out = run(deny_keyctl(&mut world.vegas(&[
            "assume",
            "--profile",
            "admin",
        ])));
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(!stderr(&out).contains("vegas: "), "no error, no warning");
    }
    assert_eq!(world.sts.calls().len(), 1, "the second call is a hit");
    let prefix = keyring_prefix(&world.cache_dir());
    assert!(
        keyring_entries(&prefix).is_empty(),
        "nothing in the keyring"
    );
    // The same cache, now with a keyring: the rows sealed without a secret
    // are misses there (never an error), and it makes its secret.
    let code = next_step_code(&world);
    assume_ok(&world, &["--token-code", &code]);
    assert_eq!(world.sts.calls().len(), 2);
    assert_eq!(keyring_entries(&prefix).len(), 1, "the cache secret");

    // `vegas doctor` says which protection is in force, in such a process.
    let out = run(deny_keyctl(&mut world.vegas(&[
        "doctor",
        "--offline",
        "--json",
    ])));
    let keys = cache_keys_check(&out);
    assert_eq!(keys["level"], "warn", "{keys}");
    assert!(
        keys["detail"]
            .as_str()
            .unwrap()
            .contains("boot id, host name and uid only"),
        "{keys}"
    );
    let out = run(&mut world.vegas(&["doctor", "--offline", "--json"]));
    let keys = cache_keys_check(&out);
    assert_eq!(keys["level"], "ok", "with a keyring: {keys}");
}

/// The "cache keys" check of `vegas doctor --json` output.
fn cache_keys_check(out: &Output) -> serde_json::Value {
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    report
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "cache keys")
        .cloned()
        .expect("a 'cache keys' check")
}
