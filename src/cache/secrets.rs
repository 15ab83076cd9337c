//! The secrets other than role credentials that the cache keeps, each kind
//! with a typed face: MFA sessions (long-lived credentials from
//! GetSessionToken) and OATH access keys (what an OATH password unlocks).
//!
//! The store seals any bytes under `(kind, id)`; this file is the only place
//! that knows what the bytes of each kind are and how its id is built, so no
//! caller decodes a payload or splits an id back into its parts. What a
//! listing shows (the profile and MFA device a secret belongs to) is stored
//! in clear beside the sealed bytes, like the metadata of credential rows.

use std::fmt;

use zeroize::Zeroizing;

use super::{Cache, CacheKey, Error};
use crate::credentials::Credentials;
use crate::oath::crypto::ACCESS_KEY_LEN;
use crate::oath::AccessKey;

/// How long an OATH access key is kept once the password was typed.
pub const ACCESS_KEY_LIFETIME: i64 = 12 * 60 * 60;

/// The kinds of secret rows. The names are stored; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// [`Credentials`] from GetSessionToken, under an [`MfaSessionId`].
    MfaSession,
    /// The key an OATH password derives, under the applet's device id.
    OathAccessKey,
}

impl SecretKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::MfaSession => "mfa-session",
            SecretKind::OathAccessKey => "oath-access-key",
        }
    }
}

/// Whom a secret row belongs to, kept in clear for listings. Empty fields
/// where the kind has no such subject (an access key belongs to a device).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretSubject {
    pub profile: String,
    pub mfa_serial: String,
}

/// One secret row of `vegas cache list`: whom it belongs to and its times,
/// never its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    pub subject: SecretSubject,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Where an MFA session is cached: one per source profile and MFA device,
/// and per everything else that changes what GetSessionToken returns
/// (region, endpoint, duration), so every profile sharing them shares the
/// session. Built once from its parts; the row id is derived from it and
/// never parsed back.
#[derive(Clone, PartialEq, Eq)]
pub struct MfaSessionId {
    source_profile: String,
    mfa_serial: String,
    row_id: String,
}

impl MfaSessionId {
    /// `settings`: the `(name, value)` pairs besides the source profile and
    /// the device that decide what GetSessionToken returns.
    pub fn new(source_profile: &str, mfa_serial: &str, settings: &[(&str, &str)]) -> MfaSessionId {
        let mut fields = vec![("mfa_serial", mfa_serial)];
        fields.extend_from_slice(settings);
        let digest = CacheKey::new(source_profile, &fields);
        let hash = digest
            .digest_hex()
            .get(..16)
            .unwrap_or_default()
            .to_string();
        MfaSessionId {
            row_id: format!("{source_profile}|{mfa_serial}|{hash}"),
            source_profile: source_profile.to_string(),
            mfa_serial: mfa_serial.to_string(),
        }
    }

    pub fn source_profile(&self) -> &str {
        &self.source_profile
    }

    pub fn mfa_serial(&self) -> &str {
        &self.mfa_serial
    }

    fn subject(&self) -> SecretSubject {
        SecretSubject {
            profile: self.source_profile.clone(),
            mfa_serial: self.mfa_serial.clone(),
        }
    }
}

impl fmt::Debug for MfaSessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MfaSessionId").field(&self.row_id).finish()
    }
}

impl Cache {
    /// The MFA session cached under `id`, if it has not expired at `now`.
    /// A row that does not open or decode is a miss.
    pub fn get_mfa_session(
        &self,
        id: &MfaSessionId,
        now: i64,
    ) -> Result<Option<Credentials>, Error> {
        let Some(bytes) = self.get_secret(SecretKind::MfaSession, &id.row_id, now)? else {
            return Ok(None);
        };
        Ok(serde_json::from_slice(&bytes).ok())
    }

    /// Keep `session` under `id` until it expires.
    pub fn put_mfa_session(
        &self,
        id: &MfaSessionId,
        session: &Credentials,
        now: i64,
    ) -> Result<(), Error> {
        let json = serde_json::to_vec(session)
            .map(Zeroizing::new)
            .map_err(Error::Encode)?;
        self.put_secret(
            SecretKind::MfaSession,
            &id.row_id,
            &id.subject(),
            &json,
            (session.expires_at, now),
        )
    }

    /// The MFA sessions this machine can read, for `vegas cache list`.
    pub fn list_mfa_sessions(&self, now: i64) -> Result<Vec<SecretInfo>, Error> {
        self.list_secrets(SecretKind::MfaSession, now)
    }

    /// The remembered access key of the OATH applet `device_id`. A row of
    /// the wrong size is a miss.
    pub fn get_access_key(&self, device_id: &str, now: i64) -> Result<Option<AccessKey>, Error> {
        let Some(bytes) = self.get_secret(SecretKind::OathAccessKey, device_id, now)? else {
            return Ok(None);
        };
        let bytes: Option<[u8; ACCESS_KEY_LEN]> = bytes.as_slice().try_into().ok();
        Ok(bytes.map(AccessKey::from_bytes))
    }

    /// Remember the access key of the OATH applet `device_id` for
    /// [`ACCESS_KEY_LIFETIME`].
    pub fn put_access_key(&self, device_id: &str, key: &AccessKey, now: i64) -> Result<(), Error> {
        let expires_at = now.saturating_add(ACCESS_KEY_LIFETIME);
        self.put_secret(
            SecretKind::OathAccessKey,
            device_id,
            &SecretSubject::default(),
            key.expose(),
            (expires_at, now),
        )
    }

    /// Forget the access key of `device_id` (the card refused it).
    pub fn forget_access_key(&self, device_id: &str) -> Result<(), Error> {
        self.remove_secret(SecretKind::OathAccessKey, device_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mfa_session_id_keeps_its_parts_and_differs_by_every_setting() {
        let id = MfaSessionId::new("we|ird", "arn:aws:iam::1:mfa/x", &[("region", "eu-west-1")]);
        assert_eq!(id.source_profile(), "we|ird");
        assert_eq!(id.mfa_serial(), "arn:aws:iam::1:mfa/x");
        let same = MfaSessionId::new("we|ird", "arn:aws:iam::1:mfa/x", &[("region", "eu-west-1")]);
        assert_eq!(id, same);
        for other in [
            MfaSessionId::new("we|ird", "arn:aws:iam::1:mfa/x", &[("region", "us-east-1")]),
            MfaSessionId::new("we", "arn:aws:iam::1:mfa/x", &[("region", "eu-west-1")]),
            MfaSessionId::new("we|ird", "arn:aws:iam::1:mfa/y", &[("region", "eu-west-1")]),
        ] {
            assert_ne!(id, other);
        }
    }
}
