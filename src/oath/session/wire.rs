//! What the OATH applet's answers say, parsed: its AID and tags, the
//! SELECT answer (version, salt, challenge), LIST, CALCULATE and CALCULATE
//! ALL. Bytes in, typed values out, never a panic on what a card sends.

use zeroize::Zeroizing;

use crate::oath::account::{parse_list_entry, Account, AccountId, Algorithm};
use crate::oath::code::{Code, TimeStep};
use crate::oath::tlv;
use crate::oath::Error;

/// AID of the YKOATH applet.
pub const OATH_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x05, 0x27, 0x21, 0x01];

/// YKOATH tags (see docs/protocol.md).
pub mod tag {
    pub const NAME: u8 = 0x71;
    pub const NAME_LIST: u8 = 0x72;
    pub const CHALLENGE: u8 = 0x74;
    pub const RESPONSE: u8 = 0x75;
    pub const TRUNCATED: u8 = 0x76;
    pub const HOTP: u8 = 0x77;
    pub const VERSION: u8 = 0x79;
    pub const ALGORITHM: u8 = 0x7B;
    pub const TOUCH: u8 = 0x7C;
}

/// CALCULATE / CALCULATE ALL P2: answer with the truncated response.
pub(super) const P2_TRUNCATE: u8 = 0x01;

/// Firmware (or applet) version, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u8, pub u8, pub u8);

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

impl Version {
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [major, minor, patch] => Some(Version(*major, *minor, *patch)),
            _ => None,
        }
    }
}

/// What the OATH SELECT tells: version, salt, and when a password is set,
/// the card's challenge and the access key's algorithm.
#[derive(Clone, PartialEq, Eq)]
pub struct SelectInfo {
    pub version: Version,
    pub salt: Vec<u8>,
    pub challenge: Option<Vec<u8>>,
    pub key_algorithm: Algorithm,
}

impl std::fmt::Debug for SelectInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelectInfo")
            .field("version", &self.version)
            .field("locked", &self.challenge.is_some())
            .field("key_algorithm", &self.key_algorithm)
            .finish_non_exhaustive()
    }
}

/// Parse the SELECT answer; tags may come in any order.
pub fn parse_select(data: &[u8]) -> Result<SelectInfo, Error> {
    let tlvs = tlv::parse_all(data)?;
    let version = tlv::find(&tlvs, tag::VERSION)
        .and_then(Version::from_bytes)
        .ok_or(Error::malformed("SELECT without a 3-byte version"))?;
    let salt = tlv::find(&tlvs, tag::NAME)
        .ok_or(Error::malformed("SELECT without a salt"))?
        .to_vec();
    let challenge = tlv::find(&tlvs, tag::CHALLENGE).map(<[u8]>::to_vec);
    let key_algorithm = match tlv::find(&tlvs, tag::ALGORITHM) {
        None => Algorithm::Sha1,
        Some(value) => value
            .first()
            .and_then(|b| Algorithm::from_nibble(*b))
            .ok_or(Error::malformed("SELECT with an unknown key algorithm"))?,
    };
    Ok(SelectInfo {
        version,
        salt,
        challenge,
        key_algorithm,
    })
}

/// Parse the LIST answer: one `72` per account.
pub fn parse_list(data: &[u8]) -> Result<Vec<Account>, Error> {
    tlv::TlvReader::new(data)
        .map(|item| {
            let item = item?;
            if item.tag != tag::NAME_LIST {
                return Err(Error::malformed("LIST entry with an unexpected tag"));
            }
            parse_list_entry(item.value)
        })
        .collect()
}

/// What CALCULATE ALL says about one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Calculated {
    /// `76`: digits byte and 4 bytes, computed with the 30 s challenge.
    Truncated(Zeroizing<Vec<u8>>),
    /// `77`: an HOTP account; not calculated (that would move its counter).
    Hotp,
    /// `7C`: a TOTP account that needs a touch; not calculated.
    Touch,
}

