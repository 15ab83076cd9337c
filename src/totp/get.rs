//! Putting the sources together for one code: the key the backend names
//! (over PC/SC, or through ykman when PC/SC itself is missing or the key is
//! held by another program under `auto`), a typed code when the UI has a way
//! to ask, the race between them, and the OATH password when ykman stops to
//! ask for it.
//!
//! A key held by another program (scdaemon, an authenticator) is there: it
//! is never reported as missing. ykman may free it (it stops scdaemon); when
//! ykman fails too (it cannot connect either), a typed code is offered, and
//! without one the error is the busy key's, with its hint.
//!
//! [`ensure_a_way`] answers beforehand, asking nothing, whether
//! [`get_code`] would fail at once for lack of any way to a code, so the
//! caller can fail before it waits for a fresh time step.
//!
//! The machine is reached through [`Keys`], so the whole of this is
//! unit-tested with an in-memory key and a scripted UI (`testing`).

use std::sync::Arc;
use std::time::Instant;

use super::race::{self, Finish};
use super::{ykman, yubikey, CodeRequest, Error, MfaCode, Outcome, Source, Tried};
use crate::cache::Cache;
use crate::config::Backend;
use crate::ui::{oath_password, NoPassword, PasswordFrom, SecretInput, Ui};

const PCSC_WAY: &str = "YubiKey over PC/SC";
const YKMAN_WAY: &str = "ykman";
const TYPED_WAY: &str = "typed code";

/// What the key the backend names gave before any waiting.
pub(crate) enum KeyReached {
    /// A key that needs no touch answered at once.
    Answered(MfaCode),
    /// A source to race: a touch account, or ykman.
    Racing(Arc<dyn Source>),
}

/// How [`get_code`] reaches YubiKeys: on the machine, or in memory in tests.
pub(crate) trait Keys {
    /// Read-only: whether PC/SC finds a key `request` allows. Selects the
    /// OATH application, nothing more: no password, no CALCULATE.
    fn find_over_pcsc(&self, request: &CodeRequest) -> Result<(), Error>;

    /// Open the key over PC/SC, unlock it (asking the OATH password through
    /// `ui` when no remembered access key works) and find the account; the
    /// code at once when the account needs no touch.
    fn open_over_pcsc(&self, request: &CodeRequest, ui: &dyn Ui) -> Result<KeyReached, Error>;

    /// ykman as a source, given `password` on its stdin; `None` when ykman
    /// is not installed. Runs nothing yet.
    fn ykman(
        &self,
        request: &CodeRequest,
        password: Option<SecretInput>,
    ) -> Option<Arc<dyn Source>>;

    /// Read-only: whether ykman reaches a key (it selects the OATH
    /// application, nothing more). Asked only when no code can be typed, so
    /// "no way to get a code" is known before any wait.
    fn ykman_reaches_a_key(&self, _request: &CodeRequest) -> Result<(), Error> {
        Ok(())
    }
}

/// The keys of this machine; `cache` keeps OATH access keys.
struct Machine<'a> {
    cache: Option<&'a Cache>,
}

impl Keys for Machine<'_> {
    fn find_over_pcsc(&self, request: &CodeRequest) -> Result<(), Error> {
        crate::oath::discovery::key_present(&request.key)?;
        Ok(())
    }

    fn open_over_pcsc(&self, request: &CodeRequest, ui: &dyn Ui) -> Result<KeyReached, Error> {
        let key = yubikey::YubiKey::open(request, self.cache, ui)?;
        if key.needs_touch() {
            return Ok(KeyReached::Racing(Arc::new(key)));
        }
        key.code_now().map(KeyReached::Answered)
    }

    fn ykman_reaches_a_key(&self, request: &CodeRequest) -> Result<(), Error> {
        ykman::reaches_a_key(request)
    }

    fn ykman(
        &self,
        request: &CodeRequest,
        password: Option<SecretInput>,
    ) -> Option<Arc<dyn Source>> {
        ykman::program()?;
        let ykman = ykman::Ykman::new(request);
        Some(Arc::new(match password {
            Some(password) => ykman.with_password(password),
            None => ykman,
        }))
    }
}

