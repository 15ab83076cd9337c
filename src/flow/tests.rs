//! The flow against an in-memory STS, scripted codes and a manual clock,
//! with the real cache on disk: every decision of a miss, without a card, a
//! helper process or a wait.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use super::*;
use crate::cache::MachineIdentity;
use crate::config::{Files, SourceCredentials};
use crate::sts::{self, AssumeRoleRequest, SessionTokenRequest, Signer};
use crate::totp::{self, CodeRequest, MfaCode, TimeStep};
use crate::ui::scripted::{Said, Scripted};
use crate::ui::Ui;

const START: u64 = 1_800_000_000; // a step boundary (divisible by 30)

const CONFIG: &str = "\
[profile src]
mfa_serial = arn:aws:iam::111111111111:mfa/alice
region = eu-west-1

[profile admin]
vegas_source_profile = src
vegas_role_arn = arn:aws:iam::222222222222:role/Admin

[profile dev]
vegas_source_profile = src
vegas_role_arn = arn:aws:iam::333333333333:role/Dev

[profile sess-src]
mfa_serial = arn:aws:iam::111111111111:mfa/alice
vegas_mfa_session = true
region = eu-west-1

[profile via-session]
vegas_source_profile = sess-src
vegas_role_arn = arn:aws:iam::222222222222:role/Admin

[profile hop2]
vegas_source_profile = admin
vegas_role_arn = arn:aws:iam::444444444444:role/Deep
duration_seconds = 7200
";

fn profile(name: &str) -> Profile {
    Files::from_strs(CONFIG, None)
        .unwrap()
        .resolve(name)
        .unwrap()
}

/// Time that moves only when slept.
struct ManualClock(Mutex<u64>, Mutex<Vec<Duration>>);

impl ManualClock {
    fn at(unix: u64) -> ManualClock {
        ManualClock(Mutex::new(unix), Mutex::new(Vec::new()))
    }
    fn advance(&self, secs: u64) {
        *self.0.lock().unwrap() += secs;
    }
    fn slept(&self) -> Vec<Duration> {
        self.1.lock().unwrap().clone()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(*self.0.lock().unwrap())
    }
    fn sleep(&self, duration: Duration) {
        self.1.lock().unwrap().push(duration);
        *self.0.lock().unwrap() += duration.as_secs_f64().ceil() as u64;
    }
}

/// What one call to the in-memory STS was.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    AssumeRole {
        role: String,
        code: Option<String>,
        signed_by: String,
        duration: u32,
    },
    SessionToken {
        code: String,
    },
}

/// An STS that answers from a script (errors first, then credentials that
/// last the asked duration) and records every call.
struct MemorySts<'c> {
    clock: &'c ManualClock,
    calls: Mutex<Vec<Call>>,
    /// Errors to answer, by the index of the call they answer.
    faults: Mutex<Vec<(usize, sts::Error)>>,
    ready: bool,
    issued: Mutex<u32>,
}

impl<'c> MemorySts<'c> {
    fn new(clock: &'c ManualClock) -> Self {
        MemorySts {
            clock,
            calls: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            ready: true,
            issued: Mutex::new(0),
        }
    }
    fn fail_next(&self, error: sts::Error) {
        let next = self.calls.lock().unwrap().len();
        self.fail_call(next, error);
    }
    /// Answer call number `index` (from 0, over the whole test) with `error`.
    fn fail_call(&self, index: usize, error: sts::Error) {
        self.faults.lock().unwrap().push((index, error));
    }
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
    fn answer(&self, call: Call, duration: u32) -> Result<Credentials, sts::Error> {
        let index = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(call);
            calls.len() - 1
        };
        let mut faults = self.faults.lock().unwrap();
        if let Some(at) = faults.iter().position(|(i, _)| *i == index) {
            return Err(faults.remove(at).1);
        }
        let mut issued = self.issued.lock().unwrap();
        *issued += 1;
        Ok(Credentials {
            access_key_id: format!("ASIA{issued:016}"),
            secret_access_key: Zeroizing::new(format!("secret-{issued}")),
            session_token: Zeroizing::new(format!("token-{issued}")),
            expires_at: self.clock.unix_now() + i64::from(duration),
        })
    }
}

fn signer_name(signer: &Signer) -> String {
    match signer {
        Signer::SourceProfile(p) => format!("keys of {p}"),
        Signer::Session { credentials, .. } => credentials.access_key_id.clone(),
    }
}

