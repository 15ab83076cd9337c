//! The YKOATH applet as Yubico's firmware and ykman (yubikit/oath.py) define
//! it: accounts, the access key, and every instruction a client may send.

use super::account::{truncate, Account, Algorithm, OathKind};
use super::handle::CardHandle;
use super::tlv::{self, tlv};
use super::{Command, Response, Sw};
use subtle::ConstantTimeEq;

pub const AID: &[u8] = &[0xA0, 0x00, 0x00, 0x05, 0x27, 0x21, 0x01];

const INS_PUT: u8 = 0x01;
const INS_DELETE: u8 = 0x02;
const INS_SET_CODE: u8 = 0x03;
const INS_RESET: u8 = 0x04;
const INS_RENAME: u8 = 0x05;
const INS_LIST: u8 = 0xA1;
const INS_CALCULATE: u8 = 0xA2;
const INS_VALIDATE: u8 = 0xA3;
const INS_CALCULATE_ALL: u8 = 0xA4;

const TAG_NAME: u8 = 0x71;
const TAG_NAME_LIST: u8 = 0x72;
const TAG_KEY: u8 = 0x73;
const TAG_CHALLENGE: u8 = 0x74;
const TAG_RESPONSE: u8 = 0x75;
const TAG_TRUNCATED: u8 = 0x76;
const TAG_HOTP: u8 = 0x77;
const TAG_VERSION: u8 = 0x79;
const TAG_IMF: u8 = 0x7A;
const TAG_ALGORITHM: u8 = 0x7B;
const TAG_TOUCH: u8 = 0x7C;

const PROPERTY_REQUIRE_TOUCH: u8 = 0x02;
const MAX_NAME_LEN: usize = 64;

/// A credential as stored: the on-card id is authoritative (it round-trips
/// byte for byte); `account` is its parsed view.
#[derive(Clone, Debug)]
struct Credential {
    id: Vec<u8>,
    account: Account,
}

impl Credential {
    fn id_text(&self) -> String {
        String::from_utf8_lossy(&self.id).into_owned()
    }

    fn type_algorithm_byte(&self) -> u8 {
        self.account.kind.type_bits() | self.account.algorithm as u8
    }
}

/// Applet state that survives power cycles (what the key's flash holds).
#[derive(Debug)]
pub struct OathApplet {
    version: [u8; 3],
    salt: [u8; 8],
    credentials: Vec<Credential>,
    access_key: Option<Vec<u8>>,
    /// Authentication of the current session (forgotten on SELECT and power).
    authenticated: bool,
    /// The challenge sent with the last SELECT, single use.
    challenge: Option<[u8; 8]>,
}

impl OathApplet {
    pub fn new(version: [u8; 3]) -> OathApplet {
        OathApplet {
            version,
            salt: random_bytes(),
            credentials: Vec::new(),
            access_key: None,
            authenticated: false,
            challenge: None,
        }
    }

    /// Real keys hold 32 credentials before firmware 5.7, 64 from then on.
    fn capacity(&self) -> usize {
        if self.version >= [5, 7, 0] {
            64
        } else {
            32
        }
    }

    pub fn add(&mut self, account: Account) {
        let id = account.id().into_bytes();
        self.credentials.retain(|c| c.id != id);
        self.credentials.push(Credential { id, account });
    }

    /// The account stored under on-card id `id`, with its current counter.
    pub fn account(&self, id: &str) -> Option<Account> {
        self.credentials
            .iter()
            .find(|c| c.id == id.as_bytes())
            .map(|c| c.account.clone())
    }

