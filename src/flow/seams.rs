//! The two outside parties of a cache miss, as traits: STS, and whatever
//! yields an MFA code. The product path plugs in the `vegas-sts` helper and
//! the YubiKey/ykman/typed-code race; the flow's unit tests plug in an
//! in-memory STS and scripted codes.

use crate::cache::Cache;
use crate::credentials::Credentials;
use crate::sts::{self, AssumeRoleRequest, SessionTokenRequest};
use crate::totp::{self, CodeRequest, MfaCode};
use crate::ui::Ui;

/// STS, as the flow needs it.
pub trait Sts {
    /// Whether calls can be made at all (the helper is there): checked
    /// before a code is asked for, so no touch is spent on a call that
    /// cannot be sent.
    fn ready(&self) -> Result<(), sts::Error>;
    fn assume_role(&self, request: &AssumeRoleRequest) -> Result<Credentials, sts::Error>;
    fn get_session_token(&self, request: &SessionTokenRequest) -> Result<Credentials, sts::Error>;
}

/// Whatever yields the MFA code of a device.
pub trait Codes {
    /// Fail at once, asking nothing and touching nothing, when no way of
    /// getting a code exists here.
    fn ensure_a_way(&self, request: &CodeRequest, ui: &dyn Ui) -> Result<(), totp::Error>;
    /// A code for `request`: may wait for a touch or a person.
    fn code(
        &self,
        request: &CodeRequest,
        cache: Option<&Cache>,
        ui: &dyn Ui,
    ) -> Result<MfaCode, totp::Error>;
}

/// STS through the `vegas-sts` helper binary.
#[derive(Debug, Default, Clone, Copy)]
pub struct HelperSts;

impl Sts for HelperSts {
    fn ready(&self) -> Result<(), sts::Error> {
        sts::helper::locate().map(|_| ())
    }

    fn assume_role(&self, request: &AssumeRoleRequest) -> Result<Credentials, sts::Error> {
        sts::assume_role(request)
    }

    fn get_session_token(&self, request: &SessionTokenRequest) -> Result<Credentials, sts::Error> {
        sts::get_session_token(request)
    }
}

/// The YubiKey over PC/SC or ykman, raced with a typed code ([`totp`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyCodes;

impl Codes for KeyCodes {
    fn ensure_a_way(&self, request: &CodeRequest, ui: &dyn Ui) -> Result<(), totp::Error> {
        totp::ensure_a_way_for(request, ui)
    }

    fn code(
        &self,
        request: &CodeRequest,
        cache: Option<&Cache>,
        ui: &dyn Ui,
    ) -> Result<MfaCode, totp::Error> {
        totp::get_code(request, cache, ui)
    }
}
