//! Getting the MFA code for a device, in every place `vegas assume` runs: a
//! terminal, an IDE with no terminal, a CI job with nothing at all.
//!
//! Three kinds of [`Source`] yield a code: the YubiKey over PC/SC
//! ([`yubikey`]), the `ykman` program ([`ykman`]), and a person typing it
//! ([`typed`], asked only through [`crate::ui::Ui`]: on the terminal, or in
//! a dialog when there is none). The profile's backend picks the key source;
//! the typed code is offered alongside whenever there is a way to ask.
//! [`race`] runs them at once and takes the first valid code. [`get_code`]
//! puts it together and never hangs: with no key and no way to ask it fails
//! at once, naming what it tried; [`ensure_a_way`] says so beforehand,
//! asking nothing. A source reports an [`Outcome`]; [`Error`] holds only
//! what a person may be shown.
//!
//! Every source yields a [`MfaCode`]: the digits (wiped on drop, masked in
//! `Debug`) and the time step they belong to, in their account's period
//! (STS's 30 seconds for a typed code or ykman's); the flow records when
//! that step ends, so a second profile on the same device never sends STS a
//! code it has already seen.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

use crate::config::{Backend, Profile};
use crate::oath::KeySelector;

mod get;
pub mod race;
#[cfg(test)]
pub mod testing;
pub mod typed;
pub mod ykman;
pub mod yubikey;

pub use crate::ui::PromptWays;
pub(crate) use get::ask_password;
pub use get::{ensure_a_way, ensure_a_way_for, get_code};

/// The period of the codes STS accepts for an MFA device: 30 seconds.
pub const STS_PERIOD: u32 = 30;

/// How many answers one code prompt takes: after this many malformed ones
/// it gives up.
pub const TYPING_TRIES: u32 = 3;

pub use crate::oath::TimeStep;

/// The 30-second step STS counts in, now: the step of a code typed by a
/// person or printed by ykman, which say nothing of their own.
pub fn sts_step_now() -> TimeStep {
    TimeStep::at_time(SystemTime::now(), STS_PERIOD)
}

/// An MFA code and the time step it was made for (in its account's period).
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
            step: sts_step_now(),
        })
    }
}

/// Something that yields an MFA code: a YubiKey, `ykman`, a person typing.
///
/// [`Source::code`] runs on a thread of its own and may block (a touch, a
/// person). [`Source::cancel`] is called from another thread when another
/// source won or time ran out: it must make `code` give up soon (with
/// [`Outcome::Cancelled`]) and leave nothing behind (a child process, a
/// terminal in another mode). A source that cannot be interrupted (a PC/SC
/// CALCULATE waiting for a touch) keeps the default, and its thread is
/// abandoned; the process exits soon after.
pub trait Source: Send + Sync {
    /// Block until the source comes to an [`Outcome`]. Calls
    /// `waiting_for_touch` when it starts waiting for the user to touch the
    /// key.
    fn code(&self, waiting_for_touch: &(dyn Fn() + Sync)) -> Outcome;

    /// Make a running [`Source::code`] give up and clean up after itself.
    fn cancel(&self) {}
}

/// What a [`Source`] came to.
#[derive(Debug)]
pub enum Outcome {
    /// The code.
    Code(MfaCode),
    /// It stopped because [`Source::cancel`] was called.
    Cancelled,
    /// ykman stopped to ask for the OATH password: run it again with one.
    PasswordNeeded,
    /// No code, for a reason the person may be shown.
    Failed(Error),
}

impl From<Result<MfaCode, Error>> for Outcome {
    fn from(result: Result<MfaCode, Error>) -> Outcome {
        match result {
            Ok(code) => Outcome::Code(code),
            Err(e) => Outcome::Failed(e),
        }
    }
}

/// Everything the sources need to know about the code wanted.
#[derive(Debug, Clone)]
pub struct CodeRequest {
    /// The profile the code is for (named in prompts).
    pub profile: String,
    /// The MFA device's ARN (named in prompts).
    pub mfa_serial: String,
    /// The OATH account on the YubiKey.
    pub label: String,
    pub key: KeySelector,
    pub backend: Backend,
    pub prompt: PromptWays,
    /// The longest the whole wait may take.
    pub timeout: Duration,
}

