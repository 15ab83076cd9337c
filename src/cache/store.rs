//! The cache database: opening it (creating, upgrading, or setting aside a
//! file that is not a vegas cache), and reading and writing sealed rows.
//!
//! The hit path is one open, one header read, one indexed SELECT, one HMAC
//! and one AES-CTR pass: no schema work, no purge, no fsync. Everything that
//! writes (purging expired rows included) happens on the miss path.

use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rusqlite::{
    params, Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior,
};
use zeroize::Zeroizing;

use super::crypto::{RowAddress, RowKeys, SealedRow};
use super::identity::{keyring_prefix, CacheSecret};
use super::schema::{self, Shape};
use super::secrets::{SecretInfo, SecretKind, SecretSubject};
use super::{files, lock, CacheKey, EntryInfo, EntryMeta, Error, MachineIdentity, Warning};
use super::{BUSY_TIMEOUT, DB_FILE_NAME};
use crate::credentials::Credentials;
use crate::oath::TimeStep;
use crate::platform::keyring::KeyringError;
use crate::platform::unix_now;

/// Held while a database that is not a cache is set aside, so that two
/// processes finding it at once do not set aside each other's new one.
const REBUILD_LOCK_NAME: &str = "vegas.db.rebuild-lock";

/// How far in the future a step record may lie before it is taken for a
/// clock that jumped (or a tampered row) and replaced: two STS periods.
pub const FUTURE_TOLERANCE: i64 = 60;

