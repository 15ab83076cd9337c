//! The race between the YubiKey (or ykman) and a person typing the code:
//! each source on a thread of its own, the first valid code wins, the others
//! are cancelled. The typed code joins when the key starts waiting for a
//! touch (a key that answers at once needs no prompt), or alone when there is
//! no key to wait for, or when the key turns out to be missing.
//!
//! Sources report what they came to as an [`Outcome`]; the race reports a
//! [`Finish`]. Neither uses an error to steer: an error here is one the
//! person may be shown.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Instant;

use super::typed::TypedCode;
use super::{CodeRequest, Error, MfaCode, Outcome, Source};
use crate::ui::{CodeQuestion, Ui};

/// How a race ended, when not with an error.
#[derive(Debug)]
pub enum Finish {
    /// A source gave this code.
    Code(MfaCode),
    /// ykman stopped at once to ask for the OATH password (nothing else had
    /// started): ask it, and race again with it.
    PasswordNeeded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runner {
    Key,
    Typed,
}

enum Event {
    WaitingForTouch,
    Done(Runner, Outcome),
}

/// The sources of one race and what became of them.
struct Race<'a> {
    request: &'a CodeRequest,
    /// Whether the person can be asked (the UI found a way).
    can_type: bool,
    ui: &'a dyn Ui,
    events: Sender<Event>,
    key: Option<Arc<dyn Source>>,
    typed: Option<Arc<dyn Source>>,
    typed_started: bool,
    key_error: Option<Error>,
}

/// Run `key` (if any) and, when a person can be asked (`can_type`), a typed
/// code; the first code wins. Without a key, the typed code alone. Gives up
/// at `deadline`. Every source still running at the end is cancelled.
pub fn race(
    key: Option<Arc<dyn Source>>,
    can_type: bool,
    request: &CodeRequest,
    deadline: Instant,
    ui: &dyn Ui,
) -> Result<Finish, Error> {
    let (events, received) = mpsc::channel();
    let mut race = Race {
        request,
        can_type,
        ui,
        events,
        key: None,
        typed: None,
        typed_started: false,
        key_error: None,
    };
    let outcome = match key {
        Some(key) => {
            race.key = Some(Arc::clone(&key));
            start(Runner::Key, key, race.events.clone());
            race.run(&received, deadline)
        }
        None => race
            .start_typed(false)
            .and_then(|()| race.run(&received, deadline)),
    };
    race.cancel_all();
    outcome
}

