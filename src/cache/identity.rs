//! The environment the cache keys are derived from: this boot, this host,
//! this user. Any change makes every cached row unreadable (a miss).
//!
//! None of it is secret (any local process can read all three); it binds the
//! cache file to where it was written. See `docs/security.md`.

use std::fmt;

use super::Error;

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
    fn debug_shortens_the_boot_id() {
        let id = MachineIdentity::new("0123456789abcdef", "host", 1000);
        let dbg = format!("{id:?}");
        assert!(!dbg.contains("0123456789abcdef"));
        assert!(dbg.contains("host"));
    }
}
