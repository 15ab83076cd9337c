//! Command APDUs (ISO 7816-4) as vegas sends them, the status words the
//! YubiKey applets answer with, and response chaining.
//!
//! Commands are encoded short (one-byte Lc/Le) whenever they fit, extended
//! (`00` + two-byte Lc/Le) otherwise. A response longer than the card sends at
//! once ends in `61xx`; the rest is fetched with the OATH applet's own SEND
//! REMAINING (`00 A5 00 00`), not ISO GET RESPONSE (`C0`). See
//! docs/protocol.md.

use zeroize::Zeroizing;

use super::transport::Transport;
use super::Error;

/// Instruction bytes of the YKOATH applet and the few others vegas uses.
/// (Constants, not an enum: SELECT and CALCULATE ALL share `A4`, told apart
/// by P1 and the applet selected.)
pub mod ins {
    /// ISO SELECT (by AID, `P1 = 04`).
    pub const SELECT: u8 = 0xA4;
    /// YKOATH LIST: every account's id, type and algorithm.
    pub const LIST: u8 = 0xA1;
    /// YKOATH CALCULATE: one account's response to a challenge.
    pub const CALCULATE: u8 = 0xA2;
    /// YKOATH VALIDATE: mutual authentication with the access key.
    pub const VALIDATE: u8 = 0xA3;
    /// YKOATH CALCULATE ALL: every account at once, with the 30 s challenge.
    pub const CALCULATE_ALL: u8 = 0xA4;
    /// YKOATH SEND REMAINING: the rest of a chained response.
    pub const SEND_REMAINING: u8 = 0xA5;
    /// Management READ CONFIG: device information TLVs (serial, version…).
    pub const READ_CONFIG: u8 = 0x1D;
    /// OTP applet "config" instruction; with `P1 = 10` it reads the serial.
    pub const OTP_CONFIG: u8 = 0x01;
}

/// One command APDU. The data may hold an authentication response, so it is
/// wiped when dropped and never shown by `Debug`.
#[derive(Clone)]
pub struct Apdu {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: Zeroizing<Vec<u8>>,
    /// Expected response length; `None` sends no Le. 256 (short) or 65 536
    /// (extended) are encoded as `00`/`0000`.
    pub le: Option<u32>,
}

impl std::fmt::Debug for Apdu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Apdu({:02X} {:02X} {:02X} {:02X}, {} data bytes, le {:?})",
            self.cla,
            self.ins,
            self.p1,
            self.p2,
            self.data.len(),
            self.le
        )
    }
}

/// Largest Lc an extended APDU can carry.
const MAX_EXTENDED_DATA: usize = 0xFFFF;

impl Apdu {
    pub fn new(ins: u8) -> Self {
        Apdu {
            cla: 0x00,
            ins,
            p1: 0,
            p2: 0,
            data: Zeroizing::new(Vec::new()),
            le: None,
        }
    }

    pub fn p1(mut self, p1: u8) -> Self {
        self.p1 = p1;
        self
    }

    pub fn p2(mut self, p2: u8) -> Self {
        self.p2 = p2;
        self
    }

    pub fn data(mut self, data: Vec<u8>) -> Self {
        self.data = Zeroizing::new(data);
        self
    }

    pub fn le(mut self, le: u32) -> Self {
        self.le = Some(le);
        self
    }

    /// The ISO SELECT of an applet by its AID.
    pub fn select(aid: &[u8]) -> Self {
        Apdu::new(ins::SELECT).p1(0x04).data(aid.to_vec())
    }

    /// SEND REMAINING: `00 A5 00 00`.
    pub fn send_remaining() -> Self {
        Apdu::new(ins::SEND_REMAINING)
    }

    /// The bytes on the wire: short form when Lc ≤ 255 and Le ≤ 256,
    /// extended form otherwise.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let data_len = self.data.len();
        if data_len > MAX_EXTENDED_DATA || self.le.is_some_and(|le| le > 0x1_0000) {
            return Err(Error::CommandTooLong { bytes: data_len });
        }
        let short = data_len <= 0xFF && self.le.is_none_or(|le| le <= 0x100);
        let mut out = Zeroizing::new(Vec::with_capacity(data_len + 9));
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        if short {
            if data_len > 0 {
                out.push(data_len as u8);
                out.extend_from_slice(&self.data);
            }
            if let Some(le) = self.le {
                out.push(le as u8); // 256 wraps to 00, as ISO says
            }
        } else {
            if data_len > 0 {
                out.push(0x00);
                out.extend_from_slice(&(data_len as u16).to_be_bytes());
                out.extend_from_slice(&self.data);
            }
            if let Some(le) = self.le {
                if data_len == 0 {
                    out.push(0x00);
                }
                out.extend_from_slice(&(le as u16).to_be_bytes()); // 65 536 wraps to 0000
            }
        }
        Ok(out)
    }
}

