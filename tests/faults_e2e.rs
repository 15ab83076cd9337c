//! The fault matrix: every way the parts around `vegas assume` can break
//! while it runs — the PC/SC daemon killed, the key pulled out mid-command,
//! a key answering nonsense, STS too slow or hanging up, the cache locked by
//! another process or on a full disk, a config that cannot be read — and
//! what vegas owes the user each time: exit 1, nothing on stdout, one error
//! line and one hint (or the documented fallback with a warning), no panic,
//! and the cached credentials of other profiles untouched.
//!
//! Faults tested elsewhere are listed in docs/reliability.md.

mod support;

use std::borrow::BorrowMut;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::card::{Account, CardFault, TouchResponse};
use support::sts::{Action, Fault};
use support::world::*;

const INS_LIST: u8 = 0xA1;
const INS_CALCULATE: u8 = 0xA2;
const INS_SEND_REMAINING: u8 = 0xA5;

fn run(mut cmd: impl BorrowMut<Command>) -> Output {
    cmd.borrow_mut().output().expect("command runs")
}

fn credentials(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "vegas failed ({:?}):\n{}",
        out.status,
        stderr(out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(v["Version"], 1, "{v}");
    v
}

fn assume(world: &World, profile: &str) -> Output {
    run(world.vegas(&["assume", "--profile", profile]))
}

/// A world with four profiles on two devices where `ops` (bob's device) is
/// already cached: the bystander every fault must leave alone.
fn world_with_cached_bystander(setup: CardSetup) -> (World, serde_json::Value) {
    let world = World::with_two_devices(setup, two_device_sts_config());
    let cached = credentials(&assume(&world, "ops"));
    (world, cached)
}

/// The bystander is still served from the cache: same credentials, no new
/// STS call.
fn assert_bystander_unharmed(world: &World, cached: &serde_json::Value) {
    let calls = world.sts.count(&Action::AssumeRole);
    let again = credentials(&assume(world, "ops"));
    assert_eq!(&again, cached, "the other profile's cached credentials");
    assert_eq!(
        world.sts.count(&Action::AssumeRole),
        calls,
        "served from the cache, not from STS"
    );
}

fn wait_with_limit(child: Child, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => (out.expect("wait for vegas"), started.elapsed()),
        Err(_) => {
            // SAFETY: a plain kill(2) of our own child.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("vegas still running after {limit:?}");
        }
    }
}

fn spawn(world: &World, args: &[&str]) -> Child {
    world
        .vegas(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vegas")
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------
// The key and its daemon
// ---------------------------------------------------------------------------

#[test]
fn pcscd_killed_while_a_touch_is_pending_is_one_clean_error() {
    let setup = CardSetup {
        touch: Some(TouchResponse::TouchedAfter(Duration::from_secs(20))),
        ..Default::default()
    };
    let (world, cached) = world_with_cached_bystander(setup);
    let child = spawn(&world, &["assume", "--profile", "admin"]);
    wait_until(
        "vegas asks the card for the code",
        Duration::from_secs(15),
        || world.card_handle().calculations(OATH_LABEL) > 0,
    );
    let pid = world.pcscd_pid().expect("the world's pcscd runs");
    // SAFETY: a plain kill(2) of the daemon this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);

    let (out, elapsed) = wait_with_limit(child, Duration::from_secs(30));
    let err = assert_clean_failure(&out);
    assert!(
        elapsed < Duration::from_secs(10),
        "no wait for the touch that can no longer come: {elapsed:?}\n{err}"
    );
    assert_eq!(
        world.sts.count(&Action::AssumeRole),
        1,
        "only the bystander's"
    );
    assert_bystander_unharmed(&world, &cached);
}

#[test]
fn card_pulled_out_during_calculate_is_one_clean_error() {
    let (mut world, cached) = world_with_cached_bystander(CardSetup::default());
    world
        .card_handle()
        .fail_next(INS_CALCULATE, CardFault::Vanish);
    let (out, elapsed) = wait_with_limit(
        spawn(&world, &["assume", "--profile", "admin"]),
        Duration::from_secs(30),
    );
    let err = assert_clean_failure(&out);
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}: {err}");
    assert!(
        err.to_lowercase().contains("removed") || err.contains("YubiKey"),
        "{err}"
    );
    assert_eq!(
        world.sts.count(&Action::AssumeRole),
        1,
        "only the bystander's"
    );
    drop(world.card.take());
    assert_bystander_unharmed(&world, &cached);
}

fn many_accounts() -> Vec<Account> {
    (0..40)
        .map(|i| {
            Account::totp(&format!("user{i:02}@example.com"), b"0123456789abcdef").issuer("Svc")
        })
        .collect()
}

#[test]
fn card_pulled_out_during_a_chained_list_is_one_clean_error() {
    let setup = CardSetup {
        extra_accounts: many_accounts(),
        ..Default::default()
    };
    let world = World::with(setup, sts_config());
    world
        .card_handle()
        .fail_next(INS_SEND_REMAINING, CardFault::Vanish);
    let (out, elapsed) = wait_with_limit(spawn(&world, &["oath", "list"]), Duration::from_secs(30));
    let err = assert_clean_failure(&out);
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}: {err}");
    assert!(
        world
            .card_handle()
            .instructions()
            .contains(&INS_SEND_REMAINING),
        "the LIST answer was chained"
    );
}

