//! The STS operations: who signed, AssumeRole, GetSessionToken,
//! GetCallerIdentity, and the credentials issued.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use zeroize::Zeroizing;

use super::encoding::{
    base32_decode, constant_time_eq, derived_id, random_string, totp_for_step, unix_seconds,
};
use super::encoding::{BASE32_ALPHABET, BASE64_ALPHABET};
use super::errors::{Reply, StsError};
use super::http::{self, Params};
use super::iam::{VirtualDevice, IAM_VERSION};
use super::{sigv4, validate, xml};
use super::{Action, CallRecord, Fault, RoleConfig, StsConfig, TokenCheck};
use super::{DEFAULT_ASSUME_ROLE_SECONDS, DEFAULT_SESSION_TOKEN_SECONDS, MAX_ASSUME_ROLE_SECONDS};
use super::{
    MAX_SESSION_TOKEN_SECONDS, MIN_DURATION_SECONDS, ROLE_CHAIN_MAX_SECONDS, STS_VERSION,
    TOTP_PERIOD_SECONDS,
};

pub(super) struct State {
    pub(super) config: StsConfig,
    pub(super) device_secrets: HashMap<String, Zeroizing<Vec<u8>>>,
    live: Mutex<Live>,
}

/// What changes while the server runs.
#[derive(Default)]
pub(super) struct Live {
    pub(super) faults: VecDeque<Fault>,
    pub(super) fail_all: Option<Fault>,
    pub(super) calls: Vec<CallRecord>,
    /// Faults for one action only, each used once, in order.
    pub(super) action_faults: Vec<(Action, Fault)>,
    /// Virtual MFA devices made through IAM, by serial.
    pub(super) virtual_devices: HashMap<String, VirtualDevice>,
    issued: HashMap<String, Issued>,
    /// Per MFA serial, the last TOTP step accepted.
    pub(super) last_step: HashMap<String, u64>,
}

/// Credentials this server handed out, by access key id.
pub(super) struct Issued {
    secret_access_key: Zeroizing<String>,
    session_token: Zeroizing<String>,
    expiration: u64,
    principal: Principal,
    mfa_authenticated: bool,
}

/// Who signed a request.
#[derive(Clone)]
pub(super) enum Principal {
    User {
        account_id: String,
        name: String,
        user_id: String,
    },
    AssumedRole {
        role: RoleArn,
        session_name: String,
    },
}

pub(super) struct Caller {
    pub(super) principal: Principal,
    /// Signed with temporary credentials (from this server), not long-term keys.
    temporary: bool,
    mfa_authenticated: bool,
}