impl CodeRequest {
    pub fn for_profile(profile: &Profile, prompt: PromptWays) -> CodeRequest {
        CodeRequest {
            profile: profile.name.clone(),
            mfa_serial: profile.mfa_serial.value.clone(),
            label: profile.yubikey_label.value.clone(),
            key: KeySelector {
                serial: profile.yubikey_serial.as_ref().map(|s| s.value),
                reader: crate::platform::reader_from_env(),
            },
            backend: profile.yubikey_backend.value,
            prompt,
            timeout: Duration::from_secs(profile.mfa_timeout.value),
        }
    }
}

/// One way of getting the code that was tried, and why it gave none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tried {
    pub way: &'static str,
    pub why: String,
}

impl fmt::Display for Tried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.way, self.why)
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
    #[error("{key} has an OATH password, and there is no terminal to ask for it")]
    PasswordNeeded { key: String, profile: String },
    /// ykman wants the OATH password and there is no way to ask for it.
    #[error("the YubiKey has an OATH password, and there is no terminal to ask for it (ykman)")]
    YkmanPasswordNeeded,
    #[error("ykman found no YubiKey: {0}")]
    YkmanNoKey(String),
    #[error("ykman found several YubiKeys: {0}")]
    YkmanSeveralKeys(String),
    #[error("no OATH account '{label}' on the YubiKey (ykman: No matching account found.)")]
    YkmanNoAccount { label: String },
    #[error("ykman failed: {0}")]
    YkmanFailed(String),
    #[error("cannot run ykman: {0}")]
    YkmanSpawn(std::io::Error),
    #[error("no valid MFA code was typed ({TYPING_TRIES} tries)")]
    NotTyped,
    #[error("the MFA code prompt was closed without a code")]
    PromptClosed,
    #[error("cannot ask for the MFA code: {0}")]
    PromptFailed(String),
    #[error("no MFA code within {seconds} s")]
    TimedOut { seconds: u64 },
    #[error("no way to get an MFA code: {}", tried.iter().map(Tried::to_string).collect::<Vec<_>>().join("; "))]
    NoWay { tried: Vec<Tried> },
    /// The opened key was asked for a second code (a bug: each opening
    /// serves one CALCULATE).
    #[error("the YubiKey session was already used for a code")]
    SessionSpent,
}

impl Error {
    /// PC/SC itself cannot be used here: the case where `auto` tries ykman.
    pub fn pcsc_unavailable(&self) -> bool {
        use crate::oath::Error as Oath;
        matches!(
            self,
            Error::YubiKey(Oath::PcscdNotRunning | Oath::NoReaders)
        )
    }

    /// The reader of a key that is there but held by another program
    /// (scdaemon, an authenticator): ykman may still reach it, a typed code
    /// may still do, and if neither does this stays the error.
    pub fn busy_reader(&self) -> Option<&str> {
        match self {
            Error::YubiKey(crate::oath::Error::KeyBusy { reader }) => Some(reader),
            _ => None,
        }
    }

    /// The key cannot be asked now, missing or busy: a typed code is offered
    /// in its place.
    pub fn leaves_the_key_out_of_reach(&self) -> bool {
        self.means_no_key() || self.busy_reader().is_some()
    }

    /// No key to ask (as opposed to a key that refused): a typed code may
    /// still do.
    pub fn means_no_key(&self) -> bool {
        use crate::oath::Error as Oath;
        match self {
            Error::YubiKey(e) => matches!(
                e,
                Oath::PcscdNotRunning
                    | Oath::NoReaders
                    | Oath::NoYubiKey { .. }
                    | Oath::NoMatchingKey { .. }
                    | Oath::CardRemoved { .. }
            ),
            Error::YkmanNoKey(_) => true,
            Error::YkmanSpawn(e) => e.kind() == std::io::ErrorKind::NotFound,
            _ => false,
        }
    }
}

