//! Nothing half-made: what `vegas setup` has made so far, undone in reverse
//! when a later step fails or the person presses Ctrl-C.
//!
//! Ctrl-C is caught only while something exists to undo ([`Interrupt`]): it
//! sets a flag, the step under way finishes (a card waiting for a touch
//! cannot be stopped halfway), the flag is seen before the next step, and
//! the rollback runs as for any failure. Before the first thing is made,
//! Ctrl-C ends vegas as usual.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::SIGINT;
use signal_hook::SigId;

use super::error::Error;
use super::Iam;
use crate::config::edit::{ConfigEdit, Written};
use crate::oath::{manage, AccountId, PcscTransport, Session};
use crate::sts::iam::{Answer, Operation};
use crate::ui::Ui;

/// Ctrl-C turned into a flag, for as long as this lives.
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    id: SigId,
}

impl Interrupt {
    pub fn catch() -> Result<Interrupt, Error> {
        let flag = Arc::new(AtomicBool::new(false));
        let id =
            signal_hook::flag::register(SIGINT, Arc::clone(&flag)).map_err(|e| Error::Signal {
                message: e.to_string(),
            })?;
        Ok(Interrupt { flag, id })
    }

    /// [`Error::Interrupted`] once Ctrl-C was pressed.
    pub fn check(&self) -> Result<(), Error> {
        if self.flag.load(Ordering::SeqCst) {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        signal_hook::low_level::unregister(self.id);
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
    /// The config change written, and its backup.
    pub config: Option<(ConfigEdit, Written)>,
}

impl Made {
    /// Whether nothing was made (IAM refused the device, say).
    pub fn is_empty(&self) -> bool {
        self.device.is_none() && self.account.is_none() && self.config.is_none()
    }

    /// Undo everything, newest first; what could not be undone is warned
    /// about with the command that undoes it by hand.
    pub fn undo(self, iam: &Iam<'_>, session: &mut Session<PcscTransport>, ui: &dyn Ui) {
        if let Some((edit, written)) = &self.config {
            if let Err(e) = edit.undo(written) {
                ui.warn(&format!(
                    "could not restore {}: {e}; its old content is in {}",
                    edit.path.display(),
                    written
                        .backup
                        .as_ref()
                        .map_or_else(|| "no backup".into(), |b| b.display().to_string())
                ));
            }
        }
        if let Some(id) = &self.account {
            match manage::delete(session, id) {
                Ok(()) | Err(crate::oath::Error::NoSuchAccount { .. }) => {}
                Err(e) => ui.warn(&format!(
                    "could not delete the OATH account \"{}\" from the YubiKey: {e}; \
                     remove it with `ykman oath accounts delete \"{}\"`",
                    id.text(),
                    id.text()
                )),
            }
        }
        let Some(serial) = &self.device else { return };
        if self.enabled {
            let deactivate = Operation::DeactivateMfaDevice {
                user_name: iam.user_name().to_owned(),
                serial: serial.clone(),
            };
            if let Err(e) = iam.call(deactivate).or_else(|e| match e {
                Error::Iam(crate::sts::iam::Error::NoSuchEntity { .. }) => Ok(Answer::Done),
                other => Err(other),
            }) {
                ui.warn(&format!(
                    "could not deactivate the MFA device {serial}: {e}; run \
                     `aws iam deactivate-mfa-device --user-name {} --serial-number {serial}`",
                    iam.user_name()
                ));
            }
        }
        let delete = Operation::DeleteVirtualMfaDevice {
            serial: serial.clone(),
        };
        match iam.call(delete) {
            Ok(_) | Err(Error::Iam(crate::sts::iam::Error::NoSuchEntity { .. })) => {}
            Err(e) => ui.warn(&format!(
                "could not delete the MFA device {serial}: {e}; run \
                 `aws iam delete-virtual-mfa-device --serial-number {serial}`"
            )),
        }
    }
}
