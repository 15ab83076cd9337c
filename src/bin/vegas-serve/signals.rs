//! SIGINT, SIGTERM and SIGHUP (the terminal closed), caught from the start
//! so that any of them stops the server cleanly: the token file removed, a
//! child told, all within a second.
//!
//! Each comes with where it came from (the kernel's `siginfo`): a Ctrl-C
//! typed on the terminal is sent by the kernel to the whole foreground
//! process group, COMMAND included, while a `kill -INT` from another shell
//! reaches vegas alone. child.rs passes on only the latter.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::{Handle, SignalsInfo};
use signal_hook::low_level::siginfo::Cause;
use tokio::sync::mpsc;

use crate::error::ServeError;

/// One signal caught.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caught {
    pub number: libc::c_int,
    /// Sent by the kernel (a key typed on the terminal, a hang-up) rather
    /// than by a process with kill(2).
    pub from_kernel: bool,
}

pub struct Signals {
    arrived: mpsc::UnboundedReceiver<Caught>,
    handle: Handle,
}

impl Signals {
    /// Catch them from now on, on a thread of their own.
    pub fn install() -> Result<Signals, ServeError> {
        let mut caught = SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP])
            .map_err(|e| ServeError::Runtime(e.to_string()))?;
        let handle = caught.handle();
        let (tell, arrived) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for origin in caught.forever() {
                    let signal = Caught {
                        number: origin.signal,
                        from_kernel: from_kernel(origin.cause),
                    };
                    if tell.send(signal).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| ServeError::Runtime(e.to_string()))?;
        Ok(Signals { arrived, handle })
    }

    /// The next to arrive.
    pub async fn next(&mut self) -> Caught {
        match self.arrived.recv().await {
            Some(caught) => caught,
            // The thread is gone (it never ends by itself): stop as if told.
            None => Caught {
                number: SIGTERM,
                from_kernel: false,
            },
        }
    }
}

/// Whether a signal with `cause` came from the kernel rather than from a
/// process. signal-hook maps only Linux's `SI_KERNEL` to [`Cause::Kernel`];
/// Darwin has no such code (a typed Ctrl-C comes as `Unknown`), so anything
/// not sent with kill(2), tkill or sigqueue (`SI_USER` is `Sent(User)` on
/// both) counts as the kernel's.
fn from_kernel(cause: Cause) -> bool {
    !matches!(cause, Cause::Sent(_))
}

impl Drop for Signals {
    fn drop(&mut self) {
        self.handle.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signal_hook::low_level::siginfo::Sent;

    #[test]
    fn only_a_signal_sent_by_a_process_is_not_from_the_kernel_on_linux_and_darwin_alike() {
        assert!(from_kernel(Cause::Kernel), "Linux SI_KERNEL");
        assert!(from_kernel(Cause::Unknown), "Darwin's typed Ctrl-C");
        assert!(!from_kernel(Cause::Sent(Sent::User)), "kill(2)");
        assert!(!from_kernel(Cause::Sent(Sent::Queue)), "sigqueue");
        assert!(!from_kernel(Cause::Sent(Sent::TKill)), "tkill");
    }
}
