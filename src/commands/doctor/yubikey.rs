//! The links that give a code: PC/SC and the keys it sees
//! (`oath::discovery`), each profile's account on its key (`oath::probe`,
//! unlocked only with an access key the cache already holds), ykman
//! (`totp::ykman::version`), and a place to type a code (terminal or dialog).
//!
//! The prompt is the last resort: without one, doctor fails only when no
//! code can be had otherwise; when the key gives every profile its code, a
//! missing prompt is a warning (a CI runner, a headless box).

use crate::cache::inspect::{Inspection, Place};
use crate::config::{Backend, Profile};
use crate::oath::neighbours;
use crate::oath::probe::{self, AccountProbe};
use crate::oath::{self, AccessKey, AccountId, KeyInfo, KeySelector};

use super::Check;

/// What the key checks learned that the prompt check needs.
#[derive(Debug, Default)]
pub(super) struct KeyFindings {
    /// A YubiKey answered the OATH SELECT.
    key_found: bool,
    /// The profiles whose account was found on their key, readable
    /// without a password being typed.
    accounts_found: Vec<String>,
}

/// `ykman`, and whether it ran.
#[derive(Debug)]
pub(super) struct YkmanFinding {
    pub check: Check,
    runs: bool,
}

/// pcscd, the keys, and each profile's account.
pub(super) fn key_checks(
    profiles: &[Profile],
    cache: Option<&Inspection>,
    report: &mut Vec<Check>,
) -> KeyFindings {
    let mut findings = KeyFindings::default();
    match oath::discovery::readers() {
        Ok(readers) => {
            let names: Vec<String> = readers.iter().map(|r| format!("\"{r}\"")).collect();
            report.push(Check::pass(
                "pcscd",
                format!("reachable; readers: {}", names.join(", ")),
            ));
        }
        Err(e) => {
            report.push(Check::from_error("pcscd", &e));
            return findings;
        }
    }
    match oath::find_keys(&KeySelector::default()) {
        Ok(keys) => {
            let found: Vec<String> = keys.iter().map(|(info, _)| describe_key(info)).collect();
            report.push(Check::pass("YubiKeys", found.join("; ")));
            findings.key_found = true;
        }
        Err(e) => {
            let busy = matches!(e, oath::Error::KeyBusy { .. });
            report.push(Check::from_error("YubiKeys", &e));
            neighbour_checks(busy, report);
            return findings;
        }
    }
    neighbour_checks(false, report);
    for profile in profiles {
        let (check, found) = account_check(profile, cache);
        report.push(check);
        if found {
            findings.accounts_found.push(profile.name.clone());
        }
    }
    findings
}

/// The programs that take YubiKeys for themselves, when running, and
/// GnuPG's scdaemon settings, when GnuPG is installed. A warning when the key
/// is `busy`, or scdaemon runs without the settings that let it share.
fn neighbour_checks(busy: bool, report: &mut Vec<Check>) {
    let holders = neighbours::running_holders();
    let scdaemon_runs = holders.iter().any(|h| h.program == "scdaemon");
    if !holders.is_empty() {
        let names: Vec<String> = holders
            .iter()
            .map(|h| format!("{} (pid {})", h.program, h.pid))
            .collect();
        let detail = format!("running: {}", names.join(", "));
        report.push(if busy {
            Check::warn("other smart card programs", detail, oath::BUSY_HINT)
        } else {
            Check::pass(
                "other smart card programs",
                format!("{detail}; the YubiKey is not held"),
            )
        });
    }
    let Some(sharing) = neighbours::scdaemon_sharing() else {
        return;
    };
    let label = "GnuPG scdaemon";
    let path = sharing.path.display();
    if sharing.shares() {
        report.push(Check::pass(
            label,
            format!("{path} has disable-ccid and pcsc-shared: it shares the YubiKey"),
        ));
        return;
    }
    let missing = sharing.missing().join(" and ");
    report.push(if busy || scdaemon_runs {
        Check::warn(
            label,
            format!("{path} lacks {missing}: scdaemon keeps the YubiKey to itself"),
            format!("add {missing} to {path} (one per line), then `gpgconf --kill scdaemon`"),
        )
    } else {
        Check::pass(
            label,
            format!(
                "not running; {path} lacks {missing}, so once it runs it would keep the YubiKey to itself"
            ),
        )
    });
}

fn describe_key(info: &KeyInfo) -> String {
    format!(
        "{} (OATH {}, password {}) in \"{}\"",
        info.label(),
        info.version,
        if info.locked { "set" } else { "not set" },
        info.reader
    )
}

