//! The IAM calls of [`super::iam`] through aws-sdk-iam, and IAM failures
//! mapped to errors a user can act on.
//!
//! Only the `vegas-sts` helper binary links this module (through
//! [`super::helper::serve`]), as with [`super::sdk`], whose configuration
//! (timeouts, retries, the source profile's keys, the endpoint override) the
//! IAM client shares.

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use zeroize::Zeroizing;

use super::iam::{Answer, CreatedDevice, Error, IamRequest, Operation, User};
use super::sdk::{block_on, config_for, credentials_failure, error_chain, OPERATION_TIMEOUT};
use super::Signer;

/// Make one IAM call, blocking: builds a current-thread runtime for it only.
pub fn call(request: &IamRequest) -> Result<Answer, Error> {
    block_on(call_async(request))
}

async fn call_async(request: &IamRequest) -> Result<Answer, Error> {
    let signer = match &request.mfa_session {
        Some(credentials) => Signer::Session {
            credentials: credentials.clone(),
            origin: format!("an MFA session of '{}'", request.source_profile),
            config_profile: request.source_profile.clone(),
        },
        None => Signer::SourceProfile(request.source_profile.clone()),
    };
    let client = aws_sdk_iam::Client::new(&config_for(&signer, &request.endpoint).await);
    match &request.operation {
        Operation::GetUser => {
            let output = client
                .get_user()
                .send()
                .await
                .map_err(|e| map_error(e, request))?;
            let user = output.user().ok_or_else(|| Error::Answer {
                message: "GetUser answered without a user".into(),
            })?;
            Ok(Answer::User(User {
                name: user.user_name().to_owned(),
                arn: user.arn().to_owned(),
            }))
        }
        Operation::ListMfaDevices { user_name } => {
            let output = client
                .list_mfa_devices()
                .user_name(user_name)
                .send()
                .await
                .map_err(|e| map_error(e, request))?;
            Ok(Answer::MfaDevices(
                output
                    .mfa_devices()
                    .iter()
                    .map(|d| d.serial_number().to_owned())
                    .collect(),
            ))
        }
        Operation::CreateVirtualMfaDevice { device_name } => {
            let output = client
                .create_virtual_mfa_device()
                .virtual_mfa_device_name(device_name)
                .send()
                .await
                .map_err(|e| map_error(e, request))?;
            created(output.virtual_mfa_device())
        }
        Operation::EnableMfaDevice {
            user_name,
            serial,
            first_code,
            second_code,
        } => {
            client
                .enable_mfa_device()
                .user_name(user_name)
                .serial_number(serial)
                .authentication_code1(first_code.as_str())
                .authentication_code2(second_code.as_str())
                .send()
                .await
                .map_err(|e| map_error(e, request))?;
            Ok(Answer::Done)
        }
        Operation::DeactivateMfaDevice { user_name, serial } => {
            client
                .deactivate_mfa_device()
                .user_name(user_name)
                .serial_number(serial)
                .send()
                .await
                .map_err(|e| map_error(e, request))?;
            Ok(Answer::Done)
        }
        Operation::DeleteVirtualMfaDevice { serial } => {
            client
                .delete_virtual_mfa_device()
                .serial_number(serial)
                .send()
                .await
                .map_err(|e| map_error(e, request))?;
            Ok(Answer::Done)
        }
    }
}

/// The device and its seed, moved straight into zeroizing memory.
fn created(device: Option<&aws_sdk_iam::types::VirtualMfaDevice>) -> Result<Answer, Error> {
    let missing = || Error::Answer {
        message: "CreateVirtualMFADevice answered without a seed".into(),
    };
    let device = device.ok_or_else(missing)?;
    let seed = device.base32_string_seed().ok_or_else(missing)?;
    let text = std::str::from_utf8(seed.as_ref()).map_err(|_| Error::Answer {
        message: "the seed is not base32 text".into(),
    })?;
    let seed_base32 = Zeroizing::new(text.to_owned());
    Ok(Answer::Created(CreatedDevice {
        serial: device.serial_number().to_owned(),
        seed_base32,
    }))
}

