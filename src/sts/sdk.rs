//! The STS calls themselves, through aws-sdk-sts and aws-config, and STS
//! failures mapped to errors a user can act on.
//!
//! Only the `vegas-sts` helper binary links this module (through
//! [`super::helper::serve`]): the `vegas` binary reaches it by running that
//! helper, so the SDK, its TLS stack and the async runtime are never loaded,
//! relocated or initialised on a cache hit.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use zeroize::Zeroizing;

use super::{AssumeRoleRequest, Endpoint, Error, SessionTokenRequest, Signer};
use crate::credentials::Credentials;

/// What an error message about one call needs to name.
struct Context<'a> {
    signer: &'a Signer,
    /// The role, or "an MFA session" for GetSessionToken.
    target: &'a str,
    duration_seconds: u32,
    mfa_serial: Option<&'a str>,
    endpoint: &'a Endpoint,
}

/// Whole-call bound, retries included; an attempt and a connect have their own.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_ATTEMPTS: u32 = 3;

/// Call STS AssumeRole, blocking: builds a current-thread runtime for this
/// call only.
pub fn assume_role(request: &AssumeRoleRequest) -> Result<Credentials, Error> {
    block_on(assume_role_async(request))
}

/// Call STS GetSessionToken with MFA, blocking, signed by the source
/// profile's long-term keys (STS refuses temporary ones for this call).
pub fn get_session_token(request: &SessionTokenRequest) -> Result<Credentials, Error> {
    block_on(get_session_token_async(request))
}

/// Run one call on a current-thread runtime built for it alone.
pub(super) fn block_on<T, E: From<Error>, F: std::future::Future<Output = Result<T, E>>>(
    call: F,
) -> Result<T, E> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(e.to_string()))?;
    runtime.block_on(call)
}

async fn client_for(signer: &Signer, endpoint: &Endpoint) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(&config_for(signer, endpoint).await)
}

/// The SDK configuration for calls signed by `signer` at `endpoint`, with
/// vegas's timeouts and retries (shared by the STS and the IAM calls).
pub(super) async fn config_for(signer: &Signer, endpoint: &Endpoint) -> aws_config::SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .operation_timeout(OPERATION_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(endpoint.region.clone()))
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(timeouts);
    loader = match signer {
        Signer::SourceProfile(profile) => loader.profile_name(profile).credentials_provider(
            aws_config::profile::ProfileFileCredentialsProvider::builder()
                .profile_name(profile)
                .build(),
        ),
        Signer::Session {
            credentials,
            config_profile,
            ..
        } => loader.profile_name(config_profile).credentials_provider(
            aws_credential_types::Credentials::new(
                credentials.access_key_id.clone(),
                credentials.secret_access_key.as_str(),
                Some(credentials.session_token.to_string()),
                u64::try_from(credentials.expires_at)
                    .ok()
                    .map(|secs| UNIX_EPOCH + Duration::from_secs(secs)),
                "vegas",
            ),
        ),
    };
    if let Some(url) = &endpoint.url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

async fn assume_role_async(request: &AssumeRoleRequest) -> Result<Credentials, Error> {
    let context = Context {
        signer: &request.signer,
        target: &request.role_arn,
        duration_seconds: request.duration_seconds,
        mfa_serial: request.mfa.as_ref().map(|m| m.serial.as_str()),
        endpoint: &request.endpoint,
    };
    let client = client_for(&request.signer, &request.endpoint).await;
    let output = client
        .assume_role()
        .role_arn(&request.role_arn)
        .role_session_name(&request.role_session_name)
        .duration_seconds(i32::try_from(request.duration_seconds).unwrap_or(i32::MAX))
        .set_external_id(request.external_id.clone())
        .set_serial_number(request.mfa.as_ref().map(|m| m.serial.clone()))
        .set_token_code(request.mfa.as_ref().map(|m| m.token_code.to_string()))
        .send()
        .await
        .map_err(|e| map_error(e, &context))?;
    from_sdk(output.credentials)
}

async fn get_session_token_async(request: &SessionTokenRequest) -> Result<Credentials, Error> {
    let signer = Signer::SourceProfile(request.source_profile.clone());
    let context = Context {
        signer: &signer,
        target: "an MFA session",
        duration_seconds: request.duration_seconds,
        mfa_serial: Some(&request.mfa.serial),
        endpoint: &request.endpoint,
    };
    let client = client_for(&signer, &request.endpoint).await;
    let output = client
        .get_session_token()
        .duration_seconds(i32::try_from(request.duration_seconds).unwrap_or(i32::MAX))
        .serial_number(&request.mfa.serial)
        .token_code(request.mfa.token_code.as_str())
        .send()
        .await
        .map_err(|e| map_error(e, &context))?;
    from_sdk(output.credentials)
}

