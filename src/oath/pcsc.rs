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
//! `pcsc::Card`), so every transaction is on a thread of its own, with a
//! handle and a PC/SC context of its own, and APDUs reach it over a
//! channel. pcsc-lite waits without limit for a transaction another program
//! holds, blocking the whole context: on the thread, that wait is given up
//! after [`BUSY_PATIENCE`] as a busy key. The thread ends the transaction
//! by itself after [`HOLD_IDLE_LIMIT`] without an APDU, so a hold an error
//! path forgot cannot keep other programs off the card.
//!
//! A CALCULATE that may wait for a touch is sent outside any transaction
//! (see docs/protocol.md, "Transactions"), and no handle is ever dropped
//! with a reset ([`Card`]): vegas never resets the card under another
//! program, even when killed. Outside a transaction, pcsc-lite's client
//! library would retry a transmit or a reconnect every 100 ms for as long
//! as another program's transaction lasts; [`refuse_rather_than_wait`]
//! makes it answer "sharing violation" at once, so that [`BUSY_PATIENCE`]
//! bounds those too.

use std::ffi::{CStr, CString};
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::transport::Transport;
use super::Error;

/// pcsc-lite's client library (`winscard_clnt.c`, `sharing_shall_block`)
/// retries SCardTransmit, SCardReconnect and SCardStatus without limit while
/// another handle holds a transaction, unless this variable is set when the
/// library first makes a context. SCardBeginTransaction and SCardConnect
/// still wait (in the library and in pcscd), on threads that give up after
/// [`GIVE_UP_AFTER`].
const NO_BLOCKING: &str = "PCSCLITE_NO_BLOCKING";

/// Whether vegas set [`NO_BLOCKING`] itself (and so takes it away from the
/// programs it starts).
static NO_BLOCKING_IS_OURS: AtomicBool = AtomicBool::new(false);

/// Make pcsc-lite answer a transmit or reconnect that another program's
/// transaction keeps off the card with a sharing violation at once, rather
/// than wait for the whole transaction: vegas waits for it itself, for at
/// most [`BUSY_PATIENCE`]. Call first thing in `main`, while the process
/// has one thread and before any PC/SC call (pcsc-lite reads it once).
pub fn refuse_rather_than_wait() {
    if std::env::var_os(NO_BLOCKING).is_none() {
        std::env::set_var(NO_BLOCKING, "1");
        NO_BLOCKING_IS_OURS.store(true, Ordering::Relaxed);
    }
}

/// Give `command` the environment vegas was started with, without the
/// [`NO_BLOCKING`] that [`refuse_rather_than_wait`] added: ykman and other
/// programs keep pcsc-lite's usual waiting.
pub fn as_started(command: &mut Command) -> &mut Command {
    if NO_BLOCKING_IS_OURS.load(Ordering::Relaxed) {
        command.env_remove(NO_BLOCKING);
    }
    command
}

/// A connection to the card in one reader.
pub struct PcscTransport {
    /// This client's handle, for what is sent outside a transaction (a
    /// CALCULATE that may wait for a touch) and to reconnect; `None` once
    /// the card is gone.
    card: Option<Card>,
    /// A second handle on its thread, inside a transaction.
    hold: Option<Hold>,
    reader: String,
    /// The reader's name as PC/SC takes it, to connect again.
    reader_name: CString,
}

/// How long a card held by another program is waited for: long enough for
/// ykman or an authenticator's single command, short enough that a card held
/// for good (scdaemon) is reported well within ten seconds.
pub const BUSY_PATIENCE: Duration = Duration::from_secs(4);
/// How long a connect or a transaction begun on a thread is waited for:
/// the thread waits out an exclusive hold for [`BUSY_PATIENCE`] itself;
/// pcscd makes it wait without limit for another program's transaction.
const GIVE_UP_AFTER: Duration = Duration::from_secs(5);
/// How long a card pulled out is waited for before it counts as removed.
const REINSERT_PATIENCE: Duration = Duration::from_secs(3);
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// A hold that sees no APDU for this long ends itself: an operation that
/// failed before the one that would have released it must not keep every
/// other program off the card (SELECT, VALIDATE and CALCULATE follow one
/// another within milliseconds).
const HOLD_IDLE_LIMIT: Duration = Duration::from_secs(1);

/// A card handle that lets go of the card with `LeaveCard` when dropped:
/// `pcsc::Card`'s own drop disconnects with `ResetCard`, which resets the
/// card under every other program using it (gpg-agent, ykman, a browser).
/// Every card vegas owns is one of these.
struct Card(ManuallyDrop<pcsc::Card>);