/// Parse the CALCULATE ALL answer: pairs of `71` name and `76`/`77`/`7C`
/// (or `75`, a full response, which a key gives to P2 `00`).
pub fn parse_calculate_all(data: &[u8]) -> Result<Vec<(AccountId, Calculated)>, Error> {
    let mut reader = tlv::TlvReader::new(data);
    let mut entries = Vec::new();
    while let Some(name) = reader.next() {
        let name = name?;
        if name.tag != tag::NAME {
            return Err(Error::malformed("CALCULATE ALL entry without a name"));
        }
        let answer = reader
            .next()
            .ok_or(Error::malformed("CALCULATE ALL name without an answer"))??;
        let calculated = match answer.tag {
            tag::TRUNCATED => Calculated::Truncated(Zeroizing::new(answer.value.to_vec())),
            tag::RESPONSE => {
                Calculated::Truncated(Zeroizing::new(Code::truncate_full_response(answer.value)?))
            }
            tag::HOTP => Calculated::Hotp,
            tag::TOUCH => Calculated::Touch,
            _ => {
                return Err(Error::malformed(
                    "CALCULATE ALL answer with an unexpected tag",
                ))
            }
        };
        entries.push((AccountId::from_bytes(name.value), calculated));
    }
    Ok(entries)
}

/// Parse the CALCULATE answer (`76` truncated response) into a code.
pub fn parse_calculate(data: &[u8], step: Option<TimeStep>) -> Result<Code, Error> {
    Code::from_truncated_response(&truncated_response(data)?, step)
}

/// The value of the `76` TLV of a CALCULATE answer (or of a `75` full
/// response, truncated here: what a key answers to P2 `00`).
pub(super) fn truncated_response(data: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let tlvs = tlv::parse_all(data)?;
    if let Some(value) = tlv::find(&tlvs, tag::TRUNCATED) {
        return Ok(Zeroizing::new(value.to_vec()));
    }
    let full = tlv::find(&tlvs, tag::RESPONSE)
        .ok_or(Error::malformed("CALCULATE without a truncated response"))?;
    Ok(Zeroizing::new(Code::truncate_full_response(full)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oath::account::OathType;
    use crate::oath::testing::{hex, malformed_reason};
    use proptest::prelude::*;

    #[test]
    fn select_is_parsed_in_any_tag_order() {
        let a = parse_select(&hex(
            "7903050403 71080102030405060708 7408AABBCCDDEEFF0011 7B0101",
        ))
        .unwrap();
        let b = parse_select(&hex(
            "7B0101 7408AABBCCDDEEFF0011 71080102030405060708 7903050403",
        ))
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.version, Version(5, 4, 3));
        assert!(a.challenge.is_some());
    }

    #[test]
    fn select_missing_version_or_salt_is_malformed() {
        assert_eq!(
            malformed_reason(parse_select(&hex("71080102030405060708"))),
            "SELECT without a 3-byte version"
        );
        assert_eq!(
            malformed_reason(parse_select(&hex("7903050403"))),
            "SELECT without a salt"
        );
        assert_eq!(
            malformed_reason(parse_select(&hex("790205047108 0102030405060708"))),
            "SELECT without a 3-byte version"
        );
    }

    #[test]
    fn list_parses_every_entry() {
        let mut data = Vec::new();
        tlv::push(&mut data, tag::NAME_LIST, b"\x2160/AWS:alice");
        tlv::push(&mut data, tag::NAME_LIST, b"\x12bob");
        let accounts = parse_list(&data).unwrap();
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[0].id.text(), "60/AWS:alice");
        assert_eq!(accounts[0].period, Some(60));
        assert_eq!(accounts[1].oath_type, OathType::Hotp);
        assert_eq!(accounts[1].algorithm, Some(Algorithm::Sha256));
        assert_eq!(
            malformed_reason(parse_list(&hex("7302 2161"))),
            "LIST entry with an unexpected tag"
        );
    }

    #[test]
    fn calculate_all_answer_with_a_dangling_name_is_malformed() {
        assert_eq!(
            malformed_reason(parse_calculate_all(&hex("7101 61"))),
            "CALCULATE ALL name without an answer"
        );
        assert_eq!(
            malformed_reason(parse_calculate_all(&hex("7601 61 7101 61"))),
            "CALCULATE ALL entry without a name"
        );
        assert_eq!(
            malformed_reason(parse_calculate_all(&hex("7101 61 7401 00"))),
            "CALCULATE ALL answer with an unexpected tag"
        );
    }

    proptest! {
    #[test]
    fn no_card_answer_makes_a_parser_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_select(&bytes);
        let _ = parse_list(&bytes);
        let _ = parse_calculate_all(&bytes);
        let _ = parse_calculate(&bytes, None);
    }
    }
}
