//! The path of one `vegas assume`: resolve the profile, answer from the cache
//! when it can, otherwise take the device lock, look again, get a code, call
//! STS and store the result.
//!
//! ```text
//! cache lookup ──hit──► done            (no runtime, no SDK, no PC/SC)
//!   │miss
//! lock the MFA device (flock) ─ lookup again ──hit──► done
//!   │miss
//! first hop:  code ─ AssumeRole with MFA                     (plain)
//!          or cached MFA session, else code ─ GetSessionToken ─ store it;
//!             AssumeRole without MFA signed by the session    (vegas_mfa_session)
//! later hops: AssumeRole signed by the hop below, ≤ 1 h        (role chain)
//!   ─ store each hop under its own key ─► done
//! ```
//!
//! A code is never sent for a time step STS has already seen for the device.
//! The lock is held across the whole chain, so parallel processes cost one
//! touch and one MFA-bearing call per device.
//!
//! The cache is an optimisation, never a reason to fail: if it cannot be
//! opened or written, the credentials are still fetched and printed, with a
//! one-line warning.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use crate::cache::{self, Cache, CacheKey, EntryMeta};
use crate::config::Profile;
use crate::credentials::Credentials;
use crate::platform::unix_now;
use crate::sts::{self, AssumeRoleRequest, SessionTokenRequest, Signer};
use crate::totp::{self, MfaCode, TimeStep};
use crate::ui::Ui;
use crate::Error;
use zeroize::Zeroizing;

/// botocore's mandatory refresh window: credentials with less left than this
/// are refreshed rather than served.
pub const MANDATORY_REFRESH: Duration = Duration::from_secs(600);

/// How long a second vegas waits for the one that holds the device lock.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Default)]
pub struct Options {
    /// A code given on the command line instead of asking the YubiKey.
    pub token_code: Option<zeroize::Zeroizing<String>>,
    /// Serve cached credentials until they really expire.
    pub disable_mandatory_refresh: bool,
    /// Where the cache lives; `None` runs without one.
    pub cache_dir: Option<PathBuf>,
    /// How a person may be asked for the code (none by default).
    pub prompt: totp::PromptWays,
}

/// The kind of the encrypted cache rows that hold MFA sessions (their ids:
/// [`mfa_session_id`]).
pub const MFA_SESSION_KIND: &str = "mfa-session";

/// Credentials used to sign one more call must outlive it by this much, even
/// under `--disable-mandatory-refresh`.
const SIGNING_MARGIN: i64 = 60;

/// AWS caps a role assumed with another role's credentials at one hour.
pub const ROLE_CHAIN_MAX_DURATION: u32 = 3600;

/// Credentials for `profile`, from the cache or fresh from STS.
pub fn assume(profile: &Profile, options: &Options, ui: &dyn Ui) -> Result<Credentials, Error> {
    let key = cache_key(profile);
    let min_remaining = if options.disable_mandatory_refresh {
        0
    } else {
        MANDATORY_REFRESH.as_secs() as i64
    };

    let started = Instant::now();
    let cache = options
        .cache_dir
        .as_ref()
        .and_then(|dir| open_cache(dir, ui));
    if let Some(creds) = cache
        .as_ref()
        .and_then(|c| lookup(c, &key, min_remaining, ui))
    {
        tracing::debug!(profile = %profile.name, elapsed_us = micros(started), "cache hit");
        return Ok(creds);
    }
    tracing::debug!(profile = %profile.name, elapsed_us = micros(started), "cache miss");

    // Single flight: one touch and one STS call per MFA device at a time. A
    // chain is locked on the device of its first hop, for the whole chain.
    let _lock = match (&options.cache_dir, &cache) {
        (Some(dir), Some(cache)) => {
            let started = Instant::now();
            let lock = take_device_lock(dir, profile.first_hop(), ui)?;
            tracing::debug!(elapsed_us = micros(started), "device lock taken");
            if let Some(creds) = lookup(cache, &key, min_remaining, ui) {
                tracing::debug!("cache filled by another vegas while waiting");
                return Ok(creds);
            }
            lock
        }
        _ => None,
    };

    let flow = Flow {
        options,
        cache: cache.as_ref(),
        ui,
        min_remaining,
    };
    flow.obtain(profile)
}

