//! [`Transport`] over PC/SC (pcsc-lite on Linux, the system service on macOS
//! and Windows), with the card shared so that other programs (gpg-agent,
//! ykman) keep working, and each operation inside a PC/SC transaction.

use std::ffi::CStr;

use zeroize::Zeroizing;

use super::transport::Transport;
use super::Error;

/// A connection to the card in one reader.
pub struct PcscTransport {
    /// `Some` until dropped; taken out to disconnect politely.
    card: Option<pcsc::Card>,
    reader: String,
}

impl std::fmt::Debug for PcscTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscTransport")
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

impl PcscTransport {
    /// Connect (shared) to the card in `reader`.
    pub fn connect(context: &pcsc::Context, reader: &CStr) -> Result<Self, Error> {
        let name = reader.to_string_lossy().into_owned();
        let card = context
            .connect(reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
            .map_err(|e| pcsc_error(e, &name, "connecting to the card"))?;
        Ok(PcscTransport {
            card: Some(card),
            reader: name,
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
        let reader = self.reader.clone();
        transmit(self.card()?, &reader, apdu)
    }

    fn transaction<R>(
        &mut self,
        work: impl FnOnce(&mut dyn Transport) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let reader = self.reader.clone();
        let transaction = self
            .card()?
            .transaction()
            .map_err(|e| pcsc_error(e, &reader, "reserving the card"))?;
        let result = work(&mut InTransaction {
            card: &transaction,
            reader: &reader,
        });
        if let Err((_, e)) = transaction.end(pcsc::Disposition::LeaveCard) {
            tracing::debug!("ending the PC/SC transaction on {reader}: {e}");
        }
        result
    }
}

impl Drop for PcscTransport {
    /// `pcsc::Card`'s own drop resets the card, which would disturb other
    /// programs using it; leave it as it is instead.
    fn drop(&mut self) {
        if let Some(card) = self.card.take() {
            if let Err((_, e)) = card.disconnect(pcsc::Disposition::LeaveCard) {
                tracing::debug!("disconnecting from {}: {e}", self.reader);
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
        source => Error::Pcsc { action, source },
    }
}
