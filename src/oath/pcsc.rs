//! [`Transport`] over PC/SC (pcsc-lite on Linux, the system service on macOS
//! and Windows), with the card shared so that other programs (gpg-agent,
//! ykman) keep working, and each operation inside a PC/SC transaction.
//!
//! Another program may hold the card exclusively for a moment (ykman does
//! for each command, scdaemon for as long as it lives): a sharing violation
//! is waited out for [`BUSY_PATIENCE`], then reported as a busy key, never
//! as a missing one. A card reset by another program, or pulled out and
//! put back quickly, is connected to again ([`Transport::reconnect`]).
//!
//! A transaction that outlasts one call ([`Transport::hold`]: from the
//! SELECT made while the key is found to the CALCULATE made later) cannot
//! live beside its card in one struct (`pcsc::Transaction` borrows the
//! `pcsc::Card`), so while held the card lives on a thread of its own,
//! inside the transaction, and APDUs reach it over a channel.

use std::ffi::{CStr, CString};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::transport::Transport;
use super::Error;

/// A connection to the card in one reader.
pub struct PcscTransport {
    /// `Some` until dropped (taken out to disconnect politely), and while
    /// not held: then the card is with the [`Hold`].
    card: Option<pcsc::Card>,
    /// The card on its thread, inside a transaction.
    hold: Option<Hold>,
    reader: String,
    /// The reader's name as PC/SC takes it, to connect again.
    reader_name: CString,
    /// A context of its own, so that reconnecting needs nothing else.
    context: pcsc::Context,
}

/// How long a card held by another program is waited for: long enough for
/// ykman or an authenticator's single command, short enough that a card held
/// for good (scdaemon) is reported well within ten seconds.
pub const BUSY_PATIENCE: Duration = Duration::from_secs(4);
/// How long a card pulled out is waited for before it counts as removed.
const REINSERT_PATIENCE: Duration = Duration::from_secs(3);
const RETRY_PAUSE: Duration = Duration::from_millis(100);

impl std::fmt::Debug for PcscTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscTransport")
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

impl PcscTransport {
    /// Connect (shared) to the card in `reader`, waiting out another
    /// program's exclusive hold for [`BUSY_PATIENCE`].
    pub fn connect(context: &pcsc::Context, reader: &CStr) -> Result<Self, Error> {
        let name = reader.to_string_lossy().into_owned();
        let card = patiently(&name, || {
            context.connect(reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        })
        .map_err(|e| pcsc_error(e, &name, "connecting to the card"))?;
        Ok(PcscTransport {
            card: Some(card),
            hold: None,
            reader: name,
            reader_name: reader.to_owned(),
            context: context.clone(),
        })
    }

    /// The reader's name, as PC/SC gives it.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    fn card(&mut self) -> Result<&mut pcsc::Card, Error> {
        self.card.as_mut().ok_or_else(|| Error::CardRemoved {
            reader: self.reader.clone(),
        })
    }
}

