//! The STS Query API responses, as AWS shapes them.

use zeroize::Zeroizing;

use super::iam::IAM_VERSION;
use super::ops::Principal;
use super::{StsError, STS_VERSION};

/// Replaced by the request id once it is known.
pub(super) const REQUEST_ID_SLOT: &str = "\u{0}REQUEST-ID\u{0}";

pub(super) struct Credentials {
    pub(super) access_key_id: String,
    pub(super) secret_access_key: Zeroizing<String>,
    pub(super) session_token: Zeroizing<String>,
    /// Unix seconds.
    pub(super) expiration: u64,
}

pub(super) fn assume_role(credentials: &Credentials, principal: &Principal) -> String {
    let user = format!(
        "<AssumedRoleUser><AssumedRoleId>{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser>",
        escape(&principal.user_id()),
        escape(&principal.arn())
    );
    response(
        "AssumeRole",
        &format!("{user}{}", credentials_xml(credentials)),
    )
}

pub(super) fn session_token(credentials: &Credentials) -> String {
    response("GetSessionToken", &credentials_xml(credentials))
}

pub(super) fn caller_identity(principal: &Principal) -> String {
    let result = format!(
        "<Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account>",
        escape(&principal.arn()),
        escape(&principal.user_id()),
        escape(principal.account_id())
    );
    response("GetCallerIdentity", &result)
}

pub(super) fn error(error: &StsError, request_id: &str) -> String {
    let kind = if error.status >= 500 {
        "Receiver"
    } else {
        "Sender"
    };
    format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/{STS_VERSION}/\">\n  <Error>\n    \
         <Type>{kind}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  \
         <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
        error.code,
        escape(&error.message)
    )
}

fn credentials_xml(credentials: &Credentials) -> String {
    format!(
        "<Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey>\
         <SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials>",
        credentials.access_key_id,
        escape(&credentials.secret_access_key),
        escape(&credentials.session_token),
        iso8601(credentials.expiration)
    )
}

fn response(action: &str, result: &str) -> String {
    format!(
        "<{action}Response xmlns=\"https://sts.amazonaws.com/doc/{STS_VERSION}/\">\n  \
         <{action}Result>{result}</{action}Result>\n  \
         <ResponseMetadata><RequestId>{REQUEST_ID_SLOT}</RequestId></ResponseMetadata>\n\
         </{action}Response>\n"
    )
}

/// `2026-11-28T12:00:00Z`.
pub(super) fn iso8601(unix_seconds: u64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    i64::try_from(unix_seconds)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An IAM Query API answer with a result.
pub(super) fn iam_response(action: &str, result: &str) -> String {
    format!(
        "<{action}Response xmlns=\"https://iam.amazonaws.com/doc/{IAM_VERSION}/\">\n  \
         <{action}Result>{result}</{action}Result>\n  \
         <ResponseMetadata><RequestId>{REQUEST_ID_SLOT}</RequestId></ResponseMetadata>\n\
         </{action}Response>\n"
    )
}

/// An IAM Query API answer without a result (Enable, Deactivate, Delete).
pub(super) fn iam_response_empty(action: &str) -> String {
    format!(
        "<{action}Response xmlns=\"https://iam.amazonaws.com/doc/{IAM_VERSION}/\">\n  \
         <ResponseMetadata><RequestId>{REQUEST_ID_SLOT}</RequestId></ResponseMetadata>\n\
         </{action}Response>\n"
    )
}