impl Card {
    fn new(card: pcsc::Card) -> Self {
        Card(ManuallyDrop::new(card))
    }
}

impl Deref for Card {
    type Target = pcsc::Card;
    fn deref(&self) -> &pcsc::Card {
        &self.0
    }
}

impl DerefMut for Card {
    fn deref_mut(&mut self) -> &mut pcsc::Card {
        &mut self.0
    }
}

impl Drop for Card {
    fn drop(&mut self) {
        // SAFETY: the card is taken out once, here, and `self` is never
        // used again.
        let card = unsafe { ManuallyDrop::take(&mut self.0) };
        if let Err((card, e)) = card.disconnect(pcsc::Disposition::LeaveCard) {
            tracing::debug!("letting go of the card: {e}");
            // Dropping it now would reset the card: leak the handle
            // instead (pcscd frees it with our context).
            std::mem::forget(card);
        }
    }
}

impl std::fmt::Debug for PcscTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscTransport")
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

impl PcscTransport {
    /// Connect (shared) to the card in `reader`, in a PC/SC context of its
    /// own; a key held by another program is reported busy within
    /// [`GIVE_UP_AFTER`] ([`connect_in_time`]).
    pub fn connect(reader: &CStr) -> Result<Self, Error> {
        let name = reader.to_string_lossy().into_owned();
        let card = connect_in_time(reader, &name)?;
        Ok(PcscTransport {
            card: Some(card),
            hold: None,
            reader: name,
            reader_name: reader.to_owned(),
        })
    }

    /// The reader's name, as PC/SC gives it.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    fn card(&mut self) -> Result<&mut Card, Error> {
        self.card.as_mut().ok_or_else(|| Error::CardRemoved {
            reader: self.reader.clone(),
        })
    }

    /// Take the card back from a hold that ended itself (see
    /// [`HOLD_IDLE_LIMIT`]).
    fn reclaim_expired_hold(&mut self) {
        if self.hold.as_ref().is_some_and(Hold::is_over) {
            tracing::debug!("the hold on {} had ended itself", self.reader);
            self.release();
        }
    }
}

