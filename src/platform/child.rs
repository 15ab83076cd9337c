//! A child process (ykman, a code dialog) that another thread may kill at any
//! moment, without ever signalling a process id that has been reused: the
//! child is reaped only under the same lock that kills it.

use std::io;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How often [`Killable::wait`] looks whether the child has exited.
const POLL: Duration = Duration::from_millis(10);

#[derive(Debug, Default)]
enum State {
    #[default]
    Idle,
    Running(Child),
    Killed,
}

/// The pipes of a spawned child that were asked for (`Stdio::piped()`).
pub(crate) struct Pipes {
    pub stdin: Option<ChildStdin>,
    pub stdout: Option<ChildStdout>,
    pub stderr: Option<ChildStderr>,
}

/// At most one child at a time, killable from any thread.
#[derive(Debug, Default)]
pub(crate) struct Killable {
    state: Mutex<State>,
}

/// The child was killed (by [`Killable::kill`]) before or while it ran.
#[derive(Debug)]
pub(crate) struct Killed;

impl Killable {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not stop a child from being killed.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Start `command`; `Ok(Err(Killed))` when [`Killable::kill`] came first.
    pub fn spawn(&self, command: &mut Command) -> io::Result<Result<Pipes, Killed>> {
        let mut state = self.state();
        if matches!(*state, State::Killed) {
            return Ok(Err(Killed));
        }
        let mut child = command.spawn()?;
        let pipes = Pipes {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
        };
        *state = State::Running(child);
        Ok(Ok(pipes))
    }

    /// Wait for the running child to exit.
    pub fn wait(&self) -> io::Result<Result<ExitStatus, Killed>> {
        loop {
            {
                let mut state = self.state();
                match &mut *state {
                    State::Running(child) => {
                        if let Some(status) = child.try_wait()? {
                            *state = State::Idle;
                            return Ok(Ok(status));
                        }
                    }
                    State::Killed => return Ok(Err(Killed)),
                    State::Idle => {
                        return Err(io::Error::other("no child process to wait for"));
                    }
                }
            }
            std::thread::sleep(POLL);
        }
    }

    /// Kill the child if one runs, and refuse to start another.
    pub fn kill(&self) {
        let mut state = self.state();
        if let State::Running(child) = &mut *state {
            if let Err(e) = child.kill() {
                tracing::debug!("killing child {}: {e}", child.id());
            }
            let _ = child.wait();
        }
        *state = State::Killed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn a_finished_child_reports_its_status() {
        let killable = Killable::default();
        let pipes = killable
            .spawn(
                Command::new("sh")
                    .args(["-c", "exit 3"])
                    .stdin(Stdio::null()),
            )
            .unwrap();
        assert!(pipes.is_ok());
        let status = killable.wait().unwrap().unwrap();
        assert_eq!(status.code(), Some(3));
    }

    #[test]
    fn kill_ends_a_waiting_child_at_once() {
        let killable = Arc::new(Killable::default());
        killable
            .spawn(Command::new("sleep").arg("30").stdin(Stdio::null()))
            .unwrap()
            .unwrap();
        let started = Instant::now();
        let other = Arc::clone(&killable);
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            other.kill();
        });
        assert!(killable.wait().unwrap().is_err(), "wait reports the kill");
        killer.join().unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn nothing_starts_after_a_kill() {
        let killable = Killable::default();
        killable.kill();
        let spawned = killable
            .spawn(Command::new("sleep").arg("30").stdin(Stdio::null()))
            .unwrap();
        assert!(spawned.is_err());
    }
}
