//! The credential providers: one trait for "give me credentials", and the
//! three STS calls vegas makes, composed by configuration in [`super::chain`].
//!
//! * [`AssumeRoleWithMfa`]: the first hop, plain — a code, then AssumeRole
//!   with it, signed by the source profile's long-term keys.
//! * [`SessionToken`]: GetSessionToken with a code, for an MFA session that
//!   signs many AssumeRole calls without a touch.
//! * [`AssumeRoleSignedBy`]: AssumeRole without MFA, signed by what another
//!   provider gives (an MFA session, or the hop below in a role chain). If
//!   STS no longer accepts credentials that came from the cache (a revoked
//!   session), they are fetched fresh once and the call made again.
//!
//! Caching and single flight are decorators around these ([`super::cached`],
//! [`super::single_flight`]); the providers here always call STS.

use std::time::Instant;

use super::mfa::CodeSupply;
use super::Context;
use crate::config::Profile;
use crate::credentials::Credentials;
use crate::sts::{self, AssumeRoleRequest, SessionTokenRequest, Signer};
use crate::Error;

/// AWS caps a role assumed with another role's credentials at one hour.
pub const ROLE_CHAIN_MAX_DURATION: u32 = 3600;

/// Whether a caller will take credentials from a cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Cached ones will do, if they last long enough.
    Any,
    /// Fetch new ones (the cached ones were refused, or were just looked at).
    Fresh,
}

/// Credentials, and whether they came from the cache.
#[derive(Debug)]
pub struct Retrieved {
    pub credentials: Credentials,
    pub from_cache: bool,
}

impl Retrieved {
    pub(super) fn fetched(credentials: Credentials) -> Retrieved {
        Retrieved {
            credentials,
            from_cache: false,
        }
    }
}

/// Something that gives credentials.
pub trait Provider {
    /// Credentials at hand without any call: a cache hit. Providers without
    /// a cache have none.
    fn at_hand(&self) -> Option<Credentials> {
        None
    }

    fn retrieve(&self, freshness: Freshness) -> Result<Retrieved, Error>;
}

/// The first hop, plain: AssumeRole with the MFA code.
pub(super) struct AssumeRoleWithMfa<'a> {
    pub profile: &'a Profile,
    pub codes: &'a CodeSupply<'a>,
}

impl Provider for AssumeRoleWithMfa<'_> {
    fn retrieve(&self, _: Freshness) -> Result<Retrieved, Error> {
        let profile = self.profile;
        let sts = self.codes.ctx.sts;
        self.codes
            .with_code(profile, "AssumeRole", |mfa| {
                sts.assume_role(&AssumeRoleRequest {
                    mfa: Some(mfa),
                    ..role_request(profile, Signer::SourceProfile(source_of(profile)))
                })
            })
            .map(Retrieved::fetched)
    }
}

/// GetSessionToken with the MFA code: an MFA session.
pub(super) struct SessionToken<'a> {
    pub profile: &'a Profile,
    pub codes: &'a CodeSupply<'a>,
}

impl Provider for SessionToken<'_> {
    fn retrieve(&self, _: Freshness) -> Result<Retrieved, Error> {
        let profile = self.profile;
        let sts = self.codes.ctx.sts;
        self.codes
            .with_code(profile, "GetSessionToken", |mfa| {
                sts.get_session_token(&SessionTokenRequest {
                    source_profile: source_of(profile),
                    duration_seconds: profile.mfa_session_duration.value,
                    mfa,
                    endpoint: endpoint_of(profile),
                })
            })
            .map(Retrieved::fetched)
    }
}

/// What signs an [`AssumeRoleSignedBy`].
pub(super) enum SignedBy {
    /// The MFA session of the profile's source and device.
    MfaSession,
    /// The hop below in a role chain (the named profile).
    Hop(String),
}

/// AssumeRole without MFA, signed by the credentials `signer` gives.
pub(super) struct AssumeRoleSignedBy<'a> {
    pub profile: &'a Profile,
    pub signed_by: SignedBy,
    pub signer: Box<dyn Provider + 'a>,
    pub ctx: &'a Context<'a>,
}

impl Provider for AssumeRoleSignedBy<'_> {
    fn retrieve(&self, _: Freshness) -> Result<Retrieved, Error> {
        let signing = self.signer.retrieve(Freshness::Any)?;
        match self.call(signing.credentials) {
            Err(Error::Sts(sts::Error::SessionRejected { .. })) if signing.from_cache => {
                tracing::debug!("cached signing credentials were rejected; fetching them again");
                let signing = self.signer.retrieve(Freshness::Fresh)?;
                self.call(signing.credentials)
            }
            other => other,
        }
        .map(Retrieved::fetched)
    }
}

impl AssumeRoleSignedBy<'_> {
    fn call(&self, signing: Credentials) -> Result<Credentials, Error> {
        let profile = self.profile;
        let origin = match &self.signed_by {
            SignedBy::MfaSession => format!("the MFA session of '{}'", source_of(profile)),
            SignedBy::Hop(below) => format!("profile '{below}'"),
        };
        let signer = Signer::Session {
            credentials: signing,
            origin,
            config_profile: source_of(profile),
        };
        let mut request = role_request(profile, signer);
        if let SignedBy::Hop(_) = self.signed_by {
            clamp_to_chain_limit(profile, &mut request);
        }
        let started = Instant::now();
        let result = self.ctx.sts.assume_role(&request);
        let what = match &self.signed_by {
            SignedBy::MfaSession => "STS AssumeRole signed by the MFA session",
            SignedBy::Hop(_) => "STS AssumeRole (role chain)",
        };
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            ok = result.is_ok(),
            profile = %profile.name,
            "{what}"
        );
        Ok(result?)
    }
}

/// A role assumed through a chain lasts one hour at most.
fn clamp_to_chain_limit(profile: &Profile, request: &mut AssumeRoleRequest) {
    if request.duration_seconds > ROLE_CHAIN_MAX_DURATION {
        tracing::info!(
            profile = %profile.name,
            requested = request.duration_seconds,
            "duration_seconds clamped to {ROLE_CHAIN_MAX_DURATION}: AWS limits a role assumed through a role chain to one hour"
        );
        request.duration_seconds = ROLE_CHAIN_MAX_DURATION;
    }
}

/// The source profile with long-term keys (of a first hop).
pub(super) fn source_of(profile: &Profile) -> String {
    profile.long_term_source().value.clone()
}

fn endpoint_of(profile: &Profile) -> sts::Endpoint {
    sts::Endpoint {
        region: profile.region.value.clone(),
        url: profile.endpoint_url.as_ref().map(|s| s.value.clone()),
    }
}

/// AssumeRole for `profile` signed by `signer`, without MFA.
fn role_request(profile: &Profile, signer: Signer) -> AssumeRoleRequest {
    AssumeRoleRequest {
        signer,
        role_arn: profile.role_arn.value.clone(),
        role_session_name: profile.role_session_name.value.clone(),
        duration_seconds: profile.duration_seconds.value,
        external_id: profile.external_id.as_ref().map(|s| s.value.clone()),
        mfa: None,
        endpoint: endpoint_of(profile),
    }
}