/// The encrypted credential cache in one directory.
pub struct Cache {
    conn: Connection,
    keys: RowKeys,
    path: PathBuf,
    access: Access,
    /// The keyring secret in the keys, if there is a keyring.
    secret: Option<CacheSecret>,
    keyring_prefix: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UseKeyring {
    Yes,
    No,
}

/// The cache secret of `dir` from the keyring, made under the rebuild lock
/// on first use; `None` (the machine's facts alone) where there is no
/// keyring or it fails: a changed secret only makes rows misses.
/// The keyring secret of the cache in `dir`. Only where there is no
/// keyring at all (refused, not in this kernel) does the cache go on without
/// one; a keyring that is there but fails (out of quota, out of memory) is
/// an error, so rows are never quietly sealed with weaker keys.
fn cache_secret(dir: &Path) -> Result<Option<CacheSecret>, Error> {
    let exclusive = || lock::lock_file(&dir.join(REBUILD_LOCK_NAME), BUSY_TIMEOUT, &mut || {}).ok();
    match CacheSecret::load_or_create(dir, exclusive) {
        Ok(secret) => Ok(Some(secret)),
        Err(KeyringError::Unavailable(why)) => {
            tracing::debug!("cache keys without a keyring secret: {why}");
            Ok(None)
        }
        Err(e) => Err(Error::Keyring(e)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    ReadWrite,
    /// The directory or file cannot be written: hits are served, writes
    /// fail with [`Error::ReadOnly`].
    ReadOnly,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("path", &self.path)
            .field("access", &self.access)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// Open (or create) the cache in `dir`, with keys for this machine, boot
    /// and user and the cache's secret in the keyring (made on first use;
    /// without a keyring, the machine's facts alone). The warnings are for
    /// the user, one line each.
    pub fn open(dir: &Path) -> Result<(Cache, Vec<Warning>), Error> {
        Cache::open_as(dir, MachineIdentity::current()?, UseKeyring::Yes)
    }

    /// Open (or create) the cache in `dir` with keys for `identity` alone:
    /// no keyring is read or written, and OATH access keys are not
    /// remembered. For tests.
    pub fn open_with_identity(
        dir: &Path,
        identity: MachineIdentity,
    ) -> Result<(Cache, Vec<Warning>), Error> {
        Cache::open_as(dir, identity, UseKeyring::No)
    }

    fn open_as(
        dir: &Path,
        identity: MachineIdentity,
        keyring: UseKeyring,
    ) -> Result<(Cache, Vec<Warning>), Error> {
        let mut warnings = Vec::new();
        files::prepare_dir(dir, &mut warnings)?;
        let dir = &files::resolve_parents(dir)?;
        let secret = match keyring {
            UseKeyring::Yes => cache_secret(dir)?,
            UseKeyring::No => None,
        };
        let keys = RowKeys::derive(&identity, secret.as_ref().map(CacheSecret::bytes))?;
        let path = dir.join(DB_FILE_NAME);
        let (conn, access) = open_database(dir, &path, &mut warnings)?;
        let keyring_prefix = secret.as_ref().map(|_| keyring_prefix(dir));
        Ok((
            Cache {
                conn,
                keys,
                path,
                access,
                secret,
                keyring_prefix,
            },
            warnings,
        ))
    }

    /// What this cache's entries in the keyring are named after, if it has
    /// a keyring (the OATH access keys, secrets.rs).
    pub(super) fn keyring_prefix(&self) -> Option<&str> {
        self.keyring_prefix.as_deref()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether writes will fail with [`Error::ReadOnly`].
    pub fn is_read_only(&self) -> bool {
        self.access == Access::ReadOnly
    }

    /// The credentials cached under `key`, if they have not expired at `now`
    /// (unix seconds). A row that fails its MAC or does not decrypt to
    /// credentials is a miss, and is deleted. The caller applies any refresh
    /// window (e.g. botocore's 10 minutes) with [`Credentials::remaining`].
    pub fn get(&self, key: &CacheKey, now: i64) -> Result<Option<Credentials>, Error> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT expires_at, iv, ciphertext, mac FROM credentials WHERE cache_key = ?1",
            )
            .and_then(|mut stmt| stmt.query_row([key.as_str()], read_sealed).optional())
            .map_err(|e| self.sqlite_error("read cached credentials", e))?;
        let Some((expires_at, sealed)) = row else {
            return Ok(None);
        };
        if expires_at <= now {
            return Ok(None);
        }
        let address = RowAddress::Credentials {
            cache_key: key.as_str(),
        };
        let credentials = self
            .keys
            .open(address, expires_at, &sealed)
            .and_then(|plaintext| serde_json::from_slice::<Credentials>(&plaintext).ok())
            .filter(|credentials| credentials.expires_at == expires_at);
        if credentials.is_none() {
            self.discard(|conn| {
                conn.execute(
                    "DELETE FROM credentials WHERE cache_key = ?1 AND mac = ?2",
                    params![key.as_str(), sealed.mac],
                )
            });
        }
        Ok(credentials)
    }

    /// Seal and store `credentials` under `key` (replacing any row there),
    /// purging every expired row on the way.
    pub fn put(
        &self,
        key: &CacheKey,
        meta: &EntryMeta,
        credentials: &Credentials,
        now: i64,
    ) -> Result<(), Error> {
        self.writable()?;
        let plaintext = to_json(credentials)?;
        let address = RowAddress::Credentials {
            cache_key: key.as_str(),
        };
        let sealed = self
            .keys
            .seal(address, credentials.expires_at, &plaintext)?;
        self.keep_secret_alive();
        self.write("store credentials", |tx| {
            purge_expired(tx, now)?;
            tx.execute(
                "INSERT OR REPLACE INTO credentials
                     (cache_key, profile, role_arn, mfa_serial, created_at, expires_at, iv, ciphertext, mac)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    key.as_str(),
                    meta.profile,
                    meta.role_arn,
                    meta.mfa_serial,
                    now,
                    credentials.expires_at,
                    sealed.iv,
                    sealed.ciphertext,
                    sealed.mac
                ],
            )?;
            Ok(())
        })
    }

    /// What is cached and still valid at `now`, without decrypting anything
    /// and without anything secret. Rows this machine cannot read (written
    /// before a reboot, by another user…) are left out: they can never be
    /// served.
    pub fn list(&self, now: i64) -> Result<Vec<EntryInfo>, Error> {
        let read = || -> rusqlite::Result<Vec<EntryInfo>> {
            let mut stmt = self.conn.prepare(
                "SELECT cache_key, profile, role_arn, mfa_serial, created_at, expires_at, iv, ciphertext, mac
                 FROM credentials WHERE expires_at > ?1 ORDER BY profile, expires_at",
            )?;
            let rows = stmt.query_map([now], |row| {
                let cache_key: String = row.get(0)?;
                let info = EntryInfo {
                    profile: row.get(1)?,
                    role_arn: row.get(2)?,
                    mfa_serial: row.get(3)?,
                    created_at: row.get(4)?,
                    expires_at: row.get(5)?,
                };
                let sealed = SealedRow {
                    iv: row.get(6)?,
                    ciphertext: row.get(7)?,
                    mac: row.get(8)?,
                };
                Ok((cache_key, info, sealed))
            })?;
            let mut entries = Vec::new();
            for row in rows {
                let (cache_key, info, sealed) = row?;
                let address = RowAddress::Credentials {
                    cache_key: &cache_key,
                };
                if self.keys.authentic(address, info.expires_at, &sealed) {
                    entries.push(info);
                }
            }
            Ok(entries)
        };
        read().map_err(|e| self.sqlite_error("list cached credentials", e))
    }

    /// The secrets of `kind` still valid at `now` that this machine can read:
    /// their subjects and times, never their contents (for `vegas cache list`).
    pub(super) fn list_secrets(
        &self,
        kind: SecretKind,
        now: i64,
    ) -> Result<Vec<SecretInfo>, Error> {
        let kind = kind.as_str();
        let read = || -> rusqlite::Result<Vec<SecretInfo>> {
            let mut stmt = self.conn.prepare(
                "SELECT id, profile, mfa_serial, created_at, expires_at, iv, ciphertext, mac
                 FROM secrets WHERE kind = ?1 AND expires_at > ?2 ORDER BY profile, mfa_serial, expires_at",
            )?;
            let rows = stmt.query_map(params![kind, now], |row| {
                let id: String = row.get(0)?;
                let info = SecretInfo {
                    subject: SecretSubject {
                        profile: row.get(1)?,
                        mfa_serial: row.get(2)?,
                    },
                    created_at: row.get(3)?,
                    expires_at: row.get(4)?,
                };
                let sealed = SealedRow {
                    iv: row.get(5)?,
                    ciphertext: row.get(6)?,
                    mac: row.get(7)?,
                };
                Ok((id, info, sealed))
            })?;
            let mut entries = Vec::new();
            for row in rows {
                let (id, info, sealed) = row?;
                let address = RowAddress::Secret { kind, id: &id };
                if self.keys.authentic(address, info.expires_at, &sealed) {
                    entries.push(info);
                }
            }
            Ok(entries)
        };
        read().map_err(|e| self.sqlite_error("list cached secrets", e))
    }

    /// `vegas cache clean`: drop the cached credentials of `profile`, or
    /// everything cached (credentials and other secrets) when `None`. The
    /// last TOTP step per device is kept: forgetting it could make the next
    /// call reuse a code STS already saw. Returns how many rows went.
    pub fn remove(&self, profile: Option<&str>) -> Result<usize, Error> {
        self.writable()?;
        let rows = self.write("remove cached credentials", |tx| match profile {
            Some(profile) => tx.execute("DELETE FROM credentials WHERE profile = ?1", [profile]),
            None => Ok(tx.execute("DELETE FROM credentials", [])?
                + tx.execute("DELETE FROM secrets", [])?),
        })?;
        let keys = match profile {
            Some(_) => 0,
            None => {
                // secure_delete overwrote what these deletes freed; VACUUM
                // also rewrites pages freed before it was on.
                self.conn
                    .execute_batch("VACUUM")
                    .map_err(|e| self.sqlite_error("compact the database", e))?;
                self.forget_access_keys()?
            }
        };
        Ok(rows + keys)
    }

    /// The copies of earlier databases that were set aside (damaged, not a
    /// cache, not ours to trust): removed by `vegas cache clean`, since
    /// they may still hold sealed rows. Returns how many files went.
    pub fn remove_set_aside_copies(&self) -> Result<usize, Error> {
        match self.path.parent() {
            Some(dir) => remove_set_aside_copies(dir),
            None => Ok(0),
        }
    }

    /// Store a secret of `kind` under `id` until `expires_at`, with its
    /// subject in clear beside it, purging expired rows. The typed faces are
    /// in secrets.rs.
    pub(super) fn put_secret(
        &self,
        kind: SecretKind,
        id: &str,
        subject: &SecretSubject,
        secret: &[u8],
        (expires_at, now): (i64, i64),
    ) -> Result<(), Error> {
        self.writable()?;
        let kind = kind.as_str();
        let sealed = self
            .keys
            .seal(RowAddress::Secret { kind, id }, expires_at, secret)?;
        self.keep_secret_alive();
        self.write("store a secret", |tx| {
            purge_expired(tx, now)?;
            tx.execute(
                "INSERT OR REPLACE INTO secrets
                     (kind, id, profile, mfa_serial, created_at, expires_at, iv, ciphertext, mac)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    kind,
                    id,
                    subject.profile,
                    subject.mfa_serial,
                    now,
                    expires_at,
                    sealed.iv,
                    sealed.ciphertext,
                    sealed.mac
                ],
            )?;
            Ok(())
        })
    }

