//! A whole world for one end-to-end test of `vegas assume`: a temp HOME with
//! an AWS config and credentials file, a private pcscd with the virtual
//! YubiKey in it, a strict local STS, and a `vegas` command whose environment
//! is built from nothing (no `AWS_*`, no HOME of the developer's).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use super::card::{Account, CardHandle, TouchResponse, VirtualYubiKey};
use super::pcscd::{InsertedCard, Pcscd};
use super::sts::{RoleConfig, StrictSts, StsConfig};
pub use super::venv::venv_bin;

pub const SOURCE_KEY_ID: &str = "AKIAVEGASTESTSOURCE1";
pub const SOURCE_SECRET: &str = "vegas/test/source/secret/key/0123456789ab";
pub const MFA_SERIAL: &str = "arn:aws:iam::111111111111:mfa/alice";
pub const MFA_SECRET_B32: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
pub const OATH_LABEL: &str = "AWS:alice";
pub const ROLE_ARN: &str = "arn:aws:iam::222222222222:role/Admin";
pub const OTHER_ROLE_ARN: &str = "arn:aws:iam::333333333333:role/team/ReadOnly";
pub const CARD_SERIAL: u32 = 12_345_678;

/// Options for the world's card.
#[derive(Clone, Debug, Default)]
pub struct CardSetup {
    pub touch: Option<TouchResponse>,
    pub password: Option<String>,
    /// More accounts on the card, beside the MFA account.
    pub extra_accounts: Vec<Account>,
}

pub struct World {
    pub home: tempfile::TempDir,
    pub pcscd: Pcscd,
    pub card: Option<InsertedCard>,
    pub card_handle: Option<CardHandle>,
    pub sts: StrictSts,
    pub account: Account,
}

fn mfa_account(touch: bool) -> Account {
    let secret =
        super::card::account::decode_base32(MFA_SECRET_B32).expect("test secret is base32");
    let account = Account::totp("alice", &secret).issuer("AWS");
    if touch {
        account.touch()
    } else {
        account
    }
}

pub fn sts_config() -> StsConfig {
    StsConfig::new()
        .account_id("111111111111")
        .source_key(SOURCE_KEY_ID, SOURCE_SECRET)
        .mfa_device(MFA_SERIAL, MFA_SECRET_B32)
        .role(
            RoleConfig::new(ROLE_ARN)
                .max_session_duration(7200)
                .require_mfa(),
        )
        .role(
            RoleConfig::new(OTHER_ROLE_ARN)
                .max_session_duration(3600)
                .require_mfa(),
        )
}

impl World {
    /// The usual world: one YubiKey (no touch, no password) holding the MFA
    /// account, and an STS that knows the source key, the device and the roles.
    pub fn new() -> World {
        World::with(CardSetup::default(), sts_config())
    }

    pub fn with(setup: CardSetup, sts: StsConfig) -> World {
        let home = tempfile::tempdir().expect("temp HOME");
        let pcscd = Pcscd::start();
        let account = mfa_account(setup.touch.is_some());
        let mut card = VirtualYubiKey::new(CARD_SERIAL)
            .with_account(account.clone())
            .with_accounts(setup.extra_accounts.iter().cloned());
        if let Some(touch) = setup.touch {
            card = card.with_touch_response(touch);
        }
        if let Some(password) = &setup.password {
            card = card.with_password(password);
        }
        let card_handle = card.handle();
        let card = pcscd.insert(card);
        let sts = StrictSts::start(sts);
        let world = World {
            home,
            pcscd,
            card: Some(card),
            card_handle: Some(card_handle),
            sts,
            account,
        };
        world.write_config(&default_config(&world.sts.url()));
        world.write_credentials(&format!(
            "[src]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = {SOURCE_SECRET}\n"
        ));
        world
    }

