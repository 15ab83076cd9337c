//! The one home of every fact vegas asks of the operating system that the
//! rest of the code should not spell out again: the wall clock, finding a
//! program on PATH, the controlling terminal, whether to use colour, and the
//! reader chosen by the environment; the cache's place (dirs.rs); the
//! secrets kept outside the file system (keyring.rs); and what the process
//! does to itself at start (process.rs).
//!
//! Everything `cfg(target_os)` belongs here, so the layers above stay
//! portable and each fact is read the same way everywhere.

pub(crate) mod child;

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

mod dirs;
pub mod keyring;
mod process;

pub use dirs::{cache_dir, DirError};
pub use process::{diagnostics_filter, harden_process};

/// Seconds since the Unix epoch by the wall clock, signed as the cache
/// stores them; times before the epoch count as 0.
pub fn unix_now() -> i64 {
    unix_seconds_signed(SystemTime::now())
}

/// Seconds since the Unix epoch of `time`; times before it count as 0.
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// [`unix_seconds`] as the signed number the cache stores.
pub fn unix_seconds_signed(time: SystemTime) -> i64 {
    i64::try_from(unix_seconds(time)).unwrap_or(i64::MAX)
}

/// `program` in an absolute directory of PATH, if it is an executable file
/// there. Relative entries (including the empty entry, which means the
/// current directory) are skipped: `credential_process` runs in whatever
/// directory the AWS tool runs in, and a program planted there must never
/// be run. A `program` with a `/` is taken as a path.
pub fn find_program(program: &str) -> Option<PathBuf> {
    find_program_in(program, std::env::var_os("PATH").as_deref())
}

fn find_program_in(program: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    if program.contains('/') {
        let candidate = PathBuf::from(program);
        return is_executable(&candidate).then_some(candidate);
    }
    std::env::split_paths(path?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

/// A program installed beside the running binary (`vegas-sts`,
/// `vegas-serve`): `cargo install` and the packages put them together, and a
/// program found there cannot be swapped by one earlier on PATH.
pub fn beside_current_exe(program: &str) -> Result<PathBuf, SiblingMissing> {
    let exe = std::env::current_exe().map_err(|e| SiblingMissing {
        path: program.into(),
        message: format!("cannot tell where vegas itself is: {e}"),
    })?;
    Ok(exe.with_file_name(program))
}

/// [`beside_current_exe`], checked to be there and executable.
pub fn locate_beside_current_exe(program: &str) -> Result<PathBuf, SiblingMissing> {
    let path = beside_current_exe(program)?;
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(SiblingMissing {
            message: "missing or not executable".into(),
            path: path.display().to_string(),
        })
    }
}

/// A program that should sit beside vegas and does not, or cannot be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiblingMissing {
    /// Where it was looked for.
    pub path: String,
    /// Why it cannot be run.
    pub message: String,
}

/// A regular file with an execute bit (following symlinks).
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The controlling terminal, opened for reading and writing, if the process
/// has one.
pub fn open_tty() -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
}

/// Whether the process is in the foreground of the terminal `tty`: a read by
/// a background process would stop it.
pub fn in_foreground(tty: &File) -> bool {
    use std::os::fd::AsRawFd;
    let fd = tty.as_raw_fd();
    // SAFETY: plain queries on a descriptor we own for the whole call.
    unsafe { libc::tcgetpgrp(fd) == libc::getpgrp() }
}

/// Colour on an output: only when it is a terminal, and never with
/// `--no-color` or a non-empty `NO_COLOR` (https://no-color.org).
pub fn colour(no_color_flag: bool, output_is_terminal: bool) -> bool {
    !no_color_flag
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && output_is_terminal
}

/// The reader named by `VEGAS_READER`, unless unset or empty.
pub fn reader_from_env() -> Option<String> {
    std::env::var("VEGAS_READER").ok().filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn executable(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn a_program_in_a_relative_or_empty_path_entry_is_never_found() {
        let dir = tempfile::tempdir().unwrap();
        executable(dir.path(), "ykman-test");
        let cwd = std::env::current_dir().unwrap();
        // Relative entries: "" (the current directory), "." and a relative dir.
        let rel = pathdiff(dir.path(), &cwd);
        let path = std::env::join_paths(["", ".", rel.to_str().unwrap()]).unwrap();
        assert_eq!(find_program_in("ykman-test", Some(&path)), None);
        let path = std::env::join_paths([dir.path()]).unwrap();
        assert_eq!(
            find_program_in("ykman-test", Some(&path)),
            Some(dir.path().join("ykman-test"))
        );
    }

    /// `target` relative to `base`, through `..` as needed.
    fn pathdiff(target: &Path, base: &Path) -> PathBuf {
        let ups = base.components().count().saturating_sub(1);
        let mut out = PathBuf::new();
        for _ in 0..ups {
            out.push("..");
        }
        out.push(target.strip_prefix("/").unwrap());
        out
    }

    #[test]
    fn a_file_without_an_execute_bit_is_not_a_program() {
        let dir = tempfile::tempdir().unwrap();
        let path = executable(dir.path(), "tool");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let entries = std::env::join_paths([dir.path()]).unwrap();
        assert_eq!(find_program_in("tool", Some(&entries)), None);
        assert_eq!(find_program_in("", Some(&entries)), None);
    }

    #[test]
    fn times_before_the_epoch_count_as_zero() {
        assert_eq!(
            unix_seconds(UNIX_EPOCH - std::time::Duration::from_secs(5)),
            0
        );
        assert_eq!(
            unix_seconds(UNIX_EPOCH + std::time::Duration::from_secs(7)),
            7
        );
        assert_eq!(
            unix_seconds_signed(UNIX_EPOCH + std::time::Duration::from_secs(7)),
            7
        );
    }
}
