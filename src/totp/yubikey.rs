//! The code from a YubiKey's OATH application over PC/SC: the key chosen by
//! `vegas_yubikey_serial` (or `VEGAS_READER`), the account by
//! `vegas_yubikey_label` (default: `mfa_serial`).

use std::time::SystemTime;

use zeroize::Zeroizing;

use super::{Error, MfaCode, TimeStep};
use crate::config::Profile;
use crate::oath::{self, AccountId, KeySelector};
use crate::ui::Ui;

/// Ask the YubiKey for the current code of the profile's account. Shows
/// "Touch your YubiKey…" when the account needs a touch, and blocks until it
/// is touched (or the key gives up).
pub fn code(profile: &Profile, at: SystemTime, ui: &dyn Ui) -> Result<MfaCode, Error> {
    let selector = KeySelector {
        serial: profile.yubikey_serial.as_ref().map(|s| s.value),
        reader: std::env::var("VEGAS_READER").ok().filter(|r| !r.is_empty()),
    };
    let (info, mut session) = oath::open_key(&selector)?;
    tracing::debug!(key = %info.label(), version = %info.version, "YubiKey found");
    if session.has_password() {
        let prompt = format!("OATH password for YubiKey {}: ", info.label());
        let password = match ui.ask_secret(&prompt) {
            Some(answer) => answer.map_err(oath::Error::PasswordInput)?,
            None => return Err(oath::Error::PasswordRequired.into()),
        };
        session.unlock_with_password(&password)?;
    }

    let wanted = AccountId::new(&profile.yubikey_label.value);
    let accounts = session.accounts(at)?;
    let Some(account) = accounts.iter().find(|a| a.id == wanted) else {
        let available = accounts.iter().map(|a| a.id.text()).collect::<Vec<_>>();
        return Err(Error::NoSuchAccount {
            label: profile.yubikey_label.value.clone(),
            key: info.label(),
            available: if available.is_empty() {
                "no accounts".into()
            } else {
                available.join(", ")
            },
        });
    };
    if account.touch == Some(true) {
        ui.notice(&format!(
            "Touch your YubiKey ({}) for {}…",
            info.label(),
            profile.name
        ));
    }
    let code = session.calculate(account, at)?;
    let step = code
        .step
        .map(|s| TimeStep(s.index))
        .unwrap_or_else(|| TimeStep::at(at));
    Ok(MfaCode {
        digits: Zeroizing::new(code.expose().to_string()),
        step,
    })
}
