//! `vegas cache list` and `vegas cache clean [--profile P]`. The listing
//! shows what each row was issued for and when it expires, never a key: role
//! credentials first, then, apart, the MFA sessions they may be assumed with.

use std::io::Write;
use std::path::PathBuf;

use crate::cache::{self, Cache, EntryInfo, SecretInfo, SecretKind};
use crate::cli::CacheCommand;
use crate::credentials::format_unix_rfc3339;
use crate::platform::unix_now;
use crate::ui::Ui;
use crate::Error;

pub fn run(cmd: &CacheCommand, ui: &dyn Ui, out: &mut dyn Write) -> Result<(), Error> {
    let dir = cache_dir()?;
    let now = unix_now();
    match cmd {
        CacheCommand::List { json } => {
            // Listing an absent cache is not an error, and must not create one.
            if !dir.join(cache::DB_FILE_NAME).exists() {
                return super::emit(out, if *json { "[]\n" } else { "" });
            }
            let cache = open(&dir, ui)?;
            let entries = cache.list(now)?;
            let sessions = cache.list_mfa_sessions(now)?;
            let text = if *json {
                to_json(&entries, &sessions, now)
            } else {
                to_tables(&entries, &sessions, now)
            };
            super::emit(out, &text)
        }
        CacheCommand::Clean { profile } => {
            // No database (never made, set aside, deleted, a dangling link):
            // what lives beside it still goes.
            if std::fs::symlink_metadata(dir.join(cache::DB_FILE_NAME)).is_err() {
                let mut removed = cache::remove_set_aside_copies(&dir).unwrap_or(0);
                if profile.is_none() {
                    removed += cache::forget_remembered_access_keys(&dir)?;
                }
                ui.notice(&match removed {
                    0 => "Nothing cached.".to_string(),
                    n => format!("Removed {n} set-aside cop(ies) or remembered key(s)."),
                });
                return Ok(());
            }
            let cache = open(&dir, ui)?;
            let removed = cache.remove(profile.as_deref())?;
            cache.remove_set_aside_copies()?;
            let what = match profile {
                Some(p) => format!("profile {p}"),
                None => "all profiles".to_string(),
            };
            ui.notice(&format!(
                "Removed {removed} cached entr{} ({what}).",
                if removed == 1 { "y" } else { "ies" }
            ));
            Ok(())
        }
    }
}

fn cache_dir() -> Result<PathBuf, Error> {
    crate::platform::cache_dir()
        .map_err(|e| Error::Cache(e.into()))?
        .ok_or(Error::Cache(cache::Error::NoDirectory))
}

fn open(dir: &std::path::Path, ui: &dyn Ui) -> Result<Cache, Error> {
    let (cache, warnings) = Cache::open(dir)?;
    for w in warnings {
        ui.warn(&w.to_string());
    }
    Ok(cache)
}

/// `1h 05m`, `12m`, `40s`.
fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match (s / 3600, (s % 3600) / 60) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m"),
        (h, m) => format!("{h}h {m:02}m"),
    }
}

/// The role credentials, then the MFA sessions in a table of their own;
/// a table with no rows is left out.
fn to_tables(entries: &[EntryInfo], sessions: &[SecretInfo], now: i64) -> String {
    let roles = entries.iter().map(|e| {
        vec![
            e.profile.clone(),
            e.role_arn.clone(),
            e.mfa_serial.clone(),
            format_unix_rfc3339(e.expires_at),
            human_duration(e.expires_at - now),
        ]
    });
    let sessions = sessions.iter().map(|s| {
        vec![
            s.subject.profile.clone(),
            s.subject.mfa_serial.clone(),
            format_unix_rfc3339(s.expires_at),
            human_duration(s.expires_at - now),
        ]
    });
    let tables = [
        table(&["PROFILE", "ROLE", "MFA DEVICE", "EXPIRES", "IN"], roles),
        table(&["MFA SESSION", "MFA DEVICE", "EXPIRES", "IN"], sessions),
    ];
    tables.into_iter().flatten().collect::<Vec<_>>().join("\n")
}

/// A table under `header`; `None` when there are no rows.
fn table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Option<String> {
    let rows: Vec<Vec<String>> = rows.collect();
    (!rows.is_empty()).then(|| super::table::render(header, &rows))
}

/// One list: role credentials (`"kind": "role"`) then MFA sessions
/// (`"kind": "mfa-session"`).
fn to_json(entries: &[EntryInfo], sessions: &[SecretInfo], now: i64) -> String {
    let roles = entries.iter().map(|e| {
        serde_json::json!({
            "kind": "role",
            "profile": e.profile,
            "role_arn": e.role_arn,
            "mfa_serial": e.mfa_serial,
            "created_at": format_unix_rfc3339(e.created_at),
            "expires_at": format_unix_rfc3339(e.expires_at),
            "expires_in_seconds": (e.expires_at - now).max(0),
        })
    });
    let sessions = sessions.iter().map(|s| {
        serde_json::json!({
            "kind": SecretKind::MfaSession.as_str(),
            "source_profile": s.subject.profile,
            "mfa_serial": s.subject.mfa_serial,
            "created_at": format_unix_rfc3339(s.created_at),
            "expires_at": format_unix_rfc3339(s.expires_at),
            "expires_in_seconds": (s.expires_at - now).max(0),
        })
    });
    let mut text = serde_json::Value::Array(roles.chain(sessions).collect()).to_string();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(human_duration(40), "40s");
        assert_eq!(human_duration(12 * 60 + 5), "12m");
        assert_eq!(human_duration(3600 + 5 * 60), "1h 05m");
        assert_eq!(human_duration(-5), "0s");
    }

    #[test]
    fn mfa_sessions_are_listed_in_a_table_of_their_own() {
        let role = EntryInfo {
            profile: "admin".into(),
            role_arn: "arn:aws:iam::222222222222:role/Admin".into(),
            mfa_serial: "arn:aws:iam::111111111111:mfa/alice".into(),
            created_at: 0,
            expires_at: 3600,
        };
        let session = SecretInfo {
            subject: cache::SecretSubject {
                profile: "src".into(),
                mfa_serial: "arn:aws:iam::111111111111:mfa/alice".into(),
            },
            created_at: 0,
            expires_at: 43_200,
        };
        let text = to_tables(
            std::slice::from_ref(&role),
            std::slice::from_ref(&session),
            0,
        );
        let (roles, sessions) = text.split_once("\n\n").expect("two tables");
        assert!(
            roles.starts_with("PROFILE") && roles.contains("admin"),
            "{text}"
        );
        assert!(sessions.starts_with("MFA SESSION"), "{text}");
        assert!(
            sessions.contains("src  ") && sessions.contains("12h 00m"),
            "{text}"
        );
        assert!(!sessions.contains("0123"), "the hash is not shown: {text}");
        assert_eq!(to_tables(&[role], &[], 0).matches("PROFILE").count(), 1);
        assert!(to_tables(&[], &[session], 0).starts_with("MFA SESSION"));
        assert_eq!(to_tables(&[], &[], 0), "");
    }
}
