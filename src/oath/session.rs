//! A conversation with the YKOATH applet: SELECT, VALIDATE, LIST, CALCULATE,
//! CALCULATE ALL. Knows the protocol and nothing of readers; every operation
//! runs inside one [`Transport::transaction`], but for a CALCULATE that may
//! wait for a touch (see [`Session::calculate`]).
//!
//! This file holds [`Session`] and when it sends what; `wire` parses the
//! answers, `commands` sends single commands, `quirk` is the YubiKey 4.2
//! touch workaround.

use std::time::{Instant, SystemTime};

use super::account::{Account, OathType};
use super::apdu::{ins, send, Apdu, StatusWord};
use super::code::{Code, TimeStep, DEFAULT_PERIOD};
use super::crypto::{self, AccessKey};
use super::tlv;
use super::transport::Transport;
use super::Error;
use crate::platform::unix_seconds;

mod commands;
mod quirk;
mod wire;

pub use commands::select_oath;
use commands::{applet_lost, calculate_all_raw, reselect, validate};
use quirk::{has_touch_quirk, TouchQuirk};
pub use wire::{
    parse_calculate, parse_calculate_all, parse_list, parse_select, tag, Calculated, SelectInfo,
    Version, OATH_AID,
};
use wire::{truncated_response, P2_TRUNCATE};

/// An account and its code at one moment: `None` for HOTP and touch accounts,
/// which are calculated only when asked for one by one.
#[derive(Debug, Clone)]
pub struct AccountCode {
    pub account: Account,
    pub code: Option<Code>,
}

/// An open conversation with the OATH applet of one key.
///
/// Every operation is one [`Transport::transaction`]: no other program can
/// switch applets or re-SELECT (which drops the OATH authentication) in the
/// middle of it. Between operations another program may have done either, so
/// an operation whose answer shows the applet was lost (another applet
/// answered, or authentication is gone) SELECTs, VALIDATEs with the access
/// key kept in memory, and runs again, still inside the same transaction; a
/// card reset by another program, or a brief removal, makes the transport
/// reconnect and the operation run once more.
///
/// The first operation is one transaction with the SELECT before it:
/// [`Session::open`] (and [`Session::unlock_afresh`]) [`Transport::hold`] the
/// card, and the first operation's end releases it, so SELECT, VALIDATE and
/// CALCULATE reach the card with nothing between them and cost nothing
/// more. Before a wait (a person typing the password) call
/// [`Session::release`].
#[derive(Debug)]
pub struct Session<T: Transport> {
    transport: T,
    select: SelectInfo,
    /// The access key that unlocked the applet, to unlock it again after a
    /// re-SELECT without asking anyone.
    access_key: Option<AccessKey>,
    /// Whether VALIDATE succeeded (with `access_key`).
    unlocked: bool,
    /// When an answer longer than [`LONG_ANSWER`] bytes came, on a key with
    /// the 4.2 touch quirk (see [`TouchQuirk`]).
    long_answer_at: Option<Instant>,
}

impl<T: Transport> Session<T> {
    /// SELECT the OATH applet, with the card held until the first
    /// operation is done (see [`Session`]).
    pub fn open(mut transport: T) -> Result<Self, Error> {
        transport.hold()?;
        let select = transport.transaction(select_oath)?;
        Ok(Session {
            transport,
            select,
            access_key: None,
            unlocked: false,
            long_answer_at: None,
        })
    }

    pub fn version(&self) -> Version {
        self.select.version
    }

    /// The id ykman shows for this OATH applet (derived from the salt).
    pub fn device_id(&self) -> String {
        crypto::device_id(&self.select.salt)
    }

    /// Whether the applet has a password.
    pub fn has_password(&self) -> bool {
        self.select.challenge.is_some()
    }

    /// Whether accounts can be read now: no password, or VALIDATE done.
    pub fn is_unlocked(&self) -> bool {
        !self.has_password() || self.unlocked
    }

    /// The access key for `password` on this key (for callers that cache it).
    pub fn derive_key(&self, password: &str) -> AccessKey {
        AccessKey::derive(password, &self.select.salt)
    }

    /// Unlock with a password. Nothing to do when the applet has none.
    pub fn unlock_with_password(&mut self, password: &str) -> Result<(), Error> {
        if !self.has_password() {
            return Ok(());
        }
        let key = self.derive_key(password);
        self.unlock_with_key(&key)
    }

