//! `vegas oath keys|list|code`: the YubiKey's OATH accounts, for checking a
//! setup and for the occasional code by hand. Output follows ykman where
//! ykman has a format (`oath accounts code`), so habits carry over.

use std::io::Write;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use zeroize::Zeroizing;

use crate::cli::{KeySelection, OathAccess, OathCommand};
use crate::commands::{emit, table};
use crate::oath::{
    self, account::search, Account, AccountCode, KeyInfo, KeySelector, OathType, PcscTransport,
    Session,
};
use crate::totp::yubikey::{announce_touch_after, TOUCH_NOTICE_AFTER};
use crate::ui::{oath_password, NoPassword, PasswordFrom, Ui};
use crate::Error;

/// What a person waiting on a touch account sees.
pub const TOUCH_NOTICE: &str = "Touch your YubiKey…";

pub fn run(cmd: &OathCommand, ui: &dyn Ui, out: &mut dyn Write) -> Result<(), Error> {
    match cmd {
        OathCommand::Keys { json } => keys(*json, out),
        OathCommand::List(access) => list(access, ui, out),
        OathCommand::Code { query, access } => code(query.as_deref(), access, ui, out),
    }
}

impl From<&KeySelection> for KeySelector {
    fn from(selection: &KeySelection) -> Self {
        KeySelector {
            serial: selection.serial,
            reader: selection
                .reader
                .clone()
                .or_else(crate::platform::reader_from_env),
        }
    }
}

/// `vegas oath keys`: every key found, whatever the selection flags.
fn keys(json: bool, out: &mut dyn Write) -> Result<(), Error> {
    let infos: Vec<KeyInfo> = oath::find_keys(&KeySelector::default())?
        .into_iter()
        .map(|(info, _)| info)
        .collect();
    if json {
        let rows: Vec<KeyJson> = infos.iter().map(KeyJson::from).collect();
        return emit_json(out, &rows);
    }
    let rows: Vec<Vec<String>> = infos
        .iter()
        .map(|k| {
            vec![
                k.reader.clone(),
                k.serial.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                k.firmware().to_string(),
                if k.locked { "set" } else { "not set" }.to_owned(),
            ]
        })
        .collect();
    emit(
        out,
        &table::render(&["READER", "SERIAL", "FIRMWARE", "PASSWORD"], &rows),
    )
}

#[derive(Serialize)]
struct KeyJson<'a> {
    reader: &'a str,
    serial: Option<u32>,
    firmware: String,
    /// The OATH applet's own version (the firmware's, but on a NEO).
    oath_version: String,
    device_id: &'a str,
    password: bool,
}

impl<'a> From<&'a KeyInfo> for KeyJson<'a> {
    fn from(k: &'a KeyInfo) -> Self {
        KeyJson {
            reader: &k.reader,
            serial: k.serial,
            firmware: k.firmware().to_string(),
            oath_version: k.version.to_string(),
            device_id: &k.device_id,
            password: k.locked,
        }
    }
}

/// `vegas oath list`: the accounts with all that can be known without a touch.
fn list(access: &OathAccess, ui: &dyn Ui, out: &mut dyn Write) -> Result<(), Error> {
    let (_, mut session) = open_unlocked(access, ui)?;
    let mut accounts = session.accounts(SystemTime::now())?;
    accounts.retain(|a| !a.is_hidden());
    accounts.sort_by_key(Account::sort_key);
    if access.json {
        let rows: Vec<AccountJson> = accounts.iter().map(AccountJson::from).collect();
        return emit_json(out, &rows);
    }
    let unknown = || "-".to_owned();
    let rows: Vec<Vec<String>> = accounts
        .iter()
        .map(|a| {
            vec![
                a.id.text(),
                a.issuer.clone().unwrap_or_else(unknown),
                a.name.clone(),
                a.oath_type.as_str().to_owned(),
                a.algorithm.map_or_else(unknown, |x| x.as_str().to_owned()),
                a.digits.map_or_else(unknown, |d| d.to_string()),
                a.period.map_or_else(unknown, |p| p.to_string()),
                a.touch
                    .map_or_else(unknown, |t| if t { "yes" } else { "no" }.to_owned()),
            ]
        })
        .collect();
    let header = [
        "ID",
        "ISSUER",
        "NAME",
        "TYPE",
        "ALGORITHM",
        "DIGITS",
        "PERIOD",
        "TOUCH",
    ];
    emit(out, &table::render(&header, &rows))
}

