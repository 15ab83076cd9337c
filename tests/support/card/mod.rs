//! The virtual YubiKey: a YubiKey 5 as a smart card sees it, in memory.
//!
//! Every vegas feature that talks to a key is tested against this card,
//! behind a real pcscd (see `pcscd.rs` and [`vpcd`]), and ykman agrees with
//! it (tests/card_ykman.rs), which is what makes it a faithful double.
//! It answers the OATH applet completely, the Management and OTP applets
//! enough for a client to read the serial, and records what it was asked
//! ([`CardHandle`]) so a test can say "the key was never touched".
//!
//! `process` is pure protocol logic; the only waiting is a touch account's
//! simulated touch, which blocks the card as a real key does, and an optional
//! delay per APDU ([`CardHandle::set_apdu_delay`]) like a key on USB.
//! A minimal PIV applet answers SELECT, so that a neighbour (another PC/SC
//! client) can switch applets under vegas as a real desk's programs do.

pub mod account;
pub mod fixture;
pub mod handle;
pub mod management;
pub mod oath;
pub mod tlv;
pub mod vpcd;

// The card's API for tests; each test binary uses a different part of it.
#[allow(unused_imports)]
pub use account::{Account, Algorithm, OathKind};
#[allow(unused_imports)]
pub use handle::{CardFault, CardHandle, TouchResponse};

use management::DeviceIdentity;
use oath::OathApplet;

/// The ATR of a YubiKey 5 over USB (ykman reads byte 1's high nibble as "USB").
pub const YUBIKEY_5_ATR: &[u8] = &[
    0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73, 0xC0, 0x21, 0xC0, 0x57, 0x59,
    0x75, 0x62, 0x69, 0x4B, 0x65, 0x79, 0x40,
];

const INS_SELECT: u8 = 0xA4;
const P1_SELECT_BY_AID: u8 = 0x04;
const INS_SEND_REMAINING: u8 = 0xA5;
const CLA_CHAINING: u8 = 0x10;
/// Response data beyond this is held back for SEND REMAINING (`61xx`).
const MAX_RESPONSE_CHUNK: usize = 0xFF;

/// A status word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sw(pub u16);

impl Sw {
    pub const OK: Sw = Sw(0x9000);
    pub const WRONG_LENGTH: Sw = Sw(0x6700);
    pub const SECURITY_STATUS: Sw = Sw(0x6982);
    pub const NO_SUCH_OBJECT: Sw = Sw(0x6984);
    pub const CONDITIONS_NOT_SATISFIED: Sw = Sw(0x6985);
    pub const WRONG_DATA: Sw = Sw(0x6A80);
    pub const FILE_NOT_FOUND: Sw = Sw(0x6A82);
    pub const NO_SPACE: Sw = Sw(0x6A84);
    pub const WRONG_P1P2: Sw = Sw(0x6A86);
    pub const INS_NOT_SUPPORTED: Sw = Sw(0x6D00);
}

/// A response APDU before encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub data: Vec<u8>,
    pub sw: Sw,
}

impl Response {
    pub fn ok(data: Vec<u8>) -> Response {
        Response { data, sw: Sw::OK }
    }

    fn into_bytes(self) -> Vec<u8> {
        let mut out = self.data;
        out.extend(self.sw.0.to_be_bytes());
        out
    }
}

impl From<Sw> for Response {
    fn from(sw: Sw) -> Response {
        Response {
            data: Vec::new(),
            sw,
        }
    }
}

/// A decoded command APDU (short or extended; Le is irrelevant to this card).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: Vec<u8>,
}

