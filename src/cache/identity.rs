//! What the cache keys are derived from: this boot, this host, this user
//! (none of it secret: any local process can read all three; it binds the
//! cache file to where it was written), and a random [`CacheSecret`] kept in
//! the kernel keyring (macOS: the Keychain), which no copy of the file and no
//! other user has. Any change makes every cached row unreadable: a miss,
//! never an error. See `docs/security.md`.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::Error;
use crate::platform::keyring::{self, KeyringError};

/// Bytes of the random cache secret.
pub(crate) const SECRET_LEN: usize = 32;

/// How long the keyring keeps the cache secret after the last write to the
/// cache: longer than any row lives (an MFA session lasts at most 36 h), so
/// a row never outlives the secret it was sealed with; an idle cache's
/// secret goes, and its rows with it.
const SECRET_LIFETIME: Duration = Duration::from_secs(48 * 60 * 60);

/// A random 256-bit secret per cache, created on first use and kept in the
/// keyring, never in a file. Mixed into the row keys with the
/// [`MachineIdentity`].
pub(crate) struct CacheSecret {
    name: String,
    bytes: Zeroizing<[u8; SECRET_LEN]>,
}

impl fmt::Debug for CacheSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CacheSecret").field(&self.name).finish()
    }
}

impl CacheSecret {
    /// The secret of the cache in `dir`: read from the keyring, or made and
    /// stored there when missing (first use, expired, removed), while
    /// `exclusive` is held so that racing first users agree on one. An error
    /// means no keyring: the caller does without.
    pub(crate) fn load_or_create(
        dir: &Path,
        exclusive: impl FnOnce() -> Option<super::DeviceLock>,
    ) -> Result<CacheSecret, KeyringError> {
        if let Some(secret) = CacheSecret::load(dir)? {
            return Ok(secret);
        }
        let mut secret = CacheSecret::empty(dir);
        let _held = exclusive();
        if keyring::load(&secret.name, secret.bytes.as_mut())?.is_some() {
            return Ok(secret); // another process made it meanwhile
        }
        getrandom::fill(secret.bytes.as_mut()).map_err(|_| KeyringError::Failed {
            action: "make a secret",
            reason: "the system gave no random numbers".into(),
        })?;
        keyring::store(&secret.name, secret.bytes.as_ref(), Some(SECRET_LIFETIME))?;
        Ok(secret)
    }

    /// The secret of the cache in `dir` if the keyring holds one: read
    /// only, creates nothing (for `vegas doctor`).
    pub(crate) fn load(dir: &Path) -> Result<Option<CacheSecret>, KeyringError> {
        let mut secret = CacheSecret::empty(dir);
        Ok(keyring::load(&secret.name, secret.bytes.as_mut())?.map(|_| secret))
    }

    fn empty(dir: &Path) -> CacheSecret {
        CacheSecret {
            name: format!("{}cache-secret", keyring_prefix(dir)),
            bytes: Zeroizing::new([0; SECRET_LEN]),
        }
    }

    pub(crate) fn bytes(&self) -> &[u8; SECRET_LEN] {
        &self.bytes
    }

    /// Restart the keyring's countdown (on every write to the cache),
    /// without rewriting the secret: a process holding an older copy never
    /// brings it back over a newer one or over `vegas cache clean`.
    pub(crate) fn keep_alive(&self) {
        if let Err(e) = keyring::renew(&self.name, SECRET_LIFETIME) {
            tracing::debug!("cannot keep the cache secret alive: {e}");
        }
    }
}

/// What the keyring entries of the cache in `dir` are named after:
/// `vegas:<16 hex digits of the directory's SHA-256>:`. One cache's secret
/// and access keys are apart from another's (a second cache directory, or
/// the many of a test suite run by one user).
pub(crate) fn keyring_prefix(dir: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let digest = Sha256::digest(dir.as_os_str().as_bytes());
    format!("vegas:{}:", super::hex(digest.get(..8).unwrap_or_default()))
}

/// Which protection the cache keys have on this machine: `vegas doctor`
/// shows it. Read-only: creates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protection {
    /// A random secret in the kernel keyring (macOS: the Keychain) is mixed
    /// in; OATH access keys are remembered there.
    Keyring,
    /// No keyring: keys from the boot id, host name and uid only, which any
    /// local process can read; OATH access keys are not remembered.
    MachineOnly { why: String },
}

impl fmt::Display for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protection::Keyring => f.write_str(
                "cache keys include a random secret kept in the kernel keyring; OATH access keys are kept there too (12 h)",
            ),
            Protection::MachineOnly { why } => write!(
                f,
                "{why}: cache keys come from the boot id, host name and uid only, and OATH access keys are not remembered"
            ),
        }
    }
}

/// The probe behind [`Protection`].
pub fn protection() -> Protection {
    match keyring::probe() {
        Ok(()) => Protection::Keyring,
        Err(e) => Protection::MachineOnly { why: e.to_string() },
    }
}

/// Boot id, host name and user id. Built from the machine by
/// [`MachineIdentity::current`], or explicitly in tests.
#[derive(Clone, PartialEq, Eq)]
pub struct MachineIdentity {
    boot_id: String,
    host: Vec<u8>,
    uid: u32,
}

