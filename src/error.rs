//! The top-level error: one variant per layer, each layer's error carrying the
//! data a user needs, and every error paired with a hint saying what to do.
//!
//! Shown by `main.rs` as two lines on stderr:
//! `vegas: <what happened>` and `hint: <what to do>`. Messages never contain a
//! secret (key, session token, TOTP code, password).

use std::borrow::Cow;

use crate::hint::Hint;

/// Exit code for errors (usage errors are 2, from clap).
pub const EXIT_ERROR: i32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Oath(#[from] crate::oath::Error),
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    #[error(transparent)]
    Sts(#[from] crate::sts::Error),
    #[error(transparent)]
    Cache(#[from] crate::cache::Error),
    #[error(transparent)]
    Totp(#[from] crate::totp::Error),
    #[error(transparent)]
    Setup(#[from] crate::commands::setup::Error),
    /// Writing the command's output failed (other than a closed pipe).
    #[error("cannot write output: {0}")]
    Output(std::io::Error),
    /// `vegas serve` could not start its server, `vegas-serve`.
    #[error("the server {path} cannot be run: {message}")]
    ServerMissing { path: String, message: String },
    /// `vegas doctor` found problems; each was listed with its fix.
    #[error("{failed} of {total} checks failed")]
    ChecksFailed { failed: usize, total: usize },
}

/// Exit code after Ctrl-C (128 + SIGINT), as a shell reports it.
pub const EXIT_INTERRUPTED: i32 = 130;

impl Error {
    /// The exit code for this error: [`EXIT_INTERRUPTED`] after Ctrl-C,
    /// else [`EXIT_ERROR`].
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Setup(crate::commands::setup::Error::Interrupted { .. }) => EXIT_INTERRUPTED,
            _ => EXIT_ERROR,
        }
    }
}

impl Hint for Error {
    fn hint(&self) -> Cow<'_, str> {
        match self {
            Error::Oath(e) => e.hint(),
            Error::Config(e) => e.hint(),
            Error::Sts(e) => e.hint(),
            Error::Cache(e) => e.hint(),
            Error::Totp(e) => e.hint(),
            Error::Setup(e) => e.hint(),
            Error::Output(_) => {
                Cow::Borrowed("check that the reading end of the pipe is still open")
            }
            Error::ServerMissing { .. } => Cow::Borrowed(
                "reinstall vegas: vegas-serve must sit beside the vegas binary (cargo install installs both)",
            ),
            Error::ChecksFailed { .. } => {
                Cow::Borrowed("each failed check says how to fix it; then run `vegas doctor` again")
            }
        }
    }
}