/// The code for `request`: from the key its backend names, raced with a typed
/// code when a person can be asked; the whole wait bounded by its timeout.
pub fn get_code(
    request: &CodeRequest,
    cache: Option<&Cache>,
    ui: &dyn Ui,
) -> Result<MfaCode, Error> {
    get_code_from(&Machine { cache }, request, ui)
}

/// Fail with [`Error::NoWay`] exactly when [`get_code`] would fail at once
/// for lack of any way to a code, on this machine's terminal and dialog
/// (the binary's [`crate::ui::Terminal`]). Asks for no touch, code or
/// password and sends no CALCULATE; it looks for a key over PC/SC (a SELECT)
/// only when no code can be typed. A key that is there but refuses is not
/// reported here: `get_code` says what it refuses.
pub fn ensure_a_way(request: &CodeRequest) -> Result<(), Error> {
    ensure_a_way_for(request, &crate::ui::Terminal)
}

/// [`ensure_a_way`] with the ways to type a code that `ui` has.
pub fn ensure_a_way_for(request: &CodeRequest, ui: &dyn Ui) -> Result<(), Error> {
    ensure_a_way_in(&Machine { cache: None }, request, ui)
}

pub(crate) fn ensure_a_way_in(
    keys: &dyn Keys,
    request: &CodeRequest,
    ui: &dyn Ui,
) -> Result<(), Error> {
    let Err(no_typing) = ui.code_way(request.prompt) else {
        return Ok(());
    };
    let mut tried = Vec::new();
    let mut busy = None;
    let found = reach_key(
        request,
        &mut tried,
        &mut busy,
        || keys.find_over_pcsc(request),
        || keys.ykman(request, None).map(|_| ()),
    );
    if busy.is_some() {
        // The key is there; `get_code` says it is busy if nothing else works.
        return Ok(());
    }
    match found {
        Ok(Some((_, YKMAN_WAY))) => match keys.ykman_reaches_a_key(request) {
            Err(e) if e.means_no_key() => {
                tried.push(Tried {
                    way: YKMAN_WAY,
                    why: e.to_string(),
                });
                Err(no_way(tried, no_typing))
            }
            _ => Ok(()),
        },
        Ok(Some(_)) | Err(_) => Ok(()),
        Ok(None) => Err(no_way(tried, no_typing)),
    }
}

pub(crate) fn get_code_from(
    keys: &dyn Keys,
    request: &CodeRequest,
    ui: &dyn Ui,
) -> Result<MfaCode, Error> {
    let typing = ui.code_way(request.prompt);
    let mut tried = Vec::new();
    let mut busy = None;
    let found = reach_key(
        request,
        &mut tried,
        &mut busy,
        || keys.open_over_pcsc(request, ui),
        || keys.ykman(request, None).map(KeyReached::Racing),
    )?;
    let (key, key_way) = match found {
        Some((KeyReached::Answered(code), _)) => return Ok(code),
        Some((KeyReached::Racing(source), way)) => match &busy {
            Some(reader) => {
                let source: Arc<dyn Source> = Arc::new(AfterBusy {
                    ykman: source,
                    reader: reader.clone(),
                });
                (Some(source), way)
            }
            None => (Some(source), way),
        },
        None => (None, ""),
    };
    if key.is_none() {
        if let Err(why) = typing {
            return Err(match busy {
                Some(reader) => key_busy(reader),
                None => no_way(tried, why),
            });
        }
        if request.backend != Backend::None {
            let reasons: Vec<String> = tried.iter().map(Tried::to_string).collect();
            ui.notice(&format!("No YubiKey to ask ({}).", reasons.join("; ")));
        }
    }
    let can_type = typing.is_ok();
    // The wait starts once the key is open: typing an OATH password is not
    // part of it.
    let mut finish = race::race(key, can_type, request, deadline(request), ui);
    if let Ok(Finish::PasswordNeeded) = finish {
        finish = race_with_ykman_password(keys, request, can_type, ui);
    }
    match (finish, typing) {
        (Ok(Finish::Code(code)), _) => Ok(code),
        (Ok(Finish::PasswordNeeded), _) => Err(Error::YkmanPasswordNeeded),
        (Err(e), Err(why)) if e.means_no_key() => {
            tried.push(Tried {
                way: key_way,
                why: e.to_string(),
            });
            Err(no_way(tried, why))
        }
        (Err(e), _) => Err(e),
    }
}

