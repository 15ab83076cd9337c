//! YubiKey 4.2.0–4.2.6 over USB hang on a touch CALCULATE sent within 2 s
//! of a long answer; yubikit's `TouchWorkaroundProcessor` sends a dummy APDU
//! first. [`TouchQuirk`] is that processor, as a [`Transport`] around the
//! card, for the keys that need it.

use std::time::{Duration, Instant};

use super::Version;
use crate::oath::apdu::ins;
use crate::oath::transport::Transport;
use crate::oath::Error;

/// A response is "long" past this many data bytes (yubikit's figure).
const LONG_ANSWER: usize = 54;
/// How long after a long answer the 4.2 touch quirk bites.
const TOUCH_QUIRK_WINDOW: Duration = Duration::from_secs(2);
/// The dummy APDU sent between: CLA, INS, P1, P2 all zero; its error answer
/// is ignored.
const DUMMY_APDU: [u8; 4] = [0, 0, 0, 0];
/// SW1 of a chunk after which SEND REMAINING fetches more (`61xx`).
const MORE_DATA_SW1: u8 = 0x61;

/// Whether the firmware is one of YubiKey 4.2.0–4.2.6, whose OATH applet
/// hangs on a touch CALCULATE sent within 2 s of an answer longer than 54
/// bytes (yubikit's `TouchWorkaroundProcessor`).
pub(super) fn has_touch_quirk(version: Version) -> bool {
    (Version(4, 2, 0)..=Version(4, 2, 6)).contains(&version)
}

/// The card of a key with the 4.2 touch quirk: after a long answer, a dummy
/// APDU goes before the next command, as yubikit does. An answer is
/// measured whole, its SEND REMAINING chunks together (yubikit measures
/// after its response chaining): a long answer whose last chunk is short is
/// still long.
pub(super) struct TouchQuirk<'a> {
    card: &'a mut dyn Transport,
    long_answer_at: &'a mut Option<Instant>,
    /// Data bytes of the answer being received so far, chunks included.
    answered: usize,
}

impl<'a> TouchQuirk<'a> {
    pub(super) fn new(
        card: &'a mut dyn Transport,
        long_answer_at: &'a mut Option<Instant>,
    ) -> Self {
        TouchQuirk {
            card,
            long_answer_at,
            answered: 0,
        }
    }
}

impl Transport for TouchQuirk<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        if apdu.get(1) != Some(&ins::SEND_REMAINING) {
            let recent = self
                .long_answer_at
                .is_some_and(|at| at.elapsed() < TOUCH_QUIRK_WINDOW);
            if recent {
                tracing::debug!("a dummy APDU first (YubiKey 4.2 touch workaround)");
                let _ = self.card.transmit(&DUMMY_APDU)?;
            }
            self.answered = 0;
        }
        *self.long_answer_at = None;
        let answer = self.card.transmit(apdu)?;
        let (data, more) = match answer.split_last_chunk::<2>() {
            Some((data, [sw1, _])) => (data.len(), *sw1 == MORE_DATA_SW1),
            None => (0, false),
        };
        self.answered = self.answered.saturating_add(data);
        if !more && self.answered > LONG_ANSWER {
            *self.long_answer_at = Some(Instant::now());
        }
        Ok(answer)
    }
}
