//! A conversation with the YKOATH applet: SELECT, VALIDATE, LIST, CALCULATE,
//! CALCULATE ALL. Knows the protocol and nothing of readers; every operation
//! runs inside one [`Transport::transaction`].

use std::time::{Duration, Instant, SystemTime};

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::account::{parse_list_entry, Account, AccountId, Algorithm, OathType};
use super::apdu::{ins, send, Apdu, StatusWord};
use super::code::{Code, TimeStep, DEFAULT_PERIOD};
use super::crypto::{self, AccessKey};
use super::tlv;
use super::transport::Transport;
use super::Error;
use crate::platform::unix_seconds;

/// AID of the YKOATH applet.
pub const OATH_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x05, 0x27, 0x21, 0x01];

/// YKOATH tags (see docs/protocol.md).
pub mod tag {
    pub const NAME: u8 = 0x71;
    pub const NAME_LIST: u8 = 0x72;
    pub const CHALLENGE: u8 = 0x74;
    pub const RESPONSE: u8 = 0x75;
    pub const TRUNCATED: u8 = 0x76;
    pub const HOTP: u8 = 0x77;
    pub const VERSION: u8 = 0x79;
    pub const ALGORITHM: u8 = 0x7B;
    pub const TOUCH: u8 = 0x7C;
}

/// CALCULATE / CALCULATE ALL P2: answer with the truncated response.
const P2_TRUNCATE: u8 = 0x01;

/// Firmware (or applet) version, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u8, pub u8, pub u8);

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

impl Version {
    pub(super) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [major, minor, patch] => Some(Version(*major, *minor, *patch)),
            _ => None,
        }
    }
}

/// What the OATH SELECT tells: version, salt, and when a password is set,
/// the card's challenge and the access key's algorithm.
#[derive(Clone, PartialEq, Eq)]
pub struct SelectInfo {
    pub version: Version,
    pub salt: Vec<u8>,
    pub challenge: Option<Vec<u8>>,
    pub key_algorithm: Algorithm,
}

impl std::fmt::Debug for SelectInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelectInfo")
            .field("version", &self.version)
            .field("locked", &self.challenge.is_some())
            .field("key_algorithm", &self.key_algorithm)
            .finish_non_exhaustive()
    }
}

/// Parse the SELECT answer; tags may come in any order.
pub fn parse_select(data: &[u8]) -> Result<SelectInfo, Error> {
    let tlvs = tlv::parse_all(data)?;
    let version = tlv::find(&tlvs, tag::VERSION)
        .and_then(Version::from_bytes)
        .ok_or(Error::malformed("SELECT without a 3-byte version"))?;
    let salt = tlv::find(&tlvs, tag::NAME)
        .ok_or(Error::malformed("SELECT without a salt"))?
        .to_vec();
    let challenge = tlv::find(&tlvs, tag::CHALLENGE).map(<[u8]>::to_vec);
    let key_algorithm = match tlv::find(&tlvs, tag::ALGORITHM) {
        None => Algorithm::Sha1,
        Some(value) => value
            .first()
            .and_then(|b| Algorithm::from_nibble(*b))
            .ok_or(Error::malformed("SELECT with an unknown key algorithm"))?,
    };
    Ok(SelectInfo {
        version,
        salt,
        challenge,
        key_algorithm,
    })
}

/// Parse the LIST answer: one `72` per account.
pub fn parse_list(data: &[u8]) -> Result<Vec<Account>, Error> {
    tlv::TlvReader::new(data)
        .map(|item| {
            let item = item?;
            if item.tag != tag::NAME_LIST {
                return Err(Error::malformed("LIST entry with an unexpected tag"));
            }
            parse_list_entry(item.value)
        })
        .collect()
}

/// What CALCULATE ALL says about one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Calculated {
    /// `76`: digits byte and 4 bytes, computed with the 30 s challenge.
    Truncated(Zeroizing<Vec<u8>>),
    /// `77`: an HOTP account; not calculated (that would move its counter).
    Hotp,
    /// `7C`: a TOTP account that needs a touch; not calculated.
    Touch,
}