    /// Sets the password as ykman does: PBKDF2-HMAC-SHA1 over the salt.
    pub fn set_password(&mut self, password: &str) {
        let mut key = vec![0u8; 16];
        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password.as_bytes(), &self.salt, 1000, &mut key);
        self.access_key = Some(key);
    }

    pub fn forget_session(&mut self) {
        self.authenticated = false;
        self.challenge = None;
    }

    fn locked(&self) -> bool {
        self.access_key.is_some() && !self.authenticated
    }

    pub fn select(&mut self) -> Response {
        self.forget_session();
        let mut data = tlv(TAG_VERSION, &self.version);
        data.extend(tlv(TAG_NAME, &self.salt));
        if self.access_key.is_some() {
            let challenge = random_bytes();
            self.challenge = Some(challenge);
            data.extend(tlv(TAG_CHALLENGE, &challenge));
            data.extend(tlv(TAG_ALGORITHM, &[Algorithm::Sha1 as u8]));
        }
        Response::ok(data)
    }

    pub fn process(&mut self, command: &Command, handle: &CardHandle) -> Response {
        let open_to_locked = matches!(command.ins, INS_VALIDATE | INS_RESET);
        if self.locked() && !open_to_locked {
            return Sw::SECURITY_STATUS.into();
        }
        let raw_property = command.ins == INS_PUT;
        let Some(tlvs) = tlv::parse(&command.data, raw_property) else {
            return Sw::WRONG_DATA.into();
        };
        let result = match command.ins {
            INS_PUT => self.put(&tlvs),
            INS_DELETE => self.delete(&tlvs),
            INS_SET_CODE => self.set_code(&tlvs),
            INS_RESET => self.reset(command),
            INS_RENAME => self.rename(&tlvs),
            INS_LIST => Ok(self.list()),
            INS_CALCULATE => self.calculate(&tlvs, command.p2 == 0x01, handle),
            INS_VALIDATE => self.validate(&tlvs),
            INS_CALCULATE_ALL => self.calculate_all(&tlvs, command.p2 == 0x01, handle),
            _ => Err(Sw::INS_NOT_SUPPORTED),
        };
        result.unwrap_or_else(Response::from)
    }

    fn put(&mut self, tlvs: &[(u8, &[u8])]) -> Result<Response, Sw> {
        let id = tlv::find(tlvs, TAG_NAME).ok_or(Sw::WRONG_DATA)?;
        let key = tlv::find(tlvs, TAG_KEY).ok_or(Sw::WRONG_DATA)?;
        if id.is_empty() || id.len() > MAX_NAME_LEN {
            return Err(Sw::WRONG_DATA);
        }
        let [type_algorithm, digits, secret @ ..] = key else {
            return Err(Sw::WRONG_DATA);
        };
        let algorithm = Algorithm::from_bits(*type_algorithm).ok_or(Sw::WRONG_DATA)?;
        let counter = match tlv::find(tlvs, TAG_IMF) {
            Some(imf) => u32::from_be_bytes(imf.try_into().map_err(|_| Sw::WRONG_DATA)?),
            None => 0,
        };
        let touch = tlv::find(tlvs, tlv::TAG_PROPERTY)
            .is_some_and(|p| p.first().is_some_and(|b| b & PROPERTY_REQUIRE_TOUCH != 0));
        let id_text = std::str::from_utf8(id).map_err(|_| Sw::WRONG_DATA)?;
        let (issuer, name, period) = parse_id(id_text, *type_algorithm & 0xF0 == 0x20);
        let kind = match type_algorithm & 0xF0 {
            0x10 => OathKind::Hotp { counter },
            0x20 => OathKind::Totp { period },
            _ => return Err(Sw::WRONG_DATA),
        };
        if !(6..=8).contains(digits) {
            return Err(Sw::WRONG_DATA);
        }
        let exists = self.credentials.iter().any(|c| c.id == id);
        if !exists && self.credentials.len() >= self.capacity() {
            return Err(Sw::NO_SPACE);
        }
        let account = Account {
            issuer,
            name,
            secret: secret.to_vec(),
            kind,
            algorithm,
            digits: *digits,
            touch,
            broken: false,
        };
        self.credentials.retain(|c| c.id != id);
        self.credentials.push(Credential {
            id: id.to_vec(),
            account,
        });
        Ok(Response::ok(Vec::new()))
    }

    fn delete(&mut self, tlvs: &[(u8, &[u8])]) -> Result<Response, Sw> {
        let id = tlv::find(tlvs, TAG_NAME).ok_or(Sw::WRONG_DATA)?;
        let before = self.credentials.len();
        self.credentials.retain(|c| c.id != id);
        if self.credentials.len() == before {
            return Err(Sw::NO_SUCH_OBJECT);
        }
        Ok(Response::ok(Vec::new()))
    }

    fn rename(&mut self, tlvs: &[(u8, &[u8])]) -> Result<Response, Sw> {
        let mut names = tlvs.iter().filter(|(t, _)| *t == TAG_NAME).map(|(_, v)| *v);
        let (Some(old), Some(new)) = (names.next(), names.next()) else {
            return Err(Sw::WRONG_DATA);
        };
        if new.is_empty()
            || new.len() > MAX_NAME_LEN
            || self.credentials.iter().any(|c| c.id == new)
        {
            return Err(Sw::WRONG_DATA);
        }
        let new_text = std::str::from_utf8(new).map_err(|_| Sw::WRONG_DATA)?;
        let credential = self
            .credentials
            .iter_mut()
            .find(|c| c.id == old)
            .ok_or(Sw::NO_SUCH_OBJECT)?;
        let (issuer, name, _) = parse_id(
            new_text,
            matches!(credential.account.kind, OathKind::Totp { .. }),
        );
        credential.id = new.to_vec();
        credential.account.issuer = issuer;
        credential.account.name = name;
        Ok(Response::ok(Vec::new()))
    }

    /// SET CODE: `73` empty removes the password; otherwise `73` key,
    /// `74` challenge, `75` HMAC(key, challenge) proving the host holds it.
    fn set_code(&mut self, tlvs: &[(u8, &[u8])]) -> Result<Response, Sw> {
        let key = tlv::find(tlvs, TAG_KEY).ok_or(Sw::WRONG_DATA)?;
        let Some((&algorithm, key)) = key.split_first() else {
            self.access_key = None;
            return Ok(Response::ok(Vec::new()));
        };
        if Algorithm::from_bits(algorithm) != Some(Algorithm::Sha1) || key.is_empty() {
            return Err(Sw::WRONG_DATA);
        }
        let challenge = tlv::find(tlvs, TAG_CHALLENGE).ok_or(Sw::WRONG_DATA)?;
        let response = tlv::find(tlvs, TAG_RESPONSE).ok_or(Sw::WRONG_DATA)?;
        let expected = Algorithm::Sha1.hmac(key, challenge);
        if !bool::from(expected.as_slice().ct_eq(response)) {
            return Err(Sw::WRONG_DATA);
        }
        self.access_key = Some(key.to_vec());
        self.authenticated = true;
        Ok(Response::ok(Vec::new()))
    }

    fn reset(&mut self, command: &Command) -> Result<Response, Sw> {
        if (command.p1, command.p2) != (0xDE, 0xAD) {
            return Err(Sw::WRONG_P1P2);
        }
        *self = OathApplet::new(self.version);
        Ok(Response::ok(Vec::new()))
    }

    fn list(&self) -> Response {
        let mut data = Vec::new();
        for credential in &self.credentials {
            let mut entry = vec![credential.type_algorithm_byte()];
            entry.extend_from_slice(&credential.id);
            data.extend(tlv(TAG_NAME_LIST, &entry));
        }
        Response::ok(data)
    }

    /// VALIDATE: the host proves the key with `75` over our challenge and
    /// asks us to prove it back over its `74`. A wrong proof is `6A80`, which
    /// ykman takes for a wrong password.
    fn validate(&mut self, tlvs: &[(u8, &[u8])]) -> Result<Response, Sw> {
        let key = self.access_key.clone().ok_or(Sw::NO_SUCH_OBJECT)?;
        let our_challenge = self.challenge.take().ok_or(Sw::NO_SUCH_OBJECT)?;
        let response = tlv::find(tlvs, TAG_RESPONSE).ok_or(Sw::WRONG_DATA)?;
        let host_challenge = tlv::find(tlvs, TAG_CHALLENGE).ok_or(Sw::WRONG_DATA)?;
        let expected = Algorithm::Sha1.hmac(&key, &our_challenge);
        if !bool::from(expected.as_slice().ct_eq(response)) {
            return Err(Sw::WRONG_DATA);
        }
        self.authenticated = true;
        Ok(Response::ok(tlv(
            TAG_RESPONSE,
            &Algorithm::Sha1.hmac(&key, host_challenge),
        )))
    }

    /// CALCULATE one account; a touch account waits for the touch first.
    /// HOTP ignores the challenge and uses (then advances) its counter.
    fn calculate(
        &mut self,
        tlvs: &[(u8, &[u8])],
        truncated: bool,
        handle: &CardHandle,
    ) -> Result<Response, Sw> {
        let id = tlv::find(tlvs, TAG_NAME).ok_or(Sw::WRONG_DATA)?;
        let challenge = tlv::find(tlvs, TAG_CHALLENGE).unwrap_or_default();
        let credential = self
            .credentials
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or(Sw::NO_SUCH_OBJECT)?;
        handle.note_calculation(&credential.id_text());
        if credential.account.broken {
            return Err(MEMORY_FAILURE);
        }
        if credential.account.touch && !handle.await_touch() {
            return Err(Sw::SECURITY_STATUS);
        }
        let challenge = match &mut credential.account.kind {
            OathKind::Totp { .. } => challenge.to_vec(),
            OathKind::Hotp { counter } => {
                let used = u64::from(*counter).to_be_bytes().to_vec();
                *counter = counter.wrapping_add(1);
                used
            }
        };
        let (tag, value) = respond(&credential.account, &challenge, truncated);
        Ok(Response::ok(tlv(tag, &value)))
    }

    /// CALCULATE ALL with the host's (30-second) challenge. HOTP and touch
    /// accounts get no code (`77` / `7C` with the digits), and never wait.
    fn calculate_all(
        &mut self,
        tlvs: &[(u8, &[u8])],
        truncated: bool,
        handle: &CardHandle,
    ) -> Result<Response, Sw> {
        let challenge = tlv::find(tlvs, TAG_CHALLENGE).ok_or(Sw::WRONG_DATA)?;
        handle.note_calculate_all();
        if self.credentials.iter().any(|c| c.account.broken) {
            return Err(MEMORY_FAILURE);
        }
        let mut data = Vec::new();
        for credential in &self.credentials {
            data.extend(tlv(TAG_NAME, &credential.id));
            let account = &credential.account;
            let (tag, value) = match account.kind {
                OathKind::Hotp { .. } => (TAG_HOTP, vec![account.digits]),
                OathKind::Totp { .. } if account.touch => (TAG_TOUCH, vec![account.digits]),
                OathKind::Totp { .. } => respond(account, challenge, truncated),
            };
            data.extend(tlv(tag, &value));
        }
        Ok(Response::ok(data))
    }
}

