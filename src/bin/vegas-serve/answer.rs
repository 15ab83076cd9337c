//! What the server answers: the container provider's credential JSON, or a
//! `{"code","message"}` error the SDKs show, with its HTTP status.
//!
//! The AWS SDKs read `AccessKeyId`, `SecretAccessKey`, `Token` and
//! `Expiration` (RFC 3339 with a zone); `RoleArn` is shown by some tools.
//! An error message is the one-line vegas error: it never carries a secret.

use hyper::StatusCode;
use serde::Serialize;
use vegas::credentials::Credentials;
use zeroize::Zeroizing;

/// A status and a JSON body.
pub struct Answer {
    pub status: StatusCode,
    pub body: Zeroizing<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerCredentials<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    token: &'a str,
    expiration: String,
    role_arn: &'a str,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

impl Answer {
    /// 200 with the credentials of the role `role_arn`.
    pub fn credentials(creds: &Credentials, role_arn: &str) -> Answer {
        let body = ContainerCredentials {
            access_key_id: &creds.access_key_id,
            secret_access_key: &creds.secret_access_key,
            token: &creds.session_token,
            expiration: creds.expiration_rfc3339(),
            role_arn,
        };
        Answer {
            status: StatusCode::OK,
            // A struct of strings always serializes.
            body: Zeroizing::new(serde_json::to_string(&body).unwrap_or_default()),
        }
    }

    /// An error the client can show: `code` a short name, `message` one line.
    pub fn error(status: StatusCode, code: &str, message: &str) -> Answer {
        let body = serde_json::to_string(&ErrorBody { code, message }).unwrap_or_default();
        Answer {
            status,
            body: Zeroizing::new(body),
        }
    }

    /// Why the flow could not give credentials, as the status and code a
    /// client can tell apart: STS's answer is a bad gateway, everything else
    /// (configuration, the YubiKey, the cache) an internal error. The
    /// message ends with `hint`, serve's own (fetch.rs).
    pub fn flow_failed(err: &vegas::Error, hint: &str) -> Answer {
        let (status, code) = match err {
            vegas::Error::Sts(_) => (StatusCode::BAD_GATEWAY, "StsError"),
            vegas::Error::Config(_) => (StatusCode::INTERNAL_SERVER_ERROR, "ConfigError"),
            vegas::Error::Oath(_) | vegas::Error::Totp(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "MfaCodeError")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "VegasError"),
        };
        Answer::error(status, code, &format!("{err} (hint: {hint})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_carry_the_container_provider_names_and_a_zoned_expiry() {
        let creds = Credentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: Zeroizing::new("s3cret".into()),
            session_token: Zeroizing::new("tok".into()),
            expires_at: 1_800_000_000,
        };
        let answer = Answer::credentials(&creds, "arn:aws:iam::1:role/R");
        assert_eq!(answer.status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(json["AccessKeyId"], "ASIAEXAMPLE");
        assert_eq!(json["SecretAccessKey"], "s3cret");
        assert_eq!(json["Token"], "tok");
        assert_eq!(json["Expiration"], "2027-01-15T08:00:00Z");
        assert_eq!(json["RoleArn"], "arn:aws:iam::1:role/R");
    }

    #[test]
    fn an_sts_failure_is_a_bad_gateway_with_code_and_message() {
        let err = vegas::Error::Sts(vegas::sts::Error::Throttled { attempts: 3 });
        let answer = Answer::flow_failed(&err, "wait");
        assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
        let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(json["code"], "StsError");
        assert_eq!(json["message"], format!("{err} (hint: wait)"));
    }
}
