//! `vegas serve -- COMMAND ARGS…`: COMMAND runs with the variables that
//! point at the server, and its end is the server's end.
//!
//! Its exit status becomes ours (a signal n as 128+n, as a shell reports
//! it). SIGINT, SIGTERM or SIGHUP sent to vegas is passed on to COMMAND,
//! and vegas ends when COMMAND does: `docker compose up` stops its
//! containers on the first Ctrl-C and only kills them on the second, so
//! vegas neither kills it nor sends a Ctrl-C twice (one typed on the
//! terminal, sent by the kernel, reaches COMMAND itself).

use std::ffi::OsString;
use std::pin::pin;
use std::process::{ExitCode, ExitStatus};

use futures_util::future::{select, Either};

use crate::error::ServeError;
use crate::signals::{Caught, Signals};
use crate::variables::Variables;

/// Run `command` with `variables` set and wait for it, or for a signal.
pub async fn run(
    command: &[OsString],
    variables: &Variables<'_>,
    signals: &mut Signals,
) -> Result<ExitCode, ServeError> {
    let Some((program, args)) = command.split_first() else {
        return Ok(ExitCode::SUCCESS);
    };
    let mut cmd = tokio::process::Command::new(program);
    vegas::oath::pcsc::as_started(cmd.as_std_mut());
    cmd.args(args);
    variables.apply(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| ServeError::Command {
        program: program.to_string_lossy().into_owned(),
        message: e.to_string(),
    })?;
    let pid = child.id().and_then(|pid| libc::pid_t::try_from(pid).ok());
    let status = loop {
        match select(pin!(child.wait()), pin!(signals.next())).await {
            Either::Left((status, _)) => break status,
            Either::Right((signal, _)) => pass_on(signal, pid),
        }
    };
    let status = status.map_err(|e| ServeError::Command {
        program: program.to_string_lossy().into_owned(),
        message: e.to_string(),
    })?;
    Ok(ExitCode::from(exit_byte(status)))
}

/// Pass `signal` on to COMMAND, unless the kernel sent it (a Ctrl-C typed
/// on the terminal, a hang-up): the kernel sent it to COMMAND too.
fn pass_on(signal: Caught, pid: Option<libc::pid_t>) {
    if let (false, Some(pid)) = (signal.from_kernel, pid) {
        // SAFETY: kill(2) on the pid of our own child, not yet reaped.
        unsafe { libc::kill(pid, signal.number) };
    }
}

/// A child's status as one exit byte: its code, or 128 + the signal.
fn exit_byte(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => (code & 0xff) as u8,
        (None, Some(signal)) => (128 + (signal & 0x7f)) as u8,
        (None, None) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn an_exit_code_is_kept_and_a_signal_becomes_128_plus_its_number() {
        assert_eq!(exit_byte(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_byte(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_byte(ExitStatus::from_raw(libc::SIGTERM)), 143);
        assert_eq!(exit_byte(ExitStatus::from_raw(libc::SIGINT)), 130);
    }
}
