//! The encrypted credential cache: why tools that cannot cache credentials
//! (CDK, Terraform, boto3 scripts, many parallel processes) do not ask for a
//! YubiKey touch on every call.
//!
//! * [`Cache`] (store.rs) is one SQLite file, `vegas.db`, in a `0700`
//!   directory. Rows are sealed by [`crypto`] with keys derived from the
//!   [`MachineIdentity`] (boot id, host name, user id): a reboot, another host
//!   or another user makes every row unreadable, which is a miss, never an
//!   error. See `docs/security.md` for what this does and does not protect.
//! * [`lock_device`] (lock.rs) is the single-flight lock: one kernel advisory
//!   lock per MFA device, so parallel processes produce one touch and one STS
//!   call, and a killed process never leaves a stale lock.
//!
//! * [`inspect`] is the read-only look `vegas doctor` takes: directory,
//!   modes, schema and rows, without repairing anything.
//!
//! The cache knows nothing about STS; `flow` composes the two.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use sha2::{Digest, Sha256};

mod crypto;
mod files;
mod identity;
pub mod inspect;
mod lock;
mod schema;
mod secrets;
mod store;

pub use identity::{protection, MachineIdentity, Protection};
pub use lock::{lock_device, lock_path, DeviceLock};
pub use schema::UPGRADED_IN_PLACE;
pub use secrets::{
    forget_remembered_access_keys, remembered_access_key, MfaSessionId, SecretInfo, SecretKind,
    SecretSubject, ACCESS_KEY_LIFETIME,
};
pub use store::{remove_set_aside_copies, Cache, FUTURE_TOLERANCE};

/// The database file inside the cache directory.
pub const DB_FILE_NAME: &str = "vegas.db";

/// How long a process waits for another one writing to the database.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Which cached credentials a request may be served: the profile name and a
/// SHA-256 of its resolved configuration, so a changed configuration (another
/// role, another MFA device, another duration) never serves stale credentials.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    profile: String,
    key: String,
}

impl CacheKey {
    /// `resolved_config_fields` are the `(name, value)` pairs that decide what
    /// credentials STS would issue. Their order does not matter.
    pub fn new(profile: &str, resolved_config_fields: &[(&str, &str)]) -> CacheKey {
        let mut fields = resolved_config_fields.to_vec();
        fields.sort_unstable();
        let mut hash = Sha256::new();
        length_prefixed(&mut hash, profile.as_bytes());
        for (name, value) in fields {
            length_prefixed(&mut hash, name.as_bytes());
            length_prefixed(&mut hash, value.as_bytes());
        }
        let digest = hash.finalize();
        CacheKey {
            profile: profile.to_string(),
            key: format!("{profile}:{}", hex(&digest)),
        }
    }

    /// The key as stored: `<profile>:<64 hex digits>`.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// The 64 hex digits of the configuration's digest.
    pub fn digest_hex(&self) -> &str {
        self.key
            .get(self.profile.len().saturating_add(1)..)
            .unwrap_or_default()
    }

    pub fn profile(&self) -> &str {
        &self.profile
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CacheKey").field(&self.key).finish()
    }
}

fn length_prefixed(hash: &mut Sha256, bytes: &[u8]) {
    hash.update((bytes.len() as u64).to_be_bytes());
    hash.update(bytes);
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// What a cached row was issued for; stored in clear beside the sealed
/// credentials so `vegas cache list` can show it without decrypting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryMeta {
    pub profile: String,
    pub role_arn: String,
    pub mfa_serial: String,
}

/// One row of `vegas cache list`. Nothing secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    pub profile: String,
    pub role_arn: String,
    pub mfa_serial: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Something the user should know about the cache, which did not stop it
/// from working. One line, never secret; the caller shows it on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The directory was readable or writable by others and was tightened.
    DirTightened { path: PathBuf, was: u32 },
    /// A cache file was readable or writable by others and was tightened.
    FileTightened { path: PathBuf, was: u32 },
    /// The database was not a vegas cache (or was damaged); it was kept
    /// under another name and a new one was made.
    MovedAside { to: PathBuf, reason: String },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::DirTightened { path, was } => write!(
                f,
                "cache directory {} was mode {was:04o}; tightened to 0700",
                path.display()
            ),
            Warning::FileTightened { path, was } => {
                write!(
                    f,
                    "cache file {} was mode {was:04o}; tightened to 0600",
                    path.display()
                )
            }
            Warning::MovedAside { to, reason } => write!(
                f,
                "the credential cache was unusable ({reason}); kept it as {} and started a new one",
                to.display()
            ),
        }
    }
}

