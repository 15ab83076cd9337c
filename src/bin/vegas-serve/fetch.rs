//! One fetch of the profile's credentials through the same call `vegas
//! assume` makes (cache, refresh window, device lock, touch notice), with
//! serve's own hints and, in `-- COMMAND` mode, no reading from the
//! terminal COMMAND shares with us.

use std::borrow::Cow;
use std::sync::Arc;

use vegas::commands::assume::{credentials, Request};
use vegas::ui::{CodePrompt, CodeQuestion, PromptWays, SecretInput, Terminal, Ui};
use vegas::Hint;

use crate::answer::Answer;
use crate::issuer::{Fetch, Outcome, REFRESH_AHEAD};

/// The flow for one profile.
pub struct FlowFetch {
    pub profile: String,
    pub disable_mandatory_refresh: bool,
    pub no_gui: bool,
    /// `-- COMMAND`: the terminal is COMMAND's; nothing is read from it.
    pub shares_terminal: bool,
}

impl FlowFetch {
    /// Resolve the profile now, so a typo fails at start.
    pub fn check(&self) -> Result<(), vegas::Error> {
        let files = vegas::config::Files::load()?;
        files.resolve(&self.profile)?;
        Ok(())
    }

    /// The credentials and the role they are of, or why not. Blocking.
    pub fn credentials(
        &self,
    ) -> Result<(vegas::config::Profile, vegas::credentials::Credentials), vegas::Error> {
        let request = Request {
            profile: &self.profile,
            token_code: None,
            disable_mandatory_refresh: self.disable_mandatory_refresh,
            refresh_ahead: Some(REFRESH_AHEAD),
            no_gui: self.no_gui,
        };
        let ui = ServeUi {
            shares_terminal: self.shares_terminal,
        };
        credentials(request, &ui)
    }
}

impl Fetch for FlowFetch {
    fn fetch(&self) -> Outcome {
        match self.credentials() {
            Ok((profile, creds)) => Outcome {
                answer: Arc::new(Answer::credentials(&creds, &profile.role_arn.value)),
                expires_at: Some(creds.expires_at),
                unanswered: false,
            },
            Err(err) => {
                // The person running `vegas serve` sees why, with the hint;
                // the client gets the line and the hint too.
                let hint = hint(&err);
                eprintln!("vegas: {err}");
                eprintln!("hint: {hint}");
                let answer = Answer::flow_failed(&err, &hint);
                if unanswered(&err) {
                    Outcome::unanswered(answer)
                } else {
                    Outcome::failed(answer)
                }
            }
        }
    }
}

/// Whether `err` is a touch or a dialog nobody answered (not asked again
/// in the background: nobody may be there). A key left untouched ends its
/// CALCULATE itself after about 15 s (`oath::Error::TouchTimedOut`, over
/// PC/SC or through ykman): that is the usual case, and the race passes it
/// on as it is when nobody could type a code.
pub fn unanswered(err: &vegas::Error) -> bool {
    use vegas::totp::Error as Totp;
    matches!(
        err,
        vegas::Error::Totp(
            Totp::PromptClosed
                | Totp::TimedOut { .. }
                | Totp::YubiKey(vegas::oath::Error::TouchTimedOut)
        )
    )
}

/// What to do about `err` when it happened in `vegas serve`: `vegas
/// assume`'s hints that name its own options (`--token-code`) do not apply.
pub fn hint(err: &vegas::Error) -> Cow<'_, str> {
    use vegas::totp::Error as Totp;
    match err {
        vegas::Error::Totp(Totp::PromptFailed(_) | Totp::NoWay { .. } | Totp::MalformedCode) => {
            Cow::Borrowed(
                "plug in the YubiKey (and start pcscd), or allow the dialog (no --no-gui); \
                 beside `-- COMMAND` vegas serve reads no code from the terminal",
            )
        }
        _ if unanswered(err) => {
            Cow::Borrowed("touch the YubiKey when vegas serve asks; the next request tries again")
        }
        _ => err.hint(),
    }
}

/// The terminal, but in `-- COMMAND` mode only for notices: a code or a
/// password typed there is COMMAND's input, so it is asked in the dialog
/// or not at all.
struct ServeUi {
    shares_terminal: bool,
}

impl ServeUi {
    fn allowed(&self, allowed: PromptWays) -> PromptWays {
        PromptWays {
            terminal: allowed.terminal && !self.shares_terminal,
            gui: allowed.gui,
        }
    }
}

impl Ui for ServeUi {
    fn notice(&self, message: &str) {
        Terminal.notice(message);
    }

    fn warn(&self, message: &str) {
        Terminal.warn(message);
    }

    fn ask_secret(&self, prompt: &str) -> Option<std::io::Result<SecretInput>> {
        if self.shares_terminal {
            return None;
        }
        Terminal.ask_secret(prompt)
    }

    fn code_way(&self, allowed: PromptWays) -> Result<(), String> {
        Terminal.code_way(self.allowed(allowed))
    }

    fn ask_code(
        &self,
        allowed: PromptWays,
        question: &CodeQuestion,
    ) -> Result<Arc<dyn CodePrompt>, String> {
        Terminal.ask_code(self.allowed(allowed), question)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beside_a_command_no_code_or_password_is_read_from_the_terminal() {
        let ui = ServeUi {
            shares_terminal: true,
        };
        let allowed = ui.allowed(PromptWays {
            terminal: true,
            gui: true,
        });
        assert!(!allowed.terminal && allowed.gui);
        assert!(ui.ask_secret("OATH password: ").is_none());
        let alone = ServeUi {
            shares_terminal: false,
        };
        assert!(
            alone
                .allowed(PromptWays {
                    terminal: true,
                    gui: false
                })
                .terminal
        );
    }

    #[test]
    fn serve_hints_do_not_send_the_person_to_token_code() {
        let err = vegas::Error::Totp(vegas::totp::Error::PromptFailed("no tty".into()));
        assert!(
            err.hint().contains("--token-code"),
            "the case this is about"
        );
        assert!(!hint(&err).contains("--token-code"), "{}", hint(&err));
    }
}
