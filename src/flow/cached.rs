//! The caching decorator: the one place that decides whether cached
//! credentials are served (a hit) or fetched again (a miss), for every kind
//! of row — a profile's role credentials, an MFA session, a chain's hop.
//!
//! A row is served while it has more than its window left: botocore's
//! ten-minute mandatory refresh window for what is printed
//! (`--disable-mandatory-refresh`: until it expires), and at least a minute
//! for credentials that will sign one more call. Anything the cache cannot
//! read is a miss; anything it cannot write is a warning. The cache is an
//! optimisation, never a reason to fail.

use super::provider::{Freshness, Provider, Retrieved};
use super::Context;
use crate::cache::{CacheKey, EntryMeta, MfaSessionId};
use crate::credentials::Credentials;
use crate::Error;

/// Which row a [`Cached`] provider reads and writes.
pub(super) enum Slot {
    /// A profile's role credentials.
    Role { key: CacheKey, meta: EntryMeta },
    /// The MFA session of a source profile and device.
    MfaSession(MfaSessionId),
}

/// `inner`, with its credentials kept in the cache under `slot`.
pub(super) struct Cached<'a> {
    pub slot: Slot,
    /// Seconds the credentials must have left to be served.
    pub window: i64,
    pub inner: Box<dyn Provider + 'a>,
    pub ctx: &'a Context<'a>,
}

impl Provider for Cached<'_> {
    fn at_hand(&self) -> Option<Credentials> {
        let cache = self.ctx.cache?;
        let now = self.ctx.clock.unix_now();
        let read = match &self.slot {
            Slot::Role { key, .. } => cache.get(key, now),
            Slot::MfaSession(id) => cache.get_mfa_session(id, now),
        };
        match read {
            Ok(Some(creds)) if creds.remaining(now) > self.window => Some(creds),
            Ok(Some(_)) => {
                tracing::debug!(
                    row = self.row_name(),
                    "cached, but inside the refresh window"
                );
                None
            }
            Ok(None) => None,
            Err(e) => {
                self.ctx.ui.warn(&format!("cannot read the cache: {e}"));
                None
            }
        }
    }

    fn retrieve(&self, freshness: Freshness) -> Result<Retrieved, Error> {
        if freshness == Freshness::Any {
            if let Some(credentials) = self.at_hand() {
                tracing::debug!(row = self.row_name(), "from the cache");
                return Ok(Retrieved {
                    credentials,
                    from_cache: true,
                });
            }
        }
        let fetched = self.inner.retrieve(Freshness::Fresh)?;
        self.store(&fetched.credentials);
        Ok(fetched)
    }
}

impl Cached<'_> {
    fn store(&self, credentials: &Credentials) {
        let Some(cache) = self.ctx.cache else { return };
        let now = self.ctx.clock.unix_now();
        let stored = match &self.slot {
            Slot::Role { key, meta } => cache.put(key, meta, credentials, now),
            Slot::MfaSession(id) => cache.put_mfa_session(id, credentials, now),
        };
        if let Err(e) = stored {
            let what = match self.slot {
                Slot::Role { .. } => "the credentials",
                Slot::MfaSession(_) => "the MFA session",
            };
            self.ctx
                .ui
                .warn(&format!("cannot store {what} in the cache: {e}"));
        }
    }

    fn row_name(&self) -> &str {
        match &self.slot {
            Slot::Role { key, .. } => key.profile(),
            Slot::MfaSession(_) => "MFA session",
        }
    }
}