/// The cache key of a profile's role credentials.
fn cache_key(profile: &Profile) -> CacheKey {
    let fields = profile.identity_fields();
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    CacheKey::new(&profile.name, &borrowed)
}

/// One miss being served, under the device lock.
struct Flow<'a> {
    options: &'a Options,
    cache: Option<&'a Cache>,
    ui: &'a dyn Ui,
    min_remaining: i64,
}

impl Flow<'_> {
    /// Fresh credentials for `profile`, stored in the cache under its key.
    /// A chained profile first gets the credentials of the hop below it
    /// (from the cache when they are there).
    fn obtain(&self, profile: &Profile) -> Result<Credentials, Error> {
        let creds = match profile.via.as_deref() {
            None if profile.mfa_session.value => self.assume_with_mfa_session(profile)?,
            None => self.assume_with_code(profile)?,
            Some(below) => self.assume_chained_on(profile, below)?,
        };
        self.store(profile, &creds);
        Ok(creds)
    }

    /// A later hop, signed by the hop below: its cached credentials when they
    /// will last long enough, else fresh ones. Cached ones STS no longer
    /// accepts (the role's sessions revoked) are replaced once.
    fn assume_chained_on(&self, profile: &Profile, below: &Profile) -> Result<Credentials, Error> {
        let min_remaining = self.min_remaining.max(SIGNING_MARGIN);
        let cached = self
            .cache
            .and_then(|c| lookup(c, &cache_key(below), min_remaining, self.ui));
        let Some(signing) = cached else {
            return self.assume_chained(profile, below, self.obtain(below)?);
        };
        tracing::debug!(profile = %below.name, "chain hop from the cache");
        match self.assume_chained(profile, below, signing) {
            Err(Error::Sts(sts::Error::SessionRejected { .. })) => {
                tracing::debug!(profile = %below.name, "cached hop rejected; assuming it again");
                self.assume_chained(profile, below, self.obtain(below)?)
            }
            other => other,
        }
    }

    /// The first hop, plain: AssumeRole with the MFA code. A code from the
    /// key that STS calls invalid was most likely seen before (by a vegas
    /// whose cache was lost, or another tool): one more try with a fresh
    /// step. A code given on the command line is final.
    fn assume_with_code(&self, profile: &Profile) -> Result<Credentials, Error> {
        self.with_code(profile, "AssumeRole", |mfa| {
            sts::assume_role(&AssumeRoleRequest {
                mfa: Some(mfa),
                ..role_request(profile, Signer::SourceProfile(source_of(profile)))
            })
        })
    }

    /// The first hop through an MFA session: AssumeRole without MFA, signed
    /// by the session. A cached session STS no longer accepts (revoked, or
    /// the keys behind it deleted) is replaced once, at the cost of a touch.
    fn assume_with_mfa_session(&self, profile: &Profile) -> Result<Credentials, Error> {
        let (session, cached) = match self.cached_mfa_session(profile) {
            Some(session) => (session, true),
            None => (self.new_mfa_session(profile)?, false),
        };
        match self.assume_signed_by_session(profile, session) {
            Err(Error::Sts(sts::Error::SessionRejected { .. })) if cached => {
                tracing::debug!("the cached MFA session was rejected; starting a new one");
                let session = self.new_mfa_session(profile)?;
                self.assume_signed_by_session(profile, session)
            }
            other => other,
        }
    }

    fn assume_signed_by_session(
        &self,
        profile: &Profile,
        session: Credentials,
    ) -> Result<Credentials, Error> {
        let signer = Signer::Session {
            credentials: session,
            origin: format!("the MFA session of '{}'", source_of(profile)),
            config_profile: source_of(profile),
        };
        let started = std::time::Instant::now();
        let result = sts::assume_role(&role_request(profile, signer));
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            ok = result.is_ok(),
            profile = %profile.name,
            "STS AssumeRole signed by the MFA session"
        );
        Ok(result?)
    }

    /// A later hop of a chain: AssumeRole signed by the hop below, no MFA
    /// (the first hop carried it), at most one hour.
    fn assume_chained(
        &self,
        profile: &Profile,
        below: &Profile,
        signing: Credentials,
    ) -> Result<Credentials, Error> {
        let signer = Signer::Session {
            credentials: signing,
            origin: format!("profile '{}'", below.name),
            config_profile: source_of(profile),
        };
        let mut request = role_request(profile, signer);
        if request.duration_seconds > ROLE_CHAIN_MAX_DURATION {
            tracing::info!(
                profile = %profile.name,
                requested = request.duration_seconds,
                "duration_seconds clamped to {ROLE_CHAIN_MAX_DURATION}: AWS limits a role assumed through a role chain to one hour"
            );
            request.duration_seconds = ROLE_CHAIN_MAX_DURATION;
        }
        let started = std::time::Instant::now();
        let result = sts::assume_role(&request);
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            ok = result.is_ok(),
            profile = %profile.name,
            via = %below.name,
            "STS AssumeRole (role chain)"
        );
        Ok(result?)
    }

    /// The cached MFA session of the profile's source and device, if it has
    /// more than the refresh window left.
    fn cached_mfa_session(&self, profile: &Profile) -> Option<Credentials> {
        let cache = self.cache?;
        let now = unix_now();
        let bytes = match cache.get_secret(MFA_SESSION_KIND, &mfa_session_id(profile), now) {
            Ok(bytes) => bytes?,
            Err(e) => {
                self.ui.warn(&format!("cannot read the cache: {e}"));
                return None;
            }
        };
        let session: Credentials = serde_json::from_slice(&bytes).ok()?;
        let min_remaining = self.min_remaining.max(SIGNING_MARGIN);
        if session.remaining(now) > min_remaining {
            tracing::debug!("MFA session from the cache");
            Some(session)
        } else {
            tracing::debug!("the cached MFA session is about to expire; renewing it");
            None
        }
    }

    /// A touch (or a code), GetSessionToken, and the session kept encrypted.
    fn new_mfa_session(&self, profile: &Profile) -> Result<Credentials, Error> {
        let session = self.with_code(profile, "GetSessionToken", |mfa| {
            sts::get_session_token(&SessionTokenRequest {
                source_profile: source_of(profile),
                duration_seconds: profile.mfa_session_duration.value,
                mfa,
                endpoint: endpoint_of(profile),
            })
        })?;
        if let Some(cache) = self.cache {
            let stored = serde_json::to_vec(&session)
                .map(Zeroizing::new)
                .map_err(cache::Error::Encode)
                .and_then(|json| {
                    cache.put_secret(
                        MFA_SESSION_KIND,
                        &mfa_session_id(profile),
                        &json,
                        session.expires_at,
                        unix_now(),
                    )
                });
            if let Err(e) = stored {
                self.ui
                    .warn(&format!("cannot store the MFA session in the cache: {e}"));
            }
        }
        Ok(session)
    }

    /// Run an STS call that carries an MFA code, retrying once with a fresh
    /// time step when STS calls a code from the key invalid.
    fn with_code(
        &self,
        profile: &Profile,
        call: &str,
        send: impl Fn(sts::Mfa) -> Result<Credentials, sts::Error>,
    ) -> Result<Credentials, Error> {
        match self.with_code_once(profile, call, &send) {
            Err(Error::Sts(sts::Error::InvalidMfaCode { .. }))
                if self.options.token_code.is_none() =>
            {
                tracing::debug!("MFA code rejected; retrying once with a fresh time step");
                wait_for_fresh_step(Some(TimeStep::now()), self.ui);
                self.with_code_once(profile, call, &send)
            }
            other => other,
        }
    }

    /// Get a code and make the call once. The code's time step is recorded
    /// whatever STS answered: STS has seen the code, so it is never sent again.
    fn with_code_once(
        &self,
        profile: &Profile,
        call: &str,
        send: &impl Fn(sts::Mfa) -> Result<Credentials, sts::Error>,
    ) -> Result<Credentials, Error> {
        let code = mfa_code(profile, self.options, self.cache, self.ui)?;
        let mfa = sts::Mfa {
            serial: profile.mfa_serial.value.clone(),
            token_code: code.digits.clone(),
        };
        let started = std::time::Instant::now();
        let result = send(mfa);
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            ok = result.is_ok(),
            "STS {call} with MFA"
        );
        if let Some(cache) = self.cache {
            if let Err(e) = cache.record_step(&profile.mfa_serial.value, code.step.0, unix_now()) {
                self.ui.warn(&format!(
                    "cannot record the MFA time step in the cache: {e}"
                ));
            }
        }
        Ok(result?)
    }

    fn store(&self, profile: &Profile, creds: &Credentials) {
        let Some(cache) = self.cache else { return };
        let meta = EntryMeta {
            profile: profile.name.clone(),
            role_arn: profile.role_arn.value.clone(),
            mfa_serial: profile.mfa_serial.value.clone(),
        };
        if let Err(e) = cache.put(&cache_key(profile), &meta, creds, unix_now()) {
            self.ui
                .warn(&format!("cannot store the credentials in the cache: {e}"));
        }
    }
}

