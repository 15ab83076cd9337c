//! Getting the MFA code for a device: from the command line, or from the
//! YubiKey over PC/SC.
//!
//! Every way of getting a code yields a [`MfaCode`]: the digits (wiped on
//! drop, masked in `Debug`) and the 30-second time step they belong to, which
//! the cache records so a second profile on the same device never sends STS a
//! code it has already seen.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

pub mod yubikey;

/// STS's MFA time step: 30 seconds.
pub const STEP_SECONDS: u64 = 30;

/// A TOTP time step, `floor(unix_time / 30)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeStep(pub u64);

impl TimeStep {
    pub fn at(time: SystemTime) -> TimeStep {
        let secs = time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        TimeStep(secs / STEP_SECONDS)
    }

    pub fn now() -> TimeStep {
        TimeStep::at(SystemTime::now())
    }

    /// When this step begins.
    pub fn start(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0.saturating_mul(STEP_SECONDS))
    }

    pub fn next(self) -> TimeStep {
        TimeStep(self.0.saturating_add(1))
    }
}

/// An MFA code and the time step it was made for.
pub struct MfaCode {
    pub digits: Zeroizing<String>,
    pub step: TimeStep,
}

impl fmt::Debug for MfaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaCode")
            .field("digits", &"<redacted>")
            .field("step", &self.step)
            .finish()
    }
}

impl MfaCode {
    /// A code typed or given on the command line: 6 to 8 digits, taken to
    /// belong to the current step.
    pub fn given(code: &str) -> Result<MfaCode, Error> {
        let code = code.trim();
        if !(6..=8).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::MalformedCode);
        }
        Ok(MfaCode {
            digits: Zeroizing::new(code.to_string()),
            step: TimeStep::now(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the MFA code must be 6 to 8 digits")]
    MalformedCode,
    #[error(transparent)]
    YubiKey(#[from] crate::oath::Error),
    #[error("no OATH account '{label}' on YubiKey {key}; it has: {available}")]
    NoSuchAccount {
        label: String,
        key: String,
        available: String,
    },
}

impl crate::error::Hint for Error {
    fn hint(&self) -> Cow<'_, str> {
        match self {
            Error::MalformedCode => Cow::Borrowed("give the code shown by your authenticator, e.g. --token-code 123456"),
            Error::YubiKey(e) => e.hint(),
            Error::NoSuchAccount { .. } => Cow::Borrowed(
                "set vegas_yubikey_label on the source profile to the account id shown by `vegas oath list`",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_codes_must_be_six_to_eight_digits() {
        assert!(MfaCode::given("123456").is_ok());
        assert!(MfaCode::given(" 12345678\n").is_ok());
        for bad in ["12345", "123456789", "12345a", "", "１２３４５６"] {
            assert!(
                matches!(MfaCode::given(bad), Err(Error::MalformedCode)),
                "{bad}"
            );
        }
    }

    #[test]
    fn time_steps_are_thirty_seconds() {
        let t = UNIX_EPOCH + Duration::from_secs(59);
        assert_eq!(TimeStep::at(t), TimeStep(1));
        assert_eq!(TimeStep(2).start(), UNIX_EPOCH + Duration::from_secs(60));
    }

    #[test]
    fn code_debug_hides_digits() {
        let code = MfaCode::given("987654").unwrap();
        assert!(!format!("{code:?}").contains("987654"));
    }
}