#[derive(Serialize)]
struct AccountJson {
    id: String,
    issuer: Option<String>,
    name: String,
    #[serde(rename = "type")]
    oath_type: &'static str,
    algorithm: Option<&'static str>,
    digits: Option<u8>,
    period: Option<u32>,
    touch: Option<bool>,
}

impl From<&Account> for AccountJson {
    fn from(a: &Account) -> Self {
        AccountJson {
            id: a.id.text(),
            issuer: a.issuer.clone(),
            name: a.name.clone(),
            oath_type: a.oath_type.as_str(),
            algorithm: a.algorithm.map(|x| x.as_str()),
            digits: a.digits,
            period: a.period,
            touch: a.touch,
        }
    }
}

/// `vegas oath code [QUERY]`: as ykman, an exact id wins, else a
/// case-insensitive part of ids. HOTP and touch accounts are calculated only
/// when QUERY selects exactly that one account.
fn code(
    query: Option<&str>,
    access: &OathAccess,
    ui: &dyn Ui,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let (_, mut session) = open_unlocked(access, ui)?;
    // Accounts QUERY cannot show are not worth an APDU each.
    let wanted = |a: &Account| query.is_none_or(|q| a.matches_query(q));
    let mut entries = session.calculate_all_where(SystemTime::now(), wanted)?;
    entries.sort_by_key(|e| e.account.sort_key());
    let hits = search(&entries, query, |e| &e.account);
    let single = match (query, hits.as_slice()) {
        (Some(query), []) => {
            return Err(oath::Error::NoMatchingAccount {
                query: query.to_owned(),
            }
            .into())
        }
        (Some(_), [only]) => Some(calculate_single(&mut session, only, ui)?),
        _ => None,
    };
    let shown: Vec<AccountCode> = match single {
        Some(entry) => vec![entry],
        None => hits.into_iter().cloned().collect(),
    };
    if access.json {
        let rows: Vec<CodeJson> = shown.iter().map(CodeJson::from).collect();
        return emit_json(out, &rows);
    }
    emit(out, &code_lines(&shown))
}

/// The one account QUERY chose, with its code even if HOTP or touch.
fn calculate_single(
    session: &mut Session<PcscTransport>,
    entry: &AccountCode,
    ui: &dyn Ui,
) -> Result<AccountCode, Error> {
    if entry.code.is_some() {
        return Ok(entry.clone());
    }
    // An HOTP account's touch setting is unknown (CALCULATE ALL does not
    // tell it): say "touch" only if its CALCULATE keeps us waiting, as ykman.
    let notice_after = match entry.account.touch {
        Some(true) => Duration::ZERO,
        Some(false) => Duration::MAX,
        None => TOUCH_NOTICE_AFTER,
    };
    let now = SystemTime::now();
    let code = announce_touch_after(notice_after, &|| ui.notice(TOUCH_NOTICE), || {
        session.calculate(&entry.account, now)
    })?;
    Ok(AccountCode {
        account: entry.account.clone(),
        code: Some(code),
    })
}

/// ykman's layout: ids left-aligned, codes right-aligned, two spaces between.
fn code_lines(entries: &[AccountCode]) -> Zeroizing<String> {
    let cells: Vec<(String, Zeroizing<String>)> = entries
        .iter()
        .map(|e| {
            let code = match (&e.code, e.account.touch, e.account.oath_type) {
                (Some(code), _, _) => code.expose().to_owned(),
                (None, Some(true), _) => "[Requires Touch]".to_owned(),
                (None, _, OathType::Hotp) => "[HOTP Account]".to_owned(),
                (None, _, OathType::Totp) => String::new(),
            };
            (e.account.id.text(), Zeroizing::new(code))
        })
        .collect();
    let id_width = cells
        .iter()
        .map(|(id, _)| id.chars().count())
        .max()
        .unwrap_or(0);
    let code_width = cells
        .iter()
        .map(|(_, code)| code.chars().count())
        .max()
        .unwrap_or(0);
    let mut text = Zeroizing::new(String::new());
    for (id, code) in &cells {
        text.push_str(&format!(
            "{id:<id_width$}  {:>code_width$}\n",
            code.as_str()
        ));
    }
    text
}

#[derive(Serialize)]
struct CodeJson<'a> {
    id: String,
    #[serde(rename = "type")]
    oath_type: &'static str,
    touch: Option<bool>,
    code: Option<&'a str>,
    valid_from: Option<u64>,
    valid_to: Option<u64>,
}

