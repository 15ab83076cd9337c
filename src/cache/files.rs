//! The cache's place on disk: a directory of our own, mode `0700`, and
//! database files mode `0600`, tightened (with a warning) when found looser;
//! and keeping an unusable database aside instead of deleting it.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{Error, Warning};

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;
/// Bits that let anyone but the owner in.
const OTHERS: u32 = 0o077;

/// Make sure `dir` exists, is ours and is closed to others.
pub(crate) fn prepare_dir(dir: &Path, warnings: &mut Vec<Warning>) -> Result<(), Error> {
    let meta = match fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(dir)
                .map_err(|source| Error::CreateDir {
                    path: dir.to_path_buf(),
                    source,
                })?;
            fs::metadata(dir).map_err(|e| io_error("inspect", dir, e))?
        }
        Err(e) => return Err(io_error("inspect", dir, e)),
    };
    if !meta.is_dir() {
        return Err(Error::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let uid = effective_uid();
    if meta.uid() != uid {
        return Err(Error::NotOwner {
            path: dir.to_path_buf(),
            owner: meta.uid(),
            uid,
        });
    }
    tighten(dir, meta.mode(), DIR_MODE, warnings, |path, was| {
        Warning::DirTightened { path, was }
    });
    Ok(())
}

/// The database file and SQLite's companions (`-wal`, `-shm`, which SQLite
/// creates with the database file's mode): create the database `0600` if it
/// is missing (so it is never briefly world-readable), tighten any that are
/// looser. Returns whether the database file exists afterwards.
pub(crate) fn prepare_db_files(db: &Path, warnings: &mut Vec<Warning>) -> bool {
    let mut exists = true;
    match fs::metadata(db) {
        Ok(meta) => tighten_file(db, meta.mode(), warnings),
        Err(_) => {
            exists = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .open(db)
                .is_ok();
        }
    }
    for companion in [companion_path(db, "-wal"), companion_path(db, "-shm")] {
        if let Ok(meta) = fs::metadata(&companion) {
            tighten_file(&companion, meta.mode(), warnings);
        }
    }
    exists
}

fn tighten_file(path: &Path, mode: u32, warnings: &mut Vec<Warning>) {
    tighten(path, mode, FILE_MODE, warnings, |path, was| {
        Warning::FileTightened { path, was }
    });
}

fn tighten(
    path: &Path,
    mode: u32,
    wanted: u32,
    warnings: &mut Vec<Warning>,
    tightened: impl FnOnce(PathBuf, u32) -> Warning,
) {
    let mode = mode & 0o7777;
    if mode & OTHERS == 0 {
        return;
    }
    let warning = match fs::set_permissions(path, fs::Permissions::from_mode(wanted)) {
        Ok(()) => tightened(path.to_path_buf(), mode),
        Err(_) => Warning::CannotTighten {
            path: path.to_path_buf(),
            mode,
        },
    };
    warnings.push(warning);
}

/// `vegas.db` + `-wal` → `vegas.db-wal`.
pub(crate) fn companion_path(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Rename an unusable database to `<name>.corrupt-<unix>` (never over an
/// existing file), taking its write-ahead log along and dropping its shared
/// memory index. Returns the new name.
pub(crate) fn move_aside(db: &Path, now: i64) -> Result<PathBuf, Error> {
    let aside = (0u32..)
        .map(|n| match n {
            0 => companion_path(db, &format!(".corrupt-{now}")),
            n => companion_path(db, &format!(".corrupt-{now}-{n}")),
        })
        .find(|candidate| fs::symlink_metadata(candidate).is_err())
        .unwrap_or_else(|| companion_path(db, ".corrupt"));
    fs::rename(db, &aside).map_err(|e| io_error("move aside", db, e))?;
    let wal = companion_path(db, "-wal");
    if wal.exists() {
        fs::rename(&wal, companion_path(&aside, "-wal"))
            .map_err(|e| io_error("move aside", &wal, e))?;
    }
    let shm = companion_path(db, "-shm");
    if shm.exists() {
        fs::remove_file(&shm).map_err(|e| io_error("remove", &shm, e))?;
    }
    Ok(aside)
}

/// An I/O error on `path`, with the permission cases named for what they are.
pub(crate) fn io_error(action: &'static str, path: &Path, source: io::Error) -> Error {
    match source.kind() {
        io::ErrorKind::PermissionDenied => Error::PermissionDenied {
            path: path.to_path_buf(),
        },
        io::ErrorKind::ReadOnlyFilesystem => Error::ReadOnly {
            path: path.to_path_buf(),
        },
        _ => Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        },
    }
}

pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn missing_dir_is_created_0700_with_its_parents() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/vegas");
        let mut warnings = vec![];
        prepare_dir(&dir, &mut warnings).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert!(warnings.is_empty());
    }

    #[test]
    fn open_dir_is_tightened_with_a_warning() {
        let tmp = tempfile::tempdir().unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let mut warnings = vec![];
        prepare_dir(tmp.path(), &mut warnings).unwrap();
        assert_eq!(mode(tmp.path()), 0o700);
        assert_eq!(
            warnings,
            [Warning::DirTightened {
                path: tmp.path().into(),
                was: 0o777
            }]
        );
    }

    #[test]
    fn a_file_where_the_dir_should_be_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        fs::write(&file, b"").unwrap();
        let err = prepare_dir(&file, &mut vec![]).unwrap_err();
        assert!(matches!(err, Error::NotADirectory { .. }), "{err:?}");
    }

    #[test]
    fn another_users_dir_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("theirs");
        fs::create_dir(&dir).unwrap();
        // As root we can hand the directory to someone else; as a normal
        // user, a directory owned by root (/) shows the same refusal.
        let (dir, owner) = if effective_uid() == 0 {
            std::os::unix::fs::chown(&dir, Some(4242), None).unwrap();
            (dir, 4242)
        } else {
            (PathBuf::from("/"), 0)
        };
        let err = prepare_dir(&dir, &mut vec![]).unwrap_err();
        assert!(
            matches!(err, Error::NotOwner { owner: o, .. } if o == owner),
            "{err:?}"
        );
    }

    #[test]
    fn database_is_created_0600_and_loose_companions_are_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("vegas.db");
        let mut warnings = vec![];
        assert!(prepare_db_files(&db, &mut warnings));
        assert_eq!(mode(&db), 0o600);
        assert!(warnings.is_empty());

        fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).unwrap();
        let wal = companion_path(&db, "-wal");
        fs::write(&wal, b"").unwrap();
        fs::set_permissions(&wal, fs::Permissions::from_mode(0o666)).unwrap();
        assert!(prepare_db_files(&db, &mut warnings));
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&wal), 0o600);
        assert_eq!(
            warnings,
            [
                Warning::FileTightened {
                    path: db.clone(),
                    was: 0o644
                },
                Warning::FileTightened {
                    path: wal,
                    was: 0o666
                },
            ]
        );
    }

    #[test]
    fn move_aside_keeps_the_file_and_never_overwrites() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("vegas.db");
        fs::write(&db, b"first").unwrap();
        let first = move_aside(&db, 7).unwrap();
        assert_eq!(first, tmp.path().join("vegas.db.corrupt-7"));
        fs::write(&db, b"second").unwrap();
        let second = move_aside(&db, 7).unwrap();
        assert_eq!(second, tmp.path().join("vegas.db.corrupt-7-1"));
        assert_eq!(fs::read(first).unwrap(), b"first");
        assert_eq!(fs::read(second).unwrap(), b"second");
        assert!(!db.exists());
    }
}