/// The source profile with long-term keys (of a first hop).
fn source_of(profile: &Profile) -> String {
    profile.long_term_source().value.clone()
}

fn endpoint_of(profile: &Profile) -> sts::Endpoint {
    sts::Endpoint {
        region: profile.region.value.clone(),
        url: profile.endpoint_url.as_ref().map(|s| s.value.clone()),
    }
}

/// AssumeRole for `profile` signed by `signer`, without MFA.
fn role_request(profile: &Profile, signer: Signer) -> AssumeRoleRequest {
    AssumeRoleRequest {
        signer,
        role_arn: profile.role_arn.value.clone(),
        role_session_name: profile.role_session_name.value.clone(),
        duration_seconds: profile.duration_seconds.value,
        external_id: profile.external_id.as_ref().map(|s| s.value.clone()),
        mfa: None,
        endpoint: endpoint_of(profile),
    }
}

/// Where the MFA session of a first hop is cached: one per source profile and
/// MFA device, and per everything else that changes what GetSessionToken
/// returns (region, endpoint, duration). Every target profile sharing them
/// shares the session. `<source>|<mfa serial>|<hash>`; the source profile
/// comes first and may itself hold a `|`, the serial (an ARN) cannot.
pub fn mfa_session_id(profile: &Profile) -> String {
    let source = source_of(profile);
    let duration = profile.mfa_session_duration.value.to_string();
    let endpoint = profile
        .endpoint_url
        .as_ref()
        .map(|s| s.value.as_str())
        .unwrap_or_default();
    let digest = CacheKey::new(
        &source,
        &[
            ("mfa_serial", profile.mfa_serial.value.as_str()),
            ("region", profile.region.value.as_str()),
            ("endpoint_url", endpoint),
            ("mfa_session_duration", duration.as_str()),
        ],
    );
    let hash = digest
        .as_str()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .chars()
        .take(16)
        .collect::<String>();
    format!("{source}|{}|{hash}", profile.mfa_serial.value)
}