/// The profile's key holds its OATH account (by exact id, as `assume`
/// looks it up). Returns the check and whether the account was found.
fn account_check(profile: &Profile, cache: Option<&Inspection>) -> (Check, bool) {
    let label = format!("profile {}: OATH account", profile.name);
    let wanted = &profile.yubikey_label.value;
    let selector = KeySelector {
        serial: profile.yubikey_serial.as_ref().map(|s| s.value),
        reader: crate::platform::reader_from_env(),
    };
    let probe = probe::find_account(&selector, &AccountId::new(wanted), |key| {
        remembered_access_key(cache, key)
    });
    let check = match probe {
        Err(e) => Check::from_error(label, &e),
        Ok(AccountProbe::Found { key, account, .. }) => {
            let touch = match account.touch {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unknown",
            };
            let password = if key.locked { "set" } else { "not set" };
            let detail = format!(
                "'{wanted}' on YubiKey {} (touch: {touch}, OATH password: {password})",
                key.label()
            );
            return (Check::pass(label, detail), true);
        }
        Ok(AccountProbe::NotFound { key, accounts }) => {
            let available: Vec<String> = accounts
                .iter()
                .filter(|a| !a.is_hidden())
                .map(|a| a.id.text())
                .collect();
            Check::fail(
                label,
                format!(
                    "no OATH account '{wanted}' on YubiKey {}; it has: {}",
                    key.label(),
                    if available.is_empty() {
                        "no accounts".to_string()
                    } else {
                        available.join(", ")
                    }
                ),
                format!(
                    "set vegas_yubikey_label to the account's id (from `vegas oath list`) \
                     in [profile {}], or add the account to the key \
                     (`ykman oath accounts add`)",
                    profile.long_term_source().value
                ),
            )
        }
        Ok(AccountProbe::Locked {
            key,
            refused: false,
            ..
        }) => Check::pass(
            label,
            format!(
                "YubiKey {} has an OATH password and none is remembered, so '{wanted}' is \
                 checked at the next `vegas assume` (or `vegas oath list`)",
                key.label()
            ),
        ),
        Ok(AccountProbe::Locked {
            key, refused: true, ..
        }) => Check::warn(
            label,
            format!(
                "YubiKey {} refuses the OATH access key vegas remembered (its password was \
                 changed?), so '{wanted}' is checked at the next `vegas assume`",
                key.label()
            ),
            "the next `vegas assume` asks for the OATH password and remembers it again",
        ),
    };
    (check, false)
}

/// The access key `vegas assume` remembered for `key`, read without
/// changing the cache; only from a cache directory that is ours and closed
/// to others, as `assume` would use it.
fn remembered_access_key(cache: Option<&Inspection>, key: &KeyInfo) -> Option<AccessKey> {
    let cache = cache?;
    let Place::Directory { mode, owner, .. } = &cache.place else {
        return None;
    };
    if *owner != cache.uid || mode & 0o077 != 0 {
        return None;
    }
    crate::cache::remembered_access_key(&cache.dir, &key.device_id)
}

/// `ykman` on PATH: required when a profile's backend is ykman, a mere
/// fallback under auto, not looked at otherwise.
pub(super) fn ykman_check(profiles: &[Profile], backends: &[Backend]) -> Option<YkmanFinding> {
    let required: Vec<&str> = profiles
        .iter()
        .filter(|p| p.yubikey_backend.value == Backend::Ykman)
        .map(|p| p.name.as_str())
        .collect();
    if required.is_empty() && !backends.contains(&Backend::Auto) {
        return None;
    }
    let install = "install ykman (`pipx install yubikey-manager`, or the yubikey-manager \
                   package), or set vegas_yubikey_backend = pcsc";
    let Some(program) = crate::totp::ykman::program() else {
        let check = if required.is_empty() {
            Check::pass(
                "ykman",
                "not on PATH (optional: only a fallback when PC/SC fails)",
            )
        } else {
            Check::fail(
                "ykman",
                format!(
                    "not on PATH, and the YubiKey backend is ykman for {}",
                    required.join(", ")
                ),
                install,
            )
        };
        return Some(YkmanFinding { check, runs: false });
    };
    let shown = program.display();
    Some(match crate::totp::ykman::version(&program) {
        Ok(version) => YkmanFinding {
            check: Check::pass("ykman", format!("{shown} ({version})")),
            runs: true,
        },
        Err(why) if required.is_empty() => YkmanFinding {
            check: Check::pass("ykman", format!("{shown} does not run ({why}); optional")),
            runs: false,
        },
        Err(why) => YkmanFinding {
            check: Check::fail("ykman", format!("{shown} does not run: {why}"), install),
            runs: false,
        },
    })
}

/// A way to type a code (or an OATH password) when the key cannot give one:
/// a failure only when no code can be had without it.
pub(super) fn prompt_check(
    no_gui: bool,
    profiles: &[Profile],
    keys: &KeyFindings,
    ykman: Option<&YkmanFinding>,
) -> Check {
    const LABEL: &str = "code prompt";
    use crate::ui::{CodeWay, PromptWays, Terminal};
    // The same probe `vegas assume` asks before it offers a typed code.
    let allowed = PromptWays {
        terminal: true,
        gui: !no_gui,
    };
    let missing = match Terminal::code_way(allowed) {
        Ok(CodeWay::Terminal) => {
            return Check::pass(LABEL, "a terminal (/dev/tty) to type a code or password")
        }
        Ok(CodeWay::Dialog(program)) => {
            return Check::pass(LABEL, format!("no terminal; a GUI dialog: {program:?}"))
        }
        Err(_) if no_gui => {
            "no terminal, and --no-gui forbids a dialog: nowhere to type a code or password"
                .to_string()
        }
        Err(why) => why,
    };
    let fix = "run vegas from a terminal, or on a desktop with zenity or kdialog \
               (and without --no-gui)";
    if code_without_typing(profiles, keys, ykman) {
        Check::warn(
            LABEL,
            format!(
                "{missing}; the YubiKey gives the codes, but nothing can stand in for it \
                 (unplugged, or asking for its OATH password)"
            ),
            fix,
        )
    } else {
        Check::fail(LABEL, missing, fix)
    }
}

/// Whether every profile gets its code from the key (its account found over
/// PC/SC, or ykman running for a profile that uses ykman); with no profile
/// to go by, whether a key answered at all.
fn code_without_typing(
    profiles: &[Profile],
    keys: &KeyFindings,
    ykman: Option<&YkmanFinding>,
) -> bool {
    if profiles.is_empty() {
        return keys.key_found;
    }
    let ykman_runs = ykman.is_some_and(|y| y.runs);
    profiles.iter().all(|p| {
        keys.accounts_found.contains(&p.name)
            || (p.yubikey_backend.value == Backend::Ykman && ykman_runs)
    })
}
