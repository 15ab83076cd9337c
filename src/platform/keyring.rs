//! Small secrets kept outside the file system, so that no copy of the home
//! directory (a backup, a disk image, another user reading a file) carries
//! them: on Linux the kernel's user keyring, on macOS the login Keychain.
//!
//! Linux: keys of type `user` in the user keyring (`KEY_SPEC_USER_KEYRING`,
//! `_uid.<uid>`). It is the one keyring every process of the user shares,
//! whatever terminal, session or service started it (a session keyring is
//! per login, so a credential_process started by an IDE would not see what
//! one started in a terminal stored). The keys grant the user (not only the
//! possessor) view, read, write, search and setattr, because a process
//! whose session keyring does not link the user keyring (pam_keyinit, some
//! service managers) does not possess them; group and others get nothing.
//! Where `keyctl` is refused (Docker's default seccomp profile answers
//! `EPERM`; some kernels have no keys at all, `ENOSYS`), every call says
//! [`KeyringError::Unavailable`] and the caller does without.
//!
//! macOS: generic passwords of service `vegas`, one account per name. This
//! path compiles only on macOS and is not tested on this project's machines.

use std::time::Duration;

/// Why the keyring could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    /// There is no keyring to use here (refused, or not in this kernel).
    #[error("no kernel keyring ({0})")]
    Unavailable(String),
    /// The keyring is there but the operation failed.
    #[error("the keyring refused to {action} ({reason})")]
    Failed {
        action: &'static str,
        reason: String,
    },
}

/// Keep `secret` under `name`, replacing what was there; the keyring
/// forgets it by itself after `timeout`, if given.
pub fn store(name: &str, secret: &[u8], timeout: Option<Duration>) -> Result<(), KeyringError> {
    imp::store(name, secret, timeout)
}

/// The secret under `name` into `buffer`: `Ok(Some(len))` when found and
/// exactly `buffer.len()` bytes long, `Ok(None)` when absent, expired or of
/// another length (never partly read into a caller's key).
pub fn load(name: &str, buffer: &mut [u8]) -> Result<Option<usize>, KeyringError> {
    imp::load(name, buffer)
}

/// Forget the secret under `name`; absent is fine.
pub fn forget(name: &str) -> Result<(), KeyringError> {
    imp::forget(name)
}

/// Forget every secret whose name starts with `prefix`. Returns how many.
pub fn forget_prefix(prefix: &str) -> Result<usize, KeyringError> {
    imp::forget_prefix(prefix)
}

/// Restart the countdown of the secret under `name`, leaving its value as
/// it is; absent is fine.
pub fn renew(name: &str, timeout: Duration) -> Result<(), KeyringError> {
    imp::renew(name, timeout)
}

/// Whether a keyring can be used here, changing nothing (for doctor).
pub fn probe() -> Result<(), KeyringError> {
    imp::probe()
}

#[cfg(target_os = "linux")]
mod imp {
    use super::KeyringError;
    use linux_keyutils::{
        Key, KeyError, KeyPermissionsBuilder, KeyRing, KeyRingIdentifier, KeySerialId, KeyType,
        Permission,
    };
    use std::time::Duration;

    fn keyring() -> Result<KeyRing, KeyringError> {
        KeyRing::from_special_id(KeyRingIdentifier::User, true)
            .map_err(|e| classify("open the user keyring", e))
    }

    /// `EPERM`, `EACCES`, `ENOSYS` and `ENOTSUP` say there is no keyring to
    /// use (a container's seccomp profile, a kernel without keys).
    fn classify(action: &'static str, e: KeyError) -> KeyringError {
        match e {
            KeyError::PermissionDenied
            | KeyError::AccessDenied
            | KeyError::OperationNotSupported => KeyringError::Unavailable(format!("{e:?}")),
            KeyError::Unknown(libc::ENOSYS) => {
                KeyringError::Unavailable("not in this kernel".into())
            }
            other => KeyringError::Failed {
                action,
                reason: format!("{other:?}"),
            },
        }
    }

    /// Absent, expired, revoked: the same as never stored.
    fn is_absent(e: &KeyError) -> bool {
        matches!(
            e,
            KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked
        )
    }

    fn find(ring: &KeyRing, name: &str) -> Result<Option<Key>, KeyringError> {
        match ring.search(name) {
            Ok(key) => Ok(Some(key)),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(classify("search", e)),
        }
    }

    pub fn store(name: &str, secret: &[u8], timeout: Option<Duration>) -> Result<(), KeyringError> {
        let ring = keyring()?;
        let key = ring
            .add_key(name, secret)
            .map_err(|e| classify("add a key", e))?;
        let user = Permission::VIEW
            | Permission::READ
            | Permission::WRITE
            | Permission::SEARCH
            | Permission::SETATTR;
        let perms = KeyPermissionsBuilder::builder()
            .posessor(Permission::ALL)
            .user(user)
            .build();
        let armed = key.set_perms(perms).and_then(|()| match timeout {
            Some(t) => key.set_timeout(usize::try_from(t.as_secs()).unwrap_or(usize::MAX)),
            None => Ok(()),
        });
        if let Err(e) = armed {
            // A key we cannot scope or time out is not one to leave behind.
            let _ = key.invalidate();
            return Err(classify("set the key's permissions and timeout", e));
        }
        Ok(())
    }

