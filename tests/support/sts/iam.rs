//! The IAM operations `vegas setup` makes, as strict as the STS ones:
//! GetUser, ListMFADevices, CreateVirtualMFADevice (the seed sent as AWS
//! sends it: the base32 text of a 40-byte secret, base64-encoded as every
//! Query API blob), EnableMFADevice (only the codes of two consecutive time
//! steps of that seed, around now), DeactivateMFADevice and
//! DeleteVirtualMFADevice (refused while the device is still enabled).
//!
//! A device enabled here is a valid MFA device for AssumeRole and
//! GetSessionToken from then on ([`State::device_secret`]), its two enable
//! codes used up.

use std::collections::HashMap;
use std::time::SystemTime;

use zeroize::Zeroizing;

use super::encoding::{constant_time_eq, derived_id, totp_for_step, unix_seconds};
use super::errors::{Reply, StsError};
use super::http::Params;
use super::ops::{Caller, Live, Principal, State};
use super::{xml, Action, TOTP_PERIOD_SECONDS};

/// The only API version IAM has.
pub const IAM_VERSION: &str = "2010-05-08";
/// The seed length AWS uses (64 base32 characters).
const SEED_BYTES: usize = 40;

/// A virtual MFA device made through CreateVirtualMFADevice.
pub(super) struct VirtualDevice {
    pub(super) secret: Zeroizing<Vec<u8>>,
    /// The user it is enabled for, if any.
    pub(super) user: Option<String>,
    pub(super) created_at: u64,
}

/// What a test sees of a virtual MFA device: never its seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualDeviceRecord {
    pub serial: String,
    pub enabled_for: Option<String>,
}

impl Action {
    /// Whether IAM (not STS) answers this action.
    pub fn is_iam(&self) -> bool {
        matches!(
            self,
            Action::GetUser
                | Action::ListMfaDevices
                | Action::CreateVirtualMfaDevice
                | Action::EnableMfaDevice
                | Action::DeactivateMfaDevice
                | Action::DeleteVirtualMfaDevice
        )
    }
}

impl State {
    /// Runs one IAM action for `caller` (the version is checked already).
    pub(super) fn handle_iam(
        &self,
        live: &mut Live,
        caller: &Caller,
        action: &Action,
        params: &Params,
        now: SystemTime,
    ) -> Reply {
        let Principal::User { name, .. } = &caller.principal else {
            return Err(StsError::access_denied(format!(
                "User: {} is not authorized to perform: iam:{}",
                caller.principal.arn(),
                action.name()
            )));
        };
        match action {
            Action::GetUser => Ok(xml::iam_response(
                "GetUser",
                &format!("<User>{}</User>", self.user_xml(name)),
            )),
            Action::ListMfaDevices => self.list_mfa_devices(live, name, params),
            Action::CreateVirtualMfaDevice => self.create_virtual_mfa_device(live, params, now),
            Action::EnableMfaDevice => self.enable_mfa_device(live, params, now),
            Action::DeactivateMfaDevice => deactivate_mfa_device(live, params),
            Action::DeleteVirtualMfaDevice => delete_virtual_mfa_device(live, params),
            other => Err(StsError::invalid_action(other.name(), IAM_VERSION)),
        }
    }

    fn user_xml(&self, name: &str) -> String {
        format!(
            "<Path>/</Path><UserName>{}</UserName><UserId>{}</UserId><Arn>{}</Arn>\
             <CreateDate>2020-01-01T00:00:00Z</CreateDate>",
            xml::escape(name),
            derived_id("AIDA", name),
            xml::escape(&self.user_arn(name))
        )
    }

    fn user_arn(&self, name: &str) -> String {
        format!("arn:aws:iam::{}:user/{name}", self.config.account_id)
    }

    fn list_mfa_devices(&self, live: &Live, caller: &str, params: &Params) -> Reply {
        let user = params.get("UserName").unwrap_or(caller);
        self.check_user(user)?;
        let devices: String = live
            .virtual_devices
            .iter()
            .filter(|(_, d)| d.user.as_deref() == Some(user))
            .map(|(serial, d)| {
                format!(
                    "<member><UserName>{}</UserName><SerialNumber>{}</SerialNumber>\
                     <EnableDate>{}</EnableDate></member>",
                    xml::escape(user),
                    xml::escape(serial),
                    xml::iso8601(d.created_at)
                )
            })
            .collect();
        Ok(xml::iam_response(
            "ListMFADevices",
            &format!("<MFADevices>{devices}</MFADevices><IsTruncated>false</IsTruncated>"),
        ))
    }

    fn check_user(&self, user: &str) -> Result<(), StsError> {
        if self.config.source_keys.iter().any(|k| k.user_name == user) {
            Ok(())
        } else {
            Err(no_such_entity(format!(
                "The user with name {user} cannot be found."
            )))
        }
    }

