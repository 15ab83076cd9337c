//! Getting the MFA code for a device, in every place `vegas assume` runs: a
//! terminal, an IDE with no terminal, a CI job with nothing at all.
//!
//! Three kinds of [`Source`] yield a code: the YubiKey over PC/SC
//! ([`yubikey`]), the `ykman` program ([`ykman`]), and a person typing it
//! ([`prompt`] on the terminal, [`gui`] in a dialog when there is none). The
//! profile's backend picks the key source; the typed code is offered
//! alongside whenever there is a way to ask. [`race`] runs them at once and
//! takes the first valid code. [`get_code`] puts it together and never hangs:
//! with no key and no way to ask it fails at once, naming what it tried.
//!
//! Every source yields a [`MfaCode`]: the digits (wiped on drop, masked in
//! `Debug`) and the 30-second time step they belong to, which the cache
//! records so a second profile on the same device never sends STS a code it
//! has already seen.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use zeroize::Zeroizing;

use crate::cache::Cache;
use crate::config::{Backend, Profile};
use crate::oath::KeySelector;
use crate::ui::Ui;

mod child;
pub mod gui;
pub mod prompt;
pub mod race;
pub mod ykman;
pub mod yubikey;

/// The period of the codes STS accepts for an MFA device: 30 seconds.
pub const STS_PERIOD: u32 = 30;

/// How often a typed code may be malformed before the prompt gives up.
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
/// source won or time ran out: it must make `code` give up soon and leave
/// nothing behind (a child process, a terminal in another mode). A source
/// that cannot be interrupted (a PC/SC CALCULATE waiting for a touch) keeps
/// the default, and its thread is abandoned; the process exits soon after.
pub trait Source: Send + Sync {
    /// Block until a code, or an error. Calls `waiting_for_touch` when it
    /// starts waiting for the user to touch the key.
    fn code(&self, waiting_for_touch: &(dyn Fn() + Sync)) -> Result<MfaCode, Error>;

    /// Make a running [`Source::code`] give up and clean up after itself.
    fn cancel(&self) {}
}

/// Which ways of asking a person for the code the caller allows. The
/// library asks no one unless told it may (`Default` allows nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PromptWays {
    /// On the controlling terminal (`/dev/tty`), when there is one.
    pub terminal: bool,
    /// In a GUI dialog (zenity, kdialog, osascript), when there is no terminal.
    pub gui: bool,
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

/// The code for `request`: from the key its backend names, raced with a typed
/// code when a person can be asked; the whole wait bounded by its timeout.
pub fn get_code(
    request: &CodeRequest,
    cache: Option<&Cache>,
    ui: &dyn Ui,
) -> Result<MfaCode, Error> {
    let typed = race::TypedWay::find(request);
    let mut tried = Vec::new();
    let (key, key_way) = match key_source(request, cache, ui, &mut tried)? {
        KeySource::Answered(code) => return Ok(code),
        KeySource::Waiting(source, way) => (Some(source), way),
        KeySource::Absent => (None, ""),
    };
    let no_typing = |mut tried: Vec<Tried>| {
        if let Err(why) = &typed {
            tried.push(Tried {
                way: "typed code",
                why: why.clone(),
            });
        }
        Error::NoWay { tried }
    };
    if key.is_none() && typed.is_err() {
        return Err(no_typing(tried));
    }
    if key.is_none() && request.backend != Backend::None {
        let reasons: Vec<String> = tried.iter().map(Tried::to_string).collect();
        ui.notice(&format!("No YubiKey to ask ({}).", reasons.join("; ")));
    }
    let typed_way = typed.as_ref().ok();
    // The wait starts once the key is open: typing an OATH password is not
    // part of it.
    let deadline = Instant::now() + request.timeout;
    let outcome = match race::race(key, typed_way, request, deadline, ui) {
        Err(Error::YkmanPasswordNeeded) => {
            // ykman said so before anything else started: ask, and run it again.
            let password = match ask_password(ui, "the YubiKey (through ykman)", request) {
                Err(Error::PasswordNeeded { .. }) => return Err(Error::YkmanPasswordNeeded),
                other => other?,
            };
            let source = Arc::new(ykman::Ykman::new(request).with_password(password));
            let deadline = Instant::now() + request.timeout;
            race::race(Some(source), typed_way, request, deadline, ui)
        }
        other => other,
    };
    match outcome {
        Err(e) if e.means_no_key() && typed_way.is_none() => {
            tried.push(Tried {
                way: key_way,
                why: e.to_string(),
            });
            Err(no_typing(tried))
        }
        other => other,
    }
}