#[test]
fn garbage_and_truncated_card_answers_are_clean_errors_then_the_key_works_again() {
    let setup = CardSetup {
        extra_accounts: many_accounts(),
        ..Default::default()
    };
    let (world, cached) = world_with_cached_bystander(setup);
    let faults = [
        CardFault::Garbage,
        CardFault::Truncated,
        CardFault::NoStatusWord,
    ];
    for fault in faults {
        for (ins, args) in [
            (INS_CALCULATE, &["assume", "--profile", "admin"][..]),
            (INS_LIST, &["oath", "list"][..]),
            (INS_SEND_REMAINING, &["oath", "list"][..]),
        ] {
            world.card_handle().fail_next(ins, fault);
            let (out, _) = wait_with_limit(spawn(&world, args), Duration::from_secs(30));
            let err = assert_clean_failure(&out);
            assert!(!err.contains("panicked"), "{fault:?} on {ins:02X}: {err}");
        }
    }
    assert_eq!(
        world.sts.count(&Action::AssumeRole),
        1,
        "only the bystander's"
    );
    credentials(&assume(&world, "admin"));
    assert_bystander_unharmed(&world, &cached);
}

// ---------------------------------------------------------------------------
// STS
// ---------------------------------------------------------------------------

#[test]
fn sts_slower_than_every_attempt_fails_within_the_overall_timeout() {
    let (world, cached) = world_with_cached_bystander(CardSetup::default());
    world
        .sts
        .fail_all(Some(Fault::Slow(Duration::from_secs(12))));
    let started = Instant::now();
    let out = assume(&world, "admin");
    let elapsed = started.elapsed();
    let err = assert_clean_failure(&out);
    assert!(err.contains("did not answer"), "{err}");
    assert!(elapsed < Duration::from_secs(36), "{elapsed:?}");
    world.sts.fail_all(None);
    assert_bystander_unharmed(&world, &cached);
}

#[test]
fn one_slow_sts_answer_is_retried_and_succeeds() {
    let world = World::new();
    world.sts.push_fault(Fault::Slow(Duration::from_secs(11)));
    let started = Instant::now();
    credentials(&assume(&world, "admin"));
    let elapsed = started.elapsed();
    std::thread::sleep(Duration::from_secs(3)); // the slow answer is recorded when sent
    let calls = world.sts.calls();
    assert!(elapsed < Duration::from_secs(25), "{elapsed:?} {calls:#?}");
    assert!(calls.len() >= 2, "{elapsed:?} {calls:#?}");
}

#[test]
fn a_dropped_sts_connection_is_retried_and_succeeds() {
    let world = World::new();
    world.sts.push_fault(Fault::DropConnection);
    credentials(&assume(&world, "admin"));
    assert_eq!(world.sts.successes(&Action::AssumeRole), 1);
}

#[test]
fn sts_always_hanging_up_is_one_clean_error() {
    let (world, cached) = world_with_cached_bystander(CardSetup::default());
    world.sts.fail_all(Some(Fault::DropConnection));
    let err = assert_clean_failure(&assume(&world, "admin"));
    assert!(err.contains("STS"), "{err}");
    world.sts.fail_all(None);
    assert_bystander_unharmed(&world, &cached);
}

// ---------------------------------------------------------------------------
// The cache
// ---------------------------------------------------------------------------

fn db_path(world: &World) -> std::path::PathBuf {
    world.cache_dir().join("vegas.db")
}

/// Holds an EXCLUSIVE transaction on the cache database, as another program
/// (a backup, a stuck vegas, sqlite3 in a terminal) could, until dropped.
struct ForeignLock {
    release: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ForeignLock {
    fn hold(db: &std::path::Path) -> ForeignLock {
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let db = db.to_owned();
        let thread = std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&db).expect("open the cache database");
            conn.execute_batch("BEGIN EXCLUSIVE")
                .expect("exclusive lock");
            locked_tx.send(()).expect("tell the test");
            let _ = release_rx.recv();
            conn.execute_batch("ROLLBACK").expect("release");
        });
        locked_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the lock is taken");
        ForeignLock {
            release,
            thread: Some(thread),
        }
    }
}

