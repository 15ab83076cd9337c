//! The virtual YubiKey is faithful: its arithmetic matches the RFC vectors,
//! and ykman (Yubico's own client, an independent reading of YKOATH) lists,
//! computes, adds and unlocks accounts on it through a real pcscd exactly as
//! on a real key. Every later PC/SC test of vegas rests on this.

mod support;

use std::time::Duration;
use support::card::{Account, Algorithm, TouchResponse, VirtualYubiKey};
use support::pcscd::Pcscd;
use support::run::{run_timed, Run};
use support::venv::venv_bin;

// ---------------------------------------------------------------------------
// The card alone: code arithmetic and APDU details ykman does not exercise.

const RFC_SEED_SHA1: &[u8] = b"12345678901234567890";
const RFC_SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
const RFC_SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

#[test]
fn totp_codes_match_rfc_6238_vectors_for_every_algorithm() {
    let account =
        |seed: &[u8], algorithm| Account::totp("rfc", seed).algorithm(algorithm).digits(8);
    let cases = [
        (59, "94287082", "46119246", "90693936"),
        (1111111109, "07081804", "68084774", "25091201"),
        (2000000000, "69279037", "90698825", "38618901"),
    ];
    for (time, sha1, sha256, sha512) in cases {
        assert_eq!(
            account(RFC_SEED_SHA1, Algorithm::Sha1).totp_code_at(time),
            sha1
        );
        assert_eq!(
            account(RFC_SEED_SHA256, Algorithm::Sha256).totp_code_at(time),
            sha256
        );
        assert_eq!(
            account(RFC_SEED_SHA512, Algorithm::Sha512).totp_code_at(time),
            sha512
        );
    }
}

#[test]
fn hotp_codes_match_rfc_4226_vectors() {
    let expected = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];
    let account = Account::hotp("rfc", RFC_SEED_SHA1);
    for (counter, code) in expected.iter().enumerate() {
        assert_eq!(account.hotp_code(counter as u64), *code);
    }
}

fn sw(response: &[u8]) -> u16 {
    u16::from_be_bytes([response[response.len() - 2], response[response.len() - 1]])
}

const SELECT_OATH: &[u8] = &[
    0x00, 0xA4, 0x04, 0x00, 0x07, 0xA0, 0x00, 0x00, 0x05, 0x27, 0x21, 0x01,
];

#[test]
fn calculate_answers_the_same_in_short_extended_and_chained_apdus() {
    let account = Account::totp("AWS:alice", RFC_SEED_SHA1);
    let mut card = VirtualYubiKey::new(1).with_account(account.clone());
    assert_eq!(sw(&card.process(SELECT_OATH)), 0x9000);
    let mut body = vec![0x71, 9];
    body.extend(b"AWS:alice");
    body.extend([0x74, 8, 0, 0, 0, 0, 0, 0, 0, 1]); // time step 1 = unix time 30..59
    let short = [&[0x00, 0xA2, 0x00, 0x01, body.len() as u8][..], &body].concat();
    let extended = [
        &[0x00, 0xA2, 0x00, 0x01, 0x00, 0x00, body.len() as u8][..],
        &body,
    ]
    .concat();
    let expected = card.process(&short);
    assert_eq!(sw(&expected), 0x9000);
    assert_eq!(card.process(&extended), expected);
    let (first, second) = body.split_at(5);
    let chained_start = [&[0x10, 0xA2, 0x00, 0x01, first.len() as u8][..], first].concat();
    let chained_end = [&[0x00, 0xA2, 0x00, 0x01, second.len() as u8][..], second].concat();
    assert_eq!(sw(&card.process(&chained_start)), 0x9000);
    assert_eq!(card.process(&chained_end), expected);
    // 76 05 [digits] [4 bytes]: the code ykman would print for unix time 30.
    let truncated: [u8; 4] = expected[3..7].try_into().unwrap();
    assert_eq!(
        support::card::account::format_code(expected[2], &truncated),
        account.totp_code_at(30)
    );
}

