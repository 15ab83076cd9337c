//! SigV4 verification: the canonical request, string to sign and signature
//! recomputed from the secret, compared in constant time.

use std::time::SystemTime;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::encoding::{constant_time_eq, hex, unix_seconds, uri_encode};
use super::{http, StsError, MAX_CLOCK_SKEW};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The parts of `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/sts/aws4_request,
/// SignedHeaders=a;b;c, Signature=hex`.
pub(super) struct Authorization {
    pub(super) access_key_id: String,
    date: String,
    region: String,
    service: String,
    terminator: String,
    signed_headers: Vec<String>,
    signature: String,
}

/// The access key id a header claims, for the call record.
pub(super) fn claimed_access_key_id(header: &str) -> Option<String> {
    Authorization::parse(header).ok().map(|a| a.access_key_id)
}

impl Authorization {
    pub(super) fn parse(header: &str) -> Result<Self, StsError> {
        let incomplete = |what: &str| {
            StsError::incomplete_signature(format!(
                "Authorization header requires '{what}' parameter."
            ))
        };
        let rest = header
            .strip_prefix(ALGORITHM)
            .filter(|rest| rest.starts_with(' '))
            .ok_or_else(|| {
                StsError::incomplete_signature(format!("Unsupported algorithm: {header}"))
            })?;
        let mut credential = None;
        let mut signed_headers = None;
        let mut signature = None;
        for part in rest.split(',') {
            match part.trim().split_once('=') {
                Some(("Credential", value)) => credential = Some(value),
                Some(("SignedHeaders", value)) => signed_headers = Some(value),
                Some(("Signature", value)) => signature = Some(value),
                _ => {}
            }
        }
        let credential = credential.ok_or_else(|| incomplete("Credential"))?;
        let signed_headers = signed_headers.ok_or_else(|| incomplete("SignedHeaders"))?;
        let signature = signature.ok_or_else(|| incomplete("Signature"))?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [access_key_id, date, region, service, terminator] = scope.as_slice() else {
            return Err(StsError::incomplete_signature(format!(
                "Credential must have exactly 5 slash-delimited elements, e.g. \
                 keyid/date/region/service/term, got '{credential}'"
            )));
        };
        Ok(Authorization {
            access_key_id: (*access_key_id).to_owned(),
            date: (*date).to_owned(),
            region: (*region).to_owned(),
            service: (*service).to_owned(),
            terminator: (*terminator).to_owned(),
            signed_headers: signed_headers.split(';').map(str::to_owned).collect(),
            signature: signature.to_owned(),
        })
    }
}

/// Checks the scope, the signing time and the signature itself.
pub(super) fn verify(
    request: &http::Request,
    auth: &Authorization,
    secret: &str,
    now: SystemTime,
    service: &str,
) -> Result<(), StsError> {
    let amz_date = request
        .header("x-amz-date")
        .ok_or_else(|| StsError::incomplete_signature("Request is missing X-Amz-Date".into()))?;
    check_scope(auth, amz_date, service)?;
    check_clock(amz_date, now)?;
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(StsError::signature_does_not_match(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    let expected = signature(request, auth, amz_date, secret);
    if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        Ok(())
    } else {
        Err(StsError::signature_does_not_match(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
                .into(),
        ))
    }
}

/// `service`: `sts`, or `iam` for the IAM actions.
fn check_scope(auth: &Authorization, amz_date: &str, service: &str) -> Result<(), StsError> {
    if auth.service != service {
        return Err(StsError::signature_does_not_match(format!(
            "Credential should be scoped to correct service: '{service}'. "
        )));
    }
    if auth.terminator != "aws4_request" {
        return Err(StsError::signature_does_not_match(
            "Credential should be scoped with a valid terminator: 'aws4_request'.".into(),
        ));
    }
    if auth.region.is_empty() {
        return Err(StsError::signature_does_not_match(
            "Credential should be scoped to a valid region.".into(),
        ));
    }
    if amz_date.get(..8) != Some(auth.date.as_str()) {
        return Err(StsError::signature_does_not_match(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
             '{}' != '{}', from '{amz_date}'.",
            auth.date,
            amz_date.get(..8).unwrap_or_default()
        )));
    }
    Ok(())
}

fn check_clock(amz_date: &str, now: SystemTime) -> Result<(), StsError> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let signed_at = time::PrimitiveDateTime::parse(amz_date, format)
        .map_err(|_| StsError::incomplete_signature(format!("Invalid X-Amz-Date: {amz_date}")))?
        .assume_utc()
        .unix_timestamp();
    let now = i64::try_from(unix_seconds(now)).unwrap_or(i64::MAX);
    let skew = i64::try_from(MAX_CLOCK_SKEW.as_secs()).unwrap_or(i64::MAX);
    if signed_at < now - skew {
        return Err(StsError::signature_does_not_match(format!(
            "Signature expired: {amz_date} is now earlier than the server's clock minus 15 min."
        )));
    }
    if signed_at > now + skew {
        return Err(StsError::signature_does_not_match(format!(
            "Signature not yet current: {amz_date} is still later than the server's clock plus 15 min."
        )));
    }
    Ok(())
}

fn signature(
    request: &http::Request,
    auth: &Authorization,
    amz_date: &str,
    secret: &str,
) -> String {
    let canonical = canonical_request(request, &auth.signed_headers);
    let scope = format!(
        "{}/{}/{}/{}",
        auth.date, auth.region, auth.service, auth.terminator
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical))
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), auth.date.as_bytes());
    for part in [&auth.region, &auth.service, &auth.terminator] {
        key = hmac(&key, part.as_bytes());
    }
    hex(&hmac(&key, string_to_sign.as_bytes()))
}

/// Method, URI (each segment encoded again, as for every service but S3),
/// sorted query, the signed headers, their names, and the payload's hash.
fn canonical_request(request: &http::Request, signed_headers: &[String]) -> String {
    let uri: Vec<String> = request.path().split('/').map(uri_encode).collect();
    let uri = if uri.len() <= 1 {
        "/".to_owned()
    } else {
        uri.join("/")
    };
    let mut query: Vec<(String, String)> = http::form_pairs(request.query())
        .map(|(k, v)| (uri_encode(&k), uri_encode(&v)))
        .collect();
    query.sort();
    let query: Vec<String> = query.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    let headers: String = signed_headers
        .iter()
        .map(|name| format!("{name}:{}\n", request.canonical_header_value(name)))
        .collect();
    format!(
        "{}\n{uri}\n{}\n{headers}\n{}\n{}",
        request.method,
        query.join("&"),
        signed_headers.join(";"),
        hex(&Sha256::digest(&request.body))
    )
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}
