//! The AWS shared config and credentials files, and one vegas profile resolved
//! from them, with the origin of every value.
//!
//! A vegas profile is a target profile (`vegas_role_arn`,
//! `vegas_source_profile`, …) plus the source profile it names (`mfa_serial`,
//! `vegas_yubikey_*`). The `vegas_` prefix is deliberate: plain
//! `role_arn`/`source_profile` would make the SDKs assume the role themselves
//! and ignore `credential_process`. Every validation error names the file, the
//! profile and the key, so a user can go straight to the line to fix.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use ini::{Ini, ParseOption};

pub const DEFAULT_DURATION: u32 = 3600;
pub const MIN_DURATION: u32 = 900;
pub const MAX_DURATION: u32 = 43_200;
pub const DEFAULT_REGION: &str = "us-east-1";
/// How long `vegas assume` waits for the MFA code by default, in seconds.
pub const DEFAULT_MFA_TIMEOUT: u64 = 60;
/// The longest `vegas_mfa_timeout` allowed, in seconds.
pub const MAX_MFA_TIMEOUT: u64 = 3600;
/// How long an MFA session (GetSessionToken) lasts by default: 12 hours.
pub const DEFAULT_MFA_SESSION_DURATION: u32 = 43_200;
/// GetSessionToken's limits for an IAM user: 15 minutes to 36 hours.
pub const MIN_MFA_SESSION_DURATION: u32 = 900;
pub const MAX_MFA_SESSION_DURATION: u32 = 129_600;

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

/// Which code sources `vegas assume` may use (`vegas_yubikey_backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Auto,
    Pcsc,
    Ykman,
    None,
}

impl Backend {
    fn parse(s: &str) -> Option<Backend> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Some(Backend::Auto),
            "pcsc" => Some(Backend::Pcsc),
            "ykman" => Some(Backend::Ykman),
            "none" => Some(Backend::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Pcsc => "pcsc",
            Backend::Ykman => "ykman",
            Backend::None => "none",
        }
    }
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

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: line {line}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("profile '{profile}' not found in {}", path.display())]
    MissingProfile { path: PathBuf, profile: String },
    #[error("{}: profile '{profile}' has no '{key}'", path.display())]
    MissingKey {
        path: PathBuf,
        profile: String,
        key: &'static str,
    },
    #[error("{}: profile '{profile}': {key} = '{value}' is not valid: {why}", path.display())]
    Invalid {
        path: PathBuf,
        profile: String,
        key: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("{}: profile '{profile}' names source profile '{source_profile}', which is not in {} or {}", path.display(), path.display(), credentials.display())]
    MissingSourceProfile {
        path: PathBuf,
        profile: String,
        source_profile: String,
        credentials: PathBuf,
    },
    #[error("{}: profile '{profile}' is its own vegas_source_profile", path.display())]
    SelfSource { path: PathBuf, profile: String },
    #[error("{}: vegas_source_profile goes round in a loop: {}", path.display(), loop_text(profiles))]
    SourceLoop {
        path: PathBuf,
        /// The profiles of the loop, the first one again at the end.
        profiles: Vec<String>,
    },
    #[error("environment {var} = '{value}' is not valid: {why}")]
    InvalidEnv {
        var: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("cannot find the AWS config: neither AWS_CONFIG_FILE nor HOME is set")]
    NoHome,
}

impl crate::hint::Hint for Error {
    fn hint(&self) -> Cow<'_, str> {
        match self {
            Error::Read { path, .. } => Cow::Owned(format!(
                "check that {} exists and is readable, or point AWS_CONFIG_FILE at your config",
                path.display()
            )),
            Error::Syntax { .. } => Cow::Borrowed(
                "fix that line: sections look like [profile NAME], settings like key = value",
            ),
            Error::MissingProfile { profile, .. } => Cow::Owned(format!(
                "add a [profile {profile}] section, or check the --profile name (see `aws configure list-profiles`)"
            )),
            Error::MissingKey { key, .. } => Cow::Owned(match *key {
                "vegas_role_arn" => "add vegas_role_arn = arn:aws:iam::ACCOUNT:role/NAME to the profile".into(),
                "vegas_source_profile" => {
                    "add vegas_source_profile = NAME, the profile whose long-term keys call STS".into()
                }
                "mfa_serial" => {
                    "add mfa_serial = arn:aws:iam::ACCOUNT:mfa/NAME to the source profile (IAM console, Security credentials)".into()
                }
                other => format!("add {other} to the profile"),
            }),
            Error::Invalid { key, .. } => Cow::Owned(match *key {
                "vegas_role_arn" => "a role ARN looks like arn:aws:iam::123456789012:role/NAME (paths like role/team/NAME are fine)".into(),
                "mfa_serial" => "an MFA device ARN looks like arn:aws:iam::123456789012:mfa/NAME".into(),
                "duration_seconds" => format!("use a whole number of seconds from {MIN_DURATION} to {MAX_DURATION}"),
                "role_session_name" => "use 2 to 64 characters of letters, digits and +=,.@_-".into(),
                "external_id" => "use 2 to 1224 characters of letters, digits and +=,.@:/_-".into(),
                "vegas_yubikey_serial" => "use the serial printed by `vegas oath keys`".into(),
                "vegas_yubikey_backend" => "use one of auto, pcsc, ykman, none".into(),
                "vegas_mfa_timeout" => {
                    format!("use a whole number of seconds from 1 to {MAX_MFA_TIMEOUT}")
                }
                "endpoint_url" => "use a URL such as https://sts.eu-west-1.amazonaws.com".into(),
                "vegas_mfa_session" => "use vegas_mfa_session = true or false".into(),
                "vegas_mfa_session_duration" => format!(
                    "use a whole number of seconds from {MIN_MFA_SESSION_DURATION} to {MAX_MFA_SESSION_DURATION} (36 hours)"
                ),
                other => format!("fix {other} in the profile"),
            }),
            Error::MissingSourceProfile { source_profile, .. } => Cow::Owned(format!(
                "add [profile {source_profile}] to the config (with mfa_serial) and its keys to the credentials file"
            )),
            Error::SelfSource { .. } => Cow::Borrowed(
                "point vegas_source_profile at the profile that holds your long-term keys",
            ),
            Error::SourceLoop { .. } => Cow::Borrowed(
                "end the chain: one of these profiles must name the profile with your long-term keys as vegas_source_profile",
            ),
            Error::InvalidEnv { var, .. } => Cow::Owned(format!("fix or unset {var}")),
            Error::NoHome => Cow::Borrowed("set HOME or AWS_CONFIG_FILE"),
        }
    }
}