    /// Four profiles on two MFA devices (see [`two_device_config`]); both
    /// accounts on the one card, `setup.touch` applying to alice's only.
    /// `sts` should come from [`two_device_sts_config`].
    pub fn with_two_devices(mut setup: CardSetup, sts: StsConfig) -> World {
        setup.extra_accounts.push(second_mfa_account());
        let world = World::with(setup, sts);
        world.write_config(&two_device_config(&world.sts.url()));
        world.write_credentials(&format!(
            "[src]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = {SOURCE_SECRET}\n\
             [src2]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = {SOURCE_SECRET}\n"
        ));
        world
    }

    /// The pid of this world's pcscd (found by its private directory), to
    /// kill it in the middle of a transaction.
    pub fn pcscd_pid(&self) -> Option<i32> {
        let dir = self.pcscd.socket_path();
        let dir = dir.parent()?.parent()?.to_string_lossy().into_owned();
        std::fs::read_dir("/proc")
            .ok()?
            .flatten()
            .find_map(|entry| {
                let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
                let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
                let cmdline = String::from_utf8_lossy(&cmdline);
                let argv0 = cmdline.split('\0').next()?;
                (argv0.ends_with("pcscd") && cmdline.contains(&dir)).then_some(pid)
            })
    }

    pub fn config_path(&self) -> PathBuf {
        self.home.path().join(".aws/config")
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.home.path().join("cache")
    }

    pub fn write_config(&self, text: &str) {
        std::fs::create_dir_all(self.home.path().join(".aws")).expect("~/.aws");
        std::fs::write(
            self.config_path(),
            text.replace("@VEGAS@", &vegas_bin().display().to_string()),
        )
        .expect("write config");
    }

    pub fn write_credentials(&self, text: &str) {
        std::fs::create_dir_all(self.home.path().join(".aws")).expect("~/.aws");
        std::fs::write(self.home.path().join(".aws/credentials"), text).expect("write credentials");
    }

    /// The environment every command of this world gets, and nothing else.
    pub fn env(&self) -> Vec<(String, OsString)> {
        let mut env: Vec<(String, OsString)> = vec![
            ("HOME".into(), self.home.path().into()),
            ("PATH".into(), std::env::var_os("PATH").unwrap_or_default()),
            ("VEGAS_CACHE_DIR".into(), self.cache_dir().into()),
            ("LANG".into(), "C.UTF-8".into()),
        ];
        env.extend(
            self.pcscd
                .env()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v)),
        );
        env
    }

    /// `vegas ARGS` in this world, with no terminal (stdin null, setsid).
    pub fn vegas(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(vegas_bin());
        cmd.args(args)
            .env_clear()
            .envs(self.env())
            .stdin(Stdio::null());
        detach_from_terminal(&mut cmd);
        cmd
    }

    /// A program from the test virtualenv (aws, python) in this world.
    pub fn tool(&self, program: &str) -> Command {
        let mut cmd = Command::new(venv_bin(program));
        cmd.env_clear().envs(self.env()).stdin(Stdio::null());
        detach_from_terminal(&mut cmd);
        cmd
    }

    /// `vegas ARGS` on a terminal of its own (a tmux pane), with this world's
    /// environment plus `extra_env`; stdout and stderr go to files, as under
    /// the AWS CLI, so the pane shows only what vegas writes to `/dev/tty`.
    pub fn vegas_in_terminal(&self, args: &[&str], extra_env: &[(&str, &str)]) -> TerminalRun {
        let mut env: Vec<(String, OsString)> = self.env();
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), OsString::from(v))),
        );
        TerminalRun::start(&vegas_bin(), args, &env)
    }

    /// `program ARGS` on a terminal of its own, with this world's
    /// environment (a shell that runs vegas in the background, say).
    pub fn in_terminal(&self, program: &Path, args: &[&str]) -> TerminalRun {
        TerminalRun::start(program, args, &self.env())
    }

    pub fn card_handle(&self) -> &CardHandle {
        self.card_handle.as_ref().expect("the world has a card")
    }

    /// Every code the MFA account shows between `from` and now.
    pub fn codes_since(&self, from: u64) -> Vec<String> {
        self.account.totp_codes_between(from, unix_now())
    }
}