impl Race<'_> {
    fn run(&mut self, received: &Receiver<Event>, deadline: Instant) -> Result<Finish, Error> {
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
                Event::Done(_, Outcome::Code(code)) => return Ok(Finish::Code(code)),
                Event::Done(Runner::Key, Outcome::PasswordNeeded) => {
                    return Ok(Finish::PasswordNeeded)
                }
                Event::Done(runner, Outcome::Cancelled | Outcome::PasswordNeeded) => {
                    // Only `cancel_all` cancels, after the loop; a typed code
                    // never needs a password. Nothing to report: wait on.
                    tracing::debug!("{runner:?} stopped without a code");
                    self.drop_runner(runner);
                }
                Event::Done(Runner::Key, Outcome::Failed(e)) => {
                    self.key = None;
                    self.key_failed(e)?;
                }
                Event::Done(Runner::Typed, Outcome::Failed(e)) => {
                    self.typed = None;
                    if self.key.is_none() {
                        return Err(self.final_error(e));
                    }
                    tracing::debug!("no typed code ({e}); still waiting for the YubiKey");
                }
            }
        }
    }

    fn drop_runner(&mut self, runner: Runner) {
        match runner {
            Runner::Key => self.key = None,
            Runner::Typed => self.typed = None,
        }
    }

    fn touch_notice(&self) -> String {
        format!("Touch your YubiKey for profile {}…", self.request.profile)
    }

    /// The key waits for a touch: offer the typed code beside it (the UI
    /// then says a touch will do too), else just say to touch it.
    fn key_waits(&mut self) {
        if self.typed_started {
            return;
        }
        if !self.can_type {
            self.ui.notice(&self.touch_notice());
            return;
        }
        if let Err(e) = self.start_typed(true) {
            tracing::debug!("cannot ask for the code beside the touch: {e}");
            self.ui.notice(&self.touch_notice());
        }
    }

    /// The key gave no code: carry on with the typed code if it can help.
    fn key_failed(&mut self, error: Error) -> Result<(), Error> {
        if self.typed.is_some() {
            self.ui.notice(&format!("{error}; type the code instead."));
            self.key_error = Some(error);
            return Ok(());
        }
        if error.leaves_the_key_out_of_reach() && self.can_type && !self.typed_started {
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
        self.typed_started = true;
        let question = CodeQuestion {
            profile: self.request.profile.clone(),
            mfa_serial: self.request.mfa_serial.clone(),
            beside_touch,
        };
        let prompt = self
            .ui
            .ask_code(self.request.prompt, &question)
            .map_err(Error::PromptFailed)?;
        let source: Arc<dyn Source> = Arc::new(TypedCode::new(prompt));
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
            Outcome::Failed(Error::PromptFailed(format!("cannot start a thread: {e}"))),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Backend;
    use crate::totp::testing::{request, Behaviour, FakeKey};
    use crate::totp::typed::MALFORMED;
    use crate::ui::scripted::{Said, Scripted, Typed};
    use std::time::Duration;

    const SOON: Duration = Duration::from_millis(20);
    const LATE: Duration = Duration::from_secs(30);

    fn run(key: Option<Arc<FakeKey>>, ui: &Scripted) -> Result<Finish, Error> {
        run_until(key, ui, Duration::from_secs(5))
    }

    fn run_until(
        key: Option<Arc<FakeKey>>,
        ui: &Scripted,
        limit: Duration,
    ) -> Result<Finish, Error> {
        use crate::ui::Ui;
        let request = request(Backend::Auto);
        let can_type = ui.code_way(request.prompt).is_ok();
        let key = key.map(|k| k as Arc<dyn Source>);
        race(key, can_type, &request, Instant::now() + limit, ui)
    }

    fn code(finish: Result<Finish, Error>) -> String {
        match finish {
            Ok(Finish::Code(code)) => code.digits.to_string(),
            other => panic!("no code: {other:?}"),
        }
    }

    #[test]
    fn a_lone_key_wins_and_the_touch_is_announced() {
        let ui = Scripted::new();
        let key = Arc::new(FakeKey::touch(SOON, Behaviour::Code("123456")));
        assert_eq!(code(run(Some(key), &ui)), "123456");
        assert_eq!(
            ui.said(),
            [Said::Notice("Touch your YubiKey for profile admin…".into())]
        );
    }

    #[test]
    fn a_typed_code_wins_while_the_touch_waits_and_the_key_is_cancelled() {
        let ui = Scripted::new().typing([Typed::Line("654321").after(SOON)]);
        let key = Arc::new(FakeKey::touch(LATE, Behaviour::Code("123456")));
        let started = Instant::now();
        assert_eq!(code(run(Some(Arc::clone(&key)), &ui)), "654321");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(key.was_cancelled(), "the key was cancelled");
        let questions = ui.questions();
        assert_eq!(questions.len(), 1);
        assert!(
            questions[0].beside_touch,
            "the question says a touch will do"
        );
        assert_eq!(questions[0].profile, "admin");
    }

    #[test]
    fn a_touch_wins_while_the_prompt_waits_and_the_prompt_is_cancelled() {
        let ui = Scripted::new().typing([Typed::Never.now()]);
        let key = Arc::new(FakeKey::touch(SOON, Behaviour::Code("123456")));
        assert_eq!(code(run(Some(key), &ui)), "123456");
        let said = ui.said();
        assert!(
            matches!(said.as_slice(), [Said::Question(_), Said::PromptCancelled]),
            "{said:?}"
        );
    }

    #[test]
    fn a_key_that_answers_without_a_touch_opens_no_prompt() {
        let ui = Scripted::new().typing([Typed::Line("654321").now()]);
        let key = Arc::new(FakeKey::no_touch("123456"));
        assert_eq!(code(run(Some(key), &ui)), "123456");
        assert!(ui.questions().is_empty(), "{:?}", ui.said());
    }

    #[test]
    fn a_malformed_typed_code_is_asked_again_then_used() {
        let ui = Scripted::new().typing([Typed::Line("12ab56").now(), Typed::Line("654321").now()]);
        let key = Arc::new(FakeKey::touch(LATE, Behaviour::Code("123456")));
        assert_eq!(code(run(Some(key), &ui)), "654321");
        assert!(ui.said().contains(&Said::Again(MALFORMED.into())));
    }

    #[test]
    fn malformed_codes_end_the_typing_after_the_last_try() {
        let answers = ["1", "12ab56", "123456789", "654321"].map(|l| Typed::Line(l).now());
        let ui = Scripted::new().typing(answers);
        let outcome = run(None, &ui);
        assert!(matches!(outcome, Err(Error::NotTyped)), "{outcome:?}");
        let agains = ui
            .said()
            .iter()
            .filter(|s| matches!(s, Said::Again(_)))
            .count();
        assert_eq!(
            agains as u32,
            super::super::TYPING_TRIES - 1,
            "{:?}",
            ui.said()
        );
    }

    #[test]
    fn a_closed_prompt_with_no_key_is_the_error() {
        let ui = Scripted::new().typing([Typed::Close.now()]);
        let outcome = run(None, &ui);
        assert!(matches!(outcome, Err(Error::PromptClosed)), "{outcome:?}");
    }

    #[test]
    fn a_closed_prompt_leaves_the_touch_to_win() {
        let ui = Scripted::new().typing([Typed::Close.now()]);
        let key = Arc::new(FakeKey::touch(
            Duration::from_millis(200),
            Behaviour::Code("123456"),
        ));
        assert_eq!(code(run(Some(key), &ui)), "123456");
    }

    #[test]
    fn the_key_error_is_reported_when_no_one_can_type() {
        let key = Arc::new(FakeKey::touch(SOON, Behaviour::TouchTimesOut));
        let outcome = run(Some(key), &Scripted::new());
        assert!(matches!(
            outcome,
            Err(Error::YubiKey(crate::oath::Error::TouchTimedOut))
        ));
    }

    #[test]
    fn a_key_that_refused_is_reported_over_a_closed_prompt() {
        let ui = Scripted::new().typing([Typed::Close.after(Duration::from_millis(200))]);
        let key = Arc::new(FakeKey::touch(SOON, Behaviour::TouchTimesOut));
        let outcome = run(Some(key), &ui);
        assert!(matches!(
            outcome,
            Err(Error::YubiKey(crate::oath::Error::TouchTimedOut))
        ));
        assert!(ui.said().contains(&Said::Notice(
            "the YubiKey was not touched in time; type the code instead.".into()
        )));
    }

    #[test]
    fn a_key_found_missing_before_any_touch_hands_over_to_the_typed_code() {
        let ui = Scripted::new().typing([Typed::Line("654321").now()]);
        let key = Arc::new(FakeKey::untouched(SOON, Behaviour::Removed));
        assert_eq!(code(run(Some(key), &ui)), "654321");
        let questions = ui.questions();
        assert_eq!(questions.len(), 1);
        assert!(!questions[0].beside_touch);
        let told =
            Said::Notice("no YubiKey with an OATH application found (1 reader(s) checked).".into());
        assert!(ui.said().contains(&told), "{:?}", ui.said());
    }

    #[test]
    fn the_wait_ends_at_the_deadline_and_cancels_every_source() {
        let ui = Scripted::new().typing([Typed::Never.now()]);
        let key = Arc::new(FakeKey::touch(SOON, Behaviour::Never));
        let started = Instant::now();
        let outcome = run_until(Some(Arc::clone(&key)), &ui, Duration::from_millis(200));
        assert!(
            matches!(outcome, Err(Error::TimedOut { seconds: 5 })),
            "{outcome:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(key.was_cancelled(), "the key was cancelled");
        assert!(ui.said().contains(&Said::PromptCancelled));
    }

    #[test]
    fn ykman_asking_for_a_password_ends_the_race_for_it() {
        let ui = Scripted::new().typing([Typed::Line("654321").now()]);
        let key = Arc::new(FakeKey::touch(SOON, Behaviour::WantsPassword("123456")));
        assert!(matches!(run(Some(key), &ui), Ok(Finish::PasswordNeeded)));
        assert!(ui.questions().is_empty(), "nothing else had started");
    }
}