impl Drop for ForeignLock {
    fn drop(&mut self) {
        let _ = self.release.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_cache_locked_by_another_process_for_long_still_gives_credentials() {
    let (world, cached) = world_with_cached_bystander(CardSetup::default());
    let lock = ForeignLock::hold(&db_path(&world));

    let started = Instant::now();
    let out = assume(&world, "admin");
    let elapsed = started.elapsed();
    let fresh = credentials(&out);
    let err = stderr(&out);
    assert!(
        !err.is_empty() && err.lines().all(|l| l.starts_with("vegas: warning: ")),
        "warnings only, saying the cache was not written: {err}"
    );
    assert!(
        elapsed < Duration::from_secs(20),
        "bounded wait for the lock: {elapsed:?}"
    );

    // While still locked, the bystander is served (from the cache if it can
    // be read, else from STS) and never fails.
    let bystander = credentials(&assume(&world, "ops"));
    drop(lock);
    assert_eq!(bystander["Version"], 1);

    // Once released, the cache works again and held no damage.
    let again = credentials(&assume(&world, "ops"));
    assert_eq!(again["Version"], 1);
    if world.sts.count(&Action::AssumeRole) == 2 {
        assert_eq!(again, cached, "the bystander's row is intact");
    }
    assert_ne!(fresh["AccessKeyId"], cached["AccessKeyId"]);
}

/// Runs `script` (sh) with the cache directory on a 512 KiB tmpfs of its own
/// in a private mount namespace; `$VEGAS` is the binary, `$CACHE` the
/// directory, `$OUT` a directory outside the mount for the results.
fn on_a_small_tmpfs(world: &World, script: &str) -> std::path::PathBuf {
    let out_dir = world.home.path().join("results");
    std::fs::create_dir_all(&out_dir).expect("results dir");
    std::fs::create_dir_all(world.cache_dir()).expect("cache dir");
    let status = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "set -u\nmount -t tmpfs -o size=512k,mode=0700 vegas-full \"$CACHE\" || exit 90\n{script}"
        ))
        .env_clear()
        .envs(world.env())
        .env("VEGAS", vegas_bin())
        .env("CACHE", world.cache_dir())
        .env("OUT", &out_dir)
        .stdin(Stdio::null())
        .status()
        .expect("unshare runs");
    assert!(status.success(), "the tmpfs script failed: {status:?}");
    out_dir
}

fn result(dir: &std::path::Path, name: &str) -> (i32, String, String) {
    let read =
        |ext: &str| std::fs::read_to_string(dir.join(format!("{name}.{ext}"))).unwrap_or_default();
    (
        read("rc").trim().parse().expect("exit status"),
        read("out"),
        read("err"),
    )
}

