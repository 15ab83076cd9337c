//! The session against scripted cards: unlocking, calculating, the hold
//! that makes an operation one transaction, recovering from another
//! program's SELECT or reset, and the 4.2 touch workaround.

use super::*;
use crate::oath::account::{AccountId, Algorithm};
use crate::oath::testing::{hex, ReservedCard, ScriptedCard};
use proptest::prelude::*;
use std::time::{Duration, UNIX_EPOCH};

/// A TOTP account known only by its id (period taken from the id).
fn totp(id: &str) -> Account {
    Account::new(AccountId::new(id), OathType::Totp)
}

const SELECT: &str = "00A40400 07 A0000005272101";
const SELECT_OPEN: &str = "7903 050403 7108 0102030405060708 9000";

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

fn open(card: ScriptedCard) -> Session<ScriptedCard> {
    Session::open(card).unwrap()
}

#[test]
fn select_without_challenge_means_no_password() {
    let session = open(ScriptedCard::new().expect(SELECT, SELECT_OPEN));
    assert!(!session.has_password());
    assert!(session.is_unlocked());
    assert_eq!(session.version(), Version(5, 4, 3));
    assert_eq!(session.device_id(), "ZoQN2hVOihE8Md0K0y9/Og");
}

/// The card side of VALIDATE, for the scripted round trip.
fn card_answer(key: &AccessKey, host_challenge: &[u8]) -> Vec<u8> {
    crypto::hmac(Algorithm::Sha1, key.expose(), host_challenge)
        .unwrap()
        .to_vec()
}

#[test]
fn validate_round_trip_unlocks_the_session() {
    let salt = [1u8, 2, 3, 4, 5, 6, 7, 8];
    let card_challenge = [9u8; 8];
    let key = AccessKey::derive("hunter2", &salt);
    let expected_response = crypto::hmac(Algorithm::Sha1, key.expose(), &card_challenge).unwrap();
    let key_for_card = key.clone();
    let card = ScriptedCard::new()
        .expect(
            SELECT,
            "7903050403 71080102030405060708 74080909090909090909 7B0101 9000",
        )
        .respond(move |apdu| {
            // 00 A3 00 00 Lc 75 14 <20 bytes> 74 08 <8 bytes>
            assert_eq!(&apdu[..4], &[0x00, 0xA3, 0x00, 0x00]);
            let tlvs = tlv::parse_all(&apdu[5..]).unwrap();
            assert_eq!(tlv::find(&tlvs, 0x75).unwrap(), &expected_response[..]);
            let host_challenge = tlv::find(&tlvs, 0x74).unwrap();
            let mut answer = Vec::new();
            tlv::push(
                &mut answer,
                0x75,
                &card_answer(&key_for_card, host_challenge),
            );
            answer.extend([0x90, 0x00]);
            answer
        });
    let mut session = open(card);
    assert!(session.has_password());
    assert!(matches!(session.list(), Err(Error::PasswordRequired)));
    session.unlock_with_password("hunter2").unwrap();
    assert!(session.is_unlocked());
}

/// A card's VALIDATE answer for `key`: HMAC of the host's challenge.
fn validating_card(key: AccessKey) -> impl FnMut(&[u8]) -> Vec<u8> {
    move |apdu| {
        assert_eq!(&apdu[..4], &[0x00, 0xA3, 0x00, 0x00], "VALIDATE");
        let tlvs = tlv::parse_all(&apdu[5..]).unwrap();
        let mut answer = Vec::new();
        let host_challenge = tlv::find(&tlvs, 0x74).unwrap();
        tlv::push(&mut answer, 0x75, &card_answer(&key, host_challenge));
        answer.extend([0x90, 0x00]);
        answer
    }
}

