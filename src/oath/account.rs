//! OATH accounts as the card names them: the id `[period/][issuer:]name`, the
//! type (TOTP/HOTP) and the hash algorithm.
//!
//! Ids are parsed and formatted exactly as ykman does (yubikit/oath.py,
//! `_parse_cred_id` / `_format_cred_id`), so an account vegas shows has the id
//! `ykman oath accounts list` shows, and a `vegas_yubikey_label` copied from
//! ykman names the same account.

use super::code::DEFAULT_PERIOD;
use super::Error;

/// Time-based or counter-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OathType {
    Hotp,
    Totp,
}

impl OathType {
    /// From the high nibble of a LIST entry's first byte (`1x` HOTP, `2x` TOTP).
    pub fn from_nibble(byte: u8) -> Option<Self> {
        match byte & 0xF0 {
            0x10 => Some(OathType::Hotp),
            0x20 => Some(OathType::Totp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OathType::Hotp => "HOTP",
            OathType::Totp => "TOTP",
        }
    }
}

/// The HMAC hash of an account (and of the access key, tag `7B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// From the low nibble (`x1` SHA-1, `x2` SHA-256, `x3` SHA-512).
    pub fn from_nibble(byte: u8) -> Option<Self> {
        match byte & 0x0F {
            0x01 => Some(Algorithm::Sha1),
            0x02 => Some(Algorithm::Sha256),
            0x03 => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }
}

/// An account id as stored on the card (its bytes are what CALCULATE sends
/// back). Shown as UTF-8; ykman assumes UTF-8 too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(Vec<u8>);

impl AccountId {
    pub fn new(id: &str) -> Self {
        AccountId(id.as_bytes().to_vec())
    }

    pub fn from_bytes(bytes: &[u8]) -> Self {
        AccountId(bytes.to_vec())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The id as text (invalid UTF-8 shown as U+FFFD).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }

    /// `[period/][issuer:]name`: the period only for TOTP with a period
    /// other than 30, the issuer only when not empty.
    pub fn format(issuer: Option<&str>, name: &str, oath_type: OathType, period: u32) -> Self {
        let mut id = String::new();
        if oath_type == OathType::Totp && period != DEFAULT_PERIOD {
            id.push_str(&format!("{period}/"));
        }
        if let Some(issuer) = issuer.filter(|i| !i.is_empty()) {
            id.push_str(issuer);
            id.push(':');
        }
        id.push_str(name);
        AccountId::new(&id)
    }