    /// The secret of `kind` stored under `id`, if still valid at `now`; like
    /// [`Cache::get`], an unreadable row is a miss and is deleted.
    pub(super) fn get_secret(
        &self,
        kind: SecretKind,
        id: &str,
        now: i64,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        let kind = kind.as_str();
        let row = self
            .conn
            .prepare_cached(
                "SELECT expires_at, iv, ciphertext, mac FROM secrets WHERE kind = ?1 AND id = ?2",
            )
            .and_then(|mut stmt| stmt.query_row([kind, id], read_sealed).optional())
            .map_err(|e| self.sqlite_error("read a cached secret", e))?;
        let Some((expires_at, sealed)) = row else {
            return Ok(None);
        };
        if expires_at <= now {
            return Ok(None);
        }
        let secret = self
            .keys
            .open(RowAddress::Secret { kind, id }, expires_at, &sealed);
        if secret.is_none() {
            self.discard(|conn| {
                conn.execute(
                    "DELETE FROM secrets WHERE kind = ?1 AND id = ?2 AND mac = ?3",
                    params![kind, id, sealed.mac],
                )
            });
        }
        Ok(secret)
    }

    /// Until when (unix seconds) the codes of `mfa_serial` are used up: the
    /// end of the last time step whose code STS has seen.
    pub fn used_until(&self, mfa_serial: &str) -> Result<Option<i64>, Error> {
        self.conn
            .query_row(
                "SELECT used_until FROM mfa_devices WHERE mfa_serial = ?1",
                [mfa_serial],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.sqlite_error("read the last TOTP step", e))
    }

