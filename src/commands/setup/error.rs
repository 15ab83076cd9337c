//! What can stop `vegas setup` that is not another layer's error: its
//! arguments, the person's answer, an interrupt. Every variant with a hint.

use std::borrow::Cow;
use std::path::PathBuf;

use super::undo::Leftovers;
use crate::sts::iam;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Iam(#[from] iam::Error),
    #[error("--role-arn {value} is not a role ARN")]
    InvalidRoleArn { value: String },
    #[error(
        "--device-name '{value}' is not a valid IAM name (1–226 of letters, digits and +=,.@_-)"
    )]
    InvalidDeviceName { value: String },
    #[error("--profile '{value}' cannot be written as a profile name (letters, digits and -_.@+:/ only)")]
    InvalidProfileName { value: String },
    #[error("profile '{profile}' already exists in {}", path.display())]
    ProfileExists { profile: String, path: PathBuf },
    #[error("the MFA device {serial} is already one of {user}'s")]
    DeviceInUse { serial: String, user: String },
    #[error("no terminal to confirm the change to {} on", path.display())]
    CannotConfirm { path: PathBuf },
    #[error("cannot read the answer on the terminal: {source}")]
    ConfirmInput { source: std::io::Error },
    #[error("nothing done: the change to {} was not confirmed", path.display())]
    Declined { path: PathBuf },
    /// Ctrl-C; `left` is what the rollback could not remove (set once it ran).
    #[error("interrupted; {left}")]
    Interrupted { left: Leftovers },
    /// A failure after something was made, whose rollback left `left`.
    #[error("{cause}; {left}")]
    NotUndone {
        cause: Box<crate::Error>,
        left: Leftovers,
    },
    #[error("IAM answered {action} with something else than expected")]
    UnexpectedAnswer { action: &'static str },
    #[error("the seed IAM gave for {serial} is not base32")]
    MalformedSeed { serial: String },
    #[error("cannot tell where the vegas binary is: {message}")]
    NoOwnPath { message: String },
    #[error("cannot install the Ctrl-C handler: {message}")]
    Signal { message: String },
}

impl crate::hint::Hint for Error {
    fn hint(&self) -> Cow<'_, str> {
        match self {
            Error::Iam(e) => e.hint(),
            Error::InvalidRoleArn { .. } => {
                Cow::Borrowed("a role ARN looks like arn:aws:iam::123456789012:role/NAME")
            }
            Error::InvalidDeviceName { .. } => {
                Cow::Borrowed("choose a name such as vegas-laptop with --device-name")
            }
            Error::InvalidProfileName { .. } => {
                Cow::Borrowed("choose a name such as work-admin with --profile")
            }
            Error::ProfileExists { .. } => {
                Cow::Borrowed("choose another name with --profile, or remove the old profile first")
            }
            Error::DeviceInUse { .. } => {
                Cow::Borrowed("choose another device name with --device-name")
            }
            Error::CannotConfirm { .. } => {
                Cow::Borrowed("run it in a terminal, or pass --yes to write the change unasked")
            }
            Error::ConfirmInput { .. } => Cow::Borrowed("pass --yes to write the change unasked"),
            Error::Declined { .. } => Cow::Borrowed("run it again and answer y to go ahead"),
            Error::Interrupted { left } if left.is_empty() => {
                Cow::Borrowed("run `vegas setup` again when ready")
            }
            Error::Interrupted { left } => {
                Cow::Owned(format!("to finish by hand: {}", left.remedies()))
            }
            Error::NotUndone { cause, left } => Cow::Owned(format!(
                "{}; to finish by hand: {}",
                cause.hint(),
                left.remedies()
            )),
            Error::UnexpectedAnswer { .. } | Error::MalformedSeed { .. } => {
                Cow::Borrowed("try again; run with --verbose and report the output if it persists")
            }
            Error::NoOwnPath { .. } => {
                Cow::Borrowed("run vegas by its full path (e.g. ~/.cargo/bin/vegas setup …)")
            }
            Error::Signal { .. } => {
                Cow::Borrowed("try again; check the system's limits on threads")
            }
        }
    }
}
