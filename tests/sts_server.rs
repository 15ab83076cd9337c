//! The strict local STS, checked with real clients: boto3 (with its own TOTP,
//! computed in Python, so the server's TOTP is not checked against itself)
//! and the aws-sdk-sts Rust client.

// Only the STS half of `support`: this file does not need the card or pcscd.
#[allow(dead_code)]
#[path = "support/sts.rs"]
mod sts;
// Only the virtualenv lookup of `support`, for boto3.
#[path = "support/venv.rs"]
mod venv;

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sts::error::ProvideErrorMetadata;
use serde_json::{json, Value};
use sts::{Action, CallRecord, Fault, Outcome, RoleConfig, StrictSts, StsConfig, TokenCheck};

const ACCOUNT: &str = "111111111111";
const SOURCE_KEY: &str = "AKIAVEGASTESTSOURCE1";
const SOURCE_SECRET: &str = "vegasTestSecretKey/0123456789abcdefghijk";
const MFA_SERIAL: &str = "arn:aws:iam::111111111111:mfa/alice";
const MFA_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const ADMIN_ROLE: &str = "arn:aws:iam::222222222222:role/Admin";
const LONG_ROLE: &str = "arn:aws:iam::222222222222:role/ops/Long";
const GUARDED_ROLE: &str = "arn:aws:iam::222222222222:role/Guarded";

fn config() -> StsConfig {
    StsConfig::new()
        .account_id(ACCOUNT)
        .source_key_of_user("alice", SOURCE_KEY, SOURCE_SECRET)
        .mfa_device(MFA_SERIAL, MFA_SECRET)
        .role(RoleConfig::new(ADMIN_ROLE))
        .role(RoleConfig::new(LONG_ROLE).max_session_duration(43_200))
        .role(RoleConfig::new(GUARDED_ROLE).require_mfa())
}

// ---------------------------------------------------------------------------
// boto3, driven by a small inline script
// ---------------------------------------------------------------------------

/// Runs `calls` in order with one boto3 client per call and returns one
/// result per call: `{"ok": response}` or `{"error": {code, message, status}}`.
/// A call's `"token"` is `"valid"` (the code of now), `"repeat"` (the code the
/// previous call sent), `"wrong"` (a code of no step near now) or literal digits;
/// `"use_issued": true` signs with the credentials the previous call returned;
/// `"clock_skew_seconds"` shifts botocore's signing clock.
const BOTO3_SCRIPT: &str = r#"
import base64, datetime, hashlib, hmac, json, struct, sys, time
import boto3, botocore.auth
from botocore.config import Config
from botocore.exceptions import ClientError

def totp(secret, t):
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(t) // 30), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1000000)

def wrong_code(secret):
    near = {totp(secret, time.time() + d) for d in range(-120, 121, 30)}
    return next("%06d" % n for n in range(1000000) if "%06d" % n not in near)

spec = json.loads(sys.argv[1])
real_clock = botocore.auth.get_current_datetime
keys = {"aws_access_key_id": spec["key"], "aws_secret_access_key": spec["secret"],
        "aws_session_token": spec.get("token")}
last_code, last_credentials, results = None, None, []
for call in spec["calls"]:
    skew = datetime.timedelta(seconds=call.get("clock_skew_seconds", 0))
    botocore.auth.get_current_datetime = lambda: real_clock() + skew
    signing = dict(keys)
    if call.get("use_issued"):
        signing = {"aws_access_key_id": last_credentials["AccessKeyId"],
                   "aws_secret_access_key": last_credentials["SecretAccessKey"],
                   "aws_session_token": last_credentials["SessionToken"]}
    client = boto3.client("sts", endpoint_url=spec["url"], region_name="eu-west-1",
                          config=Config(retries={"mode": "standard", "max_attempts": spec.get("max_attempts", 3)}),
                          **signing)
    params = dict(call.get("params", {}))
    token = call.get("token")
    if token == "valid":
        last_code = totp(spec["totp_secret"], time.time())
    elif token == "wrong":
        last_code = wrong_code(spec["totp_secret"])
    elif token not in (None, "repeat"):
        last_code = token
    if token is not None:
        params["TokenCode"] = last_code
    try:
        response = getattr(client, call["op"])(**params)
        response.pop("ResponseMetadata", None)
        last_credentials = response.get("Credentials", last_credentials)
        results.append({"ok": response})
    except ClientError as e:
        results.append({"error": {"code": e.response["Error"]["Code"], "message": e.response["Error"]["Message"],
                                  "status": e.response["ResponseMetadata"]["HTTPStatusCode"]}})
    except Exception as e:
        results.append({"exception": type(e).__name__})