#[test]
fn a_second_operation_after_another_program_selected_validates_again_with_the_kept_key() {
    const SELECT_LOCKED: &str = "7903050403 71080102030405060708 74080909090909090909 9000";
    let key = AccessKey::derive("hunter2", &[1, 2, 3, 4, 5, 6, 7, 8]);
    let calculate = "00A20001 15 7109 4157533A616C696365 7408 0000000000000001";
    let mut card = ScriptedCard::new()
        .expect(SELECT, SELECT_LOCKED)
        .respond(validating_card(key.clone()))
        .expect(calculate, "7605 06 00000102 9000")
        // Another program SELECTs the OATH applet: authentication is gone.
        .expect(calculate, "6982")
        .expect(SELECT, SELECT_LOCKED)
        .respond(validating_card(key.clone()))
        .expect(calculate, "7605 06 00000102 9000");
    let mut session = Session::open(&mut card).unwrap();
    session.unlock_with_key(&key).unwrap();
    let mut account = totp("AWS:alice");
    account.touch = Some(false);
    assert_eq!(
        session.calculate(&account, at(59)).unwrap().expose(),
        "000258"
    );
    assert_eq!(
        session.calculate(&account, at(59)).unwrap().expose(),
        "000258"
    );
    drop(session);
    card.assert_done();
}

/// An account that CALCULATE ALL showed needs no touch.
fn totp_without_touch(id: &str) -> Account {
    let mut account = totp(id);
    account.touch = Some(false);
    account
}

#[test]
fn the_cold_path_select_validate_calculate_is_one_reservation_of_the_card() {
    const SELECT_LOCKED: &str = "7903050403 71080102030405060708 74080909090909090909 9000";
    let key = AccessKey::derive("hunter2", &[1, 2, 3, 4, 5, 6, 7, 8]);
    let calculate = "00A20001 15 7109 4157533A616C696365 7408 0000000000000001";
    let mut card = ReservedCard::new(
        ScriptedCard::new()
            .expect(SELECT, SELECT_LOCKED)
            .respond(validating_card(key.clone()))
            .expect(calculate, "7605 06 00000102 9000")
            .expect(calculate, "7605 06 00000102 9000"),
    );
    let mut session = Session::open(&mut card).unwrap();
    session.unlock_with_key(&key).unwrap();
    session
        .calculate(&totp_without_touch("AWS:alice"), at(59))
        .unwrap();
    // The hold ends with the first operation: a second one is its own.
    session
        .calculate(&totp_without_touch("AWS:alice"), at(59))
        .unwrap();
    drop(session);
    assert_eq!(card.sent_in, [Some(1), Some(1), Some(1), Some(2)]);
    assert!(!card.is_held());
    card.card.assert_done();
}

#[test]
fn a_calculate_that_may_wait_for_a_touch_is_sent_outside_any_transaction() {
    const SELECT_LOCKED: &str = "7903050403 71080102030405060708 74080909090909090909 9000";
    let key = AccessKey::derive("hunter2", &[1, 2, 3, 4, 5, 6, 7, 8]);
    let calculate = "00A20001 15 7109 4157533A616C696365 7408 0000000000000001";
    let mut card = ReservedCard::new(
        ScriptedCard::new()
            .expect(SELECT, SELECT_LOCKED)
            .respond(validating_card(key.clone()))
            .expect(calculate, "7605 06 00000102 9000")
            .expect(calculate, "7605 06 00000102 9000"),
    );
    let mut session = Session::open(&mut card).unwrap();
    session.unlock_with_key(&key).unwrap();
    // Touch unknown, then known to be needed: a person may be waited
    // for, and vegas killed meanwhile must not hold a transaction.
    session.calculate(&totp("AWS:alice"), at(59)).unwrap();
    let mut touch = totp("AWS:alice");
    touch.touch = Some(true);
    session.calculate(&touch, at(59)).unwrap();
    drop(session);
    assert_eq!(card.sent_in, [Some(1), Some(1), None, None]);
    assert!(!card.is_held());
    card.card.assert_done();
}

#[test]
fn another_program_selecting_before_a_touch_calculate_is_met_with_select_validate_and_the_calculate_again(
) {
    const SELECT_LOCKED: &str = "7903050403 71080102030405060708 74080909090909090909 9000";
    let key = AccessKey::derive("hunter2", &[1, 2, 3, 4, 5, 6, 7, 8]);
    let calculate = "00A20001 15 7109 4157533A616C696365 7408 0000000000000001";
    let mut card = ReservedCard::new(
        ScriptedCard::new()
            .expect(SELECT, SELECT_LOCKED)
            .respond(validating_card(key.clone()))
            // PIV was selected in the gap: it knows no CALCULATE.
            .expect(calculate, "6D00")
            .expect(SELECT, SELECT_LOCKED)
            .respond(validating_card(key.clone()))
            .expect(calculate, "7605 06 00000102 9000"),
    );
    let mut session = Session::open(&mut card).unwrap();
    session.unlock_with_key(&key).unwrap();
    let code = session.calculate(&totp("AWS:alice"), at(59)).unwrap();
    assert_eq!(code.expose(), "000258");
    drop(session);
    assert_eq!(
        card.sent_in,
        [Some(1), Some(1), None, Some(2), Some(2), None]
    );
    assert!(!card.is_held());
    card.card.assert_done();
}