/// The status word that ends every response, typed where vegas acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusWord {
    /// `9000`.
    Ok,
    /// `61xx`: `xx` more bytes (00: 256 or more) wait behind SEND REMAINING.
    MoreData(u8),
    /// `6982`: security status not satisfied: the OATH password is needed,
    /// or a touch was not given in time.
    AuthRequired,
    /// `6984`: no such account, or a VALIDATE response that does not match.
    NoSuchObject,
    /// `6A80`: wrong syntax (also a rejected VALIDATE on some firmware).
    WrongSyntax,
    /// `6A84`: no space left.
    NoSpace,
    /// `6581`: memory failure (a corrupted account).
    MemoryFailure,
    /// `6A82`: the applet (AID) is not on this card.
    AppletNotFound,
    /// `6D00`: instruction not supported (often: another applet is selected).
    InsNotSupported,
    /// Anything else, carried raw.
    Other(u16),
}

impl StatusWord {
    pub fn from_bytes(sw1: u8, sw2: u8) -> Self {
        match (sw1, sw2) {
            (0x90, 0x00) => StatusWord::Ok,
            (0x61, n) => StatusWord::MoreData(n),
            (0x69, 0x82) => StatusWord::AuthRequired,
            (0x69, 0x84) => StatusWord::NoSuchObject,
            (0x6A, 0x80) => StatusWord::WrongSyntax,
            (0x6A, 0x84) => StatusWord::NoSpace,
            (0x65, 0x81) => StatusWord::MemoryFailure,
            (0x6A, 0x82) => StatusWord::AppletNotFound,
            (0x6D, 0x00) => StatusWord::InsNotSupported,
            _ => StatusWord::Other(u16::from_be_bytes([sw1, sw2])),
        }
    }

    pub fn as_u16(self) -> u16 {
        match self {
            StatusWord::Ok => 0x9000,
            StatusWord::MoreData(n) => 0x6100 | u16::from(n),
            StatusWord::AuthRequired => 0x6982,
            StatusWord::NoSuchObject => 0x6984,
            StatusWord::WrongSyntax => 0x6A80,
            StatusWord::NoSpace => 0x6A84,
            StatusWord::MemoryFailure => 0x6581,
            StatusWord::AppletNotFound => 0x6A82,
            StatusWord::InsNotSupported => 0x6D00,
            StatusWord::Other(sw) => sw,
        }
    }
}

impl std::fmt::Display for StatusWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04X}", self.as_u16())
    }
}

/// Split a raw response into its data and its status word.
pub fn split_response(raw: &[u8]) -> Result<(&[u8], StatusWord), Error> {
    let (data, sw) = raw
        .split_last_chunk::<2>()
        .ok_or(Error::malformed("response shorter than a status word"))?;
    Ok((data, StatusWord::from_bytes(sw[0], sw[1])))
}

/// Longest response vegas accepts after chaining; a card that keeps saying
/// "more data" beyond this is broken (or hostile).
const MAX_RESPONSE: usize = 64 * 1024;

/// Send `apdu` and collect the whole response, following `61xx` with SEND
/// REMAINING. Returns the data when the final status is `9000`; any other
/// status becomes [`Error::Card`] naming the instruction.
pub fn send(transport: &mut dyn Transport, apdu: &Apdu) -> Result<Zeroizing<Vec<u8>>, Error> {
    let (data, status) = send_raw(transport, apdu)?;
    match status {
        StatusWord::Ok => Ok(data),
        status => Err(Error::Card {
            ins: apdu.ins,
            status,
        }),
    }
}

