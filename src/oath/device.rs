//! The YubiKey's serial number, which the OATH applet does not tell: asked of
//! the Management applet (READ CONFIG), else of the OTP applet (older keys).
//! Both leave another applet selected: SELECT OATH again afterwards.

use super::apdu::{ins, send, Apdu};
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

/// The serial number, or `None` when neither applet tells it (or it is 0,
/// which keys report when the serial is hidden). Errors only when the card
/// itself is gone; a refusing applet just means "no serial".
pub fn read_serial(card: &mut dyn Transport) -> Result<Option<u32>, Error> {
    match serial_from_management(card) {
        Ok(Some(serial)) => return Ok(Some(serial)),
        Ok(None) => {}
        Err(e) if !e.is_about_the_answer() => return Err(e),
        Err(e) => tracing::debug!("management applet gave no serial: {e}"),
    }
    match serial_from_otp(card) {
        Ok(serial) => Ok(serial),
        Err(e) if !e.is_about_the_answer() => Err(e),
        Err(e) => {
            tracing::debug!("OTP applet gave no serial: {e}");
            Ok(None)
        }
    }
}

fn serial_from_management(card: &mut dyn Transport) -> Result<Option<u32>, Error> {
    send(card, &Apdu::select(&MANAGEMENT_AID))?;
    parse_read_config(&send(card, &Apdu::new(ins::READ_CONFIG))?)
}

fn serial_from_otp(card: &mut dyn Transport) -> Result<Option<u32>, Error> {
    send(card, &Apdu::select(&OTP_AID))?;
    let answer = send(card, &Apdu::new(ins::OTP_CONFIG).p1(OTP_SLOT_DEVICE_SERIAL))?;
    let bytes: [u8; 4] = answer
        .as_slice()
        .try_into()
        .map_err(|_| Error::malformed("OTP serial is not 4 bytes"))?;
    Ok(Some(u32::from_be_bytes(bytes)).filter(|s| *s != 0))
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
    fn serial_comes_from_management_read_config() {
        let mut card = ScriptedCard::new()
            .expect(SELECT_MGMT, "352E342E33 9000")
            .expect("001D0000", "0D 0204 00BC614E 0302 023B 0401 01 9000");
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