impl Transport for PcscTransport {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        if let Some(hold) = &self.hold {
            return hold.transmit(apdu, &self.reader);
        }
        let reader = self.reader.clone();
        transmit(self.card()?, &reader, apdu)
    }

    fn transaction<R>(
        &mut self,
        work: impl FnOnce(&mut dyn Transport) -> Result<R, Error>,
    ) -> Result<R, Error> {
        if self.hold.is_some() {
            return work(self);
        }
        let reader = self.reader.clone();
        let transaction = begin(self.card()?, &reader)?;
        let result = work(&mut InTransaction {
            card: &transaction,
            reader: &reader,
        });
        if let Err((_, e)) = transaction.end(pcsc::Disposition::LeaveCard) {
            tracing::debug!("ending the PC/SC transaction on {reader}: {e}");
        }
        result
    }

    /// Begin a transaction on a thread that keeps the card until
    /// [`Transport::release`] (waiting out another program's exclusive
    /// hold for [`BUSY_PATIENCE`], as [`Transport::transaction`] does).
    fn hold(&mut self) -> Result<(), Error> {
        if self.hold.is_some() {
            return Ok(());
        }
        let card = self.card.take().ok_or_else(|| Error::CardRemoved {
            reader: self.reader.clone(),
        })?;
        let (hold, begun) = Hold::begin(card, self.reader.clone());
        match begun {
            Ok(()) => {
                self.hold = Some(hold);
                Ok(())
            }
            Err(e) => {
                self.card = hold.end(&self.reader);
                Err(e)
            }
        }
    }

    fn release(&mut self) {
        if let Some(hold) = self.hold.take() {
            self.card = hold.end(&self.reader);
        }
    }

    /// Connect again: at once after a reset; after a removal, once the card
    /// is back (within a few seconds).
    fn reconnect(&mut self) -> Result<(), Error> {
        self.release();
        let reader = self.reader.clone();
        let started = Instant::now();
        loop {
            let attempt = match self.card.as_mut() {
                Some(card) => card.reconnect(
                    pcsc::ShareMode::Shared,
                    pcsc::Protocols::ANY,
                    pcsc::Disposition::LeaveCard,
                ),
                None => Err(pcsc::Error::InvalidHandle),
            };
            let outcome = match attempt {
                Ok(()) => return Ok(()),
                // The old handle may be gone with the card: a new one.
                Err(_) => self
                    .context
                    .connect(
                        &self.reader_name,
                        pcsc::ShareMode::Shared,
                        pcsc::Protocols::ANY,
                    )
                    .map(|card| {
                        // Dropping a `pcsc::Card` resets the card (and every
                        // other program's state on it): let go of the old
                        // handle the way Drop below does.
                        if let Some(old) = self.card.replace(card) {
                            if let Err((_, e)) = old.disconnect(pcsc::Disposition::LeaveCard) {
                                tracing::debug!("letting go of the old handle: {e}");
                            }
                        }
                    }),
            };
            match outcome {
                Ok(()) => return Ok(()),
                Err(
                    e @ (pcsc::Error::NoSmartcard
                    | pcsc::Error::RemovedCard
                    | pcsc::Error::UnknownReader
                    | pcsc::Error::ReaderUnavailable
                    | pcsc::Error::SharingViolation),
                ) if started.elapsed() < REINSERT_PATIENCE.max(BUSY_PATIENCE) => {
                    tracing::debug!("reconnecting to {reader}: {e}; trying again");
                    std::thread::sleep(RETRY_PAUSE);
                }
                Err(e) => return Err(pcsc_error(e, &reader, "connecting to the card again")),
            }
        }
    }
}

/// Run `connect` again while another program holds the card exclusively,
/// for at most [`BUSY_PATIENCE`].
fn patiently<R>(
    reader: &str,
    connect: impl FnMut() -> Result<R, pcsc::Error>,
) -> Result<R, pcsc::Error> {
    patiently_for(BUSY_PATIENCE, reader, connect)
}

fn patiently_for<R>(
    patience: Duration,
    reader: &str,
    mut connect: impl FnMut() -> Result<R, pcsc::Error>,
) -> Result<R, pcsc::Error> {
    let started = Instant::now();
    let mut said = false;
    loop {
        match connect() {
            Err(pcsc::Error::SharingViolation) if started.elapsed() < patience => {
                if !said {
                    tracing::debug!(
                        "{reader} is held by another program; waiting up to {} ms",
                        patience.as_millis()
                    );
                    said = true;
                }
                std::thread::sleep(RETRY_PAUSE);
            }
            other => return other,
        }
    }
}

impl Drop for PcscTransport {
    /// `pcsc::Card`'s own drop resets the card, which would disturb other
    /// programs using it; leave it as it is instead.
    fn drop(&mut self) {
        self.release();
        if let Some(card) = self.card.take() {
            if let Err((_, e)) = card.disconnect(pcsc::Disposition::LeaveCard) {
                tracing::debug!("disconnecting from {}: {e}", self.reader);
            }
        }
    }
}

/// Begin a PC/SC transaction, waiting out another program's exclusive hold
/// for [`BUSY_PATIENCE`].
fn begin<'card>(
    mut card: &'card mut pcsc::Card,
    reader: &str,
) -> Result<pcsc::Transaction<'card>, Error> {
    let begun = Instant::now();
    loop {
        match card.transaction2() {
            Ok(transaction) => return Ok(transaction),
            Err((again, pcsc::Error::SharingViolation)) if begun.elapsed() < BUSY_PATIENCE => {
                std::thread::sleep(RETRY_PAUSE);
                card = again;
            }
            Err((_, e)) => return Err(pcsc_error(e, reader, "reserving the card")),
        }
    }
}

/// A card held inside one transaction across calls: the card is on the
/// thread, which sends each APDU it is given and answers, and ends the
/// transaction and hands the card back when the sender is dropped.
struct Hold {
    apdus: mpsc::Sender<Zeroizing<Vec<u8>>>,
    answers: mpsc::Receiver<Result<Zeroizing<Vec<u8>>, Error>>,
    thread: std::thread::JoinHandle<pcsc::Card>,
}

