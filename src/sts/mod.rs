//! STS calls (AssumeRole, GetSessionToken): what a call says, and the
//! errors a user can act on.
//!
//! A call is signed by a [`Signer`]: the source profile's long-term keys, or
//! temporary credentials vegas holds (an MFA session, the hop below in a role
//! chain), given to the SDK as static credentials.
//!
//! The calls are made by the small `vegas-sts` helper binary, which `vegas`
//! runs on a cache miss ([`helper`]); the SDK code is in [`sdk`]. That keeps
//! aws-sdk-sts, aws-config, rustls, aws-lc and tokio out of the `vegas`
//! binary altogether, so a cache hit starts a process a fraction of the size
//! and never pays for them. The source profile's long-term credentials are
//! resolved by aws-config's profile provider for *that* profile, never from
//! `AWS_PROFILE` (the AWS CLI sets it to the target profile when it runs us)
//! nor from stray `AWS_ACCESS_KEY_ID`/`AWS_SESSION_TOKEN` in the environment.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::credentials::Credentials;

pub mod helper;
pub mod iam;
pub mod iam_sdk;
pub mod sdk;

/// Whose credentials sign a call.
#[derive(Clone, Serialize, Deserialize)]
pub enum Signer {
    /// The long-term keys of this profile, as aws-config finds them.
    SourceProfile(String),
    /// Temporary credentials vegas holds: an MFA session, or the previous
    /// hop of a role chain. `origin` says which, for messages.
    Session {
        credentials: Credentials,
        origin: String,
        /// The profile whose settings (never credentials) aws-config reads,
        /// as for a long-term signer: the chain's long-term source, never
        /// `AWS_PROFILE`.
        config_profile: String,
    },
}

impl Signer {
    /// What to name in a message about these credentials.
    pub(crate) fn label(&self) -> &str {
        match self {
            Signer::SourceProfile(profile) => profile,
            Signer::Session { origin, .. } => origin,
        }
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signer::SourceProfile(profile) => {
                f.debug_tuple("SourceProfile").field(profile).finish()
            }
            Signer::Session {
                credentials,
                origin,
                config_profile,
            } => f
                .debug_struct("Session")
                .field("credentials", credentials)
                .field("origin", origin)
                .field("config_profile", config_profile)
                .finish(),
        }
    }
}

/// The MFA device and the code from it, for a call that carries MFA.
#[derive(Clone, Serialize, Deserialize)]
pub struct Mfa {
    pub serial: String,
    pub token_code: Zeroizing<String>,
}

/// Where STS is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    pub region: String,
    pub url: Option<String>,
}

impl Endpoint {
    pub(crate) fn label(&self) -> String {
        self.url
            .clone()
            .unwrap_or_else(|| format!("sts.{}.amazonaws.com", self.region))
    }
}

/// One AssumeRole call: with MFA on the first hop of a plain assume, without
/// when signed by an MFA session or by the previous hop of a role chain.
#[derive(Clone, Serialize, Deserialize)]
pub struct AssumeRoleRequest {
    pub signer: Signer,
    pub role_arn: String,
    pub role_session_name: String,
    pub duration_seconds: u32,
    pub external_id: Option<String>,
    pub mfa: Option<Mfa>,
    pub endpoint: Endpoint,
}

/// One GetSessionToken call with MFA: the start of an MFA session.
#[derive(Clone, Serialize, Deserialize)]
pub struct SessionTokenRequest {
    pub source_profile: String,
    pub duration_seconds: u32,
    pub mfa: Mfa,
    pub endpoint: Endpoint,
}

impl std::fmt::Debug for AssumeRoleRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssumeRoleRequest")
            .field("signer", &self.signer)
            .field("role_arn", &self.role_arn)
            .field("role_session_name", &self.role_session_name)
            .field("duration_seconds", &self.duration_seconds)
            .field("external_id", &self.external_id.as_ref().map(|_| "<set>"))
            .field("mfa", &self.mfa)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl std::fmt::Debug for SessionTokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionTokenRequest")
            .field("source_profile", &self.source_profile)
            .field("duration_seconds", &self.duration_seconds)
            .field("mfa", &self.mfa)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl std::fmt::Debug for Mfa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mfa")
            .field("serial", &self.serial)
            .field("token_code", &"<redacted>")
            .finish()
    }
}