impl<'a> From<&'a AccountCode> for CodeJson<'a> {
    fn from(e: &'a AccountCode) -> Self {
        CodeJson {
            id: e.account.id.text(),
            oath_type: e.account.oath_type.as_str(),
            touch: e.account.touch,
            code: e.code.as_ref().map(|c| c.expose()),
            valid_from: e.code.as_ref().and_then(|c| c.valid_from()),
            valid_to: e.code.as_ref().and_then(|c| c.valid_to()),
        }
    }
}

/// Find the key and, if it has a password, unlock it with the password from
/// stdin (`--password-stdin`) or asked on the terminal. One try: a wrong
/// password is an error, not a loop.
///
/// A password on stdin is read before the key is opened: the card is held
/// from the SELECT to the end of the command (one transaction), and must
/// not be held while stdin is waited on (a password manager feeding it may
/// need the card itself, through GnuPG). A person is asked with the card
/// let go, and SELECT and VALIDATE follow afresh.
pub(crate) fn open_unlocked(
    access: &OathAccess,
    ui: &dyn Ui,
) -> Result<(KeyInfo, Session<PcscTransport>), Error> {
    let from_stdin = access.password_stdin.then(|| {
        oath_password(
            PasswordFrom::FirstLineOf(&mut std::io::stdin().lock()),
            "the YubiKey",
        )
    });
    let (info, mut session) = oath::open_key(&KeySelector::from(&access.key))?;
    if session.has_password() {
        match from_stdin {
            Some(read) => {
                let password = read.map_err(password_error)?;
                session.unlock_with_key(&session.derive_key(&password))?;
            }
            None => {
                // Other programs may use the card while the person types.
                session.release();
                let password = password(PasswordFrom::Person(ui), &info)?;
                session.unlock_afresh(&session.derive_key(&password))?;
            }
        }
    }
    Ok((info, session))
}

/// The key's OATH password (see [`oath_password`]), or the error that says
/// how to give it.
fn password(from: PasswordFrom<'_>, info: &KeyInfo) -> Result<Zeroizing<String>, Error> {
    oath_password(from, &format!("YubiKey {}", info.label())).map_err(password_error)
}

fn password_error(e: NoPassword) -> Error {
    match e {
        NoPassword::NoWayToAsk => oath::Error::PasswordRequired,
        NoPassword::Unreadable(e) => oath::Error::PasswordInput(e),
    }
    .into()
}

fn emit_json(out: &mut dyn Write, value: &impl Serialize) -> Result<(), Error> {
    let mut text =
        Zeroizing::new(serde_json::to_string_pretty(value).map_err(|e| Error::Output(e.into()))?);
    text.push('\n');
    emit(out, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oath::{AccountId, Code, TimeStep};

    fn entry(id: &str, oath_type: OathType, touch: bool, code: Option<&str>) -> AccountCode {
        let mut account = Account::new(AccountId::new(id), oath_type);
        account.touch = Some(touch);
        let code = code.map(|c| {
            let value: u32 = c.parse().unwrap();
            Code::from_truncated(
                value.to_be_bytes(),
                c.len() as u8,
                Some(TimeStep::at(0, 30)),
            )
            .unwrap()
        });
        AccountCode { account, code }
    }

    #[test]
    fn code_lines_align_like_ykman() {
        let entries = vec![
            entry("AWS:alice", OathType::Totp, false, Some("012345")),
            entry("Ex:counter", OathType::Hotp, false, None),
            entry("touchy", OathType::Totp, true, None),
        ];
        let text = code_lines(&entries);
        assert_eq!(
            text.as_str(),
            "AWS:alice             012345\nEx:counter    [HOTP Account]\ntouchy      [Requires Touch]\n"
        );
    }

    #[test]
    fn code_json_carries_validity_for_totp() {
        let e = entry("AWS:alice", OathType::Totp, false, Some("012345"));
        let json = serde_json::to_value(CodeJson::from(&e)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": "AWS:alice", "type": "TOTP", "touch": false, "code": "012345", "valid_from": 0, "valid_to": 30})
        );
    }

    #[test]
    fn password_prompt_without_a_terminal_is_an_error_with_a_hint() {
        use crate::hint::Hint;
        let info = KeyInfo {
            reader: "R".into(),
            serial: Some(42),
            version: oath::Version(5, 4, 3),
            firmware: None,
            device_id: String::new(),
            locked: true,
        };
        let err = password(PasswordFrom::Person(&crate::ui::Silent), &info).unwrap_err();
        assert!(
            matches!(err, Error::Oath(oath::Error::PasswordRequired)),
            "{err:?}"
        );
        assert!(err.hint().contains("--password-stdin"), "{}", err.hint());
    }
}
