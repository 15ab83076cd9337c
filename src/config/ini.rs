//! Reading the AWS shared config and credentials files: where they are, the
//! INI dialect the SDKs write (inline comments, nested settings, `[default]`
//! and `[profile NAME]`), one key of one profile, and where a source
//! profile's long-term keys are. Nothing here validates a value.

use std::path::{Path, PathBuf};

use ini::{Ini, ParseOption};

use super::Error;

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
pub(super) fn section_name(profile: &str) -> String {
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

pub(super) fn env_nonempty(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

impl Files {
    /// Locate (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/`)
    /// and parse both files. A missing credentials file is not an error here:
    /// the source credentials may come from elsewhere.
    pub fn load() -> Result<Files, Error> {
        Files::load_with(false)
    }

    /// [`Files::load`], a missing config file read as an empty one: for
    /// `vegas setup`, which may be what writes it first.
    pub fn load_allowing_no_config() -> Result<Files, Error> {
        Files::load_with(true)
    }

    fn load_with(missing_config_is_empty: bool) -> Result<Files, Error> {
        let config_path = match env_nonempty("AWS_CONFIG_FILE") {
            Some(p) => PathBuf::from(p),
            None => home().ok_or(Error::NoHome)?.join(".aws/config"),
        };
        let credentials_path = match env_nonempty("AWS_SHARED_CREDENTIALS_FILE") {
            Some(p) => PathBuf::from(p),
            None => home().ok_or(Error::NoHome)?.join(".aws/credentials"),
        };
        let config = match std::fs::metadata(&config_path) {
            Err(e) if missing_config_is_empty && e.kind() == std::io::ErrorKind::NotFound => {
                Ini::new()
            }
            _ => parse_file(&config_path)?,
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{files, CONFIG};

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
    fn vegas_profiles_lists_only_profiles_with_a_role() {
        assert_eq!(
            files(CONFIG).vegas_profiles(),
            vec!["work-admin".to_string()]
        );
    }
}
