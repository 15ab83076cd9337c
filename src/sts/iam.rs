//! The IAM calls `vegas setup` makes to turn a YubiKey into an AWS MFA
//! device: who the source keys belong to, the user's MFA devices, and the
//! virtual MFA device made, enabled, and (on the way back) deactivated and
//! deleted.
//!
//! Like STS, IAM is reached through the `vegas-sts` helper ([`super::helper`]),
//! so `vegas` itself never links the AWS SDK; the SDK side is in
//! [`super::iam_sdk`]. The seed of a new device crosses from the helper to
//! `vegas` only over the helper's stdout pipe, in a [`Zeroizing`] buffer, and
//! its `Debug` is masked: it is never printed, logged, or put in argv, the
//! environment or a file.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::Endpoint;

/// IAM is a global service: in the `aws` partition its endpoint lives in
/// this region, the default when the source profile names none.
pub const IAM_REGION: &str = "us-east-1";

/// Where IAM is: `AWS_ENDPOINT_URL_IAM`, else `AWS_ENDPOINT_URL`, else AWS's
/// for `region` (the source profile's, so that keys of `aws-cn` or
/// `aws-us-gov` reach their partition's IAM), else [`IAM_REGION`]'s. An
/// override that is not an http(s) URL is refused as the STS one is.
pub fn endpoint_from_env(region: Option<&str>) -> Result<Endpoint, crate::config::Error> {
    endpoint_from(|var| std::env::var(var).ok(), IAM_OVERRIDES, region)
}

/// Where STS is for setup's own GetSessionToken (see [`endpoint_from_env`]):
/// `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, else AWS's in `region`.
pub fn sts_endpoint_from_env(region: Option<&str>) -> Result<Endpoint, crate::config::Error> {
    endpoint_from(|var| std::env::var(var).ok(), STS_OVERRIDES, region)
}

const IAM_OVERRIDES: [&str; 2] = ["AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL"];
const STS_OVERRIDES: [&str; 2] = ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"];

/// [`endpoint_from_env`] with the environment read through `env`, and
/// `overrides` the variables that name the URL, first one first.
fn endpoint_from(
    env: impl Fn(&str) -> Option<String>,
    overrides: [&'static str; 2],
    region: Option<&str>,
) -> Result<Endpoint, crate::config::Error> {
    let set = |var: &'static str| {
        env(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .map(|v| (var, v))
    };
    let [first, second] = overrides;
    let url = match set(first).or_else(|| set(second)) {
        Some((_, url)) if crate::config::is_http_url(&url) => Some(url),
        Some((var, value)) => {
            return Err(crate::config::Error::InvalidEnv {
                var,
                value,
                why: "not an http(s) URL",
            })
        }
        None => None,
    };
    Ok(Endpoint {
        region: region
            .filter(|r| !r.trim().is_empty())
            .unwrap_or(IAM_REGION)
            .to_owned(),
        url,
    })
}

/// One IAM call, signed by the long-term keys of `source_profile`, or by
/// an MFA session of that profile's user.
#[derive(Clone, Serialize, Deserialize)]
pub struct IamRequest {
    pub source_profile: String,
    /// Sign with these instead of the long-term keys: for what a policy
    /// allows only with MFA (deactivating the device on the way back).
    pub mfa_session: Option<crate::credentials::Credentials>,
    pub endpoint: Endpoint,
    pub operation: Operation,
}

/// What the call does.
#[derive(Clone, Serialize, Deserialize)]
pub enum Operation {
    /// The IAM user the keys belong to.
    GetUser,
    /// The MFA devices of a user (serials only).
    ListMfaDevices {
        user_name: String,
    },
    /// A new virtual MFA device; its seed comes back once, here.
    CreateVirtualMfaDevice {
        device_name: String,
    },
    /// Tie the device to the user, proven by the codes of two consecutive
    /// time steps.
    EnableMfaDevice {
        user_name: String,
        serial: String,
        first_code: Zeroizing<String>,
        second_code: Zeroizing<String>,
    },
    DeactivateMfaDevice {
        user_name: String,
        serial: String,
    },
    DeleteVirtualMfaDevice {
        serial: String,
    },
}

impl Operation {
    /// The IAM action's name, for messages (`iam:CreateVirtualMFADevice`).
    pub fn action(&self) -> &'static str {
        match self {
            Operation::GetUser => "GetUser",
            Operation::ListMfaDevices { .. } => "ListMFADevices",
            Operation::CreateVirtualMfaDevice { .. } => "CreateVirtualMFADevice",
            Operation::EnableMfaDevice { .. } => "EnableMFADevice",
            Operation::DeactivateMfaDevice { .. } => "DeactivateMFADevice",
            Operation::DeleteVirtualMfaDevice { .. } => "DeleteVirtualMFADevice",
        }
    }
}

