//! "Is the account LABEL on the key SELECTOR picks, and can it be read?",
//! answered without asking anybody anything and without a touch: the probe
//! `vegas doctor` reports. (`assume` does not look the account up: it sends
//! the CALCULATE, and LISTs only to explain a missing account.)
//!
//! An account is matched by its exact id ([`AccountId`] equality, the bytes
//! CALCULATE is sent), never by a substring. A password-protected applet is
//! unlocked only with an access key the caller already has (VALIDATE, which
//! changes nothing on the card); without one it is reported as locked, with
//! the session, so that a caller that may ask for the password can go on.

use std::time::SystemTime;

use super::discovery::{open_key, KeyInfo, KeySelector};
use super::{AccessKey, Account, AccountId, Error, PcscTransport, Session, Transport};

/// What [`find_account`] found.
#[derive(Debug)]
pub enum AccountProbe<T: Transport = PcscTransport> {
    /// The account is there; the session is unlocked and ready to CALCULATE.
    Found {
        key: KeyInfo,
        account: Account,
        session: Session<T>,
    },
    /// The key holds no account with that id; `accounts` is what it holds
    /// (hidden ones included).
    NotFound {
        key: KeyInfo,
        accounts: Vec<Account>,
    },
    /// The applet has a password, and no access key was at hand or the one
    /// at hand was refused (`refused`; the applet is selected afresh, as a
    /// refused VALIDATE may end the card's challenge).
    Locked {
        key: KeyInfo,
        refused: bool,
        session: Session<T>,
    },
}

/// Open the key `selector` picks and look for the account `label` on it,
/// unlocking a password-protected applet with `access_key` (called with
/// the key found: an access key belongs to one device).
pub fn find_account(
    selector: &KeySelector,
    label: &AccountId,
    access_key: impl FnOnce(&KeyInfo) -> Option<AccessKey>,
) -> Result<AccountProbe, Error> {
    let (mut key, mut session) = open_key(selector)?;
    if key.serial.is_none() {
        // A report names the key by its serial (three more APDUs).
        key.serial = session.read_serial().unwrap_or_else(|e| {
            tracing::debug!("no serial: {e}");
            None
        });
    }
    account_on(key, session, label, access_key)
}

/// [`find_account`] on a key already opened.
pub fn account_on<T: Transport>(
    key: KeyInfo,
    mut session: Session<T>,
    label: &AccountId,
    access_key: impl FnOnce(&KeyInfo) -> Option<AccessKey>,
) -> Result<AccountProbe<T>, Error> {
    if session.has_password() {
        let Some(access_key) = access_key(&key) else {
            // A password is asked for next: let other programs in meanwhile.
            session.release();
            return Ok(AccountProbe::Locked {
                key,
                refused: false,
                session,
            });
        };
        match session.unlock_with_key(&access_key) {
            Ok(()) => {}
            Err(Error::WrongPassword) => {
                let mut session = Session::open(session.into_transport())?;
                session.release();
                return Ok(AccountProbe::Locked {
                    key,
                    refused: true,
                    session,
                });
            }
            Err(e) => return Err(e),
        }
    }
    look_up(key, session, label)
}

/// The account `label` on a key whose applet is open (no password, or
/// unlocked already): the one place an account is matched by its id.
pub fn look_up<T: Transport>(
    key: KeyInfo,
    mut session: Session<T>,
    label: &AccountId,
) -> Result<AccountProbe<T>, Error> {
    let mut accounts = session.accounts(SystemTime::now())?;
    Ok(match accounts.iter().position(|a| a.id == *label) {
        Some(index) => AccountProbe::Found {
            key,
            account: accounts.swap_remove(index),
            session,
        },
        None => AccountProbe::NotFound { key, accounts },
    })
}

#[cfg(test)]
#[path = "probe_tests.rs"]
mod tests;
