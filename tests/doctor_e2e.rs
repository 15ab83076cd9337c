//! `vegas doctor` against real parts (the virtual YubiKey behind a private
//! pcscd, the strict local STS), healthy and broken in each way the doctor
//! must name; and the shell side: completions and man pages.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::world::*;

fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> Output {
    cmd.borrow_mut().output().expect("command runs")
}

// ---- completions and man pages -------------------------------------------

/// `vegas ARGS` with an empty environment: completions need nothing else.
fn bare_vegas(args: &[&str]) -> Command {
    let mut cmd = Command::new(vegas_bin());
    cmd.args(args).env_clear();
    cmd
}

#[test]
fn bash_accepts_the_bash_completion_script() {
    let out = run(bare_vegas(&["completions", "bash"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let script = stdout(&out);
    assert!(script.contains("complete -F"), "{script}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vegas.bash");
    std::fs::write(&file, &script).unwrap();
    let check = run(Command::new("bash").arg("-n").arg(&file));
    assert!(check.status.success(), "bash -n: {}", stderr(&check));
}

#[test]
fn every_shell_gets_a_completion_script() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = run(bare_vegas(&["completions", shell]));
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        assert!(stdout(&out).contains("doctor"), "{shell}");
    }
    let out = run(bare_vegas(&["completions", "tcsh"]));
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

fn man_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/man"))
}

#[test]
fn committed_man_pages_match_the_command_line() {
    use clap::CommandFactory;
    let fresh = tempfile::tempdir().unwrap();
    clap_mangen::generate_to(vegas::cli::Cli::command(), fresh.path()).unwrap();
    let mut names: Vec<_> = std::fs::read_dir(fresh.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert!(names.len() > 5, "{names:?}");
    for name in names {
        let want = std::fs::read_to_string(fresh.path().join(&name)).unwrap();
        let have = std::fs::read_to_string(man_dir().join(&name)).unwrap_or_default();
        assert!(
            want == have,
            "docs/man/{} is out of date: run `cargo run --example man -- docs/man`",
            name.to_string_lossy()
        );
    }
}

#[test]
fn man_renders_every_page() {
    for entry in std::fs::read_dir(man_dir()).expect("docs/man exists") {
        let path = entry.unwrap().path();
        let out = run(Command::new("man")
            .arg("-l")
            .arg(&path)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80"));
        assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("NAME") && text.contains("SYNOPSIS"), "{text}");
        assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    }
}

// ---- vegas doctor ----------------------------------------------------------

/// A desktop for the doctor's prompt check (a display and a `zenity` on
/// PATH, never run), so that a world without a terminal can be healthy and
/// each broken setup fails exactly the check it breaks.
fn with_desktop(world: &World, cmd: &mut Command, path: &str) {
    let bin = world.home.path().join("desktop-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let zenity = bin.join("zenity");
    std::fs::write(&zenity, "#!/bin/sh\nexit 1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&zenity, std::fs::Permissions::from_mode(0o755)).unwrap();
    cmd.env("DISPLAY", ":99")
        .env("PATH", format!("{}:{path}", bin.display()));
}

fn host_path() -> String {
    std::env::var("PATH").unwrap_or_default()
}

/// `vegas doctor --json ARGS` in the world, on a desktop.
fn doctor_json(
    world: &World,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, Vec<serde_json::Value>) {
    let mut all = vec!["doctor", "--json"];
    all.extend_from_slice(args);
    let mut cmd = world.vegas(&all);
    with_desktop(world, &mut cmd, &host_path());
    cmd.envs(env.iter().copied());
    let out = run(cmd);
    let report: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json prints JSON ({e}):\n{}\n{}",
            stdout(&out),
            stderr(&out)
        )
    });
    assert_secrets_absent(&out);
    (out.status.code().unwrap_or(-1), report)
}

fn failed(report: &[serde_json::Value]) -> Vec<String> {
    report
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["check"].as_str().unwrap().to_string())
        .collect()
}

fn check<'a>(report: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    report
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {report:#?}"))
}

