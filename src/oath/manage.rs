//! Writing to the OATH applet: PUT an account (the seed of a new AWS MFA
//! device, for `vegas setup`) and DELETE it again (its rollback).
//!
//! Everything else in `oath` only reads; this module is the one place that
//! changes what is on a key, built on [`Session`]'s transactions: a PUT is
//! one transaction with a SELECT, VALIDATE and the LIST that checks its name
//! is free, so no account is ever overwritten.
//! The encoding is YKOATH's as yubikit writes it (`yubikit/oath.py`,
//! `put_credential`): `71` name, `73` key (type|algorithm byte, digits, the
//! HMAC key padded to 14 bytes or, past the hash's block size, hashed), and
//! the raw property `78 02` when a touch is required.

use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

use super::apdu::{self, send, Apdu};
use super::session::{parse_list, tag};
use super::{tlv, AccountId, Error, Session, StatusWord, Transport};

/// YKOATH instruction bytes of the commands that write.
pub mod ins {
    pub const PUT: u8 = 0x01;
    pub const DELETE: u8 = 0x02;
}

/// The key tag of PUT.
const TAG_KEY: u8 = 0x73;
/// The property tag of PUT, sent raw (tag, value; no length).
const TAG_PROPERTY: u8 = 0x78;
/// Property: CALCULATE waits for a touch.
const PROPERTY_REQUIRE_TOUCH: u8 = 0x02;
/// Type TOTP (high nibble) | algorithm SHA-1 (low nibble).
const TOTP_SHA1: u8 = 0x20 | 0x01;
/// The longest account id the applet stores (yubikit's limit).
pub const MAX_ID_BYTES: usize = 64;
/// Shorter HMAC keys are zero-padded to this many bytes (yubikit's
/// `HMAC_MINIMUM_KEY_SIZE`: older firmware refuses shorter ones).
const HMAC_MINIMUM_KEY_SIZE: usize = 14;
/// SHA-1's block size: a longer HMAC key is replaced by its hash, as HMAC does.
const SHA1_BLOCK_SIZE: usize = 64;

/// A TOTP account (SHA-1, 30 s) to write on the key.
pub struct NewTotpAccount<'a> {
    pub id: &'a AccountId,
    pub secret: &'a [u8],
    pub digits: u8,
    pub touch: bool,
}

/// PUT the account, unless one of that id is on the key
/// ([`Error::AccountExists`]: PUT would replace it). SELECT, VALIDATE,
/// LIST and PUT are one transaction, so the check holds when PUT runs.
pub fn put<T: Transport>(
    session: &mut Session<T>,
    account: &NewTotpAccount<'_>,
) -> Result<(), Error> {
    let apdu = put_command(account)?;
    session
        .run_unlocked_selected(|card| {
            let listed = parse_list(&send(card, &Apdu::new(apdu::ins::LIST))?)?;
            if listed.iter().any(|a| a.id == *account.id) {
                return Err(Error::AccountExists {
                    id: account.id.text(),
                });
            }
            send(card, &apdu).map(|_| ())
        })
        .map_err(|e| match e {
            Error::Card {
                status: StatusWord::NoSpace,
                ..
            } => Error::StorageFull,
            other => other,
        })
}

/// DELETE the account of this id.
pub fn delete<T: Transport>(session: &mut Session<T>, id: &AccountId) -> Result<(), Error> {
    let mut data = Vec::new();
    tlv::push(&mut data, tag::NAME, id.as_bytes());
    let apdu = Apdu::new(ins::DELETE).data(data);
    session
        .run_unlocked(|card| send(card, &apdu).map(|_| ()))
        .map_err(|e| match e {
            Error::Card {
                status: StatusWord::NoSuchObject,
                ..
            } => Error::NoSuchAccount { id: id.text() },
            other => other,
        })
}

/// The PUT APDU for `account`.
fn put_command(account: &NewTotpAccount<'_>) -> Result<Apdu, Error> {
    let id = account.id.as_bytes();
    if id.len() > MAX_ID_BYTES {
        return Err(Error::NameTooLong {
            id: account.id.text(),
            bytes: id.len(),
        });
    }
    let key = hmac_key(account.secret);
    let mut key_value = Zeroizing::new(Vec::with_capacity(key.len() + 2));
    key_value.extend_from_slice(&[TOTP_SHA1, account.digits]);
    key_value.extend_from_slice(&key);
    let mut data = Vec::with_capacity(id.len() + key_value.len() + 8);
    tlv::push(&mut data, tag::NAME, id);
    tlv::push(&mut data, TAG_KEY, &key_value);
    if account.touch {
        data.extend_from_slice(&[TAG_PROPERTY, PROPERTY_REQUIRE_TOUCH]);
    }
    Ok(Apdu::new(ins::PUT).data(data))
}