/// `(source profile, MFA serial)` of an MFA session id, for listings.
pub fn parse_mfa_session_id(id: &str) -> Option<(&str, &str)> {
    let mut parts = id.rsplitn(3, '|');
    let _hash = parts.next()?;
    let serial = parts.next()?;
    let source = parts.next()?;
    Some((source, serial))
}

/// The per-device lock, waiting (bounded) for another vegas that holds it.
/// A cache directory where no lock can be made (read-only) is not fatal:
/// this process goes on alone.
fn take_device_lock(
    dir: &std::path::Path,
    profile: &Profile,
    ui: &dyn Ui,
) -> Result<Option<cache::DeviceLock>, Error> {
    let mut told = false;
    let mut on_wait = || {
        if !told {
            ui.notice(&format!(
                "Another vegas is getting a code for {}; waiting for it…",
                profile.mfa_serial.value
            ));
            told = true;
        }
    };
    match cache::lock_device(dir, &profile.mfa_serial.value, LOCK_TIMEOUT, &mut on_wait) {
        Ok(lock) => Ok(Some(lock)),
        Err(e @ cache::Error::LockTimeout { .. }) => Err(e.into()),
        Err(e) => {
            ui.warn(&format!("going on without the device lock: {e}"));
            Ok(None)
        }
    }
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

/// A cached row with at least `min_remaining` seconds left, else a miss.
fn lookup(cache: &Cache, key: &CacheKey, min_remaining: i64, ui: &dyn Ui) -> Option<Credentials> {
    let now = unix_now();
    match cache.get(key, now) {
        Ok(Some(creds)) if creds.remaining(now) > min_remaining => Some(creds),
        Ok(_) => None,
        Err(e) => {
            ui.warn(&format!("cannot read the cache: {e}"));
            None
        }
    }
}

/// The code to send: given on the command line, or from the YubiKey, ykman
/// or a person (see [`totp::get_code`]) — never for a time step STS has
/// already seen for this device (it would refuse it).
fn mfa_code(
    profile: &Profile,
    options: &Options,
    cache: Option<&Cache>,
    ui: &dyn Ui,
) -> Result<MfaCode, Error> {
    if let Some(code) = &options.token_code {
        return Ok(MfaCode::given(code)?);
    }
    let last_used = cache.and_then(|c| c.last_step(&profile.mfa_serial.value).ok().flatten());
    wait_for_fresh_step(last_used.map(TimeStep), ui);
    let request = totp::CodeRequest::for_profile(profile, options.prompt);
    let started = Instant::now();
    let code = totp::get_code(&request, cache, ui)?;
    tracing::debug!(
        elapsed_us = micros(started),
        step = code.step.0,
        "MFA code obtained"
    );
    Ok(code)
}

/// Microseconds since `started`, for the `--verbose` timings of each step.
pub(crate) fn micros(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// If the current step's code was already used with STS for this device,
/// sleep until the next step begins.
fn wait_for_fresh_step(last_used: Option<TimeStep>, ui: &dyn Ui) {
    let Some(last) = last_used else { return };
    let now = SystemTime::now();
    if TimeStep::at(now) > last {
        return;
    }
    let fresh = last.next().start();
    if let Ok(wait) = fresh.duration_since(now) {
        ui.notice(&format!(
            "Waiting {} s for a fresh code (the current one was just used)…",
            wait.as_secs() + 1
        ));
        std::thread::sleep(wait + Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Files;

    const CONFIG: &str = "\
[profile src]
mfa_serial = arn:aws:iam::111111111111:mfa/alice
vegas_mfa_session = true
region = eu-west-1

[profile a]
vegas_source_profile = src
vegas_role_arn = arn:aws:iam::222222222222:role/A

[profile b]
vegas_source_profile = src
vegas_role_arn = arn:aws:iam::333333333333:role/B
region = us-east-2
";

    fn profile(config: &str, name: &str) -> Profile {
        Files::from_strs(config, None)
            .unwrap()
            .resolve(name)
            .unwrap()
    }

    #[test]
    fn profiles_sharing_a_source_and_device_share_one_mfa_session() {
        let a = mfa_session_id(&profile(CONFIG, "a"));
        let a_again = mfa_session_id(&profile(CONFIG, "a"));
        assert_eq!(a, a_again);
        assert_eq!(
            parse_mfa_session_id(&a),
            Some(("src", "arn:aws:iam::111111111111:mfa/alice"))
        );
        // Another region is another STS endpoint, so another session.
        assert_ne!(a, mfa_session_id(&profile(CONFIG, "b")));
        let longer = CONFIG.replace(
            "vegas_mfa_session = true",
            "vegas_mfa_session = true\nvegas_mfa_session_duration = 3600",
        );
        assert_ne!(a, mfa_session_id(&profile(&longer, "a")));
    }

    #[test]
    fn a_source_profile_name_with_a_bar_still_parses() {
        assert_eq!(
            parse_mfa_session_id("we|ird|arn:aws:iam::1:mfa/x|abcd"),
            Some(("we|ird", "arn:aws:iam::1:mfa/x"))
        );
        assert_eq!(parse_mfa_session_id("nobars"), None);
    }
}
