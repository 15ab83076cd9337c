//! The commands a session sends, each on its own: SELECT (and VALIDATE
//! after it), VALIDATE, CALCULATE ALL, and how to tell from an answer that
//! another program took the applet away. [`super::Session`] decides when.

use std::time::Duration;

use subtle::ConstantTimeEq;

use super::wire::{
    parse_calculate_all, parse_select, tag, Calculated, SelectInfo, OATH_AID, P2_TRUNCATE,
};
use crate::oath::account::{AccountId, Algorithm};
use crate::oath::apdu::{ins, send, Apdu, StatusWord};
use crate::oath::code::{TimeStep, DEFAULT_PERIOD};
use crate::oath::crypto::{self, AccessKey};
use crate::oath::tlv;
use crate::oath::transport::Transport;
use crate::oath::Error;

/// A touch account's CALCULATE gives up after about 15 s; an answer
/// "authentication required" sooner than this cannot be a touch timeout, so
/// it means the authentication was dropped (another program SELECTed).
const SOONER_THAN_A_TOUCH_TIMEOUT: Duration = Duration::from_secs(2);

/// SELECT the OATH applet and, when it has a password, VALIDATE with `key`
/// (without one: [`Error::PasswordRequired`]).
pub(super) fn reselect(
    card: &mut dyn Transport,
    key: Option<&AccessKey>,
) -> Result<SelectInfo, Error> {
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
pub(super) fn applet_lost(error: &Error, has_password: bool, after: Duration) -> bool {
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
pub(super) fn validate(
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
pub(super) fn calculate_all_raw(
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
