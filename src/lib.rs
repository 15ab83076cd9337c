//! vegas: an AWS `credential_process` that assumes IAM roles with an MFA code
//! from a YubiKey (spoken to over PC/SC), with `ykman` and a typed code as
//! fallbacks, and keeps the temporary credentials in an encrypted cache.
//!
//! The library never writes to stdout, never exits the process and never
//! prompts by itself: everything a user sees goes through [`ui::Ui`], and
//! every error carries a hint ([`hint::Hint`]). `main.rs` prints.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod error;
pub mod hint;
pub mod platform;
pub mod ui;

pub mod cli;
pub mod commands;

pub mod cache;
pub mod config;
pub mod credentials;
pub mod flow;
pub mod oath;
pub mod sts;
pub mod totp;

pub use error::Error;
pub use hint::Hint;
