//! SIGINT and SIGTERM, caught from the start so that either one stops the
//! server cleanly: the token file removed, a child told, all within a second.

use std::pin::pin;

use futures_util::future::{select, Either};
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::error::ServeError;

pub struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    /// Catch both from now on. Needs the runtime.
    pub fn install() -> Result<Signals, ServeError> {
        let catch = |kind| signal(kind).map_err(|e| ServeError::Runtime(e.to_string()));
        Ok(Signals {
            interrupt: catch(SignalKind::interrupt())?,
            terminate: catch(SignalKind::terminate())?,
        })
    }

    /// The next of them to arrive, as its number.
    pub async fn next(&mut self) -> libc::c_int {
        match select(pin!(self.interrupt.recv()), pin!(self.terminate.recv())).await {
            Either::Left(_) => libc::SIGINT,
            Either::Right(_) => libc::SIGTERM,
        }
    }
}