fn deadline(request: &CodeRequest) -> Instant {
    Instant::now() + request.timeout
}

/// ykman stopped for the OATH password before anything else started: ask
/// it, and run ykman again with it.
fn race_with_ykman_password(
    keys: &dyn Keys,
    request: &CodeRequest,
    can_type: bool,
    ui: &dyn Ui,
) -> Result<Finish, Error> {
    let password = ask_password(ui, "the YubiKey (through ykman)", || {
        Error::YkmanPasswordNeeded
    })?;
    let source = keys.ykman(request, Some(password)).ok_or_else(|| {
        Error::YkmanSpawn(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "ykman is not on PATH",
        ))
    })?;
    race::race(Some(source), can_type, request, deadline(request), ui)
}

/// The key the backend names: over PC/SC, or through ykman (chosen, or
/// under `auto` when PC/SC itself is missing or the key is busy). `None`
/// when there is no key to ask, with why added to `tried`; a key held by
/// another program sets `busy` to its reader; a key that is there but
/// refuses is an error. `over_pcsc` and `through_ykman` open (or only look
/// for) the key.
fn reach_key<T>(
    request: &CodeRequest,
    tried: &mut Vec<Tried>,
    busy: &mut Option<String>,
    over_pcsc: impl FnOnce() -> Result<T, Error>,
    through_ykman: impl FnOnce() -> Option<T>,
) -> Result<Option<(T, &'static str)>, Error> {
    let ykman = |tried: &mut Vec<Tried>| match through_ykman() {
        Some(found) => Some((found, YKMAN_WAY)),
        None => {
            tried.push(Tried {
                way: YKMAN_WAY,
                why: "not found on PATH".into(),
            });
            None
        }
    };
    match request.backend {
        Backend::None => {
            tried.push(Tried {
                way: "YubiKey",
                why: "not used (vegas_yubikey_backend = none)".into(),
            });
            Ok(None)
        }
        Backend::Ykman => Ok(ykman(tried)),
        Backend::Pcsc | Backend::Auto => match over_pcsc() {
            Ok(found) => Ok(Some((found, PCSC_WAY))),
            Err(e) if e.busy_reader().is_some() => {
                tried.push(Tried {
                    way: PCSC_WAY,
                    why: e.to_string(),
                });
                *busy = e.busy_reader().map(str::to_owned);
                if request.backend != Backend::Auto {
                    return Ok(None);
                }
                tracing::info!(
                    "{e}; trying ykman instead (it stops scdaemon if that holds the key)"
                );
                Ok(ykman(tried))
            }
            Err(e) if e.pcsc_unavailable() && request.backend == Backend::Auto => {
                tried.push(Tried {
                    way: PCSC_WAY,
                    why: e.to_string(),
                });
                Ok(ykman(tried))
            }
            Err(e) if e.means_no_key() => {
                tried.push(Tried {
                    way: PCSC_WAY,
                    why: e.to_string(),
                });
                Ok(None)
            }
            Err(e) => Err(e),
        },
    }
}

/// ykman tried because the key was busy over PC/SC: when ykman cannot
/// reach the key either (it fails to connect, or, with other readers about,
/// cannot tell which key is meant), the key is still the busy one, never a
/// missing one. Any other ykman failure stands as it is: ykman reached the
/// key, or failed for a reason of its own, and saying "busy" would hide it.
struct AfterBusy {
    ykman: Arc<dyn Source>,
    reader: String,
}

