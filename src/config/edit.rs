//! Changing `~/.aws/config` for `vegas setup`, byte for byte where it does
//! not change: keys set in one section, a new section appended, and every
//! other byte (comments, order, blank lines, other profiles, line endings)
//! left as it was.
//!
//! A change is planned first ([`ConfigEdit`]), shown as a unified diff to be
//! confirmed, then written atomically (a temporary file in the same folder,
//! renamed over the old one, with its mode) after the old file is kept as a
//! `0600` backup beside it. [`ConfigEdit::undo`] puts the old bytes back, for
//! a setup that fails after it wrote the file.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::ini::section_name;
use super::Error;

/// Mode of a config file vegas creates, and of every backup.
const PRIVATE_MODE: u32 = 0o600;

/// `key = value` lines for one section.
pub type Settings<'a> = [(&'a str, &'a str)];

/// Set `settings` in the section of `profile`: a key already there has its
/// line replaced (indentation kept), a new key goes after the section's last
/// setting. Without such a section, one is appended.
pub fn set_in_profile(text: &str, profile: &str, settings: &Settings<'_>) -> String {
    let eol = line_ending(text);
    let mut lines: Vec<String> = split_lines(text);
    let Some((start, end)) = section_range(&lines, profile) else {
        return append_profile(text, profile, settings);
    };
    let mut insert_at = last_setting(&lines, start, end) + 1;
    for (key, value) in settings {
        let existing =
            (start + 1..end).find(|&i| lines.get(i).is_some_and(|l| setting_key(l) == Some(*key)));
        match existing.and_then(|i| lines.get_mut(i)) {
            Some(line) => {
                let indent: String = line.chars().take_while(|c| c.is_whitespace()).collect();
                let ending = if line.ends_with('\n') { eol } else { "" };
                *line = format!("{indent}{key} = {value}{ending}");
            }
            None => {
                lines.insert(insert_at, format!("{key} = {value}{eol}"));
                insert_at += 1;
            }
        }
    }
    // A setting appended after a last line without its newline.
    for i in 0..lines.len().saturating_sub(1) {
        if let Some(line) = lines.get_mut(i) {
            if !line.ends_with('\n') {
                line.push_str(eol);
            }
        }
    }
    lines.concat()
}

/// Append a new `[profile NAME]` section with `settings`, after a blank line.
pub fn append_profile(text: &str, profile: &str, settings: &Settings<'_>) -> String {
    let eol = line_ending(text);
    let mut out = text.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push_str(eol);
    }
    if !out.is_empty() && !out.ends_with("\n\n") && !out.ends_with("\n\r\n") {
        out.push_str(eol);
    }
    out.push_str(&format!("[{}]{eol}", section_name(profile)));
    for (key, value) in settings {
        out.push_str(&format!("{key} = {value}{eol}"));
    }
    out
}

/// Whether the file has a section for `profile`.
pub fn has_profile_section(text: &str, profile: &str) -> bool {
    section_range(&split_lines(text), profile).is_some()
}

/// Keys whose values are credentials: a diff shows them as [`MASK`].
const SECRET_KEYS: [&str; 4] = [
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    // botocore's older name for the session token
    "aws_security_token",
];
/// What a diff shows in place of a credential's value.
pub const MASK: &str = "****";

/// A unified diff of `before` → `after`, labelled with `path`. The values
/// of credential keys (long-term keys kept in the config file show up as
/// context lines) are masked on both sides, so the diff never prints them.
pub fn diff(path: &Path, before: &str, after: &str) -> String {
    let label = path.display().to_string();
    let (before, after) = (mask_credentials(before), mask_credentials(after));
    similar::TextDiff::from_lines(before.as_str(), after.as_str())
        .unified_diff()
        .context_radius(2)
        .header(&label, &label)
        .to_string()
}

/// `text` with the value of every credential line replaced by [`MASK`]
/// (its key, spacing and line ending kept).
fn mask_credentials(text: &str) -> String {
    split_lines(text)
        .into_iter()
        .map(|line| {
            let is_secret = setting_key(&line)
                .is_some_and(|k| SECRET_KEYS.iter().any(|s| s.eq_ignore_ascii_case(k)));
            match line.split_once('=').filter(|_| is_secret) {
                Some((key, rest)) => {
                    let ending = ["\r\n", "\n"]
                        .into_iter()
                        .find(|e| rest.ends_with(e))
                        .unwrap_or("");
                    format!("{key}= {MASK}{ending}")
                }
                None => line,
            }
        })
        .collect()
}

/// A planned change of one file: its bytes before (`None`: no file) and after.
#[derive(Debug, Clone)]
pub struct ConfigEdit {
    pub path: PathBuf,
    pub before: Option<String>,
    pub after: String,
}

/// A change written: where the old bytes were kept.
#[derive(Debug)]
pub struct Written {
    pub backup: Option<PathBuf>,
}

