//! The other programs on a desk that take a YubiKey's smart card for
//! themselves, so that `vegas doctor` can name them when the key is busy:
//! GnuPG's scdaemon (which, left to its defaults, holds the card, or the
//! whole reader through its own CCID driver, for as long as it runs),
//! yubikey-agent, and Yubico Authenticator. Read-only probes: nothing here
//! stops a process or changes a file.

use std::path::{Path, PathBuf};

/// A process that may hold the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// What it is: "scdaemon", "yubikey-agent", "Yubico Authenticator".
    pub program: &'static str,
    pub pid: u32,
}

/// The usual holder a process name (`/proc/PID/comm`, at most 15
/// characters) belongs to, if any.
pub fn holder_of(comm: &str) -> Option<&'static str> {
    let comm = comm.trim();
    match comm {
        "scdaemon" => Some("scdaemon"),
        "yubikey-agent" => Some("yubikey-agent"),
        _ if comm.to_lowercase().contains("authenticator") || comm.starts_with("yubioath") => {
            Some("Yubico Authenticator")
        }
        _ => None,
    }
}

/// The usual holders running now (Linux, from `/proc`; elsewhere none is
/// seen), in pid order.
pub fn running_holders() -> Vec<Holder> {
    running_holders_in(Path::new("/proc"))
}

fn running_holders_in(proc: &Path) -> Vec<Holder> {
    let Ok(entries) = std::fs::read_dir(proc) else {
        return Vec::new();
    };
    let mut holders: Vec<Holder> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            Some(Holder {
                program: holder_of(&comm)?,
                pid,
            })
        })
        .collect();
    holders.sort_by_key(|h| h.pid);
    holders
}

/// What `scdaemon.conf` says about sharing the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScdaemonSharing {
    pub path: PathBuf,
    /// `disable-ccid`: scdaemon uses pcscd instead of taking the USB device.
    pub disable_ccid: bool,
    /// `pcsc-shared`: scdaemon opens the card shared instead of exclusively.
    pub pcsc_shared: bool,
}

impl ScdaemonSharing {
    /// Whether scdaemon leaves the key to others (both settings present).
    pub fn shares(&self) -> bool {
        self.disable_ccid && self.pcsc_shared
    }

    /// The settings missing, as they are written in the file.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if !self.disable_ccid {
            missing.push("disable-ccid");
        }
        if !self.pcsc_shared {
            missing.push("pcsc-shared");
        }
        missing
    }
}

/// The sharing settings of GnuPG's scdaemon, when GnuPG is installed
/// (`gpgconf` or `gpg` on PATH); a missing file has neither setting.
pub fn scdaemon_sharing() -> Option<ScdaemonSharing> {
    crate::platform::find_program("gpgconf").or_else(|| crate::platform::find_program("gpg"))?;
    let home = std::env::var_os("GNUPGHOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".gnupg")))?;
    let path = home.join("scdaemon.conf");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    Some(parse_scdaemon_conf(path, &text))
}

/// Options are one per line, the first word; `#` starts a comment.
pub fn parse_scdaemon_conf(path: PathBuf, text: &str) -> ScdaemonSharing {
    let options: Vec<&str> = text
        .lines()
        .filter_map(|line| line.split('#').next()?.split_whitespace().next())
        .collect();
    ScdaemonSharing {
        path,
        disable_ccid: options.contains(&"disable-ccid"),
        pcsc_shared: options.contains(&"pcsc-shared"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_holders_are_known_by_their_process_names() {
        assert_eq!(holder_of("scdaemon\n"), Some("scdaemon"));
        assert_eq!(holder_of("yubikey-agent"), Some("yubikey-agent"));
        assert_eq!(holder_of("authenticator"), Some("Yubico Authenticator"));
        assert_eq!(holder_of("yubioath-deskto"), Some("Yubico Authenticator"));
        assert_eq!(holder_of("gpg-agent"), None);
        assert_eq!(holder_of("bash"), None);
    }

    #[test]
    fn running_holders_are_read_from_a_proc_tree() {
        let proc = tempfile::tempdir().unwrap();
        for (pid, comm) in [
            ("42", "scdaemon\n"),
            ("7", "yubikey-agent\n"),
            ("9", "bash\n"),
        ] {
            std::fs::create_dir(proc.path().join(pid)).unwrap();
            std::fs::write(proc.path().join(pid).join("comm"), comm).unwrap();
        }
        std::fs::create_dir(proc.path().join("self")).unwrap();
        assert_eq!(
            running_holders_in(proc.path()),
            vec![
                Holder {
                    program: "yubikey-agent",
                    pid: 7
                },
                Holder {
                    program: "scdaemon",
                    pid: 42
                },
            ]
        );
    }

    #[test]
    fn scdaemon_conf_shares_only_with_both_settings_outside_comments() {
        let conf = |text: &str| parse_scdaemon_conf(PathBuf::from("c"), text);
        assert!(conf("disable-ccid\npcsc-shared\n").shares());
        assert!(conf("  disable-ccid  # use pcscd\npcsc-shared").shares());
        let half = conf("# pcsc-shared\ndisable-ccid\n");
        assert!(!half.shares());
        assert_eq!(half.missing(), ["pcsc-shared"]);
        assert_eq!(conf("").missing(), ["disable-ccid", "pcsc-shared"]);
    }
}
