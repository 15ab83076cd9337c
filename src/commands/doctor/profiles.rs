//! The configuration links: the AWS files, each vegas profile as `assume`
//! resolves it, its source keys (`config::Files::source_credentials`), and
//! the `credential_process` line that makes the AWS tools run this vegas.

use std::path::Path;

use super::Check;
use crate::config::{Files, Profile, SourceCredentials};

/// The config-file check and the profile checks; returns the profiles that
/// resolved (`only`: just that one).
pub(super) fn checks(files: &Files, only: Option<&str>, report: &mut Vec<Check>) -> Vec<Profile> {
    report.push(Check::pass("config files", files_detail(files)));
    let names = match only {
        Some(name) => vec![name.to_string()],
        None => files.vegas_profiles(),
    };
    if names.is_empty() {
        report.push(Check::fail(
            "vegas profiles",
            format!(
                "no profile in {} has vegas_role_arn",
                files.config_path.display()
            ),
            "add a profile with credential_process = vegas assume --profile NAME, \
             vegas_role_arn and vegas_source_profile (see docs/configuration.md)",
        ));
        return Vec::new();
    }
    let mut resolved = Vec::new();
    for name in names {
        let label = format!("profile {name}");
        match files.resolve(&name) {
            Ok(profile) => {
                report.push(Check::pass(
                    &label,
                    format!(
                        "role {}, source profile {}, MFA device {}",
                        profile.role_arn.value,
                        profile.source_profile.value,
                        profile.mfa_serial.value
                    ),
                ));
                report.push(source_credentials_check(files, &profile));
                report.push(credential_process_check(files, &name));
                resolved.push(profile);
            }
            Err(e) => report.push(Check::from_error(label, &e)),
        }
    }
    resolved
}

fn files_detail(files: &Files) -> String {
    let credentials = if files.credentials_path.exists() {
        files.credentials_path.display().to_string()
    } else {
        format!("{} (absent)", files.credentials_path.display())
    };
    format!(
        "config {}, credentials {credentials}",
        files.config_path.display()
    )
}

fn source_credentials_check(files: &Files, profile: &Profile) -> Check {
    // For a role chain, the keys live with the first hop's source, not with
    // the vegas profile right below this one.
    let source = &profile.long_term_source().value;
    let label = format!("profile {}: source credentials", profile.name);
    let credentials = files.credentials_path.display();
    match files.source_credentials(source) {
        SourceCredentials::CredentialsFile => Check::pass(
            label,
            format!("[{source}] in {credentials} has aws_access_key_id and aws_secret_access_key"),
        ),
        SourceCredentials::ConfigFile => Check::pass(
            label,
            format!(
                "[profile {source}] in {} has keys",
                files.config_path.display()
            ),
        ),
        SourceCredentials::OtherProvider(key) => Check::pass(
            label,
            format!("[profile {source}] gets credentials through {key} (not tried here)"),
        ),
        SourceCredentials::Missing {
            missing,
            section_in_credentials,
        } => {
            let detail = if section_in_credentials {
                format!(
                    "[{source}] in {credentials} has no {}",
                    missing.join(" or ")
                )
            } else {
                format!("source profile '{source}' has no long-term credentials")
            };
            Check::fail(
                label,
                detail,
                format!(
                    "add aws_access_key_id and aws_secret_access_key to [{source}] in \
                     {credentials} (`aws configure --profile {source}`)"
                ),
            )
        }
    }
}

fn credential_process_check(files: &Files, name: &str) -> Check {
    let label = format!("profile {name}: credential_process");
    let this = std::env::current_exe().ok();
    let shown = this
        .as_ref()
        .map_or_else(|| "vegas".to_string(), |p| p.display().to_string());
    let fix = format!("set credential_process = {shown} assume --profile {name}");
    let Some(line) = files.get(name, "credential_process") else {
        return Check::fail(
            label,
            "no credential_process: the AWS tools will not run vegas for this profile",
            fix,
        );
    };
    let words: Vec<&str> = line
        .split_whitespace()
        .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
        .collect();
    let program = words.first().copied().unwrap_or_default();
    let Some(path) = crate::platform::find_program(program) else {
        return Check::fail(label, format!("runs '{program}', which is not found"), fix);
    };
    if !same_file(&path, this.as_deref()) {
        return Check::fail(
            label,
            format!("runs {}, not this vegas ({shown})", path.display()),
            fix,
        );
    }
    let rest = words.get(1..).unwrap_or_default();
    if rest.first() != Some(&"assume") {
        return Check::fail(label, format!("'{line}' does not run `vegas assume`"), fix);
    }
    match profile_argument(rest) {
        Some(named) if named == name => Check::pass(label, line),
        Some(named) => Check::fail(
            label,
            format!("names profile '{named}' instead of '{name}'"),
            fix,
        ),
        None => Check::fail(label, format!("'{line}' names no --profile"), fix),
    }
}

/// The value of `--profile P`, `--profile=P` or `-p P`.
fn profile_argument<'a>(words: &[&'a str]) -> Option<&'a str> {
    let mut iter = words.iter();
    while let Some(word) = iter.next() {
        if *word == "--profile" || *word == "-p" {
            return iter.next().copied();
        }
        if let Some(value) = word.strip_prefix("--profile=") {
            return Some(value);
        }
    }
    None
}

fn same_file(a: &Path, b: Option<&Path>) -> bool {
    let Some(b) = b else { return false };
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_argument_is_found_in_every_spelling() {
        assert_eq!(profile_argument(&["assume", "--profile", "a"]), Some("a"));
        assert_eq!(profile_argument(&["assume", "-p", "b"]), Some("b"));
        assert_eq!(profile_argument(&["assume", "--profile=c"]), Some("c"));
        assert_eq!(profile_argument(&["assume"]), None);
        assert_eq!(profile_argument(&["assume", "--profile"]), None);
    }
}