fn map_error<E, R>(err: SdkError<E, R>, request: &IamRequest) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let endpoint = request
        .endpoint
        .url
        .clone()
        .unwrap_or_else(|| "iam.amazonaws.com".into());
    let profile = request.source_profile.clone();
    let sts = |e| Error::Sts(e);
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            classify(
                e.code().unwrap_or("Unknown"),
                e.message().unwrap_or(""),
                request,
            )
        }
        // Its text may quote the request being built: never shown.
        SdkError::ConstructionFailure(_) => Error::Answer {
            message: format!(
                "the {} request could not be built",
                request.operation.action()
            ),
        },
        SdkError::TimeoutError(_) => Error::Timeout {
            endpoint,
            seconds: OPERATION_TIMEOUT.as_secs(),
        },
        SdkError::DispatchFailure(failure) if failure.is_timeout() => Error::Timeout {
            endpoint,
            seconds: OPERATION_TIMEOUT.as_secs(),
        },
        _ => match credentials_failure(&err) {
            Some(message) => sts(super::Error::NoSourceCredentials { profile, message }),
            None if matches!(err, SdkError::DispatchFailure(_)) => Error::Unreachable {
                endpoint,
                message: error_chain(&err),
            },
            None => Error::Answer {
                message: error_chain(&err),
            },
        },
    }
}

/// IAM error code and message → the error a user can act on.
fn classify(code: &str, message: &str, request: &IamRequest) -> Error {
    let profile = request.source_profile.clone();
    match (code, &request.operation) {
        ("AccessDenied" | "AccessDeniedException", op) => Error::AccessDenied {
            profile,
            action: op.action().into(),
            message: message.into(),
        },
        ("EntityAlreadyExists", Operation::CreateVirtualMfaDevice { device_name }) => {
            Error::DeviceExists {
                name: device_name.clone(),
            }
        }
        ("InvalidAuthenticationCode", Operation::EnableMfaDevice { serial, .. }) => {
            Error::CodesRefused {
                serial: serial.clone(),
            }
        }
        ("LimitExceeded", _) => Error::LimitExceeded {
            message: message.into(),
        },
        ("NoSuchEntity", op) => Error::NoSuchEntity {
            what: format!("entity for {}", op.action()),
            message: message.into(),
        },
        ("ValidationError", Operation::GetUser) => Error::NotAUser {
            profile,
            message: message.into(),
        },
        (
            "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "UnrecognizedClientException",
            _,
        ) => Error::Sts(super::Error::SourceCredentialsRejected {
            profile,
            code: code.into(),
        }),
        ("Throttling" | "ThrottlingException" | "RequestLimitExceeded", _) => {
            Error::Sts(super::Error::Throttled { attempts: 3 })
        }
        _ => Error::Service {
            code: code.into(),
            message: message.into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sts::Endpoint;

    fn request(operation: Operation) -> IamRequest {
        IamRequest {
            source_profile: "src".into(),
            mfa_session: None,
            endpoint: Endpoint {
                region: "us-east-1".into(),
                url: None,
            },
            operation,
        }
    }

    #[test]
    fn iam_error_codes_map_to_actionable_errors() {
        let create = request(Operation::CreateVirtualMfaDevice {
            device_name: "vegas-1".into(),
        });
        assert!(matches!(
            classify("AccessDenied", "not authorized", &create),
            Error::AccessDenied { ref action, .. } if action == "CreateVirtualMFADevice"
        ));
        assert!(matches!(
            classify("EntityAlreadyExists", "exists", &create),
            Error::DeviceExists { ref name } if name == "vegas-1"
        ));
        let enable = request(Operation::EnableMfaDevice {
            user_name: "alice".into(),
            serial: "arn:aws:iam::1:mfa/x".into(),
            first_code: Zeroizing::new("1".into()),
            second_code: Zeroizing::new("2".into()),
        });
        assert!(matches!(
            classify("InvalidAuthenticationCode", "bad", &enable),
            Error::CodesRefused { .. }
        ));
        assert!(matches!(
            classify("InvalidClientTokenId", "", &enable),
            Error::Sts(super::super::Error::SourceCredentialsRejected { .. })
        ));
        assert!(matches!(
            classify(
                "ValidationError",
                "non-User credentials",
                &request(Operation::GetUser)
            ),
            Error::NotAUser { .. }
        ));
        assert!(matches!(
            classify("Weird", "x", &enable),
            Error::Service { .. }
        ));
    }
}