#[test]
fn an_early_error_lets_go_of_the_card() {
    const SELECT_LOCKED: &str = "7903050403 71080102030405060708 74080909090909090909 9000";
    let mut card = ReservedCard::new(ScriptedCard::new().expect(SELECT, SELECT_LOCKED));
    let mut session = Session::open(&mut card).unwrap();
    assert!(session.transport.is_held());
    assert!(matches!(session.list(), Err(Error::PasswordRequired)));
    assert!(!session.transport.is_held());
}

#[test]
fn a_failed_unlock_lets_go_of_the_card() {
    const SELECT_LOCKED: &str = "7903050403 71080102030405060708 74080909090909090909 9000";
    let key = AccessKey::derive("hunter2", &[1, 2, 3, 4, 5, 6, 7, 8]);
    let mut card = ReservedCard::new(
        ScriptedCard::new()
            .expect(SELECT, SELECT_LOCKED)
            .respond(|_| hex("6A80")),
    );
    let mut session = Session::open(&mut card).unwrap();
    assert!(session.unlock_with_key(&key).is_err());
    assert!(!session.transport.is_held());
}

#[test]
fn unlocking_afresh_after_a_release_holds_select_validate_and_calculate_together() {
    const SELECT_LOCKED: &str = "7903050403 71080102030405060708 74080909090909090909 9000";
    let key = AccessKey::derive("hunter2", &[1, 2, 3, 4, 5, 6, 7, 8]);
    let mut card = ReservedCard::new(
        ScriptedCard::new()
            .expect(SELECT, SELECT_LOCKED)
            .expect(SELECT, SELECT_LOCKED)
            .respond(validating_card(key.clone()))
            .expect(
                "00A20001 15 7109 4157533A616C696365 7408 0000000000000001",
                "7605 06 00000102 9000",
            ),
    );
    let mut session = Session::open(&mut card).unwrap();
    // A person types the password: the card is free meanwhile.
    session.release();
    assert!(!session.transport.is_held());
    session.unlock_afresh(&key).unwrap();
    session
        .calculate(&totp_without_touch("AWS:alice"), at(59))
        .unwrap();
    drop(session);
    assert_eq!(card.sent_in, [Some(1), Some(2), Some(2), Some(2)]);
    assert!(!card.is_held());
}

#[test]
fn card_answer_that_does_not_match_is_refused() {
    let card = ScriptedCard::new()
        .expect(
            SELECT,
            "7903050403 71080102030405060708 74080909090909090909 9000",
        )
        .respond(|_| hex("7514 0000000000000000000000000000000000000000 9000"));
    let mut session = open(card);
    assert!(matches!(
        session.unlock_with_password("x"),
        Err(Error::NotAuthentic)
    ));
    assert!(!session.is_unlocked());
}

#[test]
fn rejected_validate_is_a_wrong_password() {
    for sw in ["6984", "6A80"] {
        let card = ScriptedCard::new()
            .expect(
                SELECT,
                "7903050403 71080102030405060708 74080909090909090909 9000",
            )
            .respond(move |_| hex(sw));
        let mut session = open(card);
        assert!(matches!(
            session.unlock_with_password("wrong"),
            Err(Error::WrongPassword)
        ));
    }
}

#[test]
fn unlock_without_password_sends_nothing() {
    let mut card = ScriptedCard::new().expect(SELECT, SELECT_OPEN);
    let mut session = Session::open(&mut card).unwrap();
    session.unlock_with_password("anything").unwrap();
    drop(session);
    card.assert_done();
}

#[test]
fn calculate_sends_name_and_time_step_and_builds_the_code() {
    // t = 59: step 1 for period 30.
    let card = ScriptedCard::new().expect(SELECT, SELECT_OPEN).expect(
        "00A20001 15 7109 4157533A616C696365 7408 0000000000000001",
        "7605 06 00000102 9000",
    );
    let mut session = open(card);
    let code = session.calculate(&totp("AWS:alice"), at(59)).unwrap();
    assert_eq!(code.expose(), "000258");
    assert_eq!((code.valid_from(), code.valid_to()), (Some(30), Some(60)));
}

