//! A read-only look at the cache, for `vegas doctor`: what is on disk, and
//! what the next `vegas assume` would make of it, without making anything of
//! it now.
//!
//! [`Cache::open`](super::Cache::open) repairs as it opens: it tightens
//! modes, upgrades or rebuilds an older schema, sets a damaged file aside,
//! and deletes rows that no longer open. A checker must
//! not. Here the database is opened `SQLITE_OPEN_READ_ONLY` (and
//! `SQLITE_OPEN_NOFOLLOW`), nothing is chmod-ed, built, moved or deleted, and
//! a row that does not open is counted, not dropped: the files, their modes
//! and their bytes are the same afterwards.
//!
//! One exception to the plain read-only open: a cache written by an older
//! vegas in WAL mode. SQLite creates `-wal` and `-shm` beside such a
//! database even for a read-only connection, so it is opened `immutable=1`
//! instead (no locks, no companion files). That reads the file as of its
//! last checkpoint, which is all a report needs.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::crypto::{RowAddress, RowKeys, SealedRow};
use super::identity::CacheSecret;
use super::schema::{self, Shape};
use super::secrets::SecretKind;
use super::store::read_sealed;
use super::{Error, MachineIdentity, DB_FILE_NAME};

/// The first 16 bytes of every SQLite database.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// The database header's length, and where it says "WAL" (read and write
/// format versions, both 2 in WAL mode).
const HEADER_LEN: usize = 100;
const WAL_FORMAT_OFFSETS: [usize; 2] = [18, 19];
/// The schema version this vegas writes ([`Database::OtherVersion`] is any
/// other).
pub const CURRENT_SCHEMA: i32 = schema::SCHEMA_VERSION;
/// Mode bits that let anyone but the owner in.
const OTHERS: u32 = 0o077;

/// What [`inspect`] found in the cache directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub dir: PathBuf,
    /// The user the cache must belong to (this process's effective uid).
    pub uid: u32,
    pub place: Place,
}

/// The cache directory itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Not there yet: the first `vegas assume` makes it `0700`.
    Missing,
    /// Something that is not a directory is in its place.
    NotADirectory,
    /// It cannot be looked at (a parent is closed to us…).
    Unreadable { reason: String },
    Directory {
        /// Mode bits (`0o7777`) and owner of the directory.
        mode: u32,
        owner: u32,
        /// Every entry in it, by name.
        files: Vec<FileState>,
        database: Database,
    },
}

/// One entry of the cache directory, as `lstat` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub name: String,
    pub kind: FileKind,
    /// Mode bits (`0o7777`).
    pub mode: u32,
    pub owner: u32,
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Directory,
    Symlink,
    Other,
}

impl FileState {
    /// Group or others may read or write it.
    pub fn is_open_to_others(&self) -> bool {
        self.kind != FileKind::Symlink && self.mode & OTHERS != 0
    }
}

/// `vegas.db`, and what the next `vegas assume` would do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// No file: nothing cached yet.
    Missing,
    /// An empty file: the tables are made at the next write.
    Empty,
    /// A vegas cache of this version.
    Current(Contents),
    /// A vegas cache of another schema version: the next `vegas assume`
    /// upgrades it in place (see [`super::UPGRADED_IN_PLACE`]) or, for any
    /// other version, rebuilds it and drops its rows (step records too).
    OtherVersion {
        version: i32,
        /// Rows of its tables, when they could be counted.
        rows: Option<u64>,
        /// TOTP step records (`mfa_devices`), when that table is there.
        step_records: Option<u64>,
    },
    /// Another program's SQLite database: set aside at the next open.
    Foreign { application_id: i32 },
    /// Not a database, or a damaged one: set aside at the next open.
    Damaged { reason: String },
    /// It could not be read (permissions, a symbolic link, a lock…).
    Unreadable { reason: String },
}

/// The rows of a current cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    /// Whether the file is in WAL mode (written by an older vegas).
    pub wal_mode: bool,
    pub credentials: RowCounts,
    /// Secret rows, per kind (`oath-access-key`, MFA sessions…), by kind.
    pub secrets: Vec<(String, RowCounts)>,
    /// Devices with a remembered last TOTP step.
    pub step_records: u64,
    /// Why rows could not be tried against this machine's keys, if so (then
    /// every live row counts as `unreadable`).
    pub no_keys: Option<String>,
}

impl Contents {
    /// The counts of the secrets of `kind` (zero when there are none).
    pub fn secrets_of(&self, kind: SecretKind) -> RowCounts {
        self.secrets
            .iter()
            .find(|(k, _)| k == kind.as_str())
            .map(|(_, counts)| *counts)
            .unwrap_or_default()
    }
}

