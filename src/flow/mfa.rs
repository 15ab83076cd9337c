//! Getting an MFA code and spending it on one STS call, for one device:
//! the only place that asks for a code.
//!
//! * Before anything is asked, everything that can fail without the key is
//!   checked ([`CodeSupply::preflight`]): the source profile's keys, the STS
//!   helper, and that some way of getting a code exists. A touch is never
//!   spent on a call that cannot succeed, and "no way to get a code" never
//!   waits first.
//! * STS refuses a code it has seen for the device. The cache records until
//!   when the device's codes are used up (the end of the step of the last
//!   code sent, in seconds, whatever the account's period); a second call
//!   in the same step waits for the next one, and says so. A record in the
//!   future (a clock that jumped, a tampered row) never makes vegas wait more
//!   than one STS period.
//! * A code from the key that STS calls invalid was most likely seen before
//!   (by a vegas whose cache was lost, or another tool): one more try with a
//!   fresh step. A code given on the command line is final.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{Context, Options};
use crate::config::{Profile, SourceCredentials};
use crate::credentials::Credentials;
use crate::sts;
use crate::totp::{CodeRequest, MfaCode, TimeStep, STS_PERIOD};
use crate::Error;

/// What the configuration files say of the long-term keys a miss will sign
/// with (see [`crate::config::Files::source_credentials`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceKeys {
    pub found: SourceCredentials,
    /// The credentials file, named in the error.
    pub credentials_file: PathBuf,
}

/// Codes for the device of a first hop, and the calls that carry them.
pub(super) struct CodeSupply<'a> {
    pub ctx: &'a Context<'a>,
    pub options: &'a Options,
}

impl CodeSupply<'_> {
    /// Run `send` with a code for `profile`'s device, retrying once with a
    /// fresh step when STS calls a code from the key invalid.
    pub fn with_code(
        &self,
        profile: &Profile,
        call: &str,
        send: impl Fn(sts::Mfa) -> Result<Credentials, sts::Error>,
    ) -> Result<Credentials, Error> {
        self.preflight(profile)?;
        match self.once(profile, call, &send) {
            Err(Error::Sts(sts::Error::InvalidMfaCode { .. }))
                if self.options.token_code.is_none() =>
            {
                tracing::debug!("MFA code rejected; retrying once with a fresh time step");
                let current = TimeStep::at_time(self.ctx.clock.now(), STS_PERIOD);
                self.wait_until(current.end());
                self.once(profile, call, &send)
            }
            other => other,
        }
    }

    /// Everything that can fail without the key, checked before a code is
    /// asked for or waited for.
    fn preflight(&self, profile: &Profile) -> Result<(), Error> {
        if let Some(keys) = &self.options.source_keys {
            check_source_keys(profile, keys)?;
        }
        self.ctx.sts.ready()?;
        if self.options.token_code.is_none() {
            self.ctx
                .codes
                .ensure_a_way(&self.request(profile), self.ctx.ui)?;
        }
        Ok(())
    }

    /// Get a code and make the call once. The code's step is recorded
    /// whatever STS answered (STS has seen the code, so it is never sent
    /// again), unless the request certainly never reached STS.
    fn once(
        &self,
        profile: &Profile,
        call: &str,
        send: &impl Fn(sts::Mfa) -> Result<Credentials, sts::Error>,
    ) -> Result<Credentials, Error> {
        let code = self.code(profile)?;
        let mfa = sts::Mfa {
            serial: profile.mfa_serial.value.clone(),
            token_code: code.digits.clone(),
        };
        let started = Instant::now();
        let result = send(mfa);
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            ok = result.is_ok(),
            "STS {call} with MFA"
        );
        let seen = result
            .as_ref()
            .err()
            .is_none_or(sts::Error::may_have_reached_sts);
        if let Some(cache) = self.ctx.cache.filter(|_| seen) {
            let now = self.ctx.clock.unix_now();
            if let Err(e) = cache.record_used(&profile.mfa_serial.value, code.step, now) {
                self.ctx.ui.warn(&format!(
                    "cannot record the MFA time step in the cache: {e}"
                ));
            }
        }
        Ok(result?)
    }

    /// The code to send: given on the command line, or from the YubiKey,
    /// ykman or a person — never for a step STS has already seen.
    fn code(&self, profile: &Profile) -> Result<MfaCode, Error> {
        if let Some(code) = &self.options.token_code {
            let mut code = MfaCode::given(code)?;
            code.step = TimeStep::at_time(self.ctx.clock.now(), STS_PERIOD);
            return Ok(code);
        }
        let used_until = self.ctx.cache.and_then(|c| {
            c.used_until(&profile.mfa_serial.value)
                .inspect_err(|e| tracing::debug!("cannot read the TOTP step record: {e}"))
                .ok()
                .flatten()
        });
        if let Some(used_until) = used_until.and_then(|t| u64::try_from(t).ok()) {
            self.wait_until(used_until);
        }
        let started = Instant::now();
        let code = self
            .ctx
            .codes
            .code(&self.request(profile), self.ctx.cache, self.ctx.ui)?;
        tracing::debug!(
            elapsed_us = super::micros(started),
            step = code.step.index,
            period = code.step.period,
            "MFA code obtained"
        );
        Ok(code)
    }

    /// If the device's codes are used up until `used_until` (unix seconds),
    /// wait until then — at most one STS period, however far off it is.
    fn wait_until(&self, used_until: u64) {
        let now = u64::try_from(self.ctx.clock.unix_now()).unwrap_or(0);
        let Some(wait) = fresh_step_wait(now, used_until) else {
            return;
        };
        self.ctx.ui.notice(&format!(
            "Waiting {} s for a fresh code (the current one was just used)…",
            wait.as_secs().max(1)
        ));
        self.ctx.clock.sleep(wait + Duration::from_millis(50));
    }

    fn request(&self, profile: &Profile) -> CodeRequest {
        CodeRequest::for_profile(profile, self.options.prompt)
    }
}