/// Parse the CALCULATE ALL answer: pairs of `71` name and `76`/`77`/`7C`
/// (or `75`, a full response, which a key gives to P2 `00`).
pub fn parse_calculate_all(data: &[u8]) -> Result<Vec<(AccountId, Calculated)>, Error> {
    let mut reader = tlv::TlvReader::new(data);
    let mut entries = Vec::new();
    while let Some(name) = reader.next() {
        let name = name?;
        if name.tag != tag::NAME {
            return Err(Error::malformed("CALCULATE ALL entry without a name"));
        }
        let answer = reader
            .next()
            .ok_or(Error::malformed("CALCULATE ALL name without an answer"))??;
        let calculated = match answer.tag {
            tag::TRUNCATED => Calculated::Truncated(Zeroizing::new(answer.value.to_vec())),
            tag::RESPONSE => {
                Calculated::Truncated(Zeroizing::new(Code::truncate_full_response(answer.value)?))
            }
            tag::HOTP => Calculated::Hotp,
            tag::TOUCH => Calculated::Touch,
            _ => {
                return Err(Error::malformed(
                    "CALCULATE ALL answer with an unexpected tag",
                ))
            }
        };
        entries.push((AccountId::from_bytes(name.value), calculated));
    }
    Ok(entries)
}

/// Parse the CALCULATE answer (`76` truncated response) into a code.
pub fn parse_calculate(data: &[u8], step: Option<TimeStep>) -> Result<Code, Error> {
    Code::from_truncated_response(&truncated_response(data)?, step)
}

/// The value of the `76` TLV of a CALCULATE answer (or of a `75` full
/// response, truncated here: what a key answers to P2 `00`).
fn truncated_response(data: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let tlvs = tlv::parse_all(data)?;
    if let Some(value) = tlv::find(&tlvs, tag::TRUNCATED) {
        return Ok(Zeroizing::new(value.to_vec()));
    }
    let full = tlv::find(&tlvs, tag::RESPONSE)
        .ok_or(Error::malformed("CALCULATE without a truncated response"))?;
    Ok(Zeroizing::new(Code::truncate_full_response(full)?))
}

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

