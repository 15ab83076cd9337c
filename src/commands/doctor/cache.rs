//! The cache links, in words: what `cache::inspect` found in the cache
//! directory (opened read-only; nothing tightened, rebuilt or set aside),
//! and what the next `vegas assume` will make of it.

use std::path::Path;

use super::Check;
use crate::cache::inspect::{
    Contents, Database, FileKind, FileState, Inspection, Place, RowCounts, CURRENT_SCHEMA,
};
use crate::cache::SecretKind;
use crate::cache::{self, DB_FILE_NAME};

const DIR: &str = "cache directory";
const DB: &str = "cache database";

/// The protection of the cache keys, the directory check and, when there is
/// a directory, the database check.
pub(super) fn checks(inspection: Option<&Inspection>, report: &mut Vec<Check>) {
    report.push(protection_check());
    let Some(inspection) = inspection else {
        report.push(Check::from_error(DIR, &cache::Error::NoDirectory));
        return;
    };
    let shown = inspection.dir.display();
    let (mode, owner, files, database) = match &inspection.place {
        Place::Missing => {
            report.push(Check::pass(
                DIR,
                format!("{shown} (not created yet; vegas makes it 0700)"),
            ));
            return;
        }
        Place::NotADirectory => {
            report.push(Check::fail(
                DIR,
                format!("{shown} is not a directory"),
                format!("remove {shown}, or point VEGAS_CACHE_DIR elsewhere"),
            ));
            return;
        }
        Place::Unreadable { reason } => {
            report.push(Check::fail(
                DIR,
                format!("cannot inspect {shown}: {reason}"),
                "check the permissions of its parent, or set VEGAS_CACHE_DIR",
            ));
            return;
        }
        Place::Directory {
            mode,
            owner,
            files,
            database,
        } => (*mode, *owner, files, database),
    };
    report.push(dir_check(&inspection.dir, mode, owner, inspection.uid));
    report.push(database_check(inspection, files, database));
}

fn dir_check(dir: &Path, mode: u32, owner: u32, me: u32) -> Check {
    let shown = dir.display();
    if owner != me {
        return Check::fail(
            DIR,
            format!("{shown} belongs to uid {owner}, not to you (uid {me})"),
            format!("chown {me} {shown}, or point VEGAS_CACHE_DIR at a directory of yours"),
        );
    }
    if mode & 0o077 != 0 {
        return Check::fail(
            DIR,
            format!("{shown} is mode {mode:04o}: others can reach the cached credentials"),
            format!("chmod 700 {shown}"),
        );
    }
    Check::pass(DIR, format!("{shown} (mode {mode:04o})"))
}

fn database_check(inspection: &Inspection, files: &[FileState], database: &Database) -> Check {
    let dir = &inspection.dir;
    let path = dir.join(DB_FILE_NAME);
    let shown = path.display();
    if let Some(check) = exposed_files_check(dir, files, inspection.uid) {
        return check;
    }
    match database {
        Database::Missing => Check::pass(DB, "nothing cached yet"),
        Database::Empty => Check::pass(
            DB,
            format!("{shown} is empty; vegas makes its tables at the next `vegas assume`"),
        ),
        Database::Current(contents) => current_check(&path, contents),
        Database::OtherVersion {
            version,
            rows,
            step_records,
        } => {
            let age = if *version < CURRENT_SCHEMA { "an older" } else { "a newer" };
            let mut detail = format!(
                "{shown} was written by {age} vegas (schema version {version}; this one \
                 writes {CURRENT_SCHEMA})"
            );
            let fix = if upgraded_in_place(*version) {
                detail.push_str(": the next `vegas assume` upgrades it in place");
                if let Some(steps) = step_records.filter(|s| *s > 0) {
                    detail.push_str(&format!(
                        ", keeping its rows and the last TOTP step of {steps} MFA device(s)"
                    ));
                }
                "nothing to do: vegas upgrades it by itself"
            } else {
                detail.push_str(": the next `vegas assume` rebuilds it");
                if let Some(rows) = rows {
                    detail.push_str(&format!(", dropping its {rows} row(s)"));
                }
                if let Some(steps) = step_records.filter(|s| *s > 0) {
                    detail.push_str(&format!(
                        " (among them the last TOTP step of {steps} MFA device(s))"
                    ));
                }
                "nothing to do: vegas rebuilds it by itself, and fetches what it held again"
            };
            Check::warn(DB, detail, fix)
        }
        Database::Foreign { application_id } => Check::warn(
            DB,
            format!(
                "{shown} is not a vegas cache (another program's SQLite database, application \
                 id {application_id}): the next `vegas assume` keeps it as {DB_FILE_NAME}.corrupt-… \
                 and starts a new one"
            ),
            format!("if that database is yours, move it out of {}", dir.display()),
        ),
        Database::Damaged { reason } => Check::warn(
            DB,
            format!(
                "{shown} is damaged ({reason}): the next `vegas assume` keeps it as \
                 {DB_FILE_NAME}.corrupt-… and starts a new one"
            ),
            "nothing to do; delete it to start afresh now (it only holds temporary credentials)",
        ),
        Database::Unreadable { reason } => Check::fail(
            DB,
            format!("cannot read {shown}: {reason}"),
            format!("check the owner and mode of {shown} (yours, mode 0600, not a symbolic link)"),
        ),
    }
}

