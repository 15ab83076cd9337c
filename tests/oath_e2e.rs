//! `vegas oath list|code|keys` end to end: the built binary against the
//! virtual YubiKey behind a private pcscd (one per test), with ykman from the
//! virtualenv as an independent client on the same card and codes computed
//! here from the secrets. Where vegas, ykman and the arithmetic agree for
//! every kind of account, vegas speaks YKOATH as a real key expects.
//!
//! The error cases (no key, no pcscd, two keys) are checked for their shape
//! (one error line, one hint, exit 1, nothing on stdout) and their speed.

mod support;

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use support::card::{Account, Algorithm, OathKind, TouchResponse, VirtualYubiKey};
use support::pcscd::{env_without_pcscd, Pcscd};
use support::run::{run_timed, Run};
use support::world::{vegas_bin, venv_bin};

/// The limit the issue sets for an error that involves no waiting.
const PROMPT_ERROR: Duration = Duration::from_secs(1);

/// A private pcscd and a HOME of nothing, for running vegas and ykman.
struct Rig {
    pcscd: Pcscd,
    home: tempfile::TempDir,
}

impl Rig {
    fn new() -> Rig {
        Rig {
            pcscd: Pcscd::start(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// `vegas ARGS`, with no terminal and an environment built from nothing.
    fn vegas(&self, args: &[&str]) -> Run {
        self.vegas_with_stdin(args, None)
    }

    fn vegas_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut command = self.command(vegas_bin());
        command.args(args);
        run_timed(command, stdin)
    }

    /// `ykman --reader <slot 0> ARGS`.
    fn ykman(&self, args: &[&str]) -> Run {
        let mut command = self.command(venv_bin("ykman"));
        command
            .args(["--reader", &self.pcscd.reader_name(0)])
            .args(args);
        run_timed(command, None)
    }

    /// `program` as a client of this rig's pcscd and nothing else.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = isolated(program, self.home.path());
        command.envs(self.pcscd.env());
        command
    }
}

/// `program` with no inherited environment (no `AWS_*`, no HOME of the
/// developer's, no `VEGAS_READER`) and no controlling terminal, so nothing
/// can prompt.
fn isolated(program: impl AsRef<std::ffi::OsStr>, home: &std::path::Path) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LANG", "C.UTF-8");
    // SAFETY: setsid is async-signal-safe and touches no memory of ours.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    command
}

/// The accounts most tests use: every algorithm, digit count and kind.
fn sha1() -> Account {
    Account::totp("alice@work", b"12345678901234567890").issuer("AWS")
}

fn sha256_8() -> Account {
    Account::totp("alice", b"another secret, longer one")
        .issuer("GitHub")
        .algorithm(Algorithm::Sha256)
        .digits(8)
}

fn sha512_7() -> Account {
    Account::totp("sha512", b"a third secret for SHA-512")
        .algorithm(Algorithm::Sha512)
        .digits(7)
}

fn minute() -> Account {
    Account::totp("slow", b"sixty seconds per code!")
        .issuer("Example")
        .period(60)
}

fn hotp() -> Account {
    Account::hotp("counter", b"hotp secret 12345678")
        .issuer("Bank")
        .counter(5)
}

fn touchy() -> Account {
    Account::totp("touchy", b"touch me, then compute")
        .issuer("AWS")
        .touch()
}

fn every_kind() -> Vec<Account> {
    vec![sha1(), sha256_8(), sha512_7(), minute(), hotp(), touchy()]
}

fn sorted(items: impl IntoIterator<Item = String>) -> Vec<String> {
    items
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn assert_totp_code(account: &Account, run: &Run, code: &str) {
    let valid = account.totp_codes_between(run.started, run.finished);
    assert!(
        valid.contains(&code.to_owned()),
        "{}: printed {code:?}, the secret gives {valid:?}",
        account.id()
    );
}

// ---------------------------------------------------------------------------
// Agreement with the card and with ykman.

#[test]
fn list_shows_the_same_ids_as_ykman_and_the_card() {
    let rig = Rig::new();
    let _card = rig
        .pcscd
        .insert(VirtualYubiKey::new(101).with_accounts(every_kind()));
    let card_ids = sorted(every_kind().iter().map(Account::id));
    let by_ykman = sorted(rig.ykman(&["oath", "accounts", "list"]).succeeded().lines());
    assert_eq!(by_ykman, card_ids);

    let run = rig.vegas(&["oath", "list"]);
    let lines = run.succeeded().lines();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "ID",
            "ISSUER",
            "NAME",
            "TYPE",
            "ALGORITHM",
            "DIGITS",
            "PERIOD",
            "TOUCH"
        ]
    );
    let by_vegas = sorted(
        lines[1..]
            .iter()
            .map(|line| line.split_whitespace().next().unwrap().to_owned()),
    );
    assert_eq!(by_vegas, card_ids);
}

