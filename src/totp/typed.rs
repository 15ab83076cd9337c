//! The code a person types, as a [`Source`]: the UI asks and reads
//! ([`crate::ui::CodePrompt`]); this checks each answer, asks again after a
//! malformed one (up to [`TYPING_TRIES`] answers in all), and passes a cancel
//! on to the prompt.

use std::sync::Arc;

use super::{Error, MfaCode, Outcome, Source, TYPING_TRIES};
use crate::ui::{CodePrompt, Reply};

/// What the person is told after a malformed answer.
pub const MALFORMED: &str = "That is not a 6 to 8 digit code";

/// A code prompt opened by the UI, answered by a typed code.
pub struct TypedCode {
    prompt: Arc<dyn CodePrompt>,
}

impl TypedCode {
    pub fn new(prompt: Arc<dyn CodePrompt>) -> TypedCode {
        TypedCode { prompt }
    }
}

impl Source for TypedCode {
    fn code(&self, _waiting_for_touch: &(dyn Fn() + Sync)) -> Outcome {
        let mut again = None;
        for _ in 0..TYPING_TRIES {
            match self.prompt.answer(again) {
                Reply::Line(line) => match MfaCode::given(&line) {
                    Ok(code) => return Outcome::Code(code),
                    Err(_) => again = Some(MALFORMED),
                },
                Reply::Closed => return Outcome::Failed(Error::PromptClosed),
                Reply::Cancelled => return Outcome::Cancelled,
                Reply::Failed(why) => return Outcome::Failed(Error::PromptFailed(why)),
            }
        }
        Outcome::Failed(Error::NotTyped)
    }

    fn cancel(&self) {
        self.prompt.cancel();
    }
}