    /// Remember that the code of `step` was sent to STS for `mfa_serial`:
    /// its codes are used up until the step ends. The record never moves
    /// backwards, except when it lies further in the future than
    /// [`FUTURE_TOLERANCE`] (the clock jumped back, or the row was tampered
    /// with): then the new one replaces it.
    pub fn record_used(&self, mfa_serial: &str, step: TimeStep, now: i64) -> Result<(), Error> {
        self.writable()?;
        let end = step.end();
        let used_until = i64::try_from(end).map_err(|_| Error::StepOutOfRange { step: end })?;
        self.write("record the TOTP step", |tx| {
            tx.execute(
                "INSERT INTO mfa_devices (mfa_serial, used_until, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (mfa_serial) DO UPDATE
                 SET used_until = CASE
                         WHEN used_until > ?3 + ?4 THEN excluded.used_until
                         ELSE max(used_until, excluded.used_until)
                     END,
                     updated_at = excluded.updated_at",
                params![mfa_serial, used_until, now, FUTURE_TOLERANCE],
            )
        })
        .map(|_| ())
    }

    /// A row sealed now must not outlive the secret it was sealed with.
    fn keep_secret_alive(&self) {
        if let Some(secret) = &self.secret {
            secret.keep_alive();
        }
    }

    fn writable(&self) -> Result<(), Error> {
        match self.access {
            Access::ReadWrite => Ok(()),
            Access::ReadOnly => Err(Error::ReadOnly {
                path: self.path.clone(),
            }),
        }
    }