/// A touch account's CALCULATE gives up after about 15 s; an answer
/// "authentication required" sooner than this cannot be a touch timeout, so
/// it means the authentication was dropped (another program SELECTed).
const SOONER_THAN_A_TOUCH_TIMEOUT: Duration = Duration::from_secs(2);

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
        let answer = self.run(|card| send(card, &apdu)).map_err(|e| match e {
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

    fn require_unlocked(&self) -> Result<(), Error> {
        if self.is_unlocked() {
            Ok(())
        } else {
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
        transport.transaction(|card| {
            if quirky {
                work(&mut TouchQuirk::new(card, long_answer_at))
            } else {
                work(card)
            }
        })
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

/// A response is "long" past this many data bytes (yubikit's figure).
const LONG_ANSWER: usize = 54;
/// How long after a long answer the 4.2 touch quirk bites.
const TOUCH_QUIRK_WINDOW: Duration = Duration::from_secs(2);
/// The dummy APDU sent between: CLA, INS, P1, P2 all zero; its error answer
/// is ignored.
const DUMMY_APDU: [u8; 4] = [0, 0, 0, 0];
/// SW1 of a chunk after which SEND REMAINING fetches more (`61xx`).
const MORE_DATA_SW1: u8 = 0x61;

/// Whether the firmware is one of YubiKey 4.2.0–4.2.6, whose OATH applet
/// hangs on a touch CALCULATE sent within 2 s of an answer longer than 54
/// bytes (yubikit's `TouchWorkaroundProcessor`).
fn has_touch_quirk(version: Version) -> bool {
    (Version(4, 2, 0)..=Version(4, 2, 6)).contains(&version)
}

/// The card of a key with the 4.2 touch quirk: after a long answer, a dummy
/// APDU goes before the next command, as yubikit does. An answer is
/// measured whole, its SEND REMAINING chunks together (yubikit measures
/// after its response chaining): a long answer whose last chunk is short is
/// still long.
struct TouchQuirk<'a> {
    card: &'a mut dyn Transport,
    long_answer_at: &'a mut Option<Instant>,
    /// Data bytes of the answer being received so far, chunks included.
    answered: usize,
}

impl<'a> TouchQuirk<'a> {
    fn new(card: &'a mut dyn Transport, long_answer_at: &'a mut Option<Instant>) -> Self {
        TouchQuirk {
            card,
            long_answer_at,
            answered: 0,
        }
    }
}

impl Transport for TouchQuirk<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        if apdu.get(1) != Some(&ins::SEND_REMAINING) {
            let recent = self
                .long_answer_at
                .is_some_and(|at| at.elapsed() < TOUCH_QUIRK_WINDOW);
            if recent {
                tracing::debug!("a dummy APDU first (YubiKey 4.2 touch workaround)");
                let _ = self.card.transmit(&DUMMY_APDU)?;
            }
            self.answered = 0;
        }
        *self.long_answer_at = None;
        let answer = self.card.transmit(apdu)?;
        let (data, more) = match answer.split_last_chunk::<2>() {
            Some((data, [sw1, _])) => (data.len(), *sw1 == MORE_DATA_SW1),
            None => (0, false),
        };
        self.answered = self.answered.saturating_add(data);
        if !more && self.answered > LONG_ANSWER {
            *self.long_answer_at = Some(Instant::now());
        }
        Ok(answer)
    }
}

/// SELECT the OATH applet and, when it has a password, VALIDATE with `key`
/// (without one: [`Error::PasswordRequired`]).
fn reselect(card: &mut dyn Transport, key: Option<&AccessKey>) -> Result<SelectInfo, Error> {
    let select = select_oath(card)?;
    if let Some(challenge) = &select.challenge {
        let key = key.ok_or(Error::PasswordRequired)?;
        validate(card, select.key_algorithm, key, challenge)?;
    }
    Ok(select)
}

/// Whether `error`, the answer to a command sent to the OATH applet selected
/// earlier, says that it no longer is: another applet answered (it does not
/// know the instruction, or has no such file), or the authentication of a
/// password-protected applet is gone, too soon for a touch timeout.
fn applet_lost(error: &Error, has_password: bool, after: Duration) -> bool {
    match error {
        Error::Card { status, .. } => match status {
            StatusWord::InsNotSupported | StatusWord::AppletNotFound => true,
            StatusWord::AuthRequired => has_password && after < SOONER_THAN_A_TOUCH_TIMEOUT,
            StatusWord::Other(sw) => matches!(sw, 0x6E00 | 0x6A86 | 0x6985 | 0x6A88),
            _ => false,
        },
        _ => false,
    }
}

/// SELECT the OATH applet and parse its answer.
pub fn select_oath(card: &mut dyn Transport) -> Result<SelectInfo, Error> {
    parse_select(&send(card, &Apdu::select(&OATH_AID))?)
}

/// VALIDATE: answer the card's challenge, challenge it back, check its answer.
fn validate(
    card: &mut dyn Transport,
    algorithm: Algorithm,
    key: &AccessKey,
    card_challenge: &[u8],
) -> Result<(), Error> {
    let hmac = |message: &[u8]| {
        crypto::hmac(algorithm, key.expose(), message).ok_or(Error::Crypto("HMAC refused the key"))
    };
    let our_response = hmac(card_challenge)?;
    let host_challenge = crypto::random_challenge()?;
    let mut data = Vec::new();
    tlv::push(&mut data, tag::RESPONSE, &our_response);
    tlv::push(&mut data, tag::CHALLENGE, &host_challenge);
    let answer = send(card, &Apdu::new(ins::VALIDATE).data(data)).map_err(|e| match e {
        Error::Card {
            status: StatusWord::NoSuchObject | StatusWord::WrongSyntax,
            ..
        } => Error::WrongPassword,
        other => other,
    })?;
    let tlvs = tlv::parse_all(&answer)?;
    let card_response =
        tlv::find(&tlvs, tag::RESPONSE).ok_or(Error::malformed("VALIDATE without a response"))?;
    let expected = hmac(&host_challenge)?;
    if bool::from(card_response.ct_eq(&expected)) {
        Ok(())
    } else {
        Err(Error::NotAuthentic)
    }
}

/// CALCULATE ALL with the 30 s challenge, truncated.
fn calculate_all_raw(
    card: &mut dyn Transport,
    unix_seconds: u64,
) -> Result<Vec<(AccountId, Calculated)>, Error> {
    let mut data = Vec::new();
    tlv::push(
        &mut data,
        tag::CHALLENGE,
        &TimeStep::at(unix_seconds, DEFAULT_PERIOD).challenge(),
    );
    let answer = send(
        card,
        &Apdu::new(ins::CALCULATE_ALL).p2(P2_TRUNCATE).data(data),
    )?;
    parse_calculate_all(&answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oath::testing::{hex, malformed_reason, ReservedCard, ScriptedCard};
    use proptest::prelude::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// A TOTP account known only by its id (period taken from the id).
    fn totp(id: &str) -> Account {
        Account::new(AccountId::new(id), OathType::Totp)
    }

    const SELECT: &str = "00A40400 07 A0000005272101";
    const SELECT_OPEN: &str = "7903 050403 7108 0102030405060708 9000";

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn open(card: ScriptedCard) -> Session<ScriptedCard> {
        Session::open(card).unwrap()
    }

    #[test]
    fn select_is_parsed_in_any_tag_order() {
        let a = parse_select(&hex(
            "7903050403 71080102030405060708 7408AABBCCDDEEFF0011 7B0101",
        ))
        .unwrap();
        let b = parse_select(&hex(
            "7B0101 7408AABBCCDDEEFF0011 71080102030405060708 7903050403",
        ))
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.version, Version(5, 4, 3));
        assert!(a.challenge.is_some());
    }

    #[test]
    fn select_without_challenge_means_no_password() {
        let session = open(ScriptedCard::new().expect(SELECT, SELECT_OPEN));
        assert!(!session.has_password());
        assert!(session.is_unlocked());
        assert_eq!(session.version(), Version(5, 4, 3));
        assert_eq!(session.device_id(), "ZoQN2hVOihE8Md0K0y9/Og");
    }

    #[test]
    fn select_missing_version_or_salt_is_malformed() {
        assert_eq!(
            malformed_reason(parse_select(&hex("71080102030405060708"))),
            "SELECT without a 3-byte version"
        );
        assert_eq!(
            malformed_reason(parse_select(&hex("7903050403"))),
            "SELECT without a salt"
        );
        assert_eq!(
            malformed_reason(parse_select(&hex("790205047108 0102030405060708"))),
            "SELECT without a 3-byte version"
        );
    }

    #[test]
    fn list_parses_every_entry() {
        let mut data = Vec::new();
        tlv::push(&mut data, tag::NAME_LIST, b"\x2160/AWS:alice");
        tlv::push(&mut data, tag::NAME_LIST, b"\x12bob");
        let accounts = parse_list(&data).unwrap();
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[0].id.text(), "60/AWS:alice");
        assert_eq!(accounts[0].period, Some(60));
        assert_eq!(accounts[1].oath_type, OathType::Hotp);
        assert_eq!(accounts[1].algorithm, Some(Algorithm::Sha256));
        assert_eq!(
            malformed_reason(parse_list(&hex("7302 2161"))),
            "LIST entry with an unexpected tag"
        );
    }

    /// The card side of VALIDATE, for the scripted round trip.
    fn card_answer(key: &AccessKey, host_challenge: &[u8]) -> Vec<u8> {
        crypto::hmac(Algorithm::Sha1, key.expose(), host_challenge)
            .unwrap()
            .to_vec()
    }

    #[test]
    fn validate_round_trip_unlocks_the_session() {
        let salt = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let card_challenge = [9u8; 8];
        let key = AccessKey::derive("hunter2", &salt);
        let expected_response =
            crypto::hmac(Algorithm::Sha1, key.expose(), &card_challenge).unwrap();
        let key_for_card = key.clone();
        let card = ScriptedCard::new()
            .expect(
                SELECT,
                "7903050403 71080102030405060708 74080909090909090909 7B0101 9000",
            )
            .respond(move |apdu| {
                // 00 A3 00 00 Lc 75 14 <20 bytes> 74 08 <8 bytes>
                assert_eq!(&apdu[..4], &[0x00, 0xA3, 0x00, 0x00]);
                let tlvs = tlv::parse_all(&apdu[5..]).unwrap();
                assert_eq!(tlv::find(&tlvs, 0x75).unwrap(), &expected_response[..]);
                let host_challenge = tlv::find(&tlvs, 0x74).unwrap();
                let mut answer = Vec::new();
                tlv::push(
                    &mut answer,
                    0x75,
                    &card_answer(&key_for_card, host_challenge),
                );
                answer.extend([0x90, 0x00]);
                answer
            });
        let mut session = open(card);
        assert!(session.has_password());
        assert!(matches!(session.list(), Err(Error::PasswordRequired)));
        session.unlock_with_password("hunter2").unwrap();
        assert!(session.is_unlocked());
    }

    /// A card's VALIDATE answer for `key`: HMAC of the host's challenge.
    fn validating_card(key: AccessKey) -> impl FnMut(&[u8]) -> Vec<u8> {
        move |apdu| {
            assert_eq!(&apdu[..4], &[0x00, 0xA3, 0x00, 0x00], "VALIDATE");
            let tlvs = tlv::parse_all(&apdu[5..]).unwrap();
            let mut answer = Vec::new();
            let host_challenge = tlv::find(&tlvs, 0x74).unwrap();
            tlv::push(&mut answer, 0x75, &card_answer(&key, host_challenge));
            answer.extend([0x90, 0x00]);
            answer
        }
    }

    #[test]
    fn a_second_operation_after_another_program_selected_validates_again_with_the_kept_key() {
        const SELECT_LOCKED: &str = "7903050403 71080102030405060708 74080909090909090909 9000";
        let key = AccessKey::derive("hunter2", &[1, 2, 3, 4, 5, 6, 7, 8]);
        let calculate = "00A20001 15 7109 4157533A616C696365 7408 0000000000000001";
        let mut card = ScriptedCard::new()
            .expect(SELECT, SELECT_LOCKED)
            .respond(validating_card(key.clone()))
            .expect(calculate, "7605 06 00000102 9000")
            // Another program SELECTs the OATH applet: authentication is gone.
            .expect(calculate, "6982")
            .expect(SELECT, SELECT_LOCKED)
            .respond(validating_card(key.clone()))
            .expect(calculate, "7605 06 00000102 9000");
        let mut session = Session::open(&mut card).unwrap();
        session.unlock_with_key(&key).unwrap();
        let mut account = totp("AWS:alice");
        account.touch = Some(false);
        assert_eq!(
            session.calculate(&account, at(59)).unwrap().expose(),
            "000258"
        );
        assert_eq!(
            session.calculate(&account, at(59)).unwrap().expose(),
            "000258"
        );
        drop(session);
        card.assert_done();
    }

    #[test]
    fn the_cold_path_select_validate_calculate_is_one_reservation_of_the_card() {
        const SELECT_LOCKED: &str = "7903050403 71080102030405060708 74080909090909090909 9000";
        let key = AccessKey::derive("hunter2", &[1, 2, 3, 4, 5, 6, 7, 8]);
        let calculate = "00A20001 15 7109 4157533A616C696365 7408 0000000000000001";
        let mut card = ReservedCard::new(
            ScriptedCard::new()
                .expect(SELECT, SELECT_LOCKED)
                .respond(validating_card(key.clone()))
                .expect(calculate, "7605 06 00000102 9000")
                .expect(calculate, "7605 06 00000102 9000"),
        );
        let mut session = Session::open(&mut card).unwrap();
        session.unlock_with_key(&key).unwrap();
        session.calculate(&totp("AWS:alice"), at(59)).unwrap();
        // The hold ends with the first operation: a second one is its own.
        session.calculate(&totp("AWS:alice"), at(59)).unwrap();
        drop(session);
        assert_eq!(card.sent_in, [Some(1), Some(1), Some(1), Some(2)]);
        assert!(!card.is_held());
        card.card.assert_done();
    }

    #[test]
    fn unlocking_afresh_after_a_release_holds_select_validate_and_calculate_together() {
        const SELECT_LOCKED: &str = "7903050403 71080102030405060708 74080909090909090909 9000";
        let key = AccessKey::derive("hunter2", &[1, 2, 3, 4, 5, 6, 7, 8]);
        let mut card = ReservedCard::new(
            ScriptedCard::new()
                .expect(SELECT, SELECT_LOCKED)
                .expect(SELECT, SELECT_LOCKED)
                .respond(validating_card(key.clone()))
                .expect(
                    "00A20001 15 7109 4157533A616C696365 7408 0000000000000001",
                    "7605 06 00000102 9000",
                ),
        );
        let mut session = Session::open(&mut card).unwrap();
        // A person types the password: the card is free meanwhile.
        session.release();
        assert!(!session.transport.is_held());
        session.unlock_afresh(&key).unwrap();
        session.calculate(&totp("AWS:alice"), at(59)).unwrap();
        drop(session);
        assert_eq!(card.sent_in, [Some(1), Some(2), Some(2), Some(2)]);
        assert!(!card.is_held());
    }

    #[test]
    fn card_answer_that_does_not_match_is_refused() {
        let card = ScriptedCard::new()
            .expect(
                SELECT,
                "7903050403 71080102030405060708 74080909090909090909 9000",
            )
            .respond(|_| hex("7514 0000000000000000000000000000000000000000 9000"));
        let mut session = open(card);
        assert!(matches!(
            session.unlock_with_password("x"),
            Err(Error::NotAuthentic)
        ));
        assert!(!session.is_unlocked());
    }

    #[test]
    fn rejected_validate_is_a_wrong_password() {
        for sw in ["6984", "6A80"] {
            let card = ScriptedCard::new()
                .expect(
                    SELECT,
                    "7903050403 71080102030405060708 74080909090909090909 9000",
                )
                .respond(move |_| hex(sw));
            let mut session = open(card);
            assert!(matches!(
                session.unlock_with_password("wrong"),
                Err(Error::WrongPassword)
            ));
        }
    }

    #[test]
    fn unlock_without_password_sends_nothing() {
        let mut card = ScriptedCard::new().expect(SELECT, SELECT_OPEN);
        let mut session = Session::open(&mut card).unwrap();
        session.unlock_with_password("anything").unwrap();
        drop(session);
        card.assert_done();
    }

    #[test]
    fn calculate_sends_name_and_time_step_and_builds_the_code() {
        // t = 59: step 1 for period 30.
        let card = ScriptedCard::new().expect(SELECT, SELECT_OPEN).expect(
            "00A20001 15 7109 4157533A616C696365 7408 0000000000000001",
            "7605 06 00000102 9000",
        );
        let mut session = open(card);
        let code = session.calculate(&totp("AWS:alice"), at(59)).unwrap();
        assert_eq!(code.expose(), "000258");
        assert_eq!((code.valid_from(), code.valid_to()), (Some(30), Some(60)));
    }

    #[test]
    fn calculate_uses_the_period_from_the_id() {
        // t = 125, period 60: step 2.
        let card = ScriptedCard::new().expect(SELECT, SELECT_OPEN).expect(
            "00A20001 10 7104 36302F61 7408 0000000000000002",
            "7605 08 00000001 9000",
        );
        let mut session = open(card);
        let code = session.calculate(&totp("60/a"), at(125)).unwrap();
        assert_eq!(code.expose(), "00000001");
        assert_eq!(code.valid_to(), Some(180));
    }

    #[test]
    fn a_steam_account_is_calculated_in_30_s_steps_whatever_its_id_says() {
        // t = 125: the 30 s step 4, where the id's 60 s would give step 2.
        let card = ScriptedCard::new().expect(SELECT, SELECT_OPEN).expect(
            "00A20001 1A 710E 36302F537465616D3A67616D6572 7408 0000000000000004",
            "7605 06 00000102 9000",
        );
        let mut session = open(card);
        let mut steam = totp("60/Steam:gamer");
        steam.issuer = Some("Steam".into());
        let code = session.calculate(&steam, at(125)).unwrap();
        assert_eq!(code.expose().len(), 5);
        assert_eq!(code.valid_to(), Some(150));
    }

    #[test]
    fn hotp_calculate_sends_an_empty_challenge() {
        let card = ScriptedCard::new()
            .expect(SELECT, SELECT_OPEN)
            .expect("00A20001 07 7103 626F62 7400", "7605 06 00000007 9000");
        let mut session = open(card);
        let code = session
            .calculate(
                &Account::new(AccountId::new("bob"), OathType::Hotp),
                at(1000),
            )
            .unwrap();
        assert_eq!(code.expose(), "000007");
        assert_eq!(code.valid_to(), None);
    }

    #[test]
    fn calculate_of_a_missing_account_names_it() {
        let card = ScriptedCard::new()
            .expect(SELECT, SELECT_OPEN)
            .respond(|_| hex("6984"));
        let mut session = open(card);
        match session.calculate(&totp("nope"), at(0)) {
            Err(Error::NoSuchAccount { id }) => assert_eq!(id, "nope"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn security_status_on_a_touch_account_is_a_touch_timeout() {
        let card = ScriptedCard::new()
            .expect(SELECT, SELECT_OPEN)
            .respond(|_| hex("6982"));
        let mut session = open(card);
        let mut account = Account::new(AccountId::new("t"), OathType::Totp);
        account.touch = Some(true);
        assert!(matches!(
            session.calculate(&account, at(0)),
            Err(Error::TouchTimedOut)
        ));
    }

    #[test]
    fn a_calculate_answered_by_another_applet_selects_oath_again_and_redoes_it() {
        // Another program selected PIV between our SELECT and CALCULATE.
        let calculate = "00A20001 15 7109 4157533A616C696365 7408 0000000000000001";
        let mut card = ScriptedCard::new()
            .expect(SELECT, SELECT_OPEN)
            .expect(calculate, "6D00")
            .expect(SELECT, SELECT_OPEN)
            .expect(calculate, "7605 06 00000102 9000");
        let mut session = Session::open(&mut card).unwrap();
        let code = session.calculate(&totp("AWS:alice"), at(59)).unwrap();
        assert_eq!(code.expose(), "000258");
        drop(session);
        card.assert_done();
    }

    /// A card another program resets once, before the command `reset_at`.
    struct ResetOnce {
        card: ScriptedCard,
        reset_at: usize,
        sent: usize,
        reconnects: usize,
    }

    impl Transport for ResetOnce {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
            self.sent += 1;
            if self.sent == self.reset_at {
                return Err(Error::CardReset { reader: "R".into() });
            }
            self.card.transmit(apdu)
        }

        fn reconnect(&mut self) -> Result<(), Error> {
            self.reconnects += 1;
            Ok(())
        }
    }

    #[test]
    fn a_reset_by_another_program_reconnects_selects_again_and_redoes_the_command_once() {
        let calculate = "00A20001 15 7109 4157533A616C696365 7408 0000000000000001";
        let mut card = ResetOnce {
            card: ScriptedCard::new()
                .expect(SELECT, SELECT_OPEN)
                .expect(SELECT, SELECT_OPEN)
                .expect(calculate, "7605 06 00000102 9000"),
            reset_at: 2,
            sent: 0,
            reconnects: 0,
        };
        let mut session = Session::open(&mut card).unwrap();
        let code = session.calculate(&totp("AWS:alice"), at(59)).unwrap();
        assert_eq!(code.expose(), "000258");
        drop(session);
        assert_eq!(card.reconnects, 1);
        card.card.assert_done();
    }

    #[test]
    fn a_lost_selection_without_a_kept_access_key_asks_for_the_password() {
        let card = ScriptedCard::new()
            .expect(SELECT, SELECT_OPEN)
            .respond(|_| hex("6D00"))
            .expect(
                SELECT,
                "7903050403 71080102030405060708 74080909090909090909 9000",
            );
        let mut session = open(card);
        assert!(matches!(
            session.calculate(&totp("AWS:alice"), at(59)),
            Err(Error::PasswordRequired)
        ));
    }

    #[test]
    fn security_status_for_an_account_of_unknown_touch_is_a_touch_timeout_not_a_password() {
        let card = ScriptedCard::new()
            .expect(SELECT, SELECT_OPEN)
            .respond(|_| hex("6982"));
        let mut session = open(card);
        assert!(matches!(
            session.calculate(&totp("t"), at(0)),
            Err(Error::TouchTimedOut)
        ));
    }

    #[test]
    fn yubikey_4_2_gets_a_dummy_apdu_after_a_long_answer_and_5_x_does_not() {
        let mut long = Vec::new();
        for name in [
            &b"AWS:alice"[..],
            b"Example:bob",
            b"Example:carol",
            b"touchy",
        ] {
            tlv::push(&mut long, tag::NAME, name);
            tlv::push(&mut long, tag::TOUCH, &[6]);
        }
        long.extend([0x90, 0x00]);
        let long = crate::oath::testing::to_hex(&long);
        let calculate = "00A20001 12 7106 746F75636879 7408 0000000000000003";
        for (select, dummy) in [
            ("7903 040206 7108 0102030405060708 9000", true),
            (SELECT_OPEN, false),
        ] {
            let mut card = ScriptedCard::new()
                .expect(SELECT, select)
                .expect("00A40001 0A 7408 0000000000000003", &long);
            if dummy {
                card = card.expect("00000000", "6D00");
            }
            let mut card = card.expect(calculate, "7605 06 00000102 9000");
            let mut session = Session::open(&mut card).unwrap();
            session.calculate_all(at(100)).unwrap();
            let mut account = totp("touchy");
            account.touch = Some(true);
            session.calculate(&account, at(100)).unwrap();
            drop(session);
            card.assert_done();
        }
    }

    #[test]
    fn yubikey_4_2_measures_a_chained_answer_whole_so_a_short_last_chunk_still_gets_the_dummy() {
        // CALCULATE ALL of 25 touch accounts: 275 bytes, sent as 255 + 20.
        let mut all = Vec::new();
        for n in 0..25 {
            tlv::push(&mut all, tag::NAME, format!("acct{n:02}").as_bytes());
            tlv::push(&mut all, tag::TOUCH, &[6]);
        }
        let (first, last) = all.split_at(255);
        let to_hex = crate::oath::testing::to_hex;
        let calculate = "00A20001 12 7106 746F75636879 7408 0000000000000003";
        let mut card = ScriptedCard::new()
            .expect(SELECT, "7903 040206 7108 0102030405060708 9000")
            .expect(
                "00A40001 0A 7408 0000000000000003",
                &format!("{} 6114", to_hex(first)),
            )
            .expect("00A50000", &format!("{} 9000", to_hex(last)))
            .expect("00000000", "6D00")
            .expect(calculate, "7605 06 00000102 9000");
        let mut session = Session::open(&mut card).unwrap();
        assert_eq!(session.calculate_all(at(100)).unwrap().len(), 25);
        let mut account = totp("touchy");
        account.touch = Some(true);
        session.calculate(&account, at(100)).unwrap();
        drop(session);
        card.assert_done();
    }

    #[test]
    fn calculate_all_gives_codes_and_recalculates_other_periods() {
        // t = 100: 30 s step 3; the 60 s account is asked again with step 1.
        let mut answer = Vec::new();
        tlv::push(&mut answer, tag::NAME, b"AWS:alice");
        tlv::push(&mut answer, tag::TRUNCATED, &[6, 0, 0, 0, 42]);
        tlv::push(&mut answer, tag::NAME, b"60/slow");
        tlv::push(&mut answer, tag::TRUNCATED, &[6, 0, 0, 0, 1]);
        tlv::push(&mut answer, tag::NAME, b"Ex:counter");
        tlv::push(&mut answer, tag::HOTP, &[]);
        tlv::push(&mut answer, tag::NAME, b"touchy");
        tlv::push(&mut answer, tag::TOUCH, &[6]);
        answer.extend([0x90, 0x00]);
        let card = ScriptedCard::new()
            .expect(SELECT, SELECT_OPEN)
            .expect(
                "00A40001 0A 7408 0000000000000003",
                &crate::oath::testing::to_hex(&answer),
            )
            .expect(
                "00A20001 13 7107 36302F736C6F77 7408 0000000000000001",
                "7605 06 00000063 9000",
            );
        let mut session = open(card);
        let entries = session.calculate_all(at(100)).unwrap();
        let summary: Vec<_> = entries
            .iter()
            .map(|e| {
                (
                    e.account.id.text(),
                    e.account.oath_type,
                    e.account.touch,
                    e.code.as_ref().map(|c| c.expose().to_owned()),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "AWS:alice".into(),
                    OathType::Totp,
                    Some(false),
                    Some("000042".into())
                ),
                (
                    "60/slow".into(),
                    OathType::Totp,
                    Some(false),
                    Some("000099".into())
                ),
                ("Ex:counter".into(), OathType::Hotp, None, None),
                ("touchy".into(), OathType::Totp, Some(true), None),
            ]
        );
        assert_eq!(entries[1].code.as_ref().unwrap().valid_from(), Some(60));
    }

    #[test]
    fn calculate_all_where_skips_unwanted_recalculations() {
        let mut answer = Vec::new();
        tlv::push(&mut answer, tag::NAME, b"60/slow");
        tlv::push(&mut answer, tag::TRUNCATED, &[6, 0, 0, 0, 1]);
        answer.extend([0x90, 0x00]);
        let mut card = ScriptedCard::new().expect(SELECT, SELECT_OPEN).expect(
            "00A40001 0A 7408 0000000000000003",
            &crate::oath::testing::to_hex(&answer),
        );
        let mut session = Session::open(&mut card).unwrap();
        let entries = session.calculate_all_where(at(100), |_| false).unwrap();
        assert_eq!(entries.len(), 1);
        assert!(entries[0].code.is_none());
        drop(session);
        card.assert_done();
    }

    #[test]
    fn accounts_merge_list_with_calculate_all() {
        let mut list = Vec::new();
        tlv::push(&mut list, tag::NAME_LIST, b"\x22AWS:alice");
        tlv::push(&mut list, tag::NAME_LIST, b"\x21touchy");
        list.extend([0x90, 0x00]);
        let mut all = Vec::new();
        tlv::push(&mut all, tag::NAME, b"AWS:alice");
        tlv::push(&mut all, tag::TRUNCATED, &[8, 0, 0, 0, 42]);
        tlv::push(&mut all, tag::NAME, b"touchy");
        tlv::push(&mut all, tag::TOUCH, &[6]);
        all.extend([0x90, 0x00]);
        let card = ScriptedCard::new()
            .expect(SELECT, SELECT_OPEN)
            .expect("00A10000", &crate::oath::testing::to_hex(&list))
            .expect(
                "00A40001 0A 7408 0000000000000000",
                &crate::oath::testing::to_hex(&all),
            );
        let mut session = open(card);
        let accounts = session.accounts(at(10)).unwrap();
        assert_eq!(accounts[0].algorithm, Some(Algorithm::Sha256));
        assert_eq!(
            (accounts[0].digits, accounts[0].touch),
            (Some(8), Some(false))
        );
        assert_eq!((accounts[1].digits, accounts[1].touch), (None, Some(true)));
    }

    #[test]
    fn calculate_all_answer_with_a_dangling_name_is_malformed() {
        assert_eq!(
            malformed_reason(parse_calculate_all(&hex("7101 61"))),
            "CALCULATE ALL name without an answer"
        );
        assert_eq!(
            malformed_reason(parse_calculate_all(&hex("7601 61 7101 61"))),
            "CALCULATE ALL entry without a name"
        );
        assert_eq!(
            malformed_reason(parse_calculate_all(&hex("7101 61 7401 00"))),
            "CALCULATE ALL answer with an unexpected tag"
        );
    }

    proptest! {
        #[test]
        fn no_card_answer_makes_a_parser_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_select(&bytes);
            let _ = parse_list(&bytes);
            let _ = parse_calculate_all(&bytes);
            let _ = parse_calculate(&bytes, None);
        }

        #[test]
        fn no_card_answer_makes_a_session_panic(
            select in proptest::collection::vec(any::<u8>(), 0..64),
            answers in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..6),
        ) {
            let mut card = crate::oath::testing::Chaos::new(select, answers);
            if let Ok(mut session) = Session::open(&mut card) {
                let _ = session.unlock_with_password("pw");
                let _ = session.list();
                let _ = session.accounts(at(1000));
                let _ = session.calculate_all(at(1000));
                let _ = session.calculate(&totp("x"), at(1000));
            }
        }
    }
}
