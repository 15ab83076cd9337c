//! The applets ykman reads to identify a key: Management (READ CONFIG gives
//! the device info, serial included) and, for older keys, the OTP applet's
//! serial query. Read-only: the virtual key cannot be reconfigured.

use super::{Command, Response, Sw};

pub const MANAGEMENT_AID: &[u8] = &[0xA0, 0x00, 0x00, 0x05, 0x27, 0x47, 0x11, 0x17];
pub const OTP_AID: &[u8] = &[0xA0, 0x00, 0x00, 0x05, 0x27, 0x20, 0x01];

const INS_READ_CONFIG: u8 = 0x1D;
const INS_OTP_CONFIG: u8 = 0x01;
const INS_OTP_STATUS: u8 = 0x03;
const OTP_SLOT_SERIAL: u8 = 0x10;

// Device info tags (yubikit/management.py).
const TAG_USB_SUPPORTED: u8 = 0x01;
const TAG_SERIAL: u8 = 0x02;
const TAG_USB_ENABLED: u8 = 0x03;
const TAG_FORM_FACTOR: u8 = 0x04;
const TAG_VERSION: u8 = 0x05;
const TAG_AUTO_EJECT_TIMEOUT: u8 = 0x06;
const TAG_CHALRESP_TIMEOUT: u8 = 0x07;
const TAG_DEVICE_FLAGS: u8 = 0x08;
const TAG_CONFIG_LOCK: u8 = 0x0A;

/// OTP | U2F | OPENPGP | PIV | OATH | FIDO2: a YubiKey 5 over USB.
const YUBIKEY_5_CAPABILITIES: u16 = 0x0001 | 0x0002 | 0x0008 | 0x0010 | 0x0020 | 0x0200;
const FORM_FACTOR_USB_A_KEYCHAIN: u8 = 0x01;

/// Who the key says it is.
#[derive(Clone, Copy, Debug)]
pub struct DeviceIdentity {
    pub serial: u32,
    pub version: [u8; 3],
}

impl DeviceIdentity {
    /// SELECT answers the firmware version as text, which ykman parses.
    pub fn select_management(&self) -> Response {
        let [major, minor, patch] = self.version;
        Response::ok(format!("{major}.{minor}.{patch}").into_bytes())
    }

    /// A YubiKey NEO (firmware 3.x): its Management applet has no READ
    /// CONFIG, its OATH applet its own version numbers, and it must be
    /// "de-selected" from Management before another applet is selected.
    pub fn is_neo(&self) -> bool {
        self.version[0] == 3
    }

    pub fn process_management(&self, command: &Command) -> Response {
        match command.ins {
            INS_READ_CONFIG if self.is_neo() => Sw::INS_NOT_SUPPORTED.into(),
            INS_READ_CONFIG => Response::ok(self.device_info()),
            _ => Sw::INS_NOT_SUPPORTED.into(),
        }
    }

    /// READ CONFIG page: one length byte, then the TLVs.
    fn device_info(&self) -> Vec<u8> {
        let capabilities = YUBIKEY_5_CAPABILITIES.to_be_bytes();
        let fields: [(u8, &[u8]); 9] = [
            (TAG_USB_SUPPORTED, &capabilities),
            (TAG_SERIAL, &self.serial.to_be_bytes()),
            (TAG_USB_ENABLED, &capabilities),
            (TAG_FORM_FACTOR, &[FORM_FACTOR_USB_A_KEYCHAIN]),
            (TAG_VERSION, &self.version),
            (TAG_AUTO_EJECT_TIMEOUT, &[0, 0]),
            (TAG_CHALRESP_TIMEOUT, &[15]),
            (TAG_DEVICE_FLAGS, &[0]),
            (TAG_CONFIG_LOCK, &[0]),
        ];
        let mut tlvs = Vec::new();
        for (tag, value) in fields {
            tlvs.push(tag);
            tlvs.push(value.len() as u8);
            tlvs.extend_from_slice(value);
        }
        let mut out = vec![tlvs.len() as u8];
        out.extend(tlvs);
        out
    }

    /// The OTP applet's status: version, programming sequence, touch level.
    pub fn otp_status(&self) -> Response {
        let mut status = self.version.to_vec();
        status.extend([0x01, 0x00, 0x00]);
        Response::ok(status)
    }

    pub fn process_otp(&self, command: &Command) -> Response {
        match (command.ins, command.p1) {
            (INS_OTP_CONFIG, OTP_SLOT_SERIAL) => Response::ok(self.serial.to_be_bytes().to_vec()),
            (INS_OTP_STATUS, _) => self.otp_status(),
            (INS_OTP_CONFIG, _) => Sw::WRONG_P1P2.into(),
            _ => Sw::INS_NOT_SUPPORTED.into(),
        }
    }
}