#[test]
fn calculate_uses_the_period_from_the_id() {
    // t = 125, period 60: step 2.
    let card = ScriptedCard::new().expect(SELECT, SELECT_OPEN).expect(
        "00A20001 10 7104 36302F61 7408 0000000000000002",
        "7605 08 00000001 9000",
    );
    let mut session = open(card);
    let code = session.calculate(&totp("60/a"), at(125)).unwrap();
    assert_eq!(code.expose(), "00000001");
    assert_eq!(code.valid_to(), Some(180));
}

#[test]
fn a_steam_account_is_calculated_in_30_s_steps_whatever_its_id_says() {
    // t = 125: the 30 s step 4, where the id's 60 s would give step 2.
    let card = ScriptedCard::new().expect(SELECT, SELECT_OPEN).expect(
        "00A20001 1A 710E 36302F537465616D3A67616D6572 7408 0000000000000004",
        "7605 06 00000102 9000",
    );
    let mut session = open(card);
    let mut steam = totp("60/Steam:gamer");
    steam.issuer = Some("Steam".into());
    let code = session.calculate(&steam, at(125)).unwrap();
    assert_eq!(code.expose().len(), 5);
    assert_eq!(code.valid_to(), Some(150));
}

#[test]
fn hotp_calculate_sends_an_empty_challenge() {
    let card = ScriptedCard::new()
        .expect(SELECT, SELECT_OPEN)
        .expect("00A20001 07 7103 626F62 7400", "7605 06 00000007 9000");
    let mut session = open(card);
    let code = session
        .calculate(
            &Account::new(AccountId::new("bob"), OathType::Hotp),
            at(1000),
        )
        .unwrap();
    assert_eq!(code.expose(), "000007");
    assert_eq!(code.valid_to(), None);
}