impl State {
    pub(super) fn new(config: StsConfig) -> Self {
        let device_secrets = config
            .mfa_devices
            .iter()
            .filter_map(|d| {
                Some((
                    d.serial.clone(),
                    Zeroizing::new(base32_decode(&d.secret_base32)?),
                ))
            })
            .collect();
        State {
            config,
            device_secrets,
            live: Mutex::new(Live::default()),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fault for a request naming `action`: one armed for that action
    /// first, then the next queued one, then the standing one.
    pub(super) fn next_fault(&self, action: &Action) -> Option<Fault> {
        let mut live = self.lock();
        if let Some(i) = live.action_faults.iter().position(|(a, _)| a == action) {
            return Some(live.action_faults.remove(i).1);
        }
        live.faults.pop_front().or_else(|| live.fail_all.clone())
    }

    /// Authenticates and runs one request. The whole of it runs under the
    /// lock, so two requests never both use one TOTP step.
    pub(super) fn handle(
        &self,
        request: &http::Request,
        params: &Params,
        record: &mut CallRecord,
    ) -> Reply {
        let now = SystemTime::now();
        let mut live = self.lock();
        let iam = record.action.is_iam();
        let caller = self.authenticate(request, &live, now, if iam { "iam" } else { "sts" })?;
        let version = if iam { IAM_VERSION } else { STS_VERSION };
        if params.get("Version") != Some(version) {
            let version = params.get("Version").unwrap_or_default();
            return Err(StsError::invalid_action(record.action.name(), version));
        }
        if iam {
            return self.handle_iam(&mut live, &caller, &record.action, params, now);
        }
        match &record.action {
            Action::AssumeRole => self.assume_role(&mut live, &caller, params, record, now),
            Action::GetSessionToken => {
                self.get_session_token(&mut live, &caller, params, record, now)
            }
            Action::GetCallerIdentity => Ok(xml::caller_identity(&caller.principal)),
            other => Err(StsError::invalid_action(other.name(), STS_VERSION)),
        }
    }

    fn authenticate(
        &self,
        request: &http::Request,
        live: &Live,
        now: SystemTime,
        service: &str,
    ) -> Result<Caller, StsError> {
        let header = request
            .header("authorization")
            .ok_or_else(StsError::missing_authentication)?;
        let auth = sigv4::Authorization::parse(header)?;
        let token = request.header("x-amz-security-token");
        let (secret, caller) = self.find_key(&auth.access_key_id, token, live, now)?;
        sigv4::verify(request, &auth, secret, now, service)?;
        Ok(caller)
    }

    /// The secret and identity behind an access key id; a temporary key must
    /// come with its own session token, a long-term key with none.
    fn find_key<'a>(
        &'a self,
        access_key_id: &str,
        token: Option<&str>,
        live: &'a Live,
        now: SystemTime,
    ) -> Result<(&'a str, Caller), StsError> {
        if let Some(key) = self
            .config
            .source_keys
            .iter()
            .find(|k| k.access_key_id == access_key_id)
        {
            if token.is_some() {
                return Err(StsError::invalid_client_token_id());
            }
            let principal = Principal::User {
                account_id: self.config.account_id.clone(),
                name: key.user_name.clone(),
                user_id: derived_id("AIDA", &key.access_key_id),
            };
            let caller = Caller {
                principal,
                temporary: false,
                mfa_authenticated: false,
            };
            return Ok((key.secret_access_key.as_str(), caller));
        }
        let issued = live
            .issued
            .get(access_key_id)
            .ok_or_else(StsError::invalid_client_token_id)?;
        if !token.is_some_and(|t| constant_time_eq(t.as_bytes(), issued.session_token.as_bytes())) {
            return Err(StsError::invalid_client_token_id());
        }
        if unix_seconds(now) >= issued.expiration {
            return Err(StsError::expired_token());
        }
        let caller = Caller {
            principal: issued.principal.clone(),
            temporary: true,
            mfa_authenticated: issued.mfa_authenticated,
        };
        Ok((issued.secret_access_key.as_str(), caller))
    }

    fn assume_role(
        &self,
        live: &mut Live,
        caller: &Caller,
        params: &Params,
        record: &mut CallRecord,
        now: SystemTime,
    ) -> Reply {
        let role_arn = validate::required(params, "RoleArn", "roleArn")?;
        let session_name = validate::required(params, "RoleSessionName", "roleSessionName")?;
        validate::length(role_arn, "roleArn", 20, 2048)?;
        validate::pattern(
            session_name,
            "roleSessionName",
            2,
            64,
            &validate::SESSION_NAME_CHARS,
        )?;
        if let Some(external_id) = params.get("ExternalId") {
            validate::pattern(
                external_id,
                "externalId",
                2,
                1224,
                &validate::EXTERNAL_ID_CHARS,
            )?;
        }
        let mfa = validate::mfa_params(params)?;
        let duration = validate::duration(
            params,
            DEFAULT_ASSUME_ROLE_SECONDS,
            MIN_DURATION_SECONDS,
            MAX_ASSUME_ROLE_SECONDS,
        )?;
        let role = RoleArn::parse(role_arn)
            .ok_or_else(|| StsError::validation(format!("{role_arn} is invalid")))?;
        let settings = self
            .role_settings(role_arn)
            .ok_or_else(|| StsError::not_authorized(caller, role_arn))?;

        let chained = matches!(caller.principal, Principal::AssumedRole { .. });
        if chained && duration > ROLE_CHAIN_MAX_SECONDS {
            return Err(StsError::validation(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
                    .into(),
            ));
        }
        if duration > settings.max_session_duration {
            return Err(StsError::validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                    .into(),
            ));
        }
        let mfa_authenticated = match mfa {
            Some((serial, code)) => {
                self.check_token_code(live, serial, code, record, now)?;
                true
            }
            None => caller.mfa_authenticated,
        };
        if settings.require_mfa && !mfa_authenticated {
            return Err(StsError::not_authorized(caller, role_arn));
        }
        let principal = Principal::AssumedRole {
            role,
            session_name: session_name.to_owned(),
        };
        let (access_key_id, credentials) =
            self.issue(live, principal.clone(), mfa_authenticated, duration, now);
        record.issued_access_key_id = Some(access_key_id);
        Ok(xml::assume_role(&credentials, &principal))
    }

    fn get_session_token(
        &self,
        live: &mut Live,
        caller: &Caller,
        params: &Params,
        record: &mut CallRecord,
        now: SystemTime,
    ) -> Reply {
        if caller.temporary {
            return Err(StsError::access_denied(
                "Cannot call GetSessionToken with session credentials".into(),
            ));
        }
        let mfa = validate::mfa_params(params)?;
        let duration = validate::duration(
            params,
            DEFAULT_SESSION_TOKEN_SECONDS,
            MIN_DURATION_SECONDS,
            MAX_SESSION_TOKEN_SECONDS,
        )?;
        let mfa_authenticated = match mfa {
            Some((serial, code)) => {
                self.check_token_code(live, serial, code, record, now)?;
                true
            }
            None => false,
        };
        let (access_key_id, credentials) = self.issue(
            live,
            caller.principal.clone(),
            mfa_authenticated,
            duration,
            now,
        );
        record.issued_access_key_id = Some(access_key_id);
        Ok(xml::session_token(&credentials))
    }

    fn role_settings(&self, role_arn: &str) -> Option<RoleConfig> {
        match self.config.roles.iter().find(|r| r.arn == role_arn) {
            Some(role) => Some(role.clone()),
            None if self.config.allow_unknown_roles => Some(RoleConfig::new(role_arn)),
            None => None,
        }
    }