#[test]
fn list_json_describes_every_account_as_the_card_holds_it() {
    let rig = Rig::new();
    let _card = rig
        .pcscd
        .insert(VirtualYubiKey::new(102).with_accounts(every_kind()));
    let json = rig.vegas(&["oath", "list", "--json"]).succeeded().json();
    let rows = json.as_array().expect("a JSON array");
    assert_eq!(rows.len(), every_kind().len());
    for account in every_kind() {
        let row = rows
            .iter()
            .find(|row| row["id"] == account.id())
            .unwrap_or_else(|| panic!("{} missing from {json:#}", account.id()));
        let (oath_type, period) = match account.kind {
            OathKind::Totp { period } => ("TOTP", Some(period)),
            OathKind::Hotp { .. } => ("HOTP", None),
        };
        assert_eq!(row["type"], oath_type, "{row}");
        assert_eq!(row["name"], account.name, "{row}");
        assert_eq!(row["issuer"].as_str(), account.issuer.as_deref(), "{row}");
        let algorithm = format!("{:?}", account.algorithm).to_uppercase();
        assert_eq!(row["algorithm"], algorithm, "{row}");
        if let Some(period) = period {
            assert_eq!(row["period"], period, "{row}");
        }
        if !account.touch && oath_type == "TOTP" {
            assert_eq!(row["digits"], account.digits, "{row}");
            assert_eq!(row["touch"], false, "{row}");
        }
        if account.touch {
            assert_eq!(row["touch"], true, "{row}");
        }
        if oath_type == "HOTP" {
            // CALCULATE ALL's `77` says nothing of touch (issue #12 item 4).
            assert!(row["touch"].is_null(), "{row}");
        }
    }
}

#[test]
fn totp_codes_match_ykman_and_the_secrets_for_each_algorithm_and_period() {
    let rig = Rig::new();
    let accounts = [sha1(), sha256_8(), sha512_7(), minute()];
    let _card = rig
        .pcscd
        .insert(VirtualYubiKey::new(103).with_accounts(accounts.clone()));
    for account in &accounts {
        let id = account.id();
        let vegas = rig.vegas(&["oath", "code", &id]);
        let code = vegas.single_code();
        assert!(
            vegas.lines()[0].starts_with(&format!("{id}  ")),
            "{}",
            vegas.stdout()
        );
        assert_totp_code(account, &vegas, &code);
        let ykman = rig.ykman(&["oath", "accounts", "code", "--single", &id]);
        let ykman_code = ykman.single_code();
        assert_totp_code(account, &ykman, &ykman_code);
        if vegas.finished == ykman.started {
            assert_eq!(code, ykman_code, "{id}: same second, same code");
        }
    }
}

#[test]
fn code_without_query_shows_every_account_with_placeholders_like_ykman() {
    let rig = Rig::new();
    let inserted = rig
        .pcscd
        .insert(VirtualYubiKey::new(104).with_accounts(every_kind()));
    let run = rig.vegas(&["oath", "code"]);
    let lines = run.succeeded().lines();
    assert_eq!(lines.len(), every_kind().len(), "{}", run.stdout());
    let shown = |id: &str| {
        lines
            .iter()
            .find_map(|line| line.strip_prefix(&format!("{id} ")))
            .unwrap_or_else(|| panic!("{id} not shown:\n{}", run.stdout()))
            .trim()
            .to_owned()
    };
    for account in [sha1(), sha256_8(), sha512_7(), minute()] {
        assert_totp_code(&account, &run, &shown(&account.id()));
    }
    assert_eq!(shown(&hotp().id()), "[HOTP Account]");
    assert_eq!(shown(&touchy().id()), "[Requires Touch]");
    // Codes right-aligned in one column, as ykman prints them.
    let widths: BTreeSet<usize> = lines.iter().map(|l| l.chars().count()).collect();
    assert_eq!(widths.len(), 1, "{}", run.stdout());
    // Listing moved no HOTP counter and asked for no touch.
    assert_eq!(inserted.handle().calculations(&hotp().id()), 0);
    assert_eq!(inserted.handle().touches(), 0);

    let json = rig.vegas(&["oath", "code", "--json"]).succeeded().json();
    let rows = json.as_array().expect("a JSON array");
    assert_eq!(rows.len(), every_kind().len());
    let row = |id: String| rows.iter().find(|r| r["id"] == id).unwrap().clone();
    assert!(row(hotp().id())["code"].is_null());
    assert!(row(touchy().id())["code"].is_null());
    let sha1_row = row(sha1().id());
    let valid_from = sha1_row["valid_from"].as_u64().unwrap();
    assert_eq!(sha1_row["valid_to"].as_u64().unwrap(), valid_from + 30);
    assert_eq!(
        sha1_row["code"].as_str().unwrap(),
        sha1().totp_code_at(valid_from)
    );
}