/// Rows of one table (or one secret kind).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowCounts {
    /// Not expired, and their MAC checks with this machine's keys.
    pub live: u64,
    /// Not expired, but sealed with other keys (another boot, host or user)
    /// or altered: a miss, replaced at the next write.
    pub unreadable: u64,
    /// Expired: purged at the next write.
    pub expired: u64,
}

/// Look at the cache in `dir` at `now` (unix seconds), with this machine's
/// keys. Changes nothing.
pub fn inspect(dir: &Path, now: i64) -> Inspection {
    let secret = secret_of(dir);
    let keys = MachineIdentity::current()
        .and_then(|identity| RowKeys::derive(&identity, secret.as_ref().map(CacheSecret::bytes)));
    look(dir, keys, now)
}

/// [`inspect`] with the keys of `identity` alone, no keyring secret (an
/// error: rows are not tried).
pub fn inspect_with_identity(
    dir: &Path,
    identity: Result<MachineIdentity, Error>,
    now: i64,
) -> Inspection {
    look(
        dir,
        identity.and_then(|identity| RowKeys::derive(&identity, None)),
        now,
    )
}

fn look(dir: &Path, keys: Result<RowKeys, Error>, now: i64) -> Inspection {
    Inspection {
        dir: dir.to_path_buf(),
        uid: super::files::effective_uid(),
        place: look_at_dir(dir, keys, now),
    }
}

fn look_at_dir(dir: &Path, keys: Result<RowKeys, Error>, now: i64) -> Place {
    let meta = match fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Place::Missing,
        Err(e) => {
            return Place::Unreadable {
                reason: e.to_string(),
            }
        }
    };
    if !meta.is_dir() {
        return Place::NotADirectory;
    }
    let files = match list_files(dir) {
        Ok(files) => files,
        Err(e) => {
            return Place::Unreadable {
                reason: e.to_string(),
            }
        }
    };
    let database = if files.iter().any(|f| f.name == DB_FILE_NAME) {
        look_at_database(&dir.join(DB_FILE_NAME), keys, now)
    } else {
        Database::Missing
    };
    Place::Directory {
        mode: meta.mode() & 0o7777,
        owner: meta.uid(),
        files,
        database,
    }
}

fn list_files(dir: &Path) -> io::Result<Vec<FileState>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?; // lstat: a symbolic link is not followed
        let kind = if meta.file_type().is_symlink() {
            FileKind::Symlink
        } else if meta.is_dir() {
            FileKind::Directory
        } else if meta.is_file() {
            FileKind::File
        } else {
            FileKind::Other
        };
        files.push(FileState {
            name: entry.file_name().to_string_lossy().into_owned(),
            kind,
            mode: meta.mode() & 0o7777,
            owner: meta.uid(),
            size: meta.len(),
        });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

fn look_at_database(db: &Path, keys: Result<RowKeys, Error>, now: i64) -> Database {
    let (conn, wal) = match open_read_only(db) {
        Ok(Opened::Database { conn, wal }) => (conn, wal),
        Ok(Opened::EmptyFile) => return Database::Empty,
        Ok(Opened::NotADatabase(reason)) => return Database::Damaged { reason },
        Err(e) => {
            return Database::Unreadable {
                reason: e.to_string(),
            }
        }
    };
    match read_database(&conn, wal, keys, now) {
        Ok(database) => database,
        Err(e) if is_damage(&e) => Database::Damaged {
            reason: e.to_string(),
        },
        Err(e) => Database::Unreadable {
            reason: e.to_string(),
        },
    }
}

fn read_database(
    conn: &Connection,
    wal: bool,
    keys: Result<RowKeys, Error>,
    now: i64,
) -> rusqlite::Result<Database> {
    let shape = schema::inspect(conn)?;
    Ok(match shape {
        Shape::Empty => Database::Empty,
        Shape::Foreign { application_id, .. } => Database::Foreign { application_id },
        Shape::OtherVersion(version) => Database::OtherVersion {
            version,
            rows: count_all_rows(conn).ok(),
            step_records: count_rows(conn, "mfa_devices").ok(),
        },
        Shape::Current => {
            let damage: String = conn.query_row("PRAGMA quick_check(1)", [], |row| row.get(0))?;
            if damage != "ok" {
                return Ok(Database::Damaged { reason: damage });
            }
            Database::Current(read_contents(conn, wal, keys, now)?)
        }
    })
}

/// The keyring secret `vegas assume` mixes into the row keys of the cache
/// in `dir`, read without creating one: with none there, the next `assume`
/// makes a new one and no row sealed before opens, which is what the counts
/// then say.
fn secret_of(dir: &Path) -> Option<CacheSecret> {
    let dir = super::files::resolve_parents(dir).ok()?;
    CacheSecret::load(&dir).ok().flatten()
}