    fn create_virtual_mfa_device(
        &self,
        live: &mut Live,
        params: &Params,
        now: SystemTime,
    ) -> Reply {
        let name = params
            .get("VirtualMFADeviceName")
            .ok_or_else(|| StsError::validation("VirtualMFADeviceName is required".into()))?;
        let valid = (1..=226).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
        if !valid {
            return Err(StsError::validation(format!(
                "1 validation error detected: Value '{name}' at 'virtualMFADeviceName' failed to satisfy constraint"
            )));
        }
        let serial = format!("arn:aws:iam::{}:mfa/{name}", self.config.account_id);
        if live.virtual_devices.contains_key(&serial) || self.device_secrets.contains_key(&serial) {
            return Err(StsError::new(
                409,
                "EntityAlreadyExists",
                "MFADevice entity at the same path and name already exists.".into(),
            ));
        }
        let mut secret = Zeroizing::new(vec![0u8; SEED_BYTES]);
        getrandom::fill(&mut secret).expect("random seed");
        let base32 = Zeroizing::new(data_encoding::BASE32.encode(&secret));
        let blob = Zeroizing::new(data_encoding::BASE64.encode(base32.as_bytes()));
        live.virtual_devices.insert(
            serial.clone(),
            VirtualDevice {
                secret,
                user: None,
                created_at: unix_seconds(now),
            },
        );
        Ok(xml::iam_response(
            "CreateVirtualMFADevice",
            &format!(
                "<VirtualMFADevice><SerialNumber>{}</SerialNumber>\
                 <Base32StringSeed>{}</Base32StringSeed></VirtualMFADevice>",
                xml::escape(&serial),
                blob.as_str()
            ),
        ))
    }

    /// Accepts the codes of steps N and N+1 for an N at most two steps
    /// before the current one, as AWS accepts two consecutive codes.
    fn enable_mfa_device(&self, live: &mut Live, params: &Params, now: SystemTime) -> Reply {
        let required = |name: &str| {
            params
                .get(name)
                .ok_or_else(|| StsError::validation(format!("{name} is required")))
        };
        let user = required("UserName")?;
        let serial = required("SerialNumber")?;
        let first = required("AuthenticationCode1")?;
        let second = required("AuthenticationCode2")?;
        self.check_user(user)?;
        let device = live.virtual_devices.get_mut(serial).ok_or_else(|| {
            no_such_entity(format!(
                "VirtualMFADevice with serial number {serial} doesn't exist."
            ))
        })?;
        if device.user.is_some() {
            return Err(StsError::new(
                409,
                "EntityAlreadyExists",
                "MFA Device is already in use.".into(),
            ));
        }
        let current = unix_seconds(now) / TOTP_PERIOD_SECONDS;
        let matches = |step: u64, code: &str| {
            constant_time_eq(
                totp_for_step(&device.secret, step).as_bytes(),
                code.as_bytes(),
            )
        };
        let consecutive = (current.saturating_sub(2)..=current)
            .find(|&step| matches(step, first) && matches(step + 1, second));
        let Some(step) = consecutive else {
            return Err(StsError::new(
                400,
                "InvalidAuthenticationCode",
                "Authentication code for device is not valid.".into(),
            ));
        };
        device.user = Some(user.to_owned());
        // Both codes are used up, as AWS (likely) treats them: AssumeRole
        // refuses them from now on.
        live.last_step.insert(serial.to_owned(), step + 1);
        Ok(xml::iam_response_empty("EnableMFADevice"))
    }

    /// The secret of an MFA device AssumeRole may name: a configured one, or
    /// a virtual one enabled through EnableMFADevice.
    pub(super) fn device_secret(&self, live: &Live, serial: &str) -> Option<Zeroizing<Vec<u8>>> {
        self.device_secrets.get(serial).cloned().or_else(|| {
            live.virtual_devices
                .get(serial)
                .filter(|d| d.user.is_some())
                .map(|d| d.secret.clone())
        })
    }
}

fn deactivate_mfa_device(live: &mut Live, params: &Params) -> Reply {
    let serial = params.get("SerialNumber").unwrap_or_default();
    let user = params.get("UserName");
    match live.virtual_devices.get_mut(serial) {
        Some(device)
            if device.user.is_some() && (user.is_none() || device.user.as_deref() == user) =>
        {
            device.user = None;
            Ok(xml::iam_response_empty("DeactivateMFADevice"))
        }
        _ => Err(no_such_entity(format!(
            "MFA Device with serial number {serial} does not exist."
        ))),
    }
}

fn delete_virtual_mfa_device(live: &mut Live, params: &Params) -> Reply {
    let serial = params.get("SerialNumber").unwrap_or_default();
    match live.virtual_devices.get(serial) {
        None => Err(no_such_entity(format!(
            "VirtualMFADevice with serial number {serial} doesn't exist."
        ))),
        Some(device) if device.user.is_some() => Err(StsError::new(
            409,
            "DeleteConflict",
            "MFA Device is still assigned to a user.".into(),
        )),
        Some(_) => {
            live.virtual_devices.remove(serial);
            Ok(xml::iam_response_empty("DeleteVirtualMFADevice"))
        }
    }
}

fn no_such_entity(message: String) -> StsError {
    StsError::new(404, "NoSuchEntity", message)
}

/// The virtual devices as a test may see them.
pub(super) fn records(devices: &HashMap<String, VirtualDevice>) -> Vec<VirtualDeviceRecord> {
    let mut records: Vec<VirtualDeviceRecord> = devices
        .iter()
        .map(|(serial, d)| VirtualDeviceRecord {
            serial: serial.clone(),
            enabled_for: d.user.clone(),
        })
        .collect();
    records.sort_by(|a, b| a.serial.cmp(&b.serial));
    records
}