#[test]
fn hotp_code_moves_the_counter_in_step_with_ykman() {
    let rig = Rig::new();
    let inserted = rig
        .pcscd
        .insert(VirtualYubiKey::new(105).with_account(hotp()));
    let id = hotp().id();
    let first = rig.vegas(&["oath", "code", &id]).single_code();
    let second = rig.vegas(&["oath", "code", &id]).single_code();
    let by_ykman = rig
        .ykman(&["oath", "accounts", "code", "--single", &id])
        .single_code();
    let third = rig.vegas(&["oath", "code", &id]).single_code();
    assert_eq!(
        [first, second, by_ykman, third],
        [5, 6, 7, 8].map(|counter| hotp().hotp_code(counter))
    );
    assert_eq!(inserted.handle().calculations(&id), 4);
}

/// Issue #12 item 4: a YubiKey NEO (Management reports 3.x) has no READ
/// CONFIG; its serial comes from the OTP applet once Management is
/// de-selected, and `vegas oath keys` shows the key's firmware, not the
/// version of its OATH applet (which numbers its own).
#[test]
fn a_yubikey_neo_shows_its_serial_and_firmware_not_its_oath_applet_version() {
    let rig = Rig::new();
    let inserted = rig.pcscd.insert(
        VirtualYubiKey::new(3_000_114)
            .with_version([3, 4, 9])
            .with_account(sha1()),
    );
    let keys = rig.vegas(&["oath", "keys", "--json"]).succeeded().json();
    assert_eq!(keys[0]["serial"], 3_000_114, "{keys}");
    assert_eq!(keys[0]["firmware"], "3.4.9", "{keys}");
    assert_eq!(keys[0]["oath_version"], "0.2.6", "{keys}");
    let log = inserted.handle().apdu_log();
    let deselect = log.iter().position(|c| c == "INS 04").expect("de-selected");
    assert_eq!(
        log.get(deselect + 1).map(String::as_str),
        Some("SELECT OTP"),
        "{log:?}"
    );
    let run = rig.vegas(&["oath", "code", &sha1().id()]);
    assert_totp_code(&sha1(), &run, &run.single_code());
}

/// Issue #12 item 4: SW 6581 (memory failure) means a corrupted account;
/// the hint names the command that repairs it.
#[test]
fn a_corrupted_account_is_a_memory_failure_whose_hint_names_the_repair() {
    let rig = Rig::new();
    let _inserted = rig
        .pcscd
        .insert(VirtualYubiKey::new(113).with_accounts([sha1(), minute().broken()]));
    let (error, hint) = rig.vegas(&["oath", "code"]).clean_failure();
    assert!(error.contains("6581"), "{error}");
    assert!(hint.contains("`ykman oath accounts code`"), "{hint}");
    assert!(hint.contains("deleting the broken account"), "{hint}");
    assert!(hint.contains("may be the AWS MFA one"), "{hint}");
    assert!(
        hint.contains("assign a new MFA device in AWS IAM"),
        "{hint}"
    );
    assert!(
        hint.contains("deactivate that old MFA device in AWS IAM first")
            && hint.contains("administrator"),
        "{hint}"
    );
}

