//! BER-TLV as the YubiKey applets use it: one-byte tags, lengths in short
//! form (`00`–`7F`) or long form `81 n` / `82 nn`.
//!
//! Everything a card answers passes through [`TlvReader`], so it is written to
//! never index past the end: a length that runs off the buffer is an error,
//! not a panic.

use super::Error;

/// One tag-length-value element, borrowing its value from the response.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
}

/// Values may hold codes or key material: show only their size.
impl std::fmt::Debug for Tlv<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tlv({:02X}, {} bytes)", self.tag, self.value.len())
    }
}

/// Walks a byte string as a sequence of TLVs. Yields `Err` once, at the first
/// malformed element, then stops.
#[derive(Debug, Clone)]
pub struct TlvReader<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> TlvReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        TlvReader {
            rest: bytes,
            failed: false,
        }
    }

    fn read_one(&mut self) -> Result<Tlv<'a>, Error> {
        let (&tag, after_tag) = self
            .rest
            .split_first()
            .ok_or(Error::malformed("TLV without a tag"))?;
        let (len, after_len) = read_length(after_tag)?;
        let (value, rest) = after_len
            .split_at_checked(len)
            .ok_or(Error::malformed("TLV longer than the response"))?;
        self.rest = rest;
        Ok(Tlv { tag, value })
    }
}

impl<'a> Iterator for TlvReader<'a> {
    type Item = Result<Tlv<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let item = self.read_one();
        self.failed = item.is_err();
        Some(item)
    }
}

/// Parse a whole response into its TLVs, failing on the first malformed one.
pub fn parse_all(bytes: &[u8]) -> Result<Vec<Tlv<'_>>, Error> {
    TlvReader::new(bytes).collect()
}

/// The first element with `tag`, if any (for answers whose order the spec
/// does not fix, such as SELECT).
pub fn find<'a>(tlvs: &[Tlv<'a>], tag: u8) -> Option<&'a [u8]> {
    tlvs.iter().find(|t| t.tag == tag).map(|t| t.value)
}

/// Split a BER length off the front of `bytes`.
fn read_length(bytes: &[u8]) -> Result<(usize, &[u8]), Error> {
    let (&first, rest) = bytes
        .split_first()
        .ok_or(Error::malformed("TLV without a length"))?;
    match first {
        0x00..=0x7F => Ok((usize::from(first), rest)),
        0x81 => {
            let (&n, rest) = rest
                .split_first()
                .ok_or(Error::malformed("truncated TLV length"))?;
            Ok((usize::from(n), rest))
        }
        0x82 => {
            let (pair, rest) = rest
                .split_first_chunk::<2>()
                .ok_or(Error::malformed("truncated TLV length"))?;
            Ok((usize::from(u16::from_be_bytes(*pair)), rest))
        }
        _ => Err(Error::malformed("unsupported TLV length form")),
    }
}

/// Append one TLV to `out`, choosing the shortest BER length form.
///
/// Values are at most 65 535 bytes (the longest an extended APDU carries);
/// callers build small values (names, challenges, HMACs).
pub fn push(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xFF {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        let len = u16::try_from(len).unwrap_or(u16::MAX);
        out.push(0x82);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oath::testing::malformed_reason;
    use proptest::prelude::*;

    #[test]
    fn reads_short_form_lengths_in_sequence() {
        let tlvs = parse_all(&[0x71, 0x02, b'a', b'b', 0x74, 0x00]).unwrap();
        assert_eq!(
            tlvs,
            vec![
                Tlv {
                    tag: 0x71,
                    value: b"ab"
                },
                Tlv {
                    tag: 0x74,
                    value: b""
                }
            ]
        );
    }

    #[test]
    fn reads_81_long_form_length() {
        let mut bytes = vec![0x72, 0x81, 0x80];
        bytes.extend(std::iter::repeat_n(7u8, 0x80));
        let tlvs = parse_all(&bytes).unwrap();
        assert_eq!(tlvs.len(), 1);
        assert_eq!(tlvs[0].value.len(), 0x80);
    }

    #[test]
    fn reads_82_long_form_length() {
        let mut bytes = vec![0x72, 0x82, 0x01, 0x02];
        bytes.extend(std::iter::repeat_n(1u8, 0x102));
        bytes.extend([0x79, 0x01, 0x05]);
        let tlvs = parse_all(&bytes).unwrap();
        assert_eq!(tlvs[0].value.len(), 0x102);
        assert_eq!(
            tlvs[1],
            Tlv {
                tag: 0x79,
                value: &[5]
            }
        );
    }

    #[test]
    fn value_running_past_the_end_is_an_error() {
        assert_eq!(
            malformed_reason(parse_all(&[0x71, 0x05, 1, 2])),
            "TLV longer than the response"
        );
    }

    #[test]
    fn missing_or_truncated_length_is_an_error() {
        assert_eq!(malformed_reason(parse_all(&[0x71])), "TLV without a length");
        assert_eq!(
            malformed_reason(parse_all(&[0x71, 0x81])),
            "truncated TLV length"
        );
        assert_eq!(
            malformed_reason(parse_all(&[0x71, 0x82, 0x01])),
            "truncated TLV length"
        );
    }

    #[test]
    fn unsupported_length_forms_are_errors() {
        assert_eq!(
            malformed_reason(parse_all(&[0x71, 0x80])),
            "unsupported TLV length form"
        );
        assert_eq!(
            malformed_reason(parse_all(&[0x71, 0x83, 0, 0, 1])),
            "unsupported TLV length form"
        );
    }

    #[test]
    fn reader_stops_after_the_first_error() {
        let mut items = TlvReader::new(&[0x71, 0x00, 0x72, 0x09]);
        assert!(items.next().is_some_and(|first| first.is_ok()));
        assert_eq!(
            malformed_reason(items.next().unwrap()),
            "TLV longer than the response"
        );
        assert!(items.next().is_none());
    }

    #[test]
    fn push_chooses_the_shortest_length_form() {
        let mut out = Vec::new();
        push(&mut out, 0x71, &[0; 0x7F]);
        assert_eq!(&out[..2], &[0x71, 0x7F]);
        out.clear();
        push(&mut out, 0x71, &[0; 0x80]);
        assert_eq!(&out[..3], &[0x71, 0x81, 0x80]);
        out.clear();
        push(&mut out, 0x71, &[0; 0x100]);
        assert_eq!(&out[..4], &[0x71, 0x82, 0x01, 0x00]);
    }

    #[test]
    fn find_returns_the_first_matching_tag_whatever_the_order() {
        let tlvs = parse_all(&[0x74, 0x01, 9, 0x79, 0x01, 5, 0x74, 0x01, 8]).unwrap();
        assert_eq!(find(&tlvs, 0x79), Some(&[5u8][..]));
        assert_eq!(find(&tlvs, 0x74), Some(&[9u8][..]));
        assert_eq!(find(&tlvs, 0x71), None);
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_fail_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_all(&bytes);
        }

        #[test]
        fn push_then_parse_gives_the_value_back(tag in any::<u8>(), value in proptest::collection::vec(any::<u8>(), 0..700)) {
            let mut out = Vec::new();
            push(&mut out, tag, &value);
            let tlvs = parse_all(&out).unwrap();
            prop_assert_eq!(tlvs, vec![Tlv { tag, value: &value }]);
        }
    }
}