/// What IAM answered.
#[derive(Serialize, Deserialize)]
pub enum Answer {
    User(User),
    MfaDevices(Vec<String>),
    Created(CreatedDevice),
    Done,
}

/// An IAM user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub arn: String,
}

impl User {
    /// The account of the user's ARN (`arn:aws:iam::ACCOUNT:user/NAME`).
    pub fn account_id(&self) -> Option<&str> {
        self.arn.split(':').nth(4).filter(|a| !a.is_empty())
    }

    /// The partition of the user's ARN (`aws`, `aws-cn`, `aws-us-gov`).
    pub fn partition(&self) -> Option<&str> {
        self.arn.split(':').nth(1).filter(|p| !p.is_empty())
    }
}

/// A virtual MFA device just made: its serial (ARN) and its TOTP seed,
/// base32 as IAM gives it.
#[derive(Serialize, Deserialize)]
pub struct CreatedDevice {
    pub serial: String,
    pub seed_base32: Zeroizing<String>,
}

impl std::fmt::Debug for CreatedDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedDevice")
            .field("serial", &self.serial)
            .field("seed_base32", &"<redacted>")
            .finish()
    }
}

impl std::fmt::Debug for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The codes are the only secrets; the rest names what is touched.
        match self {
            Operation::EnableMfaDevice {
                user_name, serial, ..
            } => f
                .debug_struct("EnableMfaDevice")
                .field("user_name", user_name)
                .field("serial", serial)
                .field("codes", &"<redacted>")
                .finish(),
            other => f.write_str(other.action()),
        }
    }
}

/// Serializable, because it crosses from the `vegas-sts` helper to `vegas`.
#[derive(Debug, thiserror::Error, Serialize, Deserialize)]
pub enum Error {
    #[error("the keys of '{profile}' may not call iam:{action}: {message}")]
    AccessDenied {
        profile: String,
        action: String,
        message: String,
    },
    #[error("an MFA device named '{name}' already exists in IAM")]
    DeviceExists { name: String },
    #[error("IAM refused the two codes for {serial}")]
    CodesRefused { serial: String },
    #[error("IAM says the user has as many MFA devices as allowed: {message}")]
    LimitExceeded { message: String },
    #[error("IAM knows no {what}: {message}")]
    NoSuchEntity { what: String, message: String },
    #[error("the keys of '{profile}' are not an IAM user's ({message})")]
    NotAUser { profile: String, message: String },
    #[error("IAM did not answer within {seconds} s ({endpoint})")]
    Timeout { endpoint: String, seconds: u64 },
    #[error("cannot reach IAM at {endpoint}: {message}")]
    Unreachable { endpoint: String, message: String },
    #[error("IAM failed: {code}: {message}")]
    Service { code: String, message: String },
    /// The call may have been made; what came back could not be used.
    #[error("IAM's answer could not be read: {message}")]
    Answer { message: String },
    #[error(transparent)]
    Sts(#[from] super::Error),
}

impl Error {
    /// Whether IAM itself refused the call, so that it changed nothing (as
    /// opposed to a call that failed on the way or whose answer was lost,
    /// which may have happened). [`Error::Service`] is not: a 5xx or a
    /// `ConcurrentModification` may come after IAM made the change.
    pub fn refused_by_iam(&self) -> bool {
        matches!(
            self,
            Error::AccessDenied { .. }
                | Error::DeviceExists { .. }
                | Error::CodesRefused { .. }
                | Error::LimitExceeded { .. }
                | Error::NoSuchEntity { .. }
                | Error::NotAUser { .. }
        )
    }
}

impl crate::hint::Hint for Error {
    fn hint(&self) -> Cow<'_, str> {
        match self {
            Error::AccessDenied { action, .. } => Cow::Owned(format!(
                "the user needs an IAM policy allowing iam:{action} (and the other MFA actions: \
                 iam:GetUser, iam:ListMFADevices, iam:CreateVirtualMFADevice, iam:EnableMFADevice, \
                 iam:DeactivateMFADevice, iam:DeleteVirtualMFADevice) on its own user and \
                 arn:aws:iam::ACCOUNT:mfa/*; see docs/configuration.md"
            )),
            Error::DeviceExists { .. } => Cow::Borrowed(
                "choose another name with --device-name, or delete the old device in IAM",
            ),
            Error::CodesRefused { .. } => Cow::Borrowed(
                "check the computer's clock (e.g. `timedatectl`): the codes depend on the time",
            ),
            Error::LimitExceeded { .. } => Cow::Borrowed(
                "remove an MFA device the user no longer uses (aws iam list-mfa-devices), then try again",
            ),
            Error::Timeout { .. } | Error::Unreachable { .. } => {
                Cow::Borrowed("check the network, and AWS_ENDPOINT_URL_IAM if it is set")
            }
            Error::NoSuchEntity { .. } | Error::Service { .. } | Error::Answer { .. } => {
                Cow::Borrowed("try again; run with --verbose to see each step")
            }
            Error::NotAUser { .. } => Cow::Borrowed(
                "give a source profile with an IAM user's long-term keys (not a role's or root's)",
            ),
            Error::Sts(e) => e.hint(),
        }
    }
}

