//! The race between the YubiKey (or ykman) and a person typing the code:
//! each source on a thread of its own, the first valid code wins, the others
//! are cancelled. The typed code joins when the key starts waiting for a
//! touch (a key that answers at once needs no prompt), or alone when there is
//! no key to wait for.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Instant;

use super::gui::{Dialog, DialogProgram};
use super::prompt::{self, TerminalPrompt};
use super::{CodeRequest, Error, MfaCode, Source};
use crate::ui::Ui;

/// How a person can be asked for the code here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypedWay {
    Terminal,
    Dialog(DialogProgram),
}

impl TypedWay {
    /// The way the request allows and this process has, or why there is none.
    pub fn find(request: &CodeRequest) -> Result<TypedWay, String> {
        let terminal = if request.prompt.terminal {
            match prompt::terminal() {
                Ok(_) => return Ok(TypedWay::Terminal),
                Err(why) => why,
            }
        } else {
            "no terminal prompt".to_string()
        };
        let gui = if request.prompt.gui {
            match DialogProgram::find() {
                Ok(program) => return Ok(TypedWay::Dialog(program)),
                Err(why) => why,
            }
        } else {
            "no GUI dialog (--no-gui)".to_string()
        };
        Err(format!("{terminal}, {gui}"))
    }

    /// Start asking; `beside_touch` when the YubiKey waits for a touch too.
    fn source(&self, request: &CodeRequest, beside_touch: bool) -> Result<Arc<dyn Source>, Error> {
        let what = format!("profile {} ({})", request.profile, request.mfa_serial);
        match self {
            TypedWay::Terminal => {
                let question = if beside_touch {
                    format!("Touch your YubiKey (or type the code) for {what}: ")
                } else {
                    format!("MFA code for {what}: ")
                };
                let prompt = TerminalPrompt::open(question).map_err(Error::PromptFailed)?;
                Ok(Arc::new(prompt))
            }
            TypedWay::Dialog(program) => {
                let question = if beside_touch {
                    format!("Touch your YubiKey, or type the MFA code for {what}:")
                } else {
                    format!("MFA code for {what}:")
                };
                Ok(Arc::new(Dialog::new(program.clone(), question)))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runner {
    Key,
    Typed,
}

enum Event {
    WaitingForTouch,
    Done(Runner, Result<MfaCode, Error>),
}

/// The sources of one race and what became of them.
struct Race<'a> {
    request: &'a CodeRequest,
    typed_way: Option<&'a TypedWay>,
    ui: &'a dyn Ui,
    events: Sender<Event>,
    key: Option<Arc<dyn Source>>,
    typed: Option<Arc<dyn Source>>,
    typed_started: bool,
    key_error: Option<Error>,
}

/// Run `key` (if any) and, when a person can be asked, a typed code; the
/// first code wins. Without a key, the typed code alone (`typed` must then
/// be `Some`). Gives up at `deadline`.
pub fn race(
    key: Option<Arc<dyn Source>>,
    typed: Option<&TypedWay>,
    request: &CodeRequest,
    deadline: Instant,
    ui: &dyn Ui,
) -> Result<MfaCode, Error> {
    let (events, received) = mpsc::channel();
    let mut race = Race {
        request,
        typed_way: typed,
        ui,
        events,
        key: None,
        typed: None,
        typed_started: false,
        key_error: None,
    };
    match key {
        Some(key) => {
            race.key = Some(Arc::clone(&key));
            start(Runner::Key, key, race.events.clone());
        }
        None => race.start_typed(false)?,
    }
    let outcome = race.run(&received, deadline);
    race.cancel_all();
    outcome
}

impl Race<'_> {
    fn run(&mut self, received: &Receiver<Event>, deadline: Instant) -> Result<MfaCode, Error> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = match received.recv_timeout(left) {
                Ok(event) => event,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    return Err(Error::TimedOut {
                        seconds: self.request.timeout.as_secs(),
                    })
                }
            };
            match event {
                Event::WaitingForTouch => self.key_waits(),
                Event::Done(_, Ok(code)) => return Ok(code),
                Event::Done(Runner::Key, Err(e)) => {
                    self.key = None;
                    self.key_failed(e)?;
                }
                Event::Done(Runner::Typed, Err(e)) => {
                    self.typed = None;
                    if self.key.is_none() {
                        return Err(self.final_error(e));
                    }
                    tracing::debug!("no typed code ({e}); still waiting for the YubiKey");
                }
            }
        }
    }

    /// The key waits for a touch: offer the typed code beside it.
    fn key_waits(&mut self) {
        let touch = format!("Touch your YubiKey for profile {}…", self.request.profile);
        match self.typed_way {
            Some(TypedWay::Terminal) if !self.typed_started => {
                if let Err(e) = self.start_typed(true) {
                    tracing::debug!("cannot prompt beside the touch: {e}");
                    self.ui.notice(&touch);
                }
            }
            Some(TypedWay::Dialog(_)) if !self.typed_started => {
                self.ui
                    .notice(&format!("{touch} (or type the code in the dialog)"));
                if let Err(e) = self.start_typed(true) {
                    tracing::debug!("cannot show the dialog: {e}");
                }
            }
            Some(_) => {}
            None => self.ui.notice(&touch),
        }
    }

    /// The key gave no code: carry on with the typed code if it can help.
    fn key_failed(&mut self, error: Error) -> Result<(), Error> {
        if self.typed.is_some() {
            self.ui.notice(&format!("{error}; type the code instead."));
            self.key_error = Some(error);
            return Ok(());
        }
        if error.means_no_key() && self.typed_way.is_some() && !self.typed_started {
            self.ui.notice(&format!("{error}."));
            self.key_error = Some(error);
            return self.start_typed(false);
        }
        Err(error)
    }

    /// The error to report when nothing is left running.
    fn final_error(&mut self, typed_error: Error) -> Error {
        match self.key_error.take() {
            Some(key_error) if !key_error.means_no_key() => key_error,
            _ => typed_error,
        }
    }

    fn start_typed(&mut self, beside_touch: bool) -> Result<(), Error> {
        let way = self
            .typed_way
            .ok_or_else(|| Error::PromptFailed("no way to ask for the code".into()))?;
        self.typed_started = true;
        let source = way.source(self.request, beside_touch)?;
        self.typed = Some(Arc::clone(&source));
        start(Runner::Typed, source, self.events.clone());
        Ok(())
    }

    fn cancel_all(&mut self) {
        for source in [self.key.take(), self.typed.take()].into_iter().flatten() {
            source.cancel();
        }
    }
}

