//! YKOATH, the protocol of the YubiKey's OATH applet, written here rather than
//! borrowed: vegas needs only SELECT, VALIDATE, LIST, CALCULATE and CALCULATE
//! ALL, and wants them fast, checked and testable without a key.
//!
//! Layers, bottom up: [`tlv`] and [`apdu`] (bytes), [`transport`] (the trait
//! a card sits behind), [`session`] (the protocol, one transaction per
//! operation), [`device`] (serial and firmware), [`pcsc`] (real readers,
//! shared with other programs), [`discovery`] (which reader holds which
//! key). [`probe`] and [`neighbours`] are the read-only probes `vegas doctor`
//! reports. Start at [`open_key`]. docs/protocol.md shows every APDU sent.

use std::borrow::Cow;

pub mod account;
pub mod apdu;
pub mod code;
pub mod crypto;
pub mod device;
pub mod discovery;
pub mod manage;
pub mod neighbours;
pub mod pcsc;
pub mod probe;
pub mod session;
pub mod tlv;
pub mod transport;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod transcript_tests;

pub use account::{Account, AccountId, Algorithm, OathType};
pub use apdu::StatusWord;
pub use code::{Code, TimeStep};
pub use crypto::AccessKey;
pub use discovery::{find_keys, open_key, KeyInfo, KeySelector, OpenKey};
pub use pcsc::PcscTransport;
pub use session::{AccountCode, Session, Version};
pub use transport::Transport;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("pcscd (the smart card service) is not running")]
    PcscdNotRunning,
    #[error("no smart card reader found (is the YubiKey plugged in?)")]
    NoReaders,
    #[error("no YubiKey with an OATH application found ({readers} reader(s) checked)")]
    NoYubiKey { readers: usize },
    #[error("several YubiKeys found: {}", found.join(", "))]
    SeveralKeys { found: Vec<String> },
    #[error("no YubiKey with {wanted} found")]
    NoMatchingKey { wanted: String, found: Vec<String> },
    #[error("the YubiKey in {reader} is in use by another program")]
    KeyBusy { reader: String },
    #[error("the YubiKey in reader \"{reader}\" was removed")]
    CardRemoved { reader: String },
    #[error("the YubiKey in reader \"{reader}\" was reset by another program")]
    CardReset { reader: String },
    #[error("PC/SC failed while {action}: {source}")]
    Pcsc {
        action: &'static str,
        source: ::pcsc::Error,
    },
    #[error("the YubiKey refused {} with status {status}", ins_name(*ins))]
    Card { ins: u8, status: StatusWord },
    #[error("unexpected answer from the YubiKey: {0}")]
    Malformed(&'static str),
    #[error("command too long for an APDU ({bytes} bytes)")]
    CommandTooLong { bytes: usize },
    #[error("the YubiKey's OATH application is protected by a password")]
    PasswordRequired,
    #[error("wrong OATH password for the YubiKey")]
    WrongPassword,
    #[error("cannot read the OATH password: {0}")]
    PasswordInput(std::io::Error),
    #[error("the YubiKey's answer to VALIDATE does not prove it knows the password")]
    NotAuthentic,
    #[error("the YubiKey was not touched in time")]
    TouchTimedOut,
    #[error("no OATH account \"{id}\" on the YubiKey")]
    NoSuchAccount { id: String },
    #[error("no OATH account matches \"{query}\"")]
    NoMatchingAccount { query: String },
    #[error("{0}")]
    Crypto(&'static str),
    #[error("the YubiKey's OATH storage is full")]
    StorageFull,
    #[error("the OATH account id \"{id}\" is {bytes} bytes; the YubiKey stores at most 64")]
    NameTooLong { id: String, bytes: usize },
    #[error("the YubiKey already has an OATH account \"{id}\"")]
    AccountExists { id: String },
}

impl Error {
    pub(crate) fn malformed(what: &'static str) -> Self {
        Error::Malformed(what)
    }

    /// Whether the card answered, just not what was hoped (as opposed to
    /// the card or pcscd having gone away).
    pub fn is_about_the_answer(&self) -> bool {
        matches!(self, Error::Card { .. } | Error::Malformed(_))
    }
}

/// Who usually holds a YubiKey, and how to free it (docs/troubleshooting.md).
pub const BUSY_HINT: &str =
    "close the program holding it: GnuPG's scdaemon (`gpgconf --kill scdaemon`; \
for good, put `disable-ccid` and `pcsc-shared` in ~/.gnupg/scdaemon.conf), Yubico Authenticator, \
or yubikey-agent; then try again";

fn ins_name(ins: u8) -> &'static str {
    match ins {
        apdu::ins::SELECT => "SELECT/CALCULATE ALL",
        apdu::ins::LIST => "LIST",
        apdu::ins::CALCULATE => "CALCULATE",
        apdu::ins::VALIDATE => "VALIDATE",
        apdu::ins::SEND_REMAINING => "SEND REMAINING",
        apdu::ins::READ_CONFIG => "READ CONFIG",
        apdu::ins::OTP_CONFIG => "the serial number request",
        _ => "a command",
    }
}