#[test]
fn a_locked_card_refuses_everything_but_select_validate_and_reset() {
    let mut card = VirtualYubiKey::new(1)
        .with_account(Account::totp("a", b"secretsecretsecret"))
        .with_password("pw");
    let select = card.process(SELECT_OATH);
    assert_eq!(sw(&select), 0x9000);
    assert!(
        select.windows(2).any(|w| w == [0x74, 0x08]),
        "SELECT of a locked card carries a challenge"
    );
    assert_eq!(sw(&card.process(&[0x00, 0xA1, 0x00, 0x00])), 0x6982, "LIST");
    assert_eq!(
        sw(&card.process(&[0x00, 0x02, 0x00, 0x00, 0x03, 0x71, 0x01, b'a'])),
        0x6982,
        "DELETE"
    );
    assert_eq!(
        sw(&card.process(&[0x00, 0x04, 0xDE, 0xAD])),
        0x9000,
        "RESET"
    );
    assert_eq!(sw(&card.process(SELECT_OATH)), 0x9000);
    assert_eq!(
        card.process(&[0x00, 0xA1, 0x00, 0x00]),
        vec![0x90, 0x00],
        "after RESET: no password, no accounts"
    );
}

// ---------------------------------------------------------------------------
// ykman against the card behind a private pcscd.

/// ykman on reader slot 0 of `pcscd`, with a private HOME (no remembered passwords).
struct Ykman {
    pcscd: Pcscd,
    home: tempfile::TempDir,
}