/// How long to wait at `now` for codes used up until `used_until`: nothing
/// when they are fresh, never more than one STS period.
pub(super) fn fresh_step_wait(now: u64, used_until: u64) -> Option<Duration> {
    let left = used_until.checked_sub(now).filter(|&s| s > 0)?;
    Some(Duration::from_secs(left.min(u64::from(STS_PERIOD))))
}

/// Fail before any code is asked for when the source profile has no keys.
fn check_source_keys(profile: &Profile, keys: &SourceKeys) -> Result<(), Error> {
    let SourceCredentials::Missing {
        missing,
        section_in_credentials,
    } = &keys.found
    else {
        return Ok(());
    };
    let source = &profile.long_term_source().value;
    let file = keys.credentials_file.display();
    let message = if *section_in_credentials {
        format!("[{source}] in {file} has no {}", missing.join(" or "))
    } else {
        format!("neither {file} nor the config file has keys for it")
    };
    Err(Error::Sts(sts::Error::NoSourceCredentials {
        profile: source.clone(),
        message,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_codes_need_no_wait() {
        assert_eq!(fresh_step_wait(1000, 990), None);
        assert_eq!(fresh_step_wait(1000, 1000), None);
    }

    #[test]
    fn used_codes_wait_until_their_step_ends() {
        assert_eq!(fresh_step_wait(1000, 1020), Some(Duration::from_secs(20)));
    }

    #[test]
    fn a_record_from_the_future_waits_one_period_at_most_and_never_overflows() {
        assert_eq!(
            fresh_step_wait(1000, 1000 + 3600),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            fresh_step_wait(1000, u64::MAX),
            Some(Duration::from_secs(30))
        );
        assert_eq!(fresh_step_wait(u64::MAX, 0), None);
    }
}
