//! `vegas doctor [--profile P] [--offline] [--json]`: walks the whole chain a
//! `vegas assume` depends on, in the order it depends on it, and says for
//! each link whether it holds and, when not, how to fix it.
//!
//! Doctor implements nothing it checks. Each link is a read-only probe of the
//! module that owns it (`config::Files`, `oath::discovery`, `oath::probe`,
//! `totp::ykman`, `cache::inspect`, `sts::helper`); the files here only run
//! them and put their answers into words: [`profiles`], [`yubikey`],
//! [`cache`], [`sts`], and [`format`] for plain text and JSON.
//!
//! A check never changes anything (no mode is tightened, no cache is opened
//! for writing, nothing is created) and never shows a secret: keys are
//! named, not printed; no code is calculated, and none that needs a touch.
//!
//! Three levels: *ok*; *warn*, for what does not stop `vegas assume` (a
//! missing fallback, a cache the next call rebuilds); *fail*, for what does.
//! Only failures make the command fail.

use std::io::Write;

use serde::Serialize;

use crate::config::{Backend, Files};
use crate::hint::Hint;
use crate::platform::unix_now;
use crate::Error;

mod cache;
mod format;
mod profiles;
mod sts;
mod yubikey;

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    pub profile: Option<&'a str>,
    pub offline: bool,
    pub json: bool,
    pub no_gui: bool,
    /// ✓/!/✗ in colour (a terminal, no `NO_COLOR`, no `--no-color`);
    /// otherwise plain `ok`/`warn`/`FAIL`.
    pub color: bool,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    /// Works, but something the user should know: `vegas assume` still works.
    Warn,
    /// `vegas assume` will not work (for some profile) until this is fixed.
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: String,
    /// For scripts written before there were levels: false only on `fail`.
    pub ok: bool,
    pub level: Level,
    pub detail: String,
    /// What to do, for a warning or a failure.
    pub fix: Option<String>,
}

impl Check {
    fn pass(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(check, Level::Ok, detail, None)
    }

    fn warn(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check::new(check, Level::Warn, detail, Some(fix.into()))
    }

    fn fail(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check::new(check, Level::Fail, detail, Some(fix.into()))
    }

    /// A failed check from an error, with the error's hint as the fix.
    fn from_error(check: impl Into<String>, error: &(impl std::fmt::Display + Hint)) -> Check {
        Check::fail(check, error.to_string(), error.hint())
    }

    fn new(
        check: impl Into<String>,
        level: Level,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Check {
        Check {
            check: check.into(),
            ok: level != Level::Fail,
            level,
            detail: detail.into(),
            fix,
        }
    }
}

pub fn run(options: &Options, out: &mut dyn Write) -> Result<(), Error> {
    let report = checks(options);
    let text = if options.json {
        format::to_json(&report)
    } else {
        format::to_lines(&report, options.color)
    };
    super::emit(out, &text)?;
    let failed = report.iter().filter(|c| c.level == Level::Fail).count();
    if failed > 0 {
        return Err(Error::ChecksFailed {
            failed,
            total: report.len(),
        });
    }
    Ok(())
}

/// Every check, in the order `vegas assume` depends on them.
pub fn checks(options: &Options) -> Vec<Check> {
    let mut report = Vec::new();
    let profiles = match Files::load() {
        Ok(files) => profiles::checks(&files, options.profile, &mut report),
        Err(e) => {
            report.push(Check::from_error("config files", &e));
            Vec::new()
        }
    };
    let backends: Vec<Backend> = if profiles.is_empty() {
        vec![Backend::Auto]
    } else {
        profiles.iter().map(|p| p.yubikey_backend.value).collect()
    };
    let place = crate::platform::cache_dir();
    let cache = match &place {
        Ok(dir) => dir
            .as_ref()
            .map(|dir| crate::cache::inspect::inspect(dir, unix_now())),
        Err(_) => None,
    };
    let keys = if backends.iter().any(|b| *b != Backend::None) {
        yubikey::key_checks(&profiles, cache.as_ref(), &mut report)
    } else {
        yubikey::KeyFindings::default()
    };
    let ykman = yubikey::ykman_check(&profiles, &backends);
    if let Some(ykman) = &ykman {
        report.push(ykman.check.clone());
    }
    report.push(yubikey::prompt_check(
        options.no_gui,
        &profiles,
        &keys,
        ykman.as_ref(),
    ));
    match &place {
        Err(e) => report.push(Check::from_error("cache directory", e)),
        Ok(_) => cache::checks(cache.as_ref(), &mut report),
    }
    report.push(sts::helper_check());
    sts::endpoint_checks(&profiles, options.offline, &mut report);
    report
}
