//! The code from a YubiKey's OATH application over PC/SC: the key chosen by
//! `vegas_yubikey_serial` (or `VEGAS_READER`), the account by
//! `vegas_yubikey_label` (default: `mfa_serial`).
//!
//! Opening is quick and happens before any race: [`oath::probe`] finds the
//! key, unlocks it with the access key kept in the cache (12 hours, by
//! device id) and finds the account — the same lookup `vegas doctor`
//! reports. Without a kept key, or when the card refuses it (the password
//! changed), the password is asked once through the UI and the new access
//! key kept. Only the CALCULATE of a touch account waits, and that is what
//! [`YubiKey`] as a [`Source`] does.

use std::sync::Mutex;
use std::time::SystemTime;

use zeroize::Zeroizing;

use super::{CodeRequest, Error, MfaCode, Outcome, Source, TimeStep};
use crate::cache::Cache;
use crate::oath::probe::{self, AccountProbe};
use crate::oath::{self, AccessKey, Account, AccountId, KeyInfo, PcscTransport, Session};
use crate::platform::unix_now;
use crate::ui::Ui;

/// A YubiKey opened and unlocked, with the account found.
pub struct YubiKey {
    account: Account,
    /// Taken by the one CALCULATE.
    session: Mutex<Option<Session<PcscTransport>>>,
}

impl YubiKey {
    /// Find the key, unlock its OATH applet and find the account. Asks for
    /// the OATH password (through `ui`) only when no cached access key works.
    pub fn open(
        request: &CodeRequest,
        cache: Option<&Cache>,
        ui: &dyn Ui,
    ) -> Result<YubiKey, Error> {
        let label = AccountId::new(&request.label);
        let remembered = |info: &KeyInfo| cache.and_then(|c| cached_access_key(c, &info.device_id));
        let found = match probe::find_account(&request.key, &label, remembered)? {
            AccountProbe::Locked {
                key,
                refused,
                session,
            } => {
                let session = unlock(session, &key, refused, cache, ui, request)?;
                probe::look_up(key, session, &label)?
            }
            other => other,
        };
        match found {
            AccountProbe::Found {
                key,
                account,
                session,
            } => {
                tracing::debug!(key = %key.label(), version = %key.version, "YubiKey and account found");
                Ok(YubiKey {
                    account,
                    session: Mutex::new(Some(session)),
                })
            }
            AccountProbe::NotFound { key, accounts } => {
                Err(no_such_account(&request.label, &key, &accounts))
            }
            AccountProbe::Locked { .. } => Err(oath::Error::WrongPassword.into()),
        }
    }

    /// Whether the account waits for a touch (so the code is worth racing).
    pub fn needs_touch(&self) -> bool {
        self.account.touch == Some(true)
    }

    /// The code, now (for an account that needs no touch).
    pub fn code_now(&self) -> Result<MfaCode, Error> {
        self.calculate()
    }

    fn calculate(&self) -> Result<MfaCode, Error> {
        let mut session = self
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
            .ok_or(Error::SessionSpent)?;
        let at = SystemTime::now();
        let code = session.calculate(&self.account, at)?;
        // An HOTP account has no step: take STS's current one.
        let step = code
            .step
            .unwrap_or_else(|| TimeStep::at_time(at, super::STS_PERIOD));
        Ok(MfaCode {
            digits: Zeroizing::new(code.expose().to_string()),
            step,
        })
    }
}

impl Source for YubiKey {
    /// Blocks inside a PC/SC transaction until the key is touched or gives
    /// up; cannot be interrupted, so a lost race abandons this thread.
    fn code(&self, waiting_for_touch: &(dyn Fn() + Sync)) -> Outcome {
        if self.needs_touch() {
            waiting_for_touch();
        }
        self.calculate().into()
    }
}

fn no_such_account(label: &str, key: &KeyInfo, accounts: &[oath::Account]) -> Error {
    let available = accounts.iter().map(|a| a.id.text()).collect::<Vec<_>>();
    Error::NoSuchAccount {
        label: label.to_string(),
        key: key.label(),
        available: if available.is_empty() {
            "no accounts".into()
        } else {
            available.join(", ")
        },
    }
}

/// Unlock an applet the remembered access key did not open (there was
/// none, or the card `refused` it: the password changed): the password is
/// asked once, and the key that works is kept for next time.
fn unlock(
    mut session: Session<PcscTransport>,
    info: &KeyInfo,
    refused: bool,
    cache: Option<&Cache>,
    ui: &dyn Ui,
    request: &CodeRequest,
) -> Result<Session<PcscTransport>, Error> {
    if refused {
        tracing::debug!("the cached access key no longer works; dropping it");
        if let Some(cache) = cache {
            forget_access_key(cache, &info.device_id, ui);
        }
        ui.notice(&format!(
            "The OATH password of YubiKey {} has changed.",
            info.label()
        ));
    }
    let key_name = format!("YubiKey {}", info.label());
    let password = super::ask_password(ui, &key_name, || Error::PasswordNeeded {
        key: key_name.clone(),
        profile: request.profile.clone(),
    })?;
    let key = session.derive_key(&password);
    session.unlock_with_key(&key)?;
    if let Some(cache) = cache {
        remember_access_key(cache, &info.device_id, &key, ui);
    }
    Ok(session)
}

fn cached_access_key(cache: &Cache, device_id: &str) -> Option<AccessKey> {
    match cache.get_access_key(device_id, unix_now()) {
        Ok(key) => key,
        Err(e) => {
            tracing::debug!("cannot read the cached access key: {e}");
            None
        }
    }
}

fn remember_access_key(cache: &Cache, device_id: &str, key: &AccessKey, ui: &dyn Ui) {
    if let Err(e) = cache.put_access_key(device_id, key, unix_now()) {
        ui.warn(&format!(
            "cannot keep the OATH access key in the keyring (the password will be asked again): {e}"
        ));
    }
}

/// Drop the key the card refused.
fn forget_access_key(cache: &Cache, device_id: &str, ui: &dyn Ui) {
    if let Err(e) = cache.forget_access_key(device_id) {
        ui.warn(&format!(
            "cannot drop the old OATH access key from the keyring: {e}"
        ));
    }
}
