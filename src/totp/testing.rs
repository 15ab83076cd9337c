//! In-memory YubiKeys for the unit tests of the race and of `get_code`: a
//! [`Source`] that answers after a delay, waits for a touch, fails, asks
//! for a password or never answers, and [`FakeKeys`], what PC/SC and ykman
//! find on the pretend machine. Each records what was asked of it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::get::{KeyReached, Keys};
use super::{CodeRequest, Error, MfaCode, Outcome, PromptWays, Source};
use crate::config::Backend;
use crate::oath::KeySelector;
use crate::ui::scripted::Cancel;
use crate::ui::{SecretInput, Ui};

/// A request for profile `admin` with `backend`, a 5 s limit, and every way
/// of prompting allowed (the scripted UI decides whether it can type).
pub fn request(backend: Backend) -> CodeRequest {
    CodeRequest {
        profile: "admin".into(),
        mfa_serial: "arn:aws:iam::111111111111:mfa/alice".into(),
        label: "AWS:alice".into(),
        key: KeySelector::default(),
        backend,
        prompt: PromptWays {
            terminal: true,
            gui: true,
        },
        timeout: Duration::from_secs(5),
    }
}

/// What a [`FakeKey`] does once asked for the code.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// Gives this code after the delay.
    Code(&'static str),
    /// Fails after the delay: the touch timed out.
    TouchTimesOut,
    /// Fails after the delay: the key was pulled out.
    Removed,
    /// Stops to ask for the OATH password (as ykman does), unless it was
    /// given one: then gives the code.
    WantsPassword(&'static str),
    /// Never answers; only a cancel ends the wait.
    Never,
    /// Fails after the delay as ykman does when it reached the key and
    /// something else went wrong (a traceback, an applet error).
    YkmanFails(&'static str),
}

/// An in-memory key (or ykman): answers `after` a delay, as told.
pub struct FakeKey {
    touch: bool,
    after: Duration,
    behaviour: Behaviour,
    password: Option<SecretInput>,
    cancel: Cancel,
    /// How many codes were asked of it (a CALCULATE each, on a real key).
    pub calculations: AtomicUsize,
}

impl FakeKey {
    /// A key whose account waits for a touch, touched `after`.
    pub fn touch(after: Duration, behaviour: Behaviour) -> FakeKey {
        FakeKey::new(true, after, behaviour)
    }

    /// A source that never says it waits for a touch (ykman before it
    /// touches the key), answering `after`.
    pub fn untouched(after: Duration, behaviour: Behaviour) -> FakeKey {
        FakeKey::new(false, after, behaviour)
    }

    /// A key whose account needs no touch (answers at once).
    pub fn no_touch(code: &'static str) -> FakeKey {
        FakeKey::new(false, Duration::ZERO, Behaviour::Code(code))
    }

    fn new(touch: bool, after: Duration, behaviour: Behaviour) -> FakeKey {
        FakeKey {
            touch,
            after,
            behaviour,
            password: None,
            cancel: Cancel::default(),
            calculations: AtomicUsize::new(0),
        }
    }

    pub fn was_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    fn given(code: &str) -> Outcome {
        MfaCode::given(code).into()
    }
}

impl Source for FakeKey {
    fn code(&self, waiting_for_touch: &(dyn Fn() + Sync)) -> Outcome {
        self.calculations.fetch_add(1, Ordering::SeqCst);
        if let (Behaviour::WantsPassword(code), Some(_)) = (self.behaviour, &self.password) {
            return FakeKey::given(code);
        }
        if let Behaviour::WantsPassword(_) = self.behaviour {
            return Outcome::PasswordNeeded;
        }
        if self.touch {
            waiting_for_touch();
        }
        let wait = match self.behaviour {
            Behaviour::Never => None,
            _ => Some(self.after),
        };
        if self.cancel.sleep(wait) {
            return Outcome::Cancelled;
        }
        match self.behaviour {
            Behaviour::Code(code) => FakeKey::given(code),
            Behaviour::TouchTimesOut => {
                Outcome::Failed(Error::YubiKey(crate::oath::Error::TouchTimedOut))
            }
            Behaviour::Removed => {
                Outcome::Failed(Error::YubiKey(crate::oath::Error::NoYubiKey { readers: 1 }))
            }
            Behaviour::YkmanFails(message) => {
                Outcome::Failed(Error::YkmanFailed(message.to_owned()))
            }
            Behaviour::WantsPassword(_) | Behaviour::Never => Outcome::Cancelled,
        }
    }

    fn cancel(&self) {
        self.cancel.cancel();
    }
}

/// Makes a fresh key each time one is opened (ykman is run afresh with the
/// password, a key is opened afresh by each call).
pub type MakeKey = fn() -> FakeKey;

/// The pretend machine: what PC/SC finds (a key, or the error of looking),
/// and whether ykman is installed (and what it reaches).
pub struct FakeKeys {
    pub pcsc: Result<MakeKey, fn() -> crate::oath::Error>,
    pub ykman: Option<MakeKey>,
    /// Every key handed out, in order, to look at afterwards.
    pub opened: Mutex<Vec<Arc<FakeKey>>>,
    /// What was done: "find pcsc", "open pcsc", "ykman", "ykman with password".
    pub calls: Mutex<Vec<&'static str>>,
}

impl FakeKeys {
    pub fn new(
        pcsc: Result<MakeKey, fn() -> crate::oath::Error>,
        ykman: Option<MakeKey>,
    ) -> FakeKeys {
        FakeKeys {
            pcsc,
            ykman,
            opened: Mutex::default(),
            calls: Mutex::default(),
        }
    }

    fn call(&self, what: &'static str) {
        self.calls.lock().unwrap().push(what);
    }

    fn hand_out(&self, key: FakeKey) -> Arc<FakeKey> {
        let key = Arc::new(key);
        self.opened.lock().unwrap().push(Arc::clone(&key));
        key
    }

    /// How many codes were asked of all keys handed out.
    pub fn calculations(&self) -> usize {
        let opened = self.opened.lock().unwrap();
        opened
            .iter()
            .map(|k| k.calculations.load(Ordering::SeqCst))
            .sum()
    }

    pub fn key(&self, index: usize) -> Arc<FakeKey> {
        Arc::clone(&self.opened.lock().unwrap()[index])
    }
}

impl Keys for FakeKeys {
    fn find_over_pcsc(&self, _request: &CodeRequest) -> Result<(), Error> {
        self.call("find pcsc");
        self.pcsc.map(|_| ()).map_err(|e| Error::YubiKey(e()))
    }

    fn open_over_pcsc(&self, _request: &CodeRequest, _ui: &dyn Ui) -> Result<KeyReached, Error> {
        self.call("open pcsc");
        let make = self.pcsc.map_err(|e| Error::YubiKey(e()))?;
        let key = self.hand_out(make());
        if key.touch {
            return Ok(KeyReached::Racing(key));
        }
        match key.code(&|| {}) {
            Outcome::Code(code) => Ok(KeyReached::Answered(code)),
            Outcome::Failed(e) => Err(e),
            other => panic!("a key with no touch came to {other:?}"),
        }
    }

    fn ykman(
        &self,
        _request: &CodeRequest,
        password: Option<SecretInput>,
    ) -> Option<Arc<dyn Source>> {
        let make = self.ykman?;
        self.call(match password {
            Some(_) => "ykman with password",
            None => "ykman",
        });
        let mut key = make();
        key.password = password;
        Some(self.hand_out(key))
    }
}
