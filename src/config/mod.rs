//! The AWS shared config and credentials files, and one vegas profile resolved
//! from them, with the origin of every value.
//!
//! A vegas profile is a target profile (`vegas_role_arn`,
//! `vegas_source_profile`, …) plus the source profile it names (`mfa_serial`,
//! `vegas_yubikey_*`). The `vegas_` prefix is deliberate: plain
//! `role_arn`/`source_profile` would make the SDKs assume the role themselves
//! and ignore `credential_process`. Every validation error names the file, the
//! profile and the key, so a user can go straight to the line to fix.
//!
//! What lives where:
//! * `ini.rs`: finding and reading the INI files ([`Files`]), one key of one
//!   profile, and where a source profile's long-term keys are
//!   ([`Files::source_credentials`]).
//! * `resolve.rs`: [`Files::resolve`], from the files to a validated
//!   [`Profile`], down a chain of vegas profiles.
//! * `profile.rs`: [`Profile`] and the origin of each value ([`Sourced`],
//!   [`Origin`]).
//! * `rules.rs`: what each value may be (role ARNs, MFA serials, session names,
//!   durations, [`Backend`]) and the defaults.
//! * `edit.rs`: changing the config file for `vegas setup`, every other
//!   byte kept ([`edit::ConfigEdit`]).
//! * `error.rs`: the config [`Error`] and its hints.

pub mod edit;
mod error;
mod ini;
mod profile;
mod resolve;
mod rules;
#[cfg(test)]
mod testing;

pub use error::Error;
pub use ini::{Files, SourceCredentials};
pub use profile::{Origin, Profile, Sourced};
pub use rules::{
    default_session_name, is_http_url, is_mfa_serial, is_role_arn, Backend, DEFAULT_DURATION,
    DEFAULT_MFA_SESSION_DURATION, DEFAULT_MFA_TIMEOUT, DEFAULT_REGION, MAX_DURATION,
    MAX_MFA_SESSION_DURATION, MAX_MFA_TIMEOUT, MIN_DURATION, MIN_MFA_SESSION_DURATION,
};