fn fix_of(report: &[serde_json::Value], name: &str) -> String {
    check(report, name)["fix"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn assert_secrets_absent(out: &Output) {
    for text in [stdout(out), stderr(out)] {
        assert!(
            !text.contains(SOURCE_SECRET),
            "a secret key in the output:\n{text}"
        );
        assert!(
            !text.contains(MFA_SECRET_B32),
            "the OATH secret in the output:\n{text}"
        );
    }
}

/// Asserts exit 1 and that exactly `expected` failed; returns the report.
fn assert_fails_only(
    world: &World,
    args: &[&str],
    env: &[(&str, &str)],
    expected: &[&str],
) -> Vec<serde_json::Value> {
    let (code, report) = doctor_json(world, args, env);
    assert_eq!(code, 1, "{report:#?}");
    assert_eq!(failed(&report), expected, "{report:#?}");
    for name in expected {
        assert!(
            !fix_of(&report, name).is_empty(),
            "{name} has a fix: {report:#?}"
        );
    }
    report
}

#[test]
fn healthy_world_passes_every_check_on_a_terminal() {
    let world = World::new();
    let run = world.vegas_in_terminal(&["doctor"], &[]);
    let outcome = run.wait(std::time::Duration::from_secs(60));
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    let text = outcome.stdout;
    assert!(!text.contains("FAIL"), "{text}");
    for line in [
        "ok   config files:",
        "ok   profile admin: role arn:aws:iam::222222222222:role/Admin",
        "ok   profile admin: source credentials:",
        "ok   profile admin: credential_process:",
        "ok   profile readonly: OATH account: 'AWS:alice' on YubiKey serial 12345678",
        "ok   pcscd: reachable",
        "ok   YubiKeys: serial 12345678",
        "ok   code prompt: a terminal",
        "ok   cache directory:",
        "ok   STS endpoint http://127.0.0.1:",
        "checks passed.",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    assert!(
        !text.contains(SOURCE_SECRET) && !text.contains(SOURCE_KEY_ID),
        "{text}"
    );
    assert!(outcome.stderr.is_empty(), "{}", outcome.stderr);
}

#[test]
fn healthy_world_without_a_terminal_passes_with_a_gui_dialog() {
    let world = World::new();
    // A warm cache too: the database check opens it.
    let out = run(world.vegas(&["assume", "--profile", "admin"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, report) = doctor_json(&world, &[], &[]);
    assert_eq!(code, 0, "{report:#?}");
    assert!(failed(&report).is_empty(), "{report:#?}");
    assert!(check(&report, "cache database")["detail"]
        .as_str()
        .unwrap()
        .contains("1 cached credential"));
    assert!(check(&report, "code prompt")["detail"]
        .as_str()
        .unwrap()
        .contains("Zenity"));
    for c in &report {
        assert_eq!(c["fix"], serde_json::Value::Null, "{c}");
        assert!(c["detail"].is_string(), "{c}");
    }
}

#[test]
fn no_pcscd_names_the_daemon_and_how_to_start_it() {
    let world = World::new();
    let scratch = tempfile::tempdir().unwrap();
    let env = support::pcscd::env_without_pcscd(scratch.path());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.to_str().unwrap())).collect();
    let report = assert_fails_only(&world, &[], &env, &["pcscd"]);
    assert!(fix_of(&report, "pcscd").contains("start it"), "{report:#?}");
}

#[test]
fn no_yubikey_says_to_plug_one_in() {
    let mut world = World::new();
    world.card.take().expect("a card").remove();
    let report = assert_fails_only(&world, &[], &[], &["YubiKeys"]);
    assert!(
        fix_of(&report, "YubiKeys").contains("plug in the YubiKey"),
        "{report:#?}"
    );
}

#[test]
fn wrong_label_lists_the_accounts_the_key_has() {
    let world = World::new();
    let config = default_config(&world.sts.url()).replace(OATH_LABEL, "AWS:bob");
    world.write_config(&config);
    let report = assert_fails_only(
        &world,
        &[],
        &[],
        &[
            "profile admin: OATH account",
            "profile readonly: OATH account",
        ],
    );
    let c = check(&report, "profile admin: OATH account");
    assert!(c["detail"].as_str().unwrap().contains("'AWS:bob'"), "{c}");
    assert!(c["detail"].as_str().unwrap().contains(OATH_LABEL), "{c}");
    assert!(
        c["fix"].as_str().unwrap().contains("vegas_yubikey_label"),
        "{c}"
    );
}

#[test]
fn missing_source_secret_key_names_the_file_and_the_key() {
    let world = World::new();
    world.write_credentials(&format!("[src]\naws_access_key_id = {SOURCE_KEY_ID}\n"));
    let report = assert_fails_only(
        &world,
        &["--profile", "admin"],
        &[],
        &["profile admin: source credentials"],
    );
    let c = check(&report, "profile admin: source credentials");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("no aws_secret_access_key"),
        "{c}"
    );
    assert!(
        c["fix"]
            .as_str()
            .unwrap()
            .contains("aws configure --profile src"),
        "{c}"
    );
    assert!(!c.to_string().contains(SOURCE_KEY_ID), "{c}");
}

#[test]
fn bad_role_arn_shows_what_a_role_arn_looks_like() {
    let world = World::new();
    let config = default_config(&world.sts.url()).replace(ROLE_ARN, "arn:aws:iam::2222:role/Admin");
    world.write_config(&config);
    let report = assert_fails_only(&world, &[], &[], &["profile admin"]);
    let c = check(&report, "profile admin");
    assert!(
        c["detail"].as_str().unwrap().contains("vegas_role_arn"),
        "{c}"
    );
    assert!(
        c["fix"]
            .as_str()
            .unwrap()
            .contains("arn:aws:iam::123456789012:role/NAME"),
        "{c}"
    );
}

#[test]
fn open_cache_directory_is_reported_and_left_alone() {
    use std::os::unix::fs::PermissionsExt;
    let world = World::new();
    let dir = world.cache_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let report = assert_fails_only(&world, &[], &[], &["cache directory"]);
    let c = check(&report, "cache directory");
    assert!(c["detail"].as_str().unwrap().contains("0777"), "{c}");
    assert_eq!(
        c["fix"].as_str().unwrap(),
        format!("chmod 700 {}", dir.display())
    );
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o777, "the doctor only looks");
}

/// With no key to give a code, no terminal and `--no-gui`, no code can be
/// had at all: the prompt check fails (beside the missing key).
#[test]
fn no_terminal_and_no_gui_means_nowhere_to_type_a_code() {
    let mut world = World::new();
    world.card.take().expect("a card").remove();
    let report = assert_fails_only(&world, &["--no-gui"], &[], &["YubiKeys", "code prompt"]);
    assert!(
        fix_of(&report, "code prompt").contains("terminal"),
        "{report:#?}"
    );
    assert_eq!(check(&report, "code prompt")["level"], "fail");

    // The same in plain text: a FAIL line, its fix, and the error on stderr.
    let mut cmd = world.vegas(&["--no-gui", "doctor"]);
    with_desktop(&world, &mut cmd, &host_path());
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("FAIL code prompt: no terminal, and --no-gui"),
        "{text}"
    );
    assert!(
        text.contains("     fix: run vegas from a terminal"),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "no colour off a terminal: {text:?}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("vegas: 2 of ") && err.contains("checks failed"),
        "{err}"
    );
    assert!(err.contains("hint: "), "{err}");
}

