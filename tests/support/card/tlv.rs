//! The BER-TLV subset YKOATH uses: one-byte tags, lengths `n`, `81 n`, `82 nn`.
//! PUT's property tag `78` is the protocol's one oddity: a raw byte, no length.

pub const TAG_PROPERTY: u8 = 0x78;

/// Encodes one TLV.
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match value.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n <= 0xFF => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(value);
    out
}

/// Splits `data` into `(tag, value)` pairs, in order. `None` on any
/// malformed length. With `raw_property`, tag `78` takes exactly one
/// value byte and no length, as PUT sends it.
pub fn parse(data: &[u8], raw_property: bool) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some((&tag, after_tag)) = rest.split_first() {
        if raw_property && tag == TAG_PROPERTY {
            let (value, after) = after_tag.split_at_checked(1)?;
            out.push((tag, value));
            rest = after;
            continue;
        }
        let (len, after_len) = match after_tag.split_first()? {
            (&0x81, more) => (usize::from(*more.first()?), more.get(1..)?),
            (&0x82, more) => {
                let (len, after) = more.split_at_checked(2)?;
                (usize::from(u16::from_be_bytes([len[0], len[1]])), after)
            }
            (&n, more) if n < 0x80 => (usize::from(n), more),
            _ => return None,
        };
        let (value, after) = after_len.split_at_checked(len)?;
        out.push((tag, value));
        rest = after;
    }
    Some(out)
}

/// The value of the first TLV with `tag`.
pub fn find<'a>(tlvs: &[(u8, &'a [u8])], tag: u8) -> Option<&'a [u8]> {
    tlvs.iter().find(|(t, _)| *t == tag).map(|(_, v)| *v)
}