/// Issue #12 item 4: YubiKey 4.2.0–4.2.6 hang on a touch CALCULATE sent
/// within 2 s of an answer longer than 54 bytes (here: CALCULATE ALL of a
/// few accounts) unless a dummy APDU comes first, as yubikit sends one. The
/// virtual card hangs (leaves the reader) exactly then.
#[test]
fn yubikey_4_2_gets_a_dummy_apdu_before_a_touch_calculate_after_a_long_answer() {
    let accounts = [sha1(), sha256_8(), minute(), touchy()];
    for (version, dummy_expected) in [([4, 2, 6], true), ([4, 3, 1], false)] {
        let rig = Rig::new();
        let card = VirtualYubiKey::new(112)
            .with_version(version)
            .with_accounts(accounts.clone())
            .with_touch_response(TouchResponse::TouchedAfter(Duration::from_millis(100)));
        let inserted = rig.pcscd.insert(card);
        let run = rig.vegas(&["oath", "code", "touchy"]);
        assert_totp_code(&touchy(), &run, &run.single_code());
        let log = inserted.handle().apdu_log();
        let calculate = log
            .iter()
            .position(|c| c == "CALCULATE")
            .expect("CALCULATE");
        assert_eq!(
            log.get(calculate - 1).map(String::as_str) == Some("INS 00"),
            dummy_expected,
            "{version:?}: {log:?}"
        );
    }
}

/// The 4.2 quirk follows the whole answer, not its last chunk: a CALCULATE
/// ALL of 270 bytes goes out as 255 and 15, and the touch CALCULATE after
/// it still needs the dummy APDU (yubikit measures after its response
/// chaining). Without it the virtual card hangs.
#[test]
fn yubikey_4_2_gets_the_dummy_after_a_long_answer_whose_last_chunk_is_short() {
    // 18 accounts of 15 bytes each in CALCULATE ALL (touchy: AWS:touchy).
    let mut accounts: Vec<Account> = (0..17)
        .map(|n| Account::totp(&format!("acct{n:02}"), b"a secret of twenty b"))
        .collect();
    accounts.push(touchy());
    let rig = Rig::new();
    let card = VirtualYubiKey::new(114)
        .with_version([4, 2, 6])
        .with_accounts(accounts)
        .with_touch_response(TouchResponse::TouchedAfter(Duration::from_millis(100)));
    let inserted = rig.pcscd.insert(card);
    let run = rig.vegas(&["oath", "code", "touchy"]);
    assert_totp_code(&touchy(), &run, &run.single_code());
    let log = inserted.handle().apdu_log();
    let all = log.iter().position(|c| c == "CALCULATE ALL");
    assert_eq!(
        log[all.expect("CALCULATE ALL")..],
        ["CALCULATE ALL", "SEND REMAINING", "INS 00", "CALCULATE"],
        "{log:?}"
    );
}

/// Issue #12 item 4: a Steam account shows the 5-character Steam Guard
/// code ykman shows, never a numeric code that looks valid and is not.
#[test]
fn steam_accounts_show_the_steam_guard_code_ykman_shows() {
    let steam = Account::totp("gamer", b"steam guard secret!!").issuer("Steam");
    let rig = Rig::new();
    let _inserted = rig
        .pcscd
        .insert(VirtualYubiKey::new(111).with_accounts([steam.clone(), sha1()]));
    let by_ykman = || {
        rig.ykman(&["oath", "accounts", "code", "--single", &steam.id()])
            .single_code()
    };
    let by_vegas = || rig.vegas(&["oath", "code", &steam.id()]).single_code();
    let (mut ours, theirs) = (by_vegas(), by_ykman());
    if ours != theirs {
        // A 30-second step ended between the two: once more, in the next.
        ours = by_vegas();
    }
    assert_eq!(ours, theirs);
    assert_eq!(ours.len(), 5, "{ours}");
    assert!(
        ours.chars()
            .all(|c| "23456789BCDFGHJKMNPQRTVWXY".contains(c)),
        "{ours}"
    );
    // In the list of all codes too (from CALCULATE ALL).
    let all = rig.vegas(&["oath", "code"]).succeeded().lines();
    let line = all
        .iter()
        .find(|l| l.starts_with("Steam:gamer "))
        .unwrap_or_else(|| panic!("{all:?}"));
    let shown = line.split_whitespace().last().unwrap();
    assert!(shown == ours || shown == by_vegas(), "{line}");
}