impl Transport for PcscTransport {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        if let Some(hold) = &self.hold {
            match hold.transmit(apdu) {
                Some(answer) => return answer,
                // It ended itself before taking this APDU: send it here.
                None => self.release(),
            }
        }
        let reader = self.reader.clone();
        let card = self.card()?;
        // Outside a transaction (a CALCULATE waiting for a touch), another
        // program's transaction refuses us (see [`refuse_rather_than_wait`]):
        // wait it out, for a while.
        patiently(&reader, || transmit_raw(card, apdu))
            .map_err(|e| pcsc_error(e, &reader, "talking to the card"))
    }

    fn transaction<R>(
        &mut self,
        work: impl FnOnce(&mut dyn Transport) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.reclaim_expired_hold();
        if self.hold.is_some() {
            return work(self);
        }
        // On the hold's thread, so that beginning it gives up in time.
        self.hold()?;
        let result = work(self);
        self.release();
        result
    }

    /// Begin a transaction on a thread that keeps the card until
    /// [`Transport::release`], through a handle of its own in a PC/SC
    /// context of its own.
    ///
    /// pcsc-lite's SCardBeginTransaction waits without limit while another
    /// program holds a transaction, and blocks every other call on its
    /// context meanwhile: after [`GIVE_UP_AFTER`] the key is reported busy, and the
    /// thread left behind lets go of its handle and context by itself.
    fn hold(&mut self) -> Result<(), Error> {
        self.reclaim_expired_hold();
        if self.hold.is_some() {
            return Ok(());
        }
        let (hold, begun) = Hold::begin(self.reader_name.clone(), self.reader.clone())?;
        match begun.recv_timeout(GIVE_UP_AFTER) {
            Ok(Ok(())) => {
                self.hold = Some(hold);
                Ok(())
            }
            Ok(Err(e)) => {
                hold.end(&self.reader);
                Err(e)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::debug!(
                    "no transaction on {} within {} ms: busy",
                    self.reader,
                    BUSY_PATIENCE.as_millis()
                );
                // Not joined: the thread may wait in pcsc-lite for good.
                // Once its transaction begins, if ever, it finds no one
                // listening, ends it and lets go of the card.
                drop(hold);
                Err(Error::KeyBusy {
                    reader: format!("reader \"{}\"", self.reader),
                })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                hold.end(&self.reader);
                Err(Error::Pcsc {
                    action: "reserving the card",
                    source: pcsc::Error::InternalError,
                })
            }
        }
    }

    fn release(&mut self) {
        if let Some(hold) = self.hold.take() {
            hold.end(&self.reader);
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
                // Another program's transaction is waited out, for a while.
                Some(card) => patiently(&reader, || {
                    card.reconnect(
                        pcsc::ShareMode::Shared,
                        pcsc::Protocols::ANY,
                        pcsc::Disposition::LeaveCard,
                    )
                }),
                None => Err(pcsc::Error::InvalidHandle),
            };
            let error = match attempt {
                Ok(()) => return Ok(()),
                Err(e @ pcsc::Error::SharingViolation) => {
                    return Err(pcsc_error(e, &reader, "connecting again"));
                }
                Err(e) => e,
            };
            // The old handle may be gone with the card: a new one (the old
            // one lets go with LeaveCard).
            tracing::debug!("reconnecting to {reader}: {error}; connecting anew");
            match connect_in_time(&self.reader_name, &reader) {
                Ok(card) => {
                    self.card = Some(card);
                    return Ok(());
                }
                Err(
                    e @ (Error::CardRemoved { .. }
                    | Error::Pcsc {
                        source: pcsc::Error::UnknownReader | pcsc::Error::ReaderUnavailable,
                        ..
                    }),
                ) if started.elapsed() < REINSERT_PATIENCE => {
                    tracing::debug!("connecting to {reader} again: {e}; trying again");
                    std::thread::sleep(RETRY_PAUSE);
                }
                Err(e) => return Err(e),
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
    /// End the hold, if any; the card lets go with `LeaveCard` ([`Card`]).
    fn drop(&mut self) {
        self.release();
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
/// transaction and hands the card back when the sender is dropped, or
/// after [`HOLD_IDLE_LIMIT`] without an APDU.
struct Hold {
    apdus: mpsc::Sender<Zeroizing<Vec<u8>>>,
    answers: mpsc::Receiver<Result<Zeroizing<Vec<u8>>, Error>>,
    thread: std::thread::JoinHandle<()>,
}

/// Whether the hold's transaction began (sent once by its thread).
type Begun = mpsc::Receiver<Result<(), Error>>;

impl Hold {
    /// Start the thread, named after the reader: it connects to the card
    /// in a context of its own and begins a transaction; the receiver
    /// hears whether it did.
    fn begin(reader_name: CString, reader: String) -> Result<(Hold, Begun), Error> {
        let (apdus, apdus_in) = mpsc::channel::<Zeroizing<Vec<u8>>>();
        let (answers_out, answers) = mpsc::channel();
        let (begun_out, begun) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("vegas-hold {reader}"))
            .spawn(move || hold_on(&reader_name, &reader, &begun_out, &apdus_in, &answers_out))
            .map_err(|e| no_thread(&e))?;
        let hold = Hold {
            apdus,
            answers,
            thread,
        };
        Ok((hold, begun))
    }

    /// Send `apdu` through the hold; `None` when the hold has ended
    /// itself and the APDU was not sent.
    fn transmit(&self, apdu: &[u8]) -> Option<Result<Vec<u8>, Error>> {
        self.apdus.send(Zeroizing::new(apdu.to_vec())).ok()?;
        // The thread answers every APDU it takes: no answer, not sent.
        let answer = self.answers.recv().ok()?;
        Some(answer.map(|answer| answer.to_vec()))
    }

    /// Whether the thread ended the transaction by itself.
    fn is_over(&self) -> bool {
        self.thread.is_finished()
    }

    /// End the transaction and let go of the hold's handle.
    fn end(self, reader: &str) {
        drop(self.apdus);
        if self.thread.join().is_err() {
            tracing::debug!("the thread holding the card in {reader} died");
        }
    }
}

/// Connect (shared) to the card in `reader_name`, waiting out another
/// program's exclusive hold for [`BUSY_PATIENCE`]. pcscd makes a connect
/// wait without limit while another program holds a transaction, blocking
/// the whole context: the connect is made on a thread, in a context of its
/// own, and given up as a busy key after [`GIVE_UP_AFTER`] (the thread,
/// left behind, lets go by itself).
fn connect_in_time(reader_name: &CStr, reader: &str) -> Result<Card, Error> {
    let (sender, connected) = mpsc::channel();
    let (thread_reader_name, thread_reader) = (reader_name.to_owned(), reader.to_owned());
    std::thread::Builder::new()
        .name(format!("vegas-connect {reader}"))
        .spawn(move || {
            let _ = sender.send(connect_alone(&thread_reader_name, &thread_reader));
        })
        .map_err(|e| no_thread(&e))?;
    match connected.recv_timeout(GIVE_UP_AFTER) {
        Ok(card) => card,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            tracing::debug!("no connection to {reader} within the patience: busy");
            Err(Error::KeyBusy {
                reader: format!("reader \"{reader}\""),
            })
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(no_thread(&"it died")),
    }
}

/// A thread to talk to the card could not be started (or died).
fn no_thread(e: &dyn std::fmt::Display) -> Error {
    tracing::debug!("no thread to talk to the card: {e}");
    Error::Pcsc {
        action: "starting a thread to talk to the card",
        source: pcsc::Error::NoMemory,
    }
}

/// A shared handle on the card in `reader_name`, in a PC/SC context of its
/// own (see [`PcscTransport::hold`]).
fn connect_alone(reader_name: &CStr, reader: &str) -> Result<Card, Error> {
    let context = pcsc::Context::establish(pcsc::Scope::User)
        .map_err(|e| pcsc_error(e, reader, "connecting to pcscd"))?;
    patiently(reader, || {
        context.connect(reader_name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
    })
    .map(Card::new)
    .map_err(|e| pcsc_error(e, reader, "connecting to the card"))
}

/// The hold's thread: connect, begin the transaction, say so, then answer
/// APDUs ([`serve`]) and end it. Told too late (the caller gave up on a
/// busy key), it ends the transaction at once; the handle lets go with
/// `LeaveCard` ([`Card`]) either way.
fn hold_on(
    reader_name: &CStr,
    reader: &str,
    begun: &mpsc::Sender<Result<(), Error>>,
    apdus: &mpsc::Receiver<Zeroizing<Vec<u8>>>,
    answers: &mpsc::Sender<Result<Zeroizing<Vec<u8>>, Error>>,
) {
    let mut card = match connect_alone(reader_name, reader) {
        Ok(card) => card,
        Err(e) => {
            let _ = begun.send(Err(e));
            return;
        }
    };
    let transaction = match begin(&mut card, reader) {
        Ok(transaction) => transaction,
        Err(e) => {
            let _ = begun.send(Err(e));
            return;
        }
    };
    if begun.send(Ok(())).is_ok() {
        serve(
            HOLD_IDLE_LIMIT,
            |apdu| transmit(&transaction, reader, apdu),
            apdus,
            answers,
        );
    } else {
        tracing::debug!("the hold on {reader} began too late; letting go");
    }
    if let Err((_, e)) = transaction.end(pcsc::Disposition::LeaveCard) {
        tracing::debug!("ending the PC/SC transaction on {reader}: {e}");
    };
}

/// The hold's thread at work: answer each APDU (`transmit`) until the
/// sender is gone or none has come for `idle_limit` ([`HOLD_IDLE_LIMIT`]).
fn serve(
    idle_limit: Duration,
    transmit: impl Fn(&[u8]) -> Result<Vec<u8>, Error>,
    apdus: &mpsc::Receiver<Zeroizing<Vec<u8>>>,
    answers: &mpsc::Sender<Result<Zeroizing<Vec<u8>>, Error>>,
) {
    loop {
        match apdus.recv_timeout(idle_limit) {
            Ok(apdu) => {
                let answer = transmit(&apdu).map(Zeroizing::new);
                if answers.send(answer).is_err() {
                    return;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::debug!("no APDU for {} ms: ending the hold", idle_limit.as_millis());
                return;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn transmit(card: &pcsc::Card, reader: &str, apdu: &[u8]) -> Result<Vec<u8>, Error> {
    transmit_raw(card, apdu).map_err(|e| pcsc_error(e, reader, "talking to the card"))
}

fn transmit_raw(card: &pcsc::Card, apdu: &[u8]) -> Result<Vec<u8>, pcsc::Error> {
    // The answer may hold codes: wipe the receive buffer once copied out.
    let mut buffer = Zeroizing::new(vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED]);
    let response = card.transmit(apdu, &mut buffer)?;
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
    fn a_hold_answers_each_apdu_then_ends_itself_when_none_comes() {
        let (apdus_out, apdus) = mpsc::channel();
        let (answers, answers_in) = mpsc::channel();
        let serving = std::thread::spawn(move || {
            let echo = |apdu: &[u8]| Ok(apdu.to_vec());
            serve(Duration::from_millis(100), echo, &apdus, &answers);
        });
        apdus_out.send(Zeroizing::new(vec![1, 2])).unwrap();
        let answer = answers_in.recv().unwrap().unwrap();
        assert_eq!(answer.as_slice(), [1, 2]);
        // No APDU within the limit: the hold ends, its sender still alive.
        let started = Instant::now();
        serving.join().unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(apdus_out.send(Zeroizing::new(vec![3])).is_err());
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
