//! A strict local STS: the server every AssumeRole test talks to.
//!
//! moto's STS accepts any signature and any MFA code, so a client that signs
//! with the wrong key or sends yesterday's code passes against it. This server
//! checks what AWS checks, so a test passing here fails for the reasons the
//! real service would:
//!
//! * every request carries a SigV4 signature (made within 15 minutes) by a
//!   configured source key, or by credentials this server issued together
//!   with their session token;
//! * `TokenCode` is the RFC 6238 code of the device named by `SerialNumber`
//!   for the current 30-second step (±1 step), and no step is used twice;
//! * IAM's `CreateVirtualMFADevice` and `EnableMFADevice` (two codes of two
//!   consecutive steps) make MFA devices AssumeRole accepts from then on
//!   (`sts/iam.rs`);
//! * `DurationSeconds` lies within 900..=the role's maximum, 3600 for a role
//!   chain; `RoleArn` and `RoleSessionName` are well formed; unknown roles are
//!   denied unless the configuration allows any.
//!
//! The test controls faults while it runs (throttling, 5xx, slow answers,
//! AccessDenied, ExpiredToken, dropped connections) and reads back every call
//! with [`StrictSts::calls`]. No record holds a secret or a token code.
//!
//! The HTTP layer is a few dozen lines over `std::net` rather than tiny_http:
//! closing a connection without an answer is one of the faults, and tiny_http
//! answers 500 for any request it is made to drop.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use zeroize::Zeroizing;

// Explicit paths: this file is reached both as `support::sts` and through an
// example's `#[path]`, and those resolve bare `mod x;` to different folders.
#[path = "sts/encoding.rs"]
mod encoding;
#[path = "sts/errors.rs"]
mod errors;
#[path = "sts/http.rs"]
mod http;
#[path = "sts/iam.rs"]
mod iam;
#[path = "sts/ops.rs"]
mod ops;
#[path = "sts/sigv4.rs"]
mod sigv4;
#[path = "sts/validate.rs"]
mod validate;
#[path = "sts/xml.rs"]
mod xml;

use encoding::{base32_decode, random_request_id};
use errors::StsError;
use http::Params;
pub use iam::VirtualDeviceRecord;
use ops::{is_account_id, RoleArn, State};

/// The account of the source keys when the configuration names none.
pub const DEFAULT_ACCOUNT_ID: &str = "111111111111";
/// The only API version STS has.
pub const STS_VERSION: &str = "2011-06-15";
/// How far the signing time may be from the server's clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);
/// The session limit AWS applies to a role assumed with role credentials.
pub const ROLE_CHAIN_MAX_SECONDS: u64 = 3600;

const TOTP_PERIOD_SECONDS: u64 = 30;
const TOTP_DIGITS: u32 = 6;
const MIN_DURATION_SECONDS: u64 = 900;
const DEFAULT_ASSUME_ROLE_SECONDS: u64 = 3600;
const MAX_ASSUME_ROLE_SECONDS: u64 = 43_200;
const DEFAULT_SESSION_TOKEN_SECONDS: u64 = 43_200;
const MAX_SESSION_TOKEN_SECONDS: u64 = 129_600;

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// What the server knows: who may sign, which MFA devices and roles exist.
/// Built in code with the builder methods, or read from JSON (see
/// `fixtures/sts/*.json`); field names are the JSON keys.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StsConfig {
    #[serde(default = "default_account_id")]
    pub account_id: String,
    #[serde(default)]
    pub source_keys: Vec<SourceKey>,
    #[serde(default)]
    pub mfa_devices: Vec<MfaDevice>,
    #[serde(default)]
    pub roles: Vec<RoleConfig>,
    /// Accept an AssumeRole for any well-formed role ARN not listed in `roles`
    /// (with the defaults of [`RoleConfig::new`]); otherwise AccessDenied.
    #[serde(default)]
    pub allow_unknown_roles: bool,
    /// Issued credentials expire after this many seconds instead of after the
    /// requested duration (e.g. 60 for refresh tests).
    #[serde(default)]
    pub credential_lifetime_seconds: Option<u64>,
}

