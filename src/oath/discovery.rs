//! Finding the YubiKey to talk to: PC/SC readers, YubiKey-named ones first;
//! a reader with no card, or with a card that does not answer the OATH
//! SELECT, is passed over silently. Picks one key by serial or reader name.
//!
//! Used by `vegas oath …` and by `assume`; knows nothing of either.

use std::ffi::CString;

use super::device::{read_device, DeviceFacts};
use super::pcsc::{pcsc_error, PcscTransport};
use super::session::{Session, Version};
use super::Error;

/// Which key the user asked for (`--serial`, `--reader`,
/// `vegas_yubikey_serial`, `VEGAS_READER`). Empty: "the only one there is".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySelector {
    pub serial: Option<u32>,
    /// A part of the reader's name, compared ignoring case.
    pub reader: Option<String>,
}

/// What vegas knows of a key once found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The PC/SC reader name.
    pub reader: String,
    /// `None` when the key does not tell it.
    pub serial: Option<u32>,
    /// The OATH applet's version (the firmware version on YubiKey 4 and 5;
    /// the NEO's OATH applet numbers its own, below 3.0.0).
    pub version: Version,
    /// The key's firmware version, read with the serial; `None` when not
    /// read (see [`KeyInfo::firmware`]).
    pub firmware: Option<Version>,
    /// ykman's device id for the OATH applet (from its salt).
    pub device_id: String,
    /// Whether the OATH applet has a password.
    pub locked: bool,
}

impl KeyInfo {
    /// The firmware version: as the Management or OTP applet told it, else
    /// the OATH applet's version.
    pub fn firmware(&self) -> Version {
        self.firmware.unwrap_or(self.version)
    }

    /// "serial 12345678" or, without a serial, the reader name.
    pub fn label(&self) -> String {
        match self.serial {
            Some(serial) => format!("serial {serial}"),
            None => format!("in reader \"{}\"", self.reader),
        }
    }
}

/// A key found, with its OATH applet selected.
pub type OpenKey = (KeyInfo, Session<PcscTransport>);

/// Whether a key's serial number is read while it is found. Reading it costs
/// three APDUs (SELECT Management, READ CONFIG, SELECT OATH again), so the
/// code path reads it only when it must choose among keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Serial {
    /// Always (`vegas oath keys`, `vegas doctor`: the serial is shown).
    Read,
    /// Only when the selector names a serial.
    WhenSelected,
}

/// Open the one key `selector` designates, with the fewest APDUs: with one
/// key attached and no serial asked for, the OATH SELECT alone. The serial
/// is read when the selector names one, or to tell several keys apart in
/// the error; otherwise [`KeyInfo::serial`] is `None`.
pub fn open_key(selector: &KeySelector) -> Result<OpenKey, Error> {
    let mut keys = keys_where(selector, Serial::WhenSelected)?;
    if keys.len() > 1 {
        let found = keys
            .iter_mut()
            .map(|(info, session)| {
                if info.serial.is_none() {
                    info.serial = session.read_serial().ok().flatten();
                }
                info.label()
            })
            .collect();
        return Err(Error::SeveralKeys { found });
    }
    keys.pop().ok_or(Error::NoYubiKey { readers: 0 })
}

/// Every key `selector` allows, in reader order (YubiKey readers first),
/// each with its serial read. Errors when none is found, saying why.
pub fn find_keys(selector: &KeySelector) -> Result<Vec<OpenKey>, Error> {
    keys_where(selector, Serial::Read)
}

/// Whether a key `selector` allows is attached, sending as little as
/// possible: a card whose ATR says it is a YubiKey counts without a single
/// APDU (its OATH application is checked when it is used); other cards, and
/// any selector naming a serial, are opened as [`open_key`] opens them
/// (several keys are no error here).
pub fn key_present(selector: &KeySelector) -> Result<(), Error> {
    if selector.serial.is_none() {
        let context = establish()?;
        let readers = list_readers(&context)?;
        let mut states: Vec<pcsc::ReaderState> = readers
            .iter()
            .filter(|r| reader_matches(r, selector))
            .map(|r| pcsc::ReaderState::new(r.clone(), pcsc::State::UNAWARE))
            .collect();
        if !states.is_empty() {
            context
                .get_status_change(std::time::Duration::ZERO, &mut states)
                .map_err(|e| pcsc_error(e, "", "reading the readers' state"))?;
            if states
                .iter()
                .any(|s| s.event_state().contains(pcsc::State::PRESENT) && is_yubikey_atr(s.atr()))
            {
                return Ok(());
            }
        }
    }
    keys_where(selector, Serial::WhenSelected).map(|_| ())
}

