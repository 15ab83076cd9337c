//! How the library talks to the person at the keyboard, without knowing how.
//!
//! The library never prints or prompts by itself (stdout belongs to the
//! credential_process JSON). It calls a [`Ui`]: the binary gives it one that
//! writes notices to the controlling terminal (or stderr) and reads hidden
//! input from `/dev/tty`; tests give it one that records.

use zeroize::Zeroizing;

/// A secret typed by the user (password, code); wiped on drop.
pub type SecretInput = Zeroizing<String>;

pub trait Ui: Send + Sync {
    /// A short notice for the person waiting ("Touch your YubiKey…").
    /// Goes to the terminal, never to stdout. Never contains a secret.
    fn notice(&self, message: &str);

    /// Something went wrong that did not stop the command (a cache that
    /// could not be written): one line on stderr, never a secret.
    fn warn(&self, message: &str);

    /// Ask for a secret with hidden input. `None` when there is no way to ask
    /// (no terminal): the caller then fails with a hint.
    fn ask_secret(&self, prompt: &str) -> Option<std::io::Result<SecretInput>>;
}

/// A `Ui` that cannot show or ask anything: for scripts and tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Ui for Silent {
    fn notice(&self, _message: &str) {}
    fn warn(&self, _message: &str) {}
    fn ask_secret(&self, _prompt: &str) -> Option<std::io::Result<SecretInput>> {
        None
    }
}

/// The real thing: notices and prompts on the controlling terminal
/// (`/dev/tty`), because the AWS tools that run us capture stdout and often
/// swallow stderr. Without a terminal, notices go to stderr and secrets cannot
/// be asked for.
#[derive(Debug, Default)]
pub struct Terminal {
    /// Show notices on stderr too when there is no terminal.
    pub quiet: bool,
}

impl Terminal {
    fn tty() -> Option<std::fs::File> {
        crate::platform::open_tty().ok()
    }

    /// Whether a controlling terminal can be opened.
    pub fn available() -> bool {
        Self::tty().is_some()
    }
}

impl Ui for Terminal {
    fn notice(&self, message: &str) {
        use std::io::Write;
        match Self::tty() {
            Some(mut tty) => {
                let _ = writeln!(tty, "{message}");
            }
            None if !self.quiet => {
                let _ = writeln!(std::io::stderr(), "{message}");
            }
            None => {}
        }
    }

    fn warn(&self, message: &str) {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "vegas: warning: {message}");
    }

    fn ask_secret(&self, prompt: &str) -> Option<std::io::Result<SecretInput>> {
        Self::tty()?;
        Some(rpassword::prompt_password(prompt).map(Zeroizing::new))
    }
}