/// `'a' → 'b' → 'a'`.
fn loop_text(profiles: &[String]) -> String {
    profiles
        .iter()
        .map(|p| format!("'{p}'"))
        .collect::<Vec<_>>()
        .join(" → ")
}

/// The two keys of long-term credentials.
const KEY_NAMES: [&str; 2] = ["aws_access_key_id", "aws_secret_access_key"];

/// Keys of a profile through which the SDK gets credentials some other way;
/// vegas does not try them, it trusts the SDK to.
const OTHER_PROVIDERS: [&str; 6] = [
    "credential_process",
    "sso_session",
    "sso_start_url",
    "credential_source",
    "web_identity_token_file",
    "role_arn",
];

/// Where a source profile's long-term credentials come from
/// ([`Files::source_credentials`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceCredentials {
    /// Both keys in the profile's section of the credentials file.
    CredentialsFile,
    /// Both keys in the profile's section of the config file.
    ConfigFile,
    /// Another provider the SDK runs (this key names it); not tried here.
    OtherProvider(&'static str),
    /// None: `missing` names the absent keys; `section_in_credentials` says
    /// whether the credentials file has a section for the profile at all.
    Missing {
        missing: Vec<&'static str>,
        section_in_credentials: bool,
    },
}

/// The shared config and credentials files, parsed.
#[derive(Debug)]
pub struct Files {
    pub config_path: PathBuf,
    pub credentials_path: PathBuf,
    config: Ini,
    credentials: Option<Ini>,
}