/// Regression (issue 11, bug 5): a working key and account on a box with no
/// terminal and no GUI (a CI runner) made doctor exit 1 on "code prompt".
/// A missing fallback is a warning; the exit status is 0.
#[test]
fn a_working_key_without_terminal_or_gui_is_a_warning_not_a_failure() {
    let world = World::new();
    let (code, report) = doctor_json(&world, &["--no-gui", "--offline"], &[]);
    assert_eq!(code, 0, "{report:#?}");
    assert!(failed(&report).is_empty(), "{report:#?}");
    let prompt = check(&report, "code prompt");
    assert_eq!(prompt["level"], "warn", "{prompt}");
    assert_eq!(prompt["ok"], true, "{prompt}");
    assert!(
        prompt["detail"]
            .as_str()
            .unwrap()
            .contains("the YubiKey gives the codes"),
        "{prompt}"
    );
    assert!(!fix_of(&report, "code prompt").is_empty(), "{prompt}");

    // No display at all (no --no-gui): the same warning, in plain text.
    let mut cmd = world.vegas(&["doctor", "--offline"]);
    cmd.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    let out = run(cmd);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("warn code prompt: no terminal, no GUI dialog"),
        "{text}"
    );
    assert!(
        text.contains("     fix: run vegas from a terminal"),
        "{text}"
    );
    assert!(!text.contains("FAIL"), "{text}");
    assert!(
        text.contains(" checks: ") && text.ends_with(" passed, 1 warning.\n"),
        "{text}"
    );
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn ykman_backend_without_ykman_says_to_install_it() {
    let world = World::new();
    let path = "/usr/local/bin:/usr/bin:/bin";
    let mut cmd = world.vegas(&["doctor", "--json"]);
    with_desktop(&world, &mut cmd, path);
    cmd.env("VEGAS_YUBIKEY_BACKEND", "ykman");
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(failed(&report), ["ykman"], "{report:#?}");
    let c = check(&report, "ykman");
    assert!(c["detail"].as_str().unwrap().contains("not on PATH"), "{c}");
    assert!(c["fix"].as_str().unwrap().contains("install ykman"), "{c}");
}