#[test]
fn calculate_of_a_missing_account_names_it() {
    let card = ScriptedCard::new()
        .expect(SELECT, SELECT_OPEN)
        .respond(|_| hex("6984"));
    let mut session = open(card);
    match session.calculate(&totp("nope"), at(0)) {
        Err(Error::NoSuchAccount { id }) => assert_eq!(id, "nope"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn security_status_on_a_touch_account_is_a_touch_timeout() {
    let card = ScriptedCard::new()
        .expect(SELECT, SELECT_OPEN)
        .respond(|_| hex("6982"));
    let mut session = open(card);
    let mut account = Account::new(AccountId::new("t"), OathType::Totp);
    account.touch = Some(true);
    assert!(matches!(
        session.calculate(&account, at(0)),
        Err(Error::TouchTimedOut)
    ));
}

#[test]
fn a_calculate_answered_by_another_applet_selects_oath_again_and_redoes_it() {
    // Another program selected PIV between our SELECT and CALCULATE.
    let calculate = "00A20001 15 7109 4157533A616C696365 7408 0000000000000001";
    let mut card = ScriptedCard::new()
        .expect(SELECT, SELECT_OPEN)
        .expect(calculate, "6D00")
        .expect(SELECT, SELECT_OPEN)
        .expect(calculate, "7605 06 00000102 9000");
    let mut session = Session::open(&mut card).unwrap();
    let code = session.calculate(&totp("AWS:alice"), at(59)).unwrap();
    assert_eq!(code.expose(), "000258");
    drop(session);
    card.assert_done();
}

/// A card another program resets once, before the command `reset_at`.
struct ResetOnce {
    card: ScriptedCard,
    reset_at: usize,
    sent: usize,
    reconnects: usize,
}

impl Transport for ResetOnce {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        self.sent += 1;
        if self.sent == self.reset_at {
            return Err(Error::CardReset { reader: "R".into() });
        }
        self.card.transmit(apdu)
    }

    fn reconnect(&mut self) -> Result<(), Error> {
        self.reconnects += 1;
        Ok(())
    }
}

#[test]
fn a_reset_by_another_program_reconnects_selects_again_and_redoes_the_command_once() {
    let calculate = "00A20001 15 7109 4157533A616C696365 7408 0000000000000001";
    let mut card = ResetOnce {
        card: ScriptedCard::new()
            .expect(SELECT, SELECT_OPEN)
            .expect(SELECT, SELECT_OPEN)
            .expect(calculate, "7605 06 00000102 9000"),
        reset_at: 2,
        sent: 0,
        reconnects: 0,
    };
    let mut session = Session::open(&mut card).unwrap();
    let code = session.calculate(&totp("AWS:alice"), at(59)).unwrap();
    assert_eq!(code.expose(), "000258");
    drop(session);
    assert_eq!(card.reconnects, 1);
    card.card.assert_done();
}

#[test]
fn a_lost_selection_without_a_kept_access_key_asks_for_the_password() {
    let card = ScriptedCard::new()
        .expect(SELECT, SELECT_OPEN)
        .respond(|_| hex("6D00"))
        .expect(
            SELECT,
            "7903050403 71080102030405060708 74080909090909090909 9000",
        );
    let mut session = open(card);
    assert!(matches!(
        session.calculate(&totp("AWS:alice"), at(59)),
        Err(Error::PasswordRequired)
    ));
}

#[test]
fn security_status_for_an_account_of_unknown_touch_is_a_touch_timeout_not_a_password() {
    let card = ScriptedCard::new()
        .expect(SELECT, SELECT_OPEN)
        .respond(|_| hex("6982"));
    let mut session = open(card);
    assert!(matches!(
        session.calculate(&totp("t"), at(0)),
        Err(Error::TouchTimedOut)
    ));
}

#[test]
fn yubikey_4_2_gets_a_dummy_apdu_after_a_long_answer_and_5_x_does_not() {
    let mut long = Vec::new();
    for name in [
        &b"AWS:alice"[..],
        b"Example:bob",
        b"Example:carol",
        b"touchy",
    ] {
        tlv::push(&mut long, tag::NAME, name);
        tlv::push(&mut long, tag::TOUCH, &[6]);
    }
    long.extend([0x90, 0x00]);
    let long = crate::oath::testing::to_hex(&long);
    let calculate = "00A20001 12 7106 746F75636879 7408 0000000000000003";
    for (select, dummy) in [
        ("7903 040206 7108 0102030405060708 9000", true),
        (SELECT_OPEN, false),
    ] {
        let mut card = ScriptedCard::new()
            .expect(SELECT, select)
            .expect("00A40001 0A 7408 0000000000000003", &long);
        if dummy {
            card = card.expect("00000000", "6D00");
        }
        let mut card = card.expect(calculate, "7605 06 00000102 9000");
        let mut session = Session::open(&mut card).unwrap();
        session.calculate_all(at(100)).unwrap();
        let mut account = totp("touchy");
        account.touch = Some(true);
        session.calculate(&account, at(100)).unwrap();
        drop(session);
        card.assert_done();
    }
}

#[test]
fn yubikey_4_2_measures_a_chained_answer_whole_so_a_short_last_chunk_still_gets_the_dummy() {
    // CALCULATE ALL of 25 touch accounts: 275 bytes, sent as 255 + 20.
    let mut all = Vec::new();
    for n in 0..25 {
        tlv::push(&mut all, tag::NAME, format!("acct{n:02}").as_bytes());
        tlv::push(&mut all, tag::TOUCH, &[6]);
    }
    let (first, last) = all.split_at(255);
    let to_hex = crate::oath::testing::to_hex;
    let calculate = "00A20001 12 7106 746F75636879 7408 0000000000000003";
    let mut card = ScriptedCard::new()
        .expect(SELECT, "7903 040206 7108 0102030405060708 9000")
        .expect(
            "00A40001 0A 7408 0000000000000003",
            &format!("{} 6114", to_hex(first)),
        )
        .expect("00A50000", &format!("{} 9000", to_hex(last)))
        .expect("00000000", "6D00")
        .expect(calculate, "7605 06 00000102 9000");
    let mut session = Session::open(&mut card).unwrap();
    assert_eq!(session.calculate_all(at(100)).unwrap().len(), 25);
    let mut account = totp("touchy");
    account.touch = Some(true);
    session.calculate(&account, at(100)).unwrap();
    drop(session);
    card.assert_done();
}

#[test]
fn calculate_all_gives_codes_and_recalculates_other_periods() {
    // t = 100: 30 s step 3; the 60 s account is asked again with step 1.
    let mut answer = Vec::new();
    tlv::push(&mut answer, tag::NAME, b"AWS:alice");
    tlv::push(&mut answer, tag::TRUNCATED, &[6, 0, 0, 0, 42]);
    tlv::push(&mut answer, tag::NAME, b"60/slow");
    tlv::push(&mut answer, tag::TRUNCATED, &[6, 0, 0, 0, 1]);
    tlv::push(&mut answer, tag::NAME, b"Ex:counter");
    tlv::push(&mut answer, tag::HOTP, &[]);
    tlv::push(&mut answer, tag::NAME, b"touchy");
    tlv::push(&mut answer, tag::TOUCH, &[6]);
    answer.extend([0x90, 0x00]);
    let card = ScriptedCard::new()
        .expect(SELECT, SELECT_OPEN)
        .expect(
            "00A40001 0A 7408 0000000000000003",
            &crate::oath::testing::to_hex(&answer),
        )
        .expect(
            "00A20001 13 7107 36302F736C6F77 7408 0000000000000001",
            "7605 06 00000063 9000",
        );
    let mut session = open(card);
    let entries = session.calculate_all(at(100)).unwrap();
    let summary: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e.account.id.text(),
                e.account.oath_type,
                e.account.touch,
                e.code.as_ref().map(|c| c.expose().to_owned()),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "AWS:alice".into(),
                OathType::Totp,
                Some(false),
                Some("000042".into())
            ),
            (
                "60/slow".into(),
                OathType::Totp,
                Some(false),
                Some("000099".into())
            ),
            ("Ex:counter".into(), OathType::Hotp, None, None),
            ("touchy".into(), OathType::Totp, Some(true), None),
        ]
    );
    assert_eq!(entries[1].code.as_ref().unwrap().valid_from(), Some(60));
}

