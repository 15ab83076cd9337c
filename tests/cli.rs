//! Golden CLI cases: what `vegas` prints (stdout, stderr) and how it exits,
//! pinned in files, for everything that needs no root, no pcscd and no
//! YubiKey: `--help` of every command, usage errors (exit 2), configuration
//! errors (exit 1, `vegas: …` / `hint: …` on stderr, nothing on stdout),
//! `config show-profile` and `cache list`.
//!
//! Each case is `tests/cmd/NAME.toml` (the arguments, the exit status, the
//! files it starts from) with `NAME.stdout` and `NAME.stderr` beside it; the
//! format is trycmd's (<https://docs.rs/trycmd>). `[..]` in an expected file
//! matches any text within its line (used for times relative to now).
//!
//! Run them with `cargo test --test cli` (plain `cargo test` and `scripts/test`
//! run them too). After a deliberate change of output, regenerate the
//! expected files and read the diff before committing it:
//!
//! ```text
//! TRYCMD=overwrite cargo test --test cli
//! ```
//!
//! It keeps the `[..]` already in an expected file; a file written from
//! scratch has none, so put them back where times are relative to now. A new
//! case: write NAME.toml, create NAME.stdout and NAME.stderr empty (trycmd
//! checks, and overwrites, only the files that exist), then regenerate.
//!
//! Every case runs in a sandbox (a fresh temporary directory, a copy of the
//! `fixtures/cli/…` directory named by `fs.base` when there is one) and with
//! no inherited environment (`env.inherit = false`: none of the user's
//! `AWS_*`, `VEGAS_*`, `HOME`, `USER`…), plus the variables set here, relative
//! to the sandbox. So a case never reads the user's `~/.aws`;
//! `every_case_runs_sandboxed_without_the_users_environment` holds every case
//! to that.

use std::path::Path;

use vegas::cache::{Cache, CacheKey, EntryMeta};
use vegas::config::Files;
use vegas::credentials::Credentials;

/// The cases with a cache directory of their own (`cache` in the sandbox).
const CASES: &str = "tests/cmd/*.toml";
/// The cases reading the cache `prepare_cache` builds.
const PREPARED_CACHE_CASES: &str = "tests/cmd/prepared-cache/*.toml";
/// Cases run with a relative `VEGAS_CACHE_DIR`, which must be refused.
const RELATIVE_CACHE_CASES: &str = "tests/cmd/relative-cache/*.toml";

/// What a case sees, beside its arguments. Paths are relative to the
/// sandbox, the case's working directory.
fn cases(cache_dir: &str) -> trycmd::TestCases {
    let cases = trycmd::TestCases::new();
    cases
        .default_bin_name("vegas")
        .env("HOME", ".")
        .env("AWS_CONFIG_FILE", "config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "credentials")
        .env("VEGAS_CACHE_DIR", cache_dir)
        // The default role session name comes from the login name.
        .env("USER", "alice")
        // No terminal (trycmd pipes stdin, stdout and stderr): clap wraps
        // help at COLUMNS.
        .env("COLUMNS", "100");
    cases
}

#[test]
fn cli_cases() {
    // The cache place must be absolute (a relative one is refused, as the
    // relative-cache-dir case pins); nothing is there yet.
    let temp = tempfile::tempdir().unwrap();
    cases(temp.path().join("cache").to_str().unwrap())
        .case(CASES)
        .run();
}

/// A relative cache place is refused: credential_process runs in whatever
/// directory the AWS tool runs in.
#[test]
fn cli_cases_with_a_relative_cache_dir() {
    cases("cache").case(RELATIVE_CACHE_CASES).run();
}

/// `cache list` of a cache with rows in it. The rows are sealed with keys of
/// this machine and this boot (a row from elsewhere is never listed), so the
/// cache is built here, through the library, not committed.
#[test]
fn cli_cases_on_a_prepared_cache() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("cache");
    prepare_cache(&dir);
    cases(dir.to_str().unwrap())
        .case(PREPARED_CACHE_CASES)
        .run();
}

/// 2026-01-01T00:00:00Z: when the rows were stored.
const STORED_AT: i64 = 1_767_225_600;
/// 2100-01-01T00:00:00Z: far enough that the rows are still valid when the
/// test runs; `cache list` prints the time left, which the cases elide.
const EXPIRES_AT: i64 = 4_102_444_800;

/// Role credentials of `work-admin` and `hop2`, and the MFA session of
/// `session-admin`, all from fixtures/cli/home/config.
fn prepare_cache(dir: &Path) {
    let config = std::fs::read_to_string("fixtures/cli/home/config").unwrap();
    let files = Files::from_strs(&config, None).unwrap();
    let (cache, warnings) = Cache::open(dir).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    for (name, expires_at) in [("work-admin", EXPIRES_AT), ("hop2", EXPIRES_AT - 1800)] {
        let profile = files.resolve(name).unwrap();
        let meta = EntryMeta {
            profile: profile.name.clone(),
            role_arn: profile.role_arn.value.clone(),
            mfa_serial: profile.mfa_serial.value.clone(),
        };
        let key = CacheKey::new(name, &[("role_arn", &meta.role_arn)]);
        cache
            .put(&key, &meta, &credentials(expires_at), STORED_AT)
            .unwrap();
    }
    let session = files.resolve("session-admin").unwrap();
    cache
        .put_mfa_session(
            &vegas::flow::mfa_session_id(&session),
            &credentials(EXPIRES_AT + 3600),
            STORED_AT,
        )
        .unwrap();
}

fn credentials(expires_at: i64) -> Credentials {
    Credentials {
        access_key_id: "ASIAVEGASCLIGOLDEN01".into(),
        secret_access_key: "not/a/real/secret".to_string().into(),
        session_token: "not-a-real-token".to_string().into(),
        expires_at,
    }
}

/// A case that inherited the environment could read the user's real
/// `~/.aws` or their `AWS_PROFILE`; one without a sandbox would write its
/// cache into tests/cmd.
#[test]
fn every_case_runs_sandboxed_without_the_users_environment() {
    let mut checked = 0;
    for dir in ["tests/cmd", "tests/cmd/prepared-cache"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let has = |line: &str| text.lines().any(|l| l.trim() == line);
            assert!(
                has("env.inherit = false") && has("fs.sandbox = true"),
                "{}: every case needs `env.inherit = false` and `fs.sandbox = true`",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} cases found");
}