/// The key as the applet wants it: hashed past SHA-1's block size, then
/// zero-padded to at least 14 bytes.
fn hmac_key(secret: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut key = if secret.len() > SHA1_BLOCK_SIZE {
        Zeroizing::new(Sha1::digest(secret).to_vec())
    } else {
        Zeroizing::new(secret.to_vec())
    };
    if key.len() < HMAC_MINIMUM_KEY_SIZE {
        key.resize(HMAC_MINIMUM_KEY_SIZE, 0);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oath::testing::{hex, to_hex, ScriptedCard};

    const SELECT: &str = "00A40400 07 A0000005272101";
    const SELECT_OPEN: &str = "7903 050403 7108 0102030405060708 9000";

    fn command(secret: &[u8], touch: bool) -> String {
        let id = AccountId::new("alice");
        let account = NewTotpAccount {
            id: &id,
            secret,
            digits: 6,
            touch,
        };
        let apdu = put_command(&account).unwrap();
        format!("{:02X}{}", apdu.ins, to_hex(&apdu.data))
    }

    #[test]
    fn put_encodes_name_key_and_touch_as_yubikit_does() {
        let secret = hex("3132333435363738393031323334353637383930"); // RFC 6238's, 20 bytes
        assert_eq!(
            command(&secret, true),
            "01 7105616C696365 73162106 3132333435363738393031323334353637383930 7802"
                .replace(' ', "")
        );
        assert!(!command(&secret, false).ends_with("7802"));
    }

    #[test]
    fn a_short_key_is_padded_to_fourteen_bytes() {
        assert_eq!(
            command(&hex("0102030405"), false),
            "01 7105616C696365 73102106 0102030405 000000000000000000".replace(' ', "")
        );
    }

    #[test]
    fn a_key_longer_than_the_block_size_is_hashed() {
        let long = vec![0x61u8; 65];
        let digest = Sha1::digest(&long);
        assert_eq!(
            command(&long, false),
            format!("017105616C69636573162106{}", to_hex(&digest))
        );
    }

    #[test]
    fn an_id_over_sixty_four_bytes_is_refused_before_the_card_sees_it() {
        let id = AccountId::new(&"x".repeat(65));
        let account = NewTotpAccount {
            id: &id,
            secret: b"0123456789abcdef",
            digits: 6,
            touch: true,
        };
        assert!(matches!(
            put_command(&account),
            Err(Error::NameTooLong { bytes: 65, .. })
        ));
    }

    #[test]
    fn a_full_key_is_reported_as_full_storage() {
        let id = AccountId::new("alice");
        let account = NewTotpAccount {
            id: &id,
            secret: &hex("3132333435363738393031323334353637383930"),
            digits: 6,
            touch: false,
        };
        let put_apdu = format!(
            "00010000 {:02X} {}",
            7 + 24,
            &command(account.secret, false)[2..]
        );
        let card = ScriptedCard::new()
            .expect(SELECT, SELECT_OPEN)
            .expect(SELECT, SELECT_OPEN)
            .expect("00A10000", "9000")
            .expect(&put_apdu, "6A84");
        let mut session = Session::open(card).unwrap();
        assert!(matches!(
            put(&mut session, &account),
            Err(Error::StorageFull)
        ));
    }

    #[test]
    fn put_selects_and_lists_in_its_transaction_and_never_overwrites() {
        let id = AccountId::new("alice");
        let account = NewTotpAccount {
            id: &id,
            secret: b"0123456789abcdef",
            digits: 6,
            touch: false,
        };
        let mut list = Vec::new();
        tlv::push(&mut list, tag::NAME_LIST, b"\x21alice");
        list.extend([0x90, 0x00]);
        // No PUT is scripted: sending one fails the test.
        let card = ScriptedCard::new()
            .expect(SELECT, SELECT_OPEN)
            .expect(SELECT, SELECT_OPEN)
            .expect("00A10000", &to_hex(&list));
        let mut session = Session::open(card).unwrap();
        assert!(matches!(
            put(&mut session, &account),
            Err(Error::AccountExists { ref id }) if id == "alice"
        ));
    }

    #[test]
    fn delete_sends_the_name_and_a_missing_account_is_named() {
        let card = ScriptedCard::new()
            .expect(SELECT, SELECT_OPEN)
            .expect("00020000 07 7105616C696365", "9000")
            .expect("00020000 07 7105616C696365", "6984");
        let mut session = Session::open(card).unwrap();
        let id = AccountId::new("alice");
        delete(&mut session, &id).unwrap();
        assert!(matches!(
            delete(&mut session, &id),
            Err(Error::NoSuchAccount { ref id }) if id == "alice"
        ));
    }
}