/// Long-term keys of an IAM user in `account_id`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceKey {
    pub access_key_id: String,
    pub secret_access_key: Zeroizing<String>,
    #[serde(default = "default_user_name")]
    pub user_name: String,
}

/// A virtual MFA device: its serial (ARN) and its TOTP secret in base32.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaDevice {
    pub serial: String,
    pub secret_base32: Zeroizing<String>,
}

/// An IAM role that AssumeRole may name.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    pub arn: String,
    #[serde(default = "default_max_session_duration")]
    pub max_session_duration: u64,
    /// Deny AssumeRole without a valid MFA code (or an MFA session).
    #[serde(default)]
    pub require_mfa: bool,
}

fn default_account_id() -> String {
    DEFAULT_ACCOUNT_ID.to_owned()
}
fn default_user_name() -> String {
    "vegas-test".to_owned()
}
fn default_max_session_duration() -> u64 {
    DEFAULT_ASSUME_ROLE_SECONDS
}

impl Default for StsConfig {
    fn default() -> Self {
        StsConfig {
            account_id: default_account_id(),
            source_keys: Vec::new(),
            mfa_devices: Vec::new(),
            roles: Vec::new(),
            allow_unknown_roles: false,
            credential_lifetime_seconds: None,
        }
    }
}

impl StsConfig {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn account_id(mut self, account_id: &str) -> Self {
        self.account_id = account_id.to_owned();
        self
    }

    /// Long-term keys of the user `vegas-test`.
    pub fn source_key(self, access_key_id: &str, secret_access_key: &str) -> Self {
        self.source_key_of_user(&default_user_name(), access_key_id, secret_access_key)
    }

    pub fn source_key_of_user(mut self, user: &str, access_key_id: &str, secret: &str) -> Self {
        self.source_keys.push(SourceKey {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: Zeroizing::new(secret.to_owned()),
            user_name: user.to_owned(),
        });
        self
    }

    pub fn mfa_device(mut self, serial: &str, secret_base32: &str) -> Self {
        self.mfa_devices.push(MfaDevice {
            serial: serial.to_owned(),
            secret_base32: Zeroizing::new(secret_base32.to_owned()),
        });
        self
    }

    pub fn role(mut self, role: RoleConfig) -> Self {
        self.roles.push(role);
        self
    }

    pub fn allow_unknown_roles(mut self, allow: bool) -> Self {
        self.allow_unknown_roles = allow;
        self
    }

    pub fn credential_lifetime(mut self, lifetime: Duration) -> Self {
        self.credential_lifetime_seconds = Some(lifetime.as_secs());
        self
    }

    pub fn from_json_str(json: &str) -> Result<Self, String> {
        serde_json::from_str(json).map_err(|e| format!("STS config: {e}"))
    }

    pub fn from_json_file(path: &Path) -> Result<Self, String> {
        let json = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::from_json_str(&json).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Rejects a configuration the server could not honour, before it listens.
    fn check(&self) -> Result<(), String> {
        if !is_account_id(&self.account_id) {
            return Err(format!("account_id {:?} is not 12 digits", self.account_id));
        }
        for device in &self.mfa_devices {
            base32_decode(&device.secret_base32)
                .ok_or_else(|| format!("MFA device {}: secret is not base32", device.serial))?;
        }
        for role in &self.roles {
            RoleArn::parse(&role.arn)
                .ok_or_else(|| format!("role {:?} is not a role ARN", role.arn))?;
            if !(DEFAULT_ASSUME_ROLE_SECONDS..=MAX_ASSUME_ROLE_SECONDS)
                .contains(&role.max_session_duration)
            {
                return Err(format!(
                    "role {}: max_session_duration must be 3600..=43200",
                    role.arn
                ));
            }
        }
        Ok(())
    }
}

impl RoleConfig {
    /// A role with AWS's defaults: one hour at most, no MFA condition.
    pub fn new(arn: &str) -> Self {
        RoleConfig {
            arn: arn.to_owned(),
            max_session_duration: DEFAULT_ASSUME_ROLE_SECONDS,
            require_mfa: false,
        }
    }