    /// Split the id into issuer, name and period, as ykman does for an
    /// account of `oath_type`. The period is `None` for HOTP.
    pub fn parts(&self, oath_type: OathType) -> IdParts {
        let text = self.text();
        match oath_type {
            OathType::Totp => parse_totp_id(&text),
            OathType::Hotp => parse_hotp_id(&text),
        }
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

/// What an id says about its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdParts {
    pub issuer: Option<String>,
    pub name: String,
    /// TOTP period in seconds; `None` for HOTP.
    pub period: Option<u32>,
}

/// ykman matches TOTP ids with the Python regex `^((\d+)/)?(([^:]+):)?(.+)$`
/// and, when it does not match, takes the whole id as the name. This follows
/// that regex by hand, backtracking included:
/// * the period is the run of digits before the first `/`, kept only if an
///   issuer/name follows;
/// * the issuer is everything before the first `:`, kept only if it is not
///   empty and a name follows;
/// * the name (Python's `.+$`) may not contain a line break, except one at
///   the very end, which is dropped.
///
/// Two deliberate differences: only ASCII digits count (Python's `\d` takes
/// any Unicode digit), and a period of 0 or beyond `u32` is not taken as a
/// period (ykman would take it and then fail to compute).
fn parse_totp_id(id: &str) -> IdParts {
    let with_period = id.split_once('/').and_then(|(digits, rest)| {
        let period = parse_period(digits)?;
        let (issuer, name) = split_issuer(rest)?;
        Some(IdParts {
            issuer,
            name,
            period: Some(period),
        })
    });
    with_period
        .or_else(|| {
            split_issuer(id).map(|(issuer, name)| IdParts {
                issuer,
                name,
                period: Some(DEFAULT_PERIOD),
            })
        })
        .unwrap_or_else(|| IdParts {
            issuer: None,
            name: id.to_owned(),
            period: Some(DEFAULT_PERIOD),
        })
}

fn parse_period(digits: &str) -> Option<u32> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u32>().ok().filter(|p| *p > 0)
}

/// `(([^:]+):)?(.+)$` on `rest`: issuer and name, or `None` if no name fits.
fn split_issuer(rest: &str) -> Option<(Option<String>, String)> {
    let with_issuer = rest
        .split_once(':')
        .filter(|(issuer, _)| !issuer.is_empty())
        .and_then(|(issuer, after)| regex_name(after).map(|name| (Some(issuer.to_owned()), name)));
    with_issuer.or_else(|| regex_name(rest).map(|name| (None, name)))
}

/// Python's `(.+)$`: at least one character, no line break, except that `$`
/// also matches before a final `\n`.
fn regex_name(rest: &str) -> Option<String> {
    let body = rest.strip_suffix('\n').unwrap_or(rest);
    (!body.is_empty() && !body.contains('\n')).then(|| body.to_owned())
}

/// HOTP ids: split on the first `:` unless the id starts with one.
fn parse_hotp_id(id: &str) -> IdParts {
    match id.split_once(':') {
        Some((issuer, name)) if !issuer.is_empty() => IdParts {
            issuer: Some(issuer.to_owned()),
            name: name.to_owned(),
            period: None,
        },
        _ => IdParts {
            issuer: None,
            name: id.to_owned(),
            period: None,
        },
    }
}

/// One account on the key, with what vegas knows of it. LIST tells the type
/// and algorithm; CALCULATE ALL tells touch and (for TOTP without touch) the
/// number of digits. What is not known is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub issuer: Option<String>,
    pub name: String,
    pub oath_type: OathType,
    /// TOTP period in seconds (from the id); `None` for HOTP.
    pub period: Option<u32>,
    pub algorithm: Option<Algorithm>,
    pub digits: Option<u8>,
    pub touch: Option<bool>,
}

impl Account {
    /// An account known by id and type, the rest unknown.
    pub fn new(id: AccountId, oath_type: OathType) -> Self {
        let IdParts {
            issuer,
            name,
            period,
        } = id.parts(oath_type);
        Account {
            id,
            issuer,
            name,
            oath_type,
            period,
            algorithm: None,
            digits: None,
            touch: None,
        }
    }

    /// ykman's `_hidden` issuer convention: not shown unless asked for by id.
    pub fn is_hidden(&self) -> bool {
        self.issuer.as_deref() == Some("_hidden")
    }

    /// ykman's Steam convention: a TOTP account with issuer `Steam` shows a
    /// 5-character Steam Guard code, never the numeric one (which looks
    /// valid and is not).
    pub fn is_steam(&self) -> bool {
        self.oath_type == OathType::Totp && self.issuer.as_deref() == Some("Steam")
    }

    /// The period a TOTP account's code is calculated in: its own (from the
    /// id; 30 s when the id names none), except a Steam account's, always
    /// 30 s, as ykman's `calculate_steam` does whatever the id says.
    pub fn code_period(&self) -> u32 {
        if self.is_steam() {
            DEFAULT_PERIOD
        } else {
            self.period.unwrap_or(DEFAULT_PERIOD)
        }
    }

    /// Whether `query` (of `vegas oath code QUERY`) can select this account,
    /// as ykman matches: its exact id, or, unless hidden, a part of its id
    /// ignoring case. [`search`] applies it to a list, where an exact id wins
    /// alone; this answers it for one account (e.g. whether one is worth
    /// calculating before the list is known).
    pub fn matches_query(&self, query: &str) -> bool {
        self.id.as_bytes() == query.as_bytes()
            || (!self.is_hidden()
                && self
                    .id
                    .text()
                    .to_lowercase()
                    .contains(&query.to_lowercase()))
    }

    /// ykman's sort order: by issuer (or name when there is none), then name,
    /// ignoring case.
    pub fn sort_key(&self) -> (String, String) {
        (
            self.issuer.as_deref().unwrap_or(&self.name).to_lowercase(),
            self.name.to_lowercase(),
        )
    }
}

