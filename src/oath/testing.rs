//! Test transports: a card that follows a script of expected APDUs and
//! answers, and a card that answers noise.

use std::collections::VecDeque;

use super::transport::Transport;
use super::Error;

/// Bytes from hex, ignoring spaces.
pub fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

type Responder = Box<dyn FnMut(&[u8]) -> Vec<u8>>;

enum Step {
    Exact { apdu: Vec<u8>, response: Vec<u8> },
    Computed(Responder),
}

/// A card that expects exactly the scripted APDUs, in order.
#[derive(Default)]
pub struct ScriptedCard {
    steps: VecDeque<Step>,
}

impl ScriptedCard {
    pub fn new() -> Self {
        Self::default()
    }

    /// Expect `apdu` (hex) next and answer `response` (hex, data + SW).
    pub fn expect(mut self, apdu: &str, response: &str) -> Self {
        self.steps.push_back(Step::Exact {
            apdu: hex(apdu),
            response: hex(response),
        });
        self
    }

    /// Answer the next APDU, whatever it is, with what `responder` computes.
    pub fn respond(mut self, responder: impl FnMut(&[u8]) -> Vec<u8> + 'static) -> Self {
        self.steps.push_back(Step::Computed(Box::new(responder)));
        self
    }

    pub fn assert_done(&self) {
        assert!(
            self.steps.is_empty(),
            "{} scripted APDUs were never sent",
            self.steps.len()
        );
    }
}

impl Transport for ScriptedCard {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        match self.steps.pop_front() {
            Some(Step::Exact {
                apdu: expected,
                response,
            }) => {
                assert_eq!(to_hex(apdu), to_hex(&expected), "unexpected APDU");
                Ok(response)
            }
            Some(Step::Computed(mut responder)) => Ok(responder(apdu)),
            None => panic!("APDU after the end of the script: {}", to_hex(apdu)),
        }
    }
}

/// A card whose SELECT answer is arbitrary data (with `9000`) and whose later
/// answers are arbitrary bytes, some with `9000` appended; then it is gone.
pub struct Chaos {
    answers: VecDeque<Vec<u8>>,
}

impl Chaos {
    pub fn new(mut select: Vec<u8>, answers: Vec<Vec<u8>>) -> Self {
        select.extend([0x90, 0x00]);
        let mut queue = VecDeque::from([select]);
        for mut answer in answers {
            if answer.first().is_some_and(|b| *b < 0x80) {
                answer.extend([0x90, 0x00]);
            }
            queue.push_back(answer);
        }
        Chaos { answers: queue }
    }
}

impl Transport for Chaos {
    fn transmit(&mut self, _apdu: &[u8]) -> Result<Vec<u8>, Error> {
        self.answers.pop_front().ok_or(Error::CardRemoved {
            reader: "chaos".into(),
        })
    }
}

/// Why a parse failed, when it failed as [`Error::Malformed`]; anything else
/// (success, another error) is shown as what it is, so that an assertion on
/// the reason names what happened instead.
pub fn malformed_reason<T>(result: Result<T, Error>) -> String {
    match result {
        Err(Error::Malformed(what)) => what.to_owned(),
        Err(other) => format!("not Malformed: {other:?}"),
        Ok(_) => "Ok".to_owned(),
    }
}

/// A scripted card that records, for each APDU, which reservation of the
/// card (a [`Transport::transaction`] or a [`Transport::hold`]) it came in:
/// `Some(n)` for the n-th, `None` outside any, where another program could
/// have come between.
pub struct ReservedCard {
    pub card: ScriptedCard,
    held: bool,
    in_transaction: bool,
    reservations: u32,
    pub sent_in: Vec<Option<u32>>,
}

impl ReservedCard {
    pub fn new(card: ScriptedCard) -> Self {
        ReservedCard {
            card,
            held: false,
            in_transaction: false,
            reservations: 0,
            sent_in: Vec::new(),
        }
    }

    pub fn is_held(&self) -> bool {
        self.held
    }
}

impl Transport for ReservedCard {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        let reserved = self.held || self.in_transaction;
        self.sent_in.push(reserved.then_some(self.reservations));
        self.card.transmit(apdu)
    }

    fn transaction<R>(
        &mut self,
        work: impl FnOnce(&mut dyn Transport) -> Result<R, Error>,
    ) -> Result<R, Error> {
        if self.held || self.in_transaction {
            return work(self);
        }
        self.reservations += 1;
        self.in_transaction = true;
        let result = work(self);
        self.in_transaction = false;
        result
    }

    fn hold(&mut self) -> Result<(), Error> {
        if !self.held {
            self.reservations += 1;
            self.held = true;
        }
        Ok(())
    }

    fn release(&mut self) {
        self.held = false;
    }
}