/// Fail at once when no code could be had for `request`: no key to ask
/// (the backend is `none`) and no way to ask a person. Asks nothing,
/// touches nothing.
pub fn ensure_a_way(request: &CodeRequest) -> Result<(), Error> {
    let typed = match race::TypedWay::find(request) {
        Ok(_) => return Ok(()),
        Err(why) => why,
    };
    if request.backend != Backend::None {
        return Ok(());
    }
    Err(Error::NoWay {
        tried: vec![
            Tried {
                way: "YubiKey",
                why: "not used (vegas_yubikey_backend = none)".into(),
            },
            Tried {
                way: "typed code",
                why: typed,
            },
        ],
    })
}

/// What the backend's key source came to before any waiting.
enum KeySource {
    /// A key that needs no touch answered at once.
    Answered(MfaCode),
    /// A source to race (a touch account, or ykman), and what to call it.
    Waiting(Arc<dyn Source>, &'static str),
    /// No key to ask (reasons added to the tried list).
    Absent,
}

const PCSC_WAY: &str = "YubiKey over PC/SC";
const YKMAN_WAY: &str = "ykman";

fn key_source(
    request: &CodeRequest,
    cache: Option<&Cache>,
    ui: &dyn Ui,
    tried: &mut Vec<Tried>,
) -> Result<KeySource, Error> {
    match request.backend {
        Backend::None => {
            tried.push(Tried {
                way: "YubiKey",
                why: "not used (vegas_yubikey_backend = none)".into(),
            });
            Ok(KeySource::Absent)
        }
        Backend::Ykman => Ok(ykman_source(request, tried)),
        Backend::Pcsc | Backend::Auto => match yubikey::YubiKey::open(request, cache, ui) {
            Ok(key) if key.needs_touch() => Ok(KeySource::Waiting(Arc::new(key), PCSC_WAY)),
            Ok(key) => key.code_now().map(KeySource::Answered),
            Err(e) if e.pcsc_unavailable() && request.backend == Backend::Auto => {
                tried.push(Tried {
                    way: PCSC_WAY,
                    why: e.to_string(),
                });
                Ok(ykman_source(request, tried))
            }
            Err(e) if e.means_no_key() => {
                tried.push(Tried {
                    way: PCSC_WAY,
                    why: e.to_string(),
                });
                Ok(KeySource::Absent)
            }
            Err(e) => Err(e),
        },
    }
}

fn ykman_source(request: &CodeRequest, tried: &mut Vec<Tried>) -> KeySource {
    if ykman::program().is_none() {
        tried.push(Tried {
            way: YKMAN_WAY,
            why: "not found on PATH".into(),
        });
        return KeySource::Absent;
    }
    KeySource::Waiting(Arc::new(ykman::Ykman::new(request)), YKMAN_WAY)
}

/// Ask for the OATH password on the terminal; without one, say how to give it.
fn ask_password(ui: &dyn Ui, key: &str, request: &CodeRequest) -> Result<Zeroizing<String>, Error> {
    let prompt = format!("OATH password for {key}: ");
    match ui.ask_secret(&prompt) {
        Some(answer) => {
            answer.map_err(|e| Error::PromptFailed(format!("cannot read the OATH password: {e}")))
        }
        None => Err(Error::PasswordNeeded {
            key: key.to_string(),
            profile: request.profile.clone(),
        }),
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
    /// ykman needs the OATH password: asked inside [`get_code`] when there
    /// is a terminal, else shown.
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
    /// A source stopped because another won (never shown).
    #[error("cancelled")]
    Cancelled,
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
            Error::Cancelled => Cow::Borrowed("try again"),
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
