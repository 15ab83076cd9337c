//! The account probe against scripted cards.

use super::*;
use crate::oath::session::tag;
use crate::oath::testing::{hex, ScriptedCard};
use crate::oath::{tlv, Version};

const SELECT: &str = "00A40400 07 A0000005272101";
const SELECT_OPEN: &str = "7903 050403 7108 0102030405060708 9000";
const SELECT_LOCKED: &str = "7903050403 71080102030405060708 74080909090909090909 9000";

fn key() -> KeyInfo {
    KeyInfo {
        reader: "Yubico YubiKey OTP+FIDO+CCID 00 00".into(),
        serial: Some(12345678),
        version: Version(5, 4, 3),
        firmware: None,
        device_id: "ZoQN2hVOihE8Md0K0y9/Og".into(),
        locked: false,
    }
}

/// A card with `ids` (TOTP, SHA-1, no touch), answering LIST and
/// CALCULATE ALL whatever the time.
fn card_with(ids: &'static [&'static str]) -> ScriptedCard {
    ScriptedCard::new()
        .expect(SELECT, SELECT_OPEN)
        .respond(move |apdu| {
            assert_eq!(&apdu[..2], &[0x00, 0xA1], "LIST");
            let mut list = Vec::new();
            for id in ids {
                let mut entry = vec![0x21];
                entry.extend(id.as_bytes());
                tlv::push(&mut list, tag::NAME_LIST, &entry);
            }
            list.extend([0x90, 0x00]);
            list
        })
        .respond(move |apdu| {
            assert_eq!(&apdu[..2], &[0x00, 0xA4], "CALCULATE ALL");
            let mut all = Vec::new();
            for id in ids {
                tlv::push(&mut all, tag::NAME, id.as_bytes());
                tlv::push(&mut all, 0x76, &[6, 0, 0, 0, 42]);
            }
            all.extend([0x90, 0x00]);
            all
        })
}

/// The probe's variant, for failure messages (a scripted card has no Debug).
fn what<T: Transport>(probe: &AccountProbe<T>) -> &'static str {
    match probe {
        AccountProbe::Found { .. } => "Found",
        AccountProbe::NotFound { .. } => "NotFound",
        AccountProbe::Locked { .. } => "Locked",
    }
}

#[test]
fn the_account_is_found_by_its_exact_id_only() {
    let mut card = card_with(&["AWS:alice2", "AWS:alice"]);
    let session = Session::open(&mut card).unwrap();
    let probe = account_on(key(), session, &AccountId::new("AWS:alice"), |_| None).unwrap();
    let AccountProbe::Found { account, .. } = probe else {
        panic!("{}", what(&probe));
    };
    assert_eq!(account.id.text(), "AWS:alice");
    assert_eq!(account.touch, Some(false));
    card.assert_done();

    let mut card = card_with(&["AWS:alice2", "AWS:alice"]);
    let session = Session::open(&mut card).unwrap();
    let probe = account_on(key(), session, &AccountId::new("alice"), |_| None).unwrap();
    let AccountProbe::NotFound { accounts, .. } = probe else {
        panic!("a substring is no match: {}", what(&probe));
    };
    let ids: Vec<String> = accounts.iter().map(|a| a.id.text()).collect();
    assert_eq!(ids, ["AWS:alice2", "AWS:alice"]);
}

#[test]
fn a_locked_key_without_an_access_key_is_reported_without_a_list() {
    let mut card = ScriptedCard::new().expect(SELECT, SELECT_LOCKED);
    let session = Session::open(&mut card).unwrap();
    let mut asked_for = None;
    let probe = account_on(key(), session, &AccountId::new("AWS:alice"), |k| {
        asked_for = Some(k.device_id.clone());
        None
    })
    .unwrap();
    assert!(
        matches!(probe, AccountProbe::Locked { refused: false, .. }),
        "{}",
        what(&probe)
    );
    assert_eq!(asked_for.as_deref(), Some("ZoQN2hVOihE8Md0K0y9/Og"));
    drop(probe);
    card.assert_done();
}

#[test]
fn a_refused_access_key_is_reported_and_the_applet_selected_again() {
    let mut card = ScriptedCard::new()
        .expect(SELECT, SELECT_LOCKED)
        .respond(|apdu| {
            assert_eq!(&apdu[..2], &[0x00, 0xA3], "VALIDATE");
            hex("6984")
        })
        .expect(SELECT, SELECT_LOCKED);
    let session = Session::open(&mut card).unwrap();
    let stale = AccessKey::from_bytes([0; crate::oath::crypto::ACCESS_KEY_LEN]);
    let probe = account_on(key(), session, &AccountId::new("AWS:alice"), |_| {
        Some(stale)
    })
    .unwrap();
    assert!(
        matches!(probe, AccountProbe::Locked { refused: true, .. }),
        "{}",
        what(&probe)
    );
    drop(probe);
    card.assert_done();
}
