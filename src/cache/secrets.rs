//! The secrets other than role credentials that the cache keeps, each kind
//! with a typed face: MFA sessions (long-lived credentials from
//! GetSessionToken), sealed in the file, and OATH access keys (what an OATH
//! password unlocks, worth as much as the password), kept in the kernel
//! keyring only, with a timeout the kernel enforces: never in a row.
//!
//! The store seals any bytes under `(kind, id)`; this file is the only place
//! that knows what the bytes of each kind are and how its id is built, so no
//! caller decodes a payload or splits an id back into its parts. What a
//! listing shows (the profile and MFA device a secret belongs to) is stored
//! in clear beside the sealed bytes, like the metadata of credential rows.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use zeroize::Zeroizing;

use super::{Cache, CacheKey, Error};
use crate::credentials::Credentials;
use crate::oath::crypto::ACCESS_KEY_LEN;
use crate::oath::AccessKey;
use crate::platform::keyring::{self, KeyringError};

/// How long an OATH access key is kept once the password was typed: the
/// timeout set on its keyring entry.
pub const ACCESS_KEY_LIFETIME: i64 = 12 * 60 * 60;

/// The keyring name of an access key after the cache's prefix, before the
/// device id.
const ACCESS_KEY_NAME: &str = "oath-access-key:";

/// No keyring means nothing was remembered, so nothing to forget.
fn ignore_unavailable(e: KeyringError) -> Result<(), Error> {
    match e {
        KeyringError::Unavailable(_) => Ok(()),
        e => Err(Error::Keyring(e)),
    }
}

/// The kinds of secret rows. The names are stored; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// [`Credentials`] from GetSessionToken, under an [`MfaSessionId`].
    MfaSession,
    /// The key an OATH password derives, as older versions kept it in the
    /// file; such rows are purged on the next write (the keyring holds
    /// access keys now).
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

    /// The remembered access key of the OATH applet `device_id`, from the
    /// keyring (never from the file). `_now` is not needed: the keyring
    /// forgets the key by itself. No keyring, no key.
    pub fn get_access_key(&self, device_id: &str, _now: i64) -> Result<Option<AccessKey>, Error> {
        Ok(self
            .access_key_name(device_id)
            .and_then(|name| load_access_key(&name)))
    }

    /// Remember the access key of the OATH applet `device_id` in the
    /// keyring, which forgets it after [`ACCESS_KEY_LIFETIME`]. Without a
    /// keyring it is not remembered (the password is asked again).
    pub fn put_access_key(&self, device_id: &str, key: &AccessKey, _now: i64) -> Result<(), Error> {
        let Some(name) = self.access_key_name(device_id) else {
            tracing::debug!("no keyring: the OATH access key is not remembered");
            return Ok(());
        };
        let lifetime = Duration::from_secs(ACCESS_KEY_LIFETIME.unsigned_abs());
        match keyring::store(&name, key.expose(), Some(lifetime)) {
            Ok(()) => Ok(()),
            Err(KeyringError::Unavailable(why)) => {
                tracing::debug!("the OATH access key is not remembered: {why}");
                Ok(())
            }
            Err(e) => Err(Error::Keyring(e)),
        }
    }

    /// Forget the access key of `device_id` (the card refused it).
    pub fn forget_access_key(&self, device_id: &str) -> Result<(), Error> {
        match self.access_key_name(device_id) {
            Some(name) => keyring::forget(&name).or_else(ignore_unavailable),
            None => Ok(()),
        }
    }

    /// Forget every access key this cache remembered (`vegas cache clean`).
    pub(super) fn forget_access_keys(&self) -> Result<usize, Error> {
        match self.keyring_prefix() {
            Some(prefix) => keyring::forget_prefix(&format!("{prefix}{ACCESS_KEY_NAME}"))
                .or_else(|e| ignore_unavailable(e).map(|()| 0)),
            None => Ok(0),
        }
    }

    fn access_key_name(&self, device_id: &str) -> Option<String> {
        self.keyring_prefix()
            .map(|prefix| format!("{prefix}{ACCESS_KEY_NAME}{device_id}"))
    }
}

/// The access key `vegas assume` remembered for the OATH applet
/// `device_id` with the cache in `dir`, read from the keyring without
/// opening (or changing) the cache: for `vegas doctor`.
pub fn remembered_access_key(dir: &Path, device_id: &str) -> Option<AccessKey> {
    let dir = super::files::resolve_parents(dir).ok()?;
    let prefix = super::identity::keyring_prefix(&dir);
    load_access_key(&format!("{prefix}{ACCESS_KEY_NAME}{device_id}"))
}

/// Forget every OATH access key remembered with the cache in `dir`,
/// without opening the cache (`vegas cache clean` when no `vegas.db` is
/// left). Returns how many went.
pub fn forget_remembered_access_keys(dir: &Path) -> Result<usize, Error> {
    let Ok(dir) = super::files::resolve_parents(dir) else {
        return Ok(0);
    };
    let prefix = super::identity::keyring_prefix(&dir);
    keyring::forget_prefix(&format!("{prefix}{ACCESS_KEY_NAME}"))
        .or_else(|e| ignore_unavailable(e).map(|()| 0))
}

fn load_access_key(name: &str) -> Option<AccessKey> {
    let mut bytes = Zeroizing::new([0u8; ACCESS_KEY_LEN]);
    match keyring::load(name, bytes.as_mut()) {
        Ok(Some(_)) => Some(AccessKey::from_bytes(*bytes)),
        Ok(None) => None,
        Err(e) => {
            tracing::debug!("no remembered OATH access key: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `vegas cache clean` with no `vegas.db` left still forgets the access
    /// keys remembered with that cache (and only those).
    #[test]
    fn remembered_access_keys_are_forgotten_without_opening_the_cache() {
        if keyring::probe().is_err() {
            eprintln!("no kernel keyring here: nothing to forget");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let name = |dir: &Path, device: &str| {
            let dir = super::super::files::resolve_parents(dir).unwrap();
            format!(
                "{}{ACCESS_KEY_NAME}{device}",
                super::super::identity::keyring_prefix(&dir)
            )
        };
        let lifetime = Some(Duration::from_secs(60));
        keyring::store(&name(dir.path(), "dev1"), &[1; 16], lifetime).unwrap();
        keyring::store(&name(dir.path(), "dev2"), &[2; 16], lifetime).unwrap();
        keyring::store(&name(other.path(), "dev1"), &[3; 16], lifetime).unwrap();
        assert!(remembered_access_key(dir.path(), "dev1").is_some());

        assert_eq!(forget_remembered_access_keys(dir.path()).unwrap(), 2);
        assert!(remembered_access_key(dir.path(), "dev1").is_none());
        assert!(remembered_access_key(dir.path(), "dev2").is_none());
        assert!(
            remembered_access_key(other.path(), "dev1").is_some(),
            "another cache's key stays"
        );
        keyring::forget(&name(other.path(), "dev1")).unwrap();
    }

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