#[test]
fn ykman_on_path_is_shown_with_its_version() {
    let world = World::new();
    let venv = venv_bin("ykman");
    let path = format!("{}:{}", venv.parent().unwrap().display(), host_path());
    let mut cmd = world.vegas(&["doctor", "--json"]);
    with_desktop(&world, &mut cmd, &path);
    cmd.env("VEGAS_YUBIKEY_BACKEND", "ykman");
    let out = run(cmd);
    let report: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report:#?}");
    let detail = check(&report, "ykman")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(detail.contains("5.9.2"), "{detail}");
}

#[test]
fn credential_process_of_another_program_or_profile_is_caught() {
    let world = World::new();
    let config = default_config(&world.sts.url())
        .replace(
            "@VEGAS@ assume --profile admin",
            "/bin/true assume --profile admin",
        )
        .replace("--profile readonly", "--profile admin");
    world.write_config(&config);
    let report = assert_fails_only(
        &world,
        &[],
        &[],
        &[
            "profile admin: credential_process",
            "profile readonly: credential_process",
        ],
    );
    let admin = check(&report, "profile admin: credential_process");
    assert!(
        admin["detail"].as_str().unwrap().contains("not this vegas"),
        "{admin}"
    );
    let readonly = check(&report, "profile readonly: credential_process");
    assert!(
        readonly["detail"]
            .as_str()
            .unwrap()
            .contains("names profile 'admin'"),
        "{readonly}"
    );
    assert!(
        readonly["fix"]
            .as_str()
            .unwrap()
            .ends_with("assume --profile readonly"),
        "{readonly}"
    );
}

#[test]
fn unreachable_sts_fails_unless_offline() {
    let world = World::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    world.write_config(&default_config(&url));
    let name = format!("STS endpoint {url}");
    let report = assert_fails_only(&world, &[], &[], &[name.as_str()]);
    assert!(fix_of(&report, &name).contains("--offline"), "{report:#?}");

    let (code, report) = doctor_json(&world, &["--offline"], &[]);
    assert_eq!(code, 0, "{report:#?}");
    assert_eq!(
        check(&report, "STS endpoint")["detail"],
        "not checked (--offline)"
    );
}

#[test]
fn one_profile_is_checked_alone() {
    let world = World::new();
    let (code, report) = doctor_json(&world, &["--profile", "readonly", "--offline"], &[]);
    assert_eq!(code, 0, "{report:#?}");
    assert!(
        report
            .iter()
            .all(|c| !c["check"].as_str().unwrap().contains("admin")),
        "{report:#?}"
    );
    let (code, report) = doctor_json(&world, &["--profile", "nobody", "--offline"], &[]);
    assert_eq!(code, 1);
    assert_eq!(failed(&report), ["profile nobody"], "{report:#?}");
}

#[test]
fn touch_account_and_password_state_are_shown_without_asking() {
    use support::card::TouchResponse;
    let touch = World::with(
        CardSetup {
            touch: Some(TouchResponse::TouchedAfter(std::time::Duration::from_secs(
                30,
            ))),
            ..Default::default()
        },
        sts_config(),
    );
    let (code, report) = doctor_json(&touch, &["--profile", "admin"], &[]);
    assert_eq!(code, 0, "{report:#?}");
    let detail = check(&report, "profile admin: OATH account")["detail"].to_string();
    assert!(
        detail.contains("touch: yes") && detail.contains("OATH password: not set"),
        "{detail}"
    );
    assert_eq!(
        touch.card_handle().calculations(OATH_LABEL),
        0,
        "the doctor never waits for a touch"
    );

    let locked = World::with(
        CardSetup {
            password: Some("open sesame".into()),
            ..Default::default()
        },
        sts_config(),
    );
    let (code, report) = doctor_json(&locked, &["--profile", "admin"], &[]);
    assert_eq!(code, 0, "{report:#?}");
    assert!(check(&report, "YubiKeys")["detail"]
        .as_str()
        .unwrap()
        .contains("password set"));
    let detail = check(&report, "profile admin: OATH account")["detail"].to_string();
    assert!(
        detail.contains("has an OATH password and none is remembered"),
        "{detail}"
    );
}