/// `[profile NAME]`, or `[default]` for the default profile.
fn section_name(profile: &str) -> String {
    if profile == "default" {
        "default".into()
    } else {
        format!("profile {profile}")
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

fn env_nonempty(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

impl Files {
    /// Locate (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/`)
    /// and parse both files. A missing credentials file is not an error here:
    /// the source credentials may come from elsewhere.
    pub fn load() -> Result<Files, Error> {
        let config_path = match env_nonempty("AWS_CONFIG_FILE") {
            Some(p) => PathBuf::from(p),
            None => home().ok_or(Error::NoHome)?.join(".aws/config"),
        };
        let credentials_path = match env_nonempty("AWS_SHARED_CREDENTIALS_FILE") {
            Some(p) => PathBuf::from(p),
            None => home().ok_or(Error::NoHome)?.join(".aws/credentials"),
        };
        let config = parse_file(&config_path)?;
        let credentials = match std::fs::metadata(&credentials_path) {
            Ok(_) => Some(parse_file(&credentials_path)?),
            Err(_) => None,
        };
        Ok(Files {
            config_path,
            credentials_path,
            config,
            credentials,
        })
    }

    /// Parse from strings (tests, fuzzing).
    pub fn from_strs(config: &str, credentials: Option<&str>) -> Result<Files, Error> {
        let config_path = PathBuf::from("config");
        let credentials_path = PathBuf::from("credentials");
        Ok(Files {
            config: parse_str(&config_path, config)?,
            credentials: credentials
                .map(|c| parse_str(&credentials_path, c))
                .transpose()?,
            config_path,
            credentials_path,
        })
    }

    /// A key of a profile in the config file (`[profile NAME]`, or
    /// `[default]` / `[profile default]` for the default profile).
    pub fn get(&self, profile: &str, key: &str) -> Option<&str> {
        let mut names = vec![format!("profile {profile}")];
        if profile == "default" {
            names.insert(0, "default".into());
        }
        names
            .iter()
            .filter_map(|n| self.config.section(Some(n.as_str())))
            .find_map(|s| s.get(key))
            .map(strip_inline_comment)
            .filter(|v| !v.is_empty())
    }

    pub fn has_profile(&self, profile: &str) -> bool {
        self.config.section(Some(section_name(profile))).is_some()
            || self
                .config
                .section(Some(format!("profile {profile}")))
                .is_some()
    }

    /// Whether the credentials file has a `[NAME]` section.
    pub fn has_credentials(&self, profile: &str) -> bool {
        self.credentials
            .as_ref()
            .is_some_and(|c| c.section(Some(profile)).is_some())
    }

    /// Where the long-term credentials of `source` come from, as far as the
    /// files tell. Read-only, and never the values: `vegas assume` checks it
    /// before asking for a code (a touch is not spent on a call that cannot
    /// be signed), and `vegas doctor` reports it.
    pub fn source_credentials(&self, source: &str) -> SourceCredentials {
        let in_credentials = self
            .credentials
            .as_ref()
            .and_then(|c| c.section(Some(source)));
        let has = |key: &str| {
            in_credentials
                .and_then(|s| s.get(key))
                .map(strip_inline_comment)
                .is_some_and(|v| !v.is_empty())
        };
        let missing: Vec<&'static str> = KEY_NAMES.into_iter().filter(|k| !has(k)).collect();
        if in_credentials.is_some() && missing.is_empty() {
            return SourceCredentials::CredentialsFile;
        }
        if KEY_NAMES.iter().all(|k| self.get(source, k).is_some()) {
            return SourceCredentials::ConfigFile;
        }
        if let Some(key) = OTHER_PROVIDERS
            .iter()
            .find(|k| self.get(source, k).is_some())
        {
            return SourceCredentials::OtherProvider(key);
        }
        SourceCredentials::Missing {
            missing: if in_credentials.is_some() {
                missing
            } else {
                KEY_NAMES.to_vec()
            },
            section_in_credentials: in_credentials.is_some(),
        }
    }

    /// Every profile with `vegas_role_arn` (for doctor and listings).
    pub fn vegas_profiles(&self) -> Vec<String> {
        self.config
            .iter()
            .filter_map(|(name, props)| {
                let name = name?;
                let profile = name
                    .strip_prefix("profile ")
                    .map(str::trim)
                    .or((name == "default").then_some(name))?;
                props
                    .contains_key("vegas_role_arn")
                    .then(|| profile.to_string())
            })
            .collect()
    }

    fn origin(&self, profile: &str, key: &'static str) -> Origin {
        Origin::File {
            path: self.config_path.clone(),
            profile: profile.into(),
            key,
        }
    }

    fn sourced(&self, profile: &str, key: &'static str) -> Option<Sourced<String>> {
        self.get(profile, key).map(|v| Sourced {
            value: v.to_string(),
            origin: self.origin(profile, key),
        })
    }

    /// A key from the target profile, else the source profile.
    fn sourced_either(
        &self,
        target: &str,
        source: &str,
        key: &'static str,
    ) -> Option<Sourced<String>> {
        self.sourced(target, key)
            .or_else(|| self.sourced(source, key))
    }

    fn invalid(&self, s: &Sourced<String>, why: &'static str) -> Error {
        let (profile, key) = match &s.origin {
            Origin::File { profile, key, .. } => (profile.clone(), *key),
            _ => (String::new(), ""),
        };
        Error::Invalid {
            path: self.config_path.clone(),
            profile,
            key,
            value: s.value.clone(),
            why,
        }
    }

    /// Resolve and validate profile `name` as a vegas profile. When its
    /// `vegas_source_profile` is itself a vegas profile (one with
    /// `vegas_role_arn`), that profile is resolved too, and so on down the
    /// chain to the profile with long-term keys; a loop is an error.
    pub fn resolve(&self, name: &str) -> Result<Profile, Error> {
        self.resolve_in_chain(name, &[])
    }

    /// Whether `profile` is a vegas profile (and so, as a source, a chain hop).
    pub fn is_vegas_profile(&self, profile: &str) -> bool {
        self.get(profile, "vegas_role_arn").is_some()
    }

    /// `above` are the profiles already being resolved that lead here, the
    /// target first: meeting one of them again is a loop.
    fn resolve_in_chain(&self, name: &str, above: &[String]) -> Result<Profile, Error> {
        if let Some(start) = above.iter().position(|p| p == name) {
            let mut profiles: Vec<String> = above.iter().skip(start).cloned().collect();
            profiles.push(name.to_string());
            return Err(Error::SourceLoop {
                path: self.config_path.clone(),
                profiles,
            });
        }
        if !self.has_profile(name) {
            return Err(Error::MissingProfile {
                path: self.config_path.clone(),
                profile: name.into(),
            });
        }
        let required = |key: &'static str| {
            self.sourced(name, key).ok_or_else(|| Error::MissingKey {
                path: self.config_path.clone(),
                profile: name.into(),
                key,
            })
        };
        let role_arn = required("vegas_role_arn")?;
        if !is_role_arn(&role_arn.value) {
            return Err(self.invalid(&role_arn, "not an IAM role ARN"));
        }
        let source_profile = required("vegas_source_profile")?;
        let source = source_profile.value.clone();
        if source == name {
            return Err(Error::SelfSource {
                path: self.config_path.clone(),
                profile: name.into(),
            });
        }
        let via = if self.is_vegas_profile(&source) {
            let mut chain = above.to_vec();
            chain.push(name.to_string());
            Some(Box::new(self.resolve_in_chain(&source, &chain)?))
        } else {
            if !self.has_profile(&source) && !self.has_credentials(&source) {
                return Err(Error::MissingSourceProfile {
                    path: self.config_path.clone(),
                    profile: name.into(),
                    source_profile: source,
                    credentials: self.credentials_path.clone(),
                });
            }
            None
        };

        // The MFA belongs to the first hop of a chain: a chained profile
        // takes the device and everything about it from there.
        let mfa = match &via {
            Some(first) => MfaSettings::of(first),
            None => self.mfa_settings(name, &source)?,
        };

        let duration_seconds = match self.sourced(name, "duration_seconds") {
            Some(s) => {
                let value = s
                    .value
                    .parse::<u32>()
                    .ok()
                    .filter(|d| (MIN_DURATION..=MAX_DURATION).contains(d))
                    .ok_or_else(|| self.invalid(&s, "out of range 900–43200"))?;
                Sourced {
                    value,
                    origin: s.origin,
                }
            }
            None => Sourced {
                value: DEFAULT_DURATION,
                origin: Origin::Default("one hour"),
            },
        };

        let role_session_name = match self.sourced(name, "role_session_name") {
            Some(s) if is_session_name(&s.value) => s,
            Some(s) => return Err(self.invalid(&s, "must be 2–64 of [A-Za-z0-9+=,.@_-]")),
            None => Sourced {
                value: default_session_name(),
                origin: Origin::Default("login name"),
            },
        };

        let external_id = match self.sourced(name, "external_id") {
            Some(s) if is_external_id(&s.value) => Some(s),
            Some(s) => return Err(self.invalid(&s, "must be 2–1224 of [A-Za-z0-9+=,.@:/_-]")),
            None => None,
        };

        let region = self
            .sourced_either(name, &source, "region")
            .or_else(|| via.as_ref().map(|v| v.region.clone()))
            .or_else(|| env_sourced("AWS_REGION"))
            .or_else(|| env_sourced("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| Sourced {
                value: DEFAULT_REGION.into(),
                origin: Origin::Default("no region set"),
            });

        let endpoint_url = match env_sourced("AWS_ENDPOINT_URL_STS")
            .or_else(|| env_sourced("AWS_ENDPOINT_URL"))
            .or_else(|| self.sourced(name, "endpoint_url"))
        {
            Some(s) if s.value.starts_with("https://") || s.value.starts_with("http://") => Some(s),
            Some(s) if matches!(s.origin, Origin::Env(_)) => {
                return Err(Error::InvalidEnv {
                    var: match s.origin {
                        Origin::Env(v) => v,
                        _ => "AWS_ENDPOINT_URL",
                    },
                    value: s.value,
                    why: "not an http(s) URL",
                })
            }
            Some(s) => return Err(self.invalid(&s, "not an http(s) URL")),
            None => via.as_ref().and_then(|v| v.endpoint_url.clone()),
        };

        Ok(Profile {
            name: name.into(),
            role_arn,
            source_profile,
            via,
            mfa_serial: mfa.mfa_serial,
            duration_seconds,
            role_session_name,
            external_id,
            region,
            endpoint_url,
            yubikey_serial: mfa.yubikey_serial,
            yubikey_label: mfa.yubikey_label,
            yubikey_backend: mfa.yubikey_backend,
            mfa_timeout: mfa.mfa_timeout,
            mfa_session: mfa.mfa_session,
            mfa_session_duration: mfa.mfa_session_duration,
        })
    }

    /// The MFA device of a first hop and how to reach it: from the profile,
    /// else from its source profile (the one with the long-term keys).
    fn mfa_settings(&self, name: &str, source: &str) -> Result<MfaSettings, Error> {
        let mfa_serial = self
            .sourced_either(name, source, "mfa_serial")
            .ok_or_else(|| Error::MissingKey {
                path: self.config_path.clone(),
                profile: source.to_string(),
                key: "mfa_serial",
            })?;
        if !is_mfa_serial(&mfa_serial.value) {
            return Err(self.invalid(&mfa_serial, "not an MFA device ARN"));
        }

        let yubikey_serial = match self.sourced_either(name, source, "vegas_yubikey_serial") {
            Some(s) => {
                let value = s
                    .value
                    .parse::<u32>()
                    .map_err(|_| self.invalid(&s, "not a serial number"))?;
                Some(Sourced {
                    value,
                    origin: s.origin,
                })
            }
            None => None,
        };

        let yubikey_label = self
            .sourced_either(name, source, "vegas_yubikey_label")
            .unwrap_or_else(|| Sourced {
                value: mfa_serial.value.clone(),
                origin: Origin::Default("mfa_serial"),
            });

        let yubikey_backend = match env_sourced("VEGAS_YUBIKEY_BACKEND") {
            Some(s) => {
                let value = Backend::parse(&s.value).ok_or(Error::InvalidEnv {
                    var: "VEGAS_YUBIKEY_BACKEND",
                    value: s.value.clone(),
                    why: "not one of auto, pcsc, ykman, none",
                })?;
                Sourced {
                    value,
                    origin: s.origin,
                }
            }
            None => match self.sourced_either(name, source, "vegas_yubikey_backend") {
                Some(s) => {
                    let value = Backend::parse(&s.value)
                        .ok_or_else(|| self.invalid(&s, "not one of auto, pcsc, ykman, none"))?;
                    Sourced {
                        value,
                        origin: s.origin,
                    }
                }
                None => Sourced {
                    value: Backend::Auto,
                    origin: Origin::Default("auto"),
                },
            },
        };

        let mfa_timeout = match self.sourced_either(name, source, "vegas_mfa_timeout") {
            Some(s) => {
                let value = s
                    .value
                    .parse::<u64>()
                    .ok()
                    .filter(|t| (1..=MAX_MFA_TIMEOUT).contains(t))
                    .ok_or_else(|| self.invalid(&s, "not a number of seconds from 1 to 3600"))?;
                Sourced {
                    value,
                    origin: s.origin,
                }
            }
            None => Sourced {
                value: DEFAULT_MFA_TIMEOUT,
                origin: Origin::Default("one minute"),
            },
        };

        let mfa_session = match self.sourced_either(name, source, "vegas_mfa_session") {
            Some(s) => {
                let value =
                    parse_bool(&s.value).ok_or_else(|| self.invalid(&s, "not true or false"))?;
                Sourced {
                    value,
                    origin: s.origin,
                }
            }
            None => Sourced {
                value: false,
                origin: Origin::Default("a touch per role"),
            },
        };

        let mfa_session_duration =
            match self.sourced_either(name, source, "vegas_mfa_session_duration") {
                Some(s) => {
                    let value = s
                        .value
                        .parse::<u32>()
                        .ok()
                        .filter(|d| {
                            (MIN_MFA_SESSION_DURATION..=MAX_MFA_SESSION_DURATION).contains(d)
                        })
                        .ok_or_else(|| self.invalid(&s, "out of range 900–129600"))?;
                    Sourced {
                        value,
                        origin: s.origin,
                    }
                }
                None => Sourced {
                    value: DEFAULT_MFA_SESSION_DURATION,
                    origin: Origin::Default("12 hours"),
                },
            };

        Ok(MfaSettings {
            mfa_serial,
            yubikey_serial,
            yubikey_label,
            yubikey_backend,
            mfa_timeout,
            mfa_session,
            mfa_session_duration,
        })
    }
}

/// Everything about the MFA device of a first hop, which a chained profile
/// shares with the first hop of its chain.
struct MfaSettings {
    mfa_serial: Sourced<String>,
    yubikey_serial: Option<Sourced<u32>>,
    yubikey_label: Sourced<String>,
    yubikey_backend: Sourced<Backend>,
    mfa_timeout: Sourced<u64>,
    mfa_session: Sourced<bool>,
    mfa_session_duration: Sourced<u32>,
}

impl MfaSettings {
    fn of(profile: &Profile) -> MfaSettings {
        MfaSettings {
            mfa_serial: profile.mfa_serial.clone(),
            yubikey_serial: profile.yubikey_serial.clone(),
            yubikey_label: profile.yubikey_label.clone(),
            yubikey_backend: profile.yubikey_backend.clone(),
            mfa_timeout: profile.mfa_timeout.clone(),
            mfa_session: profile.mfa_session.clone(),
            mfa_session_duration: profile.mfa_session_duration.clone(),
        }
    }
}

/// `true`/`false` as the AWS config writes them (any case).
fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn env_sourced(var: &'static str) -> Option<Sourced<String>> {
    env_nonempty(var).map(|value| Sourced {
        value: value.trim().to_string(),
        origin: Origin::Env(var),
    })
}

fn ini_options() -> ParseOption {
    ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        // Nested settings (`s3 =` followed by indented lines) are legal in
        // the AWS config; they must not be syntax errors.
        enabled_indented_mutiline_value: true,
        enabled_preserve_key_leading_whitespace: false,
    }
}

fn parse_file(path: &Path) -> Result<Ini, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.into(),
        source,
    })?;
    parse_str(path, &text)
}