    pub fn max_session_duration(mut self, seconds: u64) -> Self {
        self.max_session_duration = seconds;
        self
    }

    pub fn require_mfa(mut self) -> Self {
        self.require_mfa = true;
        self
    }
}

impl std::fmt::Debug for SourceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .field("user_name", &self.user_name)
            .finish()
    }
}

impl std::fmt::Debug for MfaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaDevice")
            .field("serial", &self.serial)
            .field("secret_base32", &"***")
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Faults and records: what the test controls and reads
// ---------------------------------------------------------------------------

/// Something going wrong on purpose, for one request or for all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 400 `Throttling` "Rate exceeded" (the SDKs retry it).
    Throttling,
    /// 500 `InternalFailure` (the SDKs retry it).
    InternalFailure,
    /// Wait this long, then answer the request normally.
    Slow(Duration),
    /// 403 `AccessDenied`, as if a policy denied the caller.
    AccessDenied,
    /// 403 `ExpiredToken`, as if the signing credentials had expired.
    ExpiredToken,
    /// Read the request, then close the connection without an answer.
    DropConnection,
}

impl std::str::FromStr for Fault {
    type Err = String;

    /// `throttling`, `internal-failure`, `access-denied`, `expired-token`,
    /// `drop-connection` or `slow-MS` (for the demo's command line).
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "throttling" => Ok(Fault::Throttling),
            "internal-failure" => Ok(Fault::InternalFailure),
            "access-denied" => Ok(Fault::AccessDenied),
            "expired-token" => Ok(Fault::ExpiredToken),
            "drop-connection" => Ok(Fault::DropConnection),
            _ => text
                .strip_prefix("slow-")
                .and_then(|ms| ms.parse().ok())
                .map(|ms| Fault::Slow(Duration::from_millis(ms)))
                .ok_or_else(|| format!("unknown fault {text:?}")),
        }
    }
}

/// The STS operation a request named.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    AssumeRole,
    GetSessionToken,
    GetCallerIdentity,
    // IAM, for `vegas setup` (see `sts/iam.rs`).
    GetUser,
    ListMfaDevices,
    CreateVirtualMfaDevice,
    EnableMfaDevice,
    DeactivateMfaDevice,
    DeleteVirtualMfaDevice,
    /// Any other (or a missing) `Action`; answered with `InvalidAction`.
    Other(String),
}

/// What became of a `TokenCode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenCheck {
    /// Valid for this 30-second step (unix time / 30), now used up.
    Accepted { step: u64 },
    /// Not the code of any step in the window.
    Invalid,
    /// The code of a step already used (or older than one used) for the device.
    Reused { step: u64 },
    /// `SerialNumber` names no configured device.
    UnknownDevice,
    /// `SerialNumber` without `TokenCode`, or the other way round.
    Incomplete,
}

/// How the server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Error {
        status: u16,
        code: String,
        message: String,
    },
    /// The connection was closed without an answer ([`Fault::DropConnection`]).
    Dropped,
}

/// One request as the server saw it. Parameters are as sent (not validated);
/// secrets and the token code itself are never recorded.
#[derive(Clone, Debug)]
pub struct CallRecord {
    pub action: Action,
    /// The access key id named in the Authorization header, known or not.
    pub signer: Option<String>,
    pub role_arn: Option<String>,
    pub role_session_name: Option<String>,
    pub duration_seconds: Option<String>,
    pub external_id: Option<String>,
    pub serial_number: Option<String>,
    /// `None` when no MFA parameter was sent or the request failed first.
    pub token_check: Option<TokenCheck>,
    /// The fault injected into this request, if any.
    pub fault: Option<Fault>,
    pub outcome: Outcome,
    /// The access key id of the credentials this call issued.
    pub issued_access_key_id: Option<String>,
    pub received_at: SystemTime,
}

impl CallRecord {
    pub fn succeeded(&self) -> bool {
        self.outcome == Outcome::Success
    }

