//! A [`Ui`] for unit tests: the person's answers are written in advance
//! (a code typed after a delay, a malformed one, a closed prompt, a broken
//! one, or no answer ever), and everything the library showed or asked is
//! recorded in order, so a test can say what the person saw.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::{CodePrompt, CodeQuestion, PromptWays, Reply, SecretInput, Ui};

/// What the library showed or asked, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    Notice(String),
    Warn(String),
    /// A hidden question (the OATH password), asked whether or not answered.
    Secret(String),
    /// A code prompt was opened with this question.
    Question(CodeQuestion),
    /// The code was asked again after a malformed answer, saying this.
    Again(String),
    /// A code prompt was cancelled (someone else answered, or time ran out).
    PromptCancelled,
}

/// What the person does at a code prompt.
#[derive(Debug, Clone)]
pub enum Typed {
    /// Types this line (checked by the caller, not here).
    Line(&'static str),
    /// Closes the prompt (end of input, the dialog's Cancel button).
    Close,
    /// The prompt breaks with this reason.
    Fail(&'static str),
    /// Never answers: the prompt waits until cancelled.
    Never,
}

/// One answer, given `after` the prompt started waiting for it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub after: Duration,
    pub typed: Typed,
}

impl Typed {
    /// This answer, at once.
    pub fn now(self) -> Answer {
        self.after(Duration::ZERO)
    }

    /// This answer, after `delay`.
    pub fn after(self, delay: Duration) -> Answer {
        Answer {
            after: delay,
            typed: self,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A cancel flag that a waiting thread can sleep on.
#[derive(Debug, Default)]
pub struct Cancel {
    cancelled: Mutex<bool>,
    changed: Condvar,
}

impl Cancel {
    /// Raise the flag; `true` the first time.
    pub fn cancel(&self) -> bool {
        let mut cancelled = lock(&self.cancelled);
        let first = !*cancelled;
        *cancelled = true;
        self.changed.notify_all();
        first
    }

    pub fn is_cancelled(&self) -> bool {
        *lock(&self.cancelled)
    }

    /// Sleep `for_at_most` (`None`: for ever) or until cancelled; whether
    /// it was cancelled.
    pub fn sleep(&self, for_at_most: Option<Duration>) -> bool {
        let guard = lock(&self.cancelled);
        let guard = match for_at_most {
            Some(limit) => {
                self.changed
                    .wait_timeout_while(guard, limit, |c| !*c)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
            None => self
                .changed
                .wait_while(guard, |c| !*c)
                .unwrap_or_else(|p| p.into_inner()),
        };
        *guard
    }
}

/// The scripted person (see the module header).
pub struct Scripted {
    code_way: Result<(), String>,
    answers: Arc<Mutex<VecDeque<Answer>>>,
    passwords: Mutex<VecDeque<&'static str>>,
    log: Arc<Mutex<Vec<Said>>>,
}

impl Default for Scripted {
    fn default() -> Self {
        Scripted::new()
    }
}

impl Scripted {
    /// A person who can be told things but cannot type a code or a password.
    pub fn new() -> Scripted {
        Scripted {
            code_way: Err("no terminal, no GUI dialog (scripted)".into()),
            answers: Arc::default(),
            passwords: Mutex::default(),
            log: Arc::default(),
        }
    }

    /// A person who can type codes and will answer the code prompts with
    /// these, in order across prompts; once they run out, never again.
    pub fn typing(mut self, answers: impl IntoIterator<Item = Answer>) -> Scripted {
        self.code_way = Ok(());
        lock(&self.answers).extend(answers);
        self
    }

    /// The person answers the next password question with `password`.
    pub fn password(self, password: &'static str) -> Scripted {
        lock(&self.passwords).push_back(password);
        self
    }

    /// Everything shown or asked so far.
    pub fn said(&self) -> Vec<Said> {
        lock(&self.log).clone()
    }

    /// The code questions put so far.
    pub fn questions(&self) -> Vec<CodeQuestion> {
        self.said()
            .into_iter()
            .filter_map(|s| match s {
                Said::Question(q) => Some(q),
                _ => None,
            })
            .collect()
    }

    fn record(&self, said: Said) {
        lock(&self.log).push(said);
    }
}

impl Ui for Scripted {
    fn notice(&self, message: &str) {
        self.record(Said::Notice(message.into()));
    }

    fn warn(&self, message: &str) {
        self.record(Said::Warn(message.into()));
    }

    fn ask_secret(&self, prompt: &str) -> Option<std::io::Result<SecretInput>> {
        self.record(Said::Secret(prompt.into()));
        let password = lock(&self.passwords).pop_front()?;
        Some(Ok(SecretInput::new(password.into())))
    }

    /// As the terminal: nothing when the caller allows no way.
    fn code_way(&self, allowed: PromptWays) -> Result<(), String> {
        if !(allowed.terminal || allowed.gui) {
            return Err("no prompt allowed".into());
        }
        self.code_way.clone()
    }

    fn ask_code(
        &self,
        allowed: PromptWays,
        question: &CodeQuestion,
    ) -> Result<Arc<dyn CodePrompt>, String> {
        self.code_way(allowed)?;
        self.record(Said::Question(question.clone()));
        Ok(Arc::new(ScriptedPrompt {
            answers: Arc::clone(&self.answers),
            log: Arc::clone(&self.log),
            cancel: Cancel::default(),
        }))
    }
}

struct ScriptedPrompt {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    log: Arc<Mutex<Vec<Said>>>,
    cancel: Cancel,
}

impl CodePrompt for ScriptedPrompt {
    fn answer(&self, again: Option<&str>) -> Reply {
        if let Some(why) = again {
            lock(&self.log).push(Said::Again(why.into()));
        }
        let next = lock(&self.answers).pop_front();
        let Some(Answer { after, typed }) = next else {
            self.cancel.sleep(None);
            return Reply::Cancelled;
        };
        if self.cancel.sleep(Some(after)) {
            return Reply::Cancelled;
        }
        match typed {
            Typed::Line(line) => Reply::Line(SecretInput::new(line.into())),
            Typed::Close => Reply::Closed,
            Typed::Fail(why) => Reply::Failed(why.into()),
            Typed::Never => {
                self.cancel.sleep(None);
                Reply::Cancelled
            }
        }
    }

    fn cancel(&self) {
        if self.cancel.cancel() {
            lock(&self.log).push(Said::PromptCancelled);
        }
    }
}