impl crate::hint::Hint for Error {
    fn hint(&self) -> Cow<'_, str> {
        match self {
            Error::PcscdNotRunning => {
                "start it (e.g. `sudo systemctl start pcscd`), or set vegas_yubikey_backend = ykman"
                    .into()
            }
            Error::NoReaders | Error::NoYubiKey { .. } => {
                "plug in the YubiKey (with CCID enabled: `ykman config usb --list`) and try again"
                    .into()
            }
            Error::SeveralKeys { .. } => {
                "choose one with --serial N (or vegas_yubikey_serial in the profile, or --reader)"
                    .into()
            }
            Error::NoMatchingKey { found, .. } if found.is_empty() => {
                "`vegas oath keys` shows the keys found".into()
            }
            Error::NoMatchingKey { found, .. } => {
                format!("found instead: {}", found.join(", ")).into()
            }
            Error::KeyBusy { .. } => BUSY_HINT.into(),
            Error::CardRemoved { .. } => "keep the YubiKey plugged in and try again".into(),
            Error::CardReset { .. } | Error::Pcsc { .. } => {
                "try again; if it persists, unplug and replug the YubiKey".into()
            }
            Error::Card {
                status: StatusWord::MemoryFailure,
                ..
            } => {
                "an OATH account on the key is corrupted (memory failure); `ykman oath accounts code` \
                 repairs the key by deleting the broken account, which may be the AWS MFA one: \
                 then deactivate that old MFA device in AWS IAM first (its codes are gone, so an \
                 administrator may have to), assign a new MFA device in AWS IAM and add its \
                 account to the key again (`ykman oath accounts add`)"
                    .into()
            }
            Error::Card { .. } | Error::Malformed(_) | Error::CommandTooLong { .. } => {
                "is this a YubiKey? run with --verbose and report the output".into()
            }
            Error::PasswordRequired => {
                "give the password: use --password-stdin, or run in a terminal".into()
            }
            Error::WrongPassword => {
                "check the OATH password (`ykman oath access change` sets it)".into()
            }
            Error::PasswordInput(_) => "give the password on the first line of stdin".into(),
            Error::NotAuthentic => {
                "this key may not be the YubiKey it claims to be; do not trust it".into()
            }
            Error::TouchTimedOut => {
                "touch the YubiKey when it blinks, within about 15 seconds".into()
            }
            Error::NoSuchAccount { .. } | Error::NoMatchingAccount { .. } => {
                "`vegas oath list` shows the accounts on the key".into()
            }
            Error::Crypto(_) => "try again; check that the system random source works".into(),
            Error::StorageFull => {
                "delete an OATH account you no longer use (`ykman oath accounts delete NAME`), then try again".into()
            }
            Error::NameTooLong { .. } => "choose a shorter name (--device-name)".into(),
            Error::AccountExists { .. } => {
                "choose another device name with --device-name, or delete the old account (`ykman oath accounts delete NAME`) if it is no longer used".into()
            }
        }
    }
}
