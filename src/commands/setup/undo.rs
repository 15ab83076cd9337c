//! Nothing half-made: what `vegas setup` has made so far, undone in reverse
//! when a later step fails or the person presses Ctrl-C.
//!
//! Ctrl-C (and SIGTERM, or SIGHUP when the terminal closes) is caught only
//! while something exists to undo ([`Interrupt`]): it
//! sets a flag, the step under way finishes (a card waiting for a touch
//! cannot be stopped halfway), the flag is seen before the next step, and
//! the rollback runs as for any failure. Before the first thing is made,
//! and again once setup is done, Ctrl-C ends vegas as usual.
//!
//! The rollback undoes IAM before the key: an enabled device whose
//! deactivation IAM refuses (a policy that denies long-term keys without
//! MFA everything but a few actions does) still guards the user, and its
//! account on the YubiKey is then the only way to produce its codes. So the
//! OATH account is deleted only once the device is gone from IAM (or was
//! never enabled). When IAM refuses the long-term keys, setup asks the key
//! for one more code and tries again signed by an MFA session
//! (GetSessionToken); if that fails too, the account is kept, and
//! [`Leftovers`] says so.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::SigId;
use zeroize::Zeroizing;

use super::error::Error;
use super::Iam;
use crate::config::edit::{ConfigEdit, Written};
use crate::credentials::Credentials;
use crate::oath::{manage, Account, AccountId, OathType, PcscTransport, Session, TimeStep};
use crate::sts::iam::Operation;
use crate::ui::Ui;

/// The signals that would end setup halfway: Ctrl-C, a `kill`, and the
/// terminal closing.
const CAUGHT: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// Ctrl-C (SIGINT, SIGTERM, SIGHUP) turned into a flag, for as long as
/// this lives.
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    ids: Vec<SigId>,
}

impl Interrupt {
    pub fn catch() -> Result<Interrupt, Error> {
        let flag = Arc::new(AtomicBool::new(false));
        let mut interrupt = Interrupt {
            flag,
            ids: Vec::with_capacity(CAUGHT.len()),
        };
        for signal in CAUGHT {
            // On an error, dropping `interrupt` restores what was caught.
            let id =
                signal_hook::flag::register(signal, Arc::clone(&interrupt.flag)).map_err(|e| {
                    Error::Signal {
                        message: e.to_string(),
                    }
                })?;
            interrupt.ids.push(id);
        }
        Ok(interrupt)
    }

    /// [`Error::Interrupted`] once Ctrl-C was pressed.
    pub fn check(&self) -> Result<(), Error> {
        if self.flag.load(Ordering::SeqCst) {
            Err(Error::Interrupted {
                left: Leftovers::default(),
            })
        } else {
            Ok(())
        }
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
        // signal-hook leaves its handler installed with no action (the
        // signal ignored from then on): Ctrl-C must end vegas again.
        for signal in CAUGHT {
            // SAFETY: signal(2) with SIG_DFL installs no code of ours; setup
            // registers these signals once per process, so nothing else
            // relies on signal-hook's handler for them.
            unsafe { libc::signal(signal, libc::SIG_DFL) };
        }
    }
}

/// What exists because of this setup, newest last.
#[derive(Default)]
pub struct Made {
    /// The virtual MFA device (its serial), once CreateVirtualMFADevice
    /// may have made it.
    pub device: Option<String>,
    /// Whether EnableMFADevice tied it to the user.
    pub enabled: bool,
    /// The OATH account PUT on the key.
    pub account: Option<AccountId>,
    /// Whether that account needs a touch.
    pub touch: bool,
    /// The step of the last code IAM was sent, once the two were computed.
    pub codes_used_until: Option<TimeStep>,
    /// The config change written, and its backup.
    pub config: Option<(ConfigEdit, Written)>,
}

/// One thing the rollback could not (or, to keep the user able to sign
/// in, would not) remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leftover {
    /// The config file still has the change; the old bytes are in `backup`
    /// (`None`: there was no file before).
    Config {
        path: String,
        backup: Option<String>,
    },
    /// The device is still enabled for the user.
    DeviceEnabled { serial: String, user: String },
    /// The device, no longer enabled, still exists in IAM.
    Device { serial: String },
    /// The account is still on the YubiKey: kept because its device is
    /// still enabled, or its deletion failed.
    Account { id: String, kept: bool },
}

