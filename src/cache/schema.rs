//! The database layout, and telling a vegas cache of this version from an
//! empty file, an older (or newer) vegas cache, or somebody else's database.
//!
//! A vegas cache carries `PRAGMA application_id` = "vega" and
//! `PRAGMA user_version` = [`SCHEMA_VERSION`]. A version in
//! [`UPGRADED_IN_PLACE`] is migrated with its rows kept; any other version
//! that has our id is rebuilt empty (it only holds temporary credentials); a
//! database without our id is not ours and is moved aside by the store.

use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};

use super::BUSY_TIMEOUT;

/// "vega" in ASCII, in the database header.
pub(crate) const APPLICATION_ID: i32 = 0x7665_6761;
/// Bump on any change to the tables or to the sealing format.
pub(crate) const SCHEMA_VERSION: i32 = 2;

const CREATE_TABLES: &str = "
CREATE TABLE credentials (
    cache_key  TEXT PRIMARY KEY NOT NULL,
    profile    TEXT NOT NULL,
    role_arn   TEXT NOT NULL,
    mfa_serial TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    iv         BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    mac        BLOB NOT NULL
) STRICT;
CREATE INDEX credentials_expires_at ON credentials (expires_at);

CREATE TABLE secrets (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    profile    TEXT NOT NULL DEFAULT '',
    mfa_serial TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    iv         BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    mac        BLOB NOT NULL,
    PRIMARY KEY (kind, id)
) STRICT;
CREATE INDEX secrets_expires_at ON secrets (expires_at);

CREATE TABLE mfa_devices (
    mfa_serial TEXT PRIMARY KEY NOT NULL,
    used_until INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
";

/// The older schema versions migrated with their rows kept.
pub const UPGRADED_IN_PLACE: [i32; 1] = [1];

/// From version 1: OATH access keys leave the file (they live in the
/// keyring now); the step record becomes the end of the used step in
/// seconds (version 1 counted 30-second steps), kept, since forgetting it
/// could make the next call send STS a code it has seen; secret rows get
/// their subject in clear. A version-1 MFA session's id is the same string
/// as now, `<source profile>|<MFA serial>|<16 hex digits>`, and the serial
/// (an ARN, `arn:…`) holds no `|`, so its subject is read from the id once,
/// here; a row whose id does not have that shape goes (a new session costs
/// one touch). A step beyond any plausible date becomes 0 (no wait) rather
/// than overflowing.
const FROM_VERSION_1: &str = "
ALTER TABLE mfa_devices RENAME COLUMN last_step TO used_until;
UPDATE mfa_devices SET used_until =
    CASE WHEN used_until BETWEEN 0 AND 1000000000 THEN (used_until + 1) * 30 ELSE 0 END;
ALTER TABLE secrets ADD COLUMN profile TEXT NOT NULL DEFAULT '';
ALTER TABLE secrets ADD COLUMN mfa_serial TEXT NOT NULL DEFAULT '';
DELETE FROM secrets WHERE kind = 'oath-access-key';
DELETE FROM secrets WHERE kind = 'mfa-session'
    AND (instr(id, '|arn:') = 0 OR substr(id, -17, 1) <> '|');
UPDATE secrets SET
    profile = substr(id, 1, instr(id, '|arn:') - 1),
    mfa_serial = substr(id, instr(id, '|arn:') + 1, length(id) - 17 - instr(id, '|arn:'))
    WHERE kind = 'mfa-session';
";

/// What an opened database file turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A vegas cache of this version: ready.
    Current,
    /// A new, empty file.
    Empty,
    /// A vegas cache of another version: rebuilt in place.
    OtherVersion(i32),
    /// Not a vegas cache: moved aside.
    Foreign { application_id: i32, tables: i64 },
}

/// One read of the header and the schema table.
pub(crate) fn inspect(conn: &Connection) -> rusqlite::Result<Shape> {
    let (application_id, version, tables) = conn.query_row(
        "SELECT (SELECT application_id FROM pragma_application_id()),
                (SELECT user_version FROM pragma_user_version()),
                (SELECT count(*) FROM sqlite_schema)",
        [],
        |row| {
            Ok((
                row.get::<_, i32>(0)?,
                row.get::<_, i32>(1)?,
                row.get::<_, i64>(2)?,
            ))
        },
    )?;
    Ok(match (application_id, version, tables) {
        (APPLICATION_ID, SCHEMA_VERSION, _) => Shape::Current,
        (APPLICATION_ID, other, _) => Shape::OtherVersion(other),
        (0, 0, 0) => Shape::Empty,
        (application_id, _, tables) => Shape::Foreign {
            application_id,
            tables,
        },
    })
}

