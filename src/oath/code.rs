//! OTP codes: the TOTP time step sent as the challenge, and the code made from
//! the four bytes the card returns (RFC 4226 §5.3 "dynamic truncation" is done
//! on the card; the modulo and zero padding are done here).

use zeroize::Zeroizing;

use super::Error;

/// The period of TOTP accounts that do not say otherwise, and the one CALCULATE
/// ALL uses for every account.
pub const DEFAULT_PERIOD: u32 = 30;

/// A TOTP time step: `floor(unix_time / period)` (RFC 6238 §4.2), with the
/// period it was counted in. The one step type of vegas: a code from the key,
/// from ykman or typed by a person carries one, and the cache records when
/// it ends ([`TimeStep::end`]), in seconds, whatever its period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeStep {
    pub index: u64,
    pub period: u32,
}

impl TimeStep {
    /// The step containing `unix_seconds`. A period of 0 is treated as 1 so
    /// that nothing divides by zero.
    pub fn at(unix_seconds: u64, period: u32) -> Self {
        let period = period.max(1);
        TimeStep {
            index: unix_seconds / u64::from(period),
            period,
        }
    }

    /// The step containing `time` (times before the epoch count as 0).
    pub fn at_time(time: std::time::SystemTime, period: u32) -> Self {
        TimeStep::at(crate::platform::unix_seconds(time), period)
    }

    /// The CALCULATE challenge: the step as 8 bytes big-endian.
    pub fn challenge(self) -> [u8; 8] {
        self.index.to_be_bytes()
    }

    /// First second of the step.
    pub fn start(self) -> u64 {
        self.index.saturating_mul(u64::from(self.period))
    }

    /// First second after the step.
    pub fn end(self) -> u64 {
        self.start().saturating_add(u64::from(self.period))
    }
}

/// Steam Guard's code alphabet and length (ykman's `STEAM_CHAR_TABLE`).
const STEAM_ALPHABET: &[u8; 26] = b"23456789BCDFGHJKMNPQRTVWXY";
const STEAM_LENGTH: usize = 5;

/// Most digits a code can have: `0x7FFF_FFFF` has ten.
const MAX_DIGITS: u8 = 10;

/// An OTP code. The digits are a secret for as long as they are valid, so they
/// are wiped on drop and `Debug` shows only their number.
#[derive(Clone, PartialEq, Eq)]
pub struct Code {
    digits: Zeroizing<String>,
    /// For TOTP, the time step the code belongs to; `None` for HOTP.
    pub step: Option<TimeStep>,
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Code({} digits, {:?})", self.digits.len(), self.step)
    }
}

impl Code {
    /// From the truncated 4 bytes: `(BE u32 & 0x7FFFFFFF) mod 10^digits`,
    /// zero-padded to `digits`.
    pub fn from_truncated(
        truncated: [u8; 4],
        digits: u8,
        step: Option<TimeStep>,
    ) -> Result<Self, Error> {
        if !(1..=MAX_DIGITS).contains(&digits) {
            return Err(Error::malformed("code length outside 1–10 digits"));
        }
        let value = u32::from_be_bytes(truncated) & 0x7FFF_FFFF;
        let modulus = 10u64.pow(u32::from(digits));
        let width = usize::from(digits);
        let text = format!("{:0width$}", u64::from(value) % modulus);
        Ok(Code {
            digits: Zeroizing::new(text),
            step,
        })
    }

    /// From the value of a `76` TLV: one byte of digits, then the 4 bytes.
    pub fn from_truncated_response(value: &[u8], step: Option<TimeStep>) -> Result<Self, Error> {
        let (&digits, rest) = value
            .split_first()
            .ok_or(Error::malformed("empty truncated response"))?;
        let truncated: [u8; 4] = rest
            .try_into()
            .map_err(|_| Error::malformed("truncated response is not 4 bytes"))?;
        Code::from_truncated(truncated, digits, step)
    }

    /// The value of a `75` TLV (digits byte, then the full HMAC) as the
    /// value of a `76` one: RFC 4226 §5.3 dynamic truncation done here, as
    /// the card does for a truncated answer.
    pub fn truncate_full_response(value: &[u8]) -> Result<Vec<u8>, Error> {
        let (&digits, hmac) = value
            .split_first()
            .ok_or(Error::malformed("empty full response"))?;
        let offset = usize::from(hmac.last().ok_or(Error::malformed("empty HMAC"))? & 0x0F);
        let four = hmac
            .get(offset..offset + 4)
            .ok_or(Error::malformed("HMAC too short to truncate"))?;
        let mut truncated = vec![digits];
        truncated.extend_from_slice(four);
        Ok(truncated)
    }

    /// A Steam Guard code from the value of a `76` TLV, as ykman makes it
    /// (`ykman.oath.calculate_steam`): the 31-bit value written in base 26
    /// with Steam's alphabet, least significant first, 5 characters. The
    /// digits byte is ignored (Steam accounts are stored with 6).
    pub fn steam_from_truncated_response(
        value: &[u8],
        step: Option<TimeStep>,
    ) -> Result<Self, Error> {
        let truncated: [u8; 4] = value
            .get(1..)
            .and_then(|rest| rest.try_into().ok())
            .ok_or(Error::malformed("truncated response is not 4 bytes"))?;
        let mut rest = u32::from_be_bytes(truncated) & 0x7FFF_FFFF;
        let mut text = Zeroizing::new(String::with_capacity(STEAM_LENGTH));
        for _ in 0..STEAM_LENGTH {
            let index = (rest % STEAM_ALPHABET.len() as u32) as usize;
            text.push(char::from(
                STEAM_ALPHABET.get(index).copied().unwrap_or(b'?'),
            ));
            rest /= STEAM_ALPHABET.len() as u32;
        }
        Ok(Code { digits: text, step })
    }