/// Issue #12 item 4: CALCULATE ALL does not say whether an HOTP account
/// needs a touch, so the notice comes only when its CALCULATE keeps vegas
/// waiting (as ykman does); a touch that never comes is a touch timeout, not
/// "protected by a password".
#[test]
fn hotp_touch_account_is_announced_after_a_short_wait_and_its_timeout_named() {
    let hotp_touch = || hotp().touch();
    let rig = Rig::new();
    let card = VirtualYubiKey::new(109)
        .with_account(hotp_touch())
        .with_touch_response(TouchResponse::TouchedAfter(Duration::from_millis(1200)));
    let inserted = rig.pcscd.insert(card);
    let id = hotp_touch().id();
    let run = rig.vegas(&["oath", "code", &id]);
    assert_eq!(run.single_code(), hotp_touch().hotp_code(5));
    assert!(
        run.stderr().contains("Touch your YubiKey"),
        "{}",
        run.stderr()
    );

    inserted
        .handle()
        .set_touch_response(TouchResponse::TimesOutAfter(Duration::from_millis(900)));
    let run = rig.vegas(&["oath", "code", &id]);
    let (error, _) = run.clean_failure();
    assert_eq!(error, "vegas: the YubiKey was not touched in time");
    assert!(
        run.stderr().contains("Touch your YubiKey"),
        "{}",
        run.stderr()
    );
}

#[test]
fn an_hotp_account_without_touch_is_not_announced() {
    let rig = Rig::new();
    let _inserted = rig
        .pcscd
        .insert(VirtualYubiKey::new(110).with_account(hotp()));
    let run = rig.vegas(&["oath", "code", &hotp().id()]);
    assert_eq!(run.single_code(), hotp().hotp_code(5));
    assert!(!run.stderr().contains("Touch"), "{}", run.stderr());
}

#[test]
fn touch_account_says_touch_your_yubikey_then_prints_the_code() {
    let rig = Rig::new();
    let card = VirtualYubiKey::new(106)
        .with_account(touchy())
        .with_touch_response(TouchResponse::TouchedAfter(Duration::from_millis(700)));
    let inserted = rig.pcscd.insert(card);
    let run = rig.vegas(&["oath", "code", "touchy"]);
    let code = run.single_code();
    assert!(
        run.stderr().contains("Touch your YubiKey"),
        "stderr: {}",
        run.stderr()
    );
    assert!(
        run.elapsed >= Duration::from_millis(700),
        "{:?}",
        run.elapsed
    );
    assert_totp_code(&touchy(), &run, &code);
    let ykman = rig.ykman(&["oath", "accounts", "code", "--single", &touchy().id()]);
    assert_totp_code(&touchy(), &ykman, &ykman.single_code());
    assert_eq!(inserted.handle().touches(), 2);
}

#[test]
fn touch_that_never_comes_is_a_clean_error() {
    let rig = Rig::new();
    let card = VirtualYubiKey::new(107)
        .with_account(touchy())
        .with_touch_response(TouchResponse::TimesOutAfter(Duration::from_millis(300)));
    let inserted = rig.pcscd.insert(card);
    let run = rig.vegas(&["oath", "code", &touchy().id()]);
    let (error, hint) = run.clean_failure();
    assert_eq!(error, "vegas: the YubiKey was not touched in time");
    assert!(hint.contains("touch the YubiKey"), "{hint}");
    assert_eq!(inserted.handle().touches(), 1);
}

// ---------------------------------------------------------------------------
// A password-protected key (fixtures/cards/locked.json: "correct horse").

fn locked_card() -> (VirtualYubiKey, Account) {
    let card = VirtualYubiKey::fixture("locked");
    let account = card.account("AWS:bob").expect("the fixture holds AWS:bob");
    (card, account)
}

#[test]
fn right_password_on_stdin_unlocks_list_and_code() {
    let rig = Rig::new();
    let (card, account) = locked_card();
    let _card = rig.pcscd.insert(card);
    let list = rig.vegas_with_stdin(
        &["oath", "list", "--password-stdin", "--json"],
        Some("correct horse\n"),
    );
    assert_eq!(list.succeeded().json()[0]["id"], "AWS:bob");
    let run = rig.vegas_with_stdin(
        &["oath", "code", "AWS:bob", "--password-stdin"],
        Some("correct horse\n"),
    );
    assert_totp_code(&account, &run, &run.single_code());
    let ykman = rig.ykman(&[
        "oath",
        "accounts",
        "code",
        "--single",
        "AWS:bob",
        "-p",
        "correct horse",
    ]);
    assert_totp_code(&account, &ykman, &ykman.single_code());
}

