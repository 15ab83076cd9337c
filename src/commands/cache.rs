//! `vegas cache list` and `vegas cache clean [--profile P]`. The listing
//! shows what each row was issued for and when it expires, never a key.

use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cache::{self, Cache, EntryInfo};
use crate::cli::CacheCommand;
use crate::credentials::format_unix_rfc3339;
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
            let entries = open(&dir, ui)?.list(now)?;
            let text = if *json {
                to_json(&entries, now)
            } else {
                to_table(&entries, now)
            };
            super::emit(out, &text)
        }
        CacheCommand::Clean { profile } => {
            if !dir.join(cache::DB_FILE_NAME).exists() {
                ui.notice("Nothing cached.");
                return Ok(());
            }
            let removed = open(&dir, ui)?.remove(profile.as_deref())?;
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
    crate::cli::default_cache_dir().ok_or(Error::Cache(cache::Error::NoDirectory))
}

fn open(dir: &std::path::Path, ui: &dyn Ui) -> Result<Cache, Error> {
    let (cache, warnings) = Cache::open(dir)?;
    for w in warnings {
        ui.warn(&w.to_string());
    }
    Ok(cache)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
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

fn to_table(entries: &[EntryInfo], now: i64) -> String {
    let mut rows = vec![[
        "PROFILE".to_string(),
        "ROLE".to_string(),
        "MFA DEVICE".to_string(),
        "EXPIRES".to_string(),
        "IN".to_string(),
    ]];
    rows.extend(entries.iter().map(|e| {
        [
            e.profile.clone(),
            e.role_arn.clone(),
            e.mfa_serial.clone(),
            format_unix_rfc3339(e.expires_at),
            human_duration(e.expires_at - now),
        ]
    }));
    let mut widths = [0usize; 5];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            format!("{}\n", cells.join("  ").trim_end())
        })
        .collect()
}

fn to_json(entries: &[EntryInfo], now: i64) -> String {
    let list: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            serde_json::json!({
                "profile": e.profile,
                "role_arn": e.role_arn,
                "mfa_serial": e.mfa_serial,
                "created_at": format_unix_rfc3339(e.created_at),
                "expires_at": format_unix_rfc3339(e.expires_at),
                "expires_in_seconds": (e.expires_at - now).max(0),
            })
        })
        .collect();
    let mut text = serde_json::Value::Array(list).to_string();
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
}