    /// Accepts the code of the current step or a neighbour, once: the step is
    /// remembered per device and no step at or before it is accepted again.
    fn check_token_code(
        &self,
        live: &mut Live,
        serial: &str,
        code: Option<&str>,
        record: &mut CallRecord,
        now: SystemTime,
    ) -> Result<(), StsError> {
        let Some(secret) = self.device_secret(live, serial) else {
            record.token_check = Some(TokenCheck::UnknownDevice);
            return Err(StsError::access_denied(
                "MultiFactorAuthentication failed, unable to validate MFA code. \
                 Please verify your MFA serial number is valid and associated with this user."
                    .into(),
            ));
        };
        let Some(code) = code else {
            record.token_check = Some(TokenCheck::Incomplete);
            return Err(StsError::invalid_mfa_code());
        };
        let current = unix_seconds(now) / TOTP_PERIOD_SECONDS;
        let matched = [current, current.saturating_sub(1), current + 1]
            .into_iter()
            .find(|&step| {
                constant_time_eq(totp_for_step(&secret, step).as_bytes(), code.as_bytes())
            });
        let Some(step) = matched else {
            record.token_check = Some(TokenCheck::Invalid);
            return Err(StsError::invalid_mfa_code());
        };
        if live.last_step.get(serial).is_some_and(|&last| step <= last) {
            record.token_check = Some(TokenCheck::Reused { step });
            return Err(StsError::invalid_mfa_code());
        }
        live.last_step.insert(serial.to_owned(), step);
        record.token_check = Some(TokenCheck::Accepted { step });
        Ok(())
    }

    fn issue(
        &self,
        live: &mut Live,
        principal: Principal,
        mfa_authenticated: bool,
        duration: u64,
        now: SystemTime,
    ) -> (String, xml::Credentials) {
        let lifetime = self.config.credential_lifetime_seconds.unwrap_or(duration);
        let credentials = xml::Credentials {
            access_key_id: format!("ASIA{}", random_string(BASE32_ALPHABET, 16)),
            secret_access_key: Zeroizing::new(random_string(BASE64_ALPHABET, 40)),
            session_token: Zeroizing::new(format!(
                "FwoGZXIvYXdzE{}",
                random_string(BASE64_ALPHABET, 300)
            )),
            expiration: unix_seconds(now) + lifetime,
        };
        let issued = Issued {
            secret_access_key: credentials.secret_access_key.clone(),
            session_token: credentials.session_token.clone(),
            expiration: credentials.expiration,
            principal,
            mfa_authenticated,
        };
        live.issued
            .insert(credentials.access_key_id.clone(), issued);
        (credentials.access_key_id.clone(), credentials)
    }
}

impl Principal {
    pub(super) fn arn(&self) -> String {
        match self {
            Principal::User {
                account_id, name, ..
            } => format!("arn:aws:iam::{account_id}:user/{name}"),
            Principal::AssumedRole { role, session_name } => {
                format!(
                    "arn:{}:sts::{}:assumed-role/{}/{session_name}",
                    role.partition, role.account_id, role.name
                )
            }
        }
    }

    pub(super) fn user_id(&self) -> String {
        match self {
            Principal::User { user_id, .. } => user_id.clone(),
            Principal::AssumedRole { role, session_name } => {
                format!("{}:{session_name}", role.role_id())
            }
        }
    }

    pub(super) fn account_id(&self) -> &str {
        match self {
            Principal::User { account_id, .. } => account_id,
            Principal::AssumedRole { role, .. } => &role.account_id,
        }
    }
}

/// `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
#[derive(Clone, Debug)]
pub(super) struct RoleArn {
    partition: String,
    account_id: String,
    name: String,
    full: String,
}

impl RoleArn {
    pub(super) fn parse(arn: &str) -> Option<RoleArn> {
        let mut parts = arn.splitn(6, ':');
        let (prefix, partition, service, region, account_id, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        let well_formed_head = prefix == "arn"
            && ["aws", "aws-cn", "aws-us-gov"].contains(&partition)
            && service == "iam"
            && region.is_empty()
            && is_account_id(account_id);
        let path_and_name = resource.strip_prefix("role/")?;
        let name = path_and_name.rsplit('/').next()?;
        let name_ok = (1..=64).contains(&name.len())
            && name.chars().all(|c| validate::ROLE_NAME_CHARS.allows(c));
        let path_ok = path_and_name.split('/').all(|segment| !segment.is_empty());
        (well_formed_head && name_ok && path_ok).then(|| RoleArn {
            partition: partition.to_owned(),
            account_id: account_id.to_owned(),
            name: name.to_owned(),
            full: arn.to_owned(),
        })
    }

    /// A stable `AROA…` id per role, as AWS keeps one per role.
    fn role_id(&self) -> String {
        derived_id("AROA", &self.full)
    }
}

pub(super) fn is_account_id(value: &str) -> bool {
    value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())
}