/// What a key answers when an account's memory is corrupted.
const MEMORY_FAILURE: Sw = Sw(0x6581);

/// `76 [digits][4 truncated bytes]` or `75 [digits][full HMAC]`.
fn respond(account: &Account, challenge: &[u8], truncated: bool) -> (u8, Vec<u8>) {
    let hmac = account.algorithm.hmac(&account.secret, challenge);
    let mut value = vec![account.digits];
    if truncated {
        value.extend(truncate(&hmac));
        (TAG_TRUNCATED, value)
    } else {
        value.extend(hmac);
        (TAG_RESPONSE, value)
    }
}

/// Splits an on-card id the way ykman reads it: TOTP ids are
/// `[period/][issuer:]name`, HOTP ids `[issuer:]name`.
fn parse_id(id: &str, totp: bool) -> (Option<String>, String, u32) {
    let mut rest = id;
    let mut period = 30;
    if totp {
        if let Some((digits, after)) = id.split_once('/') {
            if !digits.is_empty() && !after.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
            {
                if let Ok(p) = digits.parse() {
                    period = p;
                    rest = after;
                }
            }
        }
    }
    match rest.split_once(':') {
        Some((issuer, name)) if !issuer.is_empty() && !name.is_empty() => {
            (Some(issuer.to_owned()), name.to_owned(), period)
        }
        _ => (None, rest.to_owned(), period),
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("no randomness: {e}"));
    bytes
}
