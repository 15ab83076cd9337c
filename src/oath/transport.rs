//! The seam between the YKOATH protocol and whatever carries its bytes.
//!
//! [`super::Session`] speaks only to a [`Transport`]: the PC/SC implementation
//! ([`super::pcsc::PcscTransport`]) in the binary, scripted or simulated cards
//! in tests. Nothing above this trait knows about readers.

use super::Error;

pub trait Transport {
    /// Send one command APDU; return the response: data followed by SW1 SW2.
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error>;

    /// Run `work` with the card reserved for this client, so that no other
    /// program's SELECT lands between two of our commands (which would, for
    /// example, drop the OATH authentication). Transports that are not shared
    /// (in-memory cards) just run it.
    fn transaction<R>(
        &mut self,
        work: impl FnOnce(&mut dyn Transport) -> Result<R, Error>,
    ) -> Result<R, Error>
    where
        Self: Sized,
    {
        work(self)
    }

    /// Connect again after the card was reset by another program or briefly
    /// removed, so that an operation can be redone once. Transports that are
    /// not shared have nothing to do.
    fn reconnect(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// A borrowed transport is a transport, transactions included (so a caller
/// can keep its card after the session is done with it).
impl<T: Transport> Transport for &mut T {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        (**self).transmit(apdu)
    }

    fn transaction<R>(
        &mut self,
        work: impl FnOnce(&mut dyn Transport) -> Result<R, Error>,
    ) -> Result<R, Error> {
        (**self).transaction(work)
    }

    fn reconnect(&mut self) -> Result<(), Error> {
        (**self).reconnect()
    }
}
