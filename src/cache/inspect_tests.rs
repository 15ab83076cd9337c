//! The read-only probe against real SQLite files: it reports each state a
//! cache can be in, and leaves every file as it found it.

use super::*;
use crate::cache::{Cache, CacheKey, EntryMeta, MfaSessionId, SecretKind};
use crate::credentials::Credentials;
use crate::oath::TimeStep;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use zeroize::Zeroizing;

const NOW: i64 = 1_800_000_000;
const HOUR: i64 = 3600;

fn identity() -> MachineIdentity {
    MachineIdentity::new("8c3b6a1e-boot", "host-1", 1000)
}

fn after_reboot() -> MachineIdentity {
    MachineIdentity::new("another-boot", "host-1", 1000)
}

/// Every file in `dir`: bytes, mode and modification time.
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, u32, i64, i64)> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                (
                    fs::read(e.path()).unwrap_or_default(),
                    meta.mode(),
                    meta.mtime(),
                    meta.mtime_nsec(),
                ),
            )
        })
        .collect()
}

/// Inspect `dir` with `identity` and check that nothing changed.
fn inspect_unchanged(dir: &Path, identity: MachineIdentity) -> Inspection {
    let before = snapshot(dir);
    let found = inspect_with_identity(dir, Ok(identity), NOW);
    assert_eq!(snapshot(dir), before, "the probe changed the cache");
    found
}

fn database(found: &Inspection) -> &Database {
    match &found.place {
        Place::Directory { database, .. } => database,
        other => panic!("no directory: {other:?}"),
    }
}

fn credentials(expires_at: i64) -> Credentials {
    Credentials {
        access_key_id: "ASIAEXAMPLEKEY123456".into(),
        secret_access_key: Zeroizing::new("secret".into()),
        session_token: Zeroizing::new("token".into()),
        expires_at,
    }
}

/// A cache with one live and one expired credential, an MFA session, and a
/// step record, written with [`identity`].
fn filled_cache() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o700)).unwrap();
    let (cache, _) = Cache::open_with_identity(tmp.path(), identity()).unwrap();
    let meta = |profile: &str| EntryMeta {
        profile: profile.into(),
        role_arn: "arn:aws:iam::222222222222:role/R".into(),
        mfa_serial: "arn:aws:iam::111111111111:mfa/alice".into(),
    };
    let live = CacheKey::new("live", &[]);
    let old = CacheKey::new("old", &[]);
    cache
        .put(&live, &meta("live"), &credentials(NOW + HOUR), NOW)
        .unwrap();
    let session = MfaSessionId::new("src", "arn:aws:iam::111111111111:mfa/alice", &[]);
    cache
        .put_mfa_session(&session, &credentials(NOW + HOUR), NOW)
        .unwrap();
    cache
        .record_used(
            "arn:aws:iam::111111111111:mfa/alice",
            TimeStep::at(150, 30),
            NOW,
        )
        .unwrap();
    // Last, and written "an hour ago", so that no later write purges it.
    cache
        .put(&old, &meta("old"), &credentials(NOW - 10), NOW - HOUR)
        .unwrap();
    tmp
}

#[test]
fn a_current_cache_is_counted_row_by_row_without_a_change() {
    let tmp = filled_cache();
    let found = inspect_unchanged(tmp.path(), identity());
    let Database::Current(contents) = database(&found) else {
        panic!("{found:?}");
    };
    assert_eq!(
        contents.credentials,
        RowCounts {
            live: 1,
            unreadable: 0,
            expired: 1
        }
    );
    assert_eq!(contents.secrets_of(SecretKind::MfaSession).live, 1);
    assert_eq!(
        contents.secrets_of(SecretKind::OathAccessKey),
        RowCounts::default(),
        "access keys live in the keyring, never in the file"
    );
    assert_eq!(contents.step_records, 1);
    assert!(!contents.wal_mode);
    let Place::Directory { mode, files, .. } = &found.place else {
        panic!()
    };
    assert_eq!(*mode, 0o700);
    assert!(files
        .iter()
        .any(|f| f.name == DB_FILE_NAME && f.mode == 0o600));
}

