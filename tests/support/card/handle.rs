//! What a test can see of, and change on, a card while a client talks to it:
//! the instructions it received, how often each account was calculated,
//! how touches are answered. Shared with the card's thread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How the (simulated) user answers a touch request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TouchResponse {
    /// The user touches the key after this delay; the card then answers.
    TouchedAfter(Duration),
    /// Nobody touches; after this delay the card gives up with `6982`,
    /// which ykman reports as "Touch account timed out!".
    TimesOutAfter(Duration),
}

impl Default for TouchResponse {
    fn default() -> Self {
        TouchResponse::TouchedAfter(Duration::from_millis(200))
    }
}

/// A misbehaviour a test arms on the card for one command (see
/// [`CardHandle::fail_next`]): what a flaky USB contact, a key pulled out
/// mid-command or a broken applet looks like from the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardFault {
    /// The card leaves the reader instead of answering (its vpcd socket
    /// closes): the key pulled out in the middle of the command.
    Vanish,
    /// `9000` with data that is no TLV at all.
    Garbage,
    /// The real answer with its data cut in half, then `9000`: a TLV whose
    /// length promises more than follows.
    Truncated,
    /// A single byte: not even a status word.
    NoStatusWord,
}

#[derive(Debug, Default)]
struct Record {
    instructions: Vec<u8>,
    /// Every command APDU by name ("SELECT OATH", "CALCULATE"), in order.
    log: Vec<String>,
    /// How long the card takes over each APDU (a USB key: a few ms).
    apdu_delay: Duration,
    calculations: HashMap<String, u32>,
    calculate_alls: u32,
    touches: u32,
    /// Resets the reader asked for (another client's, or pcscd's after a
    /// client died inside a transaction).
    resets: u32,
    touch_response: TouchResponse,
    /// Armed faults: (INS, fault), each used once, in order.
    faults: Vec<(u8, CardFault)>,
}

/// A cheap, cloneable view of one card. Clone it before inserting the card.
#[derive(Clone, Debug, Default)]
pub struct CardHandle(Arc<Mutex<Record>>);

impl CardHandle {
    fn record(&self) -> MutexGuard<'_, Record> {
        // A panicking test thread must not hide the record from the others.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every INS byte received, in order (SELECT is `A4` with P1 `04`,
    /// CALCULATE ALL is `A4` too: tell them apart with [`Self::calculate_alls`]).
    pub fn instructions(&self) -> Vec<u8> {
        self.record().instructions.clone()
    }

    /// Every command APDU received, by name, in order: "SELECT OATH",
    /// "VALIDATE", "CALCULATE", "LIST", "CALCULATE ALL", "SEND REMAINING",
    /// "SELECT MANAGEMENT", "READ CONFIG", "SELECT OTP", "SELECT PIV", … (an
    /// instruction the applet does not know: "INS xx"). Never any data.
    pub fn apdu_log(&self) -> Vec<String> {
        self.record().log.clone()
    }

    /// Forgets what was received so far (for a test that counts one command).
    pub fn clear_log(&self) {
        let mut record = self.record();
        record.log.clear();
        record.instructions.clear();
    }

    /// Makes the card take `delay` over each APDU, as a key on USB does
    /// (a few milliseconds); for benchmarks.
    pub fn set_apdu_delay(&self, delay: Duration) {
        self.record().apdu_delay = delay;
    }

    pub(crate) fn apdu_delay(&self) -> Duration {
        self.record().apdu_delay
    }

    /// Number of command APDUs received; 0 means no client talked to the card.
    pub fn apdu_count(&self) -> usize {
        self.record().instructions.len()
    }

    /// Number of CALCULATE commands for the account with on-card id `id`.
    pub fn calculations(&self, id: &str) -> u32 {
        self.record().calculations.get(id).copied().unwrap_or(0)
    }

    /// Number of CALCULATE commands for all accounts together.
    pub fn total_calculations(&self) -> u32 {
        self.record().calculations.values().sum()
    }

    /// Number of CALCULATE ALL commands (they never wait for a touch).
    pub fn calculate_alls(&self) -> u32 {
        self.record().calculate_alls
    }

    /// Number of touches the card asked for (touched or timed out).
    pub fn touches(&self) -> u32 {
        self.record().touches
    }

    /// Number of times the card was reset by the reader (vpcd's reset
    /// control message): what every other program on the key would feel.
    pub fn resets(&self) -> u32 {
        self.record().resets
    }

    pub(crate) fn note_reset(&self) {
        self.record().resets += 1;
    }

    /// Changes how the next touch requests are answered.
    pub fn set_touch_response(&self, response: TouchResponse) {
        self.record().touch_response = response;
    }

    /// The next command with instruction byte `ins` gets `fault` instead of
    /// its answer (once; arm it several times for several commands).
    pub fn fail_next(&self, ins: u8, fault: CardFault) {
        self.record().faults.push((ins, fault));
    }

    /// The fault armed for a command with `ins`, disarming it.
    pub(crate) fn take_fault(&self, ins: u8) -> Option<CardFault> {
        let mut record = self.record();
        let at = record.faults.iter().position(|(armed, _)| *armed == ins)?;
        Some(record.faults.remove(at).1)
    }

    pub(crate) fn note_instruction(&self, ins: u8, name: String) {
        let mut record = self.record();
        record.instructions.push(ins);
        record.log.push(name);
    }

    pub(crate) fn note_calculation(&self, id: &str) {
        *self.record().calculations.entry(id.to_owned()).or_default() += 1;
    }

    pub(crate) fn note_calculate_all(&self) {
        self.record().calculate_alls += 1;
    }

    /// Waits as the user would; `true` if the key was touched. The lock is not
    /// held while waiting, so a test can read the record meanwhile.
    pub(crate) fn await_touch(&self) -> bool {
        let response = {
            let mut record = self.record();
            record.touches += 1;
            record.touch_response
        };
        match response {
            TouchResponse::TouchedAfter(delay) => {
                std::thread::sleep(delay);
                true
            }
            TouchResponse::TimesOutAfter(delay) => {
                std::thread::sleep(delay);
                false
            }
        }
    }
}