impl std::fmt::Display for Leftover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Leftover::Config {
                path,
                backup: Some(backup),
            } => write!(f, "{path} keeps the change (the old file is {backup})"),
            Leftover::Config { path, backup: None } => {
                write!(f, "{path}, which setup created, is still there")
            }
            Leftover::DeviceEnabled { serial, user } => write!(
                f,
                "MFA device {serial} stays enabled for {user} (IAM refused to deactivate it)"
            ),
            Leftover::Device { serial } => write!(f, "MFA device {serial} stays in IAM"),
            Leftover::Account { id, kept: true } => write!(
                f,
                "the OATH account \"{id}\" stays on the YubiKey, since its device is enabled"
            ),
            Leftover::Account { id, kept: false } => {
                write!(f, "the OATH account \"{id}\" stays on the YubiKey")
            }
        }
    }
}

impl Leftover {
    /// The command that removes it by hand.
    pub fn remedy(&self) -> String {
        match self {
            Leftover::Config {
                path,
                backup: Some(backup),
            } => format!("mv {backup} {path}"),
            Leftover::Config { path, backup: None } => format!("rm {path}"),
            Leftover::DeviceEnabled { serial, user } => format!(
                "with credentials of an MFA session — `aws sts get-session-token \
                 --serial-number {serial} --token-code CODE`, CODE from `ykman oath \
                 accounts code` for the account kept on the YubiKey (the config setup \
                 wrote is already put back) — run `aws iam deactivate-mfa-device \
                 --user-name {user} --serial-number {serial}`, then `aws iam \
                 delete-virtual-mfa-device --serial-number {serial}`"
            ),
            Leftover::Device { serial } => {
                format!("aws iam delete-virtual-mfa-device --serial-number {serial}")
            }
            Leftover::Account { id, .. } => format!("ykman oath accounts delete \"{id}\""),
        }
    }
}

/// What a rollback left behind (empty: everything setup made is gone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftovers(pub Vec<Leftover>);

impl std::fmt::Display for Leftovers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("everything setup had made was removed");
        }
        f.write_str("setup could not undo everything: ")?;
        for (i, left) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{left}")?;
        }
        Ok(())
    }
}

impl Leftovers {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The commands that finish the rollback by hand, in order.
    pub fn remedies(&self) -> String {
        let steps: Vec<String> = self.0.iter().map(Leftover::remedy).collect();
        steps.join("; then ")
    }
}

impl Made {
    /// Whether nothing was made (IAM refused the device, say).
    pub fn is_empty(&self) -> bool {
        self.device.is_none() && self.account.is_none() && self.config.is_none()
    }

    /// Undo everything: the config, then the device in IAM, then (only
    /// once no enabled device needs it) the account on the key. Each
    /// failure is warned about as it happens; what is left is returned.
    pub fn undo(
        self,
        iam: &Iam<'_>,
        session: &mut Session<PcscTransport>,
        ui: &dyn Ui,
    ) -> Leftovers {
        let mut left = Vec::new();
        if let Some((edit, written)) = &self.config {
            if let Err(e) = edit.undo(written) {
                ui.warn(&format!("could not restore {}: {e}", edit.path.display()));
                left.push(Leftover::Config {
                    path: edit.path.display().to_string(),
                    backup: written.backup.as_ref().map(|b| b.display().to_string()),
                });
            }
        }
        let device_enabled = match &self.device {
            Some(serial) => {
                let mut mfa_session = || self.mfa_session(serial, iam, session, ui);
                undo_device(serial, self.enabled, iam, &mut mfa_session, ui, &mut left)
            }
            None => false,
        };
        if let Some(id) = &self.account {
            if device_enabled {
                left.push(Leftover::Account {
                    id: id.text(),
                    kept: true,
                });
            } else {
                match manage::delete(session, id) {
                    Ok(()) | Err(crate::oath::Error::NoSuchAccount { .. }) => {}
                    Err(e) => {
                        ui.warn(&format!(
                            "could not delete the OATH account \"{}\" from the YubiKey: {e}",
                            id.text()
                        ));
                        left.push(Leftover::Account {
                            id: id.text(),
                            kept: false,
                        });
                    }
                }
            }
        }
        Leftovers(left)
    }
}