#[test]
fn rows_of_another_boot_are_unreadable_and_stay() {
    let tmp = filled_cache();
    let found = inspect_unchanged(tmp.path(), after_reboot());
    let Database::Current(contents) = database(&found) else {
        panic!("{found:?}");
    };
    assert_eq!(contents.credentials.live, 0);
    assert_eq!(contents.credentials.unreadable, 1);
    assert_eq!(contents.secrets_of(SecretKind::MfaSession).unreadable, 1);
}

#[test]
fn an_older_schema_is_reported_with_its_step_records_and_kept() {
    let tmp = filled_cache();
    let conn = Connection::open(tmp.path().join(DB_FILE_NAME)).unwrap();
    conn.execute_batch("PRAGMA user_version = 0").unwrap();
    drop(conn);
    let found = inspect_unchanged(tmp.path(), identity());
    assert_eq!(
        *database(&found),
        Database::OtherVersion {
            version: 0,
            rows: Some(4),
            step_records: Some(1)
        }
    );
}

#[test]
fn a_damaged_file_is_reported_and_not_moved() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join(DB_FILE_NAME), b"this is no database").unwrap();
    let found = inspect_unchanged(tmp.path(), identity());
    assert!(
        matches!(database(&found), Database::Damaged { .. }),
        "{found:?}"
    );
}

#[test]
fn a_truncated_database_is_damaged() {
    let tmp = filled_cache();
    let db = tmp.path().join(DB_FILE_NAME);
    let bytes = fs::read(&db).unwrap();
    let mut cut = bytes[..bytes.len() / 2].to_vec();
    cut.resize(bytes.len(), 0xee);
    fs::write(&db, cut).unwrap();
    let found = inspect_unchanged(tmp.path(), identity());
    assert!(
        matches!(database(&found), Database::Damaged { .. }),
        "{found:?}"
    );
}

#[test]
fn an_empty_file_and_a_missing_one_are_told_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let found = inspect_unchanged(tmp.path(), identity());
    assert_eq!(*database(&found), Database::Missing);
    fs::write(tmp.path().join(DB_FILE_NAME), b"").unwrap();
    let found = inspect_unchanged(tmp.path(), identity());
    assert_eq!(*database(&found), Database::Empty);
    let gone = tmp.path().join("nowhere");
    assert_eq!(
        inspect_with_identity(&gone, Ok(identity()), NOW).place,
        Place::Missing
    );
}

#[test]
fn another_programs_database_is_foreign() {
    let tmp = tempfile::tempdir().unwrap();
    let conn = Connection::open(tmp.path().join(DB_FILE_NAME)).unwrap();
    conn.execute_batch("CREATE TABLE t (x); PRAGMA application_id = 42")
        .unwrap();
    drop(conn);
    let found = inspect_unchanged(tmp.path(), identity());
    assert_eq!(*database(&found), Database::Foreign { application_id: 42 });
}

#[test]
fn a_wal_mode_cache_is_read_without_making_wal_or_shm_files() {
    let tmp = filled_cache();
    let conn = Connection::open(tmp.path().join(DB_FILE_NAME)).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(conn);
    assert!(!tmp.path().join("vegas.db-wal").exists());
    let found = inspect_unchanged(tmp.path(), identity());
    let Database::Current(contents) = database(&found) else {
        panic!("{found:?}");
    };
    assert!(contents.wal_mode);
    assert_eq!(contents.credentials.live, 1);
}

#[test]
fn loose_modes_are_reported_and_left_loose() {
    let tmp = filled_cache();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let db = tmp.path().join(DB_FILE_NAME);
    fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).unwrap();
    let found = inspect_unchanged(tmp.path(), identity());
    let Place::Directory { mode, files, .. } = &found.place else {
        panic!()
    };
    assert_eq!(*mode, 0o755);
    let file = files.iter().find(|f| f.name == DB_FILE_NAME).unwrap();
    assert_eq!(file.mode, 0o644);
    assert!(file.is_open_to_others());
}

#[test]
fn a_symlinked_database_is_not_followed() {
    let tmp = filled_cache();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("real.db");
    fs::rename(tmp.path().join(DB_FILE_NAME), &target).unwrap();
    std::os::unix::fs::symlink(&target, tmp.path().join(DB_FILE_NAME)).unwrap();
    let found = inspect_unchanged(tmp.path(), identity());
    assert!(
        matches!(database(&found), Database::Unreadable { .. }),
        "{found:?}"
    );
}