    /// The STS error code of a failed call (`Throttling`, `AccessDenied`, …).
    pub fn error_code(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Error { code, .. } => Some(code),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

/// A running strict STS on 127.0.0.1. Stops listening when dropped.
pub struct StrictSts {
    address: SocketAddr,
    state: Arc<State>,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl StrictSts {
    /// Listens on an ephemeral port of 127.0.0.1. Panics on a bad
    /// configuration: that is a mistake in the test, not a condition to handle.
    pub fn start(config: StsConfig) -> StrictSts {
        Self::start_on("127.0.0.1:0", config).unwrap_or_else(|e| panic!("strict STS: {e}"))
    }

    /// Listens on the given address (the demo's fixed port).
    pub fn start_on(address: impl ToSocketAddrs, config: StsConfig) -> io::Result<StrictSts> {
        config
            .check()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(address)?;
        let address = listener.local_addr()?;
        let state = Arc::new(State::new(config));
        let stopping = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (state, stopping) = (Arc::clone(&state), Arc::clone(&stopping));
            thread::Builder::new()
                .name("strict-sts".into())
                .spawn(move || accept_loop(listener, state, stopping))?
        };
        Ok(StrictSts {
            address,
            state,
            stopping,
            acceptor: Some(acceptor),
        })
    }

    /// `http://127.0.0.1:PORT`, for `endpoint_url` / `AWS_ENDPOINT_URL_STS`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.state.lock().calls.clone()
    }

    /// How many requests named this action (whatever their outcome).
    pub fn count(&self, action: &Action) -> usize {
        self.state
            .lock()
            .calls
            .iter()
            .filter(|c| &c.action == action)
            .count()
    }

    /// How many requests for this action succeeded.
    pub fn successes(&self, action: &Action) -> usize {
        self.state
            .lock()
            .calls
            .iter()
            .filter(|c| &c.action == action && c.succeeded())
            .count()
    }

    /// Applies `fault` to the next request not yet claimed by an earlier fault.
    pub fn push_fault(&self, fault: Fault) {
        self.state.lock().faults.push_back(fault);
    }

    /// Applies the faults, in order, to the next requests.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state.lock().faults.extend(faults);
    }

    /// Makes every request fail with `fault` (after the queued ones are used),
    /// until called again with `None`.
    pub fn fail_all(&self, fault: Option<Fault>) {
        self.state.lock().fail_all = fault;
    }

    /// Applies `fault` to the next request naming `action` (before any
    /// queued fault), e.g. a failure of EnableMFADevice alone.
    pub fn fail_next(&self, action: Action, fault: Fault) {
        self.state.lock().action_faults.push((action, fault));
    }

    /// The virtual MFA devices made through IAM (never their seeds).
    pub fn virtual_devices(&self) -> Vec<VirtualDeviceRecord> {
        iam::records(&self.state.lock().virtual_devices)
    }

    /// The seed of a virtual MFA device as CreateVirtualMFADevice sent it
    /// (base32, and that base64-encoded as on the wire): for a test that
    /// looks for it where it must not be.
    pub fn virtual_device_seed(&self, serial: &str) -> Option<(String, String)> {
        let live = self.state.lock();
        let device = live.virtual_devices.get(serial)?;
        let base32 = data_encoding::BASE32.encode(&device.secret);
        let base64 = data_encoding::BASE64.encode(base32.as_bytes());
        Some((base32, base64))
    }

    /// Faults queued (for any request or for one action) and not yet applied.
    pub fn pending_faults(&self) -> usize {
        let live = self.state.lock();
        live.faults.len() + live.action_faults.len()
    }
}

impl Drop for StrictSts {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept; the loop then sees the flag and returns.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: TcpListener, state: Arc<State>, stopping: Arc<AtomicBool>) {
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let state = Arc::clone(&state);
        // One thread per connection: a Slow fault must not hold up the others.
        let _ = thread::Builder::new()
            .name("strict-sts-conn".into())
            .spawn(move || serve(stream, &state));
    }
}