    /// Unlock with an access key: VALIDATE, proving both ways that the
    /// other side knows the key, and keep the key for re-SELECTs. Nothing to
    /// do when the applet has no password. Trusts the challenge of the last
    /// SELECT: right after it, not after a wait ([`Session::unlock_afresh`]).
    pub fn unlock_with_key(&mut self, key: &AccessKey) -> Result<(), Error> {
        let Some(card_challenge) = self.select.challenge.clone() else {
            return Ok(());
        };
        let algorithm = self.select.key_algorithm;
        self.transaction(|card| validate(card, algorithm, key, &card_challenge))?;
        self.access_key = Some(key.clone());
        self.unlocked = true;
        Ok(())
    }

    /// Unlock with `key` after a wait (a person typing the password), during
    /// which another program may have selected another applet or the OATH
    /// applet again (a new challenge): SELECT and VALIDATE with the card
    /// held until the next operation is done.
    pub fn unlock_afresh(&mut self, key: &AccessKey) -> Result<(), Error> {
        let unlock = |card: &mut dyn Transport| reselect(card, Some(key));
        let held = self
            .transport
            .hold()
            .and_then(|()| self.transaction(unlock));
        let select = match held {
            Err(e @ (Error::CardReset { .. } | Error::CardRemoved { .. })) => {
                tracing::debug!("{e}; reconnecting to unlock once more");
                self.transport.reconnect()?;
                self.transport.hold()?;
                self.transaction(unlock)?
            }
            other => other?,
        };
        self.select = select;
        if self.has_password() {
            self.access_key = Some(key.clone());
            self.unlocked = true;
        }
        Ok(())
    }

    /// Let other programs use the card before a wait: ends the hold taken
    /// by [`Session::open`] or [`Session::unlock_afresh`], if still on.
    pub fn release(&mut self) {
        self.transport.release();
    }

    /// The key's serial number (Management or OTP applet), with the OATH
    /// applet selected again (and unlocked again with the kept access key)
    /// in the same transaction. Three APDUs or more: only when a serial must
    /// tell keys apart, or name the key to a person.
    pub fn read_serial(&mut self) -> Result<Option<u32>, Error> {
        let key = self.access_key.clone();
        let (serial, select) = self.transaction(|card| {
            let serial = super::device::read_serial(card)?;
            let select = select_oath(card)?;
            if let (Some(challenge), Some(key)) = (&select.challenge, &key) {
                validate(card, select.key_algorithm, key, challenge)?;
            }
            Ok((serial, select))
        })?;
        self.select = select;
        Ok(serial)
    }

    /// LIST: every account with its type and algorithm (touch and digits
    /// unknown; see [`Session::accounts`]).
    pub fn list(&mut self) -> Result<Vec<Account>, Error> {
        self.require_unlocked()?;
        self.run(|card| parse_list(&send(card, &Apdu::new(ins::LIST))?))
    }

    /// Every account with all vegas can learn without a touch: LIST for type
    /// and algorithm, CALCULATE ALL for touch and digits. Calculates no HOTP.
    pub fn accounts(&mut self, now: SystemTime) -> Result<Vec<Account>, Error> {
        self.require_unlocked()?;
        let now = unix_seconds(now);
        let (mut listed, calculated) = self.run(|card| {
            let listed = parse_list(&send(card, &Apdu::new(ins::LIST))?)?;
            let calculated = calculate_all_raw(card, now)?;
            Ok((listed, calculated))
        })?;
        for account in &mut listed {
            if let Some((_, answer)) = calculated.iter().find(|(id, _)| *id == account.id) {
                account.touch = touch_of(answer);
                if let Calculated::Truncated(value) = answer {
                    account.digits = value.first().copied();
                }
            }
        }
        Ok(listed)
    }

    /// CALCULATE one account at `now` (TOTP: in [`Account::code_period`];
    /// HOTP: the next counter value). Blocks until touched for a touch account, and whether
    /// an account needs a touch may be unknown (`account.touch` `None`):
    /// show "Touch your YubiKey…" before calling, or after a short wait.
    /// Unless the account is known to need no touch, the CALCULATE goes
    /// outside any transaction: pcscd resets the card under every other
    /// program when a client dies holding one, and a person may well stop
    /// vegas while the key blinks (docs/protocol.md).
    pub fn calculate(&mut self, account: &Account, now: SystemTime) -> Result<Code, Error> {
        self.require_unlocked()?;
        let step = match account.oath_type {
            OathType::Totp => Some(TimeStep::at(unix_seconds(now), account.code_period())),
            OathType::Hotp => None,
        };
        let mut data = Vec::new();
        tlv::push(&mut data, tag::NAME, account.id.as_bytes());
        tlv::push(
            &mut data,
            tag::CHALLENGE,
            step.map(TimeStep::challenge)
                .as_ref()
                .map_or(&[][..], |c| &c[..]),
        );
        let apdu = Apdu::new(ins::CALCULATE).p2(P2_TRUNCATE).data(data);
        let calculate = |card: &mut dyn Transport| send(card, &apdu);
        let outcome = if account.touch == Some(false) {
            self.run(calculate)
        } else {
            self.run_outside_transaction(calculate)
        };
        let answer = outcome.map_err(|e| match e {
            Error::Card {
                status: StatusWord::NoSuchObject,
                ..
            } => Error::NoSuchAccount {
                id: account.id.text(),
            },
            Error::Card {
                status: StatusWord::AuthRequired,
                ..
            } if account.touch == Some(false) => Error::PasswordRequired,
            // Unlocked (or no password), and asked again after a
            // re-SELECT: the card waited for a touch that never came.
            Error::Card {
                status: StatusWord::AuthRequired,
                ..
            } => Error::TouchTimedOut,
            other => other,
        })?;
        if account.is_steam() {
            Code::steam_from_truncated_response(&truncated_response(&answer)?, step)
        } else {
            parse_calculate(&answer, step)
        }
    }

