//! STS calls through aws-sdk-sts, and STS failures mapped to errors a user
//! can act on.
//!
//! This is the only module that builds an async runtime or loads aws-config,
//! and it is reached only on a cache miss: the hit path never pays for them.
//! The source profile's long-term credentials are resolved by aws-config's
//! profile provider for *that* profile, never from `AWS_PROFILE` (the AWS CLI
//! sets it to the target profile when it runs us) nor from stray
//! `AWS_ACCESS_KEY_ID`/`AWS_SESSION_TOKEN` in the environment.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use zeroize::Zeroizing;

use crate::credentials::Credentials;

/// One AssumeRole call with MFA.
#[derive(Clone)]
pub struct AssumeRoleRequest {
    pub source_profile: String,
    pub role_arn: String,
    pub role_session_name: String,
    pub duration_seconds: u32,
    pub external_id: Option<String>,
    pub mfa_serial: String,
    pub token_code: Zeroizing<String>,
    pub region: String,
    pub endpoint_url: Option<String>,
}

impl std::fmt::Debug for AssumeRoleRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssumeRoleRequest")
            .field("source_profile", &self.source_profile)
            .field("role_arn", &self.role_arn)
            .field("role_session_name", &self.role_session_name)
            .field("duration_seconds", &self.duration_seconds)
            .field("external_id", &self.external_id.as_ref().map(|_| "<set>"))
            .field("mfa_serial", &self.mfa_serial)
            .field("token_code", &"<redacted>")
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .finish()
    }
}

/// Whole-call bound, retries included; an attempt and a connect have their own.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("STS rejected the MFA code for {mfa_serial}")]
    InvalidMfaCode { mfa_serial: String },
    #[error("not allowed to assume {role_arn}: {message}")]
    AccessDenied { role_arn: String, message: String },
    #[error("duration_seconds {duration} is longer than {role_arn} allows")]
    DurationTooLong { role_arn: String, duration: u32 },
    #[error("the long-term keys of source profile '{profile}' were rejected by STS ({code})")]
    SourceCredentialsRejected { profile: String, code: String },
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
    Runtime(std::io::Error),
}

impl crate::error::Hint for Error {
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
        }
    }
}

fn endpoint_label(request: &AssumeRoleRequest) -> String {
    request
        .endpoint_url
        .clone()
        .unwrap_or_else(|| format!("sts.{}.amazonaws.com", request.region))
}

/// Call STS AssumeRole with MFA, blocking: builds a current-thread runtime
/// for this call only.
pub fn assume_role(request: &AssumeRoleRequest) -> Result<Credentials, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    runtime.block_on(assume_role_async(request))
}

async fn client_for(request: &AssumeRoleRequest) -> aws_sdk_sts::Client {
    let credentials = aws_config::profile::ProfileFileCredentialsProvider::builder()
        .profile_name(&request.source_profile)
        .build();
    let timeouts = TimeoutConfig::builder()
        .operation_timeout(OPERATION_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .profile_name(&request.source_profile)
        .region(aws_config::Region::new(request.region.clone()))
        .credentials_provider(credentials)
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(timeouts);
    if let Some(url) = &request.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    aws_sdk_sts::Client::new(&loader.load().await)
}

async fn assume_role_async(request: &AssumeRoleRequest) -> Result<Credentials, Error> {
    let client = client_for(request).await;
    let output = client
        .assume_role()
        .role_arn(&request.role_arn)
        .role_session_name(&request.role_session_name)
        .duration_seconds(i32::try_from(request.duration_seconds).unwrap_or(i32::MAX))
        .set_external_id(request.external_id.clone())
        .serial_number(&request.mfa_serial)
        .token_code(request.token_code.as_str())
        .send()
        .await
        .map_err(|e| map_error(e, request))?;
    let creds = output.credentials.ok_or(Error::MissingCredentials)?;
    let expires_at = SystemTime::try_from(creds.expiration)
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .ok_or(Error::MissingCredentials)?;
    Ok(Credentials {
        access_key_id: creds.access_key_id,
        secret_access_key: Zeroizing::new(creds.secret_access_key),
        session_token: Zeroizing::new(creds.session_token),
        expires_at,
    })
}

fn map_error<E, R>(err: SdkError<E, R>, request: &AssumeRoleRequest) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let endpoint = endpoint_label(request);
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            classify(
                e.code().unwrap_or("Unknown"),
                e.message().unwrap_or(""),
                request,
            )
        }
        SdkError::TimeoutError(_) => Error::Timeout {
            endpoint,
            seconds: OPERATION_TIMEOUT.as_secs(),
        },
        SdkError::DispatchFailure(failure) => {
            if failure.is_timeout() {
                Error::Timeout {
                    endpoint,
                    seconds: OPERATION_TIMEOUT.as_secs(),
                }
            } else if let Some(message) = credentials_failure(&err) {
                Error::NoSourceCredentials {
                    profile: request.source_profile.clone(),
                    message,
                }
            } else {
                Error::Unreachable {
                    endpoint,
                    message: error_chain(&err),
                }
            }
        }
        _ => match credentials_failure(&err) {
            Some(message) => Error::NoSourceCredentials {
                profile: request.source_profile.clone(),
                message,
            },
            None => Error::Service {
                code: "ClientError".into(),
                message: error_chain(&err),
            },
        },
    }
}