fn from_sdk(creds: Option<aws_sdk_sts::types::Credentials>) -> Result<Credentials, Error> {
    let creds = creds.ok_or(Error::MissingCredentials)?;
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

fn map_error<E, R>(err: SdkError<E, R>, context: &Context<'_>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let endpoint = context.endpoint.label();
    let no_credentials = |message| Error::NoSourceCredentials {
        profile: context.signer.label().to_string(),
        message,
    };
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            classify(
                e.code().unwrap_or("Unknown"),
                e.message().unwrap_or(""),
                context,
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
                no_credentials(message)
            } else {
                Error::Unreachable {
                    endpoint,
                    message: error_chain(&err),
                }
            }
        }
        _ => match credentials_failure(&err) {
            Some(message) => no_credentials(message),
            None => Error::Service {
                code: "ClientError".into(),
                message: error_chain(&err),
            },
        },
    }
}

/// STS error code and message → the error a user can act on.
fn classify(code: &str, message: &str, context: &Context<'_>) -> Error {
    let mfa_failure = message.contains("MultiFactorAuthentication") || message.contains("MFA");
    match (code, context.mfa_serial) {
        ("AccessDenied", Some(serial)) if mfa_failure => Error::InvalidMfaCode {
            mfa_serial: serial.to_string(),
        },
        ("AccessDenied", _) => Error::AccessDenied {
            role_arn: context.target.to_string(),
            message: message.into(),
        },
        ("ValidationError", _) if message.contains("DurationSeconds") => Error::DurationTooLong {
            role_arn: context.target.to_string(),
            duration: context.duration_seconds,
        },
        (
            "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "UnrecognizedClientException",
            _,
        ) => match context.signer {
            Signer::SourceProfile(profile) => Error::SourceCredentialsRejected {
                profile: profile.clone(),
                code: code.into(),
            },
            Signer::Session { origin, .. } => Error::SessionRejected {
                origin: origin.clone(),
                code: code.into(),
            },
        },
        ("Throttling" | "ThrottlingException" | "RequestLimitExceeded", _) => Error::Throttled {
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
pub(super) fn error_chain(err: &dyn std::error::Error) -> String {
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

pub(super) fn credentials_failure<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<String> {
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
    use crate::sts::tests::request;

    fn context(r: &AssumeRoleRequest) -> Context<'_> {
        Context {
            signer: &r.signer,
            target: &r.role_arn,
            duration_seconds: r.duration_seconds,
            mfa_serial: r.mfa.as_ref().map(|m| m.serial.as_str()),
            endpoint: &r.endpoint,
        }
    }

    #[test]
    fn sts_error_codes_map_to_actionable_errors() {
        let r = request();
        let c = context(&r);
        let mfa = "MultiFactorAuthentication failed with invalid MFA one time pass code.";
        assert!(matches!(
            classify("AccessDenied", mfa, &c),
            Error::InvalidMfaCode { .. }
        ));
        assert!(matches!(
            classify("AccessDenied", "not authorized", &c),
            Error::AccessDenied { .. }
        ));
        let dur = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.";
        assert!(matches!(
            classify("ValidationError", dur, &c),
            Error::DurationTooLong { duration: 3600, .. }
        ));
        assert!(matches!(
            classify("ExpiredToken", "", &c),
            Error::SourceCredentialsRejected { .. }
        ));
        assert!(matches!(
            classify("InvalidClientTokenId", "", &c),
            Error::SourceCredentialsRejected { .. }
        ));
        assert!(matches!(
            classify("Throttling", "", &c),
            Error::Throttled { .. }
        ));
        assert!(matches!(classify("Weird", "x", &c), Error::Service { .. }));
    }

    #[test]
    fn rejected_session_credentials_blame_the_session_not_the_long_term_keys() {
        let mut r = request();
        r.mfa = None;
        r.signer = Signer::Session {
            credentials: Credentials {
                access_key_id: "ASIAEXAMPLE".into(),
                secret_access_key: Zeroizing::new("s".into()),
                session_token: Zeroizing::new("t".into()),
                expires_at: 0,
            },
            origin: "the MFA session of 'src'".into(),
            config_profile: "src".into(),
        };
        let c = context(&r);
        assert!(matches!(
            classify("ExpiredToken", "", &c),
            Error::SessionRejected { ref origin, .. } if origin.contains("'src'")
        ));
        // Without MFA in the request, an MFA-flavoured denial is a plain denial.
        assert!(matches!(
            classify("AccessDenied", "MFA required", &c),
            Error::AccessDenied { .. }
        ));
    }
}