impl Made {
    /// An MFA session from one more code of the account on the key (the
    /// step after those IAM has seen), or `None`, warned about.
    fn mfa_session(
        &self,
        serial: &str,
        iam: &Iam<'_>,
        session: &mut Session<PcscTransport>,
        ui: &dyn Ui,
    ) -> Option<Credentials> {
        let (Some(id), Some(used)) = (&self.account, self.codes_used_until) else {
            return None;
        };
        let mut account = Account::new(id.clone(), OathType::Totp);
        account.touch = Some(self.touch);
        let next = step_start(used.index.saturating_add(1), used.period);
        let at = SystemTime::now().max(next);
        let step = TimeStep::at_time(at, used.period);
        ui.notice(&format!(
            "IAM refused to deactivate {serial} with the long-term keys; trying again \
             with an MFA session{}",
            if self.touch {
                ". Touch your YubiKey… (code 3)"
            } else {
                ""
            }
        ));
        let code = match session.calculate(&account, at) {
            Ok(code) => Zeroizing::new(code.expose().to_owned()),
            Err(e) => {
                ui.warn(&format!("no code for an MFA session: {e}"));
                return None;
            }
        };
        let credentials = iam.mfa_session(serial, code);
        super::record_used_steps(serial, step, ui);
        credentials
            .inspect_err(|e| ui.warn(&format!("no MFA session: {e}")))
            .ok()
    }
}

/// When step `index` of `period` seconds starts.
fn step_start(index: u64, period: u32) -> SystemTime {
    let seconds = index.saturating_mul(u64::from(period));
    SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(seconds))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Deactivate (when `enabled`) and delete the device, by the long-term keys
/// or, when IAM refuses them, by an MFA session from `mfa_session`;
/// whether the device is still enabled for the user afterwards.
fn undo_device(
    serial: &str,
    enabled: bool,
    iam: &Iam<'_>,
    mfa_session: &mut dyn FnMut() -> Option<Credentials>,
    ui: &dyn Ui,
    left: &mut Vec<Leftover>,
) -> bool {
    let gone = |e: &Error| matches!(e, Error::Iam(crate::sts::iam::Error::NoSuchEntity { .. }));
    let denied = |e: &Error| matches!(e, Error::Iam(crate::sts::iam::Error::AccessDenied { .. }));
    let mut signer: Option<Credentials> = None;
    if enabled {
        let deactivate = |signer: Option<&Credentials>| {
            let operation = Operation::DeactivateMfaDevice {
                user_name: iam.user_name().to_owned(),
                serial: serial.to_owned(),
            };
            match iam.call_as(signer, operation) {
                Err(e) if gone(&e) => Ok(()),
                other => other.map(|_| ()),
            }
        };
        let mut outcome = deactivate(None);
        if outcome.as_ref().is_err_and(denied) {
            signer = mfa_session();
            if let Some(credentials) = &signer {
                outcome = deactivate(Some(credentials));
            }
        }
        if let Err(e) = outcome {
            ui.warn(&format!(
                "could not deactivate the MFA device {serial}: {e}"
            ));
            left.push(Leftover::DeviceEnabled {
                serial: serial.to_owned(),
                user: iam.user_name().to_owned(),
            });
            return true;
        }
    }
    let delete = Operation::DeleteVirtualMfaDevice {
        serial: serial.to_owned(),
    };
    match iam.call_as(signer.as_ref(), delete) {
        Ok(_) => {}
        Err(e) if gone(&e) => {}
        Err(e) => {
            ui.warn(&format!("could not delete the MFA device {serial}: {e}"));
            left.push(Leftover::Device {
                serial: serial.to_owned(),
            });
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_c_kill_and_hangup_are_caught_then_end_vegas_again_once_the_guard_is_dropped() {
        let disposition = |signal| {
            // SAFETY: sigaction(2) only reads the current action here.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                assert_eq!(libc::sigaction(signal, std::ptr::null(), &mut old), 0);
                old.sa_sigaction
            }
        };
        let interrupt = Interrupt::catch().unwrap();
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            assert_ne!(disposition(signal), libc::SIG_DFL, "signal {signal}");
        }
        drop(interrupt);
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            assert_eq!(disposition(signal), libc::SIG_DFL, "signal {signal}");
        }
    }

    #[test]
    fn leftovers_say_what_stays_and_how_to_remove_it() {
        assert_eq!(
            Leftovers::default().to_string(),
            "everything setup had made was removed"
        );
        let left = Leftovers(vec![
            Leftover::DeviceEnabled {
                serial: "arn:aws:iam::1:mfa/d".into(),
                user: "alice".into(),
            },
            Leftover::Account {
                id: "arn:aws:iam::1:mfa/d".into(),
                kept: true,
            },
        ]);
        let text = left.to_string();
        assert!(text.contains("stays enabled for alice"), "{text}");
        assert!(text.contains("stays on the YubiKey"), "{text}");
        let remedies = left.remedies();
        assert!(
            remedies.contains("deactivate-mfa-device --user-name alice"),
            "{remedies}"
        );
        assert!(
            remedies.contains("ykman oath accounts delete"),
            "{remedies}"
        );
    }
}
