//! The code from a YubiKey's OATH application over PC/SC: the key chosen by
//! `vegas_yubikey_serial` (or `VEGAS_READER`), the account by
//! `vegas_yubikey_label` (default: `mfa_serial`).
//!
//! The fewest APDUs: opening the key is its OATH SELECT (the serial is read
//! only to choose among keys), and a password-protected applet is unlocked
//! with the access key kept for the device (VALIDATE). The account is not
//! looked up: its id is known, AWS MFA devices are TOTP, the period is in
//! the id, and the CALCULATE answer gives the digits; the key's accounts are
//! LISTed only to explain a CALCULATE answered "no such object". Without a
//! kept access key, or when the card refuses it (the password changed), the
//! password is asked once through the UI and the new access key kept.
//!
//! Whether the account needs a touch is not known before its CALCULATE
//! answers (a touch account answers only once touched), so the CALCULATE
//! runs as a raced [`Source`] and says it waits for a touch only when no
//! answer came within [`TOUCH_NOTICE_AFTER`], as ykman does.

use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

use super::{CodeRequest, Error, MfaCode, Outcome, Source, TimeStep};
use crate::cache::Cache;
use crate::oath::{self, AccessKey, Account, AccountId, KeyInfo, OathType, PcscTransport, Session};
use crate::platform::unix_now;
use crate::ui::Ui;

/// How long a CALCULATE may take before the person is told to touch the key:
/// ykman's half second. A CALCULATE that needs no touch answers in a few
/// tens of milliseconds even over a slow USB connection, so a key that needs
/// none is never announced as waiting, and a touch key is announced before
/// its light has blinked for long.
pub const TOUCH_NOTICE_AFTER: Duration = Duration::from_millis(500);

/// A YubiKey opened and unlocked, for one account.
pub struct YubiKey {
    key: KeyInfo,
    account: Account,
    /// Taken by the one CALCULATE.
    session: Mutex<Option<Session<PcscTransport>>>,
}

impl YubiKey {
    /// Find the key and unlock its OATH applet. Asks for the OATH password
    /// (through `ui`) only when no kept access key works. Sends SELECT and,
    /// with a kept access key, VALIDATE; nothing else. The card stays held
    /// until the CALCULATE is done: one transaction (none while a person
    /// types the password).
    pub fn open(
        request: &CodeRequest,
        cache: Option<&Cache>,
        ui: &dyn Ui,
    ) -> Result<YubiKey, Error> {
        let (key, mut session) = oath::open_key(&request.key)?;
        if session.has_password() {
            let remembered = cache.and_then(|c| cached_access_key(c, &key.device_id));
            // The card is held since the SELECT (see `oath::Session`): no
            // other program came between it and this VALIDATE, so a
            // refusal means the password changed.
            let refused = match remembered {
                None => false,
                Some(access_key) => match session.unlock_with_key(&access_key) {
                    Ok(()) => false,
                    Err(oath::Error::WrongPassword) => true,
                    Err(e) => return Err(e.into()),
                },
            };
            if !session.is_unlocked() {
                session = unlock(session, &key, refused, cache, ui, request)?;
            }
        }
        tracing::debug!(key = %key.label(), version = %key.version, "YubiKey opened");
        // AWS MFA devices are TOTP; the period comes from the id.
        let account = Account::new(AccountId::new(&request.label), OathType::Totp);
        Ok(YubiKey {
            key,
            account,
            session: Mutex::new(Some(session)),
        })
    }

    /// Whether the code may have to wait for a touch, so that it is raced
    /// with a typed code. vegas does not LIST on this path, so an account's
    /// touch setting is unknown until its CALCULATE answers: every code from
    /// the key is raced, and the race offers a typed code only once the key
    /// is announced as waiting (after [`TOUCH_NOTICE_AFTER`]).
    pub fn needs_touch(&self) -> bool {
        self.account.touch != Some(false)
    }

    /// The code, now (for an account that needs no touch).
    pub fn code_now(&self) -> Result<MfaCode, Error> {
        self.calculate(&|| {})
    }

    /// The one CALCULATE; `waiting_for_touch` is called when it has not
    /// answered within [`TOUCH_NOTICE_AFTER`] (at once for a known touch
    /// account). A missing account is explained with the key's LIST.
    fn calculate(&self, waiting_for_touch: &(dyn Fn() + Sync)) -> Result<MfaCode, Error> {
        let mut session = self
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
            .ok_or(Error::SessionSpent)?;
        let at = SystemTime::now();
        let notice_after = match self.account.touch {
            Some(true) => Duration::ZERO,
            Some(false) => Duration::MAX,
            None => TOUCH_NOTICE_AFTER,
        };
        let answer = announce_touch_after(notice_after, waiting_for_touch, || {
            session.calculate(&self.account, at)
        });
        let code = match answer {
            Err(missing @ oath::Error::NoSuchAccount { .. }) => {
                return Err(match session.list() {
                    Ok(accounts) => no_such_account(&self.account.id.text(), &self.key, &accounts),
                    Err(e) => {
                        tracing::debug!("cannot LIST the accounts to explain: {e}");
                        missing.into()
                    }
                });
            }
            other => other?,
        };
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

/// Run `work`; call `announce` if it has not finished after `delay`
/// (`Duration::MAX`: never; `Duration::ZERO`: before it starts).
pub(crate) fn announce_touch_after<R>(
    delay: Duration,
    announce: &(dyn Fn() + Sync),
    work: impl FnOnce() -> R,
) -> R {
    if delay == Duration::ZERO {
        announce();
        return work();
    }
    if delay == Duration::MAX {
        return work();
    }
    let (done, finished) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(delay) {
                announce();
            }
        });
        let result = work();
        drop(done);
        result
    })
}

impl Source for YubiKey {
    /// Blocks inside a PC/SC transaction until the key is touched or gives
    /// up; cannot be interrupted, so a lost race abandons this thread.
    fn code(&self, waiting_for_touch: &(dyn Fn() + Sync)) -> Outcome {
        self.calculate(waiting_for_touch).into()
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
    // The person is told which key: its serial, read only now.
    let mut info = info.clone();
    if info.serial.is_none() {
        info.serial = session.read_serial().unwrap_or_else(|e| {
            tracing::debug!("no serial to name the key: {e}");
            None
        });
    }
    let info = &info;
    // Other programs may use the card while the person types.
    session.release();
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
    session.unlock_afresh(&key)?;
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

#[cfg(test)]
#[path = "yubikey_tests.rs"]
mod tests;