/// A second MFA device ("bob"), on the same card as alice's, and the two
/// roles only bob's profiles assume: with [`World::with_two_devices`], a
/// failing profile of one device can be checked against a cached profile of
/// the other without waiting for a fresh TOTP step.
pub const MFA_SERIAL_2: &str = "arn:aws:iam::111111111111:mfa/bob";
pub const MFA_SECRET_2_B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
pub const OATH_LABEL_2: &str = "AWS:bob";
pub const OPS_ROLE_ARN: &str = "arn:aws:iam::444444444444:role/Ops";
pub const AUDIT_ROLE_ARN: &str = "arn:aws:iam::555555555555:role/Audit";

/// Bob's account on the card (no touch).
pub fn second_mfa_account() -> Account {
    let secret =
        super::card::account::decode_base32(MFA_SECRET_2_B32).expect("test secret is base32");
    Account::totp("bob", &secret).issuer("AWS")
}

/// [`sts_config`] plus bob's device and the Ops and Audit roles.
pub fn two_device_sts_config() -> StsConfig {
    sts_config()
        .mfa_device(MFA_SERIAL_2, MFA_SECRET_2_B32)
        .role(
            RoleConfig::new(OPS_ROLE_ARN)
                .max_session_duration(3600)
                .require_mfa(),
        )
        .role(
            RoleConfig::new(AUDIT_ROLE_ARN)
                .max_session_duration(3600)
                .require_mfa(),
        )
}

/// [`default_config`] plus source profile `src2` (bob's device) and its
/// target profiles `ops` and `audit`: four profiles, two MFA devices.
pub fn two_device_config(sts_url: &str) -> String {
    format!(
        "{}\n\
         [profile src2]\n\
         mfa_serial = {MFA_SERIAL_2}\n\
         vegas_yubikey_label = {OATH_LABEL_2}\n\
         region = eu-west-1\n\
         \n\
         [profile ops]\n\
         credential_process = @VEGAS@ assume --profile ops\n\
         vegas_source_profile = src2\n\
         vegas_role_arn = {OPS_ROLE_ARN}\n\
         endpoint_url = {sts_url}\n\
         \n\
         [profile audit]\n\
         credential_process = @VEGAS@ assume --profile audit\n\
         vegas_source_profile = src2\n\
         vegas_role_arn = {AUDIT_ROLE_ARN}\n\
         endpoint_url = {sts_url}\n",
        default_config(sts_url)
    )
}

/// The config every world starts with: source profile `src`, target
/// profile `admin` pointing at the local STS.
pub fn default_config(sts_url: &str) -> String {
    format!(
        "[profile src]\n\
         mfa_serial = {MFA_SERIAL}\n\
         vegas_yubikey_label = {OATH_LABEL}\n\
         region = eu-west-1\n\
         \n\
         [profile admin]\n\
         credential_process = @VEGAS@ assume --profile admin\n\
         vegas_source_profile = src\n\
         vegas_role_arn = {ROLE_ARN}\n\
         role_session_name = alice-session\n\
         external_id = ext-1234\n\
         duration_seconds = 1800\n\
         endpoint_url = {sts_url}\n\
         \n\
         [profile readonly]\n\
         credential_process = @VEGAS@ assume --profile readonly\n\
         vegas_source_profile = src\n\
         vegas_role_arn = {OTHER_ROLE_ARN}\n\
         endpoint_url = {sts_url}\n"
    )
}