/// Answers one request on one connection, then closes it.
fn serve(mut stream: TcpStream, state: &State) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = match http::read_request(&mut stream) {
        Ok(request) => request,
        Err(problem) => {
            let _ = http::write_plain(&mut stream, 400, &problem);
            return;
        }
    };
    let params = request.params();
    let mut record = CallRecord::new(&request, &params);
    let fault = state.next_fault(&record.action);
    record.fault = fault.clone();

    if let Some(Fault::Slow(delay)) = &fault {
        thread::sleep(*delay);
    }
    if fault == Some(Fault::DropConnection) {
        record.outcome = Outcome::Dropped;
        state.lock().calls.push(record);
        let _ = stream.shutdown(Shutdown::Both);
        return;
    }
    let answer = match fault.as_ref().and_then(StsError::from_fault) {
        Some(error) => Err(error),
        None => state.handle(&request, &params, &mut record),
    };
    let request_id = random_request_id();
    let (status, body) = match answer {
        Ok(body) => {
            record.outcome = Outcome::Success;
            (200, body)
        }
        Err(error) => {
            record.outcome = Outcome::Error {
                status: error.status,
                code: error.code.to_owned(),
                message: error.message.clone(),
            };
            (error.status, xml::error(&error, &request_id))
        }
    };
    let body = body.replace(xml::REQUEST_ID_SLOT, &request_id);
    // Recorded before answering: once the client has its answer, the test sees the call.
    state.lock().calls.push(record);
    let _ = http::write_xml(&mut stream, status, &request_id, &body);
}

impl CallRecord {
    fn new(request: &http::Request, params: &Params) -> Self {
        let param = |name: &str| params.get(name).map(str::to_owned);
        CallRecord {
            action: Action::from_param(params.get("Action")),
            signer: request
                .header("authorization")
                .and_then(sigv4::claimed_access_key_id),
            role_arn: param("RoleArn"),
            role_session_name: param("RoleSessionName"),
            duration_seconds: param("DurationSeconds"),
            external_id: param("ExternalId"),
            serial_number: param("SerialNumber"),
            token_check: None,
            fault: None,
            outcome: Outcome::Dropped,
            issued_access_key_id: None,
            received_at: SystemTime::now(),
        }
    }
}

impl Action {
    pub fn name(&self) -> &str {
        match self {
            Action::AssumeRole => "AssumeRole",
            Action::GetSessionToken => "GetSessionToken",
            Action::GetCallerIdentity => "GetCallerIdentity",
            Action::GetUser => "GetUser",
            Action::ListMfaDevices => "ListMFADevices",
            Action::CreateVirtualMfaDevice => "CreateVirtualMFADevice",
            Action::EnableMfaDevice => "EnableMFADevice",
            Action::DeactivateMfaDevice => "DeactivateMFADevice",
            Action::DeleteVirtualMfaDevice => "DeleteVirtualMFADevice",
            Action::Other(name) => name,
        }
    }

    fn from_param(action: Option<&str>) -> Self {
        match action {
            Some("AssumeRole") => Action::AssumeRole,
            Some("GetSessionToken") => Action::GetSessionToken,
            Some("GetCallerIdentity") => Action::GetCallerIdentity,
            Some("GetUser") => Action::GetUser,
            Some("ListMFADevices") => Action::ListMfaDevices,
            Some("CreateVirtualMFADevice") => Action::CreateVirtualMfaDevice,
            Some("EnableMFADevice") => Action::EnableMfaDevice,
            Some("DeactivateMFADevice") => Action::DeactivateMfaDevice,
            Some("DeleteVirtualMFADevice") => Action::DeleteVirtualMfaDevice,
            other => Action::Other(other.unwrap_or_default().to_owned()),
        }
    }
}

/// The 6-digit TOTP code (SHA-1, 30 s) of a base32 secret at a unix time,
/// as this server computes it. `None` when the secret is not base32.
pub fn totp_at(secret_base32: &str, unix_time: u64) -> Option<String> {
    encoding::totp_at(secret_base32, unix_time)
}