impl crate::hint::Hint for Error {
    fn hint(&self) -> Cow<'_, str> {
        match self {
            Error::MalformedCode => Cow::Borrowed("give the code shown by your authenticator, e.g. --token-code 123456"),
            Error::YubiKey(e) => e.hint(),
            Error::NoSuchAccount { .. } => Cow::Borrowed(
                "set vegas_yubikey_label on the source profile to the account id shown by `vegas oath list`",
            ),
            Error::PasswordNeeded { profile, .. } => Cow::Owned(format!(
                "run `vegas assume --profile {profile}` once in a terminal: vegas then remembers the key's access key for 12 hours"
            )),
            Error::YkmanPasswordNeeded => Cow::Borrowed(
                "run vegas in a terminal, or let ykman remember the password: `ykman oath access remember`",
            ),
            Error::YkmanNoKey(_) => Cow::Borrowed(
                "plug in the YubiKey; `ykman list` shows what ykman sees",
            ),
            Error::YkmanSeveralKeys(_) => Cow::Borrowed(
                "choose one with vegas_yubikey_serial on the source profile (or VEGAS_READER)",
            ),
            Error::YkmanNoAccount { .. } => Cow::Borrowed(
                "set vegas_yubikey_label to an account id shown by `ykman oath accounts list`",
            ),
            Error::YkmanFailed(_) => Cow::Borrowed(
                "run the same ykman command by hand to see more, or set vegas_yubikey_backend = pcsc",
            ),
            Error::YkmanSpawn(_) => Cow::Borrowed(
                "install yubikey-manager (`pip install yubikey-manager`) or set vegas_yubikey_backend = pcsc",
            ),
            Error::NotTyped => Cow::Borrowed("type the 6 to 8 digits your authenticator shows"),
            Error::PromptClosed => Cow::Borrowed("run the command again and type the code, or touch the YubiKey"),
            Error::PromptFailed(_) => Cow::Borrowed("give the code with --token-code instead"),
            Error::TimedOut { .. } => Cow::Borrowed(
                "touch the YubiKey or type the code sooner; vegas_mfa_timeout on the source profile sets the limit",
            ),
            Error::NoWay { .. } => Cow::Borrowed(
                "plug in the YubiKey (and start pcscd), install ykman, run in a terminal, or pass --token-code",
            ),
            Error::SessionSpent => Cow::Borrowed(
                "run the command again; if it happens again, please report it as a bug in vegas",
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
    fn a_given_code_belongs_to_the_current_thirty_second_step() {
        let before = sts_step_now();
        let code = MfaCode::given("123456").unwrap();
        assert_eq!(code.step.period, STS_PERIOD);
        assert!(code.step.index == before.index || code.step.index == before.index + 1);
    }

    #[test]
    fn code_debug_hides_digits() {
        let code = MfaCode::given("987654").unwrap();
        assert!(!format!("{code:?}").contains("987654"));
    }

    #[test]
    fn only_a_missing_pcscd_or_reader_counts_as_pcsc_unavailable() {
        use crate::oath::Error as Oath;
        assert!(Error::YubiKey(Oath::PcscdNotRunning).pcsc_unavailable());
        assert!(Error::YubiKey(Oath::NoReaders).pcsc_unavailable());
        assert!(!Error::YubiKey(Oath::NoYubiKey { readers: 1 }).pcsc_unavailable());
        assert!(!Error::YubiKey(Oath::WrongPassword).pcsc_unavailable());
    }

    #[test]
    fn a_refusing_key_is_not_a_missing_key() {
        use crate::oath::Error as Oath;
        assert!(Error::YubiKey(Oath::NoYubiKey { readers: 2 }).means_no_key());
        assert!(Error::YkmanNoKey("No YubiKey detected!".into()).means_no_key());
        for refusing in [
            Error::YubiKey(Oath::TouchTimedOut),
            Error::YubiKey(Oath::SeveralKeys { found: vec![] }),
            Error::YkmanNoAccount { label: "x".into() },
            Error::NotTyped,
        ] {
            assert!(!refusing.means_no_key(), "{refusing}");
        }
    }

    #[test]
    fn no_way_names_every_way_tried() {
        let e = Error::NoWay {
            tried: vec![
                Tried {
                    way: "YubiKey over PC/SC",
                    why: "pcscd is not running".into(),
                },
                Tried {
                    way: "ykman",
                    why: "not found on PATH".into(),
                },
                Tried {
                    way: "typed code",
                    why: "no terminal".into(),
                },
            ],
        };
        assert_eq!(
            e.to_string(),
            "no way to get an MFA code: YubiKey over PC/SC: pcscd is not running; \
             ykman: not found on PATH; typed code: no terminal"
        );
    }
}
