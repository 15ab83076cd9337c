//! The code through Yubico's `ykman`, for when PC/SC cannot be used by vegas
//! itself (or the user chose it):
//! `ykman [--device SERIAL] [--reader NAME] oath accounts code --single LABEL`.
//!
//! The code is read from stdout. ykman's own messages (errors as `ERROR: …`
//! on stderr, "Touch your YubiKey..." when it waits) are mapped to vegas's
//! errors and notices. The OATH password, when the applet has one, is written
//! to ykman's stdin, never put on its command line. ykman runs in a session
//! of its own, without the controlling terminal, so it can never prompt there
//! behind vegas's back: when it wants a password it asks on stdin, finds
//! nothing and stops ([`Outcome::PasswordNeeded`]), and vegas asks instead.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use super::{CodeRequest, Error, MfaCode, Outcome, Source};
use crate::platform::child::{Killable, Pipes};

/// What ykman writes on stderr when it waits for a touch.
const TOUCH_PROMPT: &str = "Touch your YubiKey";
/// What ykman writes on stderr when it wants the OATH password.
const PASSWORD_PROMPT: &str = "Enter the password";

/// `ykman` on PATH, if any.
pub fn program() -> Option<PathBuf> {
    crate::platform::find_program("ykman")
}

/// How long a probe run of ykman (`--version`, `oath info`) may take.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Run ykman with `args` (never a secret among them), nothing on its stdin,
/// for at most [`PROBE_TIMEOUT`].
fn run_probe(program: &std::path::Path, args: &[OsString]) -> Result<std::process::Output, Error> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    without_terminal(&mut command);
    crate::oath::pcsc::as_started(&mut command);
    let mut child = command.spawn().map_err(Error::YkmanSpawn)?;
    let deadline = std::time::Instant::now() + PROBE_TIMEOUT;
    loop {
        match child.try_wait().map_err(Error::YkmanSpawn)? {
            Some(_) => break,
            None if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            None => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::YkmanFailed(format!(
                    "ykman gave no answer within {} s",
                    PROBE_TIMEOUT.as_secs()
                )));
            }
        }
    }
    child.wait_with_output().map_err(Error::YkmanSpawn)
}

/// Whether ykman reaches the key `request` names: `ykman [--device S]
/// [--reader R] oath info`, which selects the OATH application and nothing
/// more (no password, no touch, no code). `Err` with what ykman said when it
/// finds no key; anything else is left for the real run to report.
pub fn reaches_a_key(request: &CodeRequest) -> Result<(), Error> {
    let Some(program) = program() else {
        return Err(Error::YkmanSpawn(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "ykman is not on PATH",
        )));
    };
    let mut args = Ykman::new(request).key_args();
    args.extend(["oath".into(), "info".into()]);
    let output = run_probe(&program, &args)?;
    if output.status.success() {
        return Ok(());
    }
    match failure_error(&String::from_utf8_lossy(&output.stderr), &request.label) {
        e if e.means_no_key() => Err(e),
        _ => Ok(()),
    }
}

/// The first line of `program --version` (e.g. "YubiKey Manager (ykman)
/// version: 5.9.2"), waiting at most [`PROBE_TIMEOUT`]: whether the ykman
/// found runs at all, for `vegas doctor`. Touches no key.
pub fn version(program: &std::path::Path) -> Result<String, Error> {
    let output = run_probe(program, &["--version".into()])?;
    if !output.status.success() {
        return Err(Error::YkmanFailed(format!(
            "`ykman --version` exited with {}",
            output.status
        )));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .map(|line| line.trim().to_string())
        .filter(|line| !line.is_empty())
        .ok_or_else(|| Error::YkmanFailed("`ykman --version` printed nothing".into()))
}

/// One `ykman … oath accounts code --single LABEL` run as a [`Source`].
pub struct Ykman {
    label: String,
    serial: Option<u32>,
    reader: Option<String>,
    password: Option<Zeroizing<String>>,
    child: Killable,
}

impl std::fmt::Debug for Ykman {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ykman")
            .field("label", &self.label)
            .field("serial", &self.serial)
            .field("reader", &self.reader)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish_non_exhaustive()
    }
}

impl Ykman {
    pub fn new(request: &CodeRequest) -> Ykman {
        Ykman {
            label: request.label.clone(),
            serial: request.key.serial,
            reader: request.key.reader.clone(),
            password: None,
            child: Killable::default(),
        }
    }

    /// Give ykman this OATH password (on its stdin).
    pub fn with_password(mut self, password: Zeroizing<String>) -> Ykman {
        self.password = Some(password);
        self
    }