impl Source for AfterBusy {
    fn code(&self, waiting_for_touch: &(dyn Fn() + Sync)) -> Outcome {
        match self.ykman.code(waiting_for_touch) {
            Outcome::Failed(e) if e.means_no_key() || matches!(e, Error::YkmanSeveralKeys(_)) => {
                tracing::info!("ykman could not reach the busy key either: {e}");
                Outcome::Failed(key_busy(self.reader.clone()))
            }
            other => other,
        }
    }

    fn cancel(&self) {
        self.ykman.cancel();
    }
}

fn key_busy(reader: String) -> Error {
    Error::YubiKey(crate::oath::Error::KeyBusy { reader })
}

fn no_way(mut tried: Vec<Tried>, no_typing: String) -> Error {
    tried.push(Tried {
        way: TYPED_WAY,
        why: no_typing,
    });
    Error::NoWay { tried }
}

/// The OATH password of `key`, asked through the UI (the one place:
/// [`crate::ui::oath_password`]); `nowhere` is the error to give when there
/// is no way to ask, whose hint says what to do instead.
pub(crate) fn ask_password(
    ui: &dyn Ui,
    key: &str,
    nowhere: impl FnOnce() -> Error,
) -> Result<SecretInput, Error> {
    oath_password(PasswordFrom::Person(ui), key).map_err(|e| match e {
        NoPassword::NoWayToAsk => nowhere(),
        NoPassword::Unreadable(e) => {
            Error::PromptFailed(format!("cannot read the OATH password: {e}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oath::Error as Oath;
    use crate::totp::testing::{request, Behaviour, FakeKey, FakeKeys, MakeKey};
    use crate::ui::scripted::{Said, Scripted, Typed};
    use std::time::Duration;

    type PcscFinds = Result<MakeKey, fn() -> Oath>;

    const NO_PCSCD: PcscFinds = Err(|| Oath::PcscdNotRunning);
    const NO_KEY_IN_READER: PcscFinds = Err(|| Oath::NoYubiKey { readers: 1 });
    const SEVERAL_KEYS: PcscFinds = Err(|| Oath::SeveralKeys { found: vec![] });
    const TOUCH_KEY: PcscFinds =
        Ok(|| FakeKey::touch(Duration::from_millis(20), Behaviour::Code("123456")));
    const PLAIN_KEY: PcscFinds = Ok(|| FakeKey::no_touch("123456"));
    const YKMAN: Option<MakeKey> =
        Some(|| FakeKey::untouched(Duration::ZERO, Behaviour::Code("222222")));
    /// Held by another program (the reader as `oath::pcsc` names it).
    const BUSY: PcscFinds = Err(|| Oath::KeyBusy {
        reader: "reader \"Yubico YubiKey 00 00\"".into(),
    });
    /// ykman during another program's exclusive hold: "Failed to connect".
    const YKMAN_CANNOT_CONNECT: Option<MakeKey> =
        Some(|| FakeKey::untouched(Duration::from_millis(20), Behaviour::Removed));

    fn tried_ways(error: &Error) -> Vec<&'static str> {
        match error {
            Error::NoWay { tried } => tried.iter().map(|t| t.way).collect(),
            other => panic!("not NoWay: {other:?}"),
        }
    }

    #[test]
    fn a_key_that_needs_no_touch_answers_without_a_race() {
        let keys = FakeKeys::new(PLAIN_KEY, None);
        let ui = Scripted::new();
        let code = get_code_from(&keys, &request(Backend::Auto), &ui).unwrap();
        assert_eq!(&*code.digits, "123456");
        assert!(ui.said().is_empty(), "{:?}", ui.said());
    }

    #[test]
    fn with_backend_none_the_typed_code_is_asked_alone() {
        let keys = FakeKeys::new(TOUCH_KEY, YKMAN);
        let ui = Scripted::new().typing([Typed::Line("654321").now()]);
        let code = get_code_from(&keys, &request(Backend::None), &ui).unwrap();
        assert_eq!(&*code.digits, "654321");
        assert!(
            keys.calls.lock().unwrap().is_empty(),
            "no key was looked for"
        );
        let questions = ui.questions();
        assert_eq!(questions.len(), 1);
        assert!(!questions[0].beside_touch);
        assert!(
            !ui.said().iter().any(|s| matches!(s, Said::Notice(_))),
            "{:?}",
            ui.said()
        );
    }

    #[test]
    fn with_no_key_the_typed_code_is_asked_and_the_person_told_why() {
        let keys = FakeKeys::new(NO_PCSCD, None);
        let ui = Scripted::new().typing([Typed::Line("654321").now()]);
        let code = get_code_from(&keys, &request(Backend::Auto), &ui).unwrap();
        assert_eq!(&*code.digits, "654321");
        let said = ui.said();
        assert!(
            matches!(&said[0], Said::Notice(n) if n.starts_with("No YubiKey to ask (YubiKey over PC/SC: ")
                && n.contains("ykman: not found on PATH")),
            "{said:?}"
        );
    }

    #[test]
    fn with_no_key_and_no_way_to_type_it_fails_at_once_naming_every_way() {
        let keys = FakeKeys::new(NO_PCSCD, None);
        let ui = Scripted::new();
        let started = Instant::now();
        let error = get_code_from(&keys, &request(Backend::Auto), &ui).unwrap_err();
        assert!(started.elapsed() < Duration::from_millis(500));
        assert_eq!(tried_ways(&error), [PCSC_WAY, YKMAN_WAY, TYPED_WAY]);
        assert!(ui.said().is_empty(), "{:?}", ui.said());
    }

    #[test]
    fn a_request_that_allows_no_prompt_asks_no_one_even_a_willing_person() {
        let keys = FakeKeys::new(NO_PCSCD, None);
        let ui = Scripted::new().typing([Typed::Line("654321").now()]);
        let mut request = request(Backend::Auto);
        request.prompt = crate::ui::PromptWays::default();
        let error = get_code_from(&keys, &request, &ui).unwrap_err();
        assert_eq!(tried_ways(&error), [PCSC_WAY, YKMAN_WAY, TYPED_WAY]);
        assert!(ui.said().is_empty(), "{:?}", ui.said());
    }

    #[test]
    fn auto_falls_back_on_ykman_when_pcsc_itself_is_missing() {
        let keys = FakeKeys::new(NO_PCSCD, YKMAN);
        let code = get_code_from(&keys, &request(Backend::Auto), &Scripted::new()).unwrap();
        assert_eq!(&*code.digits, "222222");
        assert_eq!(*keys.calls.lock().unwrap(), ["open pcsc", "ykman"]);
    }

    #[test]
    fn auto_falls_back_on_ykman_when_the_key_is_busy_over_pcsc() {
        let keys = FakeKeys::new(BUSY, YKMAN);
        let code = get_code_from(&keys, &request(Backend::Auto), &Scripted::new()).unwrap();
        assert_eq!(&*code.digits, "222222");
        assert_eq!(*keys.calls.lock().unwrap(), ["open pcsc", "ykman"]);
    }

    #[test]
    fn a_busy_key_nothing_else_reaches_stays_the_busy_error_never_a_missing_key() {
        for (backend, ykman) in [
            (Backend::Auto, YKMAN_CANNOT_CONNECT),
            (Backend::Auto, None),
            (Backend::Pcsc, YKMAN),
        ] {
            let keys = FakeKeys::new(BUSY, ykman);
            let error = get_code_from(&keys, &request(backend), &Scripted::new()).unwrap_err();
            assert_eq!(
                error.to_string(),
                "the YubiKey in reader \"Yubico YubiKey 00 00\" is in use by another program",
                "{backend:?}"
            );
            assert!(crate::hint::Hint::hint(&error).contains("gpgconf --kill scdaemon"));
        }
    }

    #[test]
    fn a_ykman_failure_after_a_busy_key_stands_as_ykman_said_it() {
        const YKMAN_BREAKS: Option<MakeKey> =
            Some(|| FakeKey::untouched(Duration::ZERO, Behaviour::YkmanFails("KeyError: 'x'")));
        let keys = FakeKeys::new(BUSY, YKMAN_BREAKS);
        let error = get_code_from(&keys, &request(Backend::Auto), &Scripted::new()).unwrap_err();
        assert!(
            matches!(&error, Error::YkmanFailed(m) if m == "KeyError: 'x'"),
            "{error:?}"
        );
    }

    #[test]
    fn a_busy_key_nothing_else_reaches_offers_the_typed_code_saying_why() {
        for (backend, ykman) in [
            (Backend::Auto, YKMAN_CANNOT_CONNECT),
            (Backend::Auto, None),
            (Backend::Pcsc, None),
        ] {
            let keys = FakeKeys::new(BUSY, ykman);
            let ui = Scripted::new().typing([Typed::Line("654321").now()]);
            let code = get_code_from(&keys, &request(backend), &ui).unwrap();
            assert_eq!(&*code.digits, "654321", "{backend:?}");
            assert!(
                ui.said().iter().any(
                    |s| matches!(s, Said::Notice(n) if n.contains("is in use by another program"))
                ),
                "{backend:?}: {:?}",
                ui.said()
            );
        }
    }

    #[test]
    fn a_touch_key_races_the_typed_code_and_the_touch_wins() {
        let keys = FakeKeys::new(TOUCH_KEY, None);
        let ui = Scripted::new().typing([Typed::Never.now()]);
        let code = get_code_from(&keys, &request(Backend::Pcsc), &ui).unwrap();
        assert_eq!(&*code.digits, "123456");
        assert!(
            ui.said().contains(&Said::PromptCancelled),
            "{:?}",
            ui.said()
        );
    }

    #[test]
    fn ykman_asking_for_the_password_gets_it_through_the_ui_and_runs_again() {
        let keys = FakeKeys::new(
            NO_PCSCD,
            Some(|| FakeKey::untouched(Duration::ZERO, Behaviour::WantsPassword("333333"))),
        );
        let ui = Scripted::new().password("sesame");
        let code = get_code_from(&keys, &request(Backend::Ykman), &ui).unwrap();
        assert_eq!(&*code.digits, "333333");
        assert_eq!(
            *keys.calls.lock().unwrap(),
            ["ykman", "ykman with password"]
        );
        assert!(ui.said().contains(&Said::Secret(
            "OATH password for the YubiKey (through ykman): ".into()
        )));
    }

    #[test]
    fn ykman_asking_for_the_password_with_nowhere_to_ask_says_so() {
        let keys = FakeKeys::new(
            NO_PCSCD,
            Some(|| FakeKey::untouched(Duration::ZERO, Behaviour::WantsPassword("333333"))),
        );
        let outcome = get_code_from(&keys, &request(Backend::Ykman), &Scripted::new());
        assert!(
            matches!(outcome, Err(Error::YkmanPasswordNeeded)),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_key_pulled_out_with_no_way_to_type_is_no_way_naming_the_key() {
        let keys = FakeKeys::new(
            Err(|| Oath::PcscdNotRunning),
            Some(|| FakeKey::untouched(Duration::ZERO, Behaviour::Removed)),
        );
        let error = get_code_from(&keys, &request(Backend::Auto), &Scripted::new()).unwrap_err();
        assert_eq!(tried_ways(&error), [PCSC_WAY, YKMAN_WAY, TYPED_WAY]);
    }

    #[test]
    fn the_whole_wait_ends_at_the_request_timeout() {
        let keys = FakeKeys::new(
            Ok(|| FakeKey::touch(Duration::ZERO, Behaviour::Never)),
            None,
        );
        let ui = Scripted::new().typing([Typed::Never.now()]);
        let mut request = request(Backend::Pcsc);
        request.timeout = Duration::from_millis(300);
        let started = Instant::now();
        let outcome = get_code_from(&keys, &request, &ui);
        assert!(
            matches!(outcome, Err(Error::TimedOut { .. })),
            "{outcome:?}"
        );
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(keys.key(0).was_cancelled());
    }

    // ---- ensure_a_way ------------------------------------------------------

    /// Each machine, with no way to type: whether `ensure_a_way` reports
    /// no way, and whether `get_code` then fails at once with no way.
    #[test]
    fn ensure_a_way_fails_exactly_when_get_code_fails_at_once_for_want_of_a_way() {
        let cases: [(Backend, PcscFinds, Option<MakeKey>, bool); 12] = [
            (Backend::None, TOUCH_KEY, YKMAN, false),
            (Backend::Auto, NO_PCSCD, None, false),
            (Backend::Auto, NO_PCSCD, YKMAN, true),
            (Backend::Auto, NO_KEY_IN_READER, YKMAN, false),
            (Backend::Auto, TOUCH_KEY, None, true),
            (Backend::Pcsc, NO_PCSCD, YKMAN, false),
            (Backend::Pcsc, SEVERAL_KEYS, None, true),
            (Backend::Ykman, TOUCH_KEY, None, false),
            (Backend::Ykman, NO_PCSCD, YKMAN, true),
            // A busy key is there: get_code says it is busy, not "no way".
            (Backend::Auto, BUSY, None, true),
            (Backend::Auto, BUSY, YKMAN_CANNOT_CONNECT, true),
            (Backend::Pcsc, BUSY, None, true),
        ];
        for (backend, pcsc, ykman, a_way) in cases {
            let what = format!(
                "{backend:?}, pcsc {}, ykman {}",
                pcsc.is_ok(),
                ykman.is_some()
            );
            let request = request(backend);
            let probe = FakeKeys::new(pcsc, ykman);
            let ui = Scripted::new();
            let ensured = ensure_a_way_in(&probe, &request, &ui);
            assert_eq!(ensured.is_ok(), a_way, "{what}: {ensured:?}");
            assert_eq!(probe.calculations(), 0, "{what}: no code asked of a key");
            assert!(ui.said().is_empty(), "{what}: nothing shown or asked");

            let got = get_code_from(&FakeKeys::new(pcsc, ykman), &request, &ui);
            let no_way = matches!(got, Err(Error::NoWay { .. }));
            assert_eq!(no_way, !a_way, "{what}: get_code gave {got:?}");
            if let (Err(ensured), Err(got)) = (&ensured, &got) {
                assert_eq!(
                    ensured.to_string(),
                    got.to_string(),
                    "{what}: the same ways named"
                );
            }
        }
    }

    /// The public probe, on this machine: with backend none nothing is
    /// looked for, and with no prompt allowed there is no way, wherever the
    /// test runs.
    #[test]
    fn ensure_a_way_with_backend_none_and_no_prompt_allowed_is_no_way() {
        let mut request = request(Backend::None);
        request.prompt = crate::ui::PromptWays::default();
        let error = ensure_a_way(&request).unwrap_err();
        assert_eq!(
            error.to_string(),
            "no way to get an MFA code: YubiKey: not used (vegas_yubikey_backend = none); \
             typed code: no terminal prompt, no GUI dialog (--no-gui)"
        );
    }

    #[test]
    fn with_a_way_to_type_ensure_a_way_looks_for_no_key() {
        let keys = FakeKeys::new(NO_PCSCD, None);
        let ui = Scripted::new().typing([]);
        assert!(ensure_a_way_in(&keys, &request(Backend::Auto), &ui).is_ok());
        assert!(keys.calls.lock().unwrap().is_empty());
        assert!(ui.said().is_empty(), "{:?}", ui.said());
    }

    #[test]
    fn ensure_a_way_only_looks_for_the_key_it_never_opens_it() {
        let keys = FakeKeys::new(TOUCH_KEY, None);
        let ui = Scripted::new();
        assert!(ensure_a_way_in(&keys, &request(Backend::Pcsc), &ui).is_ok());
        assert_eq!(*keys.calls.lock().unwrap(), ["find pcsc"]);
    }

    #[test]
    fn no_way_names_the_typed_code_and_why_it_cannot_be_asked() {
        let keys = FakeKeys::new(NO_PCSCD, None);
        let error = ensure_a_way_in(&keys, &request(Backend::Pcsc), &Scripted::new()).unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with("no way to get an MFA code: YubiKey over PC/SC: "),
            "{text}"
        );
        assert!(
            text.ends_with("; typed code: no terminal, no GUI dialog (scripted)"),
            "{text}"
        );
    }
}