impl MachineIdentity {
    pub fn new(boot_id: impl Into<String>, host: impl Into<Vec<u8>>, uid: u32) -> MachineIdentity {
        MachineIdentity {
            boot_id: boot_id.into(),
            host: host.into(),
            uid,
        }
    }

    /// This boot, host and (real) user.
    pub fn current() -> Result<MachineIdentity, Error> {
        use std::os::unix::ffi::OsStringExt;
        let host = gethostname::gethostname().into_vec();
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        Ok(MachineIdentity {
            boot_id: boot_id()?,
            host,
            uid,
        })
    }

    pub(crate) fn boot_id(&self) -> &str {
        &self.boot_id
    }

    pub(crate) fn host(&self) -> &[u8] {
        &self.host
    }

    pub(crate) fn uid(&self) -> u32 {
        self.uid
    }
}

impl fmt::Debug for MachineIdentity {
    /// The boot id is shortened: it is not secret, but there is no reason to
    /// spread all of the key material into logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let boot: String = self.boot_id.chars().take(4).collect();
        f.debug_struct("MachineIdentity")
            .field("boot_id", &format_args!("{boot}…"))
            .field("host", &String::from_utf8_lossy(&self.host))
            .field("uid", &self.uid)
            .finish()
    }
}

/// A random UUID the kernel picks at every boot. Unlike the boot time it
/// does not drift (WSL2 and suspended VMs move their boot time).
#[cfg(target_os = "linux")]
fn boot_id() -> Result<String, Error> {
    const PATH: &str = "/proc/sys/kernel/random/boot_id";
    let id = std::fs::read_to_string(PATH).map_err(|e| Error::Identity {
        what: PATH,
        source: Some(e),
    })?;
    let id = id.trim();
    if id.is_empty() {
        return Err(Error::Identity {
            what: PATH,
            source: None,
        });
    }
    Ok(id.to_string())
}

/// macOS has no boot id; the boot time (seconds and microseconds) is the
/// closest stable value for one boot.
#[cfg(target_os = "macos")]
fn boot_id() -> Result<String, Error> {
    const WHAT: &str = "sysctl kern.boottime";
    let mut boot_time = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = std::mem::size_of::<libc::timeval>();
    // SAFETY: the name is a NUL-terminated string; `boot_time` is a valid
    // timeval and `len` holds its size, which sysctl does not write past; no
    // new value is set (null pointer, length 0).
    let rc = unsafe {
        libc::sysctlbyname(
            c"kern.boottime".as_ptr(),
            (&mut boot_time as *mut libc::timeval).cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return Err(Error::Identity {
            what: WHAT,
            source: Some(std::io::Error::last_os_error()),
        });
    }
    if len != std::mem::size_of::<libc::timeval>() || boot_time.tv_sec == 0 {
        return Err(Error::Identity {
            what: WHAT,
            source: None,
        });
    }
    Ok(format!("{}.{:06}", boot_time.tv_sec, boot_time.tv_usec))
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn boot_id() -> Result<String, Error> {
    Err(Error::Identity {
        what: "a boot id (this system is not supported)",
        source: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_identity_is_stable_within_a_boot() {
        let a = MachineIdentity::current().unwrap();
        let b = MachineIdentity::current().unwrap();
        assert_eq!(a, b);
        assert!(!a.boot_id().is_empty());
        assert!(!a.boot_id().ends_with('\n'));
    }

    #[test]
    fn each_cache_directory_has_its_own_keyring_names() {
        let a = keyring_prefix(Path::new("/home/a/.cache/vegas"));
        let b = keyring_prefix(Path::new("/home/b/.cache/vegas"));
        assert_ne!(a, b);
        assert!(a.starts_with("vegas:") && a.ends_with(':') && a.len() == 6 + 16 + 1);
    }

    #[test]
    fn a_cache_secret_is_made_once_then_read_back() {
        if keyring::probe().is_err() {
            return; // no keyring here: the fallback is tested end to end
        }
        let dir = tempfile::tempdir().unwrap();
        let first = CacheSecret::load_or_create(dir.path(), || None).unwrap();
        let again = CacheSecret::load_or_create(dir.path(), || None).unwrap();
        assert_eq!(first.bytes(), again.bytes());
        assert_ne!(first.bytes(), &[0; SECRET_LEN]);
        keyring::forget(&first.name).unwrap();
        let fresh = CacheSecret::load_or_create(dir.path(), || None).unwrap();
        assert_ne!(
            first.bytes(),
            fresh.bytes(),
            "a forgotten secret is replaced"
        );
        keyring::forget(&fresh.name).unwrap();
        assert!(!format!("{fresh:?}").contains(&crate::cache::hex(fresh.bytes())));
    }

    #[test]
    fn debug_shortens_the_boot_id() {
        let id = MachineIdentity::new("0123456789abcdef", "host", 1000);
        let dbg = format!("{id:?}");
        assert!(!dbg.contains("0123456789abcdef"));
        assert!(dbg.contains("host"));
    }
}