impl Hold {
    /// Start the thread; the second value says whether the transaction
    /// began (when not, [`Hold::end`] gives the card back at once).
    fn begin(card: pcsc::Card, reader: String) -> (Hold, Result<(), Error>) {
        let (apdus, apdus_in) = mpsc::channel::<Zeroizing<Vec<u8>>>();
        let (answers_out, answers) = mpsc::channel();
        let (begun_out, begun) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut card = card;
            match begin(&mut card, &reader) {
                Err(e) => {
                    let _ = begun_out.send(Err(e));
                }
                Ok(transaction) => {
                    let _ = begun_out.send(Ok(()));
                    for apdu in apdus_in {
                        let answer = transmit(&transaction, &reader, &apdu).map(Zeroizing::new);
                        if answers_out.send(answer).is_err() {
                            break;
                        }
                    }
                    if let Err((_, e)) = transaction.end(pcsc::Disposition::LeaveCard) {
                        tracing::debug!("ending the PC/SC transaction on {reader}: {e}");
                    }
                }
            }
            card
        });
        // No word: the thread died before beginning.
        let begun = begun.recv().unwrap_or(Err(Error::Pcsc {
            action: "reserving the card",
            source: pcsc::Error::InternalError,
        }));
        let hold = Hold {
            apdus,
            answers,
            thread,
        };
        (hold, begun)
    }

    fn transmit(&self, apdu: &[u8], reader: &str) -> Result<Vec<u8>, Error> {
        let lost = || Error::CardRemoved {
            reader: reader.to_owned(),
        };
        self.apdus
            .send(Zeroizing::new(apdu.to_vec()))
            .map_err(|_| lost())?;
        let answer = self.answers.recv().map_err(|_| lost())??;
        Ok(answer.to_vec())
    }

    /// End the transaction; the card back (`None` if its thread died).
    fn end(self, reader: &str) -> Option<pcsc::Card> {
        drop(self.apdus);
        match self.thread.join() {
            Ok(card) => Some(card),
            Err(_) => {
                tracing::debug!("the thread holding the card in {reader} died");
                None
            }
        }
    }
}

/// The card seen from inside a transaction.
struct InTransaction<'a> {
    card: &'a pcsc::Card,
    reader: &'a str,
}

impl Transport for InTransaction<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        transmit(self.card, self.reader, apdu)
    }
}

fn transmit(card: &pcsc::Card, reader: &str, apdu: &[u8]) -> Result<Vec<u8>, Error> {
    // The answer may hold codes: wipe the receive buffer once copied out.
    let mut buffer = Zeroizing::new(vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED]);
    let response = card
        .transmit(apdu, &mut buffer)
        .map_err(|e| pcsc_error(e, reader, "talking to the card"))?;
    Ok(response.to_vec())
}

/// Map a PC/SC failure to what it means for the user.
pub fn pcsc_error(error: pcsc::Error, reader: &str, action: &'static str) -> Error {
    match error {
        pcsc::Error::NoService | pcsc::Error::ServiceStopped => Error::PcscdNotRunning,
        pcsc::Error::NoReadersAvailable => Error::NoReaders,
        pcsc::Error::RemovedCard | pcsc::Error::NoSmartcard => Error::CardRemoved {
            reader: reader.to_owned(),
        },
        pcsc::Error::ResetCard => Error::CardReset {
            reader: reader.to_owned(),
        },
        pcsc::Error::SharingViolation => Error::KeyBusy {
            reader: format!("reader \"{reader}\""),
        },
        source => Error::Pcsc { action, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_hold_is_waited_out() {
        let mut refusals = 3;
        let outcome = patiently_for(Duration::from_secs(5), "R", || {
            if refusals == 0 {
                return Ok("connected");
            }
            refusals -= 1;
            Err(pcsc::Error::SharingViolation)
        });
        assert_eq!(outcome, Ok("connected"));
    }

    #[test]
    fn a_long_hold_is_a_busy_key_naming_the_reader_never_a_missing_one() {
        let started = Instant::now();
        let outcome: Result<(), _> = patiently_for(Duration::from_millis(250), "R", || {
            Err(pcsc::Error::SharingViolation)
        });
        assert!(started.elapsed() >= Duration::from_millis(250));
        let error = pcsc_error(outcome.unwrap_err(), "Yubico YubiKey 00 00", "connecting");
        assert_eq!(
            error.to_string(),
            "the YubiKey in reader \"Yubico YubiKey 00 00\" is in use by another program"
        );
        use crate::hint::Hint;
        assert!(error.hint().contains("gpgconf --kill scdaemon"));
    }

    #[test]
    fn other_failures_are_not_retried() {
        let mut calls = 0;
        let outcome: Result<(), _> = patiently_for(Duration::from_secs(5), "R", || {
            calls += 1;
            Err(pcsc::Error::NoSmartcard)
        });
        assert_eq!((outcome, calls), (Err(pcsc::Error::NoSmartcard), 1));
    }
}