impl Command {
    /// ISO 7816-4 cases 1–4, short and extended. `None` if the lengths lie.
    pub fn parse(apdu: &[u8]) -> Option<Command> {
        let (&[cla, ins, p1, p2], body) = apdu.split_first_chunk::<4>()?;
        let data: &[u8] = match body {
            [] | [_] | [0, _, _] => &[],
            [0, hi, lo, rest @ ..] => {
                let lc = usize::from(u16::from_be_bytes([*hi, *lo]));
                if lc == 0 || (rest.len() != lc && rest.len() != lc + 2) {
                    return None;
                }
                rest.get(..lc)?
            }
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                if rest.len() != lc && rest.len() != lc + 1 {
                    return None;
                }
                rest.get(..lc)?
            }
        };
        Some(Command {
            cla,
            ins,
            p1,
            p2,
            data: data.to_vec(),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Applet {
    Oath,
    Management,
    Otp,
    /// Answers SELECT and nothing else (`6D00`): enough to take the card
    /// away from the OATH applet, as yubikey-agent or a browser does.
    Piv,
}

/// The version a NEO's OATH applet (ykneo-oath) reports: its own numbering,
/// below 3.0.0, not the firmware's.
pub const NEO_OATH_VERSION: [u8; 3] = [0, 2, 6];
/// yubikit's de-select of a NEO's Management applet: CLA A4, INS 04, P1 00,
/// P2 08, nothing else.
const NEO_DESELECT: [u8; 4] = [0xA4, 0x04, 0x00, 0x08];

/// AID of the PIV applet (NIST SP 800-73), as on a YubiKey.
pub const PIV_AID: &[u8] = &[0xA0, 0x00, 0x00, 0x03, 0x08];

/// A YubiKey 5 with an OATH applet, as a card reader sees it.
#[derive(Debug)]
pub struct VirtualYubiKey {
    identity: DeviceIdentity,
    oath: OathApplet,
    selected: Option<Applet>,
    /// Response data not yet fetched with SEND REMAINING.
    pending_response: Vec<u8>,
    /// Command data received so far with the chaining bit set.
    chained_command: Vec<u8>,
    /// When the last answer with more than 54 bytes of data went out, if the
    /// answer after it has not (YubiKey 4.2.0–4.2.6's touch quirk). An
    /// answer is measured whole, its SEND REMAINING chunks together, as
    /// yubikit measures it.
    long_answer_at: Option<std::time::Instant>,
    /// Data bytes of the answer going out so far, chunks included.
    answered: usize,
    handle: CardHandle,
}

/// YubiKey 4.2.0–4.2.6 over USB hang on a touch CALCULATE sent within this
/// long of an answer longer than [`LONG_ANSWER`] bytes, unless another APDU
/// comes between (yubikit's `TouchWorkaroundProcessor`).
const TOUCH_QUIRK_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);
const LONG_ANSWER: usize = 54;

impl VirtualYubiKey {
    /// An empty YubiKey 5 (firmware 5.7.2, room for 64 accounts) with `serial`.
    pub fn new(serial: u32) -> VirtualYubiKey {
        let version = [5, 7, 2];
        VirtualYubiKey {
            identity: DeviceIdentity { serial, version },
            oath: OathApplet::new(version),
            selected: None,
            pending_response: Vec::new(),
            chained_command: Vec::new(),
            long_answer_at: None,
            answered: 0,
            handle: CardHandle::default(),
        }
    }

    /// Firmware version for every applet. Call before adding accounts:
    /// the OATH applet is recreated (firmware before 5.7 holds 32 accounts).
    /// A 3.x version makes a YubiKey NEO (see [`DeviceIdentity::is_neo`]),
    /// whose OATH applet reports [`NEO_OATH_VERSION`].
    pub fn with_version(mut self, version: [u8; 3]) -> VirtualYubiKey {
        self.identity.version = version;
        let oath_version = if self.identity.is_neo() {
            NEO_OATH_VERSION
        } else {
            version
        };
        self.oath = OathApplet::new(oath_version);
        self
    }

    pub fn with_account(mut self, account: Account) -> VirtualYubiKey {
        self.oath.add(account);
        self
    }

    pub fn with_accounts(mut self, accounts: impl IntoIterator<Item = Account>) -> VirtualYubiKey {
        for account in accounts {
            self.oath.add(account);
        }
        self
    }

    /// Protects the OATH applet with `password`, as `ykman oath access change` does.
    pub fn with_password(mut self, password: &str) -> VirtualYubiKey {
        self.oath.set_password(password);
        self
    }

    /// How touches are answered at first; change it later through the handle.
    pub fn with_touch_response(self, response: TouchResponse) -> VirtualYubiKey {
        self.handle.set_touch_response(response);
        self
    }

    /// The card described by `fixtures/cards/NAME.json`; panics if it is invalid.
    pub fn fixture(name: &str) -> VirtualYubiKey {
        let path = fixture::path(name);
        fixture::load(&path).unwrap_or_else(|e| panic!("card fixture {}: {e}", path.display()))
    }

    pub fn serial(&self) -> u32 {
        self.identity.serial
    }

    /// The counters of this card; clone it before the card moves to its reader.
    pub fn handle(&self) -> CardHandle {
        self.handle.clone()
    }

    /// The account with on-card id `id` (to compute the codes a test expects).
    pub fn account(&self, id: &str) -> Option<Account> {
        self.oath.account(id)
    }

    pub fn power_on(&mut self) {
        self.forget_session();
    }

    pub fn power_off(&mut self) {
        self.forget_session();
    }

    pub fn reset(&mut self) {
        self.handle.note_reset();
        self.forget_session();
    }

    fn forget_session(&mut self) {
        self.selected = None;
        self.pending_response.clear();
        self.chained_command.clear();
        self.oath.forget_session();
    }

    /// Answers one command APDU with response data followed by SW1 SW2.
    pub fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.note(apdu);
        let response = match Command::parse(apdu) {
            Some(command) => self.execute(command),
            None => Sw::WRONG_LENGTH.into(),
        };
        response.into_bytes()
    }

    /// Like [`Self::process`], unless a test armed a [`CardFault`] for this
    /// instruction; `None` means the card vanishes instead of answering.
    pub fn answer(&mut self, apdu: &[u8]) -> Option<Vec<u8>> {
        let delay = self.handle.apdu_delay();
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        if self.touch_quirk_hangs_on(apdu) {
            // The firmware hangs: the host sees the key go away.
            self.note(apdu);
            return None;
        }
        let answer = self.answer_unhung(apdu);
        self.measure(answer.as_deref());
        answer
    }

    /// Note how long the answer is, whole: the quirk's window opens when the
    /// last chunk of a long answer goes out, however short that chunk.
    fn measure(&mut self, answer: Option<&[u8]>) {
        self.long_answer_at = None;
        let Some((data, [sw1, _])) = answer.and_then(|a| a.split_last_chunk::<2>()) else {
            self.answered = 0;
            return;
        };
        self.answered += data.len();
        if *sw1 != 0x61 {
            if self.answered > LONG_ANSWER {
                self.long_answer_at = Some(std::time::Instant::now());
            }
            self.answered = 0;
        }
    }

    /// Whether this firmware has the 4.2 touch quirk and `apdu` triggers it.
    fn touch_quirk_hangs_on(&self, apdu: &[u8]) -> bool {
        let quirky = ([4, 2, 0]..=[4, 2, 6]).contains(&self.identity.version);
        let recent = self
            .long_answer_at
            .is_some_and(|at| at.elapsed() < TOUCH_QUIRK_WINDOW);
        if !(quirky && recent && self.selected == Some(Applet::Oath)) {
            return false;
        }
        let Some(command) = Command::parse(apdu) else {
            return false;
        };
        let touch_account = || {
            tlv::parse(&command.data, false)
                .and_then(|tlvs| {
                    let id = tlv::find(&tlvs, 0x71)?;
                    self.oath.account(&String::from_utf8_lossy(id))
                })
                .is_some_and(|account| account.touch)
        };
        command.ins == 0xA2 && touch_account()
    }

    fn answer_unhung(&mut self, apdu: &[u8]) -> Option<Vec<u8>> {
        let fault = apdu.get(1).and_then(|&ins| self.handle.take_fault(ins));
        let Some(fault) = fault else {
            return Some(self.process(apdu));
        };
        self.note(apdu);
        match fault {
            CardFault::Vanish => None,
            CardFault::Garbage => Some(vec![0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0xFF, 0x90, 0x00]),
            CardFault::NoStatusWord => Some(vec![0x90]),
            CardFault::Truncated => {
                let mut response = self.process(apdu);
                let data_len = response.len().saturating_sub(2);
                let sw = response.split_off(data_len);
                response.truncate(data_len / 2);
                response.extend(if sw == [0x90, 0x00] || sw.first() == Some(&0x61) {
                    vec![0x90, 0x00]
                } else {
                    sw
                });
                Some(response)
            }
        }
    }

    fn note(&self, apdu: &[u8]) {
        if let Some(&ins) = apdu.get(1) {
            self.handle.note_instruction(ins, self.name_of(apdu));
        }
    }

    /// What a command is, by the applet it goes to (for the APDU log).
    fn name_of(&self, apdu: &[u8]) -> String {
        let Some(command) = Command::parse(apdu) else {
            return "MALFORMED".into();
        };
        if command.ins == INS_SELECT && command.p1 == P1_SELECT_BY_AID {
            let applet = match command.data.as_slice() {
                oath::AID => "OATH",
                management::MANAGEMENT_AID => "MANAGEMENT",
                management::OTP_AID => "OTP",
                PIV_AID => "PIV",
                _ => "UNKNOWN",
            };
            return format!("SELECT {applet}");
        }
        let name = match (self.selected, command.ins) {
            (Some(Applet::Oath), 0x01) => "PUT",
            (Some(Applet::Oath), 0x02) => "DELETE",
            (Some(Applet::Oath), 0x03) => "SET CODE",
            (Some(Applet::Oath), 0x04) => "RESET",
            (Some(Applet::Oath), 0x05) => "RENAME",
            (Some(Applet::Oath), 0xA1) => "LIST",
            (Some(Applet::Oath), 0xA2) => "CALCULATE",
            (Some(Applet::Oath), 0xA3) => "VALIDATE",
            (Some(Applet::Oath), 0xA4) => "CALCULATE ALL",
            (Some(Applet::Oath), 0xA5) => "SEND REMAINING",
            (Some(Applet::Management), 0x1D) => "READ CONFIG",
            (Some(Applet::Otp), 0x01) => "OTP READ SERIAL",
            _ => return format!("INS {:02X}", command.ins),
        };
        name.to_owned()
    }

    fn execute(&mut self, mut command: Command) -> Response {
        if command.ins == INS_SEND_REMAINING && self.selected == Some(Applet::Oath) {
            return self.send_remaining();
        }
        self.pending_response.clear();
        if command.cla & CLA_CHAINING != 0 {
            self.chained_command.extend(command.data);
            return Response::ok(Vec::new());
        }
        if !self.chained_command.is_empty() {
            let mut data = std::mem::take(&mut self.chained_command);
            data.extend(command.data);
            command.data = data;
        }
        let neo_in_management = self.identity.is_neo() && self.selected == Some(Applet::Management);
        if neo_in_management && [command.cla, command.ins, command.p1, command.p2] == NEO_DESELECT {
            self.selected = None;
            return Sw::WRONG_LENGTH.into();
        }
        let response = if command.ins == INS_SELECT && command.p1 == P1_SELECT_BY_AID {
            if neo_in_management && command.data != management::MANAGEMENT_AID {
                // Stuck in Management until de-selected.
                return Sw::FILE_NOT_FOUND.into();
            }
            self.select(&command.data)
        } else {
            match self.selected {
                Some(Applet::Oath) => self.oath.process(&command, &self.handle),
                Some(Applet::Management) => self.identity.process_management(&command),
                Some(Applet::Otp) => self.identity.process_otp(&command),
                Some(Applet::Piv) | None => Sw::INS_NOT_SUPPORTED.into(),
            }
        };
        self.hold_back_excess(response)
    }

    /// SELECT by AID; an unknown AID leaves the current applet selected.
    fn select(&mut self, aid: &[u8]) -> Response {
        let (applet, response) = match aid {
            oath::AID => (Applet::Oath, self.oath.select()),
            management::MANAGEMENT_AID => (Applet::Management, self.identity.select_management()),
            management::OTP_AID => (Applet::Otp, self.identity.otp_status()),
            PIV_AID => (Applet::Piv, Response::ok(Vec::new())),
            _ => return Sw::FILE_NOT_FOUND.into(),
        };
        self.selected = Some(applet);
        response
    }

    /// Long answers go out in chunks: `61xx` says xx more bytes (or more) wait.
    fn hold_back_excess(&mut self, mut response: Response) -> Response {
        if response.sw != Sw::OK || response.data.len() <= MAX_RESPONSE_CHUNK {
            return response;
        }
        self.pending_response = response.data.split_off(MAX_RESPONSE_CHUNK);
        response.sw = self.more_data_sw();
        response
    }

    fn send_remaining(&mut self) -> Response {
        if self.pending_response.is_empty() {
            return Sw::CONDITIONS_NOT_SATISFIED.into();
        }
        let rest = self
            .pending_response
            .split_off(self.pending_response.len().min(MAX_RESPONSE_CHUNK));
        let chunk = std::mem::replace(&mut self.pending_response, rest);
        if self.pending_response.is_empty() {
            Response::ok(chunk)
        } else {
            Response {
                data: chunk,
                sw: self.more_data_sw(),
            }
        }
    }

    fn more_data_sw(&self) -> Sw {
        Sw(0x6100 | self.pending_response.len().min(0xFF) as u16)
    }
}
