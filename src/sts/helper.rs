//! `vegas` ⇄ `vegas-sts`: one STS call in a child process.
//!
//! `vegas` writes one [`Call`] as JSON to the helper's stdin and reads
//! `Result<Credentials, Error>` as JSON from its stdout. Secrets (an MFA
//! code, session credentials, the issued keys) cross only these two pipes:
//! never the command line or the environment, where other processes of the
//! user could read them. The helper inherits stderr, so its `--verbose`
//! diagnostics reach the same place as vegas's.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use serde::de::DeserializeOwned;

use super::iam::IamRequest;
use super::{iam_sdk, sdk, AssumeRoleRequest, Error, SessionTokenRequest};
use crate::credentials::Credentials;

/// The helper's file name, beside the `vegas` binary.
pub const HELPER_NAME: &str = "vegas-sts";

/// Room for one request or answer (a few KiB in practice): the buffers
/// that hold them are allocated at this size once, so no reallocation
/// leaves an unwiped copy of a secret behind. A longer message is cut here
/// (and then is no valid JSON).
const MESSAGE_CAPACITY: usize = 64 * 1024;

/// A zeroizing buffer of [`MESSAGE_CAPACITY`].
fn message_buffer() -> Zeroizing<Vec<u8>> {
    Zeroizing::new(Vec::with_capacity(MESSAGE_CAPACITY))
}

/// `value` as JSON in a [`message_buffer`].
fn encode(value: &impl Serialize) -> serde_json::Result<Zeroizing<Vec<u8>>> {
    let mut buffer = message_buffer();
    serde_json::to_writer(&mut *buffer, value)?;
    Ok(buffer)
}

/// All of `input`, up to [`MESSAGE_CAPACITY`], in a [`message_buffer`].
fn read_message(input: &mut dyn Read) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut buffer = message_buffer();
    input
        .take(MESSAGE_CAPACITY as u64)
        .read_to_end(&mut buffer)?;
    Ok(buffer)
}

/// One STS call, as sent to the helper.
#[derive(Serialize, Deserialize)]
pub enum Call {
    AssumeRole(AssumeRoleRequest),
    GetSessionToken(SessionTokenRequest),
    /// An IAM call of `vegas setup`, answered with `Result<iam::Answer, iam::Error>`.
    Iam(IamRequest),
}

/// Where the helper is: beside the running binary.
fn helper_path() -> Result<PathBuf, Error> {
    crate::platform::beside_current_exe(HELPER_NAME).map_err(missing)
}

/// The helper, if it is there and executable: checked by `vegas assume`
/// before a code is asked for, and reported by `vegas doctor`.
pub fn locate() -> Result<PathBuf, Error> {
    crate::platform::locate_beside_current_exe(HELPER_NAME).map_err(missing)
}

fn missing(e: crate::platform::SiblingMissing) -> Error {
    Error::HelperMissing {
        path: e.path,
        message: e.message,
    }
}

/// Run the helper for an STS `call` and wait for its answer.
pub fn call(call: &Call) -> Result<Credentials, Error> {
    exchange::<Credentials, Error>(call)
}

/// Run the helper for `call` and read its answer as `Result<T, E>`; a
/// helper that cannot be run or answers nothing readable is an [`Error`]
/// converted into `E`.
pub fn exchange<T: DeserializeOwned, E: DeserializeOwned + From<Error>>(
    call: &Call,
) -> Result<T, E> {
    let path = helper_path()?;
    let mut command = Command::new(&path);
    if tracing::enabled!(tracing::Level::DEBUG) {
        command.arg("--verbose");
    }
    if matches!(call, Call::Iam(_)) {
        // Its own process group: Ctrl-C at the terminal reaches `vegas
        // setup`, which lets the call under way finish so that its answer
        // (was the device made? enabled?) is known before it undoes.
        command.process_group(0);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::HelperMissing {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    let request = encode(call).map_err(|e| Error::Helper {
        message: format!("cannot encode the request: {e}"),
    })?;
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(&request))
        .unwrap_or(Ok(()));
    let (answer, read) = match child.stdout.take().map(|mut out| read_message(&mut out)) {
        Some(Ok(answer)) => (answer, Ok(())),
        Some(Err(e)) => (message_buffer(), Err(e)),
        None => (message_buffer(), Ok(())),
    };
    let status = child.wait().map_err(|e| Error::Helper {
        message: e.to_string(),
    })?;
    match serde_json::from_slice::<Result<T, E>>(&answer) {
        Ok(result) => result,
        Err(_) => Err(E::from(Error::Helper {
            message: match (written, read) {
                (Err(e), _) | (_, Err(e)) => format!("{e} ({status})"),
                _ => format!("no answer ({status})"),
            },
        })),
    }
}

/// What `vegas-sts` does: read one call from `input`, make it, and write the
/// result to `output`.
pub fn serve(input: &mut dyn Read, output: &mut dyn Write) -> std::io::Result<()> {
    let request = read_message(input)?;
    let answer = match serde_json::from_slice::<Call>(&request) {
        Ok(Call::AssumeRole(r)) => encode(&sdk::assume_role(&r)),
        Ok(Call::GetSessionToken(r)) => encode(&sdk::get_session_token(&r)),
        Ok(Call::Iam(r)) => encode(&iam_sdk::call(&r)),
        // Where and what kind of fault, never the text around it: the
        // request carries the MFA code and the source keys.
        Err(e) => encode(&Err::<Credentials, _>(Error::Helper {
            message: format!(
                "unreadable request ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ),
        })),
    };
    let answer = answer.map_err(std::io::Error::other)?;
    output.write_all(&answer)?;
    output.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_request_is_answered_with_an_error_not_a_crash() {
        let mut out = Vec::new();
        serve(&mut &b"not json"[..], &mut out).unwrap();
        let answer: Result<Credentials, Error> = serde_json::from_slice(&out).unwrap();
        assert!(matches!(answer, Err(Error::Helper { .. })));
    }

    #[test]
    fn messages_are_built_and_read_in_buffers_that_never_grow() {
        let call = Call::AssumeRole(crate::sts::tests::request());
        let encoded = encode(&call).unwrap();
        assert_eq!(encoded.capacity(), MESSAGE_CAPACITY);
        let read = read_message(&mut &encoded[..]).unwrap();
        assert_eq!(read.capacity(), MESSAGE_CAPACITY);
        assert_eq!(&read[..], &encoded[..]);
        let long = vec![b' '; MESSAGE_CAPACITY + 10];
        let cut = read_message(&mut &long[..]).unwrap();
        assert_eq!(
            (cut.len(), cut.capacity()),
            (MESSAGE_CAPACITY, MESSAGE_CAPACITY)
        );
    }

    #[test]
    fn errors_cross_the_pipe_intact() {
        let sent: Result<Credentials, Error> = Err(Error::DurationTooLong {
            role_arn: "arn:aws:iam::1:role/x".into(),
            duration: 7200,
        });
        let json = serde_json::to_vec(&sent).unwrap();
        let back: Result<Credentials, Error> = serde_json::from_slice(&json).unwrap();
        assert!(matches!(
            back,
            Err(Error::DurationTooLong { duration: 7200, .. })
        ));
    }
}
