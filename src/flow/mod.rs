//! The path of one `vegas assume`, as a chain of credential providers.
//!
//! ```text
//! SingleFlight            device lock + second look            single_flight.rs
//!  └ Cached(role row)     hit/miss and the refresh window      cached.rs
//!     └ AssumeRoleWithMfa                      code ─ AssumeRole (plain)
//!     | AssumeRoleSignedBy ─ Cached(MFA session) ─ SessionToken  (vegas_mfa_session)
//!     | AssumeRoleSignedBy ─ Cached(hop row) ─ …the hop below…   (role chain)
//! ```
//!
//! [`chain`] composes the providers from the profile's configuration;
//! [`provider`] has the STS calls, [`cached`] alone decides hit or miss for
//! every kind of row, [`single_flight`] owns the device lock and the second
//! look, [`mfa`] is the only place a code is asked for. Time comes from a
//! [`Clock`], STS and the code sources through the traits in [`seams`], so
//! the whole flow is unit-tested with an in-memory STS and scripted codes.
//!
//! A cache hit costs one SQLite read and one decrypt: no runtime, no SDK, no
//! PC/SC. The cache is an optimisation, never a reason to fail: if it cannot
//! be opened or written, the credentials are still fetched and printed, with
//! a one-line warning.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::cache::{Cache, CacheKey, EntryMeta, MfaSessionId};
use crate::config::Profile;
use crate::credentials::Credentials;
use crate::totp::PromptWays;
use crate::ui::Ui;
use crate::Error;

mod cached;
pub mod clock;
mod mfa;
pub mod provider;
pub mod seams;
mod single_flight;
#[cfg(test)]
mod tests;

use cached::{Cached, Slot};
pub use clock::{Clock, SystemClock};
use mfa::CodeSupply;
pub use mfa::SourceKeys;
pub use provider::ROLE_CHAIN_MAX_DURATION;
use provider::{
    AssumeRoleSignedBy, AssumeRoleWithMfa, Freshness, Provider, SessionToken, SignedBy,
};
pub use seams::{Codes, HelperSts, KeyCodes, Sts};
pub use single_flight::LOCK_TIMEOUT;

/// botocore's mandatory refresh window: credentials with less left than this
/// are refreshed rather than served.
pub const MANDATORY_REFRESH: Duration = Duration::from_secs(600);

/// Credentials used to sign one more call must outlive it by this much, even
/// under `--disable-mandatory-refresh`.
pub const SIGNING_MARGIN: i64 = 60;

/// What the command line and the environment ask of one `vegas assume`.
#[derive(Debug, Default)]
pub struct Options {
    /// A code given on the command line instead of asking the YubiKey.
    pub token_code: Option<Zeroizing<String>>,
    /// Serve cached credentials until they really expire.
    pub disable_mandatory_refresh: bool,
    /// A refresh window wider than the mandatory one (never narrower):
    /// `vegas serve` refreshes ahead of its clients' own windows.
    pub refresh_ahead: Option<Duration>,
    /// Where the cache lives; `None` runs without one.
    pub cache_dir: Option<PathBuf>,
    /// How a person may be asked for the code (none by default).
    pub prompt: PromptWays,
    /// What the files say of the source profile's keys; checked before a
    /// code is asked for. `None`: not known, not checked.
    pub source_keys: Option<SourceKeys>,
}

/// What the flow runs against: the clock, STS, the code sources, the person,
/// and the cache (when there is one).
pub struct Context<'a> {
    pub clock: &'a dyn Clock,
    pub sts: &'a dyn Sts,
    pub codes: &'a dyn Codes,
    pub ui: &'a dyn Ui,
    pub cache: Option<&'a Cache>,
}

/// Credentials for `profile`, from the cache or fresh from STS, with the
/// real clock, STS helper and code sources.
pub fn assume(profile: &Profile, options: &Options, ui: &dyn Ui) -> Result<Credentials, Error> {
    let started = Instant::now();
    let cache = options
        .cache_dir
        .as_deref()
        .and_then(|dir| open_cache(dir, ui));
    tracing::debug!(elapsed_us = micros(started), "cache opened");
    let ctx = Context {
        clock: &SystemClock,
        sts: &HelperSts,
        codes: &KeyCodes,
        ui,
        cache: cache.as_ref(),
    };
    run(&ctx, profile, options)
}