    /// The digits. Named so that every place that shows a code is easy to find.
    pub fn expose(&self) -> &str {
        &self.digits
    }

    /// Unix second from which a TOTP code is valid.
    pub fn valid_from(&self) -> Option<u64> {
        self.step.map(TimeStep::start)
    }

    /// First Unix second at which a TOTP code is no longer valid.
    pub fn valid_to(&self) -> Option<u64> {
        self.step.map(TimeStep::end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steam_codes_are_five_characters_of_steams_alphabet_as_ykman_makes_them() {
        // 0x01020304 = 16909060; base 26, least significant first:
        // 12 → 'G', 10 → 'D', 1 → '3', 0 → '2', 11 → 'F' (computed with
        // ykman's calculate_steam loop).
        let code = Code::steam_from_truncated_response(&[6, 1, 2, 3, 4], None).unwrap();
        assert_eq!(code.expose(), "GD32F");
        // The top bit is masked as for numeric codes.
        let masked = Code::steam_from_truncated_response(&[6, 0x81, 2, 3, 4], None).unwrap();
        assert_eq!(masked.expose(), "GD32F");
        assert!(Code::steam_from_truncated_response(&[6, 1, 2], None).is_err());
    }
    use crate::oath::testing::malformed_reason;
    use crate::oath::Algorithm;

    /// What a card computes for CALCULATE with truncation: HMAC(secret,
    /// counter as 8 bytes BE), then RFC 4226 dynamic truncation (4 bytes at
    /// the offset in the low nibble of the last byte). vegas itself never
    /// holds an OATH secret; the RFC vectors below check [`Code`] against it.
    fn reference_truncated(algorithm: Algorithm, secret: &[u8], counter: u64) -> [u8; 4] {
        let mac = crate::oath::crypto::hmac(algorithm, secret, &counter.to_be_bytes()).unwrap();
        let offset = usize::from(mac.last().unwrap() & 0x0F);
        mac[offset..offset + 4].try_into().unwrap()
    }

    fn hotp(algorithm: Algorithm, secret: &[u8], counter: u64, digits: u8) -> String {
        let truncated = reference_truncated(algorithm, secret, counter);
        Code::from_truncated(truncated, digits, None)
            .unwrap()
            .expose()
            .to_owned()
    }

    #[test]
    fn rfc4226_appendix_d_vectors() {
        let secret = b"12345678901234567890";
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(
                hotp(Algorithm::Sha1, secret, counter as u64, 6),
                *code,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn rfc6238_appendix_b_vectors() {
        let sha1 = b"12345678901234567890".as_slice();
        let sha256 = b"12345678901234567890123456789012".as_slice();
        let sha512 = b"1234567890123456789012345678901234567890123456789012345678901234".as_slice();
        let cases: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (time, c1, c256, c512) in cases {
            let step = TimeStep::at(time, 30).index;
            assert_eq!(hotp(Algorithm::Sha1, sha1, step, 8), c1, "SHA1 at {time}");
            assert_eq!(
                hotp(Algorithm::Sha256, sha256, step, 8),
                c256,
                "SHA256 at {time}"
            );
            assert_eq!(
                hotp(Algorithm::Sha512, sha512, step, 8),
                c512,
                "SHA512 at {time}"
            );
        }
    }

    #[test]
    fn small_values_are_zero_padded_to_the_digit_count() {
        let code = Code::from_truncated([0, 0, 0, 42], 6, None).unwrap();
        assert_eq!(code.expose(), "000042");
        let code = Code::from_truncated([0, 0, 0, 0], 8, None).unwrap();
        assert_eq!(code.expose(), "00000000");
    }

    #[test]
    fn the_top_bit_is_masked_off() {
        // 0xFFFFFFFF & 0x7FFFFFFF = 2147483647
        let code = Code::from_truncated([0xFF; 4], 10, None).unwrap();
        assert_eq!(code.expose(), "2147483647");
    }

    #[test]
    fn digit_counts_outside_1_to_10_are_refused() {
        assert_eq!(
            malformed_reason(Code::from_truncated([0; 4], 0, None)),
            "code length outside 1–10 digits"
        );
        assert_eq!(
            malformed_reason(Code::from_truncated([0; 4], 11, None)),
            "code length outside 1–10 digits"
        );
    }

    #[test]
    fn truncated_response_takes_digits_from_its_first_byte() {
        let code = Code::from_truncated_response(&[0x08, 0x00, 0x00, 0x01, 0x00], None).unwrap();
        assert_eq!(code.expose(), "00000256");
        assert_eq!(
            malformed_reason(Code::from_truncated_response(&[0x06, 0, 0, 1], None)),
            "truncated response is not 4 bytes"
        );
        assert_eq!(
            malformed_reason(Code::from_truncated_response(&[], None)),
            "empty truncated response"
        );
    }

    #[test]
    fn debug_does_not_show_the_digits() {
        let code =
            Code::from_truncated([0x12, 0x34, 0x56, 0x78], 6, Some(TimeStep::at(90, 30))).unwrap();
        let shown = format!("{code:?}");
        assert!(!shown.contains(code.expose()), "{shown}");
    }

    #[test]
    fn time_step_bounds_the_code_validity() {
        let step = TimeStep::at(1_000_000_015, 30);
        assert_eq!(step.index, 33_333_333);
        assert_eq!(step.start(), 999_999_990);
        assert_eq!(step.end(), 1_000_000_020);
        assert_eq!(step.challenge(), 33_333_333u64.to_be_bytes());
    }

    #[test]
    fn zero_period_does_not_divide_by_zero() {
        assert_eq!(TimeStep::at(100, 0).index, 100);
    }
}
