//! `vegas config show-profile P`: the resolved profile, each value with the
//! place it came from, and for a chained profile the chain down to the
//! long-term keys. Nothing here is secret (no keys are read).

use std::io::Write;

use crate::cli::ConfigCommand;
use crate::config::{Files, Origin, Profile};
use crate::ui::Ui;
use crate::Error;

pub fn run(cmd: &ConfigCommand, _ui: &dyn Ui, out: &mut dyn Write) -> Result<(), Error> {
    match cmd {
        ConfigCommand::ShowProfile { profile, json } => {
            let files = Files::load()?;
            let resolved = files.resolve(profile)?;
            let rows = rows(&resolved);
            let text = if *json {
                to_json(&resolved.name, &rows)
            } else {
                to_table(&rows)
            };
            super::emit(out, &text)
        }
    }
}

/// (key, value, origin) for every setting, absent optional ones included.
fn rows(p: &Profile) -> Vec<(&'static str, String, String)> {
    fn row<T: ToString>(
        key: &'static str,
        s: &crate::config::Sourced<T>,
    ) -> (&'static str, String, String) {
        (key, s.value.to_string(), s.origin.to_string())
    }
    fn opt<T: ToString>(
        key: &'static str,
        s: &Option<crate::config::Sourced<T>>,
    ) -> (&'static str, String, String) {
        match s {
            Some(s) => row(key, s),
            None => (key, String::new(), Origin::Default("not set").to_string()),
        }
    }
    let mut duration = row("duration_seconds", &p.duration_seconds);
    if p.is_chained() && p.duration_seconds.value > crate::flow::ROLE_CHAIN_MAX_DURATION {
        duration.2.push_str(&format!(
            "; clamped to {} (role chain)",
            crate::flow::ROLE_CHAIN_MAX_DURATION
        ));
    }
    let mut rows = vec![
        row("vegas_role_arn", &p.role_arn),
        row("vegas_source_profile", &p.source_profile),
    ];
    if p.is_chained() {
        rows.push((
            "role_chain",
            p.chain_names().join(" → "),
            "vegas_source_profile of each profile; the first hop carries the MFA".to_string(),
        ));
    }
    rows.extend([
        row("mfa_serial", &p.mfa_serial),
        duration,
        row("role_session_name", &p.role_session_name),
        opt("external_id", &p.external_id),
        row("region", &p.region),
        opt("endpoint_url", &p.endpoint_url),
        opt("vegas_yubikey_serial", &p.yubikey_serial),
        row("vegas_yubikey_label", &p.yubikey_label),
        row("vegas_mfa_timeout", &p.mfa_timeout),
        (
            "vegas_yubikey_backend",
            p.yubikey_backend.value.as_str().to_string(),
            p.yubikey_backend.origin.to_string(),
        ),
        row("vegas_mfa_session", &p.mfa_session),
        row("vegas_mfa_session_duration", &p.mfa_session_duration),
    ]);
    rows
}

fn to_table(rows: &[(&str, String, String)]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|(k, v, o)| vec![(*k).to_owned(), v.clone(), o.clone()])
        .collect();
    super::table::render_rows(&rows)
}

fn to_json(name: &str, rows: &[(&str, String, String)]) -> String {
    let settings: serde_json::Map<String, serde_json::Value> = rows
        .iter()
        .map(|(k, v, o)| {
            let value = if v.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::Value::String(v.clone())
            };
            (
                k.to_string(),
                serde_json::json!({ "value": value, "origin": o }),
            )
        })
        .collect();
    let mut text = serde_json::json!({ "profile": name, "settings": settings }).to_string();
    text.push('\n');
    text
}
