//! One finished process, as the end-to-end tests look at it: its output and
//! the wall-clock interval it covered (unix seconds, to know which TOTP steps
//! a code may belong to; and the elapsed time).

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::world::{assert_clean_failure, unix_now};

/// One finished process, with the wall-clock interval it covered: unix
/// seconds for TOTP steps, and the elapsed time for the speed checks.
pub struct Run {
    pub output: Output,
    pub started: u64,
    pub finished: u64,
    pub elapsed: Duration,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn succeeded(&self) -> &Run {
        assert!(
            self.output.status.success(),
            "failed with {}\nstdout: {}\nstderr: {}",
            self.output.status,
            self.stdout(),
            self.stderr()
        );
        self
    }

    pub fn lines(&self) -> Vec<String> {
        self.stdout().lines().map(str::to_owned).collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout()))
    }

    /// The code of a single-account `vegas oath code` or `ykman … --single`:
    /// the last word of the only line.
    pub fn single_code(&self) -> String {
        let lines = self.succeeded().lines();
        assert_eq!(lines.len(), 1, "one line expected:\n{}", self.stdout());
        lines[0]
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .to_owned()
    }

    /// An error the vegas way (exit 1, stdout empty, `vegas: …` then
    /// `hint: …` last on stderr); returns (error line, hint line).
    pub fn clean_failure(&self) -> (String, String) {
        let stderr = assert_clean_failure(&self.output);
        let lines: Vec<&str> = stderr.lines().collect();
        let [.., error, hint] = lines.as_slice() else {
            unreachable!("assert_clean_failure checked two lines");
        };
        (error.to_string(), hint.to_string())
    }
}

/// Runs `command`, giving it `stdin` (else /dev/null), capturing its output.
pub fn run_timed(mut command: Command, stdin: Option<&str>) -> Run {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = unix_now();
    let clock = Instant::now();
    let mut child = command.spawn().expect("start the program");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    let output = child.wait_with_output().expect("wait for the program");
    Run {
        output,
        elapsed: clock.elapsed(),
        started,
        finished: unix_now(),
    }
}