/// Run `source` on a thread of its own, reporting to `events`. The thread is
/// never joined: a source that cannot be cancelled is simply abandoned.
fn start(runner: Runner, source: Arc<dyn Source>, events: Sender<Event>) {
    let reporter = events.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("vegas-{runner:?}").to_lowercase())
        .spawn(move || {
            let waiting = || {
                let _ = events.send(Event::WaitingForTouch);
            };
            let outcome = source.code(&waiting);
            let _ = events.send(Event::Done(runner, outcome));
        });
    if let Err(e) = spawned {
        let _ = reporter.send(Event::Done(
            runner,
            Err(Error::PromptFailed(format!("cannot start a thread: {e}"))),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Backend;
    use crate::oath::KeySelector;
    use crate::totp::PromptWays;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;
    use std::time::Duration;
    use zeroize::Zeroizing;

    fn request() -> CodeRequest {
        CodeRequest {
            profile: "admin".into(),
            mfa_serial: "arn:aws:iam::111111111111:mfa/alice".into(),
            label: "AWS:alice".into(),
            key: KeySelector::default(),
            backend: Backend::Auto,
            prompt: PromptWays::default(),
            timeout: Duration::from_secs(5),
        }
    }

    /// A key that waits `delay` for its "touch", then answers `digits`.
    struct SlowKey {
        delay: Duration,
        answer: Mutex<Option<Result<&'static str, Error>>>,
        cancelled: AtomicBool,
    }

    impl SlowKey {
        fn new(delay: Duration, answer: Result<&'static str, Error>) -> Arc<SlowKey> {
            Arc::new(SlowKey {
                delay,
                answer: Mutex::new(Some(answer)),
                cancelled: AtomicBool::new(false),
            })
        }
    }

    impl Source for SlowKey {
        fn code(&self, waiting: &(dyn Fn() + Sync)) -> Result<MfaCode, Error> {
            waiting();
            std::thread::sleep(self.delay);
            let answer = self.answer.lock().unwrap().take().unwrap();
            answer.map(|d| MfaCode {
                digits: Zeroizing::new(d.into()),
                step: crate::totp::sts_step_now(),
            })
        }
        fn cancel(&self) {
            self.cancelled.store(true, Ordering::SeqCst);
        }
    }

    #[derive(Default)]
    struct Notes(Mutex<Vec<String>>);
    impl Ui for Notes {
        fn notice(&self, message: &str) {
            self.0.lock().unwrap().push(message.into());
        }
        fn warn(&self, message: &str) {
            self.notice(message);
        }
        fn ask_secret(&self, _: &str) -> Option<std::io::Result<crate::ui::SecretInput>> {
            None
        }
    }

    #[test]
    fn a_lone_key_wins_and_the_touch_is_announced() {
        let ui = Notes::default();
        let key = SlowKey::new(Duration::from_millis(10), Ok("123456"));
        let deadline = Instant::now() + Duration::from_secs(5);
        let code = race(Some(key), None, &request(), deadline, &ui).unwrap();
        assert_eq!(&*code.digits, "123456");
        assert!(ui
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|n| n.contains("Touch your YubiKey")));
    }

    #[test]
    fn the_key_error_is_reported_when_no_one_can_type() {
        let key = SlowKey::new(
            Duration::from_millis(10),
            Err(Error::YubiKey(crate::oath::Error::TouchTimedOut)),
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        let outcome = race(Some(key), None, &request(), deadline, &Notes::default());
        assert!(matches!(
            outcome,
            Err(Error::YubiKey(crate::oath::Error::TouchTimedOut))
        ));
    }

    #[test]
    fn the_wait_ends_at_the_deadline_and_cancels_the_key() {
        let key = SlowKey::new(Duration::from_secs(3), Ok("123456"));
        let started = Instant::now();
        let deadline = started + Duration::from_millis(200);
        let outcome = race(
            Some(Arc::clone(&key) as Arc<dyn Source>),
            None,
            &request(),
            deadline,
            &Notes::default(),
        );
        assert!(matches!(outcome, Err(Error::TimedOut { seconds: 5 })));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(
            key.cancelled.load(Ordering::SeqCst),
            "the key was cancelled"
        );
    }

    #[test]
    fn with_no_terminal_and_no_gui_allowed_no_typed_way_is_found() {
        let why = TypedWay::find(&request()).unwrap_err();
        assert!(why.contains("no terminal") && why.contains("GUI"), "{why}");
    }
}