/// Serializable, because it crosses from the `vegas-sts` helper to `vegas`.
#[derive(Debug, thiserror::Error, Serialize, Deserialize)]
pub enum Error {
    #[error("STS rejected the MFA code for {mfa_serial}")]
    InvalidMfaCode { mfa_serial: String },
    #[error("not allowed to assume {role_arn}: {message}")]
    AccessDenied { role_arn: String, message: String },
    #[error("duration_seconds {duration} is longer than {role_arn} allows")]
    DurationTooLong { role_arn: String, duration: u32 },
    #[error("the long-term keys of source profile '{profile}' were rejected by STS ({code})")]
    SourceCredentialsRejected { profile: String, code: String },
    #[error("STS no longer accepts the temporary credentials of {origin} ({code})")]
    SessionRejected { origin: String, code: String },
    #[error("no usable long-term credentials for source profile '{profile}': {message}")]
    NoSourceCredentials { profile: String, message: String },
    #[error("STS kept throttling the request ({attempts} attempts)")]
    Throttled { attempts: u32 },
    #[error("STS did not answer within {seconds} s ({endpoint})")]
    Timeout { endpoint: String, seconds: u64 },
    #[error("cannot reach STS at {endpoint}: {message}")]
    Unreachable { endpoint: String, message: String },
    #[error("STS failed: {code}: {message}")]
    Service { code: String, message: String },
    #[error("STS answered without credentials")]
    MissingCredentials,
    #[error("cannot start the network runtime: {0}")]
    Runtime(String),
    #[error("the STS helper {path} cannot be run: {message}")]
    HelperMissing { path: String, message: String },
    #[error("the STS helper failed: {message}")]
    Helper { message: String },
}

impl Error {
    /// Whether STS may have seen the request (and the MFA code in it): false
    /// only when the request certainly never left this machine or never
    /// reached STS, so the code's time step is still fresh.
    pub fn may_have_reached_sts(&self) -> bool {
        !matches!(
            self,
            Error::Unreachable { .. }
                | Error::HelperMissing { .. }
                | Error::Runtime(_)
                | Error::NoSourceCredentials { .. }
        )
    }
}

impl crate::hint::Hint for Error {
    fn hint(&self) -> Cow<'_, str> {
        match self {
            Error::InvalidMfaCode { .. } => Cow::Borrowed(
                "check that vegas_yubikey_label/mfa_serial name the account registered for this MFA device, and that the clock is right",
            ),
            Error::AccessDenied { .. } => Cow::Borrowed(
                "check the role's trust policy allows your source user with MFA, and vegas_role_arn/external_id",
            ),
            Error::DurationTooLong { .. } => Cow::Borrowed(
                "lower duration_seconds, or raise the role's maximum session duration in IAM",
            ),
            Error::SourceCredentialsRejected { profile, .. } => Cow::Owned(format!(
                "rotate or fix the keys of [{profile}] in the credentials file (aws configure --profile {profile})"
            )),
            Error::SessionRejected { .. } => Cow::Borrowed(
                "run `vegas cache clean` and try again; if it persists, check the role's trust policy",
            ),
            Error::NoSourceCredentials { profile, .. } => Cow::Owned(format!(
                "add aws_access_key_id and aws_secret_access_key for [{profile}] to ~/.aws/credentials"
            )),
            Error::Throttled { .. } => Cow::Borrowed("wait a moment and try again"),
            Error::Timeout { .. } | Error::Unreachable { .. } => Cow::Borrowed(
                "check the network, the region, and endpoint_url / AWS_ENDPOINT_URL_STS",
            ),
            Error::Service { .. } | Error::MissingCredentials => {
                Cow::Borrowed("try again; run with --verbose to see each step")
            }
            Error::Runtime(_) => Cow::Borrowed("check the system's limits on threads and open files"),
            Error::HelperMissing { .. } => Cow::Borrowed(
                "reinstall vegas: vegas-sts must sit beside the vegas binary (cargo install installs both)",
            ),
            Error::Helper { .. } => Cow::Borrowed("run with --verbose to see what the helper said; please report it"),
        }
    }
}

/// Call STS AssumeRole (through the `vegas-sts` helper), blocking.
pub fn assume_role(request: &AssumeRoleRequest) -> Result<Credentials, Error> {
    helper::call(&helper::Call::AssumeRole(request.clone()))
}

/// Call STS GetSessionToken with MFA (through the `vegas-sts` helper),
/// blocking, signed by the source profile's long-term keys (STS refuses
/// temporary ones for this call).
pub fn get_session_token(request: &SessionTokenRequest) -> Result<Credentials, Error> {
    helper::call(&helper::Call::GetSessionToken(request.clone()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An AssumeRole with MFA, for the tests of this module and of `sdk`.
    pub(crate) fn request() -> AssumeRoleRequest {
        AssumeRoleRequest {
            signer: Signer::SourceProfile("src".into()),
            role_arn: "arn:aws:iam::222222222222:role/Admin".into(),
            role_session_name: "alice".into(),
            duration_seconds: 3600,
            external_id: None,
            mfa: Some(Mfa {
                serial: "arn:aws:iam::111111111111:mfa/alice".into(),
                token_code: Zeroizing::new("123456".into()),
            }),
            endpoint: Endpoint {
                region: "eu-west-1".into(),
                url: None,
            },
        }
    }

    #[test]
    fn request_debug_hides_the_code() {
        let dbg = format!("{:?}", request());
        assert!(!dbg.contains("123456"), "{dbg}");
    }
}
