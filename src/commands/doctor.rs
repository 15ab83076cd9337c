//! `vegas doctor [--profile P] [--offline] [--json]`: walks the whole chain a
//! `vegas assume` depends on, in the order it depends on it, and says for
//! each link whether it holds and, when not, how to fix it.
//!
//! A check never changes anything (the cache directory is not tightened,
//! nothing is created) and never shows a secret: keys are named, not printed;
//! no code is calculated that needs a touch, and none is shown.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::cache::{self, Cache};
use crate::config::{Backend, Files, Profile};
use crate::hint::Hint;
use crate::oath::{self, KeySelector};
use crate::platform::unix_now;
use crate::Error;

/// How long the STS endpoint gets to accept a TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long `ykman --version` may take.
const YKMAN_TIMEOUT: Duration = Duration::from_secs(10);
/// Settings of a source profile that give it credentials other than keys.
const OTHER_PROVIDERS: [&str; 6] = [
    "credential_process",
    "sso_session",
    "sso_start_url",
    "credential_source",
    "web_identity_token_file",
    "role_arn",
];

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    pub profile: Option<&'a str>,
    pub offline: bool,
    pub json: bool,
    pub no_gui: bool,
    /// ✓/✗ in colour (a terminal, no `NO_COLOR`, no `--no-color`);
    /// otherwise plain `ok`/`FAIL`.
    pub color: bool,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: String,
    pub ok: bool,
    pub detail: String,
    /// What to do, for a failed check.
    pub fix: Option<String>,
}

impl Check {
    fn pass(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// A failed check from an error, with the error's hint as the fix.
    fn from_error(check: impl Into<String>, error: &(impl std::fmt::Display + Hint)) -> Check {
        Check::fail(check, error.to_string(), error.hint())
    }
}

pub fn run(options: &Options, out: &mut dyn Write) -> Result<(), Error> {
    let report = checks(options);
    let text = if options.json {
        to_json(&report)
    } else {
        to_lines(&report, options.color)
    };
    super::emit(out, &text)?;
    let failed = report.iter().filter(|c| !c.ok).count();
    if failed > 0 {
        return Err(Error::ChecksFailed {
            failed,
            total: report.len(),
        });
    }
    Ok(())
}

/// Every check, in the order `vegas assume` depends on them.
pub fn checks(options: &Options) -> Vec<Check> {
    let mut report = Vec::new();
    let profiles = match Files::load() {
        Ok(files) => {
            report.push(Check::pass("config files", files_detail(&files)));
            profile_checks(&files, options.profile, &mut report)
        }
        Err(e) => {
            report.push(Check::from_error("config files", &e));
            Vec::new()
        }
    };
    let backends: Vec<Backend> = if profiles.is_empty() {
        vec![Backend::Auto]
    } else {
        profiles.iter().map(|p| p.yubikey_backend.value).collect()
    };
    if backends.iter().any(|b| *b != Backend::None) {
        pcsc_checks(&profiles, &mut report);
    }
    if let Some(check) = ykman_check(&profiles, &backends) {
        report.push(check);
    }
    report.push(prompt_check(options.no_gui));
    cache_checks(&mut report);
    report.push(sts_helper_check());
    sts_checks(&profiles, options.offline, &mut report);
    report
}

/// `vegas-sts`, which makes the STS calls on a cache miss, beside this binary.
fn sts_helper_check() -> Check {
    use std::os::unix::fs::PermissionsExt;
    let label = "STS helper";
    let Ok(exe) = std::env::current_exe() else {
        return Check::fail(label, "cannot tell where vegas is", "reinstall vegas");
    };
    let helper = exe.with_file_name(crate::sts::helper::HELPER_NAME);
    match std::fs::metadata(&helper) {
        Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
            Check::pass(label, helper.display().to_string())
        }
        _ => Check::fail(
            label,
            format!("{} is missing or not executable", helper.display()),
            "reinstall vegas (`cargo install --path .` installs vegas and vegas-sts side by side)",
        ),
    }
}

// ---- configuration ---------------------------------------------------------