    /// Run `work` in a transaction that takes the write lock up front (so a
    /// busy database waits in the busy handler instead of failing later).
    fn write<T>(
        &self,
        action: &'static str,
        work: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        let run = || {
            let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
            let value = work(&tx)?;
            tx.commit()?;
            Ok(value)
        };
        run().map_err(|e| self.sqlite_error(action, e))
    }

    /// Delete a row that failed to open, but only if it is still the row we
    /// read (a concurrent writer may have just replaced it). Best effort: the
    /// caller already treats the row as a miss.
    fn discard(&self, delete: impl FnOnce(&Connection) -> rusqlite::Result<usize>) {
        if self.access == Access::ReadOnly {
            return;
        }
        if let Err(e) = delete(&self.conn) {
            tracing::debug!("could not delete an unreadable cache row: {e}");
        }
    }

    fn sqlite_error(&self, action: &'static str, source: rusqlite::Error) -> Error {
        sqlite_error(&self.path, action, source)
    }
}

/// The copies of earlier databases set aside in `dir` (damaged, not a
/// cache, not ours to trust), removed without opening the cache: `vegas
/// cache clean` does this also when there is no `vegas.db` left.
pub fn remove_set_aside_copies(dir: &Path) -> Result<usize, Error> {
    let copies = files::set_aside_copies(dir, DB_FILE_NAME);
    for copy in &copies {
        std::fs::remove_file(copy).map_err(|e| files::io_error("remove", copy, e))?;
    }
    Ok(copies.len())
}
pub(super) fn read_sealed(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, SealedRow)> {
    Ok((
        row.get(0)?,
        SealedRow {
            iv: row.get(1)?,
            ciphertext: row.get(2)?,
            mac: row.get(3)?,
        },
    ))
}

/// Expired rows go; so do OATH access keys, which older versions kept in
/// the file and which now live in the keyring only.
fn purge_expired(tx: &Transaction<'_>, now: i64) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM credentials WHERE expires_at <= ?1", [now])?;
    tx.execute(
        "DELETE FROM secrets WHERE expires_at <= ?1 OR kind = ?2",
        params![now, SecretKind::OathAccessKey.as_str()],
    )?;
    Ok(())
}

/// The credentials as JSON in a buffer sized up front, so that no copy of
/// the secrets is left behind by a reallocation.
fn to_json(credentials: &Credentials) -> Result<Zeroizing<Vec<u8>>, Error> {
    let size = 256
        + 2 * (credentials.access_key_id.len()
            + credentials.secret_access_key.len()
            + credentials.session_token.len());
    let mut json = Zeroizing::new(Vec::with_capacity(size));
    serde_json::to_writer(&mut *json, credentials).map_err(Error::Encode)?;
    Ok(json)
}

fn sqlite_error(path: &Path, action: &'static str, source: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode;
    match source.sqlite_error_code() {
        Some(ErrorCode::ReadOnly) => Error::ReadOnly {
            path: path.to_path_buf(),
        },
        Some(ErrorCode::PermissionDenied) => Error::PermissionDenied {
            path: path.to_path_buf(),
        },
        _ => Error::Sqlite {
            action,
            path: path.to_path_buf(),
            source,
        },
    }
}