/// [`assume`] against any [`Context`].
pub fn run(ctx: &Context<'_>, profile: &Profile, options: &Options) -> Result<Credentials, Error> {
    let started = Instant::now();
    let codes = CodeSupply { ctx, options };
    let window = if options.disable_mandatory_refresh {
        0
    } else {
        let ahead = options.refresh_ahead.unwrap_or(MANDATORY_REFRESH);
        ahead.max(MANDATORY_REFRESH).as_secs() as i64
    };
    let top = cached(ctx, profile, window, chain(ctx, &codes, profile, window));
    let top: Box<dyn Provider + '_> = match (&options.cache_dir, ctx.cache) {
        (Some(dir), Some(_)) => Box::new(single_flight::SingleFlight {
            lock_dir: dir,
            mfa_serial: &profile.first_hop().mfa_serial.value,
            inner: top,
            ctx,
        }),
        _ => top,
    };
    let retrieved = top.retrieve(Freshness::Any)?;
    tracing::debug!(
        profile = %profile.name,
        elapsed_us = micros(started),
        "{}",
        if retrieved.from_cache { "cache hit" } else { "fetched" }
    );
    Ok(retrieved.credentials)
}

/// The uncached provider of `profile`'s credentials, by its configuration.
fn chain<'a>(
    ctx: &'a Context<'a>,
    codes: &'a CodeSupply<'a>,
    profile: &'a Profile,
    window: i64,
) -> Box<dyn Provider + 'a> {
    let signing_window = window.max(SIGNING_MARGIN);
    match profile.via.as_deref() {
        None if profile.mfa_session.value => Box::new(AssumeRoleSignedBy {
            profile,
            signed_by: SignedBy::MfaSession,
            signer: Box::new(Cached {
                slot: Slot::MfaSession(mfa_session_id(profile)),
                window: signing_window,
                inner: Box::new(SessionToken { profile, codes }),
                ctx,
            }),
            ctx,
        }),
        None => Box::new(AssumeRoleWithMfa { profile, codes }),
        Some(below) => Box::new(AssumeRoleSignedBy {
            profile,
            signed_by: SignedBy::Hop(below.name.clone()),
            signer: cached(ctx, below, signing_window, chain(ctx, codes, below, window)),
            ctx,
        }),
    }
}

/// `inner`, cached under `profile`'s key with `window`.
fn cached<'a>(
    ctx: &'a Context<'a>,
    profile: &Profile,
    window: i64,
    inner: Box<dyn Provider + 'a>,
) -> Box<dyn Provider + 'a> {
    Box::new(Cached {
        slot: Slot::Role {
            key: cache_key(profile),
            meta: EntryMeta {
                profile: profile.name.clone(),
                role_arn: profile.role_arn.value.clone(),
                mfa_serial: profile.mfa_serial.value.clone(),
            },
        },
        window,
        inner,
        ctx,
    })
}

/// The cache key of a profile's role credentials.
pub fn cache_key(profile: &Profile) -> CacheKey {
    let fields = profile.identity_fields();
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    CacheKey::new(&profile.name, &borrowed)
}

/// Where the MFA session of a first hop is cached: per source profile and
/// device, and per region, endpoint and duration (each changes what
/// GetSessionToken returns). Every target profile sharing them shares it.
pub fn mfa_session_id(profile: &Profile) -> MfaSessionId {
    let duration = profile.mfa_session_duration.value.to_string();
    let endpoint = profile
        .endpoint_url
        .as_ref()
        .map(|s| s.value.as_str())
        .unwrap_or_default();
    MfaSessionId::new(
        &provider::source_of(profile),
        &profile.mfa_serial.value,
        &[
            ("region", profile.region.value.as_str()),
            ("endpoint_url", endpoint),
            ("mfa_session_duration", duration.as_str()),
        ],
    )
}

fn open_cache(dir: &std::path::Path, ui: &dyn Ui) -> Option<Cache> {
    match Cache::open(dir) {
        Ok((cache, warnings)) => {
            for w in warnings {
                ui.warn(&w.to_string());
            }
            Some(cache)
        }
        Err(e) => {
            ui.warn(&format!("running without the cache: {e}"));
            None
        }
    }
}

/// Microseconds since `started`, for the `--verbose` timings of each step.
pub(crate) fn micros(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}
