//! The cache's place on disk, and whether vegas may trust it: a directory of
//! our own, mode `0700`, opened without following a symbolic link and
//! checked through its handle; database, journal and lock files that are
//! regular files of ours, mode `0600`. Looser modes are tightened (with a
//! warning); a mode that cannot be tightened means no cache. A file that is
//! not ours or not a regular file is set aside before SQLite opens anything,
//! so its rows are never served and nothing is written through a link.
//!
//! Checks by path inside the directory are sound once the directory itself
//! is ours and closed: nobody but us (and root) can add, swap or rename an
//! entry in it between the check and SQLite's open.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{Error, Warning};

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;
/// Bits that let anyone but the owner in.
const OTHERS: u32 = 0o077;
/// SQLite's companions of the database file, in the order they are set
/// aside: the rollback journal and the write-ahead log belong with the
/// database they would change; the shared-memory index is dropped.
pub(crate) const COMPANIONS: [&str; 3] = ["-journal", "-wal", "-shm"];
/// What [`move_aside`] names a database that was damaged or not a cache.
pub(crate) const CORRUPT: &str = "corrupt";
/// What [`move_aside`] names a database that was not ours to trust.
pub(crate) const UNTRUSTED: &str = "untrusted";

/// Make sure `dir` exists, is a directory of ours (not a link to one) and is
/// closed to others, checking and tightening it through one handle.
pub(crate) fn prepare_dir(dir: &Path, warnings: &mut Vec<Warning>) -> Result<(), Error> {
    let handle = match open_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(dir)
                .map_err(|source| Error::CreateDir {
                    path: dir.to_path_buf(),
                    source,
                })?;
            open_dir(dir)
        }
        opened => opened,
    }
    .map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) => Error::Symlink {
            path: dir.to_path_buf(),
        },
        // O_DIRECTORY is checked first: a link says ENOTDIR too.
        Some(libc::ENOTDIR) if fs::symlink_metadata(dir).is_ok_and(|m| m.is_symlink()) => {
            Error::Symlink {
                path: dir.to_path_buf(),
            }
        }
        Some(libc::ENOTDIR) => Error::NotADirectory {
            path: dir.to_path_buf(),
        },
        _ => io_error("open", dir, e),
    })?;
    let meta = handle.metadata().map_err(|e| io_error("inspect", dir, e))?;
    let uid = effective_uid();
    if meta.uid() != uid {
        return Err(Error::NotOwner {
            path: dir.to_path_buf(),
            owner: meta.uid(),
            uid,
        });
    }
    if let Some(was) = tighten(&handle, dir, meta.mode(), DIR_MODE)? {
        warnings.push(Warning::DirTightened {
            path: dir.to_path_buf(),
            was,
        });
    }
    Ok(())
}

/// `dir` with the links among its parents resolved (the directory itself
/// is not a link: [`prepare_dir`] refused that). SQLite opens the database
/// with `SQLITE_OPEN_NOFOLLOW`, which refuses a link anywhere in the path;
/// a home directory reached through a link (or macOS's `/var`) is fine.
pub(crate) fn resolve_parents(dir: &Path) -> Result<PathBuf, Error> {
    let resolved = match (dir.parent(), dir.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => {
            parent.canonicalize().map(|p| p.join(name))
        }
        _ => dir.canonicalize(),
    };
    resolved.map_err(|e| io_error("resolve", dir, e))
}

fn open_dir(dir: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir)
}

/// Why a file in the cache directory is not to be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Untrusted {
    pub path: PathBuf,
    pub why: String,
}

/// The database file and SQLite's companions: each must be a regular file
/// of ours, mode `0600` (tightened when looser). Creates the database `0600`
/// if it is missing, so it is never briefly readable by others. `Ok(Err)`:
/// a file that is not to be trusted, which the caller sets aside.
pub(crate) fn prepare_db_files(
    db: &Path,
    warnings: &mut Vec<Warning>,
) -> Result<Result<(), Untrusted>, Error> {
    for path in std::iter::once(db.to_path_buf()).chain(COMPANIONS.map(|c| companion_path(db, c))) {
        if let Err(untrusted) = check_file(&path, warnings)? {
            return Ok(Err(untrusted));
        }
    }
    if fs::symlink_metadata(db).is_err() {
        // O_EXCL: never through a link that appeared meanwhile.
        let _ = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(db);
    }
    Ok(Ok(()))
}

