//! The YubiKey's serial number and firmware version, which the OATH applet
//! does not tell: asked of the Management applet (its SELECT answers the
//! firmware version as text, READ CONFIG the serial), else of the OTP applet
//! (older keys: its SELECT status starts with the version, a query gives the
//! serial). Both leave another applet selected: SELECT OATH again afterwards.
//!
//! READ CONFIG came with firmware 4.1.0: before it (the YubiKey NEO, 3.x,
//! and 4.0) it is not sent, as yubikit does not send it. The NEO must then
//! be "de-selected" from Management before another applet answers (yubikit
//! sends `A4 04 00 08` for this); its OATH applet numbers its own versions
//! (below 3.0.0), so the firmware version comes from here.

use super::apdu::{ins, send, Apdu};
use super::session::Version;
use super::tlv;
use super::transport::Transport;
use super::Error;

/// AID of the Management applet.
pub const MANAGEMENT_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x05, 0x27, 0x47, 0x11, 0x17];
/// AID of the OTP (Yubico OTP / challenge-response) applet.
pub const OTP_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x05, 0x27, 0x20, 0x01];

/// READ CONFIG tag holding the serial (4 bytes big-endian).
const TAG_SERIAL: u8 = 0x02;
/// OTP applet slot that reads the serial.
const OTP_SLOT_DEVICE_SERIAL: u8 = 0x10;
/// yubikit's "de-select" of the NEO's Management applet: a malformed APDU
/// (CLA A4, INS 04, P1 00, P2 08), whose answer is ignored.
const NEO_DESELECT: [u8; 4] = [0xA4, 0x04, 0x00, 0x08];

/// What the key tells of itself beside its OATH applet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceFacts {
    /// `None` when neither applet tells it, or it is 0 (a hidden serial).
    pub serial: Option<u32>,
    /// The firmware version, when an applet tells it.
    pub firmware: Option<Version>,
}

/// The serial number (see [`read_device`]).
pub fn read_serial(card: &mut dyn Transport) -> Result<Option<u32>, Error> {
    Ok(read_device(card)?.serial)
}

/// Serial and firmware version. Errors only when the card itself is gone;
/// a refusing applet just means "not told".
pub fn read_device(card: &mut dyn Transport) -> Result<DeviceFacts, Error> {
    let mut facts = DeviceFacts::default();
    match from_management(card, &mut facts) {
        Ok(()) if facts.serial.is_some() => return Ok(facts),
        Ok(()) => {}
        Err(e) if !e.is_about_the_answer() => return Err(e),
        Err(e) => tracing::debug!("management applet gave no serial: {e}"),
    }
    if facts.firmware.is_some_and(|v| v.0 == 3) {
        // The answer is an error by design.
        let _ = card.transmit(&NEO_DESELECT)?;
    }
    match from_otp(card, &mut facts) {
        Ok(()) => Ok(facts),
        Err(e) if !e.is_about_the_answer() => Err(e),
        Err(e) => {
            tracing::debug!("OTP applet gave no serial: {e}");
            Ok(facts)
        }
    }
}

/// The first firmware whose Management applet has READ CONFIG.
const READ_CONFIG_SINCE: Version = Version(4, 1, 0);

fn from_management(card: &mut dyn Transport, facts: &mut DeviceFacts) -> Result<(), Error> {
    let answer = send(card, &Apdu::select(&MANAGEMENT_AID))?;
    facts.firmware = parse_version_text(&answer);
    if facts.firmware.is_some_and(|v| v < READ_CONFIG_SINCE) {
        return Ok(());
    }
    facts.serial = parse_read_config(&send(card, &Apdu::new(ins::READ_CONFIG))?)?;
    Ok(())
}

fn from_otp(card: &mut dyn Transport, facts: &mut DeviceFacts) -> Result<(), Error> {
    let status = send(card, &Apdu::select(&OTP_AID))?;
    if facts.firmware.is_none() {
        facts.firmware = status.get(..3).and_then(Version::from_bytes);
    }
    let answer = send(card, &Apdu::new(ins::OTP_CONFIG).p1(OTP_SLOT_DEVICE_SERIAL))?;
    let bytes: [u8; 4] = answer
        .as_slice()
        .try_into()
        .map_err(|_| Error::malformed("OTP serial is not 4 bytes"))?;
    facts.serial = Some(u32::from_be_bytes(bytes)).filter(|s| *s != 0);
    Ok(())
}

