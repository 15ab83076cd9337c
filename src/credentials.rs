//! Temporary AWS credentials and the `credential_process` JSON they print as.
//!
//! The secret parts live in zeroizing strings and are masked in `Debug`; the
//! only way they leave this type is [`Credentials::to_process_json`], whose
//! output goes to stdout and nowhere else.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// Temporary credentials as issued by STS.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Zeroizing<String>,
    pub session_token: Zeroizing<String>,
    /// Expiry, unix seconds (UTC).
    pub expires_at: i64,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &mask_key_id(&self.access_key_id))
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// `ASIA…XYZW`: enough to tell keys apart in a listing, not enough to use.
pub fn mask_key_id(id: &str) -> String {
    let tail: String = id
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let head: String = id.chars().take(4).collect();
    format!("{head}…{tail}")
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessOutput<'a> {
    version: u8,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
    expiration: String,
}

impl Credentials {
    /// Seconds left until expiry at `now` (negative once expired).
    pub fn remaining(&self, now: i64) -> i64 {
        self.expires_at - now
    }

    /// RFC 3339 with an explicit zone (`2026-11-28T12:00:00Z`): botocore
    /// rejects a time without one.
    pub fn expiration_rfc3339(&self) -> String {
        format_unix_rfc3339(self.expires_at)
    }

    /// The credential_process JSON (Version 1), one line, no trailing newline.
    pub fn to_process_json(&self) -> Zeroizing<String> {
        let out = ProcessOutput {
            version: 1,
            access_key_id: &self.access_key_id,
            secret_access_key: &self.secret_access_key,
            session_token: &self.session_token,
            expiration: self.expiration_rfc3339(),
        };
        // Serializing a struct of strings cannot fail.
        Zeroizing::new(serde_json::to_string(&out).unwrap_or_default())
    }
}

/// Unix seconds as RFC 3339 UTC (`Z`), second precision.
pub fn format_unix_rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Credentials {
        Credentials {
            access_key_id: "ASIAEXAMPLEKEY123456".into(),
            secret_access_key: Zeroizing::new("secretsecret".into()),
            session_token: Zeroizing::new("tokentoken".into()),
            expires_at: 1_795_867_200,
        }
    }

    #[test]
    fn process_json_has_version_and_zoned_expiration() {
        let json = sample().to_process_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["Version"], 1);
        assert_eq!(v["AccessKeyId"], "ASIAEXAMPLEKEY123456");
        assert_eq!(v["SecretAccessKey"], "secretsecret");
        assert_eq!(v["SessionToken"], "tokentoken");
        assert_eq!(v["Expiration"], "2026-11-28T12:00:00Z");
    }

    #[test]
    fn debug_masks_every_secret() {
        let dbg = format!("{:?}", sample());
        assert!(!dbg.contains("secretsecret"));
        assert!(!dbg.contains("tokentoken"));
        assert!(!dbg.contains("ASIAEXAMPLEKEY123456"));
    }
}