    /// CALCULATE ALL at `now`: a code for every TOTP account without touch
    /// (those whose period is not 30 s recalculated one by one with their own
    /// challenge); `None` for HOTP and touch accounts. Algorithm is unknown
    /// here (CALCULATE ALL does not say it).
    pub fn calculate_all(&mut self, now: SystemTime) -> Result<Vec<AccountCode>, Error> {
        self.calculate_all_where(now, |_| true)
    }

    /// [`Session::calculate_all`], recalculating only the non-30 s accounts
    /// `wanted` selects (each costs one more APDU); the others get `None`.
    pub fn calculate_all_where(
        &mut self,
        now: SystemTime,
        wanted: impl Fn(&Account) -> bool,
    ) -> Result<Vec<AccountCode>, Error> {
        self.require_unlocked()?;
        let seconds = unix_seconds(now);
        let answers = self.run(|card| calculate_all_raw(card, seconds))?;
        let mut entries = Vec::with_capacity(answers.len());
        for (id, answer) in answers {
            let oath_type = if answer == Calculated::Hotp {
                OathType::Hotp
            } else {
                OathType::Totp
            };
            let mut account = Account::new(id, oath_type);
            account.touch = touch_of(&answer);
            let code = match answer {
                Calculated::Truncated(value) => {
                    account.digits = value.first().copied();
                    let step = Some(TimeStep::at(seconds, DEFAULT_PERIOD));
                    if account.is_steam() {
                        Some(Code::steam_from_truncated_response(&value, step)?)
                    } else if account.period == Some(DEFAULT_PERIOD) {
                        Some(Code::from_truncated_response(&value, step)?)
                    } else if wanted(&account) {
                        Some(self.calculate(&account, now)?)
                    } else {
                        None
                    }
                }
                Calculated::Hotp | Calculated::Touch => None,
            };
            entries.push(AccountCode { account, code });
        }
        Ok(entries)
    }

    /// Run a command of [`super::manage`] (PUT, DELETE) as one transaction
    /// on the unlocked applet, exactly as this type's own operations run.
    pub(crate) fn run_unlocked<R>(
        &mut self,
        operation: impl Fn(&mut dyn Transport) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.require_unlocked()?;
        self.run(operation)
    }

    /// Run a command of [`super::manage`] that must see the applet as it
    /// is at that moment (a PUT and the LIST that checks its name is free):
    /// SELECT, VALIDATE and `operation` as one transaction, whatever
    /// another program did since the last operation.
    pub(crate) fn run_unlocked_selected<R>(
        &mut self,
        operation: impl Fn(&mut dyn Transport) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.require_unlocked()?;
        let outcome = self.attempt(&operation, true);
        self.transport.release();
        outcome
    }

    /// Refuse an operation on a locked applet, letting go of the card:
    /// the operation that would have ended the hold will not run.
    fn require_unlocked(&mut self) -> Result<(), Error> {
        if self.is_unlocked() {
            Ok(())
        } else {
            self.transport.release();
            Err(Error::PasswordRequired)
        }
    }

    /// `work` in one transaction, through the 4.2 touch workaround on a key
    /// that needs it (yubikit applies it to every command of an OATH
    /// session once selected).
    fn transaction<R>(
        &mut self,
        work: impl FnOnce(&mut dyn Transport) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let quirky = has_touch_quirk(self.select.version);
        let Session {
            transport,
            long_answer_at,
            ..
        } = self;
        let outcome = transport.transaction(|card| {
            if quirky {
                work(&mut TouchQuirk::new(card, long_answer_at))
            } else {
                work(card)
            }
        });
        if outcome.is_err() {
            // The operation the hold was kept for will not come.
            transport.release();
        }
        outcome
    }