fn files_detail(files: &Files) -> String {
    let credentials = if files.credentials_path.exists() {
        files.credentials_path.display().to_string()
    } else {
        format!("{} (absent)", files.credentials_path.display())
    };
    format!(
        "config {}, credentials {credentials}",
        files.config_path.display()
    )
}

/// The profile checks; returns the profiles that resolved.
fn profile_checks(files: &Files, only: Option<&str>, report: &mut Vec<Check>) -> Vec<Profile> {
    let names = match only {
        Some(name) => vec![name.to_string()],
        None => files.vegas_profiles(),
    };
    if names.is_empty() {
        report.push(Check::fail(
            "vegas profiles",
            format!(
                "no profile in {} has vegas_role_arn",
                files.config_path.display()
            ),
            "add a profile with credential_process = vegas assume --profile NAME, \
             vegas_role_arn and vegas_source_profile (see docs/configuration.md)",
        ));
        return Vec::new();
    }
    let mut resolved = Vec::new();
    for name in names {
        let label = format!("profile {name}");
        match files.resolve(&name) {
            Ok(profile) => {
                report.push(Check::pass(
                    &label,
                    format!(
                        "role {}, source profile {}, MFA device {}",
                        profile.role_arn.value,
                        profile.source_profile.value,
                        profile.mfa_serial.value
                    ),
                ));
                report.push(source_credentials_check(files, &profile));
                report.push(credential_process_check(files, &name));
                resolved.push(profile);
            }
            Err(e) => report.push(Check::from_error(label, &e)),
        }
    }
    resolved
}

fn source_credentials_check(files: &Files, profile: &Profile) -> Check {
    // For a role chain, the keys live with the first hop's source, not with
    // the vegas profile right below this one.
    let source = &profile.long_term_source().value;
    let label = format!("profile {}: source credentials", profile.name);
    let path = &files.credentials_path;
    let add_keys = format!(
        "add aws_access_key_id and aws_secret_access_key to [{source}] in {} \
         (`aws configure --profile {source}`)",
        path.display()
    );
    let section = credentials_section(path, source);
    if let Some(keys) = &section {
        let missing: Vec<&str> = ["aws_access_key_id", "aws_secret_access_key"]
            .into_iter()
            .filter(|k| !keys.iter().any(|have| have == k))
            .collect();
        if missing.is_empty() {
            return Check::pass(
                label,
                format!(
                    "[{source}] in {} has aws_access_key_id and aws_secret_access_key",
                    path.display()
                ),
            );
        }
        return Check::fail(
            label,
            format!(
                "[{source}] in {} has no {}",
                path.display(),
                missing.join(" or ")
            ),
            add_keys,
        );
    }
    if files.get(source, "aws_access_key_id").is_some()
        && files.get(source, "aws_secret_access_key").is_some()
    {
        return Check::pass(
            label,
            format!(
                "[profile {source}] in {} has keys",
                files.config_path.display()
            ),
        );
    }
    if let Some(key) = OTHER_PROVIDERS
        .iter()
        .find(|k| files.get(source, k).is_some())
    {
        return Check::pass(
            label,
            format!("[profile {source}] gets credentials through {key} (not tried here)"),
        );
    }
    Check::fail(
        label,
        format!("source profile '{source}' has no long-term credentials"),
        add_keys,
    )
}

/// The key names (never the values) of `[profile]` in the credentials file;
/// `None` when the file or the section is not there.
fn credentials_section(path: &Path, profile: &str) -> Option<Vec<String>> {
    let options = ini::ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        ..Default::default()
    };
    let ini = ini::Ini::load_from_file_opt(path, options).ok()?;
    let section = ini.section(Some(profile))?;
    Some(
        section
            .iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(key, _)| key.trim().to_ascii_lowercase())
            .collect(),
    )
}