impl Sts for MemorySts<'_> {
    fn ready(&self) -> Result<(), sts::Error> {
        if self.ready {
            Ok(())
        } else {
            Err(sts::Error::HelperMissing {
                path: "vegas-sts".into(),
                message: "missing or not executable".into(),
            })
        }
    }
    fn assume_role(&self, request: &AssumeRoleRequest) -> Result<Credentials, sts::Error> {
        let call = Call::AssumeRole {
            role: request.role_arn.clone(),
            code: request.mfa.as_ref().map(|m| m.token_code.to_string()),
            signed_by: signer_name(&request.signer),
            duration: request.duration_seconds,
        };
        self.answer(call, request.duration_seconds)
    }
    fn get_session_token(&self, request: &SessionTokenRequest) -> Result<Credentials, sts::Error> {
        let call = Call::SessionToken {
            code: request.mfa.token_code.to_string(),
        };
        self.answer(call, request.duration_seconds)
    }
}

/// Codes from a script: each one the code of the clock's current step in
/// `period`, numbered so tests can tell them apart.
struct ScriptedCodes<'c> {
    clock: &'c ManualClock,
    period: u32,
    way: bool,
    asked: Mutex<u32>,
    probed: Mutex<u32>,
}

impl<'c> ScriptedCodes<'c> {
    fn new(clock: &'c ManualClock) -> Self {
        ScriptedCodes {
            clock,
            period: 30,
            way: true,
            asked: Mutex::new(0),
            probed: Mutex::new(0),
        }
    }
    fn asked(&self) -> u32 {
        *self.asked.lock().unwrap()
    }
}

impl Codes for ScriptedCodes<'_> {
    fn ensure_a_way(&self, _: &CodeRequest, _: &dyn Ui) -> Result<(), totp::Error> {
        *self.probed.lock().unwrap() += 1;
        if self.way {
            Ok(())
        } else {
            Err(totp::Error::NoWay { tried: vec![] })
        }
    }
    fn code(&self, _: &CodeRequest, _: Option<&Cache>, _: &dyn Ui) -> Result<MfaCode, totp::Error> {
        let mut asked = self.asked.lock().unwrap();
        *asked += 1;
        let mut code = MfaCode::given(&format!("{:06}", 100_000 + *asked))?;
        code.step = TimeStep::at_time(self.clock.now(), self.period);
        Ok(code)
    }
}

/// One test's world: a clock, an STS, codes, a Ui and a cache directory.
struct World<'c> {
    clock: &'c ManualClock,
    sts: MemorySts<'c>,
    codes: ScriptedCodes<'c>,
    ui: Scripted,
    dir: tempfile::TempDir,
    cache: Cache,
}

impl<'c> World<'c> {
    fn new(clock: &'c ManualClock) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cache = open_cache_in(dir.path());
        World {
            clock,
            sts: MemorySts::new(clock),
            codes: ScriptedCodes::new(clock),
            ui: Scripted::new(),
            dir,
            cache,
        }
    }

    fn options(&self) -> Options {
        Options {
            cache_dir: Some(self.dir.path().to_path_buf()),
            ..Options::default()
        }
    }

    fn assume(&self, name: &str) -> Result<Credentials, Error> {
        self.assume_with(name, &self.options())
    }

    fn assume_with(&self, name: &str, options: &Options) -> Result<Credentials, Error> {
        let ctx = Context {
            clock: self.clock,
            sts: &self.sts,
            codes: &self.codes,
            ui: &self.ui,
            cache: Some(&self.cache),
        };
        run(&ctx, &profile(name), options)
    }

    fn said(&self) -> Vec<String> {
        self.ui
            .said()
            .into_iter()
            .map(|said| match said {
                Said::Notice(s) => s,
                Said::Warn(s) => format!("warning: {s}"),
                other => format!("{other:?}"),
            })
            .collect()
    }
}

fn open_cache_in(dir: &std::path::Path) -> Cache {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    Cache::open_with_identity(dir, MachineIdentity::new("boot", "host", 1000))
        .unwrap()
        .0
}

#[test]
fn a_miss_costs_one_code_and_one_call_and_the_next_run_is_a_hit() {
    let clock = ManualClock::at(START);
    let w = World::new(&clock);
    let first = w.assume("admin").unwrap();
    let again = w.assume("admin").unwrap();
    assert_eq!(first, again);
    assert_eq!(w.codes.asked(), 1);
    assert_eq!(w.sts.calls().len(), 1);
    assert!(
        matches!(&w.sts.calls()[0], Call::AssumeRole { code: Some(_), signed_by, .. } if signed_by == "keys of src")
    );
}