/// Why a read-write open did not give a usable cache.
enum Failure {
    /// Not a vegas cache, or damaged: set it aside.
    NotACache(String),
    /// The file or its directory cannot be written: try read-only.
    CannotWrite(rusqlite::Error),
    Other(&'static str, rusqlite::Error),
}

impl Failure {
    fn classify(action: &'static str, e: rusqlite::Error) -> Failure {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => Failure::NotACache("not a database".into()),
            Some(ErrorCode::DatabaseCorrupt) => Failure::NotACache("damaged database".into()),
            Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen) => Failure::CannotWrite(e),
            _ => Failure::Other(action, e),
        }
    }

    fn into_error(self, path: &Path) -> Error {
        match self {
            Failure::NotACache(reason) => Error::NotACache {
                path: path.to_path_buf(),
                reason,
            },
            Failure::CannotWrite(e) => sqlite_error(path, "open", e),
            Failure::Other(action, e) => sqlite_error(path, action, e),
        }
    }
}

fn open_database(
    dir: &Path,
    db: &Path,
    warnings: &mut Vec<Warning>,
) -> Result<(Connection, Access), Error> {
    if let Err(untrusted) = files::prepare_db_files(db, warnings)? {
        set_aside(dir, db, files::UNTRUSTED, untrusted, warnings)?;
    }
    let exists = std::fs::symlink_metadata(db).is_ok();
    match open_writable(db, Lock::Take) {
        Ok(conn) => Ok((conn, Access::ReadWrite)),
        Err(Failure::NotACache(reason)) => rebuild(dir, db, reason, warnings),
        Err(Failure::CannotWrite(_)) if exists => Ok((open_read_only(db)?, Access::ReadOnly)),
        Err(Failure::CannotWrite(_)) => Err(Error::ReadOnly {
            path: dir.to_path_buf(),
        }),
        Err(failure) => Err(failure.into_error(db)),
    }
}

/// Set aside a database one of whose files is not ours to trust (a link,
/// not a regular file, another user's), before SQLite opens anything: its
/// rows are never served and nothing is written through it. When it cannot
/// be moved (a directory we cannot write), there is no cache.
fn set_aside(
    dir: &Path,
    db: &Path,
    label: &str,
    untrusted: files::Untrusted,
    warnings: &mut Vec<Warning>,
) -> Result<(), Error> {
    let refused = |u: files::Untrusted| Error::Untrusted {
        path: u.path,
        why: u.why,
    };
    let _moving = lock::lock_file(&dir.join(REBUILD_LOCK_NAME), BUSY_TIMEOUT, &mut || {})?;
    let name = untrusted
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let reason = format!("{name} is {}", untrusted.why);
    let aside = files::move_aside(db, label, unix_now()).map_err(|_| refused(untrusted))?;
    warnings.push(Warning::MovedAside { to: aside, reason });
    files::prepare_db_files(db, warnings)?.map_err(refused)
}

/// Set aside a database that is not a cache and start a new one, under a
/// lock so that racing processes do this once.
fn rebuild(
    dir: &Path,
    db: &Path,
    reason: String,
    warnings: &mut Vec<Warning>,
) -> Result<(Connection, Access), Error> {
    let _rebuilding = lock::lock_file(&dir.join(REBUILD_LOCK_NAME), BUSY_TIMEOUT, &mut || {})?;
    let reason = match open_writable(db, Lock::Held) {
        Ok(conn) => return Ok((conn, Access::ReadWrite)), // another process rebuilt it
        Err(Failure::NotACache(reason_now)) => reason_now,
        Err(Failure::CannotWrite(_)) => reason,
        Err(failure) => return Err(failure.into_error(db)),
    };
    let aside = files::move_aside(db, files::CORRUPT, unix_now())?;
    warnings.push(Warning::MovedAside { to: aside, reason });
    files::prepare_db_files(db, warnings)?.map_err(|u| Error::Untrusted {
        path: u.path,
        why: u.why,
    })?;
    open_writable(db, Lock::Held)
        .map(|conn| (conn, Access::ReadWrite))
        .map_err(|f| f.into_error(db))
}