/// Why the cache could not do what was asked. The caller of `vegas assume`
/// turns most of these into a warning and carries on uncached.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no place for the cache: neither VEGAS_CACHE_DIR, XDG_CACHE_HOME nor HOME is set")]
    NoDirectory,

    #[error("cannot create the cache directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("the cache directory {path} is not a directory")]
    NotADirectory { path: PathBuf },

    #[error("the cache directory {path} is a symbolic link")]
    Symlink { path: PathBuf },

    #[error("{path} is mode {mode:04o} (others may read it) and could not be tightened")]
    CannotTighten { path: PathBuf, mode: u32 },

    #[error("{path} is {why}; vegas does not use it")]
    Untrusted { path: PathBuf, why: String },

    #[error(transparent)]
    Place(#[from] crate::platform::DirError),

    #[error("the kernel keyring: {0}")]
    Keyring(crate::platform::keyring::KeyringError),

    #[error("the cache directory {path} belongs to user {owner}, not to you (user {uid})")]
    NotOwner { path: PathBuf, owner: u32, uid: u32 },

    #[error("permission denied on {path}")]
    PermissionDenied { path: PathBuf },

    #[error("the credential cache at {path} is read-only; nothing was stored")]
    ReadOnly { path: PathBuf },

    #[error("cannot read the machine identity ({what}) the cache keys are derived from")]
    Identity {
        what: &'static str,
        source: Option<std::io::Error>,
    },

    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cache database {path}: cannot {action}: {source}")]
    Sqlite {
        action: &'static str,
        path: PathBuf,
        source: rusqlite::Error,
    },

    #[error("{path} is not a usable vegas cache ({reason})")]
    NotACache { path: PathBuf, reason: String },

    #[error("cannot seal the credentials for the cache: {0}")]
    Encode(serde_json::Error),

    #[error("cannot seal the credentials for the cache: {what}")]
    Crypto { what: &'static str },

    #[error("TOTP time step {step} is out of range")]
    StepOutOfRange { step: u64 },

    #[error("gave up after {}s waiting for another vegas holding {path}", waited.as_secs())]
    LockTimeout { path: PathBuf, waited: Duration },
}

impl crate::hint::Hint for Error {
    fn hint(&self) -> Cow<'_, str> {
        match self {
            Error::NoDirectory => Cow::Borrowed("set VEGAS_CACHE_DIR (or HOME) to say where the cache lives"),
            Error::CreateDir { path, .. } => Cow::Owned(format!(
                "create {} yourself, or point VEGAS_CACHE_DIR at a directory you can write",
                path.display()
            )),
            Error::NotADirectory { .. } => {
                Cow::Borrowed("remove that file, or point VEGAS_CACHE_DIR at a directory")
            }
            Error::Symlink { .. } => Cow::Borrowed(
                "point VEGAS_CACHE_DIR at the directory itself, not at a link to it",
            ),
            Error::CannotTighten { .. } => Cow::Borrowed(
                "keep the cache on a file system with Unix permissions (VEGAS_CACHE_DIR); until then nothing is cached",
            ),
            Error::Untrusted { path, .. } => Cow::Owned(format!(
                "remove {} (vegas will make a new cache of its own)",
                path.display()
            )),
            Error::Place(e) => e.hint(),
            Error::Keyring(_) => Cow::Borrowed(
                "vegas goes on without what it keeps there (the cache, a remembered OATH password); \
                 `keyctl show @u` lists your keys, and `vegas cache clean` removes vegas's",
            ),
            Error::NotOwner { .. } => Cow::Borrowed(
                "use a cache directory of your own (VEGAS_CACHE_DIR); another user's could be read or swapped by them",
            ),
            Error::PermissionDenied { path } => Cow::Owned(format!(
                "check the owner and mode of {} (it should be yours, mode 0700 for the directory and 0600 for files)",
                path.display()
            )),
            Error::ReadOnly { .. } => Cow::Borrowed(
                "credentials still work but are fetched every time; point VEGAS_CACHE_DIR at a writable directory",
            ),
            Error::Identity { .. } => Cow::Borrowed(
                "vegas needs /proc/sys/kernel/random/boot_id (Linux) or kern.boottime (macOS) to cache credentials",
            ),
            Error::Io { path, .. } => {
                Cow::Owned(format!("check the permissions and free space of {}", path.display()))
            }
            Error::Sqlite { path, .. } => Cow::Owned(format!(
                "run `vegas cache clean`; if that fails too, delete {} (it only holds temporary credentials)",
                path.display()
            )),
            Error::NotACache { path, .. } => Cow::Owned(format!(
                "delete {} (it only holds temporary credentials)",
                path.display()
            )),
            Error::Encode(_) | Error::Crypto { .. } => {
                Cow::Borrowed("credentials still work but are not cached; please report this")
            }
            Error::StepOutOfRange { .. } => Cow::Borrowed("check the system clock"),
            Error::LockTimeout { path, .. } => Cow::Owned(format!(
                "another vegas is still waiting for a YubiKey touch; touch the key or end that process (lock file {})",
                path.display()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hint::Hint;

    #[test]
    fn cache_key_ignores_field_order_but_not_values() {
        let a = CacheKey::new("p", &[("role_arn", "r"), ("mfa_serial", "m")]);
        let b = CacheKey::new("p", &[("mfa_serial", "m"), ("role_arn", "r")]);
        let c = CacheKey::new("p", &[("mfa_serial", "m"), ("role_arn", "r2")]);
        let d = CacheKey::new("q", &[("mfa_serial", "m"), ("role_arn", "r")]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a.as_str().split(':').nth(1), d.as_str().split(':').nth(1));
        assert_eq!(a.profile(), "p");
        assert!(a.as_str().starts_with("p:"));
        assert_eq!(a.as_str().len(), 2 + 64);
    }

    #[test]
    fn cache_key_fields_cannot_be_shifted_between_name_and_value() {
        let a = CacheKey::new("p", &[("ab", "c")]);
        let b = CacheKey::new("p", &[("a", "bc")]);
        assert_ne!(a, b);
    }

    /// How many variants [`Error`] has; [`variant_number`] numbers them.
    const ERROR_VARIANTS: usize = 19;

    /// A distinct number below [`ERROR_VARIANTS`] for each variant. The
    /// match is exhaustive: a new variant does not compile until it gets a
    /// number here, and then [`one_error_of_each_variant`] misses it.
    fn variant_number(e: &Error) -> usize {
        match e {
            Error::NoDirectory => 0,
            Error::CreateDir { .. } => 1,
            Error::NotADirectory { .. } => 2,
            Error::NotOwner { .. } => 3,
            Error::PermissionDenied { .. } => 4,
            Error::ReadOnly { .. } => 5,
            Error::Identity { .. } => 6,
            Error::Io { .. } => 7,
            Error::Sqlite { .. } => 8,
            Error::NotACache { .. } => 9,
            Error::Encode(_) => 10,
            Error::Crypto { .. } => 11,
            Error::StepOutOfRange { .. } => 12,
            Error::LockTimeout { .. } => 13,
            Error::Symlink { .. } => 14,
            Error::CannotTighten { .. } => 15,
            Error::Untrusted { .. } => 16,
            Error::Place(_) => 17,
            Error::Keyring(_) => 18,
        }
    }

    fn io_error() -> std::io::Error {
        std::io::Error::other("disk full")
    }

    fn one_error_of_each_variant() -> Vec<Error> {
        vec![
            Error::NoDirectory,
            Error::CreateDir {
                path: "/x".into(),
                source: io_error(),
            },
            Error::NotADirectory { path: "/x".into() },
            Error::NotOwner {
                path: "/x".into(),
                owner: 1,
                uid: 2,
            },
            Error::PermissionDenied { path: "/x".into() },
            Error::ReadOnly { path: "/x".into() },
            Error::Identity {
                what: "boot id",
                source: Some(io_error()),
            },
            Error::Io {
                action: "write",
                path: "/x".into(),
                source: io_error(),
            },
            Error::Sqlite {
                action: "read",
                path: "/x/vegas.db".into(),
                source: rusqlite::Error::QueryReturnedNoRows,
            },
            Error::NotACache {
                path: "/x/vegas.db".into(),
                reason: "not a database".into(),
            },
            Error::Encode(serde_json::from_str::<u8>("x").unwrap_err()),
            Error::Crypto { what: "AES key" },
            Error::StepOutOfRange { step: u64::MAX },
            Error::LockTimeout {
                path: "/x/lock-ab".into(),
                waited: Duration::from_secs(120),
            },
            Error::Symlink { path: "/x".into() },
            Error::CannotTighten {
                path: "/x/vegas.db".into(),
                mode: 0o644,
            },
            Error::Untrusted {
                path: "/x/vegas.db".into(),
                why: "owned by user 1".into(),
            },
            Error::Place(crate::platform::DirError::Relative {
                variable: "VEGAS_CACHE_DIR",
                path: "cache".into(),
            }),
            Error::Keyring(crate::platform::keyring::KeyringError::Failed {
                action: "store a key",
                reason: "quota".into(),
            }),
        ]
    }

    #[test]
    fn the_error_list_holds_every_variant_once() {
        let mut numbers: Vec<usize> = one_error_of_each_variant()
            .iter()
            .map(variant_number)
            .collect();
        numbers.sort_unstable();
        assert_eq!(numbers, (0..ERROR_VARIANTS).collect::<Vec<_>>());
    }

    #[test]
    fn every_error_has_a_one_line_message_and_hint() {
        for e in one_error_of_each_variant() {
            assert!(!e.to_string().contains('\n'), "{e}");
            assert!(!e.hint().contains('\n'), "{e}");
            assert!(!e.hint().trim().is_empty(), "{e}");
        }
        let e = Error::LockTimeout {
            path: "/x/lock-ab".into(),
            waited: Duration::from_secs(120),
        };
        assert!(e.hint().contains("/x/lock-ab"));
        assert!(e.to_string().contains("120s"));
    }

    #[test]
    fn warnings_are_one_line() {
        let w = Warning::DirTightened {
            path: "/c".into(),
            was: 0o777,
        };
        assert_eq!(
            w.to_string(),
            "cache directory /c was mode 0777; tightened to 0700"
        );
        let w = Warning::MovedAside {
            to: "/c/vegas.db.corrupt-1".into(),
            reason: "not a database".into(),
        };
        assert!(!w.to_string().contains('\n'));
    }
}