pub fn vegas_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vegas"))
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// No controlling terminal: as under an IDE or a CI job, and so nothing can
/// block on a prompt.
fn detach_from_terminal(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Assert a failure the vegas way: exit 1, nothing on stdout, one
/// `vegas: ` line and one `hint: ` line on stderr.
pub fn assert_clean_failure(output: &Output) -> String {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(1), "exit status; stderr:\n{err}");
    assert!(
        output.stdout.is_empty(),
        "stdout must be empty on failure, got {:?}",
        stdout(output)
    );
    // Notices ("Touch your YubiKey…") may come first when there is no
    // terminal; the error itself is the last two lines, and said once.
    let lines: Vec<&str> = err.lines().collect();
    let n = lines.len();
    assert!(n >= 2, "an error line and a hint line, got:\n{err}");
    let is_error = |l: &str| l.starts_with("vegas: ") && !l.starts_with("vegas: warning:");
    assert!(is_error(lines[n - 2]), "{err}");
    assert!(lines[n - 1].starts_with("hint: "), "{err}");
    let errors = lines.iter().filter(|l| is_error(l)).count();
    assert_eq!(errors, 1, "one error line:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// A command running on a pseudo-terminal (a detached tmux session with a
/// private server), which a test reads and types into. Dropping it ends the
/// tmux server and everything in it.
pub struct TerminalRun {
    dir: tempfile::TempDir,
    started: std::time::Instant,
}

/// How a [`TerminalRun`] ended.
#[derive(Debug)]
pub struct TerminalOutcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: std::time::Duration,
    /// The terminal's last screen.
    pub screen: String,
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

impl TerminalRun {
    fn start(program: &Path, args: &[&str], env: &[(String, OsString)]) -> TerminalRun {
        let dir = tempfile::Builder::new()
            .prefix("vegas-tty-")
            .tempdir()
            .expect("temp dir");
        let mut line = String::from("env -i");
        for (key, value) in env {
            line.push(' ');
            line.push_str(&shell_quote(&format!("{key}={}", value.to_string_lossy())));
        }
        line.push(' ');
        line.push_str(&shell_quote(&program.display().to_string()));
        for arg in args {
            line.push(' ');
            line.push_str(&shell_quote(arg));
        }
        let script = format!(
            "{line} >{out} 2>{err}\necho $? >{status}.part && mv {status}.part {status}\nexec sleep 600\n",
            out = dir.path().join("stdout").display(),
            err = dir.path().join("stderr").display(),
            status = dir.path().join("status").display(),
        );
        std::fs::write(dir.path().join("run.sh"), script).expect("write run.sh");
        let run = TerminalRun {
            dir,
            started: std::time::Instant::now(),
        };
        let status = run
            .tmux()
            .args(["new-session", "-d", "-s", "vegas", "-x", "200", "-y", "50"])
            .arg(format!("sh {}", run.dir.path().join("run.sh").display()))
            .status()
            .expect("tmux is installed");
        assert!(status.success(), "tmux new-session failed");
        run
    }

    fn tmux(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.arg("-S")
            .arg(self.dir.path().join("tmux.sock"))
            .args(["-f", "/dev/null"])
            .stdin(Stdio::null());
        cmd
    }

    /// What the terminal shows now.
    pub fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", "vegas"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `needle`; panics with the screen if it
    /// does not within `limit`.
    pub fn wait_for_screen(&self, needle: &str, limit: std::time::Duration) -> String {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            if std::time::Instant::now() > deadline {
                panic!(
                    "the terminal never showed {needle:?}; it shows:\n{screen}\nstderr: {}",
                    std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Types `text` and Enter.
    pub fn type_line(&self, text: &str) {
        let typed = self
            .tmux()
            .args(["send-keys", "-t", "vegas", "-l", text])
            .status()
            .expect("tmux send-keys");
        let enter = self
            .tmux()
            .args(["send-keys", "-t", "vegas", "Enter"])
            .status()
            .expect("tmux send-keys");
        assert!(typed.success() && enter.success());
    }

    /// Waits for the command to exit; panics if it does not within `limit`.
    pub fn wait(&self, limit: std::time::Duration) -> TerminalOutcome {
        let status_file = self.dir.path().join("status");
        let deadline = std::time::Instant::now() + limit;
        while !status_file.exists() {
            if std::time::Instant::now() > deadline {
                panic!("still running after {limit:?}; screen:\n{}", self.screen());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let elapsed = self.started.elapsed();
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        TerminalOutcome {
            code: read("status").trim().parse().expect("exit status"),
            stdout: read("stdout"),
            stderr: read("stderr"),
            elapsed,
            screen: self.screen(),
        }
    }
}

impl Drop for TerminalRun {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}