fn read_contents(
    conn: &Connection,
    wal_mode: bool,
    keys: Result<RowKeys, Error>,
    now: i64,
) -> rusqlite::Result<Contents> {
    let keys_ref = keys.as_ref().ok();
    let mut credentials = RowCounts::default();
    let mut stmt = conn.prepare(
        "SELECT expires_at, iv, ciphertext, mac, cache_key FROM credentials ORDER BY cache_key",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let (expires_at, sealed) = read_sealed(row)?;
        let cache_key: String = row.get(4)?;
        let address = RowAddress::Credentials {
            cache_key: &cache_key,
        };
        credentials.count(keys_ref, address, expires_at, &sealed, now);
    }
    let mut secrets: Vec<(String, RowCounts)> = Vec::new();
    let mut stmt = conn
        .prepare("SELECT expires_at, iv, ciphertext, mac, kind, id FROM secrets ORDER BY kind")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let (expires_at, sealed) = read_sealed(row)?;
        let kind: String = row.get(4)?;
        let id: String = row.get(5)?;
        if secrets.last().is_none_or(|(last, _)| *last != kind) {
            secrets.push((kind.clone(), RowCounts::default()));
        }
        if let Some((_, counts)) = secrets.last_mut() {
            let address = RowAddress::Secret {
                kind: &kind,
                id: &id,
            };
            counts.count(keys_ref, address, expires_at, &sealed, now);
        }
    }
    Ok(Contents {
        wal_mode,
        credentials,
        secrets,
        step_records: count_rows(conn, "mfa_devices")?,
        no_keys: keys.err().map(|e| e.to_string()),
    })
}

impl RowCounts {
    fn count(
        &mut self,
        keys: Option<&RowKeys>,
        address: RowAddress<'_>,
        expires_at: i64,
        sealed: &SealedRow,
        now: i64,
    ) {
        if expires_at <= now {
            self.expired += 1;
        } else if keys.is_some_and(|keys| keys.authentic(address, expires_at, sealed)) {
            self.live += 1;
        } else {
            self.unreadable += 1;
        }
    }
}

fn count_rows(conn: &Connection, table: &str) -> rusqlite::Result<u64> {
    let sql = format!("SELECT count(*) FROM \"{}\"", table.replace('"', "\"\""));
    let count: i64 = conn.query_row(&sql, [], |row| row.get(0))?;
    Ok(u64::try_from(count).unwrap_or(0))
}

fn count_all_rows(conn: &Connection) -> rusqlite::Result<u64> {
    let mut total = 0u64;
    for table in schema::table_names(conn)? {
        total = total.saturating_add(count_rows(conn, &table)?);
    }
    Ok(total)
}

/// What opening the file read-only gave.
enum Opened {
    Database {
        conn: Connection,
        wal: bool,
    },
    /// A file of zero bytes (SQLite would call it an empty database).
    EmptyFile,
    /// The file is not an SQLite database: why.
    NotADatabase(String),
}

/// Open `db` so that nothing on disk changes: its header is read first (with
/// `O_NOFOLLOW`) to refuse what is not a database and to spot WAL mode.
fn open_read_only(db: &Path) -> Result<Opened, Error> {
    let header = match read_header(db) {
        Ok(header) => header,
        Err(e) => return Err(super::files::io_error("read", db, e)),
    };
    if header.is_empty() {
        return Ok(Opened::EmptyFile);
    }
    if header.len() < HEADER_LEN || !header.starts_with(SQLITE_MAGIC) {
        return Ok(Opened::NotADatabase("not an SQLite database".into()));
    }
    let wal = WAL_FORMAT_OFFSETS
        .iter()
        .all(|&at| header.get(at) == Some(&2));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NOFOLLOW
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let opened = if wal {
        Connection::open_with_flags(
            super::store::immutable_uri(db),
            flags | OpenFlags::SQLITE_OPEN_URI,
        )
    } else {
        Connection::open_with_flags(db, flags)
    };
    let conn = opened.map_err(|e| sqlite_error(db, "open read-only", e))?;
    conn.busy_timeout(super::BUSY_TIMEOUT)
        .map_err(|e| sqlite_error(db, "open read-only", e))?;
    Ok(Opened::Database { conn, wal })
}

/// Up to the first [`HEADER_LEN`] bytes of `db`, not following a symbolic
/// link.
fn read_header(db: &Path) -> io::Result<Vec<u8>> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(db)?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    file.take(HEADER_LEN as u64).read_to_end(&mut header)?;
    Ok(header)
}

fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
}

fn sqlite_error(db: &Path, action: &'static str, source: rusqlite::Error) -> Error {
    Error::Sqlite {
        action,
        path: db.to_path_buf(),
        source,
    }
}

#[cfg(test)]
#[path = "inspect_tests.rs"]
mod tests;
