//! The code typed in a dialog, for when there is no terminal (an IDE, a GUI
//! tool running the AWS SDK): zenity or kdialog on a Linux desktop, osascript
//! on macOS. Not with `--no-gui`. The dialog runs as a child process that is
//! killed when the YubiKey answers first.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use super::{CodePrompt, Reply};
use crate::platform::child::{Killable, Pipes};

/// A dialog program found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialogProgram {
    Zenity(PathBuf),
    Kdialog(PathBuf),
    Osascript(PathBuf),
}

impl DialogProgram {
    /// The dialog program to use, or why there is none.
    pub fn find() -> Result<DialogProgram, String> {
        if cfg!(target_os = "macos") {
            let osascript = Path::new("/usr/bin/osascript");
            return if osascript.exists() {
                Ok(DialogProgram::Osascript(osascript.to_path_buf()))
            } else {
                Err("no osascript".into())
            };
        }
        let display = ["DISPLAY", "WAYLAND_DISPLAY"]
            .iter()
            .any(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty()));
        if !display {
            return Err("no GUI dialog (no display)".into());
        }
        if let Some(zenity) = on_path("zenity") {
            return Ok(DialogProgram::Zenity(zenity));
        }
        if let Some(kdialog) = on_path("kdialog") {
            return Ok(DialogProgram::Kdialog(kdialog));
        }
        Err("no GUI dialog (neither zenity nor kdialog on PATH)".into())
    }

    /// The command that shows `text` and prints the answer on stdout.
    fn command(&self, text: &str) -> Command {
        match self {
            DialogProgram::Zenity(path) => {
                let mut command = Command::new(path);
                command.args(["--entry", "--title=vegas"]);
                command.arg(format!("--text={text}"));
                command
            }
            DialogProgram::Kdialog(path) => {
                let mut command = Command::new(path);
                command.args(["--title", "vegas", "--inputbox", text]);
                command
            }
            DialogProgram::Osascript(path) => {
                let mut command = Command::new(path);
                command.arg("-e").arg(format!(
                    "text returned of (display dialog \"{}\" default answer \"\" with title \"vegas\")",
                    applescript_escape(text)
                ));
                command
            }
        }
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    crate::platform::find_program(program)
}

/// Text inside an AppleScript string literal.
fn applescript_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A dialog asking for the code, as a [`CodePrompt`].
#[derive(Debug)]
pub struct Dialog {
    program: DialogProgram,
    question: String,
    child: Killable,
}

impl Dialog {
    pub fn new(program: DialogProgram, question: String) -> Dialog {
        Dialog {
            program,
            question,
            child: Killable::default(),
        }
    }

    /// Show the dialog once: the text entered, or what became of it.
    fn show(&self, text: &str) -> Reply {
        let mut command = self.program.command(text);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let failed = |e: std::io::Error| Reply::Failed(format!("dialog: {e}"));
        let Pipes { stdout, .. } = match self.child.spawn(&mut command) {
            Ok(Ok(pipes)) => pipes,
            Ok(Err(_killed)) => return Reply::Cancelled,
            Err(e) => return failed(e),
        };
        let mut answer = Zeroizing::new(Vec::new());
        if let Some(mut stdout) = stdout {
            let _ = stdout.read_to_end(&mut answer);
        }
        match self.child.wait() {
            Ok(Ok(status)) if status.success() => Reply::Line(Zeroizing::new(
                String::from_utf8_lossy(&answer).into_owned(),
            )),
            Ok(Ok(_)) => Reply::Closed,
            Ok(Err(_killed)) => Reply::Cancelled,
            Err(e) => failed(e),
        }
    }
}

impl CodePrompt for Dialog {
    fn answer(&self, again: Option<&str>) -> Reply {
        match again {
            None => self.show(&self.question),
            Some(why) => self.show(&format!("{why}.\n{}", self.question)),
        }
    }

    /// Kill the dialog if it is shown, and show no other.
    fn cancel(&self) {
        self.child.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applescript_text_cannot_break_out_of_its_string() {
        assert_eq!(
            applescript_escape(r#"profile "x\" & do shell script"#),
            r#"profile \"x\\\" & do shell script"#
        );
    }

    #[test]
    fn each_program_is_given_the_question() {
        let text = "MFA code for profile admin";
        for program in [
            DialogProgram::Zenity("/usr/bin/zenity".into()),
            DialogProgram::Kdialog("/usr/bin/kdialog".into()),
            DialogProgram::Osascript("/usr/bin/osascript".into()),
        ] {
            let command = program.command(text);
            let args: Vec<String> = command
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            assert!(
                args.iter().any(|a| a.contains(text)),
                "{program:?}: {args:?}"
            );
        }
    }
}
