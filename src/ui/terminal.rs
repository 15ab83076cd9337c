//! The [`Ui`] the binary gives the library: notices and prompts on the
//! controlling terminal (`/dev/tty`), because the AWS tools that run vegas
//! capture stdout and often swallow stderr. Without a terminal, notices go to
//! stderr, secrets cannot be asked for, and the MFA code is asked in a GUI
//! dialog when one is allowed and found.
//!
//! The dialog is not a `Ui` of its own: notices and warnings go to the same
//! places either way, and whether there is a terminal is known only when the
//! question comes (a `credential_process` may or may not have one), so the
//! choice between terminal and dialog is made here, per question.

use std::sync::Arc;

use super::dialog::{Dialog, DialogProgram};
use super::line_prompt::{self, LinePrompt};
use super::{CodePrompt, CodeQuestion, PromptWays, SecretInput, Ui};

/// The real thing (see the module header).
#[derive(Debug, Default, Clone, Copy)]
pub struct Terminal;

/// How a person can be asked for the code here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeWay {
    /// On the controlling terminal, vegas being in its foreground.
    Terminal,
    /// In a dialog shown by this program.
    Dialog(DialogProgram),
}

impl Terminal {
    fn tty() -> Option<std::fs::File> {
        crate::platform::open_tty().ok()
    }

    /// The way `allowed` permits and this process has, or why there is none
    /// (a read-only probe: doctor reports it, [`Ui::code_way`] uses it).
    pub fn code_way(allowed: PromptWays) -> Result<CodeWay, String> {
        let terminal = if allowed.terminal {
            match line_prompt::terminal() {
                Ok(_) => return Ok(CodeWay::Terminal),
                Err(why) => why,
            }
        } else {
            "no terminal prompt".to_string()
        };
        let gui = if allowed.gui {
            match DialogProgram::find() {
                Ok(program) => return Ok(CodeWay::Dialog(program)),
                Err(why) => why,
            }
        } else {
            "no GUI dialog (--no-gui)".to_string()
        };
        Err(format!("{terminal}, {gui}"))
    }
}

impl Ui for Terminal {
    fn notice(&self, message: &str) {
        use std::io::Write;
        match Self::tty() {
            Some(mut tty) => {
                let _ = writeln!(tty, "{message}");
            }
            None => {
                let _ = writeln!(std::io::stderr(), "{message}");
            }
        }
    }

    fn warn(&self, message: &str) {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "vegas: warning: {message}");
    }

    /// `None` without a terminal, and also when vegas is not in its
    /// foreground (a `vegas serve &`): reading it would stop the process
    /// with SIGTTIN, silently, until someone typed `fg`.
    fn ask_secret(&self, prompt: &str) -> Option<std::io::Result<SecretInput>> {
        let tty = Self::tty()?;
        if !crate::platform::in_foreground(&tty) {
            return None;
        }
        Some(rpassword::prompt_password(prompt).map(SecretInput::new))
    }

    fn confirm(&self, question: &str) -> Option<std::io::Result<bool>> {
        use std::io::{BufRead, Write};
        let mut tty = Self::tty()?;
        let asked = write!(tty, "{question} [y/N] ").and_then(|_| tty.flush());
        Some(asked.and_then(|_| {
            let mut line = String::new();
            std::io::BufReader::new(tty).read_line(&mut line)?;
            Ok(matches!(line.trim().to_lowercase().as_str(), "y" | "yes"))
        }))
    }

    fn code_way(&self, allowed: PromptWays) -> Result<(), String> {
        Terminal::code_way(allowed).map(|_| ())
    }

    fn ask_code(
        &self,
        allowed: PromptWays,
        question: &CodeQuestion,
    ) -> Result<Arc<dyn CodePrompt>, String> {
        let what = format!("profile {} ({})", question.profile, question.mfa_serial);
        match Terminal::code_way(allowed)? {
            CodeWay::Terminal => {
                let text = if question.beside_touch {
                    format!("Touch your YubiKey (or type the code) for {what}: ")
                } else {
                    format!("MFA code for {what}: ")
                };
                Ok(Arc::new(LinePrompt::open(text)?))
            }
            CodeWay::Dialog(program) => {
                let text = if question.beside_touch {
                    self.notice(&format!(
                        "Touch your YubiKey for profile {}… (or type the code in the dialog)",
                        question.profile
                    ));
                    format!("Touch your YubiKey, or type the MFA code for {what}:")
                } else {
                    format!("MFA code for {what}:")
                };
                Ok(Arc::new(Dialog::new(program, text)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The old test of this (in totp/race.rs) passed whatever the default
    /// was, wherever there is no terminal: "no terminal" is in both
    /// answers. Here "not allowed" and "allowed but absent" differ.
    #[test]
    fn the_default_prompt_ways_allow_no_prompt_at_all() {
        assert_eq!(
            PromptWays::default(),
            PromptWays {
                terminal: false,
                gui: false
            }
        );
        let why = Terminal::code_way(PromptWays::default()).unwrap_err();
        assert_eq!(why, "no terminal prompt, no GUI dialog (--no-gui)");
    }
}
