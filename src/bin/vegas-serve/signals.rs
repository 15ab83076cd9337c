//! SIGINT, SIGTERM and SIGHUP (the terminal closed), caught from the start
//! so that any of them stops the server cleanly: the token file removed, a
//! child told, all within a second.

use std::pin::pin;

use futures_util::future::{select, Either};
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::error::ServeError;

pub struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Signals {
    /// Catch both from now on. Needs the runtime.
    pub fn install() -> Result<Signals, ServeError> {
        let catch = |kind| signal(kind).map_err(|e| ServeError::Runtime(e.to_string()));
        Ok(Signals {
            interrupt: catch(SignalKind::interrupt())?,
            terminate: catch(SignalKind::terminate())?,
            hangup: catch(SignalKind::hangup())?,
        })
    }

    /// The next of them to arrive, as its number.
    pub async fn next(&mut self) -> libc::c_int {
        let (terminate, hangup) = (pin!(self.terminate.recv()), pin!(self.hangup.recv()));
        match select(pin!(self.interrupt.recv()), select(terminate, hangup)).await {
            Either::Left(_) => libc::SIGINT,
            Either::Right((Either::Left(_), _)) => libc::SIGTERM,
            Either::Right((Either::Right(_), _)) => libc::SIGHUP,
        }
    }
}