/// The Management SELECT answer: the version as text, e.g. "5.4.3" (some
/// firmware adds words before it; the last word counts).
pub fn parse_version_text(answer: &[u8]) -> Option<Version> {
    let text = std::str::from_utf8(answer).ok()?;
    let word = text.split_whitespace().last()?;
    let mut parts = word.split('.').map(|p| p.parse::<u8>().ok());
    let version = Version(parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(version)
}

/// READ CONFIG answers one length byte, then that many bytes of TLVs.
pub fn parse_read_config(data: &[u8]) -> Result<Option<u32>, Error> {
    let (&len, tlvs) = data
        .split_first()
        .ok_or(Error::malformed("empty READ CONFIG answer"))?;
    if usize::from(len) != tlvs.len() {
        return Err(Error::malformed("READ CONFIG length does not match"));
    }
    let tlvs = tlv::parse_all(tlvs)?;
    let Some(value) = tlv::find(&tlvs, TAG_SERIAL) else {
        return Ok(None);
    };
    if value.len() > 4 {
        return Err(Error::malformed("serial longer than 4 bytes"));
    }
    let serial = value.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
    Ok(Some(serial).filter(|s| *s != 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oath::testing::{hex, malformed_reason, ScriptedCard};
    use proptest::prelude::*;

    const SELECT_MGMT: &str = "00A40400 08 A000000527471117";
    const SELECT_OTP: &str = "00A40400 07 A0000005272001";

    #[test]
    fn firmware_comes_from_the_management_select_text() {
        assert_eq!(parse_version_text(b"5.4.3"), Some(Version(5, 4, 3)));
        assert_eq!(
            parse_version_text(b"Virtual mgr - FW version 3.4.9"),
            Some(Version(3, 4, 9))
        );
        assert_eq!(parse_version_text(b"5.4"), None);
        assert_eq!(parse_version_text(&[0xFF, 0x00]), None);
    }

    #[test]
    fn a_neo_is_deselected_from_management_without_read_config_then_asked_over_otp() {
        let mut card = ScriptedCard::new()
            .expect(SELECT_MGMT, "332E342E39 9000")
            .expect("A4040008", "6700")
            .expect(SELECT_OTP, "030409 01 0000 9000")
            .expect("00011000", "00BC614E 9000");
        assert_eq!(
            read_device(&mut card).unwrap(),
            DeviceFacts {
                serial: Some(12_345_678),
                firmware: Some(Version(3, 4, 9)),
            }
        );
        card.assert_done();
    }

    #[test]
    fn serial_comes_from_management_read_config() {
        let mut card = ScriptedCard::new()
            .expect(SELECT_MGMT, "352E342E33 9000")
            .expect("001D0000", "0D 0204 00BC614E 0302 023B 0401 01 9000");
        assert_eq!(read_serial(&mut card).unwrap(), Some(12_345_678));
        card.assert_done();
    }

    #[test]
    fn a_yubikey_4_0_is_not_sent_read_config_and_is_asked_over_otp() {
        let mut card = ScriptedCard::new()
            .expect(SELECT_MGMT, "342E302E33 9000")
            .expect(SELECT_OTP, "040003 01 0000 9000")
            .expect("00011000", "00BC614E 9000");
        assert_eq!(read_serial(&mut card).unwrap(), Some(12_345_678));
        card.assert_done();
    }

    #[test]
    fn serial_falls_back_to_the_otp_applet() {
        let mut card = ScriptedCard::new()
            .expect(SELECT_MGMT, "6A82")
            .expect(SELECT_OTP, "0304 0005 9000")
            .expect("00011000", "00BC614E 9000");
        assert_eq!(read_serial(&mut card).unwrap(), Some(12_345_678));
        card.assert_done();
    }

    #[test]
    fn no_serial_anywhere_is_none() {
        let mut card = ScriptedCard::new()
            .expect(SELECT_MGMT, "6A82")
            .expect(SELECT_OTP, "6A82");
        assert_eq!(read_serial(&mut card).unwrap(), None);
    }

    #[test]
    fn read_config_without_serial_tries_the_otp_applet() {
        let mut card = ScriptedCard::new()
            .expect(SELECT_MGMT, "9000")
            .expect("001D0000", "03 040101 9000")
            .expect(SELECT_OTP, "9000")
            .expect("00011000", "6D00");
        assert_eq!(read_serial(&mut card).unwrap(), None);
        card.assert_done();
    }

    #[test]
    fn a_vanished_card_is_an_error_not_a_missing_serial() {
        let mut card = crate::oath::testing::Chaos::new(vec![], vec![]);
        // Chaos answers the first APDU with 9000, then is gone.
        assert!(matches!(
            read_serial(&mut card),
            Err(Error::CardRemoved { .. })
        ));
    }

    #[test]
    fn read_config_length_byte_must_match() {
        assert_eq!(
            malformed_reason(parse_read_config(&hex("05 0204 00BC614E"))),
            "READ CONFIG length does not match"
        );
        assert_eq!(
            malformed_reason(parse_read_config(&[])),
            "empty READ CONFIG answer"
        );
        assert_eq!(parse_read_config(&hex("03 020101")).unwrap(), Some(1));
        assert_eq!(parse_read_config(&hex("06 0204 00000000")).unwrap(), None);
    }

    proptest! {
        #[test]
        fn read_config_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = parse_read_config(&bytes);
        }
    }
}