#[test]
fn missing_config_file_is_named_and_the_rest_is_still_checked() {
    let world = World::new();
    std::fs::remove_file(world.config_path()).unwrap();
    let report = assert_fails_only(&world, &[], &[], &["config files"]);
    assert!(
        check(&report, "config files")["detail"]
            .as_str()
            .unwrap()
            .contains(".aws/config"),
        "{report:#?}"
    );
    assert!(check(&report, "YubiKeys")["ok"] == true, "{report:#?}");
}

#[test]
fn source_profile_with_another_credential_provider_passes() {
    let world = World::new();
    world.write_credentials("");
    let config = default_config(&world.sts.url()).replace(
        "region = eu-west-1\n",
        "region = eu-west-1\ncredential_process = /usr/bin/false\n",
    );
    world.write_config(&config);
    let (code, report) = doctor_json(&world, &["--profile", "admin", "--offline"], &[]);
    assert_eq!(code, 0, "{report:#?}");
    let detail = check(&report, "profile admin: source credentials")["detail"].to_string();
    assert!(detail.contains("through credential_process"), "{detail}");
}

/// Regression: for a role chain the doctor looked for keys in the vegas
/// profile right below (which has none, only a credential_process) instead
/// of the chain's long-term source.
#[test]
fn a_role_chain_has_its_keys_checked_at_the_long_term_source() {
    let world = World::new();
    let chain = format!(
        "{}\n[profile hop2]\ncredential_process = @VEGAS@ assume --profile hop2\n\
         vegas_source_profile = admin\nvegas_role_arn = {OTHER_ROLE_ARN}\nendpoint_url = {}\n",
        default_config(&world.sts.url()),
        world.sts.url()
    );
    world.write_config(&chain);
    let (code, report) = doctor_json(&world, &["--profile", "hop2", "--offline"], &[]);
    assert_eq!(code, 0, "{report:#?}");
    let c = check(&report, "profile hop2: source credentials");
    assert!(c["detail"].as_str().unwrap().contains("src"), "{c}");

    world.write_credentials(&format!("[src]\naws_access_key_id = {SOURCE_KEY_ID}\n"));
    let report = assert_fails_only(
        &world,
        &["--profile", "hop2", "--offline"],
        &[],
        &["profile hop2: source credentials"],
    );
    assert!(
        fix_of(&report, "profile hop2: source credentials").contains("[src]"),
        "{report:#?}"
    );
}

// ---- bug 4: the doctor only looks at the cache -----------------------------

/// Every file under the cache directory (the directory too): its bytes,
/// mode, size and modification time.
type Snapshot = std::collections::BTreeMap<String, (Vec<u8>, u32, u64, i64, i64)>;

fn snapshot(dir: &Path) -> Snapshot {
    use std::os::unix::fs::MetadataExt;
    fn walk(root: &Path, path: &Path, into: &mut Snapshot) {
        let meta = std::fs::symlink_metadata(path).unwrap();
        let name = path.strip_prefix(root).unwrap().display().to_string();
        let bytes = if meta.is_file() {
            std::fs::read(path).unwrap()
        } else {
            Vec::new()
        };
        into.insert(
            name,
            (
                bytes,
                meta.mode(),
                meta.len(),
                meta.mtime(),
                meta.mtime_nsec(),
            ),
        );
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                walk(root, &entry.unwrap().path(), into);
            }
        }
    }
    let mut files = Snapshot::new();
    walk(dir, dir, &mut files);
    files
}

/// `vegas doctor --json` in `world`, asserting that the cache directory is
/// exactly as it was; returns the report's "cache database" check.
fn doctor_leaves_the_cache_alone(world: &World, case: &str) -> (i32, serde_json::Value) {
    let before = snapshot(&world.cache_dir());
    assert!(before.len() > 1, "{case}: a cache to look at");
    let (code, report) = doctor_json(world, &["--offline"], &[]);
    let after = snapshot(&world.cache_dir());
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let changed: Vec<&String> = names
        .into_iter()
        .filter(|name| before.get(*name) != after.get(*name))
        .collect();
    assert!(changed.is_empty(), "{case}: doctor changed {changed:?}");
    (code, check(&report, "cache database").clone())
}