    pub fn load(name: &str, buffer: &mut [u8]) -> Result<Option<usize>, KeyringError> {
        // Reading creates nothing: no user keyring yet means no secret.
        let ring = match KeyRing::from_special_id(KeyRingIdentifier::User, false) {
            Ok(ring) => ring,
            Err(e) => match classify("open the user keyring", e) {
                KeyringError::Failed { .. } => return Ok(None),
                unavailable => return Err(unavailable),
            },
        };
        let Some(key) = find(&ring, name)? else {
            return Ok(None);
        };
        let mut view: &mut [u8] = buffer;
        match key.read(&mut view) {
            Ok(len) if len == view.len() => Ok(Some(len)),
            Ok(_) => {
                view.fill(0);
                Ok(None)
            }
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(classify("read a key", e)),
        }
    }

    pub fn forget(name: &str) -> Result<(), KeyringError> {
        let ring = keyring()?;
        // Every key of that name the user keyring still links.
        while let Some(key) = find(&ring, name)? {
            match key.invalidate() {
                Ok(()) => {}
                Err(e) if is_absent(&e) => return Ok(()),
                Err(e) => return Err(classify("invalidate a key", e)),
            }
        }
        Ok(())
    }

    pub fn forget_prefix(prefix: &str) -> Result<usize, KeyringError> {
        let mut forgotten = 0;
        for id in linked_ids()? {
            let key = Key::from_id(KeySerialId(id));
            let Ok(meta) = key.metadata() else { continue };
            let ours =
                meta.get_type() == KeyType::User && meta.get_description().starts_with(prefix);
            if ours && key.invalidate().is_ok() {
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }

    /// The serial numbers of everything the user keyring links, read with
    /// KEYCTL_READ and a buffer sized in bytes, as the kernel means it (the
    /// crate's `get_links` passes an element count, which overruns its
    /// buffer on a keyring of more than 1024 links).
    fn linked_ids() -> Result<Vec<i32>, KeyringError> {
        const GET_KEYRING_ID: libc::c_long = 0;
        const READ: libc::c_long = 11;
        const USER_KEYRING: libc::c_long = -4;
        let failed = |action| KeyringError::Failed {
            action,
            reason: std::io::Error::last_os_error().to_string(),
        };
        // SAFETY: KEYCTL_GET_KEYRING_ID takes two integers and touches no memory.
        let ring = unsafe { libc::syscall(libc::SYS_keyctl, GET_KEYRING_ID, USER_KEYRING, 0) };
        if ring < 0 {
            return Err(failed("open the user keyring"));
        }
        let mut ids: Vec<i32> = Vec::new();
        loop {
            let bytes = ids.capacity() * std::mem::size_of::<i32>();
            // SAFETY: the kernel writes at most `bytes` bytes into the
            // buffer, which has room for exactly that many.
            let needed =
                unsafe { libc::syscall(libc::SYS_keyctl, READ, ring, ids.as_mut_ptr(), bytes) };
            let Ok(needed) = usize::try_from(needed) else {
                return Err(failed("list the user keyring"));
            };
            if needed <= bytes {
                // SAFETY: the kernel wrote `needed` bytes of whole i32 ids.
                unsafe { ids.set_len(needed / std::mem::size_of::<i32>()) };
                return Ok(ids);
            }
            // It grew (or this was the sizing call): make room and read again.
            ids.reserve_exact(needed / std::mem::size_of::<i32>() + 16);
        }
    }

    /// Restart the countdown of the key `name` without rewriting it (a
    /// process holding an older copy must not bring it back).
    pub fn renew(name: &str, timeout: Duration) -> Result<(), KeyringError> {
        let Some(key) = find(&keyring()?, name)? else {
            return Ok(());
        };
        key.set_timeout(usize::try_from(timeout.as_secs()).unwrap_or(usize::MAX))
            .map_err(|e| classify("set a key's timeout", e))
    }

    pub fn probe() -> Result<(), KeyringError> {
        // GET_KEYRING_ID without creating: refused where keyctl is blocked.
        match KeyRing::from_special_id(KeyRingIdentifier::User, false) {
            Ok(_) => Ok(()),
            Err(e) => match classify("open the user keyring", e) {
                KeyringError::Failed { .. } => Ok(()), // not created yet
                unavailable => Err(unavailable),
            },
        }
    }
}

#[cfg(target_os = "macos")]
mod imp {
    //! Untested on this project's machines (see the module header).
    use super::KeyringError;
    use security_framework::passwords::{
        delete_generic_password, get_generic_password, set_generic_password,
    };
    use std::time::Duration;

    const SERVICE: &str = "vegas";
    /// `errSecItemNotFound`.
    const NOT_FOUND: i32 = -25300;

    fn failed(action: &'static str, e: security_framework::base::Error) -> KeyringError {
        KeyringError::Failed {
            action,
            reason: format!("OSStatus {}", e.code()),
        }
    }

    /// The Keychain has no timeout of its own: the caller's rows and MACs
    /// still bound how long a stored secret is any use.
    pub fn store(
        name: &str,
        secret: &[u8],
        _timeout: Option<Duration>,
    ) -> Result<(), KeyringError> {
        set_generic_password(SERVICE, name, secret).map_err(|e| failed("store a secret", e))
    }

    pub fn load(name: &str, buffer: &mut [u8]) -> Result<Option<usize>, KeyringError> {
        match get_generic_password(SERVICE, name) {
            Ok(secret) => {
                let secret = zeroize::Zeroizing::new(secret);
                if secret.len() != buffer.len() {
                    return Ok(None);
                }
                buffer.copy_from_slice(&secret);
                Ok(Some(buffer.len()))
            }
            Err(e) if e.code() == NOT_FOUND => Ok(None),
            Err(e) => Err(failed("read a secret", e)),
        }
    }

    /// The Keychain has no timeouts (see the module header).
    pub fn renew(_: &str, _: Duration) -> Result<(), KeyringError> {
        Ok(())
    }

    pub fn forget(name: &str) -> Result<(), KeyringError> {
        match delete_generic_password(SERVICE, name) {
            Ok(()) => Ok(()),
            Err(e) if e.code() == NOT_FOUND => Ok(()),
            Err(e) => Err(failed("delete a secret", e)),
        }
    }

    pub fn forget_prefix(prefix: &str) -> Result<usize, KeyringError> {
        use security_framework::item::{ItemClass, ItemSearchOptions, Limit};
        let found = ItemSearchOptions::new()
            .class(ItemClass::generic_password())
            .service(SERVICE)
            .load_attributes(true)
            .limit(Limit::All)
            .search();
        let results = match found {
            Ok(results) => results,
            Err(e) if e.code() == NOT_FOUND => return Ok(0),
            Err(e) => return Err(failed("list secrets", e)),
        };
        let mut forgotten = 0;
        for result in results {
            let Some(account) = result
                .simplify_dict()
                .and_then(|attributes| attributes.get("acct").cloned())
            else {
                continue;
            };
            if account.starts_with(prefix) && forget(&account).is_ok() {
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }

    pub fn probe() -> Result<(), KeyringError> {
        Ok(())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod imp {
    use super::KeyringError;
    use std::time::Duration;

    fn none() -> KeyringError {
        KeyringError::Unavailable("not supported on this system".into())
    }

    pub fn store(_: &str, _: &[u8], _: Option<Duration>) -> Result<(), KeyringError> {
        Err(none())
    }

    pub fn load(_: &str, _: &mut [u8]) -> Result<Option<usize>, KeyringError> {
        Err(none())
    }

    pub fn forget(_: &str) -> Result<(), KeyringError> {
        Err(none())
    }

    pub fn renew(_: &str, _: Duration) -> Result<(), KeyringError> {
        Err(none())
    }

    pub fn forget_prefix(_: &str) -> Result<usize, KeyringError> {
        Err(none())
    }

    pub fn probe() -> Result<(), KeyringError> {
        Err(none())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// A name no other test or run shares.
    fn unique(what: &str) -> String {
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).unwrap();
        format!("vegas-test:{what}:{}", crate::cache::hex(&nonce))
    }

    #[test]
    fn a_stored_secret_loads_back_and_is_forgotten() {
        if probe().is_err() {
            return; // no keyring here (a container): nothing to test
        }
        let name = unique("roundtrip");
        store(&name, &[7u8; 32], Some(Duration::from_secs(60))).unwrap();
        let mut buffer = [0u8; 32];
        assert_eq!(load(&name, &mut buffer).unwrap(), Some(32));
        assert_eq!(buffer, [7u8; 32]);
        let mut wrong_size = [0u8; 16];
        assert_eq!(load(&name, &mut wrong_size).unwrap(), None);
        assert_eq!(wrong_size, [0u8; 16], "nothing partly read");
        forget(&name).unwrap();
        assert_eq!(load(&name, &mut buffer).unwrap(), None);
        forget(&name).unwrap();
    }

    #[test]
    fn forget_prefix_forgets_those_names_only() {
        if probe().is_err() {
            return;
        }
        let prefix = unique("prefix");
        let other = unique("other");
        for name in [format!("{prefix}:a"), format!("{prefix}:b"), other.clone()] {
            store(&name, b"x", Some(Duration::from_secs(60))).unwrap();
        }
        assert_eq!(forget_prefix(&prefix).unwrap(), 2);
        let mut one = [0u8; 1];
        assert_eq!(load(&format!("{prefix}:a"), &mut one).unwrap(), None);
        assert_eq!(load(&other, &mut one).unwrap(), Some(1));
        forget(&other).unwrap();
    }
}