    /// The arguments that choose the key.
    fn key_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        if let Some(serial) = self.serial {
            args.extend(["--device".into(), serial.to_string().into()]);
        }
        if let Some(reader) = &self.reader {
            args.extend(["--reader".into(), reader.into()]);
        }
        args
    }

    /// The arguments: never a secret among them.
    pub fn args(&self) -> Vec<OsString> {
        let mut args = self.key_args();
        args.extend(
            ["oath", "accounts", "code", "--single"]
                .into_iter()
                .map(OsString::from),
        );
        args.push(self.label.clone().into());
        args
    }

    fn command(&self) -> Result<Command, Error> {
        let program = program().ok_or_else(|| {
            Error::YkmanSpawn(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "ykman is not on PATH",
            ))
        })?;
        let mut command = Command::new(program);
        command
            .args(self.args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        without_terminal(&mut command);
        crate::oath::pcsc::as_started(&mut command);
        Ok(command)
    }
}

impl Source for Ykman {
    fn code(&self, waiting_for_touch: &(dyn Fn() + Sync)) -> Outcome {
        let mut command = match self.command() {
            Ok(command) => command,
            Err(e) => return Outcome::Failed(e),
        };
        tracing::debug!(args = ?self.args(), "running ykman");
        let Pipes {
            stdin,
            stdout,
            stderr,
        } = match self.child.spawn(&mut command) {
            Ok(Ok(pipes)) => pipes,
            Ok(Err(_killed)) => return Outcome::Cancelled,
            Err(e) => return Outcome::Failed(Error::YkmanSpawn(e)),
        };
        if let Some(mut stdin) = stdin {
            if let Some(password) = &self.password {
                // ykman may have stopped already (no password set): not an error.
                let mut line = Zeroizing::new(password.as_bytes().to_vec());
                line.push(b'\n');
                let _ = stdin.write_all(&line);
            }
        }
        let mut out = Zeroizing::new(Vec::new());
        let mut err = String::new();
        std::thread::scope(|scope| {
            let watcher = scope.spawn(|| watch_stderr(stderr, waiting_for_touch));
            if let Some(mut stdout) = stdout {
                let _ = stdout.read_to_end(&mut out);
            }
            err = watcher.join().unwrap_or_default();
        });
        let status = match self.child.wait() {
            Ok(Ok(status)) => status,
            Ok(Err(_killed)) => return Outcome::Cancelled,
            Err(e) => return Outcome::Failed(Error::YkmanSpawn(e)),
        };
        if status.success() {
            parse_code(&out).into()
        } else {
            interpret_failure(&err, &self.label)
        }
    }

    fn cancel(&self) {
        self.child.kill();
    }
}

/// Collect ykman's stderr, calling `waiting_for_touch` when it asks for one.
fn watch_stderr(
    stderr: Option<std::process::ChildStderr>,
    waiting_for_touch: &(dyn Fn() + Sync),
) -> String {
    let Some(stderr) = stderr else {
        return String::new();
    };
    let mut text = String::new();
    for line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
        let line = String::from_utf8_lossy(&line);
        if line.starts_with(TOUCH_PROMPT) {
            waiting_for_touch();
        }
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// The code ykman printed: one line of 6 to 8 digits. Its time step is the
/// one ykman finished in: never earlier than the code's own, so the cache
/// never lets the same code be sent twice.
fn parse_code(stdout: &[u8]) -> Result<MfaCode, Error> {
    let text = std::str::from_utf8(stdout)
        .map_err(|_| Error::YkmanFailed("its output is not text".into()))?;
    let mut code =
        MfaCode::given(text.trim()).map_err(|_| Error::YkmanFailed("it printed no code".into()))?;
    code.step = super::sts_step_now();
    Ok(code)
}

/// What a failed run of ykman came to: it wants the password, or an error.
fn interpret_failure(stderr: &str, label: &str) -> Outcome {
    if stderr.contains(PASSWORD_PROMPT) && !stderr.contains("Wrong password") {
        return Outcome::PasswordNeeded;
    }
    Outcome::Failed(failure_error(stderr, label))
}

/// Map ykman's messages to vegas's errors.
fn failure_error(stderr: &str, label: &str) -> Error {
    let message = last_message(stderr);
    if message.contains("No matching account found") {
        return Error::YkmanNoAccount {
            label: label.to_string(),
        };
    }
    if message.contains("Touch account timed out") {
        return Error::YubiKey(crate::oath::Error::TouchTimedOut);
    }
    if message.contains("Wrong password") {
        return Error::YubiKey(crate::oath::Error::WrongPassword);
    }
    if stderr.contains("Multiple YubiKeys detected")
        || message.contains("Multiple external readers")
    {
        let keys: Vec<&str> = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("- "))
            .collect();
        return Error::YkmanSeveralKeys(if keys.is_empty() {
            message
        } else {
            keys.join(", ")
        });
    }
    let no_key = [
        "No YubiKey detected",
        "No YubiKey found",
        "Failed connecting to a YubiKey",
        "Failed to connect to YubiKey",
    ];
    if stderr.contains("Service not available") {
        return Error::YkmanNoKey("pcscd (the smart card service) is not running".into());
    }
    if no_key.iter().any(|m| stderr.contains(m)) {
        return Error::YkmanNoKey(message);
    }
    Error::YkmanFailed(message)
}