impl Ykman {
    fn new() -> Ykman {
        Ykman {
            pcscd: Pcscd::start(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_raw(&[&["--reader", &self.pcscd.reader_name(0)], args].concat())
    }

    fn run_raw(&self, args: &[&str]) -> Run {
        let mut command = self.pcscd.command(venv_bin("ykman"));
        command
            .args(args)
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join(".config"))
            .env("XDG_DATA_HOME", self.home.path().join(".local/share"));
        run_timed(command, None)
    }

    /// `oath accounts code --single ID` and the code it printed.
    fn code(&self, id: &str) -> (Run, String) {
        let run = self.run(&["oath", "accounts", "code", "--single", id]);
        let code = run.stdout().trim().to_owned();
        (run, code)
    }
}

fn assert_totp(ykman: &Ykman, account: &Account) {
    let (run, code) = ykman.code(&account.id());
    run.succeeded();
    let valid = account.totp_codes_between(run.started, run.finished);
    assert!(
        valid.contains(&code),
        "{}: ykman printed {code:?}, card secret gives {valid:?}",
        account.id()
    );
}

#[test]
fn ykman_lists_every_account_by_its_id() {
    let ykman = Ykman::new();
    let card = VirtualYubiKey::fixture("demo");
    let _inserted = ykman.pcscd.insert(card);
    let mut listed = ykman.run(&["oath", "accounts", "list"]).succeeded().lines();
    listed.sort();
    let expected = [
        "60/Example:slow",
        "AWS:alice@personal",
        "AWS:alice@work",
        "GitHub:alice",
        "counter",
    ];
    assert_eq!(listed, expected);
}

#[test]
fn ykman_codes_match_the_secrets_for_sha1_sha256_sha512_and_a_60_second_period() {
    let accounts = [
        Account::totp("sha1", b"12345678901234567890").issuer("AWS"),
        Account::totp("sha256", b"another secret, longer one")
            .issuer("Vault")
            .algorithm(Algorithm::Sha256)
            .digits(8),
        Account::totp("sha512", b"a third secret for SHA-512")
            .algorithm(Algorithm::Sha512)
            .digits(7),
        Account::totp("minute", b"sixty seconds per code!")
            .issuer("Slow")
            .period(60),
    ];
    let ykman = Ykman::new();
    let inserted = ykman
        .pcscd
        .insert(VirtualYubiKey::new(11).with_accounts(accounts.clone()));
    for account in &accounts {
        assert_totp(&ykman, account);
    }
    // Each run reads 30-second codes from CALCULATE ALL and recalculates the
    // 60-second account alone (whatever the query).
    let runs = accounts.len() as u32;
    assert_eq!(inserted.handle().calculate_alls(), runs);
    assert_eq!(inserted.handle().calculations("AWS:sha1"), 0);
    assert_eq!(inserted.handle().calculations("60/Slow:minute"), runs);
}

#[test]
fn ykman_hotp_codes_follow_the_counter() {
    let account = Account::hotp("counter", b"hotp secret 12345678")
        .issuer("Bank")
        .counter(5);
    let ykman = Ykman::new();
    let inserted = ykman
        .pcscd
        .insert(VirtualYubiKey::new(12).with_account(account.clone()));
    for counter in [5, 6] {
        let (run, code) = ykman.code("Bank:counter");
        run.succeeded();
        assert_eq!(code, account.hotp_code(counter));
    }
    assert_eq!(inserted.handle().calculations("Bank:counter"), 2);
    let card = inserted.remove();
    assert_eq!(
        card.account("Bank:counter").unwrap().kind,
        support::card::OathKind::Hotp { counter: 7 }
    );
}

#[test]
fn ykman_waits_for_the_touch_then_prints_the_code() {
    let account = Account::totp("touchy", b"touch me, then compute")
        .issuer("AWS")
        .touch();
    let ykman = Ykman::new();
    let card = VirtualYubiKey::new(13)
        .with_account(account.clone())
        .with_touch_response(TouchResponse::TouchedAfter(Duration::from_millis(700)));
    let inserted = ykman.pcscd.insert(card);
    let (run, code) = ykman.code("AWS:touchy");
    run.succeeded();
    assert!(
        run.stderr().contains("Touch your YubiKey"),
        "stderr: {}",
        run.stderr()
    );
    assert!(
        account
            .totp_codes_between(run.started, run.finished)
            .contains(&code),
        "code {code:?}"
    );
    assert_eq!(inserted.handle().touches(), 1);
}

#[test]
fn ykman_reports_a_touch_that_never_comes_as_timed_out() {
    let account = Account::totp("touchy", b"touch me, then compute")
        .issuer("AWS")
        .touch();
    let ykman = Ykman::new();
    let card = VirtualYubiKey::new(14)
        .with_account(account)
        .with_touch_response(TouchResponse::TimesOutAfter(Duration::from_millis(300)));
    let inserted = ykman.pcscd.insert(card);
    let (run, code) = ykman.code("AWS:touchy");
    assert_eq!(run.output.status.code(), Some(1));
    assert!(
        run.stderr().contains("Touch account timed out!"),
        "stderr: {}",
        run.stderr()
    );
    assert_eq!(code, "");
    assert_eq!(inserted.handle().touches(), 1);
}

#[test]
fn ykman_unlocks_with_the_right_password_and_rejects_a_wrong_one() {
    let ykman = Ykman::new();
    let inserted = ykman.pcscd.insert(VirtualYubiKey::fixture("locked"));
    let listed = ykman
        .run(&["oath", "accounts", "list", "-p", "correct horse"])
        .succeeded()
        .lines();
    assert_eq!(listed, ["AWS:bob"]);
    let wrong = ykman.run(&["oath", "accounts", "list", "-p", "wrong horse"]);
    assert_eq!(wrong.output.status.code(), Some(1));
    assert!(
        wrong
            .stderr()
            .contains("Authentication to the YubiKey failed. Wrong password?"),
        "stderr: {}",
        wrong.stderr()
    );
    assert_eq!(wrong.stdout(), "");
    // The wrong password never got as far as LIST.
    let lists = inserted
        .handle()
        .instructions()
        .iter()
        .filter(|&&ins| ins == 0xA1)
        .count();
    assert_eq!(lists, 1);
}

#[test]
fn ykman_reads_forty_accounts_through_response_chaining() {
    let accounts: Vec<Account> = (0..40)
        .map(|i| {
            Account::totp(
                &format!("user-{i:02}@example.com"),
                format!("secret number {i:02}!").as_bytes(),
            )
            .issuer("Issuer")
        })
        .collect();
    let ykman = Ykman::new();
    let inserted = ykman
        .pcscd
        .insert(VirtualYubiKey::new(15).with_accounts(accounts.clone()));
    let mut listed = ykman.run(&["oath", "accounts", "list"]).succeeded().lines();
    listed.sort();
    let mut expected: Vec<String> = accounts.iter().map(Account::id).collect();
    expected.sort();
    assert_eq!(listed, expected);
    assert!(
        inserted.handle().instructions().contains(&0xA5),
        "the LIST answer did not need SEND REMAINING"
    );
    assert_totp(&ykman, &accounts[39]);
}

#[test]
fn ykman_adds_an_account_that_then_lists_and_computes() {
    let ykman = Ykman::new();
    let inserted = ykman.pcscd.insert(VirtualYubiKey::new(16));
    ykman
        .run(&[
            "oath",
            "accounts",
            "add",
            "--issuer",
            "AWS",
            "--touch",
            "--force",
            "carol",
            "JBSWY3DPEHPK3PXP",
        ])
        .succeeded();
    assert_eq!(
        ykman.run(&["oath", "accounts", "list"]).succeeded().lines(),
        ["AWS:carol"]
    );
    let (run, code) = ykman.code("AWS:carol");
    run.succeeded();
    assert_eq!(
        inserted.handle().touches(),
        1,
        "the account was added with --touch"
    );
    let account = Account::totp("carol", b"Hello!\xDE\xAD\xBE\xEF").issuer("AWS");
    assert!(
        account
            .totp_codes_between(run.started, run.finished)
            .contains(&code),
        "code {code:?}"
    );
}

#[test]
fn ykman_identifies_the_key_by_serial_and_firmware() {
    let ykman = Ykman::new();
    let _inserted = ykman
        .pcscd
        .insert(VirtualYubiKey::new(24680135).with_version([5, 4, 3]));
    let info = ykman.run(&["info"]).succeeded().stdout();
    assert!(info.contains("Serial number: 24680135"), "{info}");
    assert!(info.contains("Firmware version: 5.4.3"), "{info}");
    let serials = ykman.run_raw(&["list", "--serials"]).succeeded().lines();
    assert_eq!(serials, ["24680135"]);
    ykman
        .run_raw(&["--device", "24680135", "oath", "accounts", "list"])
        .succeeded();
}

#[test]
fn ykman_sees_a_removed_card_go_and_a_reinserted_card_come_back() {
    let ykman = Ykman::new();
    let inserted = ykman
        .pcscd
        .insert(VirtualYubiKey::new(17).with_account(Account::totp("x", b"12345678901234567890")));
    let card = inserted.remove();
    let gone = ykman.run(&["oath", "accounts", "list"]);
    assert_eq!(
        gone.output.status.code(),
        Some(1),
        "stdout: {}",
        gone.stdout()
    );
    let _again = ykman.pcscd.insert(card);
    assert_eq!(
        ykman.run(&["oath", "accounts", "list"]).succeeded().lines(),
        ["x"]
    );
}

#[test]
fn ykman_sees_two_keys_in_the_two_slots_by_their_serials() {
    let ykman = Ykman::new();
    let _first = ykman.pcscd.insert(VirtualYubiKey::new(1111111));
    let _second = ykman.pcscd.insert_in_slot(1, VirtualYubiKey::new(2222222));
    let mut serials = ykman.run_raw(&["list", "--serials"]).succeeded().lines();
    serials.sort();
    assert_eq!(serials, ["1111111", "2222222"]);
    let info = ykman
        .run_raw(&["--device", "2222222", "info"])
        .succeeded()
        .stdout();
    assert!(info.contains("Serial number: 2222222"), "{info}");
}
