//! Real parts for the end-to-end tests: the virtual YubiKey (a vpcd card),
//! a private pcscd per test, and a strict local STS.
#![allow(dead_code)]

pub mod card;
pub mod consumers;
pub mod pcscd;
pub mod run;
pub mod seccomp;
pub mod sts;
pub mod venv;
pub mod world;
