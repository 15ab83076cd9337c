//! How the library talks to the person at the keyboard, without knowing how.
//!
//! The library never prints or prompts by itself (stdout belongs to the
//! credential_process JSON). It calls a [`Ui`], as rage's `Callbacks`: the
//! binary gives it a [`Terminal`], which writes notices to the controlling
//! terminal (or stderr), reads hidden input from `/dev/tty`, and asks for an
//! MFA code on the terminal or, when there is none, in a GUI dialog; the unit
//! tests give it a scripted one (`scripted`) that answers as told and
//! records everything it was shown.
//!
//! A code prompt runs on a thread of its own while the YubiKey waits for a
//! touch, so it is a [`CodePrompt`] that another thread can cancel when the
//! key answers first. Checking the answer (6 to 8 digits, how many tries) is
//! the caller's business: the UI only asks and reads.

use zeroize::Zeroizing;

mod dialog;
mod line_prompt;
mod password;
#[cfg(test)]
pub mod scripted;
mod terminal;

pub use dialog::DialogProgram;
pub use password::{oath_password, NoPassword, PasswordFrom};
pub use terminal::{CodeWay, Terminal};

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
    /// (no terminal): the caller then fails with a hint. The OATH password
    /// is asked through [`oath_password`], never by calling this directly.
    fn ask_secret(&self, prompt: &str) -> Option<std::io::Result<SecretInput>>;

    /// Ask a yes/no question (`vegas setup`: "write this change?"); `true`
    /// only for an explicit yes. `None` when there is no way to ask: the
    /// caller then fails with a hint (e.g. `--yes`).
    fn confirm(&self, _question: &str) -> Option<std::io::Result<bool>> {
        None
    }

    /// Whether an MFA code could be typed here by one of the `allowed`
    /// ways, or why not ("no terminal, no GUI dialog (--no-gui)"). Shows
    /// and asks nothing.
    fn code_way(&self, allowed: PromptWays) -> Result<(), String>;

    /// Put `question` to the person by one of the `allowed` ways; read the
    /// answers from the prompt returned. `Err` says why it cannot be asked.
    fn ask_code(
        &self,
        allowed: PromptWays,
        question: &CodeQuestion,
    ) -> Result<std::sync::Arc<dyn CodePrompt>, String>;
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

/// What the MFA code is wanted for; the UI words the question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeQuestion {
    /// The profile the code is for.
    pub profile: String,
    /// The MFA device's ARN.
    pub mfa_serial: String,
    /// The YubiKey waits for a touch meanwhile: say that a touch will do too.
    pub beside_touch: bool,
}

/// One answer to a [`CodePrompt`].
pub enum Reply {
    /// The line the person typed or entered, unchecked.
    Line(SecretInput),
    /// The person closed the prompt (end of input, the dialog's Cancel).
    Closed,
    /// [`CodePrompt::cancel`] was called: someone else answered.
    Cancelled,
    /// The prompt itself broke (the terminal went away, no dialog program).
    Failed(String),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Line(_) => f.write_str("Line(<hidden>)"),
            Reply::Closed => f.write_str("Closed"),
            Reply::Cancelled => f.write_str("Cancelled"),
            Reply::Failed(why) => write!(f, "Failed({why:?})"),
        }
    }
}

/// A question for the code, put to the person and waiting for answers.
pub trait CodePrompt: Send + Sync {
    /// Block until the person answers. `again` is `None` for the first
    /// answer; after a malformed one it says what was wrong, and the
    /// question is put again.
    fn answer(&self, again: Option<&str>) -> Reply;

    /// From another thread: make a waiting [`CodePrompt::answer`] return
    /// [`Reply::Cancelled`] soon, and leave nothing behind (the terminal in
    /// its own mode, no dialog open). Calling it twice does no harm.
    fn cancel(&self);
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
    fn code_way(&self, _allowed: PromptWays) -> Result<(), String> {
        Err("no way to ask".into())
    }
    fn ask_code(
        &self,
        _allowed: PromptWays,
        _question: &CodeQuestion,
    ) -> Result<std::sync::Arc<dyn CodePrompt>, String> {
        Err("no way to ask".into())
    }
}
