//! The MFA code typed on the controlling terminal (`/dev/tty`), never on
//! stdout: the AWS tools that run vegas read its stdout and often swallow
//! stderr. This only asks and reads lines; `totp::typed` checks them.
//!
//! Each line is read in the terminal's ordinary line mode (set for the read
//! if the terminal was in another, and restored after), polled so that the
//! read can be abandoned at once when the YubiKey answers first: then what
//! was typed so far is discarded, the mode restored and the line ended.
//! The code is echoed as it is typed, as authenticator codes usually are; it
//! is good for 30 seconds and once.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use zeroize::Zeroizing;

use super::{CodePrompt, Reply};

/// How often a waiting read looks whether it was cancelled.
const POLL: Duration = Duration::from_millis(50);
/// The longest line taken as an answer.
const MAX_LINE: usize = 256;

/// A question on the terminal, answered by a typed line.
pub struct LinePrompt {
    tty: File,
    question: String,
    cancelled: AtomicBool,
    /// The terminal's own mode, while vegas has put it in line mode.
    saved_mode: Mutex<Option<libc::termios>>,
}

impl std::fmt::Debug for LinePrompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinePrompt")
            .field("question", &self.question)
            .finish_non_exhaustive()
    }
}

/// The controlling terminal, if vegas has one and may read it: a process in
/// the background would be stopped by the read, so that counts as none.
pub fn terminal() -> Result<File, String> {
    let tty = crate::platform::open_tty().map_err(|_| "no terminal".to_string())?;
    if !crate::platform::in_foreground(&tty) {
        return Err("vegas runs in the background of its terminal".into());
    }
    Ok(tty)
}

impl LinePrompt {
    pub fn open(question: String) -> Result<LinePrompt, String> {
        Ok(LinePrompt::on(terminal()?, question))
    }

    /// A prompt on `tty` (the controlling terminal, or a pty in tests).
    fn on(tty: File, question: String) -> LinePrompt {
        LinePrompt {
            tty,
            question,
            cancelled: AtomicBool::new(false),
            saved_mode: Mutex::new(None),
        }
    }

    fn say(&self, text: &str) {
        let _ = (&self.tty).write_all(text.as_bytes());
        let _ = (&self.tty).flush();
    }

    /// Put the question (or, after a malformed answer, say so and ask
    /// again) and read one line.
    fn ask(&self, again: Option<&str>) -> Result<Zeroizing<String>, Reply> {
        match again {
            None => {
                // Anything typed before the question is not an answer to it.
                // SAFETY: a descriptor we own.
                unsafe { libc::tcflush(self.tty.as_raw_fd(), libc::TCIFLUSH) };
                self.say(&self.question);
            }
            Some(why) => self.say(&format!("{why}; type it again: ")),
        }
        self.read_line()
    }

    /// One line, without its end. Gives up when cancelled.
    fn read_line(&self) -> Result<Zeroizing<String>, Reply> {
        let mut line = Zeroizing::new(Vec::new());
        let mut chunk = Zeroizing::new([0u8; 64]);
        loop {
            if self.cancelled.load(Ordering::SeqCst) {
                return Err(Reply::Cancelled);
            }
            if !self.readable()? {
                continue;
            }
            let n = (&self.tty)
                .read(chunk.as_mut())
                .map_err(|e| Reply::Failed(e.to_string()))?;
            let Some(read) = chunk.get(..n).filter(|r| !r.is_empty()) else {
                return Err(Reply::Closed);
            };
            line.extend_from_slice(read);
            if line.len() > MAX_LINE {
                line.clear();
            }
            if let Some(end) = line.iter().position(|b| *b == b'\n') {
                let text = line.get(..end).unwrap_or_default();
                return Ok(Zeroizing::new(String::from_utf8_lossy(text).into_owned()));
            }
        }
    }

    /// Whether the terminal has input, waiting at most [`POLL`].
    fn readable(&self) -> Result<bool, Reply> {
        let mut poll = libc::pollfd {
            fd: self.tty.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = libc::c_int::try_from(POLL.as_millis()).unwrap_or(50);
        // SAFETY: one valid pollfd, for a descriptor we own.
        let ready = unsafe { libc::poll(&mut poll, 1, millis) };
        if ready < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(Reply::Failed(e.to_string()));
        }
        Ok(ready > 0)
    }