print(json.dumps(results, default=str))
"#;

fn boto3(sts: &StrictSts, key: &str, secret: &str, max_attempts: u32, calls: Value) -> Vec<Value> {
    let home = tempfile::tempdir().unwrap();
    let spec = json!({
        "url": sts.url(), "key": key, "secret": secret, "totp_secret": MFA_SECRET,
        "max_attempts": max_attempts, "calls": calls,
    });
    let mut command = Command::new(venv::venv_bin("python"));
    command.arg("-c").arg(BOTO3_SCRIPT).arg(spec.to_string());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    command
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let output = command.output().expect("python runs");
    assert!(
        output.status.success(),
        "boto3 script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("boto3 script prints JSON")
}

fn ok(result: &Value) -> &Value {
    result
        .get("ok")
        .unwrap_or_else(|| panic!("expected success, got {result}"))
}

fn error_code(result: &Value) -> (&str, u64) {
    let error = result
        .get("error")
        .unwrap_or_else(|| panic!("expected an STS error, got {result}"));
    (
        error["code"].as_str().unwrap(),
        error["status"].as_u64().unwrap(),
    )
}

fn assume_admin(token: &str) -> Value {
    json!({"op": "assume_role", "token": token, "params": {
        "RoleArn": ADMIN_ROLE, "RoleSessionName": "alice", "SerialNumber": MFA_SERIAL}})
}

fn caller_identity_with_issued() -> Value {
    json!({"op": "get_caller_identity", "use_issued": true})
}

fn outcomes(calls: &[CallRecord]) -> Vec<String> {
    calls
        .iter()
        .map(|c| match &c.outcome {
            Outcome::Success => "Success".to_owned(),
            Outcome::Error { code, .. } => code.clone(),
            Outcome::Dropped => "Dropped".to_owned(),
        })
        .collect()
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---------------------------------------------------------------------------
// TOTP
// ---------------------------------------------------------------------------

#[test]
fn totp_matches_rfc6238_sha1_vectors_truncated_to_six_digits() {
    // RFC 6238 Appendix B, SHA-1, key "12345678901234567890"; 6-digit codes are
    // the last six digits of the 8-digit ones.
    let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let vectors = [
        (59, "287082"),
        (1_111_111_109, "081804"),
        (1_111_111_111, "050471"),
        (1_234_567_890, "005924"),
        (2_000_000_000, "279037"),
        (20_000_000_000, "353130"),
    ];
    for (time, code) in vectors {
        assert_eq!(
            sts::totp_at(secret, time).as_deref(),
            Some(code),
            "at {time}"
        );
    }
}

// ---------------------------------------------------------------------------
// MFA
// ---------------------------------------------------------------------------

#[test]
fn boto3_assume_role_with_valid_code_returns_credentials_that_identify_as_the_role() {
    let sts = StrictSts::start(config());
    let results = boto3(
        &sts,
        SOURCE_KEY,
        SOURCE_SECRET,
        1,
        json!([assume_admin("valid"), caller_identity_with_issued()]),
    );

    let credentials = &ok(&results[0])["Credentials"];
    let issued_key = credentials["AccessKeyId"].as_str().unwrap();
    assert!(issued_key.starts_with("ASIA"), "{issued_key}");
    assert_eq!(
        ok(&results[0])["AssumedRoleUser"]["Arn"],
        "arn:aws:sts::222222222222:assumed-role/Admin/alice"
    );
    let identity = ok(&results[1]);
    assert_eq!(
        identity["Arn"],
        "arn:aws:sts::222222222222:assumed-role/Admin/alice"
    );
    assert_eq!(identity["Account"], "222222222222");
    assert!(identity["UserId"].as_str().unwrap().ends_with(":alice"));

    let calls = sts.calls();
    assert_eq!(outcomes(&calls), ["Success", "Success"]);
    assert_eq!(calls[0].action, Action::AssumeRole);
    assert_eq!(calls[0].signer.as_deref(), Some(SOURCE_KEY));
    assert_eq!(calls[0].serial_number.as_deref(), Some(MFA_SERIAL));
    assert_eq!(calls[0].role_session_name.as_deref(), Some("alice"));
    assert!(matches!(
        calls[0].token_check,
        Some(TokenCheck::Accepted { .. })
    ));
    assert_eq!(calls[0].issued_access_key_id.as_deref(), Some(issued_key));
    assert_eq!(calls[1].action, Action::GetCallerIdentity);
    assert_eq!(calls[1].signer.as_deref(), Some(issued_key));
}

#[test]
fn boto3_assume_role_with_wrong_code_is_denied() {
    let sts = StrictSts::start(config());
    let results = boto3(
        &sts,
        SOURCE_KEY,
        SOURCE_SECRET,
        1,
        json!([assume_admin("wrong")]),
    );

    assert_eq!(error_code(&results[0]), ("AccessDenied", 403));
    assert!(results[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("invalid MFA one time pass code"));
    let calls = sts.calls();
    assert_eq!(calls[0].token_check, Some(TokenCheck::Invalid));
    assert_eq!(calls[0].issued_access_key_id, None);
}

#[test]
fn boto3_reusing_a_code_is_denied_even_in_the_next_step() {
    let sts = StrictSts::start(config());
    let results = boto3(
        &sts,
        SOURCE_KEY,
        SOURCE_SECRET,
        1,
        json!([assume_admin("valid"), assume_admin("repeat")]),
    );

    ok(&results[0]);
    assert_eq!(error_code(&results[1]), ("AccessDenied", 403));
    let calls = sts.calls();
    let Some(TokenCheck::Accepted { step }) = calls[0].token_check else {
        panic!("{:?}", calls[0])
    };
    assert_eq!(calls[1].token_check, Some(TokenCheck::Reused { step }));
}

#[test]
fn unknown_mfa_serial_is_denied() {
    let sts = StrictSts::start(config());
    let call = json!({"op": "assume_role", "token": "123456", "params": {
        "RoleArn": ADMIN_ROLE, "RoleSessionName": "alice", "SerialNumber": "arn:aws:iam::111111111111:mfa/mallory"}});
    let results = boto3(&sts, SOURCE_KEY, SOURCE_SECRET, 1, json!([call]));

    assert_eq!(error_code(&results[0]), ("AccessDenied", 403));
    assert_eq!(sts.calls()[0].token_check, Some(TokenCheck::UnknownDevice));
}

// ---------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------

#[test]
fn boto3_signature_made_with_the_wrong_secret_is_rejected() {
    let sts = StrictSts::start(config());
    let results = boto3(
        &sts,
        SOURCE_KEY,
        "not-the-secret",
        1,
        json!([{"op": "get_caller_identity"}]),
    );

    assert_eq!(error_code(&results[0]), ("SignatureDoesNotMatch", 403));
    assert_eq!(sts.calls()[0].signer.as_deref(), Some(SOURCE_KEY));
}

#[test]
fn boto3_unknown_access_key_is_rejected() {
    let sts = StrictSts::start(config());
    let results = boto3(
        &sts,
        "AKIAUNKNOWNKEY000000",
        SOURCE_SECRET,
        1,
        json!([{"op": "get_caller_identity"}]),
    );

    assert_eq!(error_code(&results[0]), ("InvalidClientTokenId", 403));
    assert_eq!(
        sts.calls()[0].signer.as_deref(),
        Some("AKIAUNKNOWNKEY000000")
    );
}

#[test]
fn boto3_signature_older_than_fifteen_minutes_is_rejected_and_five_minutes_is_not() {
    let sts = StrictSts::start(config());
    let results = boto3(
        &sts,
        SOURCE_KEY,
        SOURCE_SECRET,
        1,
        json!([
            {"op": "get_caller_identity", "clock_skew_seconds": -20 * 60},
            {"op": "get_caller_identity", "clock_skew_seconds": 20 * 60},
            {"op": "get_caller_identity", "clock_skew_seconds": -5 * 60},
        ]),
    );

    assert_eq!(error_code(&results[0]), ("SignatureDoesNotMatch", 403));
    assert!(results[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Signature expired"));
    assert_eq!(error_code(&results[1]), ("SignatureDoesNotMatch", 403));
    assert_eq!(
        ok(&results[2])["Arn"],
        "arn:aws:iam::111111111111:user/alice"
    );
}

#[test]
fn issued_key_with_another_session_token_is_rejected() {
    let sts = StrictSts::start(config().allow_unknown_roles(true));
    let issued = block_on(
        source_client(&sts)
            .assume_role()
            .role_arn(ADMIN_ROLE)
            .role_session_name("test-session")
            .send(),
    )
    .unwrap()
    .credentials
    .unwrap();

    let forged = client(
        &sts,
        issued.access_key_id(),
        issued.secret_access_key(),
        Some("not-the-token"),
    );
    let error = block_on(forged.get_caller_identity().send()).unwrap_err();
    assert_eq!(error.code(), Some("InvalidClientTokenId"));
    let without_token = client(
        &sts,
        issued.access_key_id(),
        issued.secret_access_key(),
        None,
    );
    let error = block_on(without_token.get_caller_identity().send()).unwrap_err();
    assert_eq!(error.code(), Some("InvalidClientTokenId"));
}

// ---------------------------------------------------------------------------
// Durations, roles
// ---------------------------------------------------------------------------

#[test]
fn boto3_duration_over_the_role_maximum_is_rejected() {
    let sts = StrictSts::start(config());
    let over = json!({"op": "assume_role", "params": {
        "RoleArn": ADMIN_ROLE, "RoleSessionName": "alice", "DurationSeconds": 7200}});
    let under = json!({"op": "assume_role", "params": {
        "RoleArn": ADMIN_ROLE, "RoleSessionName": "alice", "DurationSeconds": 600}});
    let long_role = json!({"op": "assume_role", "params": {
        "RoleArn": LONG_ROLE, "RoleSessionName": "alice", "DurationSeconds": 7200}});
    let results = boto3(
        &sts,
        SOURCE_KEY,
        SOURCE_SECRET,
        1,
        json!([over, under, long_role]),
    );

    assert_eq!(error_code(&results[0]), ("ValidationError", 400));
    assert!(results[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("MaxSessionDuration"));
    // botocore checks the 900-second minimum itself; the server must too.
    assert!(results[1].get("ok").is_none(), "{}", results[1]);
    let expiration = ok(&results[2])["Credentials"]["Expiration"]
        .as_str()
        .unwrap()
        .to_owned();
    let expires = time::OffsetDateTime::parse(
        &expiration.replace(' ', "T"),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp() as u64;
    assert!(
        (now_unix() + 7200 - 60..=now_unix() + 7200).contains(&expires),
        "{expiration}"
    );
}

#[test]
fn duration_below_900_seconds_is_rejected_by_the_server() {
    let sts = StrictSts::start(config());
    let error = block_on(
        source_client(&sts)
            .assume_role()
            .role_arn(ADMIN_ROLE)
            .role_session_name("test-session")
            .duration_seconds(600)
            .send(),
    )
    .unwrap_err();
    assert_eq!(error.code(), Some("ValidationError"));
    assert!(error
        .message()
        .unwrap()
        .contains("greater than or equal to 900"));
}

#[test]
fn role_chain_is_capped_at_one_hour() {
    let sts = StrictSts::start(config());
    let first = block_on(
        source_client(&sts)
            .assume_role()
            .role_arn(LONG_ROLE)
            .role_session_name("first")
            .duration_seconds(7200)
            .send(),
    )
    .unwrap()
    .credentials
    .unwrap();
    let chained = client(
        &sts,
        first.access_key_id(),
        first.secret_access_key(),
        Some(first.session_token()),
    );

    let error = block_on(
        chained
            .assume_role()
            .role_arn(LONG_ROLE)
            .role_session_name("second")
            .duration_seconds(7200)
            .send(),
    )
    .unwrap_err();
    assert!(
        error.message().unwrap().contains("role chaining"),
        "{error:?}"
    );
    let second = block_on(
        chained
            .assume_role()
            .role_arn(ADMIN_ROLE)
            .role_session_name("second")
            .send(),
    )
    .unwrap();
    assert_eq!(
        second.assumed_role_user.unwrap().arn,
        "arn:aws:sts::222222222222:assumed-role/Admin/second"
    );
    assert_eq!(
        sts.calls()[2].signer.as_deref(),
        Some(first.access_key_id())
    );
}

#[test]
fn role_requiring_mfa_denies_without_a_code_and_accepts_an_mfa_session() {
    let sts = StrictSts::start(config());
    let error = block_on(
        source_client(&sts)
            .assume_role()
            .role_arn(GUARDED_ROLE)
            .role_session_name("test-session")
            .send(),
    )
    .unwrap_err();
    assert_eq!(error.code(), Some("AccessDenied"));
    assert!(error
        .message()
        .unwrap()
        .contains("is not authorized to perform: sts:AssumeRole"));

    let code = sts::totp_at(MFA_SECRET, now_unix()).unwrap();
    let session = block_on(
        source_client(&sts)
            .get_session_token()
            .serial_number(MFA_SERIAL)
            .token_code(code)
            .send(),
    )
    .unwrap()
    .credentials
    .unwrap();
    let mfa_session = client(
        &sts,
        session.access_key_id(),
        session.secret_access_key(),
        Some(session.session_token()),
    );
    let identity = block_on(mfa_session.get_caller_identity().send()).unwrap();
    assert_eq!(identity.arn(), Some("arn:aws:iam::111111111111:user/alice"));
    block_on(
        mfa_session
            .assume_role()
            .role_arn(GUARDED_ROLE)
            .role_session_name("test-session")
            .send(),
    )
    .unwrap();
    let error = block_on(mfa_session.get_session_token().send()).unwrap_err();
    assert_eq!(error.code(), Some("AccessDenied"));
}

#[test]
fn unknown_role_is_denied_unless_any_role_is_allowed_and_malformed_arn_is_invalid() {
    let strict = StrictSts::start(config());
    let error = block_on(
        source_client(&strict)
            .assume_role()
            .role_arn("arn:aws:iam::333333333333:role/Nope")
            .role_session_name("test-session")
            .send(),
    )
    .unwrap_err();
    assert_eq!(error.code(), Some("AccessDenied"));

    let lenient = StrictSts::start(config().allow_unknown_roles(true));
    block_on(
        source_client(&lenient)
            .assume_role()
            .role_arn("arn:aws:iam::333333333333:role/Nope")
            .role_session_name("test-session")
            .send(),
    )
    .unwrap();
    for bad in [
        "arn:aws:iam::3333:role/Short",
        "arn:aws:iam::333333333333:user/NotARole",
        "arn:aws:s3:::bucket/role/x",
    ] {
        let error = block_on(
            source_client(&lenient)
                .assume_role()
                .role_arn(bad)
                .role_session_name("test-session")
                .send(),
        )
        .unwrap_err();
        assert_eq!(error.code(), Some("ValidationError"), "{bad}");
    }
    let error = block_on(
        source_client(&lenient)
            .assume_role()
            .role_arn(ADMIN_ROLE)
            .role_session_name("bad name")
            .send(),
    )
    .unwrap_err();
    assert_eq!(error.code(), Some("ValidationError"));
}

#[test]
fn issued_credentials_expire_after_the_configured_lifetime() {
    let sts = StrictSts::start(config().credential_lifetime(Duration::from_secs(1)));
    let issued = block_on(
        source_client(&sts)
            .assume_role()
            .role_arn(ADMIN_ROLE)
            .role_session_name("test-session")
            .send(),
    )
    .unwrap()
    .credentials
    .unwrap();
    let expires = issued.expiration().secs() as u64;
    assert!(
        expires <= now_unix() + 1,
        "expiration follows the configured lifetime"
    );

    std::thread::sleep(Duration::from_millis(2100));
    let expired = client(
        &sts,
        issued.access_key_id(),
        issued.secret_access_key(),
        Some(issued.session_token()),
    );
    let error = block_on(expired.get_caller_identity().send()).unwrap_err();
    assert_eq!(error.code(), Some("ExpiredToken"));
}

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

#[test]
fn boto3_retries_an_injected_throttle_and_the_code_is_used_once() {
    let sts = StrictSts::start(config());
    sts.push_fault(Fault::Throttling);
    let results = boto3(
        &sts,
        SOURCE_KEY,
        SOURCE_SECRET,
        3,
        json!([assume_admin("valid")]),
    );

    ok(&results[0]);
    let calls = sts.calls();
    assert_eq!(outcomes(&calls), ["Throttling", "Success"]);
    assert_eq!(calls[0].fault, Some(Fault::Throttling));
    assert_eq!(
        calls[0].token_check, None,
        "a throttled call does not use up the code"
    );
    assert!(matches!(
        calls[1].token_check,
        Some(TokenCheck::Accepted { .. })
    ));
    assert_eq!(sts.count(&Action::AssumeRole), 2);
    assert_eq!(sts.successes(&Action::AssumeRole), 1);
}

#[test]
fn boto3_sees_queued_faults_in_order_then_success() {
    let sts = StrictSts::start(config());
    sts.push_faults([
        Fault::InternalFailure,
        Fault::DropConnection,
        Fault::Throttling,
    ]);
    let results = boto3(
        &sts,
        SOURCE_KEY,
        SOURCE_SECRET,
        4,
        json!([{"op": "get_caller_identity"}]),
    );

    assert_eq!(
        ok(&results[0])["Arn"],
        "arn:aws:iam::111111111111:user/alice"
    );
    assert_eq!(
        outcomes(&sts.calls()),
        ["InternalFailure", "Dropped", "Throttling", "Success"]
    );
    assert_eq!(sts.pending_faults(), 0);
}

#[test]
fn fail_all_fails_every_request_until_cleared() {
    let sts = StrictSts::start(config());
    sts.fail_all(Some(Fault::ExpiredToken));
    let results = boto3(
        &sts,
        SOURCE_KEY,
        SOURCE_SECRET,
        1,
        json!([{"op": "get_caller_identity"}, {"op": "get_caller_identity"}]),
    );
    assert_eq!(error_code(&results[0]), ("ExpiredToken", 403));
    assert_eq!(error_code(&results[1]), ("ExpiredToken", 403));

    sts.fail_all(Some(Fault::AccessDenied));
    assert_eq!(
        block_on(source_client(&sts).get_caller_identity().send())
            .unwrap_err()
            .code(),
        Some("AccessDenied")
    );
    sts.fail_all(None);
    block_on(source_client(&sts).get_caller_identity().send()).unwrap();
    assert_eq!(
        outcomes(&sts.calls()),
        ["ExpiredToken", "ExpiredToken", "AccessDenied", "Success"]
    );
}

#[test]
fn slow_fault_delays_the_answer_then_answers_normally() {
    let sts = StrictSts::start(config());
    sts.push_fault(Fault::Slow(Duration::from_millis(700)));
    let started = Instant::now();
    block_on(source_client(&sts).get_caller_identity().send()).unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        sts.calls()[0].fault,
        Some(Fault::Slow(Duration::from_millis(700)))
    );
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

#[test]
fn demo_fixture_configures_a_working_server() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sts/demo.json");
    let config = StsConfig::from_json_file(&path).unwrap();
    let key = config.source_keys[0].clone();
    let sts = StrictSts::start(config);
    let identity = block_on(
        client(&sts, &key.access_key_id, &key.secret_access_key, None)
            .get_caller_identity()
            .send(),
    )
    .unwrap();
    assert_eq!(
        identity.arn(),
        Some(format!("arn:aws:iam::111111111111:user/{}", key.user_name).as_str())
    );
}

#[test]
fn json_config_with_an_unknown_field_is_refused() {
    let error =
        StsConfig::from_json_str(r#"{"account_id": "111111111111", "rolez": []}"#).unwrap_err();
    assert!(error.contains("rolez"), "{error}");
}

#[test]
fn source_key_debug_masks_the_secret() {
    let shown = format!("{:?}", config());
    assert!(
        !shown.contains(SOURCE_SECRET) && !shown.contains(MFA_SECRET),
        "{shown}"
    );
}

// ---------------------------------------------------------------------------
// The Rust client
// ---------------------------------------------------------------------------

fn client(sts: &StrictSts, key: &str, secret: &str, token: Option<&str>) -> aws_sdk_sts::Client {
    let credentials = Credentials::new(
        key,
        secret,
        token.map(str::to_owned),
        None,
        "strict-sts-test",
    );
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .endpoint_url(sts.url())
        .credentials_provider(credentials)
        .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

fn source_client(sts: &StrictSts) -> aws_sdk_sts::Client {
    client(sts, SOURCE_KEY, SOURCE_SECRET, None)
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

// ---------------------------------------------------------------------------
// IAM (what `vegas setup` calls), driven by boto3 with its own TOTP
// ---------------------------------------------------------------------------

/// One virtual MFA device's life, through boto3's IAM and STS clients: each
/// step's outcome is printed as `name: OK` or `name: ErrorCode`.
const BOTO3_IAM_SCRIPT: &str = r#"
import base64, hashlib, hmac, json, struct, sys, time
import boto3
from botocore.exceptions import ClientError

def totp(key, step):
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1000000)

spec = json.loads(sys.argv[1])
kw = dict(endpoint_url=spec["url"], aws_access_key_id=spec["key"],
          aws_secret_access_key=spec["secret"], region_name="us-east-1")
iam, sts = boto3.client("iam", **kw), boto3.client("sts", **kw)
out = {}
def step(name, f):
    try:
        out[name] = f() or "OK"
    except ClientError as e:
        out[name] = e.response["Error"]["Code"]

out["user"] = iam.get_user()["User"]["Arn"]
device = iam.create_virtual_mfa_device(VirtualMFADeviceName="laptop")["VirtualMFADevice"]
serial, seed = device["SerialNumber"], device["Base32StringSeed"]
out["serial"] = serial
out["seed_is_base32_text"] = all(chr(c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=" for c in seed)
key = base64.b32decode(seed)
out["seed_bytes"] = len(key)
now = int(time.time()) // 30
enable = lambda a, b: iam.enable_mfa_device(UserName="alice", SerialNumber=serial,
                                            AuthenticationCode1=a, AuthenticationCode2=b)
step("duplicate_name", lambda: iam.create_virtual_mfa_device(VirtualMFADeviceName="laptop") and None)
step("enable_same_step_twice", lambda: enable(totp(key, now), totp(key, now)))
step("enable_two_steps_apart", lambda: enable(totp(key, now - 1), totp(key, now + 1)))
step("enable_reversed", lambda: enable(totp(key, now + 1), totp(key, now)))
step("listed_before", lambda: str(len(iam.list_mfa_devices(UserName="alice")["MFADevices"])))
step("enable_consecutive", lambda: enable(totp(key, now - 1), totp(key, now)) and None)
step("listed_after", lambda: iam.list_mfa_devices(UserName="alice")["MFADevices"][0]["SerialNumber"])
assume = lambda step: sts.assume_role(RoleArn=spec["role"], RoleSessionName="setup",
                                      SerialNumber=serial, TokenCode=totp(key, step))
step("assume_with_an_enable_code", lambda: assume(now) and None)
step("assume_with_device", lambda: assume(now + 1) and None)
step("delete_while_enabled", lambda: iam.delete_virtual_mfa_device(SerialNumber=serial) and None)
step("deactivate", lambda: iam.deactivate_mfa_device(UserName="alice", SerialNumber=serial) and None)
step("delete", lambda: iam.delete_virtual_mfa_device(SerialNumber=serial) and None)
step("delete_again", lambda: iam.delete_virtual_mfa_device(SerialNumber=serial) and None)
print(json.dumps(out))
"#;

#[test]
fn boto3_iam_makes_enables_and_deletes_a_virtual_mfa_device_as_aws_does() {
    let server = StrictSts::start(config());
    let home = tempfile::tempdir().unwrap();
    let spec = json!({
        "url": server.url(), "key": SOURCE_KEY, "secret": SOURCE_SECRET, "role": GUARDED_ROLE,
    });
    let mut command = Command::new(venv::venv_bin("python"));
    command
        .arg("-c")
        .arg(BOTO3_IAM_SCRIPT)
        .arg(spec.to_string());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    command
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let output = command.output().expect("python runs");
    assert!(
        output.status.success(),
        "boto3 script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let serial = "arn:aws:iam::111111111111:mfa/laptop";
    assert_eq!(out["user"], "arn:aws:iam::111111111111:user/alice", "{out}");
    assert_eq!(out["serial"], serial, "{out}");
    assert_eq!(out["seed_is_base32_text"], true, "{out}");
    assert_eq!(out["seed_bytes"], 40, "{out}");
    assert_eq!(out["duplicate_name"], "EntityAlreadyExists", "{out}");
    for refused in [
        "enable_same_step_twice",
        "enable_two_steps_apart",
        "enable_reversed",
    ] {
        assert_eq!(
            out[refused], "InvalidAuthenticationCode",
            "{refused}: {out}"
        );
    }
    assert_eq!(out["listed_before"], "0", "{out}");
    assert_eq!(out["enable_consecutive"], "OK", "{out}");
    assert_eq!(out["listed_after"], serial, "{out}");
    assert_eq!(
        out["assume_with_an_enable_code"], "AccessDenied",
        "the codes EnableMFADevice saw are used up: {out}"
    );
    assert_eq!(
        out["assume_with_device"], "OK",
        "an enabled device is valid for AssumeRole: {out}"
    );
    assert_eq!(out["delete_while_enabled"], "DeleteConflict", "{out}");
    assert_eq!(out["deactivate"], "OK", "{out}");
    assert_eq!(out["delete"], "OK", "{out}");
    assert_eq!(out["delete_again"], "NoSuchEntity", "{out}");
    assert_eq!(server.virtual_devices(), []);
}