/// A file vegas will let SQLite (or a lock) open: missing, or a regular file
/// of ours that is closed to others (tightened here if it was not).
pub(crate) fn check_file(
    path: &Path,
    warnings: &mut Vec<Warning>,
) -> Result<Result<(), Untrusted>, Error> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Ok(())),
        Err(e) => return Err(io_error("inspect", path, e)),
    };
    if let Err(why) = trusted(&meta) {
        return Ok(Err(Untrusted {
            path: path.to_path_buf(),
            why,
        }));
    }
    if meta.mode() & OTHERS != 0 {
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| io_error("open", path, e))?;
        let meta = file.metadata().map_err(|e| io_error("inspect", path, e))?;
        if let Err(why) = trusted(&meta) {
            return Ok(Err(Untrusted {
                path: path.to_path_buf(),
                why,
            }));
        }
        if let Some(was) = tighten(&file, path, meta.mode(), FILE_MODE)? {
            warnings.push(Warning::FileTightened {
                path: path.to_path_buf(),
                was,
            });
        }
    }
    Ok(Ok(()))
}

/// A regular file owned by the effective user, or why not.
pub(crate) fn trusted(meta: &fs::Metadata) -> Result<(), String> {
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err("a symbolic link".into());
    }
    if !kind.is_file() {
        return Err("not a regular file".into());
    }
    let uid = effective_uid();
    if meta.uid() != uid {
        return Err(format!(
            "owned by user {}, not by you (user {uid})",
            meta.uid()
        ));
    }
    Ok(())
}

/// Close `handle` (at `path`, with `mode`) to others: `Ok(Some(was))` when
/// it was tightened, an error when the file system would not (a mount that
/// ignores chmod): then there is no cache rather than a readable one.
fn tighten(handle: &File, path: &Path, mode: u32, wanted: u32) -> Result<Option<u32>, Error> {
    let mode = mode & 0o7777;
    if mode & OTHERS == 0 {
        return Ok(None);
    }
    let now = handle
        .set_permissions(fs::Permissions::from_mode(wanted))
        .and_then(|()| handle.metadata())
        .map(|meta| meta.mode() & 0o7777);
    match now {
        Ok(now) if now & OTHERS == 0 => Ok(Some(mode)),
        _ => Err(Error::CannotTighten {
            path: path.to_path_buf(),
            mode,
        }),
    }
}