#[test]
fn a_full_filesystem_still_gives_credentials_with_a_warning_and_keeps_other_rows() {
    let world = World::with_two_devices(CardSetup::default(), two_device_sts_config());
    let script = r#"
        step() { name=$1; shift; "$VEGAS" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"; echo $? >"$OUT/$name.rc"; }
        step cached assume --profile ops
        dd if=/dev/zero of="$CACHE/filler" bs=4k 2>/dev/null
        df -k "$CACHE" >"$OUT/df.txt"
        step miss assume --profile admin
        step hit assume --profile ops
    "#;
    let out = on_a_small_tmpfs(&world, script);
    let df = std::fs::read_to_string(out.join("df.txt")).unwrap_or_default();

    let (rc, cached, err) = result(&out, "cached");
    assert_eq!(rc, 0, "{err}");
    let (rc, miss, err) = result(&out, "miss");
    assert_eq!(rc, 0, "a full disk does not stop credentials: {err}\n{df}");
    let miss: serde_json::Value = serde_json::from_str(&miss).expect("JSON");
    assert_eq!(miss["Version"], 1);
    assert!(
        err.contains("warning"),
        "says the cache was not written: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let (rc, hit, err) = result(&out, "hit");
    assert_eq!(rc, 0, "{err}");
    assert_eq!(
        hit, cached,
        "the other profile's row survived the full disk: {err}"
    );
}

/// Kills `vegas assume` with SIGKILL right after STS answered, while it
/// writes the new credentials, then looks at what it left in the cache dir.
#[test]
fn kill_9_during_a_cache_write_leaves_no_stray_file_and_no_plaintext() {
    use std::os::unix::fs::PermissionsExt;
    let world = World::with_two_devices(CardSetup::default(), two_device_sts_config());
    credentials(&assume(&world, "readonly")); // the database exists
    for profile in ["ops", "audit"] {
        let before = world.sts.successes(&Action::AssumeRole);
        let mut child = spawn(&world, &["assume", "--profile", profile]);
        // Wait for a fresh code if needed: up to one TOTP step.
        wait_until("STS answered", Duration::from_secs(45), || {
            world.sts.successes(&Action::AssumeRole) > before
        });
        child.kill().expect("SIGKILL");
        let _ = child.wait();
    }
    let issued: Vec<String> = world
        .sts
        .calls()
        .into_iter()
        .filter_map(|c| c.issued_access_key_id)
        .collect();
    assert_eq!(issued.len(), 3, "{issued:?}");

    let mut names = Vec::new();
    for entry in std::fs::read_dir(world.cache_dir()).expect("cache dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let mode = entry.metadata().expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{name} is private: {mode:o}");
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        for key in &issued {
            assert!(
                !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
                "{name} holds an access key id in plaintext"
            );
        }
        names.push(name);
    }
    // The database, the device locks, and at most a hot journal: SQLite's
    // record of the interrupted transaction, holding old pages of sealed
    // rows (checked above for plaintext), rolled back by the next opener.
    let expected = |n: &str| {
        n == "vegas.db"
            || n == "vegas.db-journal"
            || n.starts_with("lock-")
            || n == "vegas.db.rebuild-lock"
    };
    assert!(
        names.iter().all(|n| expected(n)),
        "only the database and lock files: {names:?}"
    );
    // And the cache still works for everyone.
    for profile in ["readonly", "ops", "audit"] {
        credentials(&assume(&world, profile));
    }
    assert!(
        !world.cache_dir().join("vegas.db-journal").exists(),
        "the interrupted transaction was rolled back"
    );
}

// ---------------------------------------------------------------------------
// The config
// ---------------------------------------------------------------------------

#[test]
fn a_config_that_is_a_directory_or_not_utf8_is_one_clean_error_naming_it() {
    let world = World::new();
    let config = world.config_path();
    let path = config.display().to_string();

    let mut bytes = default_config(&world.sts.url()).into_bytes();
    bytes.extend_from_slice(b"\n[profile caf\xE9]\nregion = eu-west-1\n");
    std::fs::write(&config, &bytes).expect("write config");
    let err = assert_clean_failure(&assume(&world, "admin"));
    assert!(err.contains(&path), "names the file: {err}");

    std::fs::remove_file(&config).expect("remove config");
    std::fs::create_dir(&config).expect("a directory in its place");
    let err = assert_clean_failure(&assume(&world, "admin"));
    assert!(err.contains(&path), "names the file: {err}");

    std::fs::remove_dir(&config).expect("remove dir");
    let err = assert_clean_failure(&run(world
        .vegas(&["assume", "--profile", "admin"])
        .env("AWS_CONFIG_FILE", world.home.path().join("nowhere/config"))));
    assert!(err.contains("nowhere/config"), "names the file: {err}");
    assert_eq!(world.sts.calls().len(), 0);
}

// ---------------------------------------------------------------------------
// Secrets on the failure paths
// ---------------------------------------------------------------------------

/// The success paths are checked at --verbose in assume_e2e and
/// consumers_e2e; here the failures: a broken card answer, then STS failing
/// after the code was sent. Neither message nor log shows a secret.
#[test]
fn failures_at_verbose_show_no_secret() {
    let world = World::new();
    let start = unix_now();
    world
        .card_handle()
        .fail_next(INS_CALCULATE, CardFault::Truncated);
    let card_failure = run(world.vegas(&["--verbose", "assume", "--profile", "admin"]));
    assert_eq!(
        card_failure.status.code(),
        Some(1),
        "{}",
        stderr(&card_failure)
    );

    world.sts.fail_all(Some(Fault::InternalFailure));
    let sts_failure = run(world.vegas(&["--verbose", "assume", "--profile", "admin"]));
    assert_eq!(
        sts_failure.status.code(),
        Some(1),
        "{}",
        stderr(&sts_failure)
    );
    assert!(
        world.sts.count(&Action::AssumeRole) > 0,
        "the code reached STS"
    );

    for out in [&card_failure, &sts_failure] {
        assert!(out.stdout.is_empty());
        let err = stderr(out);
        assert!(err.lines().count() > 2, "verbose logs: {err}");
        assert!(!err.contains(SOURCE_SECRET), "source secret key on stderr");
        for code in world.codes_since(start.saturating_sub(30)) {
            assert!(!err.contains(&code), "TOTP code {code} on stderr:\n{err}");
        }
    }
}
