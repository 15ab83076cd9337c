//! An OATH account as the virtual card stores it, and the code arithmetic
//! (RFC 4226 / RFC 6238) that tests use to predict what a real key answers.

use hmac::{Hmac, Mac};
use std::fmt;

/// The HMAC hash an account uses; the numbers are YKOATH's algorithm bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sha1 = 0x01,
    Sha256 = 0x02,
    Sha512 = 0x03,
}

impl Algorithm {
    pub fn from_bits(bits: u8) -> Option<Algorithm> {
        match bits & 0x0F {
            0x01 => Some(Algorithm::Sha1),
            0x02 => Some(Algorithm::Sha256),
            0x03 => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name.to_ascii_uppercase().as_str() {
            "SHA1" => Some(Algorithm::Sha1),
            "SHA256" => Some(Algorithm::Sha256),
            "SHA512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    /// HMAC of `message` under `key` (any key length, as HMAC itself defines it).
    pub fn hmac(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
            let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, message),
            Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, message),
            Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, message),
        }
    }
}

/// TOTP (time-based, with its period) or HOTP (counter-based, with its counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OathKind {
    Totp { period: u32 },
    Hotp { counter: u32 },
}

impl OathKind {
    /// The type nibble YKOATH puts in front of the algorithm bits.
    pub fn type_bits(self) -> u8 {
        match self {
            OathKind::Hotp { .. } => 0x10,
            OathKind::Totp { .. } => 0x20,
        }
    }
}

/// One credential on the card. The card knows only `id` (the on-card name);
/// issuer and period live inside it as `[period/][issuer:]name`.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub issuer: Option<String>,
    pub name: String,
    pub secret: Vec<u8>,
    pub kind: OathKind,
    pub algorithm: Algorithm,
    pub digits: u8,
    pub touch: bool,
    /// Corrupted in the key's memory: CALCULATE and CALCULATE ALL answer
    /// `6581` (memory failure), as on keys in the field; ykman's `oath
    /// accounts code` deletes such an account.
    pub broken: bool,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id())
            .field("kind", &self.kind)
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("touch", &self.touch)
            .field("secret", &"<hidden>")
            .finish()
    }
}

impl Account {
    /// A 30-second, 6-digit SHA1 TOTP account: what AWS virtual MFA uses.
    pub fn totp(name: &str, secret: &[u8]) -> Account {
        Account {
            issuer: None,
            name: name.to_owned(),
            secret: secret.to_vec(),
            kind: OathKind::Totp { period: 30 },
            algorithm: Algorithm::Sha1,
            digits: 6,
            touch: false,
            broken: false,
        }
    }

    /// A 6-digit SHA1 HOTP account starting at counter 0.
    pub fn hotp(name: &str, secret: &[u8]) -> Account {
        Account {
            kind: OathKind::Hotp { counter: 0 },
            ..Account::totp(name, secret)
        }
    }

    pub fn issuer(mut self, issuer: &str) -> Account {
        self.issuer = Some(issuer.to_owned());
        self
    }

    pub fn period(mut self, period: u32) -> Account {
        self.kind = OathKind::Totp { period };
        self
    }

    pub fn counter(mut self, counter: u32) -> Account {
        self.kind = OathKind::Hotp { counter };
        self
    }

    pub fn algorithm(mut self, algorithm: Algorithm) -> Account {
        self.algorithm = algorithm;
        self
    }

    pub fn digits(mut self, digits: u8) -> Account {
        self.digits = digits;
        self
    }

    pub fn touch(mut self) -> Account {
        self.touch = true;
        self
    }

    /// Corrupted in the key's memory (see [`Account::broken`]).
    pub fn broken(mut self) -> Account {
        self.broken = true;
        self
    }

    /// The on-card name, formatted as ykman does: `[period/][issuer:]name`,
    /// the period only for TOTP with a period other than 30.
    pub fn id(&self) -> String {
        let mut id = String::new();
        if let OathKind::Totp { period } = self.kind {
            if period != 30 {
                id.push_str(&format!("{period}/"));
            }
        }
        if let Some(issuer) = &self.issuer {
            id.push_str(issuer);
            id.push(':');
        }
        id.push_str(&self.name);
        id
    }

    /// The TOTP code a real key shows at `unix_time` (panics for HOTP).
    pub fn totp_code_at(&self, unix_time: u64) -> String {
        let OathKind::Totp { period } = self.kind else {
            panic!("{} is a HOTP account", self.id());
        };
        self.code_for(&(unix_time / u64::from(period)).to_be_bytes())
    }

    /// The HOTP code for `counter`.
    pub fn hotp_code(&self, counter: u64) -> String {
        self.code_for(&counter.to_be_bytes())
    }

    /// The codes of every time step touched by the interval
    /// `[from, to]` (unix seconds): what a test accepts across a step boundary.
    pub fn totp_codes_between(&self, from: u64, to: u64) -> Vec<String> {
        let OathKind::Totp { period } = self.kind else {
            panic!("{} is a HOTP account", self.id());
        };
        let period = u64::from(period);
        (from / period..=to / period)
            .map(|step| self.totp_code_at(step * period))
            .collect()
    }

    fn code_for(&self, challenge: &[u8]) -> String {
        format_code(
            self.digits,
            &truncate(&self.algorithm.hmac(&self.secret, challenge)),
        )
    }
}

/// RFC 4226 dynamic truncation: 4 bytes at the offset given by the last nibble.
pub fn truncate(hmac: &[u8]) -> [u8; 4] {
    let offset = usize::from(hmac.last().copied().unwrap_or(0) & 0x0F);
    let mut out = [0u8; 4];
    out.copy_from_slice(&hmac[offset..offset + 4]);
    out
}

/// The decimal code from 4 truncated bytes, zero-padded to `digits`.
pub fn format_code(digits: u8, truncated: &[u8; 4]) -> String {
    let value = u32::from_be_bytes(*truncated) & 0x7FFF_FFFF;
    let code = u64::from(value) % 10u64.pow(u32::from(digits));
    format!("{code:0width$}", width = usize::from(digits))
}

/// Decodes RFC 4648 base32 the way users paste it: case-insensitive,
/// spaces and padding ignored.
pub fn decode_base32(text: &str) -> Result<Vec<u8>, String> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u32 = 0;
    let mut bit_count = 0;
    let mut out = Vec::new();
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let upper = c.to_ascii_uppercase() as u8;
        let value = ALPHABET
            .iter()
            .position(|&a| a == upper)
            .ok_or_else(|| format!("{c:?} is not a base32 character"))?;
        bits = (bits << 5) | value as u32;
        bit_count += 5;
        if bit_count >= 8 {
            bit_count -= 8;
            out.push((bits >> bit_count) as u8);
            bits &= (1 << bit_count) - 1;
        }
    }
    Ok(out)
}