fn db_path(world: &World) -> std::path::PathBuf {
    world.cache_dir().join("vegas.db")
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A world whose cache holds what one `vegas assume` left: a credential
/// and the TOTP step it used.
fn world_with_a_warm_cache() -> World {
    let world = World::new();
    let out = run(world.vegas(&["assume", "--profile", "admin"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let conn = rusqlite::Connection::open(db_path(&world)).unwrap();
    let steps: i64 = conn
        .query_row("SELECT count(*) FROM mfa_devices", [], |r| r.get(0))
        .unwrap();
    assert_eq!(steps, 1, "assume recorded the step it used");
    world
}

/// Regression (issue 11, bug 4): doctor opened the cache with `Cache::open`,
/// which rebuilt a cache of an older schema, dropping its TOTP step records.
#[test]
fn doctor_reports_an_older_schema_and_keeps_its_step_records() {
    let world = world_with_a_warm_cache();
    let conn = rusqlite::Connection::open(db_path(&world)).unwrap();
    conn.pragma_update(None, "user_version", 0).unwrap();
    drop(conn);
    let (code, c) = doctor_leaves_the_cache_alone(&world, "older schema");
    assert_eq!(code, 0, "{c}");
    assert_eq!(c["level"], "warn", "{c}");
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.contains("older vegas") && detail.contains("last TOTP step of 1 MFA device"),
        "{c}"
    );
}

/// Regression (issue 11, bug 4): doctor set a damaged database aside.
#[test]
fn doctor_reports_a_damaged_database_and_leaves_it_in_place() {
    let world = world_with_a_warm_cache();
    std::fs::write(db_path(&world), b"not a database at all").unwrap();
    let (code, c) = doctor_leaves_the_cache_alone(&world, "damaged");
    assert_eq!(code, 0, "{c}");
    assert_eq!(c["level"], "warn", "{c}");
    assert!(c["detail"].as_str().unwrap().contains("damaged"), "{c}");
}

/// Regression (issue 11, bug 4): doctor tightened a database file open to
/// group and others (in a closed directory, which it did not look past).
#[test]
fn doctor_reports_a_database_open_to_others_and_leaves_its_mode() {
    let world = world_with_a_warm_cache();
    set_mode(&db_path(&world), 0o644);
    let (code, c) = doctor_leaves_the_cache_alone(&world, "open file");
    assert_eq!(code, 1, "{c}");
    assert_eq!(c["level"], "fail", "{c}");
    assert!(c["detail"].as_str().unwrap().contains("0644"), "{c}");
    assert_eq!(
        c["fix"].as_str().unwrap(),
        format!("chmod 600 {}", db_path(&world).display())
    );
    // … and in a directory open to the group too: both named, neither changed.
    set_mode(&world.cache_dir(), 0o750);
    let (code, report) = doctor_json(&world, &["--offline"], &[]);
    assert_eq!(code, 1);
    assert_eq!(
        failed(&report),
        ["cache directory", "cache database"],
        "{report:#?}"
    );
    let (code, _) = doctor_leaves_the_cache_alone(&world, "open directory and file");
    assert_eq!(code, 1);
}

/// Regression (issue 11, bug 4): doctor read remembered secrets through
/// `Cache::get_secret`, which deletes a row that no longer opens. It must
/// count such rows (and expired ones) and leave them. (OATH access keys now
/// live in the keyring; the MFA sessions are the secret rows of the file.)
#[test]
fn doctor_reports_secret_rows_that_do_not_open_or_expired_and_keeps_them() {
    let world = World::new();
    let now = unix_now() as i64;
    let session = |source: &str| {
        vegas::cache::MfaSessionId::new(source, "arn:aws:iam::111111111111:mfa/alice", &[])
    };
    let credentials = |expires_at| vegas::credentials::Credentials {
        access_key_id: "ASIAEXAMPLE000000001".into(),
        secret_access_key: String::from("s").into(),
        session_token: String::from("t").into(),
        expires_at,
    };
    let elsewhere = vegas::cache::MachineIdentity::new("another-boot", "another-host", 4242);
    let (cache, _) =
        vegas::cache::Cache::open_with_identity(&world.cache_dir(), elsewhere).unwrap();
    cache
        .put_mfa_session(&session("sealed-elsewhere"), &credentials(now + 3600), now)
        .unwrap();
    cache
        .put_mfa_session(&session("retired"), &credentials(now - 60), now - 7200)
        .unwrap();
    drop(cache);

    let (code, c) = doctor_leaves_the_cache_alone(&world, "secret rows");
    assert_eq!(code, 0, "{c}");
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.contains("1 mfa-session row(s) unreadable here"),
        "{c}"
    );
    assert!(detail.contains("1 expired mfa-session row(s)"), "{c}");
}
