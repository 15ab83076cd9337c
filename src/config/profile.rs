//! One resolved vegas profile, the origin of each of its values, and the
//! chain of profiles below it (what the cache key and STS calls are built
//! from).

use std::fmt;
use std::path::PathBuf;

use super::ini::section_name;
use super::Backend;

/// Where a resolved value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A key in a profile of a file.
    File {
        path: PathBuf,
        profile: String,
        key: &'static str,
    },
    /// An environment variable.
    Env(&'static str),
    /// vegas's own default (with why).
    Default(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, profile, key } => {
                write!(f, "{} [{}] {}", path.display(), section_name(profile), key)
            }
            Origin::Env(var) => write!(f, "environment {var}"),
            Origin::Default(why) => write!(f, "default ({why})"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub origin: Origin,
}

/// A fully resolved and validated vegas profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub role_arn: Sourced<String>,
    /// `vegas_source_profile` as written: the profile with long-term keys, or
    /// another vegas profile (then [`Profile::via`] is that profile).
    pub source_profile: Sourced<String>,
    /// The vegas profile this one is chained to, resolved: its credentials
    /// sign this profile's AssumeRole. `None` for the first hop of a chain,
    /// whose source profile holds long-term keys and which carries the MFA.
    pub via: Option<Box<Profile>>,
    pub mfa_serial: Sourced<String>,
    pub duration_seconds: Sourced<u32>,
    pub role_session_name: Sourced<String>,
    pub external_id: Option<Sourced<String>>,
    pub region: Sourced<String>,
    pub endpoint_url: Option<Sourced<String>>,
    pub yubikey_serial: Option<Sourced<u32>>,
    /// The OATH account id on the YubiKey (default: `mfa_serial`).
    pub yubikey_label: Sourced<String>,
    pub yubikey_backend: Sourced<Backend>,
    /// Seconds to wait for the MFA code (touch or typed), `vegas_mfa_timeout`.
    pub mfa_timeout: Sourced<u64>,
    /// `vegas_mfa_session`: one GetSessionToken with MFA serves every role
    /// assumed from this source while it lasts.
    pub mfa_session: Sourced<bool>,
    /// `vegas_mfa_session_duration`, seconds.
    pub mfa_session_duration: Sourced<u32>,
}

impl Profile {
    /// Every value that changes what STS returns, for the cache key: an edited
    /// profile must be a miss, never stale credentials.
    pub fn identity_fields(&self) -> Vec<(&'static str, String)> {
        let opt =
            |v: &Option<Sourced<String>>| v.as_ref().map(|s| s.value.clone()).unwrap_or_default();
        let mut fields = vec![
            ("role_arn", self.role_arn.value.clone()),
            ("source_profile", self.source_profile.value.clone()),
            ("mfa_serial", self.mfa_serial.value.clone()),
            ("duration_seconds", self.duration_seconds.value.to_string()),
            ("role_session_name", self.role_session_name.value.clone()),
            ("external_id", opt(&self.external_id)),
            ("region", self.region.value.clone()),
            ("endpoint_url", opt(&self.endpoint_url)),
        ];
        // Only chained profiles carry the hops below them: the keys of
        // profiles cached before chains existed stay the same.
        if let Some(below) = self.via.as_deref() {
            fields.push(("via", below.chain_digest()));
        }
        fields
    }

    /// The hop that carries the MFA: this profile, or the first of its chain.
    pub fn first_hop(&self) -> &Profile {
        let mut hop = self;
        while let Some(below) = hop.via.as_deref() {
            hop = below;
        }
        hop
    }

    /// The profile whose long-term keys start the chain.
    pub fn long_term_source(&self) -> &Sourced<String> {
        &self.first_hop().source_profile
    }

    /// Whether this profile's AssumeRole is signed by another role's
    /// credentials (AWS then caps the session at one hour).
    pub fn is_chained(&self) -> bool {
        self.via.is_some()
    }

    /// The profile names from this one down to the long-term source.
    pub fn chain_names(&self) -> Vec<String> {
        let mut names = vec![self.name.clone()];
        let mut hop = self;
        while let Some(below) = hop.via.as_deref() {
            names.push(below.name.clone());
            hop = below;
        }
        names.push(hop.source_profile.value.clone());
        names
    }

    /// Every identity field of this profile and the hops below it, in one
    /// unambiguous string (length-prefixed), for a chained profile's cache key.
    fn chain_digest(&self) -> String {
        self.identity_fields()
            .iter()
            .map(|(k, v)| format!("{}:{k}{}:{v}", k.len(), v.len()))
            .collect()
    }
}
