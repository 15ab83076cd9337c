//! vegas on a real desk (issue #12): the exact APDUs it sends the key on the
//! paths users run, proven by the virtual card's log, so that the card is
//! held for as short a time as possible and other programs (scdaemon,
//! yubikey-agent, Yubico Authenticator) are disturbed as little as possible.

mod support;

use std::process::Output;
use std::time::Duration;

use support::world::*;

const SECOND: Duration = Duration::from_secs(1);

fn run(cmd: &mut std::process::Command) -> Output {
    cmd.output().expect("vegas runs")
}

fn log_of(world: &World) -> Vec<String> {
    world.card_handle().apdu_log()
}

#[test]
fn a_cold_assume_sends_select_oath_and_calculate_and_nothing_else() {
    let world = World::new();
    let out = run(&mut world.vegas(&["assume", "--profile", "admin"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(log_of(&world), ["SELECT OATH", "CALCULATE"]);
}

#[test]
fn a_cold_assume_with_a_remembered_password_adds_only_validate() {
    let world = World::with(
        CardSetup {
            password: Some("hunter2 on the key".into()),
            ..Default::default()
        },
        sts_config(),
    );
    let tty = world.vegas_in_terminal(&["assume", "--profile", "admin"], &[]);
    tty.wait_for_screen("OATH password for YubiKey", 10 * SECOND);
    tty.type_line("hunter2 on the key");
    let outcome = tty.wait(10 * SECOND);
    assert_eq!(outcome.code, 0, "{outcome:?}");

    // Another profile on the same MFA device: no credentials cached for it,
    // the access key remembered. (It may wait for the next time step.)
    world.card_handle().clear_log();
    let out = run(&mut world.vegas(&["assume", "--profile", "readonly"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(log_of(&world), ["SELECT OATH", "VALIDATE", "CALCULATE"]);
}

#[test]
fn a_missing_account_is_explained_with_a_list_after_the_calculate() {
    let world = World::new();
    let config = default_config(&world.sts.url()).replace(OATH_LABEL, "AWS:nobody");
    world.write_config(&config);
    let out = run(&mut world.vegas(&["assume", "--profile", "admin"]));
    let err = assert_clean_failure(&out);
    assert!(
        err.contains("AWS:nobody") && err.contains(OATH_LABEL),
        "{err}"
    );
    assert_eq!(log_of(&world), ["SELECT OATH", "CALCULATE", "LIST"]);
}

#[test]
fn oath_code_for_one_account_sends_select_and_calculate_all() {
    let world = World::new();
    let out = run(&mut world.vegas(&["oath", "code", OATH_LABEL]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(log_of(&world), ["SELECT OATH", "CALCULATE ALL"]);
}

#[test]
fn oath_list_sends_select_list_and_calculate_all() {
    let world = World::new();
    let out = run(&mut world.vegas(&["oath", "list"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(log_of(&world), ["SELECT OATH", "LIST", "CALCULATE ALL"]);
}