#[test]
fn the_refresh_window_edges_are_ten_minutes_or_expiry() {
    let clock = ManualClock::at(START);
    let w = World::new(&clock);
    let first = w.assume("admin").unwrap(); // lasts 3600 s
    clock.advance(3600 - 601);
    assert_eq!(w.assume("admin").unwrap(), first, "601 s left: served");
    clock.advance(1);
    let refreshed = w.assume("admin").unwrap();
    assert_ne!(refreshed, first, "600 s left: inside the window, refreshed");

    let lenient = Options {
        disable_mandatory_refresh: true,
        ..w.options()
    };
    clock.advance(3600 - 1);
    assert_eq!(
        w.assume_with("admin", &lenient).unwrap(),
        refreshed,
        "1 s left: served"
    );
    clock.advance(1);
    assert_ne!(
        w.assume_with("admin", &lenient).unwrap(),
        refreshed,
        "expired: refreshed"
    );
}

#[test]
fn the_second_look_after_the_lock_serves_what_the_holder_stored() {
    let clock = ManualClock::at(START);
    let w = World::new(&clock);
    let admin = profile("admin");
    let lock = crate::cache::lock_device(
        w.dir.path(),
        &admin.mfa_serial.value,
        Duration::from_secs(1),
        &mut || {},
    )
    .unwrap();
    let stored = Credentials {
        access_key_id: "ASIAFROMTHEHOLDER000".into(),
        secret_access_key: Zeroizing::new("s".into()),
        session_token: Zeroizing::new("t".into()),
        expires_at: START as i64 + 3600,
    };
    let got = std::thread::scope(|scope| {
        let (clock, sts, codes, ui, options) = (w.clock, &w.sts, &w.codes, &w.ui, w.options());
        let waiter = scope.spawn(move || {
            // Another process: its own connection to the same cache.
            let cache = open_cache_in(options.cache_dir.as_deref().unwrap());
            let ctx = Context {
                clock,
                sts,
                codes,
                ui,
                cache: Some(&cache),
            };
            run(&ctx, &profile("admin"), &options)
        });
        // The holder stores its credentials while the waiter waits, then
        // lets go.
        std::thread::sleep(Duration::from_millis(300));
        let holder = open_cache_in(w.dir.path());
        let meta = crate::cache::EntryMeta {
            profile: "admin".into(),
            role_arn: admin.role_arn.value.clone(),
            mfa_serial: admin.mfa_serial.value.clone(),
        };
        holder
            .put(&cache_key(&admin), &meta, &stored, START as i64)
            .unwrap();
        drop(lock);
        waiter.join().unwrap()
    });
    assert_eq!(got.unwrap(), stored);
    assert_eq!(w.codes.asked(), 0, "no code asked");
    assert!(w.sts.calls().is_empty(), "no STS call");
}