fn parse_str(path: &Path, text: &str) -> Result<Ini, Error> {
    check_section_headers(path, text)?;
    Ini::load_from_str_opt(text, ini_options()).map_err(|e| Error::Syntax {
        path: path.into(),
        line: e.line,
        message: e.msg.into_owned(),
    })
}

/// An unclosed `[section` would make the INI parser read on to the end of
/// the file and report the last line; catch it on its own line instead.
fn check_section_headers(path: &Path, text: &str) -> Result<(), Error> {
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') && !strip_inline_comment(line).ends_with(']') {
            return Err(Error::Syntax {
                path: path.into(),
                line: index + 1,
                message: "section header without a closing ']'".into(),
            });
        }
    }
    Ok(())
}

/// `value  # comment` → `value`: the AWS SDKs treat `#`/`;` preceded by
/// whitespace as the start of a comment in a property value.
fn strip_inline_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    let cut = bytes
        .windows(2)
        .position(|w| matches!(w, [b' ' | b'\t', b'#' | b';']))
        .unwrap_or(bytes.len());
    value.get(..cut).unwrap_or(value).trim()
}

const PARTITIONS: &[&str] = &[
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];

/// `arn:PARTITION:iam::ACCOUNT:KIND/[path/]NAME` → the part after `KIND/`.
fn iam_resource<'a>(arn: &'a str, kind: &str) -> Option<&'a str> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    if !PARTITIONS.contains(&partition) || !account_ok {
        return None;
    }
    resource.strip_prefix(kind)?.strip_prefix('/')
}

fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

/// A role ARN in any partition, with an optional path (`role/team/Admin`).
pub fn is_role_arn(arn: &str) -> bool {
    let Some(path_and_name) = iam_resource(arn, "role") else {
        return false;
    };
    let mut segments: Vec<&str> = path_and_name.split('/').collect();
    let Some(name) = segments.pop() else {
        return false;
    };
    (1..=64).contains(&name.len())
        && name.chars().all(is_iam_name_char)
        && segments
            .iter()
            .all(|s| !s.is_empty() && s.chars().all(is_iam_name_char))
}

/// An MFA device ARN (`arn:aws:iam::123456789012:mfa/alice`).
pub fn is_mfa_serial(serial: &str) -> bool {
    iam_resource(serial, "mfa").is_some_and(|name| {
        !name.is_empty()
            && name.len() <= 512
            && name
                .split('/')
                .all(|s| !s.is_empty() && s.chars().all(is_iam_name_char))
    })
}

fn is_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len()) && name.chars().all(is_iam_name_char)
}

fn is_external_id(id: &str) -> bool {
    (2..=1224).contains(&id.len())
        && id
            .chars()
            .all(|c| is_iam_name_char(c) || c == ':' || c == '/')
}

/// The login name, cut to what STS accepts as a role session name.
pub fn default_session_name() -> String {
    let login = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| env_nonempty(v))
        .unwrap_or_default();
    sanitize_session_name(&login)
}

