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

    /// Keep the card reserved for this client from now until
    /// [`Transport::release`]: one transaction that outlasts a call, so that
    /// an operation begun by one call (the SELECT made while the key is
    /// found) and ended by another (the CALCULATE) is still one. A
    /// [`Transport::transaction`] inside a hold reserves nothing more; a
    /// second hold is the same hold. Transports that are not shared have
    /// nothing to do.
    fn hold(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// End the hold, if any (before a wait, such as a person typing, during
    /// which other programs must be able to use the card).
    fn release(&mut self) {}

    /// Connect again after the card was reset by another program or briefly
    /// removed, so that an operation can be redone once; ends any hold (a
    /// reset ended its transaction). Transports that are not shared have
    /// nothing to do.
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

    fn hold(&mut self) -> Result<(), Error> {
        (**self).hold()
    }

    fn release(&mut self) {
        (**self).release()
    }

    fn reconnect(&mut self) -> Result<(), Error> {
        (**self).reconnect()
    }
}