/// ykman's last `ERROR: …` line (else its last line), for messages.
fn last_message(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("ERROR: "))
        .or(lines.last().copied())
        .unwrap_or("no message")
        .to_string()
}

/// Run the child in a session of its own: no controlling terminal, so ykman
/// can neither prompt on it nor be stopped by it.
fn without_terminal(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid is async-signal-safe and touches no memory of ours.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Backend;
    use crate::oath::KeySelector;

    fn request() -> CodeRequest {
        CodeRequest {
            profile: "admin".into(),
            mfa_serial: "arn:aws:iam::111111111111:mfa/alice".into(),
            label: "AWS:alice".into(),
            key: KeySelector {
                serial: Some(12_345_678),
                reader: Some("Yubico YubiKey OTP+FIDO+CCID 00 00".into()),
            },
            backend: Backend::Ykman,
            prompt: Default::default(),
            timeout: std::time::Duration::from_secs(60),
        }
    }

    #[test]
    fn arguments_select_the_key_and_the_account_and_hold_no_password() {
        let ykman = Ykman::new(&request()).with_password(Zeroizing::new("hunter2".into()));
        let args: Vec<String> = ykman
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "--device",
                "12345678",
                "--reader",
                "Yubico YubiKey OTP+FIDO+CCID 00 00",
                "oath",
                "accounts",
                "code",
                "--single",
                "AWS:alice"
            ]
        );
        assert!(!format!("{ykman:?}").contains("hunter2"));
    }

    #[test]
    fn ykman_messages_map_to_vegas_errors() {
        type Expected = fn(&Error) -> bool;
        let cases: [(&str, Expected); 6] = [
            (
                "ERROR: No matching account found.\n",
                |e| matches!(e, Error::YkmanNoAccount { label } if label == "AWS:alice"),
            ),
            (
                "Touch your YubiKey...\nERROR: Touch account timed out!\n",
                |e| matches!(e, Error::YubiKey(crate::oath::Error::TouchTimedOut)),
            ),
            (
                "ERROR: Authentication to the YubiKey failed. Wrong password?\n",
                |e| matches!(e, Error::YubiKey(crate::oath::Error::WrongPassword)),
            ),
            (
                "ERROR: No YubiKey detected!\n",
                |e| matches!(e, Error::YkmanNoKey(m) if m == "No YubiKey detected!"),
            ),
            (
                "Multiple YubiKeys detected:\n- YubiKey 5A (5.4.3) [OTP+FIDO+CCID] Serial: 1\n\
                 - YubiKey 5A (5.4.3) [OTP+FIDO+CCID] Serial: 2\n\
                 ERROR: Use --device SERIAL to specify which one to use.\n",
                |e| matches!(e, Error::YkmanSeveralKeys(m) if m.contains("Serial: 1") && m.contains("Serial: 2")),
            ),
            (
                "Traceback …\nKeyError: 'x'\n",
                |e| matches!(e, Error::YkmanFailed(m) if m == "KeyError: 'x'"),
            ),
        ];
        for (stderr, expected) in cases {
            let outcome = interpret_failure(stderr, "AWS:alice");
            let Outcome::Failed(error) = outcome else {
                panic!("{stderr:?} gave {outcome:?}");
            };
            assert!(expected(&error), "{stderr:?} gave {error:?}");
        }
    }

    #[test]
    fn ykman_asking_for_the_password_is_an_outcome_not_an_error() {
        let asked = "Warning: Password input may be echoed.\nEnter the password: \nAborted!\n";
        assert!(matches!(
            interpret_failure(asked, "AWS:alice"),
            Outcome::PasswordNeeded
        ));
        let refused = "Enter the password: \nERROR: Authentication to the YubiKey failed. \
                       Wrong password?\n";
        assert!(matches!(
            interpret_failure(refused, "AWS:alice"),
            Outcome::Failed(Error::YubiKey(crate::oath::Error::WrongPassword))
        ));
    }

    #[test]
    fn a_missing_pcscd_under_ykman_is_a_missing_key() {
        let stderr = "WARNING: PC/SC not available.\nERROR: An unexpected error has occurred\n\
                      smartcard.pcsc.PCSCExceptions.EstablishContextException: Failed to establish \
                      context: Service not available. (0x8010001D)\n";
        let error = failure_error(stderr, "x");
        assert!(error.means_no_key());
        assert!(error.to_string().contains("pcscd"), "{error}");
    }

    #[test]
    fn the_code_is_the_one_line_on_stdout() {
        assert_eq!(&*parse_code(b"123456\n").unwrap().digits, "123456");
        assert!(parse_code(b"").is_err());
        assert!(parse_code(b"AWS:alice  123456\n").is_err());
    }
}