#[test]
fn a_code_sts_calls_invalid_is_retried_once_with_a_fresh_step() {
    let clock = ManualClock::at(START + 5);
    let w = World::new(&clock);
    w.sts.fail_next(sts::Error::InvalidMfaCode {
        mfa_serial: "arn:aws:iam::111111111111:mfa/alice".into(),
    });
    w.assume("admin").unwrap();
    assert_eq!(w.codes.asked(), 2);
    let codes: Vec<_> = w
        .sts
        .calls()
        .into_iter()
        .map(|c| match c {
            Call::AssumeRole { code, .. } => code,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(codes, vec![Some("100001".into()), Some("100002".into())]);
    assert_eq!(clock.slept().len(), 1, "one wait, to the next step");
    assert!(clock.slept()[0] <= Duration::from_secs(26));
}

#[test]
fn a_code_given_on_the_command_line_is_final() {
    let clock = ManualClock::at(START);
    let w = World::new(&clock);
    w.sts.fail_next(sts::Error::InvalidMfaCode {
        mfa_serial: "arn:aws:iam::111111111111:mfa/alice".into(),
    });
    let given = Options {
        token_code: Some(Zeroizing::new("123456".into())),
        ..w.options()
    };
    let err = w.assume_with("admin", &given).unwrap_err();
    assert!(
        matches!(err, Error::Sts(sts::Error::InvalidMfaCode { .. })),
        "{err:?}"
    );
    assert_eq!(w.sts.calls().len(), 1);
    assert_eq!(w.codes.asked(), 0);
}

#[test]
fn a_second_profile_in_the_same_step_waits_for_the_next_and_says_so() {
    let clock = ManualClock::at(START + 10);
    let w = World::new(&clock);
    w.assume("admin").unwrap();
    w.assume("dev").unwrap();
    assert_eq!(clock.slept().len(), 1);
    assert!(clock.slept()[0] >= Duration::from_secs(20));
    assert!(
        w.said()
            .iter()
            .any(|s| s.starts_with("Waiting 20 s for a fresh code")),
        "{:?}",
        w.said()
    );
}

#[test]
fn a_fifteen_second_account_waits_for_its_own_step_not_twice_its_index() {
    let clock = ManualClock::at(START + 3);
    let mut w = World::new(&clock);
    w.codes.period = 15;
    w.assume("admin").unwrap();
    w.assume("dev").unwrap();
    // The 15 s step [START, START+15) was used: wait 12 s, not years.
    assert_eq!(clock.slept().len(), 1);
    assert!(
        clock.slept()[0] <= Duration::from_secs(13),
        "{:?}",
        clock.slept()
    );
}

#[test]
fn a_step_record_from_the_future_waits_one_period_at_most() {
    let clock = ManualClock::at(START);
    let w = World::new(&clock);
    let serial = "arn:aws:iam::111111111111:mfa/alice";
    w.cache
        .record_used(
            serial,
            TimeStep::at(START + 86_400, 30),
            (START + 86_400) as i64,
        )
        .unwrap();
    w.assume("admin").unwrap();
    assert_eq!(clock.slept().len(), 1);
    assert!(
        clock.slept()[0] <= Duration::from_secs(31),
        "{:?}",
        clock.slept()
    );
    // And the bogus record was replaced by the code just sent: a profile
    // in the next step does not wait at all.
    clock.advance(30);
    w.assume("dev").unwrap();
    assert_eq!(clock.slept().len(), 1, "{:?}", clock.slept());
}

#[test]
fn a_code_that_never_reached_sts_does_not_use_up_its_step() {
    let clock = ManualClock::at(START);
    let w = World::new(&clock);
    w.sts.fail_next(sts::Error::Unreachable {
        endpoint: "https://sts.eu-west-1.amazonaws.com".into(),
        message: "connection refused".into(),
    });
    let err = w.assume("admin").unwrap_err();
    assert!(
        matches!(err, Error::Sts(sts::Error::Unreachable { .. })),
        "{err:?}"
    );
    let serial = "arn:aws:iam::111111111111:mfa/alice";
    assert_eq!(w.cache.used_until(serial).unwrap(), None);
    w.assume("admin").unwrap();
    assert!(clock.slept().is_empty(), "the retry waits for nothing");
}

#[test]
fn missing_source_keys_fail_before_any_code_is_asked() {
    let clock = ManualClock::at(START);
    let w = World::new(&clock);
    let options = Options {
        source_keys: Some(SourceKeys {
            found: SourceCredentials::Missing {
                missing: vec!["aws_secret_access_key"],
                section_in_credentials: true,
            },
            credentials_file: "/home/alice/.aws/credentials".into(),
        }),
        ..w.options()
    };
    let err = w.assume_with("admin", &options).unwrap_err();
    assert!(
        matches!(&err, Error::Sts(sts::Error::NoSourceCredentials { profile, .. }) if profile == "src"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("has no aws_secret_access_key"),
        "{err}"
    );
    assert_eq!(w.codes.asked(), 0, "no touch spent");
    assert!(w.sts.calls().is_empty());
}

#[test]
fn a_missing_sts_helper_fails_before_any_code_is_asked() {
    let clock = ManualClock::at(START);
    let mut w = World::new(&clock);
    w.sts.ready = false;
    let err = w.assume("admin").unwrap_err();
    assert!(
        matches!(err, Error::Sts(sts::Error::HelperMissing { .. })),
        "{err:?}"
    );
    assert_eq!(w.codes.asked(), 0);
}

#[test]
fn no_way_to_get_a_code_fails_before_waiting_for_a_fresh_step() {
    let clock = ManualClock::at(START + 1);
    let mut w = World::new(&clock);
    w.cache
        .record_used(
            "arn:aws:iam::111111111111:mfa/alice",
            TimeStep::at(START, 30),
            START as i64,
        )
        .unwrap();
    w.codes.way = false;
    let err = w.assume("admin").unwrap_err();
    assert!(
        matches!(err, Error::Totp(totp::Error::NoWay { .. })),
        "{err:?}"
    );
    assert!(clock.slept().is_empty(), "no wait first");
    assert_eq!(w.codes.asked(), 0);
}

#[test]
fn an_mfa_session_signs_roles_without_another_code() {
    let clock = ManualClock::at(START);
    let w = World::new(&clock);
    w.assume("via-session").unwrap();
    w.cache.remove(Some("via-session")).unwrap();
    w.assume("via-session").unwrap();
    assert_eq!(w.codes.asked(), 1, "one code for the session");
    let calls = w.sts.calls();
    assert!(matches!(calls[0], Call::SessionToken { .. }));
    assert!(matches!(&calls[1], Call::AssumeRole { code: None, .. }));
    assert!(matches!(&calls[2], Call::AssumeRole { code: None, .. }));
}

#[test]
fn a_cached_mfa_session_sts_rejects_is_replaced_once() {
    let clock = ManualClock::at(START);
    let w = World::new(&clock);
    w.assume("via-session").unwrap();
    w.cache.remove(Some("via-session")).unwrap();
    w.sts.fail_next(sts::Error::SessionRejected {
        origin: "the MFA session".into(),
        code: "InvalidClientTokenId".into(),
    });
    clock.advance(30);
    w.assume("via-session").unwrap();
    let calls = w.sts.calls();
    assert_eq!(calls.len(), 5, "{calls:?}");
    assert!(matches!(calls[2], Call::AssumeRole { .. }), "rejected");
    assert!(
        matches!(calls[3], Call::SessionToken { .. }),
        "a new session"
    );
    assert!(matches!(calls[4], Call::AssumeRole { .. }), "signed by it");
    assert_eq!(w.codes.asked(), 2);
}

#[test]
fn a_fresh_mfa_session_sts_rejects_is_not_fetched_again() {
    let clock = ManualClock::at(START);
    let w = World::new(&clock);
    // GetSessionToken succeeds; the AssumeRole it signs is refused.
    w.sts.fail_call(
        1,
        sts::Error::SessionRejected {
            origin: "the MFA session".into(),
            code: "InvalidClientTokenId".into(),
        },
    );
    let err = w.assume("via-session").unwrap_err();
    assert!(
        matches!(err, Error::Sts(sts::Error::SessionRejected { .. })),
        "{err:?}"
    );
    assert_eq!(
        w.codes.asked(),
        1,
        "no second touch for a session just made"
    );
}

#[test]
fn a_chain_hop_is_signed_by_the_hop_below_and_clamped_to_an_hour() {
    let clock = ManualClock::at(START);
    let w = World::new(&clock);
    w.assume("hop2").unwrap();
    let calls = w.sts.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    let Call::AssumeRole {
        code: Some(_),
        role,
        ..
    } = &calls[0]
    else {
        panic!("{calls:?}")
    };
    assert!(role.ends_with("role/Admin"));
    let Call::AssumeRole {
        code: None,
        duration,
        signed_by,
        ..
    } = &calls[1]
    else {
        panic!("{calls:?}")
    };
    assert_eq!(*duration, ROLE_CHAIN_MAX_DURATION);
    assert_eq!(signed_by, "ASIA0000000000000001", "signed by the first hop");
    // The hop below was cached under its own profile: assuming it is a hit.
    w.assume("admin").unwrap();
    assert_eq!(w.sts.calls().len(), 2);
}

#[test]
fn a_cached_hop_sts_rejects_is_replaced_once() {
    let clock = ManualClock::at(START);
    let w = World::new(&clock);
    w.assume("admin").unwrap();
    w.sts.fail_next(sts::Error::SessionRejected {
        origin: "profile 'admin'".into(),
        code: "ExpiredToken".into(),
    });
    clock.advance(30);
    w.assume("hop2").unwrap();
    let calls = w.sts.calls();
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert!(
        matches!(&calls[1], Call::AssumeRole { code: None, .. }),
        "rejected"
    );
    assert!(
        matches!(&calls[2], Call::AssumeRole { code: Some(_), .. }),
        "the hop again"
    );
    assert!(
        matches!(&calls[3], Call::AssumeRole { code: None, signed_by, .. } if signed_by == "ASIA0000000000000002")
    );
}

#[test]
fn a_hop_about_to_expire_is_not_used_to_sign() {
    let clock = ManualClock::at(START);
    let w = World::new(&clock);
    w.assume("admin").unwrap(); // 3600 s
    clock.advance(3600 - 30);
    let lenient = Options {
        disable_mandatory_refresh: true,
        ..w.options()
    };
    w.assume_with("hop2", &lenient).unwrap();
    let calls = w.sts.calls();
    assert_eq!(
        calls.len(),
        3,
        "30 s left is under the signing margin: {calls:?}"
    );
}