fn establish() -> Result<pcsc::Context, Error> {
    pcsc::Context::establish(pcsc::Scope::User)
        .map_err(|e| pcsc_error(e, "", "connecting to pcscd"))
}

fn keys_where(selector: &KeySelector, serial: Serial) -> Result<Vec<OpenKey>, Error> {
    let context = establish()?;
    let readers = list_readers(&context)?;
    let wanted_readers: Vec<&CString> = readers
        .iter()
        .filter(|r| reader_matches(r, selector))
        .collect();
    if wanted_readers.is_empty() {
        let found = readers
            .iter()
            .map(|r| format!("\"{}\"", r.to_string_lossy()))
            .collect();
        return Err(Error::NoMatchingKey {
            wanted: describe(selector),
            found,
        });
    }
    let read_serial = serial == Serial::Read || selector.serial.is_some();
    search(
        &wanted_readers,
        selector,
        |reader| probe(reader, read_serial),
        Session::release,
    )
}

/// The keys in `readers` that `selector` wants, each opened by `probe`.
/// Keys found are let go (`let_go`) before the next reader is probed: no
/// key stays reserved while others are looked at. A busy reader is passed
/// over, and its error given only when no key was found at all.
fn search<S>(
    readers: &[&CString],
    selector: &KeySelector,
    mut probe: impl FnMut(&CString) -> Result<Option<(KeyInfo, S)>, Error>,
    let_go: impl Fn(&mut S),
) -> Result<Vec<(KeyInfo, S)>, Error> {
    let mut keys: Vec<(KeyInfo, S)> = Vec::new();
    let mut others = Vec::new();
    let mut busy = None;
    for reader in readers {
        for (_, session) in &mut keys {
            let_go(session);
        }
        let (info, session) = match probe(reader) {
            Ok(Some(found)) => found,
            Ok(None) => continue,
            Err(e @ Error::KeyBusy { .. }) => {
                tracing::debug!("{e}; looking on");
                busy.get_or_insert(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        if selector.serial.is_none_or(|s| info.serial == Some(s)) {
            keys.push((info, session));
            if selector.serial.is_some() {
                break;
            }
        } else {
            others.push(info.label());
        }
    }
    if keys.is_empty() {
        if let Some(busy) = busy {
            return Err(busy);
        }
        if others.is_empty() {
            return Err(Error::NoYubiKey {
                readers: readers.len(),
            });
        }
        return Err(Error::NoMatchingKey {
            wanted: describe(selector),
            found: others,
        });
    }
    Ok(keys)
}

/// The names of the readers pcscd knows, YubiKeys first: whether PC/SC
/// works at all, before any card is spoken to (for `vegas doctor`).
pub fn readers() -> Result<Vec<String>, Error> {
    let context = establish()?;
    Ok(list_readers(&context)?
        .iter()
        .map(|r| r.to_string_lossy().into_owned())
        .collect())
}

/// The reader names, YubiKeys first (otherwise in PC/SC's order).
fn list_readers(context: &pcsc::Context) -> Result<Vec<CString>, Error> {
    let mut readers = context
        .list_readers_owned()
        .map_err(|e| pcsc_error(e, "", "listing readers"))?;
    if readers.is_empty() {
        return Err(Error::NoReaders);
    }
    readers.sort_by_key(|r| !is_yubikey_reader(&r.to_string_lossy()));
    Ok(readers)
}

/// Whether a card's ATR names a YubiKey: its historical bytes carry
/// "YubiKey" (5 series), "Yubikey4" or "YubikeyNEO", in either case.
pub fn is_yubikey_atr(atr: &[u8]) -> bool {
    atr.windows(7).any(|w| w.eq_ignore_ascii_case(b"yubikey"))
}

/// ykman's test for a YubiKey's reader.
pub fn is_yubikey_reader(name: &str) -> bool {
    name.to_lowercase().contains("yubico yubikey")
}

fn reader_matches(reader: &CString, selector: &KeySelector) -> bool {
    selector.reader.as_deref().is_none_or(|wanted| {
        reader
            .to_string_lossy()
            .to_lowercase()
            .contains(&wanted.to_lowercase())
    })
}

fn describe(selector: &KeySelector) -> String {
    match (selector.serial, selector.reader.as_deref()) {
        (Some(serial), Some(reader)) => {
            format!("serial {serial} in a reader matching \"{reader}\"")
        }
        (Some(serial), None) => format!("serial {serial}"),
        (None, Some(reader)) => format!("a reader matching \"{reader}\""),
        (None, None) => "any YubiKey".to_owned(),
    }
}

/// Connect to `reader` and open its OATH applet (reading the serial first
/// when `with_serial`); `None` when there is no card, or the card is not an
/// OATH key. Only pcscd going away and a busy key are errors. (Each
/// connection has a PC/SC context of its own: see [`PcscTransport::connect`].)
fn probe(reader: &CString, with_serial: bool) -> Result<Option<OpenKey>, Error> {
    let name = reader.to_string_lossy().into_owned();
    probe_with(&name, || {
        PcscTransport::connect(reader).and_then(|transport| open_on(transport, &name, with_serial))
    })
}

/// [`probe`]'s judgement of what `open` gives, once more after a reset.
fn probe_with<R>(name: &str, open: impl FnMut() -> Result<R, Error>) -> Result<Option<R>, Error> {
    match once_more_after_reset(name, open) {
        Ok(key) => Ok(Some(key)),
        // A card held by another program is there: say so, never "missing".
        Err(e @ (Error::PcscdNotRunning | Error::KeyBusy { .. })) => Err(e),
        Err(e) => {
            tracing::debug!("skipping reader \"{name}\": {e}");
            Ok(None)
        }
    }
}

/// Run `open` once more when the card was reset under it (another program
/// reset it between our connect and our first command): the key is still
/// there, and must not be passed over as missing.
fn once_more_after_reset<R>(
    reader: &str,
    mut open: impl FnMut() -> Result<R, Error>,
) -> Result<R, Error> {
    match open() {
        Err(e @ Error::CardReset { .. }) => {
            tracing::debug!("{e} while opening the key in \"{reader}\"; once more");
            open()
        }
        other => other,
    }
}

/// Open the OATH applet of the card `transport` reaches (reading the serial
/// first when `with_serial`).
fn open_on(mut transport: PcscTransport, name: &str, with_serial: bool) -> Result<OpenKey, Error> {
    // Held from here to the end of the first operation (see `Session`):
    // serial, SELECT and what follows in one transaction.
    super::transport::Transport::hold(&mut transport)?;
    let facts = if with_serial {
        super::transport::Transport::transaction(&mut transport, read_device)?
    } else {
        DeviceFacts::default()
    };
    let session = Session::open(transport)?;
    let info = KeyInfo {
        reader: name.to_owned(),
        serial: facts.serial,
        version: session.version(),
        firmware: facts.firmware,
        device_id: session.device_id(),
        locked: session.has_password(),
    };
    Ok((info, session))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oath::testing::hex;

    #[test]
    fn yubikey_readers_are_recognised_ignoring_case() {
        assert!(is_yubikey_reader("Yubico YubiKey OTP+FIDO+CCID 00 00"));
        assert!(is_yubikey_reader("yubico yubikey ccid"));
        assert!(!is_yubikey_reader("Alcor Micro AU9540 00 00"));
    }

    #[test]
    fn yubikey_atrs_are_recognised_by_their_historical_bytes() {
        // YubiKey 5 (USB), YubiKey 4, YubiKey NEO, as pcscd reports them.
        let yk5 = hex("3BFD1300008131FE158073C021C057597562694B657940");
        let yk4 = hex("3BF81300008131FE15597562696B657934D4");
        let neo = hex("3BFC1300008131FE15597562696B65794E454F7233E1");
        let other = hex("3B8F8001804F0CA000000306030001000000006A");
        assert!(is_yubikey_atr(&yk5) && is_yubikey_atr(&yk4) && is_yubikey_atr(&neo));
        assert!(!is_yubikey_atr(&other));
        assert!(!is_yubikey_atr(&[]));
    }

    #[test]
    fn reader_selection_is_a_case_insensitive_substring() {
        let reader = CString::new("Yubico YubiKey OTP+FIDO+CCID 00 01").unwrap();
        let select = |r: &str| KeySelector {
            serial: None,
            reader: Some(r.into()),
        };
        assert!(reader_matches(&reader, &select("00 01")));
        assert!(reader_matches(&reader, &select("yubikey otp")));
        assert!(!reader_matches(&reader, &select("00 00")));
        assert!(reader_matches(&reader, &KeySelector::default()));
    }

    #[test]
    fn a_reset_while_a_key_is_opened_opens_it_once_more_and_only_once() {
        let reset = || Error::CardReset { reader: "R".into() };
        let mut calls = 0;
        let outcome = once_more_after_reset("R", || {
            calls += 1;
            if calls == 1 {
                Err(reset())
            } else {
                Ok("opened")
            }
        });
        assert_eq!((outcome.ok(), calls), (Some("opened"), 2));

        let mut calls = 0;
        let outcome: Result<(), _> = once_more_after_reset("R", || {
            calls += 1;
            Err(reset())
        });
        assert!(matches!(outcome, Err(Error::CardReset { .. })));
        assert_eq!(calls, 2);

        let mut calls = 0;
        let outcome: Result<(), _> = once_more_after_reset("R", || {
            calls += 1;
            Err(Error::NoYubiKey { readers: 1 })
        });
        assert!(outcome.is_err());
        assert_eq!(calls, 1, "other failures are not retried");
    }

    fn key(reader: &str) -> KeyInfo {
        KeyInfo {
            reader: reader.into(),
            serial: None,
            version: Version(5, 4, 3),
            firmware: None,
            device_id: String::new(),
            locked: false,
        }
    }

    fn busy(reader: &str) -> Error {
        Error::KeyBusy {
            reader: reader.into(),
        }
    }

    /// `search` over readers A and B; a key is a flag that says it is held.
    fn search_ab(
        mut probe: impl FnMut(&str) -> Result<Option<KeyInfo>, Error>,
    ) -> Result<Vec<String>, Error> {
        use std::cell::Cell;
        use std::rc::Rc;
        let (a, b) = (CString::new("A").unwrap(), CString::new("B").unwrap());
        let held: Rc<Cell<bool>> = Rc::default();
        let keys = search(
            &[&a, &b],
            &KeySelector::default(),
            |reader| {
                let name = reader.to_str().unwrap();
                assert!(
                    !held.get(),
                    "a key found is still held while {name} is probed"
                );
                Ok(probe(name)?.map(|info| {
                    held.set(true);
                    (info, Rc::clone(&held))
                }))
            },
            |held| held.set(false),
        )?;
        Ok(keys.into_iter().map(|(info, _)| info.reader).collect())
    }

    #[test]
    fn the_key_found_is_let_go_before_the_next_reader_is_probed() {
        let found = search_ab(|name| Ok((name == "A").then(|| key(name))));
        assert_eq!(found.unwrap(), ["A"]);
    }

    #[test]
    fn a_busy_reader_after_a_key_was_found_does_not_fail_the_search() {
        let found = search_ab(|name| match name {
            "A" => Ok(Some(key(name))),
            _ => Err(busy(name)),
        });
        assert_eq!(found.unwrap(), ["A"]);
    }

    #[test]
    fn a_busy_reader_before_a_key_is_found_does_not_fail_the_search() {
        let found = search_ab(|name| match name {
            "A" => Err(busy(name)),
            _ => Ok(Some(key(name))),
        });
        assert_eq!(found.unwrap(), ["B"]);
    }

    #[test]
    fn a_busy_reader_and_no_key_elsewhere_is_the_busy_error_never_a_missing_key() {
        let found = search_ab(|name| match name {
            "A" => Err(busy(name)),
            _ => Ok(None),
        });
        assert!(matches!(found, Err(Error::KeyBusy { reader }) if reader == "A"));
    }

    #[test]
    fn a_probe_opens_a_key_reset_under_it_once_more_and_finds_it() {
        let mut calls = 0;
        let found = probe_with("R", || {
            calls += 1;
            match calls {
                1 => Err(Error::CardReset { reader: "R".into() }),
                _ => Ok("opened"),
            }
        });
        assert_eq!((found.unwrap(), calls), (Some("opened"), 2));
    }

    #[test]
    fn a_probe_passes_over_a_reader_without_a_key_but_reports_a_busy_one() {
        let nothing: Result<Option<()>, _> =
            probe_with("R", || Err(Error::NoYubiKey { readers: 1 }));
        assert_eq!(nothing.unwrap(), None);
        let busy: Result<Option<()>, _> =
            probe_with("R", || Err(Error::KeyBusy { reader: "R".into() }));
        assert!(matches!(busy, Err(Error::KeyBusy { .. })));
    }

    #[test]
    fn key_label_prefers_the_serial() {
        let mut info = KeyInfo {
            reader: "R 00 00".into(),
            serial: Some(7),
            version: Version(5, 4, 3),
            firmware: None,
            device_id: String::new(),
            locked: false,
        };
        assert_eq!(info.label(), "serial 7");
        info.serial = None;
        assert_eq!(info.label(), "in reader \"R 00 00\"");
    }
}