    /// Run `operation` as one transaction (see [`Session`]; it ends the hold
    /// of [`Session::open`]): at once, the applet believed selected; again after SELECT and VALIDATE when its
    /// answer shows the applet was lost. A reset or a brief removal:
    /// reconnect, then SELECT, VALIDATE and the operation once more.
    fn run<R>(
        &mut self,
        operation: impl Fn(&mut dyn Transport) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let outcome = match self.attempt(&operation, false) {
            Err(e @ (Error::CardReset { .. } | Error::CardRemoved { .. })) => {
                tracing::debug!("{e}; reconnecting to redo the operation once");
                self.transport
                    .reconnect()
                    .and_then(|()| self.attempt(&operation, true))
            }
            other => other,
        };
        // The operation the hold was for is done.
        self.transport.release();
        outcome
    }

    /// One transaction: `operation`, after SELECT and VALIDATE when
    /// `select_first`, else at once and again after them if needed.
    fn attempt<R>(
        &mut self,
        operation: &impl Fn(&mut dyn Transport) -> Result<R, Error>,
        select_first: bool,
    ) -> Result<R, Error> {
        let quirky = has_touch_quirk(self.select.version);
        let Session {
            transport,
            select,
            access_key,
            long_answer_at,
            ..
        } = self;
        let key = access_key.as_ref();
        transport.transaction(|card| {
            let mut with_quirk;
            let card: &mut dyn Transport = if quirky {
                with_quirk = TouchQuirk::new(card, long_answer_at);
                &mut with_quirk
            } else {
                card
            };
            if select_first {
                *select = reselect(card, key)?;
                return operation(card);
            }
            let started = Instant::now();
            match operation(card) {
                Err(e) if applet_lost(&e, select.challenge.is_some(), started.elapsed()) => {
                    tracing::debug!("the OATH applet was lost ({e}); selecting it again");
                    *select = reselect(card, key)?;
                    operation(card)
                }
                other => other,
            }
        })
    }

    /// Run `operation`, a CALCULATE that may wait for a touch, outside
    /// any transaction (see docs/protocol.md, "Transactions"): pcscd resets
    /// the card under every other program when a client dies holding a
    /// transaction, and a person may well interrupt vegas while the key
    /// blinks. SELECT and VALIDATE before it are still one transaction
    /// (ending the hold of [`Session::open`]); another program slipping in
    /// between is seen in the answer, as in [`Session::run`]: SELECT and
    /// VALIDATE again and once more, or after a reset reconnect and redo.
    fn run_outside_transaction<R>(
        &mut self,
        operation: impl Fn(&mut dyn Transport) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.transport.release();
        let started = Instant::now();
        match self.outside_transaction(&operation) {
            Err(e) if applet_lost(&e, self.has_password(), started.elapsed()) => {
                tracing::debug!("the OATH applet was lost ({e}); selecting it again");
                self.reselect_then_outside(&operation)
            }
            Err(e @ (Error::CardReset { .. } | Error::CardRemoved { .. })) => {
                tracing::debug!("{e}; reconnecting to redo the operation once");
                self.transport.reconnect()?;
                self.reselect_then_outside(&operation)
            }
            other => other,
        }
    }

    /// SELECT and VALIDATE in one transaction, then `operation` outside it.
    fn reselect_then_outside<R>(
        &mut self,
        operation: &impl Fn(&mut dyn Transport) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let key = self.access_key.clone();
        self.select = self.transaction(|card| reselect(card, key.as_ref()))?;
        self.transport.release();
        self.outside_transaction(operation)
    }

    /// `operation` straight on the transport, through the 4.2 touch
    /// workaround on a key that needs it.
    fn outside_transaction<R>(
        &mut self,
        operation: &impl Fn(&mut dyn Transport) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let quirky = has_touch_quirk(self.select.version);
        let Session {
            transport,
            long_answer_at,
            ..
        } = self;
        if quirky {
            operation(&mut TouchQuirk::new(transport, long_answer_at))
        } else {
            operation(transport)
        }
    }

    /// Give the transport back (e.g. to read the serial afterwards).
    pub fn into_transport(self) -> T {
        self.transport
    }
}

/// What CALCULATE ALL tells of an account's touch: `7C` needs one, a code
/// does not; `77` (HOTP) says nothing of touch.
fn touch_of(answer: &Calculated) -> Option<bool> {
    match answer {
        Calculated::Touch => Some(true),
        Calculated::Truncated(_) => Some(false),
        Calculated::Hotp => None,
    }
}

#[cfg(test)]
mod tests;
