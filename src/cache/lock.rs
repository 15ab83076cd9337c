//! Single flight: one `vegas assume` per MFA device at a time goes to the
//! YubiKey and STS; the others wait, then find its credentials in the cache.
//!
//! The lock is a kernel advisory lock (`flock` on Linux, through std's
//! `File::lock`) on a file in the cache directory, one per device. The kernel
//! drops it when the holder exits or is killed, so a stale lock cannot exist.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::files::{io_error, trusted};
use super::Error;

/// How often a waiting process tries the lock again.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// An exclusive lock on one MFA device, released on drop (or when the
/// process ends, however it ends).
#[derive(Debug)]
pub struct DeviceLock {
    /// Holding the open file is holding the lock.
    _file: File,
    path: PathBuf,
}

impl DeviceLock {
    /// The lock file (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock file for `mfa_serial`: `lock-` and the first 16 hex digits of
/// the serial's SHA-256 (the serial is an ARN, not a file name).
pub fn lock_path(dir: &Path, mfa_serial: &str) -> PathBuf {
    let digest = Sha256::digest(mfa_serial.as_bytes());
    let prefix = digest.get(..8).unwrap_or_default();
    dir.join(format!("lock-{}", super::hex(prefix)))
}

/// Take the lock for `mfa_serial` in the cache directory `dir` (which must
/// exist). When another process holds it, `on_wait` is called once (so the
/// caller can say why nothing happens) and the lock is tried again every
/// 25 ms until `timeout`.
pub fn lock_device(
    dir: &Path,
    mfa_serial: &str,
    timeout: Duration,
    on_wait: &mut dyn FnMut(),
) -> Result<DeviceLock, Error> {
    lock_file(&lock_path(dir, mfa_serial), timeout, on_wait)
}

/// Take an exclusive lock on `path`, creating it `0600` if needed.
///
/// `File::try_lock` is stable since Rust 1.89; the crate's `rust-version`
/// has to say so (until it does, this tells clippy which version it needs).
pub(crate) fn lock_file(
    path: &Path,
    timeout: Duration,
    on_wait: &mut dyn FnMut(),
) -> Result<DeviceLock, Error> {
    let file = open_lock_file(path)?;
    let started = Instant::now();
    let mut waited = false;
    loop {
        match file.try_lock() {
            Ok(()) => {
                return Ok(DeviceLock {
                    _file: file,
                    path: path.to_path_buf(),
                })
            }
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(io_error("lock", path, e)),
        }
        if !waited {
            waited = true;
            on_wait();
        }
        let elapsed = started.elapsed();
        if elapsed >= timeout {
            return Err(Error::LockTimeout {
                path: path.to_path_buf(),
                waited: elapsed,
            });
        }
        std::thread::sleep(POLL_INTERVAL.min(timeout - elapsed));
    }
}

/// The lock file, created `0600`; never through a link, and only a regular
/// file of ours (checked on the open handle), closed to others.
fn open_lock_file(path: &Path) -> Result<File, Error> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => Error::Untrusted {
                path: path.to_path_buf(),
                why: "a symbolic link".into(),
            },
            _ => io_error("open the lock file", path, e),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| io_error("inspect the lock file", path, e))?;
    trusted(&meta).map_err(|why| Error::Untrusted {
        path: path.to_path_buf(),
        why,
    })?;
    if meta.mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|_| Error::CannotTighten {
                path: path.to_path_buf(),
                mode: meta.mode() & 0o7777,
            })?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::mpsc;

    const SERIAL: &str = "arn:aws:iam::111111111111:mfa/alice";

    #[test]
    fn lock_file_is_named_from_the_serial_and_private() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let lock = lock_device(tmp.path(), SERIAL, Duration::ZERO, &mut || {}).unwrap();
        let name = lock
            .path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(name.starts_with("lock-") && name.len() == 5 + 16, "{name}");
        assert_ne!(
            lock_path(tmp.path(), SERIAL),
            lock_path(tmp.path(), "arn:aws:iam::1:mfa/bob")
        );
        assert_eq!(
            std::fs::metadata(lock.path()).unwrap().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn free_lock_is_taken_without_waiting() {
        let tmp = tempfile::tempdir().unwrap();
        let mut waits = 0;
        let _lock = lock_device(tmp.path(), SERIAL, Duration::ZERO, &mut || waits += 1).unwrap();
        assert_eq!(waits, 0);
    }

    #[test]
    fn second_locker_waits_says_so_once_and_gets_the_lock_after_the_first_drops() {
        let tmp = tempfile::tempdir().unwrap();
        let first = lock_device(tmp.path(), SERIAL, Duration::ZERO, &mut || {}).unwrap();
        let (tx, rx) = mpsc::channel();
        let dir = tmp.path().to_path_buf();
        let second = std::thread::spawn(move || {
            let mut waits = 0;
            let lock = lock_device(&dir, SERIAL, Duration::from_secs(10), &mut || {
                waits += 1;
                tx.send(()).unwrap();
            });
            (lock.map(|_| ()), waits)
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the second locker waits");
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            !second.is_finished(),
            "the second locker must wait while the first holds it"
        );
        drop(first);
        let (result, waits) = second.join().unwrap();
        result.unwrap();
        assert_eq!(waits, 1);
    }

    #[test]
    fn other_devices_do_not_wait_for_each_other() {
        let tmp = tempfile::tempdir().unwrap();
        let _alice = lock_device(tmp.path(), SERIAL, Duration::ZERO, &mut || {}).unwrap();
        let mut waits = 0;
        let _bob = lock_device(
            tmp.path(),
            "arn:aws:iam::1:mfa/bob",
            Duration::ZERO,
            &mut || waits += 1,
        )
        .unwrap();
        assert_eq!(waits, 0);
    }

    #[test]
    fn busy_lock_times_out_with_an_error_naming_the_lock_file() {
        let tmp = tempfile::tempdir().unwrap();
        let _first = lock_device(tmp.path(), SERIAL, Duration::ZERO, &mut || {}).unwrap();
        let started = Instant::now();
        let mut waits = 0;
        let err = lock_device(tmp.path(), SERIAL, Duration::from_millis(150), &mut || {
            waits += 1
        })
        .unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert_eq!(waits, 1);
        match &err {
            Error::LockTimeout { path, .. } => assert_eq!(path, &lock_path(tmp.path(), SERIAL)),
            other => panic!("expected a lock timeout, got {other:?}"),
        }
        use crate::hint::Hint;
        assert!(err
            .hint()
            .contains(&lock_path(tmp.path(), SERIAL).display().to_string()));
    }

    /// Not a test by itself: the process `killed_holder_releases_the_lock`
    /// starts, which takes the lock, says so, and sleeps until killed.
    #[test]
    #[ignore = "helper process for killed_holder_releases_the_lock"]
    fn helper_hold_lock_until_killed() {
        let Some(dir) = std::env::var_os("VEGAS_TEST_LOCK_DIR") else {
            return;
        };
        let _lock = lock_device(Path::new(&dir), SERIAL, Duration::ZERO, &mut || {}).unwrap();
        println!("locked");
        std::thread::sleep(Duration::from_secs(60));
    }

    #[test]
    fn killed_holder_releases_the_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "cache::lock::tests::helper_hold_lock_until_killed",
            ])
            .args(["--ignored", "--nocapture", "--test-threads=1"])
            .env("VEGAS_TEST_LOCK_DIR", tmp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let locked = stdout
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains("locked"));
        assert!(locked, "the helper process took the lock");

        let busy = lock_device(tmp.path(), SERIAL, Duration::ZERO, &mut || {});
        assert!(
            matches!(busy, Err(Error::LockTimeout { .. })),
            "held by the helper"
        );

        child.kill().unwrap(); // SIGKILL: no destructor runs in the child
        child.wait().unwrap();
        lock_device(tmp.path(), SERIAL, Duration::from_secs(2), &mut || {}).unwrap();
    }
}
