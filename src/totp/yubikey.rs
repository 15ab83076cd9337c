//! The code from a YubiKey's OATH application over PC/SC: the key chosen by
//! `vegas_yubikey_serial` (or `VEGAS_READER`), the account by
//! `vegas_yubikey_label` (default: `mfa_serial`).
//!
//! Opening is quick and happens before any race: find the key, unlock it,
//! find the account. A password-protected applet is unlocked with the access
//! key kept in the cache (12 hours, by device id); without one, or when the
//! card refuses it (the password changed), the password is asked once on the
//! terminal and the new access key kept. Only the CALCULATE of a touch account
//! waits, and that is what [`YubiKey`] as a [`Source`] does.

use std::sync::Mutex;
use std::time::SystemTime;

use zeroize::Zeroizing;

use super::{CodeRequest, Error, MfaCode, Source, TimeStep};
use crate::cache::Cache;
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
        let (info, session) = oath::open_key(&request.key)?;
        tracing::debug!(key = %info.label(), version = %info.version, "YubiKey found");
        let mut session = unlock(session, &info, cache, ui, request)?;
        let account = find_account(&mut session, &info, &request.label)?;
        Ok(YubiKey {
            account,
            session: Mutex::new(Some(session)),
        })
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
            .ok_or(Error::Cancelled)?;
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
    fn code(&self, waiting_for_touch: &(dyn Fn() + Sync)) -> Result<MfaCode, Error> {
        if self.needs_touch() {
            waiting_for_touch();
        }
        self.calculate()
    }
}

fn find_account(
    session: &mut Session<PcscTransport>,
    info: &KeyInfo,
    label: &str,
) -> Result<Account, Error> {
    let wanted = AccountId::new(label);
    let mut accounts = session.accounts(SystemTime::now())?;
    match accounts.iter().position(|a| a.id == wanted) {
        Some(index) => Ok(accounts.swap_remove(index)),
        None => {
            let available = accounts.iter().map(|a| a.id.text()).collect::<Vec<_>>();
            Err(Error::NoSuchAccount {
                label: label.to_string(),
                key: info.label(),
                available: if available.is_empty() {
                    "no accounts".into()
                } else {
                    available.join(", ")
                },
            })
        }
    }
}

/// Unlock a password-protected applet: the cached access key first, else the
/// password asked once; a key that works is kept for next time.
fn unlock(
    mut session: Session<PcscTransport>,
    info: &KeyInfo,
    cache: Option<&Cache>,
    ui: &dyn Ui,
    request: &CodeRequest,
) -> Result<Session<PcscTransport>, Error> {
    if !session.has_password() {
        return Ok(session);
    }
    if let Some(key) = cache.and_then(|c| cached_access_key(c, &info.device_id)) {
        match session.unlock_with_key(&key) {
            Ok(()) => {
                tracing::debug!("unlocked with the cached access key");
                return Ok(session);
            }
            Err(oath::Error::WrongPassword) => {
                tracing::debug!("the cached access key no longer works; dropping it");
                if let Some(cache) = cache {
                    forget_access_key(cache, &info.device_id, ui);
                }
                ui.notice(&format!(
                    "The OATH password of YubiKey {} has changed.",
                    info.label()
                ));
                // A refused VALIDATE may end the card's challenge: SELECT again.
                session = Session::open(session.into_transport())?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let password = super::ask_password(ui, &format!("YubiKey {}", info.label()), request)?;
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