impl ConfigEdit {
    /// Read the file at `path` (missing is empty) to plan a change of it.
    pub fn read(path: &Path) -> Result<Option<String>, Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// The unified diff of this change.
    pub fn diff(&self) -> String {
        diff(
            &self.path,
            self.before.as_deref().unwrap_or(""),
            &self.after,
        )
    }

    /// Write the change: check the file still holds `before`, keep it as a
    /// backup, then replace it atomically with the same mode.
    pub fn apply(&self) -> Result<Written, Error> {
        let target = real_path(&self.path);
        if ConfigEdit::read(&target)? != self.before {
            return Err(Error::ChangedMeanwhile { path: target });
        }
        let (backup, mode) = match &self.before {
            Some(before) => {
                let mode = std::fs::metadata(&target)
                    .map(|m| m.permissions().mode() & 0o7777)
                    .unwrap_or(PRIVATE_MODE);
                (Some(write_backup(&target, before)?), mode)
            }
            None => (None, PRIVATE_MODE),
        };
        replace_atomically(&target, &self.after, mode)?;
        Ok(Written { backup })
    }

    /// Put the old bytes back (or remove a file this change created) and
    /// drop the backup `written` made.
    pub fn undo(&self, written: &Written) -> Result<(), Error> {
        let target = real_path(&self.path);
        match &self.before {
            Some(before) => {
                let mode = std::fs::metadata(&target)
                    .map(|m| m.permissions().mode() & 0o7777)
                    .unwrap_or(PRIVATE_MODE);
                replace_atomically(&target, before, mode)?;
            }
            None => std::fs::remove_file(&target).map_err(|e| write_error(&target, e))?,
        }
        if let Some(backup) = &written.backup {
            std::fs::remove_file(backup).map_err(|e| write_error(backup, e))?;
        }
        Ok(())
    }
}

/// The file a symlinked config points to: it is that file that changes.
fn real_path(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

fn write_error(path: &Path, source: std::io::Error) -> Error {
    Error::Write {
        path: path.to_owned(),
        source,
    }
}

/// `FILE.vegas-backup-UNIXTIME` (a `.N` suffix if that exists), `0600`.
fn write_backup(target: &Path, before: &str) -> Result<PathBuf, Error> {
    let stamp = crate::platform::unix_now();
    let mut name = target.as_os_str().to_owned();
    name.push(format!(".vegas-backup-{stamp}"));
    for attempt in 0..100 {
        let mut candidate = name.clone();
        if attempt > 0 {
            candidate.push(format!(".{attempt}"));
        }
        let path = PathBuf::from(candidate);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE_MODE)
            .open(&path);
        match file {
            Ok(mut file) => {
                file.write_all(before.as_bytes())
                    .and_then(|_| file.sync_all())
                    .map_err(|e| write_error(&path, e))?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(write_error(&path, e)),
        }
    }
    Err(write_error(
        target,
        std::io::Error::other("no free backup name"),
    ))
}

/// A temporary file beside `target` with `text` and `mode`, renamed over it.
fn replace_atomically(target: &Path, text: &str, mode: u32) -> Result<(), Error> {
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
    let mut file = tempfile::Builder::new()
        .prefix(".vegas-config-")
        .tempfile_in(dir)
        .map_err(|e| write_error(dir, e))?;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .and_then(|_| file.write_all(text.as_bytes()))
        .and_then(|_| file.as_file().sync_all())
        .map_err(|e| write_error(target, e))?;
    file.persist(target)
        .map_err(|e| write_error(target, e.error))?;
    Ok(())
}

/// `\r\n` when the file uses it, else `\n`.
fn line_ending(text: &str) -> &'static str {
    if text.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    }
}

/// Lines with their endings, so that joining them gives the text back.
fn split_lines(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_owned).collect()
}

/// The profile a section header line names: `[profile NAME]` → NAME,
/// `[default]` → default.
fn header_profile(line: &str) -> Option<String> {
    let inner = line.trim().strip_prefix('[')?.split(']').next()?.trim();
    if inner == "default" {
        return Some(inner.to_owned());
    }
    let rest = inner.strip_prefix("profile")?;
    rest.starts_with(char::is_whitespace)
        .then(|| rest.trim().to_owned())
}

fn is_header(line: &str) -> bool {
    line.trim_start().starts_with('[')
}

/// The section of `profile`: its header's index and the index after its end.
fn section_range(lines: &[String], profile: &str) -> Option<(usize, usize)> {
    let start = lines
        .iter()
        .position(|l| is_header(l) && header_profile(l).as_deref() == Some(profile))?;
    let end = lines
        .iter()
        .skip(start + 1)
        .position(|l| is_header(l))
        .map_or(lines.len(), |i| start + 1 + i);
    Some((start, end))
}

/// The key of a `key = value` line (not a comment, not a nested setting).
fn setting_key(line: &str) -> Option<&str> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    let trimmed = line.trim();
    if trimmed.starts_with('#') || trimmed.starts_with(';') {
        return None;
    }
    let (key, _) = trimmed.split_once('=')?;
    Some(key.trim())
}