#[test]
fn wrong_password_is_one_clear_error_and_no_second_try() {
    let rig = Rig::new();
    let (card, _) = locked_card();
    let inserted = rig.pcscd.insert(card);
    let run = rig.vegas_with_stdin(
        &["oath", "code", "AWS:bob", "--password-stdin"],
        Some("wrong horse\n"),
    );
    let (error, hint) = run.clean_failure();
    assert_eq!(error, "vegas: wrong OATH password for the YubiKey");
    assert!(hint.contains("password"), "{hint}");
    let validates = inserted
        .handle()
        .instructions()
        .iter()
        .filter(|&&ins| ins == 0xA3)
        .count();
    assert_eq!(validates, 1, "one VALIDATE, no retry loop");
    assert_eq!(inserted.handle().total_calculations(), 0);
}

#[test]
fn missing_password_without_a_terminal_points_to_password_stdin() {
    let rig = Rig::new();
    let (card, _) = locked_card();
    let _card = rig.pcscd.insert(card);
    let run = rig.vegas(&["oath", "code", "AWS:bob"]);
    let (error, hint) = run.clean_failure();
    assert!(error.contains("password"), "{error}");
    assert!(hint.contains("--password-stdin"), "{hint}");
    assert!(run.elapsed < PROMPT_ERROR, "took {:?}", run.elapsed);
}

// ---------------------------------------------------------------------------
// Many accounts: answers longer than 256 bytes come in 61xx chunks.

#[test]
fn forty_accounts_are_all_listed_and_coded_through_response_chaining() {
    let accounts: Vec<Account> = (0..40)
        .map(|i| {
            Account::totp(
                &format!("user-{i:02}@example.com"),
                format!("secret number {i:02}!").as_bytes(),
            )
            .issuer("Issuer")
        })
        .collect();
    let rig = Rig::new();
    let inserted = rig
        .pcscd
        .insert(VirtualYubiKey::new(108).with_accounts(accounts.clone()));
    let card_ids = sorted(accounts.iter().map(Account::id));

    let listed = rig.vegas(&["oath", "list", "--json"]).succeeded().json();
    let listed_ids = sorted(
        listed
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["id"].as_str().unwrap().to_owned()),
    );
    assert_eq!(listed_ids, card_ids);
    let by_ykman = sorted(rig.ykman(&["oath", "accounts", "list"]).succeeded().lines());
    assert_eq!(by_ykman, card_ids);

    let run = rig.vegas(&["oath", "code"]);
    let lines = run.succeeded().lines();
    assert_eq!(lines.len(), 40);
    for account in &accounts {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("{} ", account.id())))
            .unwrap_or_else(|| panic!("{} not shown", account.id()));
        assert_totp_code(account, &run, line.split_whitespace().last().unwrap());
    }
    let send_remaining = inserted
        .handle()
        .instructions()
        .iter()
        .filter(|&&ins| ins == 0xA5)
        .count();
    assert!(
        send_remaining >= 2,
        "LIST and CALCULATE ALL both needed SEND REMAINING ({send_remaining} sent)"
    );
}

// ---------------------------------------------------------------------------
// Errors: one line, one hint, exit 1, nothing on stdout, at once.

#[test]
fn no_key_in_any_reader_is_an_error_at_once() {
    let rig = Rig::new();
    for args in [&["oath", "list"][..], &["oath", "code"], &["oath", "keys"]] {
        let run = rig.vegas(args);
        let (error, hint) = run.clean_failure();
        assert!(error.starts_with("vegas: no YubiKey"), "{args:?}: {error}");
        assert!(hint.contains("plug in the YubiKey"), "{args:?}: {hint}");
        assert!(
            run.elapsed < PROMPT_ERROR,
            "{args:?} took {:?}",
            run.elapsed
        );
    }
}