fn credential_process_check(files: &Files, name: &str) -> Check {
    let label = format!("profile {name}: credential_process");
    let this = std::env::current_exe().ok();
    let shown = this
        .as_ref()
        .map_or_else(|| "vegas".to_string(), |p| p.display().to_string());
    let fix = format!("set credential_process = {shown} assume --profile {name}");
    let Some(line) = files.get(name, "credential_process") else {
        return Check::fail(
            label,
            "no credential_process: the AWS tools will not run vegas for this profile",
            fix,
        );
    };
    let words: Vec<&str> = line
        .split_whitespace()
        .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
        .collect();
    let program = words.first().copied().unwrap_or_default();
    let Some(path) = find_program(program) else {
        return Check::fail(label, format!("runs '{program}', which is not found"), fix);
    };
    if !same_file(&path, this.as_deref()) {
        return Check::fail(
            label,
            format!("runs {}, not this vegas ({shown})", path.display()),
            fix,
        );
    }
    let rest = words.get(1..).unwrap_or_default();
    if rest.first() != Some(&"assume") {
        return Check::fail(label, format!("'{line}' does not run `vegas assume`"), fix);
    }
    match profile_argument(rest) {
        Some(named) if named == name => Check::pass(label, line),
        Some(named) => Check::fail(
            label,
            format!("names profile '{named}' instead of '{name}'"),
            fix,
        ),
        None => Check::fail(label, format!("'{line}' names no --profile"), fix),
    }
}

/// The value of `--profile P`, `--profile=P` or `-p P`.
fn profile_argument<'a>(words: &[&'a str]) -> Option<&'a str> {
    let mut iter = words.iter();
    while let Some(word) = iter.next() {
        if *word == "--profile" || *word == "-p" {
            return iter.next().copied();
        }
        if let Some(value) = word.strip_prefix("--profile=") {
            return Some(value);
        }
    }
    None
}

/// A program as the shell would find it: a path, or a name on PATH.
fn find_program(program: &str) -> Option<PathBuf> {
    crate::platform::find_program(program)
}