/// Turn an empty file or another version's cache into a current one. Safe
/// to race: the check is repeated inside an immediate (write-locked)
/// transaction, so only the first process builds.
pub(crate) fn build(conn: &Connection) -> rusqlite::Result<()> {
    // A rollback journal, not WAL. With WAL every vegas process (nearly
    // always the only connection) created, sized and deleted `-wal` and
    // `-shm` again, a write path on a read-only cache hit: measured, a hit
    // took 2.5 ms with WAL and 2.0 ms without (docs/benchmarks.md). What WAL
    // buys, readers running beside a writer, matters little here: writes
    // are rare (a cache miss), short, and taken under the device lock, and
    // readers wait them out in the busy handler. Changing the mode needs the
    // file to itself; while other processes are opening the same new file,
    // SQLite may say "busy" here without waiting in the busy handler (seen
    // with 16 racing openers), so wait here.
    retry_while_busy(|| {
        conn.query_row("PRAGMA journal_mode = DELETE", [], |row| {
            row.get::<_, String>(0)
        })
    })?;
    // Many processes may open a new file at once: those that come after the
    // first builder see its tables with a plain read, without queueing for
    // the write lock behind every writer.
    if inspect(conn)? == Shape::Current {
        return Ok(());
    }
    let tx = retry_while_busy(|| Transaction::new_unchecked(conn, TransactionBehavior::Immediate))?;
    match inspect(&tx)? {
        Shape::Current => return tx.commit(),
        Shape::OtherVersion(1) => {
            tx.execute_batch(FROM_VERSION_1)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            tx.commit()?;
            // Version 1 wrote without secure_delete: pages it freed (old
            // copies of replaced rows, access keys among them) may still
            // hold sealed bytes. Rewrite the file without them, once.
            return retry_while_busy(|| conn.execute_batch("VACUUM"));
        }
        _ => {}
    }
    for table in table_names(&tx)? {
        tx.execute_batch(&format!(
            "DROP TABLE IF EXISTS \"{}\"",
            table.replace('"', "\"\"")
        ))?;
    }
    tx.execute_batch(CREATE_TABLES)?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()
}

/// Run `step` again every 10 ms while the database is busy, up to
/// [`BUSY_TIMEOUT`].
fn retry_while_busy<T>(mut step: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let started = Instant::now();
    loop {
        match step() {
            Err(e)
                if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

pub(crate) fn table_names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )?;
    let names = stmt.query_map([], |row| row.get(0))?.collect();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_database_is_built_into_a_current_one() {
        let conn = Connection::open_in_memory().unwrap();
        assert_eq!(inspect(&conn).unwrap(), Shape::Empty);
        build(&conn).unwrap();
        assert_eq!(inspect(&conn).unwrap(), Shape::Current);
        let mut tables = table_names(&conn).unwrap();
        tables.sort();
        assert_eq!(tables, ["credentials", "mfa_devices", "secrets"]);
    }

    #[test]
    fn other_version_is_rebuilt_and_loses_its_rows() {
        let conn = Connection::open_in_memory().unwrap();
        build(&conn).unwrap();
        conn.execute("INSERT INTO mfa_devices VALUES ('m', 1, 1)", [])
            .unwrap();
        conn.execute_batch("CREATE TABLE leftover (x); PRAGMA user_version = 99;")
            .unwrap();
        assert_eq!(inspect(&conn).unwrap(), Shape::OtherVersion(99));
        build(&conn).unwrap();
        assert_eq!(inspect(&conn).unwrap(), Shape::Current);
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM mfa_devices", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0);
        assert!(!table_names(&conn)
            .unwrap()
            .contains(&"leftover".to_string()));
    }

    #[test]
    fn someone_elses_database_is_foreign() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE credentials (x)").unwrap();
        assert_eq!(
            inspect(&conn).unwrap(),
            Shape::Foreign {
                application_id: 0,
                tables: 1
            }
        );
        conn.execute_batch("PRAGMA application_id = 42").unwrap();
        assert!(matches!(
            inspect(&conn).unwrap(),
            Shape::Foreign {
                application_id: 42,
                ..
            }
        ));
    }
}