/// Accounts matching `query` the way ykman does: an exact id wins alone;
/// otherwise every id containing the query, ignoring case. Hidden accounts
/// are left out unless named exactly. No query matches every visible account.
pub fn search<'a, T>(
    items: &'a [T],
    query: Option<&str>,
    account: impl Fn(&T) -> &Account,
) -> Vec<&'a T> {
    let Some(query) = query else {
        return items.iter().filter(|i| !account(i).is_hidden()).collect();
    };
    if let Some(exact) = items
        .iter()
        .find(|i| account(i).id.as_bytes() == query.as_bytes())
    {
        return vec![exact];
    }
    items
        .iter()
        .filter(|i| account(i).matches_query(query))
        .collect()
}

/// A LIST entry (`72`): first byte type|algorithm, then the id.
pub(super) fn parse_list_entry(value: &[u8]) -> Result<Account, Error> {
    let (&kind, id) = value
        .split_first()
        .ok_or(Error::malformed("empty LIST entry"))?;
    let oath_type =
        OathType::from_nibble(kind).ok_or(Error::malformed("unknown OATH type in LIST"))?;
    let mut account = Account::new(AccountId::from_bytes(id), oath_type);
    account.algorithm = Algorithm::from_nibble(kind);
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oath::testing::malformed_reason;

    fn totp(id: &str) -> (Option<String>, String, Option<u32>) {
        let p = AccountId::new(id).parts(OathType::Totp);
        (p.issuer, p.name, p.period)
    }

    fn hotp(id: &str) -> (Option<String>, String) {
        let p = AccountId::new(id).parts(OathType::Hotp);
        (p.issuer, p.name)
    }

    fn s(x: &str) -> Option<String> {
        Some(x.to_owned())
    }

    #[test]
    fn totp_ids_follow_ykmans_regex() {
        // Expected values computed with yubikit.oath._parse_cred_id.
        assert_eq!(totp("alice"), (None, "alice".into(), Some(30)));
        assert_eq!(totp("AWS:alice"), (s("AWS"), "alice".into(), Some(30)));
        assert_eq!(totp("60/AWS:alice"), (s("AWS"), "alice".into(), Some(60)));
        assert_eq!(totp("15/alice"), (None, "alice".into(), Some(15)));
        assert_eq!(totp("30/x"), (None, "x".into(), Some(30)));
        assert_eq!(totp("a:b:c"), (s("a"), "b:c".into(), Some(30)));
        assert_eq!(totp(":alice"), (None, ":alice".into(), Some(30)));
        assert_eq!(totp("AWS:"), (None, "AWS:".into(), Some(30)));
        assert_eq!(totp("123/"), (None, "123/".into(), Some(30)));
        assert_eq!(totp("/x"), (None, "/x".into(), Some(30)));
        assert_eq!(totp("12a/x"), (None, "12a/x".into(), Some(30)));
        assert_eq!(totp("60/:x"), (None, ":x".into(), Some(60)));
        assert_eq!(totp("a/b:c"), (s("a/b"), "c".into(), Some(30)));
        assert_eq!(totp(""), (None, "".into(), Some(30)));
    }

    #[test]
    fn totp_names_follow_pythons_line_break_rules() {
        assert_eq!(totp("iss:name\n"), (s("iss"), "name".into(), Some(30)));
        assert_eq!(totp("a\nb:c"), (s("a\nb"), "c".into(), Some(30)));
        assert_eq!(totp("ab\ncd"), (None, "ab\ncd".into(), Some(30)));
    }

    #[test]
    fn hotp_ids_split_on_the_first_colon_unless_leading() {
        assert_eq!(hotp("alice"), (None, "alice".into()));
        assert_eq!(hotp("Ex:alice:x"), (s("Ex"), "alice:x".into()));
        assert_eq!(hotp(":alice"), (None, ":alice".into()));
        assert_eq!(hotp("Ex:"), (s("Ex"), "".into()));
        assert_eq!(hotp("60/Ex:alice"), (s("60/Ex"), "alice".into()));
        assert_eq!(AccountId::new("60/a").parts(OathType::Hotp).period, None);
    }

    #[test]
    fn ids_are_formatted_like_ykman() {
        assert_eq!(
            AccountId::format(Some("AWS"), "alice", OathType::Totp, 30).text(),
            "AWS:alice"
        );
        assert_eq!(
            AccountId::format(Some("AWS"), "alice", OathType::Totp, 60).text(),
            "60/AWS:alice"
        );
        assert_eq!(
            AccountId::format(None, "alice", OathType::Totp, 15).text(),
            "15/alice"
        );
        assert_eq!(
            AccountId::format(Some(""), "alice", OathType::Totp, 30).text(),
            "alice"
        );
        assert_eq!(
            AccountId::format(Some("Ex"), "bob", OathType::Hotp, 60).text(),
            "Ex:bob"
        );
    }

    #[test]
    fn format_then_parse_gives_the_parts_back() {
        let id = AccountId::format(Some("AWS"), "alice@example", OathType::Totp, 45);
        let parts = id.parts(OathType::Totp);
        assert_eq!(
            parts,
            IdParts {
                issuer: s("AWS"),
                name: "alice@example".into(),
                period: Some(45)
            }
        );
    }

    #[test]
    fn list_entry_carries_type_and_algorithm() {
        let account = parse_list_entry(b"\x21AWS:alice").unwrap();
        assert_eq!(account.oath_type, OathType::Totp);
        assert_eq!(account.algorithm, Some(Algorithm::Sha1));
        assert_eq!(account.issuer.as_deref(), Some("AWS"));
        let account = parse_list_entry(b"\x13bob").unwrap();
        assert_eq!(
            (account.oath_type, account.algorithm),
            (OathType::Hotp, Some(Algorithm::Sha512))
        );
        assert_eq!(
            malformed_reason(parse_list_entry(b"\x31x")),
            "unknown OATH type in LIST"
        );
        assert_eq!(malformed_reason(parse_list_entry(b"")), "empty LIST entry");
    }

    fn accounts(ids: &[&str]) -> Vec<Account> {
        ids.iter()
            .map(|id| Account::new(AccountId::new(id), OathType::Totp))
            .collect()
    }

    fn ids(found: Vec<&Account>) -> Vec<String> {
        found.into_iter().map(|a| a.id.text()).collect()
    }

    #[test]
    fn exact_id_wins_over_substring_matches() {
        let all = accounts(&["AWS:alice", "AWS:alice-admin"]);
        assert_eq!(ids(search(&all, Some("AWS:alice"), |a| a)), ["AWS:alice"]);
    }

    #[test]
    fn query_matches_substrings_ignoring_case() {
        let all = accounts(&["AWS:alice", "GitHub:alice", "AWS:bob"]);
        assert_eq!(
            ids(search(&all, Some("aws"), |a| a)),
            ["AWS:alice", "AWS:bob"]
        );
        assert_eq!(
            ids(search(&all, Some("ALICE"), |a| a)),
            ["AWS:alice", "GitHub:alice"]
        );
        assert!(search(&all, Some("nobody"), |a| a).is_empty());
    }

    #[test]
    fn hidden_accounts_match_only_by_exact_id() {
        let all = accounts(&["_hidden:x", "AWS:x"]);
        assert_eq!(ids(search(&all, None, |a| a)), ["AWS:x"]);
        assert_eq!(ids(search(&all, Some("x"), |a| a)), ["AWS:x"]);
        assert_eq!(ids(search(&all, Some("_hidden:x"), |a| a)), ["_hidden:x"]);
    }

    #[test]
    fn one_account_matches_its_exact_id_or_a_part_ignoring_case() {
        let account = Account::new(AccountId::new("AWS:alice"), OathType::Totp);
        assert!(account.matches_query("AWS:alice"));
        assert!(account.matches_query("aws:AL"));
        assert!(account.matches_query("ice"));
        assert!(!account.matches_query("bob"));
        assert!(!account.matches_query("AWS:alice2"));
    }

    #[test]
    fn a_hidden_account_matches_only_its_exact_id() {
        let hidden = Account::new(AccountId::new("_hidden:x"), OathType::Totp);
        assert!(hidden.is_hidden());
        assert!(hidden.matches_query("_hidden:x"));
        assert!(!hidden.matches_query("_HIDDEN:X"));
        assert!(!hidden.matches_query("x"));
    }
}