#[test]
fn pcscd_not_running_is_an_error_at_once() {
    let scratch = tempfile::tempdir().unwrap();
    for args in [&["oath", "list"][..], &["oath", "code", "AWS"]] {
        let mut command = isolated(vegas_bin(), scratch.path());
        command.args(args).envs(env_without_pcscd(scratch.path()));
        let run = run_timed(command, None);
        let (error, hint) = run.clean_failure();
        assert_eq!(
            error, "vegas: pcscd (the smart card service) is not running",
            "{args:?}"
        );
        assert!(hint.starts_with("hint: start it"), "{args:?}: {hint}");
        assert!(
            run.elapsed < PROMPT_ERROR,
            "{args:?} took {:?}",
            run.elapsed
        );
    }
}

/// Two keys, one per reader slot, each with an account of its own.
fn two_keys(rig: &Rig) -> [support::pcscd::InsertedCard; 2] {
    let one =
        VirtualYubiKey::new(1_111_111).with_account(Account::totp("one", b"first key secret!!!!"));
    let two =
        VirtualYubiKey::new(2_222_222).with_account(Account::totp("two", b"second key secret!!!"));
    [rig.pcscd.insert(one), rig.pcscd.insert_in_slot(1, two)]
}

#[test]
fn two_keys_without_a_choice_is_an_error_naming_both_serials() {
    let rig = Rig::new();
    let _keys = two_keys(&rig);
    for args in [&["oath", "list"][..], &["oath", "code"]] {
        let run = rig.vegas(args);
        let (error, hint) = run.clean_failure();
        assert_eq!(
            error, "vegas: several YubiKeys found: serial 1111111, serial 2222222",
            "{args:?}"
        );
        assert!(hint.contains("--serial"), "{args:?}: {hint}");
        assert!(
            run.elapsed < PROMPT_ERROR,
            "{args:?} took {:?}",
            run.elapsed
        );
    }
    let keys = rig.vegas(&["oath", "keys", "--json"]).succeeded().json();
    let serials: Vec<u64> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["serial"].as_u64().unwrap())
        .collect();
    assert_eq!(serials, [1_111_111, 2_222_222]);
}

fn listed_ids(run: &Run) -> Vec<String> {
    run.succeeded()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn serial_picks_the_key_and_an_unknown_serial_lists_the_ones_found() {
    let rig = Rig::new();
    let _keys = two_keys(&rig);
    let second = rig.vegas(&["oath", "list", "--json", "--serial", "2222222"]);
    assert_eq!(listed_ids(&second), ["two"]);
    let first = rig.vegas(&["oath", "list", "--json", "--serial", "1111111"]);
    assert_eq!(listed_ids(&first), ["one"]);

    let run = rig.vegas(&["oath", "code", "--serial", "3333333"]);
    let (error, hint) = run.clean_failure();
    assert_eq!(error, "vegas: no YubiKey with serial 3333333 found");
    assert!(
        hint.contains("serial 1111111") && hint.contains("serial 2222222"),
        "{hint}"
    );
    assert!(run.elapsed < PROMPT_ERROR, "took {:?}", run.elapsed);
}

#[test]
fn reader_name_picks_the_key_from_the_flag_or_vegas_reader() {
    let rig = Rig::new();
    let _keys = two_keys(&rig);
    let slot1 = rig.pcscd.reader_name(1);
    let by_flag = rig.vegas(&["oath", "list", "--json", "--reader", &slot1]);
    assert_eq!(listed_ids(&by_flag), ["two"]);
    let by_part = rig.vegas(&["oath", "list", "--json", "--reader", "ccid 00 00"]);
    assert_eq!(listed_ids(&by_part), ["one"]);

    let mut command = rig.command(vegas_bin());
    command
        .args(["oath", "code", "--json"])
        .env("VEGAS_READER", &slot1);
    assert_eq!(listed_ids(&run_timed(command, None)), ["two"]);

    let run = rig.vegas(&["oath", "list", "--reader", "no such reader"]);
    let (error, _) = run.clean_failure();
    assert_eq!(
        error,
        "vegas: no YubiKey with a reader matching \"no such reader\" found"
    );
}

#[test]
fn the_benchmark_account_of_the_demo_fixture_gives_the_secret_s_code() {
    // fixtures/cards/demo.json and AWS:alice@work are what scripts/bench times.
    let card = VirtualYubiKey::fixture("demo");
    let account = card.account("AWS:alice@work").expect("demo account");
    let rig = Rig::new();
    let _card = rig.pcscd.insert(card);
    let run = rig.vegas(&["oath", "code", "AWS:alice@work"]);
    assert_totp_code(&account, &run, &run.single_code());
}
