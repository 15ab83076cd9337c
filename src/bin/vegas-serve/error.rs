//! What can stop `vegas serve` from starting, each with its hint. Errors
//! while answering a request are not here: they become a JSON answer
//! (`answer.rs`) and the server goes on.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::PathBuf;

use vegas::Hint;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The profile cannot be served (it does not resolve).
    #[error(transparent)]
    Vegas(#[from] vegas::Error),
    #[error("{address} is already in use")]
    AddressInUse { address: SocketAddr },
    #[error("cannot listen on {address}: {message}")]
    Listen {
        address: SocketAddr,
        message: String,
    },
    #[error("cannot create the token file {}: {message}", path.display())]
    TokenFile {
        path: PathBuf,
        exists: bool,
        message: String,
    },
    #[error("no random token: {0}")]
    Random(String),
    #[error("cannot start the server's runtime: {0}")]
    Runtime(String),
    #[error("cannot run {program}: {message}")]
    Command { program: String, message: String },
    #[error("cannot print the variables: {0}")]
    Output(std::io::Error),
}

impl Hint for ServeError {
    fn hint(&self) -> Cow<'_, str> {
        match self {
            // At start there is no next request: serve has stopped.
            ServeError::Vegas(e) if crate::fetch::unanswered(e) => Cow::Borrowed(
                "touch the YubiKey when vegas serve asks, then start vegas serve again",
            ),
            ServeError::Vegas(e) => crate::fetch::hint(e),
            ServeError::AddressInUse { .. } => {
                Cow::Borrowed("stop the other server, or leave out --listen to take a free port")
            }
            ServeError::Listen { .. } => Cow::Borrowed(
                "check that the address is one of this machine's, or leave out --listen",
            ),
            ServeError::TokenFile { exists: true, .. } => Cow::Borrowed(
                "vegas never overwrites a file it did not create: remove it, or name a new file",
            ),
            ServeError::TokenFile { exists: false, .. } => {
                Cow::Borrowed("name a file in a directory you can write to")
            }
            ServeError::Random(_) | ServeError::Runtime(_) => {
                Cow::Borrowed("check the system's limits on threads and open files")
            }
            ServeError::Command { .. } => {
                Cow::Borrowed("check the command after `--` exists and is executable")
            }
            ServeError::Output(_) => {
                Cow::Borrowed("check that the reading end of the pipe is still open")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_touch_timed_out_at_start_says_to_start_again_not_to_wait_for_a_request() {
        use vegas::totp::Error as Totp;
        // vegas's own wait, and the key's own ~15 s timeout (the usual case).
        for unanswered in [
            Totp::TimedOut { seconds: 30 },
            Totp::YubiKey(vegas::oath::Error::TouchTimedOut),
        ] {
            let err = vegas::Error::Totp(unanswered);
            assert!(crate::fetch::unanswered(&err), "{err}");
            assert!(crate::fetch::hint(&err).contains("the next request"));
            let at_start = ServeError::Vegas(err).hint().into_owned();
            assert!(!at_start.contains("next request"), "{at_start}");
            assert!(at_start.contains("start vegas serve again"), "{at_start}");
        }
    }
}