/// Make one IAM call through the `vegas-sts` helper, blocking.
pub fn call(request: &IamRequest) -> Result<Answer, Error> {
    super::helper::exchange::<Answer, Error>(&super::helper::Call::Iam(request.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enable_request_debug_hides_the_codes() {
        let op = Operation::EnableMfaDevice {
            user_name: "alice".into(),
            serial: "arn:aws:iam::1:mfa/x".into(),
            first_code: Zeroizing::new("123456".into()),
            second_code: Zeroizing::new("654321".into()),
        };
        let dbg = format!("{op:?}");
        assert!(!dbg.contains("123456") && !dbg.contains("654321"), "{dbg}");
    }

    #[test]
    fn created_device_debug_hides_the_seed() {
        let created = CreatedDevice {
            serial: "arn:aws:iam::1:mfa/x".into(),
            seed_base32: Zeroizing::new("JBSWY3DPEHPK3PXP".into()),
        };
        assert!(!format!("{created:?}").contains("JBSWY3DP"));
    }

    #[test]
    fn an_iam_endpoint_override_must_be_an_http_url_and_the_region_follows_the_profile() {
        let env = |value: &'static str| {
            move |var: &str| (var == "AWS_ENDPOINT_URL_IAM").then(|| value.to_owned())
        };
        let refused = endpoint_from(env("ftp://iam?X-Amz-Security-Token=t"), IAM_OVERRIDES, None);
        assert!(
            matches!(&refused, Err(crate::config::Error::InvalidEnv { var: "AWS_ENDPOINT_URL_IAM", value, .. }) if value.starts_with("ftp://iam")),
            "{refused:?}"
        );
        let endpoint =
            endpoint_from(env("http://127.0.0.1:1"), IAM_OVERRIDES, Some("cn-north-1")).unwrap();
        assert_eq!(endpoint.url.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(endpoint.region, "cn-north-1");
        let endpoint = endpoint_from(|_: &str| None, IAM_OVERRIDES, None).unwrap();
        assert_eq!((endpoint.url, endpoint.region.as_str()), (None, IAM_REGION));
    }

    #[test]
    fn user_arn_gives_account_and_partition() {
        let user = User {
            name: "alice".into(),
            arn: "arn:aws-cn:iam::123456789012:user/team/alice".into(),
        };
        assert_eq!(user.account_id(), Some("123456789012"));
        assert_eq!(user.partition(), Some("aws-cn"));
    }

    #[test]
    fn only_a_refusal_by_iam_means_nothing_was_made() {
        let refused = Error::DeviceExists { name: "x".into() };
        let lost = Error::Answer {
            message: "unreadable".into(),
        };
        let unreachable = Error::Unreachable {
            endpoint: "e".into(),
            message: "m".into(),
        };
        let helper = Error::Sts(super::super::Error::Helper {
            message: "no answer".into(),
        });
        let failed = Error::Service {
            code: "ServiceFailure".into(),
            message: "m".into(),
        };
        assert!(refused.refused_by_iam());
        assert!(!failed.refused_by_iam(), "a 5xx may come after the change");
        assert!(!lost.refused_by_iam());
        assert!(!unreachable.refused_by_iam());
        assert!(!helper.refused_by_iam());
    }
}