/// STS error code and message → the error a user can act on.
fn classify(code: &str, message: &str, request: &AssumeRoleRequest) -> Error {
    match code {
        "AccessDenied"
            if message.contains("MultiFactorAuthentication") || message.contains("MFA") =>
        {
            Error::InvalidMfaCode {
                mfa_serial: request.mfa_serial.clone(),
            }
        }
        "AccessDenied" => Error::AccessDenied {
            role_arn: request.role_arn.clone(),
            message: message.into(),
        },
        "ValidationError" if message.contains("DurationSeconds") => Error::DurationTooLong {
            role_arn: request.role_arn.clone(),
            duration: request.duration_seconds,
        },
        "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "UnrecognizedClientException" => Error::SourceCredentialsRejected {
            profile: request.source_profile.clone(),
            code: code.into(),
        },
        "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => Error::Throttled {
            attempts: MAX_ATTEMPTS,
        },
        _ => Error::Service {
            code: code.into(),
            message: message.into(),
        },
    }
}

/// The chain of causes, one line. Source-credential failures from aws-config
/// surface here; their messages name profiles and files, never key material.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ").replace('\n', " ")
}

fn credentials_failure<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<String> {
    let mut source: Option<&'a (dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(c) = e.downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
        {
            return Some(error_chain(c));
        }
        source = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> AssumeRoleRequest {
        AssumeRoleRequest {
            source_profile: "src".into(),
            role_arn: "arn:aws:iam::222222222222:role/Admin".into(),
            role_session_name: "alice".into(),
            duration_seconds: 3600,
            external_id: None,
            mfa_serial: "arn:aws:iam::111111111111:mfa/alice".into(),
            token_code: Zeroizing::new("123456".into()),
            region: "eu-west-1".into(),
            endpoint_url: None,
        }
    }

    #[test]
    fn sts_error_codes_map_to_actionable_errors() {
        let r = request();
        let mfa = "MultiFactorAuthentication failed with invalid MFA one time pass code.";
        assert!(matches!(
            classify("AccessDenied", mfa, &r),
            Error::InvalidMfaCode { .. }
        ));
        assert!(matches!(
            classify("AccessDenied", "not authorized", &r),
            Error::AccessDenied { .. }
        ));
        let dur = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.";
        assert!(matches!(
            classify("ValidationError", dur, &r),
            Error::DurationTooLong { duration: 3600, .. }
        ));
        assert!(matches!(
            classify("ExpiredToken", "", &r),
            Error::SourceCredentialsRejected { .. }
        ));
        assert!(matches!(
            classify("InvalidClientTokenId", "", &r),
            Error::SourceCredentialsRejected { .. }
        ));
        assert!(matches!(
            classify("Throttling", "", &r),
            Error::Throttled { .. }
        ));
        assert!(matches!(classify("Weird", "x", &r), Error::Service { .. }));
    }

    #[test]
    fn request_debug_hides_the_code() {
        let dbg = format!("{:?}", request());
        assert!(!dbg.contains("123456"), "{dbg}");
    }
}