fn same_file(a: &Path, b: Option<&Path>) -> bool {
    let Some(b) = b else { return false };
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

// ---- the YubiKey -----------------------------------------------------------

fn pcsc_checks(profiles: &[Profile], report: &mut Vec<Check>) {
    match readers() {
        Ok(readers) => report.push(Check::pass(
            "pcscd",
            format!("reachable; readers: {}", readers.join(", ")),
        )),
        Err(e) => {
            report.push(Check::from_error("pcscd", &e));
            return;
        }
    }
    match oath::find_keys(&KeySelector::default()) {
        Ok(keys) => {
            let found: Vec<String> = keys
                .iter()
                .map(|(info, _)| {
                    format!(
                        "{} (OATH {}, password {}) in \"{}\"",
                        info.label(),
                        info.version,
                        if info.locked { "set" } else { "not set" },
                        info.reader
                    )
                })
                .collect();
            report.push(Check::pass("YubiKeys", found.join("; ")));
        }
        Err(e) => {
            report.push(Check::from_error("YubiKeys", &e));
            return;
        }
    }
    for profile in profiles {
        report.push(account_check(profile));
    }
}

/// The reader names pcscd knows.
fn readers() -> Result<Vec<String>, oath::Error> {
    let context = pcsc::Context::establish(pcsc::Scope::User)
        .map_err(|e| oath::pcsc::pcsc_error(e, "", "connecting to pcscd"))?;
    let readers = context
        .list_readers_owned()
        .map_err(|e| oath::pcsc::pcsc_error(e, "", "listing readers"))?;
    if readers.is_empty() {
        return Err(oath::Error::NoReaders);
    }
    Ok(readers
        .iter()
        .map(|r| format!("\"{}\"", r.to_string_lossy()))
        .collect())
}

/// The profile's key holds its OATH account (by id, as `assume` looks it up).
fn account_check(profile: &Profile) -> Check {
    let label = format!("profile {}: OATH account", profile.name);
    let wanted = &profile.yubikey_label.value;
    let selector = KeySelector {
        serial: profile.yubikey_serial.as_ref().map(|s| s.value),
        reader: crate::platform::reader_from_env(),
    };
    let (info, mut session) = match oath::open_key(&selector) {
        Ok(key) => key,
        Err(e) => return Check::from_error(label, &e),
    };
    if session.has_password() && !unlock_with_cached_key(&mut session, &info.device_id) {
        return Check::pass(
            label,
            format!(
                "YubiKey {} has an OATH password and none is remembered, so '{wanted}' is \
                 checked at the next `vegas assume` (or `vegas oath list`)",
                info.label()
            ),
        );
    }
    let accounts = match session.accounts(SystemTime::now()) {
        Ok(accounts) => accounts,
        Err(e) => return Check::from_error(label, &e),
    };
    let password = if info.locked { "set" } else { "not set" };
    match accounts.iter().find(|a| a.id.text() == *wanted) {
        Some(account) => {
            let touch = match account.touch {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unknown",
            };
            Check::pass(
                label,
                format!(
                    "'{wanted}' on YubiKey {} (touch: {touch}, OATH password: {password})",
                    info.label()
                ),
            )
        }
        None => {
            let available: Vec<String> = accounts
                .iter()
                .filter(|a| !a.is_hidden())
                .map(|a| a.id.text())
                .collect();
            Check::fail(
                label,
                format!(
                    "no OATH account '{wanted}' on YubiKey {}; it has: {}",
                    info.label(),
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
    }
}

/// Unlock with the access key `vegas assume` remembered, if there is one and
/// it still works. Never asks for the password.
fn unlock_with_cached_key(
    session: &mut oath::Session<oath::PcscTransport>,
    device_id: &str,
) -> bool {
    let Some(dir) = crate::cli::default_cache_dir() else {
        return false;
    };
    if !dir.join(cache::DB_FILE_NAME).exists() || !private_dir(&dir) {
        return false;
    }
    let Ok((cache, _)) = Cache::open(&dir) else {
        return false;
    };
    let Ok(Some(key)) = cache.get_access_key(device_id, unix_now()) else {
        return false;
    };
    session.unlock_with_key(&key).is_ok()
}

/// `ykman` on PATH: required when a profile's backend is ykman, a mere
/// fallback under auto, not looked at otherwise.
fn ykman_check(profiles: &[Profile], backends: &[Backend]) -> Option<Check> {
    let required: Vec<&str> = profiles
        .iter()
        .filter(|p| p.yubikey_backend.value == Backend::Ykman)
        .map(|p| p.name.as_str())
        .collect();
    let optional = backends.contains(&Backend::Auto);
    if required.is_empty() && !optional {
        return None;
    }
    let install = "install ykman (`pipx install yubikey-manager`, or the yubikey-manager \
                   package), or set vegas_yubikey_backend = pcsc";
    let Some(program) = crate::totp::ykman::program() else {
        return Some(if required.is_empty() {
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
        });
    };
    Some(match ykman_version(&program) {
        Ok(version) => Check::pass("ykman", format!("{} ({version})", program.display())),
        Err(why) if required.is_empty() => Check::pass(
            "ykman",
            format!("{} does not run ({why}); optional", program.display()),
        ),
        Err(why) => Check::fail(
            "ykman",
            format!("{} does not run: {why}", program.display()),
            install,
        ),
    })
}

/// The first line of `ykman --version`, waiting at most [`YKMAN_TIMEOUT`].
fn ykman_version(program: &Path) -> Result<String, String> {
    let mut child = std::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + YKMAN_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {} s", YKMAN_TIMEOUT.as_secs()));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!("`ykman --version` exited with {}", output.status));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .ok_or_else(|| "`ykman --version` printed nothing".to_string())
}

/// A way to type a code (or an OATH password) when the key cannot give one.
fn prompt_check(no_gui: bool) -> Check {
    const LABEL: &str = "code prompt";
    if crate::ui::Terminal::available() {
        return Check::pass(LABEL, "a terminal (/dev/tty) to type a code or password");
    }
    let fix = "run vegas from a terminal, or on a desktop with zenity or kdialog \
               (and without --no-gui)";
    if no_gui {
        return Check::fail(
            LABEL,
            "no terminal, and --no-gui forbids a dialog: nowhere to type a code or password",
            fix,
        );
    }
    match crate::totp::gui::DialogProgram::find() {
        Ok(program) => Check::pass(LABEL, format!("no terminal; a GUI dialog: {program:?}")),
        Err(why) => Check::fail(LABEL, format!("no terminal, and {why}"), fix),
    }
}

// ---- the cache -------------------------------------------------------------

fn cache_checks(report: &mut Vec<Check>) {
    const DIR: &str = "cache directory";
    const DB: &str = "cache database";
    let Some(dir) = crate::cli::default_cache_dir() else {
        report.push(Check::from_error(DIR, &cache::Error::NoDirectory));
        return;
    };
    let meta = match std::fs::metadata(&dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            report.push(Check::pass(
                DIR,
                format!("{} (not created yet; vegas makes it 0700)", dir.display()),
            ));
            return;
        }
        Err(e) => {
            report.push(Check::fail(
                DIR,
                format!("cannot inspect {}: {e}", dir.display()),
                "check the permissions of its parent, or set VEGAS_CACHE_DIR",
            ));
            return;
        }
    };
    let mode = meta.mode() & 0o7777;
    let owner = meta.uid();
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let shown = dir.display();
    if !meta.is_dir() {
        report.push(Check::fail(
            DIR,
            format!("{shown} is not a directory"),
            format!("remove {shown}, or point VEGAS_CACHE_DIR elsewhere"),
        ));
        return;
    }
    if owner != me {
        report.push(Check::fail(
            DIR,
            format!("{shown} belongs to uid {owner}, not to you (uid {me})"),
            format!("chown {me} {shown}, or point VEGAS_CACHE_DIR at a directory of yours"),
        ));
        return;
    }
    if mode & 0o077 != 0 {
        report.push(Check::fail(
            DIR,
            format!("{shown} is mode {mode:04o}: others can reach the cached credentials"),
            format!("chmod 700 {shown}"),
        ));
        return;
    }
    report.push(Check::pass(DIR, format!("{shown} (mode {mode:04o})")));

    if !dir.join(cache::DB_FILE_NAME).exists() {
        report.push(Check::pass(DB, "nothing cached yet"));
        return;
    }
    match Cache::open(&dir).and_then(|(cache, warnings)| {
        let entries = cache.list(unix_now())?;
        Ok((cache, warnings, entries.len()))
    }) {
        Ok((cache, warnings, count)) => {
            let mut detail = format!(
                "{} opens; {count} cached credential(s){}",
                cache.path().display(),
                if cache.is_read_only() {
                    " (read-only)"
                } else {
                    ""
                }
            );
            for warning in warnings {
                detail.push_str(&format!("; {warning}"));
            }
            report.push(Check::pass(DB, detail));
        }
        Err(e) => report.push(Check::from_error(DB, &e)),
    }
}

/// Closed to group and others, and ours.
fn private_dir(dir: &Path) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    std::fs::metadata(dir).is_ok_and(|m| m.is_dir() && m.uid() == me && m.mode() & 0o077 == 0)
}

// ---- STS -------------------------------------------------------------------

fn sts_checks(profiles: &[Profile], offline: bool, report: &mut Vec<Check>) {
    if profiles.is_empty() {
        return;
    }
    if offline {
        report.push(Check::pass("STS endpoint", "not checked (--offline)"));
        return;
    }
    let mut endpoints: Vec<String> = profiles.iter().map(sts_endpoint).collect();
    endpoints.sort();
    endpoints.dedup();
    for endpoint in endpoints {
        report.push(sts_check(&endpoint));
    }
}

/// The STS URL a profile's AssumeRole goes to.
fn sts_endpoint(profile: &Profile) -> String {
    match &profile.endpoint_url {
        Some(url) => url.value.clone(),
        None => format!("https://sts.{}.amazonaws.com", profile.region.value),
    }
}

fn sts_check(endpoint: &str) -> Check {
    let label = format!("STS endpoint {endpoint}");
    let fix = "check the network (and any proxy or firewall), and region / endpoint_url in \
               the profile; --offline skips this check";
    let Some(address) = host_port(endpoint) else {
        return Check::fail(label, "not an http(s) URL with a host", fix);
    };
    let started = Instant::now();
    match connect(&address) {
        Ok(()) => Check::pass(
            label,
            format!(
                "{address} accepts connections ({} ms)",
                started.elapsed().as_millis()
            ),
        ),
        Err(why) => Check::fail(label, format!("cannot connect to {address}: {why}"), fix),
    }
}

/// `host:port` of an http(s) URL (default ports 443 and 80).
fn host_port(url: &str) -> Option<String> {
    let (default_port, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (443, rest)
    } else {
        (80, url.strip_prefix("http://")?)
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    if authority.is_empty() {
        return None;
    }
    let has_port = match authority.rfind(']') {
        Some(close) => authority.get(close..)?.contains(':'),
        None => authority.contains(':'),
    };
    Some(if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    })
}

fn connect(address: &str) -> Result<(), String> {
    let addresses: Vec<_> = address
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve: {e}"))?
        .collect();
    let mut last = "no address".to_string();
    for socket in addresses {
        match TcpStream::connect_timeout(&socket, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

// ---- output ----------------------------------------------------------------

fn to_lines(report: &[Check], color: bool) -> String {
    let mut text = String::new();
    for check in report {
        let mark = match (check.ok, color) {
            (true, true) => "\x1b[32m✓\x1b[0m",
            (false, true) => "\x1b[31m✗\x1b[0m",
            (true, false) => "ok  ",
            (false, false) => "FAIL",
        };
        text.push_str(&format!("{mark} {}: {}\n", check.check, check.detail));
        if let Some(fix) = &check.fix {
            let indent = if color { "  " } else { "     " };
            text.push_str(&format!("{indent}fix: {fix}\n"));
        }
    }
    if report.iter().all(|c| c.ok) {
        text.push_str(&format!("All {} checks passed.\n", report.len()));
    }
    text
}

fn to_json(report: &[Check]) -> String {
    let mut text = serde_json::to_string(report).unwrap_or_else(|_| "[]".to_string());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_come_from_the_url_with_scheme_defaults() {
        assert_eq!(
            host_port("https://sts.eu-west-1.amazonaws.com").as_deref(),
            Some("sts.eu-west-1.amazonaws.com:443")
        );
        assert_eq!(
            host_port("http://127.0.0.1:4566/path?x").as_deref(),
            Some("127.0.0.1:4566")
        );
        assert_eq!(host_port("http://[::1]/").as_deref(), Some("[::1]:80"));
        assert_eq!(
            host_port("http://[::1]:8080").as_deref(),
            Some("[::1]:8080")
        );
        assert_eq!(host_port("ftp://example.com"), None);
        assert_eq!(host_port("https://"), None);
    }

    #[test]
    fn the_profile_argument_is_found_in_every_spelling() {
        assert_eq!(profile_argument(&["assume", "--profile", "a"]), Some("a"));
        assert_eq!(profile_argument(&["assume", "-p", "b"]), Some("b"));
        assert_eq!(profile_argument(&["assume", "--profile=c"]), Some("c"));
        assert_eq!(profile_argument(&["assume"]), None);
        assert_eq!(profile_argument(&["assume", "--profile"]), None);
    }

    #[test]
    fn failures_carry_their_fix_and_plain_output_says_fail() {
        let report = vec![
            Check::pass("one", "fine"),
            Check::fail("two", "broken", "mend it"),
        ];
        let text = to_lines(&report, false);
        assert_eq!(
            text,
            "ok   one: fine\nFAIL two: broken\n     fix: mend it\n"
        );
        let json: serde_json::Value = serde_json::from_str(&to_json(&report)).unwrap();
        assert_eq!(json[1]["fix"], "mend it");
        assert_eq!(json[0]["fix"], serde_json::Value::Null);
        assert_eq!(json[1]["ok"], false);
    }

    #[test]
    fn a_passing_report_says_so_at_the_end() {
        let text = to_lines(&[Check::pass("one", "fine")], true);
        assert!(text.ends_with("All 1 checks passed.\n"), "{text}");
        assert!(text.contains('✓'));
    }
}