/// `vegas.db` + `-journal` → `vegas.db-journal`.
pub(crate) fn companion_path(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Rename a database that is not to be used to `<name>.<label>-<unix>`
/// (never over an existing file), taking its journal and write-ahead log
/// along and dropping its shared memory index. A link is renamed, never
/// followed. Returns the new name.
pub(crate) fn move_aside(db: &Path, label: &str, now: i64) -> Result<PathBuf, Error> {
    let taken = |candidate: &PathBuf| {
        std::iter::once(candidate.clone())
            .chain(COMPANIONS.map(|c| companion_path(candidate, c)))
            .any(|p| fs::symlink_metadata(p).is_ok())
    };
    let aside = (0u32..)
        .map(|n| match n {
            0 => companion_path(db, &format!(".{label}-{now}")),
            n => companion_path(db, &format!(".{label}-{now}-{n}")),
        })
        .find(|candidate| !taken(candidate))
        .unwrap_or_else(|| companion_path(db, &format!(".{label}")));
    for suffix in ["", "-journal", "-wal"] {
        let from = companion_path(db, suffix);
        if fs::symlink_metadata(&from).is_ok() {
            fs::rename(&from, companion_path(&aside, suffix))
                .map_err(|e| io_error("move aside", &from, e))?;
        }
    }
    let shm = companion_path(db, "-shm");
    if fs::symlink_metadata(&shm).is_ok() {
        fs::remove_file(&shm).map_err(|e| io_error("remove", &shm, e))?;
    }
    Ok(aside)
}

/// The copies [`move_aside`] made in `dir` of the database `db_name`, with
/// their journals: what `vegas cache clean` removes.
pub(crate) fn set_aside_copies(dir: &Path, db_name: &str) -> Vec<PathBuf> {
    let prefixes = [CORRUPT, UNTRUSTED].map(|label| format!("{db_name}.{label}"));
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            prefixes.iter().any(|p| name.starts_with(p.as_str()))
        })
        .map(|entry| entry.path())
        .collect()
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
        assert_eq!(prepare_db_files(&db, &mut warnings).unwrap(), Ok(()));
        assert_eq!(mode(&db), 0o600);
        assert!(warnings.is_empty());

        fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).unwrap();
        let wal = companion_path(&db, "-wal");
        fs::write(&wal, b"").unwrap();
        fs::set_permissions(&wal, fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(prepare_db_files(&db, &mut warnings).unwrap(), Ok(()));
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
        let first = move_aside(&db, CORRUPT, 7).unwrap();
        assert_eq!(first, tmp.path().join("vegas.db.corrupt-7"));
        fs::write(&db, b"second").unwrap();
        let second = move_aside(&db, CORRUPT, 7).unwrap();
        assert_eq!(second, tmp.path().join("vegas.db.corrupt-7-1"));
        assert_eq!(fs::read(first).unwrap(), b"first");
        assert_eq!(fs::read(second).unwrap(), b"second");
        assert!(!db.exists());
    }

    #[test]
    fn links_among_the_parents_are_resolved_for_sqlite() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        fs::create_dir_all(real.join("vegas")).unwrap();
        let link = tmp.path().join("home");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let resolved = resolve_parents(&link.join("vegas")).unwrap();
        assert_eq!(resolved, real.canonicalize().unwrap().join("vegas"));
    }

    #[test]
    fn a_cache_dir_that_is_a_symlink_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        fs::create_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = prepare_dir(&link, &mut vec![]).unwrap_err();
        assert!(matches!(err, Error::Symlink { .. }), "{err:?}");
    }

    #[test]
    fn a_database_that_is_a_link_or_not_a_file_is_untrusted_and_its_target_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("victim");
        fs::write(&target, b"precious").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
        let db = tmp.path().join("vegas.db");
        std::os::unix::fs::symlink(&target, &db).unwrap();
        let verdict = prepare_db_files(&db, &mut vec![]).unwrap();
        assert_eq!(
            verdict,
            Err(Untrusted {
                path: db.clone(),
                why: "a symbolic link".into()
            })
        );
        let aside = move_aside(&db, UNTRUSTED, 9).unwrap();
        assert!(fs::symlink_metadata(&aside)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"precious");
        assert_eq!(mode(&target), 0o644, "not tightened through the link");

        let journal = companion_path(&db, "-journal");
        fs::create_dir(&journal).unwrap();
        let verdict = prepare_db_files(&db, &mut vec![]).unwrap();
        assert_eq!(verdict.unwrap_err().why, "not a regular file");
    }

    #[test]
    fn a_database_of_another_user_is_untrusted() {
        if effective_uid() != 0 {
            return; // only root can give a file away
        }
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("vegas.db");
        fs::write(&db, b"").unwrap();
        fs::set_permissions(&db, fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&db, Some(4242), None).unwrap();
        let verdict = prepare_db_files(&db, &mut vec![]).unwrap();
        assert!(verdict.unwrap_err().why.contains("owned by user 4242"));
    }

    #[test]
    fn set_aside_copies_are_found_and_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        for name in [
            "vegas.db",
            "vegas.db-journal",
            "vegas.db.corrupt-1",
            "vegas.db.corrupt-1-journal",
            "vegas.db.untrusted-2",
            "lock-00",
        ] {
            fs::write(tmp.path().join(name), b"").unwrap();
        }
        let mut found: Vec<String> = set_aside_copies(tmp.path(), "vegas.db")
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                "vegas.db.corrupt-1",
                "vegas.db.corrupt-1-journal",
                "vegas.db.untrusted-2"
            ]
        );
    }
}