/// `Lock::Held`: the caller holds the rebuild lock already (a second flock
/// on it from this process would wait for ourselves).
fn open_writable(db: &Path, rebuild_lock: Lock) -> Result<Connection, Failure> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let conn = Connection::open_with_flags(db, flags).map_err(|e| Failure::classify("open", e))?;
    configure(&conn).map_err(|e| Failure::classify("configure", e))?;
    // Asked for read-write on a file it may not write (a read-only mount),
    // SQLite quietly opens it read-only; say so, so that writes are refused
    // up front as `Error::ReadOnly` rather than failing one by one.
    if conn
        .is_readonly(rusqlite::MAIN_DB)
        .map_err(|e| Failure::classify("open", e))?
    {
        return Err(Failure::CannotWrite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
            Some("the database opened read-only".into()),
        )));
    }
    match schema::inspect(&conn).map_err(|e| Failure::classify("read the schema", e))? {
        Shape::Current => Ok(conn),
        Shape::Empty | Shape::OtherVersion(_) => {
            // One builder at a time: racing first openers of a new file
            // otherwise trip over each other's journal mode change.
            let lock = db.with_file_name(REBUILD_LOCK_NAME);
            let _building = match rebuild_lock {
                Lock::Held => None,
                Lock::Take => Some(
                    lock::lock_file(&lock, BUSY_TIMEOUT, &mut || {})
                        .map_err(|e| Failure::Other("create the tables", lock_failure(e)))?,
                ),
            };
            schema::build(&conn).map_err(|e| Failure::classify("create the tables", e))?;
            Ok(conn)
        }
        Shape::Foreign { application_id, tables } => Err(Failure::NotACache(format!(
            "another program's SQLite database: application id {application_id}, {tables} schema entries"
        ))),
    }
}

/// Whether [`open_writable`] must take the rebuild lock to build tables.
#[derive(Clone, Copy)]
enum Lock {
    Take,
    Held,
}

/// A lock error as the SQLite error [`Failure`] carries (the message kept).
fn lock_failure(e: Error) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
        Some(e.to_string()),
    )
}

/// For a directory we cannot write. A cache made in WAL mode (before vegas
/// used a rollback journal) needs `-shm`/`-wal` beside the database even to
/// read; when SQLite cannot make them, the file
/// is opened `immutable` (read as it is on disk, without locking), which is
/// right for a directory nobody can write.
fn open_read_only(db: &Path) -> Result<Connection, Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let shared = Connection::open_with_flags(db, flags)
        .and_then(|conn| configure(&conn).map(|()| conn))
        .and_then(|conn| schema::inspect(&conn).map(|shape| (conn, shape)));
    let (conn, shape) = match shared {
        Ok(opened) => opened,
        Err(_) => {
            let uri = immutable_uri(db);
            let conn = Connection::open_with_flags(&uri, flags | OpenFlags::SQLITE_OPEN_URI)
                .map_err(|e| sqlite_error(db, "open read-only", e))?;
            let shape =
                schema::inspect(&conn).map_err(|e| sqlite_error(db, "read the schema", e))?;
            (conn, shape)
        }
    };
    match shape {
        Shape::Current => Ok(conn),
        _ => Err(Error::ReadOnly {
            path: db.to_path_buf(),
        }),
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // A deleted row is overwritten, not just unlinked from its page: after
    // `vegas cache clean` (or a purge, or a replaced row) no ciphertext is
    // left in the file for a later reader or a backup to find.
    conn.pragma_update(None, "secure_delete", "ON")?;
    // With a rollback journal only FULL keeps the database whole through a
    // power cut; writes are rare (a cache miss), so the fsyncs cost nothing
    // that matters, and a hit never writes.
    conn.pragma_update(None, "synchronous", "FULL")
}

/// `file:<percent-encoded path>?immutable=1`.
pub(super) fn immutable_uri(db: &Path) -> String {
    use std::fmt::Write;
    let mut uri = String::from("file:");
    for &byte in db.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            let _ = write!(uri, "%{byte:02X}");
        }
    }
    uri.push_str("?immutable=1");
    uri
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
