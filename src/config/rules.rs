//! Value rules: what the AWS config and STS accept for each vegas setting
//! (role ARNs, MFA serials, session names, external ids, durations, the code
//! backend), and vegas's defaults for them. Functions of the text alone,
//! except the default session name, which is the login name.

use std::ops::RangeInclusive;
use std::str::FromStr;

use super::ini::env_nonempty;

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

/// Which code sources `vegas assume` may use (`vegas_yubikey_backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Auto,
    Pcsc,
    Ykman,
    None,
}

impl Backend {
    pub(super) fn parse(s: &str) -> Option<Backend> {
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

/// A whole number within `range`, as the AWS config writes numbers.
pub(super) fn number_in<T: FromStr + PartialOrd>(
    text: &str,
    range: RangeInclusive<T>,
) -> Option<T> {
    text.parse().ok().filter(|n| range.contains(n))
}

/// An `http://` or `https://` URL (an STS endpoint).
pub fn is_http_url(text: &str) -> bool {
    text.starts_with("https://") || text.starts_with("http://")
}

/// `true`/`false` as the AWS config writes them (any case).
pub(super) fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
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

pub(super) fn is_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len()) && name.chars().all(is_iam_name_char)
}

pub(super) fn is_external_id(id: &str) -> bool {
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

    #[test]
    fn session_names_are_sanitized_to_what_sts_accepts() {
        assert_eq!(sanitize_session_name("alice"), "alice");
        assert_eq!(sanitize_session_name("al ice!"), "alice");
        assert_eq!(sanitize_session_name("a"), "vegasa");
        assert_eq!(sanitize_session_name(""), "vegas");
        assert_eq!(sanitize_session_name(&"x".repeat(100)).len(), 64);
    }
}