fn sanitize_session_name(login: &str) -> String {
    let mut name: String = login
        .chars()
        .filter(|c| is_iam_name_char(*c))
        .take(64)
        .collect();
    if name.len() < 2 {
        name = format!("vegas{name}");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
[profile work-source]
mfa_serial = arn:aws:iam::111111111111:mfa/alice
vegas_yubikey_serial = 12345678          # which key
region = eu-west-1

[profile work-admin]
credential_process = vegas assume --profile work-admin
vegas_source_profile = work-source
vegas_role_arn = arn:aws:iam::222222222222:role/Admin
duration_seconds = 7200
role_session_name = alice
external_id = abc-123
s3 =
  max_concurrent_requests = 10
";

    fn files(config: &str) -> Files {
        Files::from_strs(config, Some("[work-source]\naws_access_key_id = AKIA\n")).unwrap()
    }

    #[test]
    fn source_credentials_say_where_the_keys_are_and_which_are_missing() {
        let config = "[profile cfg]\naws_access_key_id = AKIA\naws_secret_access_key = s\n\
                      [profile sso]\nsso_session = corp\n[profile none]\nregion = eu-west-1\n";
        let credentials = "[full]\naws_access_key_id = AKIA\naws_secret_access_key = s\n\
                           [half]\naws_access_key_id = AKIA\n[blank]\naws_access_key_id = AKIA\naws_secret_access_key =\n";
        let files = Files::from_strs(config, Some(credentials)).unwrap();
        assert_eq!(
            files.source_credentials("full"),
            SourceCredentials::CredentialsFile
        );
        assert_eq!(
            files.source_credentials("cfg"),
            SourceCredentials::ConfigFile
        );
        assert_eq!(
            files.source_credentials("sso"),
            SourceCredentials::OtherProvider("sso_session")
        );
        assert_eq!(
            files.source_credentials("half"),
            SourceCredentials::Missing {
                missing: vec!["aws_secret_access_key"],
                section_in_credentials: true
            }
        );
        assert_eq!(
            files.source_credentials("blank"),
            SourceCredentials::Missing {
                missing: vec!["aws_secret_access_key"],
                section_in_credentials: true
            }
        );
        assert_eq!(
            files.source_credentials("none"),
            SourceCredentials::Missing {
                missing: vec!["aws_access_key_id", "aws_secret_access_key"],
                section_in_credentials: false
            }
        );
    }
    #[test]
    fn resolves_target_and_source_keys_with_origins() {
        let p = files(CONFIG).resolve("work-admin").unwrap();
        assert_eq!(p.role_arn.value, "arn:aws:iam::222222222222:role/Admin");
        assert_eq!(p.mfa_serial.value, "arn:aws:iam::111111111111:mfa/alice");
        assert!(
            matches!(&p.mfa_serial.origin, Origin::File { profile, .. } if profile == "work-source")
        );
        assert_eq!(p.duration_seconds.value, 7200);
        assert_eq!(
            p.yubikey_serial.as_ref().unwrap().value,
            12_345_678,
            "inline comment stripped"
        );
        assert_eq!(
            p.yubikey_label.value, p.mfa_serial.value,
            "label defaults to mfa_serial"
        );
        assert_eq!(p.yubikey_label.origin, Origin::Default("mfa_serial"));
        assert_eq!(p.region.value, "eu-west-1");
        assert_eq!(p.external_id.unwrap().value, "abc-123");
    }

    #[test]
    fn role_arns_of_every_partition_and_with_paths_are_accepted() {
        for arn in [
            "arn:aws:iam::123456789012:role/Admin",
            "arn:aws-cn:iam::123456789012:role/Admin",
            "arn:aws-us-gov:iam::123456789012:role/team/sub/Admin",
            "arn:aws:iam::123456789012:role/a+=,.@_-b",
        ] {
            assert!(is_role_arn(arn), "{arn}");
        }
        for arn in [
            "",
            "arn:aws:iam::12345678901:role/Admin",
            "arn:aws:iam::123456789012:user/Admin",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role//Admin",
            "arn:aws:s3::123456789012:role/Admin",
            "arn:aws:iam:eu-west-1:123456789012:role/Admin",
            "arn:other:iam::123456789012:role/Admin",
            "arn:aws:iam::123456789012:role/Ad min",
        ] {
            assert!(!is_role_arn(arn), "{arn}");
        }
    }

    #[test]
    fn mfa_serials_must_be_mfa_device_arns() {
        assert!(is_mfa_serial("arn:aws:iam::111111111111:mfa/alice"));
        assert!(is_mfa_serial(
            "arn:aws-us-gov:iam::111111111111:mfa/path/alice"
        ));
        assert!(!is_mfa_serial("arn:aws:iam::111111111111:user/alice"));
        assert!(!is_mfa_serial("alice"));
    }

    fn err_of(config: &str, profile: &str) -> Error {
        files(config).resolve(profile).unwrap_err()
    }

    #[test]
    fn each_invalid_configuration_names_profile_and_key() {
        let e = err_of(CONFIG, "nope");
        assert!(
            matches!(e, Error::MissingProfile { ref profile, .. } if profile == "nope"),
            "{e}"
        );

        let e = err_of(
            &CONFIG.replace("vegas_role_arn", "x_role_arn"),
            "work-admin",
        );
        assert!(e.to_string().contains("'vegas_role_arn'"), "{e}");
        assert!(e.to_string().contains("'work-admin'"), "{e}");

        let e = err_of(&CONFIG.replace("role/Admin", "user/Admin"), "work-admin");
        assert!(e.to_string().contains("vegas_role_arn"), "{e}");

        let e = err_of(&CONFIG.replace(":mfa/alice", ":user/alice"), "work-admin");
        assert!(
            e.to_string().contains("mfa_serial") && e.to_string().contains("'work-source'"),
            "{e}"
        );

        let e = err_of(&CONFIG.replace("7200", "60"), "work-admin");
        assert!(e.to_string().contains("duration_seconds"), "{e}");
        let e = err_of(&CONFIG.replace("7200", "50000"), "work-admin");
        assert!(e.to_string().contains("duration_seconds"), "{e}");

        let e = err_of(
            &CONFIG.replace(
                "vegas_source_profile = work-source",
                "vegas_source_profile = gone",
            ),
            "work-admin",
        );
        assert!(
            matches!(e, Error::MissingSourceProfile { ref source_profile, .. } if source_profile == "gone"),
            "{e}"
        );

        let e = err_of(&CONFIG.replace("mfa_serial = ", "x_mfa = "), "work-admin");
        assert!(
            matches!(e, Error::MissingKey { key: "mfa_serial", ref profile, .. } if profile == "work-source"),
            "{e}"
        );

        let e = err_of(
            &CONFIG.replace("role_session_name = alice", "role_session_name = a"),
            "work-admin",
        );
        assert!(e.to_string().contains("role_session_name"), "{e}");
    }

    #[test]
    fn syntax_error_reports_its_line() {
        let e = Files::from_strs("[profile a]\nx = 1\n[broken\n", None).unwrap_err();
        assert!(matches!(e, Error::Syntax { line: 3, .. }), "{e}");
    }

    #[test]
    fn default_profile_section_is_found_both_ways() {
        let f = files("[default]\nregion = x\n");
        assert_eq!(f.get("default", "region"), Some("x"));
        let f = files("[profile default]\nregion = y\n");
        assert_eq!(f.get("default", "region"), Some("y"));
    }

    #[test]
    fn session_names_are_sanitized_to_what_sts_accepts() {
        assert_eq!(sanitize_session_name("alice"), "alice");
        assert_eq!(sanitize_session_name("al ice!"), "alice");
        assert_eq!(sanitize_session_name("a"), "vegasa");
        assert_eq!(sanitize_session_name(""), "vegas");
        assert_eq!(sanitize_session_name(&"x".repeat(100)).len(), 64);
    }

    #[test]
    fn identity_fields_change_with_every_value_that_changes_sts_output() {
        let a = files(CONFIG)
            .resolve("work-admin")
            .unwrap()
            .identity_fields();
        let b = files(&CONFIG.replace("7200", "3600"))
            .resolve("work-admin")
            .unwrap()
            .identity_fields();
        let c = files(&CONFIG.replace("abc-123", "abc-124"))
            .resolve("work-admin")
            .unwrap()
            .identity_fields();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn mfa_timeout_defaults_to_a_minute_and_is_read_from_the_source_profile() {
        let p = files(CONFIG).resolve("work-admin").unwrap();
        assert_eq!(p.mfa_timeout.value, DEFAULT_MFA_TIMEOUT);
        let config = CONFIG.replace(
            "region = eu-west-1",
            "region = eu-west-1\nvegas_mfa_timeout = 15",
        );
        let p = files(&config).resolve("work-admin").unwrap();
        assert_eq!(p.mfa_timeout.value, 15);
        assert!(matches!(
            p.mfa_timeout.origin,
            Origin::File { ref profile, key: "vegas_mfa_timeout", .. } if profile == "work-source"
        ));
    }

    #[test]
    fn mfa_timeout_must_be_one_second_to_an_hour() {
        for bad in ["0", "3601", "-5", "1m", ""] {
            let config = CONFIG.replace(
                "region = eu-west-1",
                &format!("region = eu-west-1\nvegas_mfa_timeout = {bad}"),
            );
            match files(&config).resolve("work-admin") {
                Err(Error::Invalid { key, .. }) => assert_eq!(key, "vegas_mfa_timeout", "{bad:?}"),
                Ok(p) if bad.is_empty() => assert_eq!(p.mfa_timeout.value, DEFAULT_MFA_TIMEOUT),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    const CHAIN: &str = "\
[profile work-source]
mfa_serial = arn:aws:iam::111111111111:mfa/alice
vegas_yubikey_label = AWS:alice
region = eu-west-1

[profile hop1]
vegas_source_profile = work-source
vegas_role_arn = arn:aws:iam::222222222222:role/Hop1
duration_seconds = 7200

[profile hop2]
vegas_source_profile = hop1
vegas_role_arn = arn:aws:iam::333333333333:role/Hop2

[profile hop3]
vegas_source_profile = hop2
vegas_role_arn = arn:aws:iam::444444444444:role/Hop3
duration_seconds = 7200
";

    #[test]
    fn a_chain_resolves_to_any_depth_with_the_mfa_of_its_first_hop() {
        let p = files(CHAIN).resolve("hop3").unwrap();
        assert_eq!(p.chain_names(), ["hop3", "hop2", "hop1", "work-source"]);
        assert!(p.is_chained());
        assert_eq!(p.first_hop().name, "hop1");
        assert!(!p.first_hop().is_chained());
        assert_eq!(p.long_term_source().value, "work-source");
        assert_eq!(p.source_profile.value, "hop2", "as written");
        assert_eq!(p.mfa_serial.value, "arn:aws:iam::111111111111:mfa/alice");
        assert_eq!(p.yubikey_label.value, "AWS:alice");
        assert_eq!(p.region.value, "eu-west-1", "inherited down the chain");
        assert_eq!(
            p.duration_seconds.value, 7200,
            "kept as written; assume clamps"
        );
    }

    #[test]
    fn a_chained_profile_key_changes_when_a_hop_below_changes() {
        let a = files(CHAIN).resolve("hop3").unwrap().identity_fields();
        let b = files(&CHAIN.replace("role/Hop1", "role/Hop1b"))
            .resolve("hop3")
            .unwrap()
            .identity_fields();
        assert_ne!(a, b);
        let plain = files(CHAIN).resolve("hop1").unwrap().identity_fields();
        assert!(
            plain.iter().all(|(k, _)| *k != "via"),
            "a first hop keeps its old key"
        );
    }

    #[test]
    fn a_loop_of_two_profiles_is_an_error_naming_both() {
        let config = CHAIN.replace(
            "vegas_source_profile = work-source",
            "vegas_source_profile = hop2",
        );
        let e = err_of(&config, "hop2");
        match &e {
            Error::SourceLoop { profiles, .. } => assert_eq!(profiles, &["hop2", "hop1", "hop2"]),
            other => panic!("{other:?}"),
        }
        let text = e.to_string();
        assert!(text.contains("'hop1'") && text.contains("'hop2'"), "{text}");
        // Entered from outside the loop, only the loop is named.
        match err_of(&config, "hop3") {
            Error::SourceLoop { profiles, .. } => assert_eq!(profiles, ["hop2", "hop1", "hop2"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_error_in_a_hop_below_names_that_hop() {
        let config = CHAIN.replace("role/Hop1", "user/Hop1");
        let e = err_of(&config, "hop3");
        assert!(
            matches!(&e, Error::Invalid { profile, key: "vegas_role_arn", .. } if profile == "hop1"),
            "{e}"
        );
    }

    #[test]
    fn mfa_session_is_off_by_default_and_lasts_twelve_hours() {
        let p = files(CONFIG).resolve("work-admin").unwrap();
        assert!(!p.mfa_session.value);
        assert_eq!(p.mfa_session_duration.value, DEFAULT_MFA_SESSION_DURATION);
        let config = CONFIG.replace(
            "region = eu-west-1",
            "region = eu-west-1\nvegas_mfa_session = TRUE\nvegas_mfa_session_duration = 129600",
        );
        let p = files(&config).resolve("work-admin").unwrap();
        assert!(p.mfa_session.value);
        assert_eq!(p.mfa_session_duration.value, 129_600);
        assert!(matches!(
            p.mfa_session.origin,
            Origin::File { ref profile, key: "vegas_mfa_session", .. } if profile == "work-source"
        ));
    }

    #[test]
    fn mfa_session_settings_are_validated() {
        for (key, bad) in [
            ("vegas_mfa_session", "yes"),
            ("vegas_mfa_session_duration", "899"),
            ("vegas_mfa_session_duration", "129601"),
            ("vegas_mfa_session_duration", "12h"),
        ] {
            let config = CONFIG.replace(
                "region = eu-west-1",
                &format!("region = eu-west-1\n{key} = {bad}"),
            );
            match files(&config).resolve("work-admin") {
                Err(e @ Error::Invalid { .. }) => {
                    assert!(
                        matches!(e, Error::Invalid { key: k, .. } if k == key),
                        "{e}"
                    );
                    assert!(!crate::hint::Hint::hint(&e).is_empty());
                }
                other => panic!("{key} = {bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn vegas_profiles_lists_only_profiles_with_a_role() {
        assert_eq!(
            files(CONFIG).vegas_profiles(),
            vec!["work-admin".to_string()]
        );
    }
}
