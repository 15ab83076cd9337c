//! The single-flight decorator: many processes starting at once on an empty
//! cache (Terraform's parallelism, `make -j`) cost one touch and one STS
//! call per MFA device.
//!
//! A miss takes the device's lock (a kernel advisory lock on a file in the
//! cache directory, so a killed holder never leaves it stale), then looks in
//! the cache again: whoever held the lock has most likely just filled it.
//! Only then is the inner provider asked, and the lock is held until its
//! credentials are stored. A cache directory where no lock can be made
//! (read-only) is not fatal: this process goes on alone.

use std::path::Path;
use std::time::{Duration, Instant};

use super::provider::{Freshness, Provider, Retrieved};
use super::Context;
use crate::cache;
use crate::credentials::Credentials;
use crate::Error;

/// How long a second vegas waits for the one that holds the device lock.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(120);

/// `inner` (a cached provider), fetched by one process per device at a time.
pub(super) struct SingleFlight<'a> {
    pub lock_dir: &'a Path,
    /// The device of the chain's first hop: a chain is locked on it whole.
    pub mfa_serial: &'a str,
    pub inner: Box<dyn Provider + 'a>,
    pub ctx: &'a Context<'a>,
}

impl Provider for SingleFlight<'_> {
    fn at_hand(&self) -> Option<Credentials> {
        self.inner.at_hand()
    }

    fn retrieve(&self, freshness: Freshness) -> Result<Retrieved, Error> {
        if freshness == Freshness::Any {
            if let Some(credentials) = self.inner.at_hand() {
                return Ok(Retrieved {
                    credentials,
                    from_cache: true,
                });
            }
        }
        let started = Instant::now();
        let _lock = self.lock()?;
        tracing::debug!(elapsed_us = super::micros(started), "device lock taken");
        if let Some(credentials) = self.inner.at_hand() {
            tracing::debug!("cache filled by another vegas while waiting");
            return Ok(Retrieved {
                credentials,
                from_cache: true,
            });
        }
        self.inner.retrieve(Freshness::Fresh)
    }
}

impl SingleFlight<'_> {
    /// The device lock, waiting (bounded) for another vegas that holds it.
    fn lock(&self) -> Result<Option<cache::DeviceLock>, Error> {
        let ui = self.ctx.ui;
        let mut told = false;
        let mut on_wait = || {
            if !told {
                ui.notice(&format!(
                    "Another vegas is getting a code for {}; waiting for it…",
                    self.mfa_serial
                ));
                told = true;
            }
        };
        match cache::lock_device(self.lock_dir, self.mfa_serial, LOCK_TIMEOUT, &mut on_wait) {
            Ok(lock) => Ok(Some(lock)),
            Err(e @ cache::Error::LockTimeout { .. }) => Err(e.into()),
            Err(e) => {
                ui.warn(&format!("going on without the device lock: {e}"));
                Ok(None)
            }
        }
    }
}