    /// Put the terminal in line mode with echo, if it is not, keeping its mode.
    fn enter_line_mode(&self) {
        let fd = self.tty.as_raw_fd();
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut mode: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: a descriptor we own and a termios we own.
        if unsafe { libc::tcgetattr(fd, &mut mode) } != 0 {
            return;
        }
        let wanted = libc::ICANON | libc::ECHO;
        if mode.c_lflag & wanted == wanted && mode.c_iflag & libc::ICRNL != 0 {
            return;
        }
        let mut line_mode = mode;
        line_mode.c_lflag |= wanted;
        line_mode.c_iflag |= libc::ICRNL;
        // SAFETY: as above.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &line_mode) } == 0 {
            *self.saved() = Some(mode);
        }
    }

    /// Give the terminal its own mode back (once, whoever comes first).
    fn restore_mode(&self) {
        if let Some(mode) = self.saved().take() {
            // SAFETY: a descriptor we own and the termios it gave us.
            unsafe { libc::tcsetattr(self.tty.as_raw_fd(), libc::TCSANOW, &mode) };
        }
    }

    fn saved(&self) -> std::sync::MutexGuard<'_, Option<libc::termios>> {
        self.saved_mode
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl CodePrompt for LinePrompt {
    /// In line mode for the read only: the terminal has its own mode back
    /// between answers and after the last.
    fn answer(&self, again: Option<&str>) -> Reply {
        if self.cancelled.load(Ordering::SeqCst) {
            return Reply::Cancelled;
        }
        self.enter_line_mode();
        let answer = self.ask(again);
        self.restore_mode();
        match answer {
            Ok(line) => Reply::Line(line),
            Err(reply) => reply,
        }
    }

    /// Drop what was typed so far, restore the mode and end the line.
    fn cancel(&self) {
        if self.cancelled.swap(true, Ordering::SeqCst) {
            return;
        }
        // SAFETY: a descriptor we own.
        unsafe { libc::tcflush(self.tty.as_raw_fd(), libc::TCIFLUSH) };
        self.restore_mode();
        self.say("\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::FromRawFd;
    use std::sync::Arc;
    use std::time::Instant;

    /// A pseudo-terminal: (the side a person types on, the side vegas reads).
    fn pty() -> (File, File) {
        // SAFETY: plain libc calls; each descriptor is checked and owned once.
        unsafe {
            let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
            assert!(master >= 0, "posix_openpt");
            assert_eq!(libc::grantpt(master), 0);
            assert_eq!(libc::unlockpt(master), 0);
            let mut name = [0 as libc::c_char; 128];
            assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
            let slave = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
            assert!(slave >= 0, "open the pty's terminal side");
            (File::from_raw_fd(master), File::from_raw_fd(slave))
        }
    }

    fn mode(tty: &File) -> libc::termios {
        // SAFETY: as in `enter_line_mode`.
        let mut mode: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(tty.as_raw_fd(), &mut mode) }, 0);
        mode
    }

    /// Put the terminal in raw-ish mode, as a full-screen program would.
    fn without_line_mode(tty: &File) -> libc::termios {
        let mut raw = mode(tty);
        raw.c_lflag &= !(libc::ICANON | libc::ECHO);
        // SAFETY: as above.
        assert_eq!(
            unsafe { libc::tcsetattr(tty.as_raw_fd(), libc::TCSANOW, &raw) },
            0
        );
        mode(tty)
    }

    fn same_mode(a: &libc::termios, b: &libc::termios) -> bool {
        a.c_lflag == b.c_lflag && a.c_iflag == b.c_iflag
    }

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < Duration::from_secs(5), "{what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A prompt asking on `tty` from a thread of its own, once the
    /// terminal is in line mode: a handle on the terminal, the prompt, and
    /// the thread that will give its reply.
    fn asking_on(tty: File) -> (File, Arc<LinePrompt>, std::thread::JoinHandle<Reply>) {
        let probe = tty.try_clone().unwrap();
        let prompt = Arc::new(LinePrompt::on(tty, "MFA code: ".into()));
        let asking = Arc::clone(&prompt);
        let answer = std::thread::spawn(move || asking.answer(None));
        wait_for("line mode while asking", || {
            mode(&probe).c_lflag & libc::ICANON != 0
        });
        (probe, prompt, answer)
    }

    #[test]
    fn a_cancelled_prompt_gives_the_terminal_its_own_mode_back() {
        let (_person, tty) = pty();
        let before = without_line_mode(&tty);
        let (probe, prompt, answer) = asking_on(tty);
        prompt.cancel();
        // Back when `cancel` returns: the process may exit right after.
        assert!(
            same_mode(&mode(&probe), &before),
            "the terminal's own mode is back"
        );
        let reply = answer.join().unwrap();
        assert!(matches!(reply, Reply::Cancelled), "{reply:?}");
        assert!(same_mode(&mode(&probe), &before));
    }

    #[test]
    fn a_typed_line_is_the_answer_and_the_mode_is_restored_after_it() {
        let (mut person, tty) = pty();
        let before = without_line_mode(&tty);
        let (probe, _prompt, answer) = asking_on(tty);
        person.write_all(b"123456\n").unwrap();
        let reply = answer.join().unwrap();
        let Reply::Line(line) = reply else {
            panic!("{reply:?}")
        };
        assert_eq!(line.as_str(), "123456");
        assert!(same_mode(&mode(&probe), &before));
        let mut screen = [0u8; 64];
        let n = person.read(&mut screen).unwrap();
        let screen = String::from_utf8_lossy(&screen[..n]);
        assert!(screen.starts_with("MFA code: "), "{screen:?}");
    }

    #[test]
    fn a_prompt_cancelled_before_it_asks_asks_nothing() {
        let (_person, tty) = pty();
        let before = without_line_mode(&tty);
        let probe = tty.try_clone().unwrap();
        let prompt = LinePrompt::on(tty, "MFA code: ".into());
        prompt.cancel();
        assert!(matches!(prompt.answer(None), Reply::Cancelled));
        assert!(same_mode(&mode(&probe), &before));
    }
}
