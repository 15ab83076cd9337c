//! STS errors with the codes, HTTP statuses and messages AWS uses.

use super::{ops::Caller, Fault};

pub(super) struct StsError {
    pub(super) status: u16,
    pub(super) code: &'static str,
    pub(super) message: String,
}

pub(super) type Reply = Result<String, StsError>;

impl StsError {
    pub(super) fn new(status: u16, code: &'static str, message: String) -> Self {
        StsError {
            status,
            code,
            message,
        }
    }
    pub(super) fn from_fault(fault: &Fault) -> Option<Self> {
        match fault {
            Fault::Throttling => Some(Self::new(400, "Throttling", "Rate exceeded".into())),
            Fault::InternalFailure => Some(Self::new(
                500,
                "InternalFailure",
                "The request processing has failed because of an unknown error, exception or failure.".into(),
            )),
            Fault::AccessDenied => Some(Self::access_denied("Access denied (injected fault)".into())),
            Fault::ExpiredToken => Some(Self::expired_token()),
            Fault::Slow(_) | Fault::DropConnection => None,
        }
    }
    pub(super) fn missing_authentication() -> Self {
        Self::new(
            403,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token".into(),
        )
    }
    pub(super) fn incomplete_signature(message: String) -> Self {
        Self::new(400, "IncompleteSignature", message)
    }
    pub(super) fn invalid_client_token_id() -> Self {
        Self::new(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.".into(),
        )
    }
    pub(super) fn signature_does_not_match(message: String) -> Self {
        Self::new(403, "SignatureDoesNotMatch", message)
    }
    pub(super) fn expired_token() -> Self {
        Self::new(
            403,
            "ExpiredToken",
            "The security token included in the request is expired".into(),
        )
    }
    pub(super) fn access_denied(message: String) -> Self {
        Self::new(403, "AccessDenied", message)
    }
    pub(super) fn not_authorized(caller: &Caller, role_arn: &str) -> Self {
        let who = caller.principal.arn();
        Self::access_denied(format!(
            "User: {who} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
        ))
    }
    pub(super) fn invalid_mfa_code() -> Self {
        Self::access_denied(
            "MultiFactorAuthentication failed with invalid MFA one time pass code. ".into(),
        )
    }
    pub(super) fn validation(message: String) -> Self {
        Self::new(400, "ValidationError", message)
    }
    pub(super) fn invalid_action(action: &str, version: &str) -> Self {
        Self::new(
            400,
            "InvalidAction",
            format!("Could not find operation {action} for version {version}"),
        )
    }
}
