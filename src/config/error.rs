//! The config layer's error: every variant names the file, the profile and
//! the key, so a user can go straight to the line to fix, and carries a hint.

use std::borrow::Cow;
use std::path::PathBuf;

use super::rules::{
    MAX_DURATION, MAX_MFA_SESSION_DURATION, MAX_MFA_TIMEOUT, MIN_DURATION, MIN_MFA_SESSION_DURATION,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} changed while vegas was about to change it", path.display())]
    ChangedMeanwhile { path: PathBuf },
    #[error("{}: line {line}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("profile '{profile}' not found in {}", path.display())]
    MissingProfile { path: PathBuf, profile: String },
    #[error("{}: profile '{profile}' has no '{key}'", path.display())]
    MissingKey {
        path: PathBuf,
        profile: String,
        key: &'static str,
    },
    #[error("{}: profile '{profile}': {key} = '{value}' is not valid: {why}", path.display())]
    Invalid {
        path: PathBuf,
        profile: String,
        key: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("{}: profile '{profile}' names source profile '{source_profile}', which is not in {} or {}", path.display(), path.display(), credentials.display())]
    MissingSourceProfile {
        path: PathBuf,
        profile: String,
        source_profile: String,
        credentials: PathBuf,
    },
    #[error("{}: profile '{profile}' is its own vegas_source_profile", path.display())]
    SelfSource { path: PathBuf, profile: String },
    #[error("{}: vegas_source_profile goes round in a loop: {}", path.display(), loop_text(profiles))]
    SourceLoop {
        path: PathBuf,
        /// The profiles of the loop, the first one again at the end.
        profiles: Vec<String>,
    },
    #[error("environment {var} = '{value}' is not valid: {why}")]
    InvalidEnv {
        var: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("cannot find the AWS config: neither AWS_CONFIG_FILE nor HOME is set")]
    NoHome,
}

impl crate::hint::Hint for Error {
    fn hint(&self) -> Cow<'_, str> {
        match self {
            Error::Read { path, .. } => Cow::Owned(format!(
                "check that {} exists and is readable, or point AWS_CONFIG_FILE at your config",
                path.display()
            )),
            Error::Write { path, .. } => Cow::Owned(format!(
                "check that you may write {} and its folder, and that the disk is not full",
                path.display()
            )),
            Error::ChangedMeanwhile { .. } => {
                Cow::Borrowed("run the command again; nothing was changed")
            }
            Error::Syntax { .. } => Cow::Borrowed(
                "fix that line: sections look like [profile NAME], settings like key = value",
            ),
            Error::MissingProfile { profile, .. } => Cow::Owned(format!(
                "add a [profile {profile}] section, or check the --profile name (see `aws configure list-profiles`)"
            )),
            Error::MissingKey { key, .. } => Cow::Owned(match *key {
                "vegas_role_arn" => "add vegas_role_arn = arn:aws:iam::ACCOUNT:role/NAME to the profile".into(),
                "vegas_source_profile" => {
                    "add vegas_source_profile = NAME, the profile whose long-term keys call STS".into()
                }
                "mfa_serial" => {
                    "add mfa_serial = arn:aws:iam::ACCOUNT:mfa/NAME to the source profile (IAM console, Security credentials)".into()
                }
                other => format!("add {other} to the profile"),
            }),
            Error::Invalid { key, .. } => Cow::Owned(match *key {
                "vegas_role_arn" => "a role ARN looks like arn:aws:iam::123456789012:role/NAME (paths like role/team/NAME are fine)".into(),
                "mfa_serial" => "an MFA device ARN looks like arn:aws:iam::123456789012:mfa/NAME".into(),
                "duration_seconds" => format!("use a whole number of seconds from {MIN_DURATION} to {MAX_DURATION}"),
                "role_session_name" => "use 2 to 64 characters of letters, digits and +=,.@_-".into(),
                "external_id" => "use 2 to 1224 characters of letters, digits and +=,.@:/_-".into(),
                "vegas_yubikey_serial" => "use the serial printed by `vegas oath keys`".into(),
                "vegas_yubikey_backend" => "use one of auto, pcsc, ykman, none".into(),
                "vegas_mfa_timeout" => {
                    format!("use a whole number of seconds from 1 to {MAX_MFA_TIMEOUT}")
                }
                "endpoint_url" => "use a URL such as https://sts.eu-west-1.amazonaws.com".into(),
                "vegas_mfa_session" => "use vegas_mfa_session = true or false".into(),
                "vegas_mfa_session_duration" => format!(
                    "use a whole number of seconds from {MIN_MFA_SESSION_DURATION} to {MAX_MFA_SESSION_DURATION} (36 hours)"
                ),
                other => format!("fix {other} in the profile"),
            }),
            Error::MissingSourceProfile { source_profile, .. } => Cow::Owned(format!(
                "add [profile {source_profile}] to the config (with mfa_serial) and its keys to the credentials file"
            )),
            Error::SelfSource { .. } => Cow::Borrowed(
                "point vegas_source_profile at the profile that holds your long-term keys",
            ),
            Error::SourceLoop { .. } => Cow::Borrowed(
                "end the chain: one of these profiles must name the profile with your long-term keys as vegas_source_profile",
            ),
            Error::InvalidEnv { var, .. } => Cow::Owned(format!("fix or unset {var}")),
            Error::NoHome => Cow::Borrowed("set HOME or AWS_CONFIG_FILE"),
        }
    }
}

/// `'a' → 'b' → 'a'`.
fn loop_text(profiles: &[String]) -> String {
    profiles
        .iter()
        .map(|p| format!("'{p}'"))
        .collect::<Vec<_>>()
        .join(" → ")
}