/// The database or one of SQLite's companions open to others, another
/// user's, or a symbolic link.
fn exposed_files_check(dir: &Path, files: &[FileState], me: u32) -> Option<Check> {
    let database_files = files.iter().filter(|f| {
        f.name == DB_FILE_NAME
            || ["-journal", "-wal", "-shm"]
                .iter()
                .any(|suffix| f.name == format!("{DB_FILE_NAME}{suffix}"))
    });
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    for file in database_files {
        let path = dir.join(&file.name);
        if file.kind == FileKind::Symlink {
            problems.push(format!("{} is a symbolic link", path.display()));
            fixes.push(format!("rm {}", path.display()));
        } else if file.owner != me {
            problems.push(format!("{} belongs to uid {}", path.display(), file.owner));
            fixes.push(format!("rm {}", path.display()));
        } else if file.is_open_to_others() {
            problems.push(format!(
                "{} is mode {:04o}: others can read the cached credentials",
                path.display(),
                file.mode
            ));
            fixes.push(format!("chmod 600 {}", path.display()));
        }
    }
    if problems.is_empty() {
        return None;
    }
    Some(Check::fail(DB, problems.join("; "), fixes.join("; ")))
}

fn current_check(path: &Path, contents: &Contents) -> Check {
    let mut detail = format!(
        "{} opens; {} cached credential(s)",
        path.display(),
        contents.credentials.live
    );
    push_unusable(&mut detail, "credential(s)", contents.credentials);
    let keys = contents.secrets_of(SecretKind::OathAccessKey);
    if keys.live > 0 {
        detail.push_str(&format!(
            "; {} OATH access key(s) left in the file by an older vegas (removed at the next \
             write: they live in the keyring now)",
            keys.live
        ));
    }
    push_unusable(&mut detail, "OATH access key(s)", keys);
    for (kind, counts) in contents
        .secrets
        .iter()
        .filter(|(k, _)| k != SecretKind::OathAccessKey.as_str())
    {
        if counts.live > 0 {
            detail.push_str(&format!("; {} {kind} row(s)", counts.live));
        }
        push_unusable(&mut detail, &format!("{kind} row(s)"), *counts);
    }
    if contents.step_records > 0 {
        detail.push_str(&format!(
            "; the last TOTP step of {} MFA device(s)",
            contents.step_records
        ));
    }
    if contents.wal_mode {
        detail
            .push_str("; in WAL mode (written by an older vegas; read as of its last checkpoint)");
    }
    match &contents.no_keys {
        Some(why) => Check::warn(
            DB,
            format!("{detail}; its rows cannot be tried: {why}"),
            "vegas cannot derive the cache keys here, so nothing is cached; see the reason above",
        ),
        None => Check::pass(DB, detail),
    }
}

/// "; 2 credential(s) unreadable here (…); 1 expired (…)".
fn push_unusable(detail: &mut String, what: &str, counts: RowCounts) {
    if counts.unreadable > 0 {
        detail.push_str(&format!(
            "; {} {what} unreadable here (sealed before a reboot, on another host or by \
             another user, or altered: a miss, replaced at the next write)",
            counts.unreadable
        ));
    }
    if counts.expired > 0 {
        detail.push_str(&format!(
            "; {} expired {what} (dropped at the next write)",
            counts.expired
        ));
    }
}

/// Whether a cache of schema `version` is upgraded in place (its rows kept)
/// rather than rebuilt.
fn upgraded_in_place(version: i32) -> bool {
    crate::cache::UPGRADED_IN_PLACE.contains(&version)
}

/// Which secret the cache keys are made from (a keyring read, nothing
/// created): without a keyring the cache still works, on facts every local
/// user can read, which is worth knowing but not a failure.
fn protection_check() -> Check {
    const LABEL: &str = "cache keys";
    match cache::protection() {
        p @ cache::Protection::Keyring => Check::pass(LABEL, p.to_string()),
        p @ cache::Protection::MachineOnly { .. } => Check::warn(
            LABEL,
            p.to_string(),
            "allow the keyctl system calls (a container runtime's seccomp profile may refuse \
             them) for a cache secret no other user can compute; see docs/security.md",
        ),
    }
}