/// Like [`send`] but hands back the final status word instead of judging it.
pub fn send_raw(
    transport: &mut dyn Transport,
    apdu: &Apdu,
) -> Result<(Zeroizing<Vec<u8>>, StatusWord), Error> {
    let mut collected = Zeroizing::new(Vec::new());
    let mut raw = transport.transmit(&apdu.encode()?)?;
    loop {
        let (data, status) = split_response(&raw)?;
        collected.extend_from_slice(data);
        if collected.len() > MAX_RESPONSE {
            return Err(Error::malformed("response longer than 64 KiB"));
        }
        match status {
            StatusWord::MoreData(_) => {
                raw = transport.transmit(&Apdu::send_remaining().encode()?)?
            }
            status => return Ok((collected, status)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oath::testing::{malformed_reason, ScriptedCard};

    #[test]
    fn case_1_command_is_four_bytes() {
        assert_eq!(
            &Apdu::send_remaining().encode().unwrap()[..],
            &[0x00, 0xA5, 0x00, 0x00]
        );
    }

    #[test]
    fn short_command_carries_one_byte_lc() {
        let apdu = Apdu::select(&[0xA0, 0x00, 0x00, 0x05, 0x27, 0x21, 0x01]);
        assert_eq!(
            &apdu.encode().unwrap()[..],
            &[0x00, 0xA4, 0x04, 0x00, 0x07, 0xA0, 0x00, 0x00, 0x05, 0x27, 0x21, 0x01]
        );
    }

    #[test]
    fn short_le_of_256_is_encoded_as_00() {
        let apdu = Apdu::new(0xA1).le(256);
        assert_eq!(&apdu.encode().unwrap()[..], &[0x00, 0xA1, 0x00, 0x00, 0x00]);
        let apdu = Apdu::new(0xA1).data(vec![1]).le(16);
        assert_eq!(
            &apdu.encode().unwrap()[..],
            &[0x00, 0xA1, 0x00, 0x00, 0x01, 0x01, 0x10]
        );
    }

    #[test]
    fn data_over_255_bytes_switches_to_extended_lc() {
        let apdu = Apdu::new(0x01).data(vec![0xAB; 300]);
        let bytes = apdu.encode().unwrap();
        assert_eq!(&bytes[..7], &[0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x2C]);
        assert_eq!(bytes.len(), 7 + 300);
    }

    #[test]
    fn extended_le_without_data_has_three_bytes() {
        let apdu = Apdu::new(0xA1).le(0x1_0000);
        assert_eq!(
            &apdu.encode().unwrap()[..],
            &[0x00, 0xA1, 0x00, 0x00, 0x00, 0x00, 0x00]
        );
        let apdu = Apdu::new(0xA1).le(300);
        assert_eq!(
            &apdu.encode().unwrap()[..],
            &[0x00, 0xA1, 0x00, 0x00, 0x00, 0x01, 0x2C]
        );
    }

    #[test]
    fn extended_le_after_data_has_two_bytes() {
        let apdu = Apdu::new(0x01).data(vec![0; 256]).le(512);
        let bytes = apdu.encode().unwrap();
        assert_eq!(&bytes[bytes.len() - 2..], &[0x02, 0x00]);
    }

    #[test]
    fn data_beyond_extended_limit_is_refused() {
        assert!(matches!(
            Apdu::new(0x01).data(vec![0; 0x1_0000]).encode(),
            Err(Error::CommandTooLong { bytes: 0x1_0000 })
        ));
    }

    #[test]
    fn status_words_round_trip_through_their_types() {
        for sw in [
            0x9000u16, 0x6110, 0x6982, 0x6984, 0x6A80, 0x6A84, 0x6581, 0x6A82, 0x6D00, 0x6F00,
        ] {
            let [sw1, sw2] = sw.to_be_bytes();
            assert_eq!(StatusWord::from_bytes(sw1, sw2).as_u16(), sw);
        }
        assert_eq!(StatusWord::from_bytes(0x61, 0x00), StatusWord::MoreData(0));
        assert_eq!(
            StatusWord::from_bytes(0x6F, 0x00),
            StatusWord::Other(0x6F00)
        );
    }

    #[test]
    fn response_shorter_than_two_bytes_is_malformed() {
        assert_eq!(
            malformed_reason(split_response(&[0x90])),
            "response shorter than a status word"
        );
        assert_eq!(
            split_response(&[1, 0x90, 0x00]).unwrap(),
            (&[1u8][..], StatusWord::Ok)
        );
    }

    #[test]
    fn chained_response_is_collected_with_send_remaining() {
        let mut card = ScriptedCard::new()
            .expect("00A1 0000", "7101 61 6104")
            .expect("00A5 0000", "7102 6162 6102")
            .expect("00A5 0000", "0000 9000");
        let data = send(&mut card, &Apdu::new(0xA1)).unwrap();
        assert_eq!(
            &data[..],
            &[0x71, 0x01, 0x61, 0x71, 0x02, 0x61, 0x62, 0x00, 0x00]
        );
        card.assert_done();
    }

    #[test]
    fn error_status_after_chaining_is_reported_with_the_instruction() {
        let mut card = ScriptedCard::new()
            .expect("00A1 0000", "01 6101")
            .expect("00A5 0000", "6A80");
        match send(&mut card, &Apdu::new(0xA1)) {
            Err(Error::Card {
                ins: 0xA1,
                status: StatusWord::WrongSyntax,
            }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn endless_more_data_is_cut_off() {
        struct Endless;
        impl Transport for Endless {
            fn transmit(&mut self, _apdu: &[u8]) -> Result<Vec<u8>, Error> {
                let mut r = vec![0u8; 4096];
                r.extend([0x61, 0x00]);
                Ok(r)
            }
        }
        assert_eq!(
            malformed_reason(send(&mut Endless, &Apdu::new(0xA1))),
            "response longer than 64 KiB"
        );
    }
}