/// The index of the section's last line that is not blank or a comment
/// (the header itself when there is none).
fn last_setting(lines: &[String], start: usize, end: usize) -> usize {
    (start + 1..end)
        .rev()
        .find(|&i| {
            lines.get(i).is_some_and(|l| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with('#') && !t.starts_with(';')
            })
        })
        .unwrap_or(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
# my AWS config; hands off
[default]
region = eu-west-1

[profile src]   # long-term keys
region = eu-central-1 ; inline
output = json
  # an indented comment

# about work
[profile work]
credential_process = something
";

    #[test]
    fn a_new_key_goes_after_the_sections_last_setting_and_nothing_else_moves() {
        let after = set_in_profile(CONFIG, "src", &[("mfa_serial", "arn:aws:iam::1:mfa/x")]);
        let expected = CONFIG.replace(
            "output = json\n",
            "output = json\nmfa_serial = arn:aws:iam::1:mfa/x\n",
        );
        assert_eq!(after, expected);
    }

    #[test]
    fn an_existing_key_is_replaced_in_place() {
        let after = set_in_profile(CONFIG, "src", &[("region", "us-east-1")]);
        assert_eq!(
            after,
            CONFIG.replace("region = eu-central-1 ; inline", "region = us-east-1")
        );
    }

    #[test]
    fn a_missing_section_is_appended_after_a_blank_line() {
        let after = set_in_profile(CONFIG, "new", &[("a", "1"), ("b", "2")]);
        assert_eq!(after, format!("{CONFIG}\n[profile new]\na = 1\nb = 2\n"));
        assert_eq!(
            append_profile("", "default", &[("a", "1")]),
            "[default]\na = 1\n"
        );
    }

    #[test]
    fn crlf_files_stay_crlf_and_a_last_line_without_newline_gets_one() {
        let text = "[profile src]\r\nregion = x";
        assert_eq!(
            set_in_profile(text, "src", &[("k", "v")]),
            "[profile src]\r\nregion = x\r\nk = v\r\n"
        );
    }

    #[test]
    fn the_default_profile_and_spaced_headers_are_found() {
        assert!(has_profile_section(CONFIG, "default"));
        assert!(has_profile_section("[ profile  src ]\n", "src"));
        assert!(!has_profile_section("[profilesrc]\n", "src"));
    }

    #[test]
    fn the_diff_shows_only_the_added_line() {
        let after = set_in_profile(CONFIG, "src", &[("mfa_serial", "m")]);
        let diff = diff(Path::new("config"), CONFIG, &after);
        let changed: Vec<&str> = diff
            .lines()
            .filter(|l| {
                (l.starts_with('+') || l.starts_with('-'))
                    && !l.starts_with("+++")
                    && !l.starts_with("---")
            })
            .collect();
        assert_eq!(changed, ["+mfa_serial = m"]);
    }

    #[test]
    fn the_diff_masks_credentials_kept_in_the_config_file() {
        let text = "[profile src]\r\naws_access_key_id = AKIAEXAMPLEKEY\r\n\
                    aws_secret_access_key=wJalrSECRETvalue\r\n\
                    AWS_SESSION_TOKEN = tokenSECRET\r\n\
                    aws_security_token = legacySECRET\r\n";
        let after = set_in_profile(text, "src", &[("mfa_serial", "m")]);
        let diff = diff(Path::new("config"), text, &after);
        for secret in [
            "AKIAEXAMPLEKEY",
            "wJalrSECRETvalue",
            "tokenSECRET",
            "legacySECRET",
        ] {
            assert!(!diff.contains(secret), "{diff}");
        }
        assert!(diff.contains(" aws_security_token = ****\r\n"), "{diff}");
        assert!(diff.contains(" AWS_SESSION_TOKEN = ****\r\n"), "{diff}");
        assert!(diff.contains("+mfa_serial = m"), "{diff}");
    }

    #[test]
    fn apply_keeps_a_private_backup_and_the_mode_and_undo_restores_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, CONFIG).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let edit = ConfigEdit {
            path: path.clone(),
            before: ConfigEdit::read(&path).unwrap(),
            after: set_in_profile(CONFIG, "src", &[("k", "v")]),
        };
        let written = edit.apply().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), edit.after);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o640);
        let backup = written.backup.clone().unwrap();
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), CONFIG);
        assert_eq!(mode(&backup), 0o600);
        edit.undo(&written).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), CONFIG);
        assert!(!backup.exists());
    }

    #[test]
    fn apply_refuses_a_file_changed_since_the_plan() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, "[default]\n").unwrap();
        let edit = ConfigEdit {
            path: path.clone(),
            before: Some("something else".into()),
            after: String::new(),
        };
        assert!(matches!(edit.apply(), Err(Error::ChangedMeanwhile { .. })));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[default]\n");
    }
}