#[test]
fn calculate_all_where_skips_unwanted_recalculations() {
    let mut answer = Vec::new();
    tlv::push(&mut answer, tag::NAME, b"60/slow");
    tlv::push(&mut answer, tag::TRUNCATED, &[6, 0, 0, 0, 1]);
    answer.extend([0x90, 0x00]);
    let mut card = ScriptedCard::new().expect(SELECT, SELECT_OPEN).expect(
        "00A40001 0A 7408 0000000000000003",
        &crate::oath::testing::to_hex(&answer),
    );
    let mut session = Session::open(&mut card).unwrap();
    let entries = session.calculate_all_where(at(100), |_| false).unwrap();
    assert_eq!(entries.len(), 1);
    assert!(entries[0].code.is_none());
    drop(session);
    card.assert_done();
}

#[test]
fn accounts_merge_list_with_calculate_all() {
    let mut list = Vec::new();
    tlv::push(&mut list, tag::NAME_LIST, b"\x22AWS:alice");
    tlv::push(&mut list, tag::NAME_LIST, b"\x21touchy");
    list.extend([0x90, 0x00]);
    let mut all = Vec::new();
    tlv::push(&mut all, tag::NAME, b"AWS:alice");
    tlv::push(&mut all, tag::TRUNCATED, &[8, 0, 0, 0, 42]);
    tlv::push(&mut all, tag::NAME, b"touchy");
    tlv::push(&mut all, tag::TOUCH, &[6]);
    all.extend([0x90, 0x00]);
    let card = ScriptedCard::new()
        .expect(SELECT, SELECT_OPEN)
        .expect("00A10000", &crate::oath::testing::to_hex(&list))
        .expect(
            "00A40001 0A 7408 0000000000000000",
            &crate::oath::testing::to_hex(&all),
        );
    let mut session = open(card);
    let accounts = session.accounts(at(10)).unwrap();
    assert_eq!(accounts[0].algorithm, Some(Algorithm::Sha256));
    assert_eq!(
        (accounts[0].digits, accounts[0].touch),
        (Some(8), Some(false))
    );
    assert_eq!((accounts[1].digits, accounts[1].touch), (None, Some(true)));
}

proptest! {
    #[test]
    fn no_card_answer_makes_a_session_panic(
        select in proptest::collection::vec(any::<u8>(), 0..64),
        answers in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..6),
    ) {
        let mut card = crate::oath::testing::Chaos::new(select, answers);
        if let Ok(mut session) = Session::open(&mut card) {
            let _ = session.unlock_with_password("pw");
            let _ = session.list();
            let _ = session.accounts(at(1000));
            let _ = session.calculate_all(at(1000));
            let _ = session.calculate(&totp("x"), at(1000));
        }
    }
}
