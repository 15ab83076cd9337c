//! The path of one `vegas assume`: resolve the profile, answer from the cache
//! when it can, otherwise take the device lock, look again, get a code, call
//! STS and store the result.
//!
//! ```text
//! cache lookup ──hit──► done            (no runtime, no SDK, no PC/SC)
//!   │miss
//! lock the MFA device (flock) ─ lookup again ──hit──► done
//!   │miss
//! code (token / YubiKey) ─ never a step already used ─ STS ─ store ─► done
//! ```
//!
//! The cache is an optimisation, never a reason to fail: if it cannot be
//! opened or written, the credentials are still fetched and printed, with a
//! one-line warning.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cache::{self, Cache, CacheKey, EntryMeta};
use crate::config::Profile;
use crate::credentials::Credentials;
use crate::sts::{self, AssumeRoleRequest};
use crate::totp::{self, MfaCode, TimeStep};
use crate::ui::Ui;
use crate::Error;

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

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Credentials for `profile`, from the cache or fresh from STS.
pub fn assume(profile: &Profile, options: &Options, ui: &dyn Ui) -> Result<Credentials, Error> {
    let fields = profile.identity_fields();
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let key = CacheKey::new(&profile.name, &borrowed);
    let min_remaining = if options.disable_mandatory_refresh {
        0
    } else {
        MANDATORY_REFRESH.as_secs() as i64
    };

    let cache = options
        .cache_dir
        .as_ref()
        .and_then(|dir| open_cache(dir, ui));
    if let Some(creds) = cache
        .as_ref()
        .and_then(|c| lookup(c, &key, min_remaining, ui))
    {
        tracing::debug!(profile = %profile.name, "cache hit");
        return Ok(creds);
    }
    tracing::debug!(profile = %profile.name, "cache miss");

    // Single flight: one touch and one STS call per MFA device at a time.
    let _lock = match (&options.cache_dir, &cache) {
        (Some(dir), Some(cache)) => {
            let lock = take_device_lock(dir, profile, ui)?;
            if let Some(creds) = lookup(cache, &key, min_remaining, ui) {
                tracing::debug!("cache filled by another vegas while waiting");
                return Ok(creds);
            }
            lock
        }
        _ => None,
    };

    let creds = match fetch(profile, options, cache.as_ref(), ui) {
        // A code from the key that STS calls invalid was most likely seen
        // before (by a vegas whose cache was lost, or another tool): one more
        // try with a fresh step. A code given on the command line is final.
        Err(Error::Sts(sts::Error::InvalidMfaCode { .. })) if options.token_code.is_none() => {
            tracing::debug!("MFA code rejected; retrying once with a fresh time step");
            wait_for_fresh_step(Some(TimeStep::now()), ui);
            fetch(profile, options, cache.as_ref(), ui)?
        }
        other => other?,
    };
    if let Some(cache) = &cache {
        let meta = EntryMeta {
            profile: profile.name.clone(),
            role_arn: profile.role_arn.value.clone(),
            mfa_serial: profile.mfa_serial.value.clone(),
        };
        if let Err(e) = cache.put(&key, &meta, &creds, unix_now()) {
            ui.warn(&format!("cannot store the credentials in the cache: {e}"));
        }
    }
    Ok(creds)
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

/// Get a code and call STS once. The code's time step is recorded whatever
/// STS answered: STS has seen the code, so it is never sent again.
fn fetch(
    profile: &Profile,
    options: &Options,
    cache: Option<&Cache>,
    ui: &dyn Ui,
) -> Result<Credentials, Error> {
    let code = mfa_code(profile, options, cache, ui)?;
    let request = AssumeRoleRequest {
        source_profile: profile.source_profile.value.clone(),
        role_arn: profile.role_arn.value.clone(),
        role_session_name: profile.role_session_name.value.clone(),
        duration_seconds: profile.duration_seconds.value,
        external_id: profile.external_id.as_ref().map(|s| s.value.clone()),
        mfa_serial: profile.mfa_serial.value.clone(),
        token_code: code.digits.clone(),
        region: profile.region.value.clone(),
        endpoint_url: profile.endpoint_url.as_ref().map(|s| s.value.clone()),
    };
    let started = std::time::Instant::now();
    let result = sts::assume_role(&request);
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        ok = result.is_ok(),
        "STS AssumeRole"
    );
    if let Some(cache) = cache {
        if let Err(e) = cache.record_step(&profile.mfa_serial.value, code.step.0, unix_now()) {
            ui.warn(&format!(
                "cannot record the MFA time step in the cache: {e}"
            ));
        }
    }
    Ok(result?)
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
    Ok(totp::get_code(&request, cache, ui)?)
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
