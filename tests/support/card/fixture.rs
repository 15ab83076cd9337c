//! Cards described in JSON (fixtures/cards/*.json), so demos and tests share
//! account sets. Secrets are base32, as users see them in an otpauth URI.
//!
//! ```json
//! { "serial": 12345678, "firmware": "5.7.2", "password": "optional",
//!   "accounts": [ { "issuer": "AWS", "name": "alice", "secret": "JBSWY3DPEHPK3PXP",
//!                   "type": "totp", "algorithm": "SHA1", "digits": 6, "period": 30,
//!                   "touch": false, "counter": 0 } ] }
//! ```
//! Everything but `serial`, `name` and `secret` has the default shown.

use super::account::{decode_base32, Account, Algorithm, OathKind};
use super::VirtualYubiKey;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CardFile {
    serial: u32,
    #[serde(default = "default_firmware")]
    firmware: String,
    password: Option<String>,
    #[serde(default)]
    accounts: Vec<AccountEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountEntry {
    issuer: Option<String>,
    name: String,
    secret: String,
    #[serde(rename = "type", default = "default_type")]
    kind: String,
    #[serde(default = "default_algorithm")]
    algorithm: String,
    #[serde(default = "default_digits")]
    digits: u8,
    #[serde(default = "default_period")]
    period: u32,
    #[serde(default)]
    touch: bool,
    /// The account is corrupted: its calculations answer 6581.
    #[serde(default)]
    broken: bool,
    #[serde(default)]
    counter: u32,
}

fn default_firmware() -> String {
    "5.7.2".to_owned()
}
fn default_type() -> String {
    "totp".to_owned()
}
fn default_algorithm() -> String {
    "SHA1".to_owned()
}
fn default_digits() -> u8 {
    6
}
fn default_period() -> u32 {
    30
}

/// `fixtures/cards/NAME.json` in this repository.
pub fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/cards")
        .join(format!("{name}.json"))
}

/// Reads a card file; the error says what is wrong in it.
pub fn load(path: &Path) -> Result<VirtualYubiKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let file: CardFile = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let mut card = VirtualYubiKey::new(file.serial).with_version(parse_firmware(&file.firmware)?);
    for entry in file.accounts {
        card = card.with_account(account(entry)?);
    }
    if let Some(password) = file.password {
        card = card.with_password(&password);
    }
    Ok(card)
}

fn parse_firmware(text: &str) -> Result<[u8; 3], String> {
    let parts: Vec<u8> = text
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| format!("firmware {text:?} is not like 5.7.2"))?;
    parts
        .try_into()
        .map_err(|_| format!("firmware {text:?} is not like 5.7.2"))
}

fn account(entry: AccountEntry) -> Result<Account, String> {
    let context = |e: String| format!("account {:?}: {e}", entry.name);
    let secret = decode_base32(&entry.secret).map_err(context)?;
    let algorithm = Algorithm::from_name(&entry.algorithm)
        .ok_or_else(|| context(format!("unknown algorithm {:?}", entry.algorithm)))?;
    let kind = match entry.kind.as_str() {
        "totp" => OathKind::Totp {
            period: entry.period,
        },
        "hotp" => OathKind::Hotp {
            counter: entry.counter,
        },
        other => return Err(context(format!("type {other:?} is neither totp nor hotp"))),
    };
    if !(6..=8).contains(&entry.digits) {
        return Err(context(format!(
            "{} digits; a YubiKey shows 6 to 8",
            entry.digits
        )));
    }
    Ok(Account {
        issuer: entry.issuer,
        name: entry.name,
        secret,
        kind,
        algorithm,
        digits: entry.digits,
        touch: entry.touch,
        broken: entry.broken,
    })
}
