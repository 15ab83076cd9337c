//! The card's side of vsmartcard's vpcd protocol: the card connects to the
//! vpcd reader driver inside pcscd (TCP, one port per reader slot) and
//! answers. Every message is a 2-byte big-endian length and a payload; a
//! 1-byte payload is a control (00 power off, 01 power on, 02 reset,
//! 04 ATR), anything longer a command APDU. Closing the socket removes the card.

use super::{VirtualYubiKey, YUBIKEY_5_ATR};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread::JoinHandle;

const POWER_OFF: u8 = 0x00;
const POWER_ON: u8 = 0x01;
const RESET: u8 = 0x02;
const GET_ATR: u8 = 0x04;

/// What the reader asked, for logs. Never carries APDU data (it may hold secrets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VpcdEvent {
    PowerOff,
    PowerOn,
    Reset,
    Atr,
    Apdu { ins: u8, response_sw: u16 },
}

impl fmt::Display for VpcdEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VpcdEvent::PowerOff => write!(f, "power off"),
            VpcdEvent::PowerOn => write!(f, "power on"),
            VpcdEvent::Reset => write!(f, "reset"),
            VpcdEvent::Atr => write!(f, "atr"),
            VpcdEvent::Apdu { ins, response_sw } => {
                write!(f, "apdu ins={ins:02X} sw={response_sw:04X}")
            }
        }
    }
}

/// Answers the reader on `stream` until it closes the connection (`Ok`) or
/// the connection fails. `on_event` sees each message (`Atr` polls included).
pub fn serve(
    stream: &mut TcpStream,
    card: &mut VirtualYubiKey,
    on_event: &mut dyn FnMut(VpcdEvent),
) -> io::Result<()> {
    loop {
        acknowledge_at_once(stream);
        let mut length = [0u8; 2];
        match stream.read_exact(&mut length) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            other => other?,
        }
        let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
        stream.read_exact(&mut message)?;
        match message.as_slice() {
            [POWER_OFF] => {
                card.power_off();
                on_event(VpcdEvent::PowerOff);
            }
            [POWER_ON] => {
                card.power_on();
                on_event(VpcdEvent::PowerOn);
            }
            [RESET] => {
                card.reset();
                on_event(VpcdEvent::Reset);
            }
            [GET_ATR] => {
                send(stream, YUBIKEY_5_ATR)?;
                on_event(VpcdEvent::Atr);
            }
            [_] | [] => {}
            apdu => {
                let Some(response) = card.answer(apdu) else {
                    // A vanishing card: the reader sees it pulled out.
                    let _ = stream.shutdown(Shutdown::Both);
                    return Ok(());
                };
                send(stream, &response)?;
                let sw = response
                    .len()
                    .checked_sub(2)
                    .and_then(|at| response.get(at..))
                    .map_or(0, |sw| u16::from_be_bytes([sw[0], sw[1]]));
                on_event(VpcdEvent::Apdu {
                    ins: apdu[1],
                    response_sw: sw,
                });
            }
        }
    }
}

/// vpcd sends a message's length and its payload in two writes, and Nagle
/// holds the payload until the length is acknowledged: with the kernel's
/// delayed ACK that costs 40 ms per APDU. Quick ACKs keep a virtual card as
/// fast as a real one. Linux clears the flag as it goes, hence before each read.
#[cfg(target_os = "linux")]
fn acknowledge_at_once(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor, and a pointer to a c_int with its size.
    // Failure only costs speed, so the result is ignored.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn acknowledge_at_once(_stream: &TcpStream) {}

fn send(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let length =
        u16::try_from(payload.len()).map_err(|_| io::Error::other("vpcd message over 64 KiB"))?;
    let mut message = length.to_be_bytes().to_vec();
    message.extend_from_slice(payload);
    stream.write_all(&message)
}

/// A card sitting in a vpcd reader, answered from a thread of its own.
pub struct ConnectedCard {
    socket: TcpStream,
    thread: Option<JoinHandle<VirtualYubiKey>>,
}

impl ConnectedCard {
    /// Connects `card` to the vpcd reader listening on `127.0.0.1:port`.
    pub fn connect(port: u16, mut card: VirtualYubiKey) -> io::Result<ConnectedCard> {
        let socket = TcpStream::connect(("127.0.0.1", port))?;
        socket.set_nodelay(true)?;
        let mut stream = socket.try_clone()?;
        let thread = std::thread::Builder::new()
            .name(format!("vpcd-card-{port}"))
            .spawn(move || {
                // An error here is the reader going away, which ends the card's life in it.
                let _ = serve(&mut stream, &mut card, &mut |_| {});
                card
            })?;
        Ok(ConnectedCard {
            socket,
            thread: Some(thread),
        })
    }

    /// Pulls the card out of the reader (closes the socket) and gives it
    /// back, with its state (HOTP counters, accounts added) intact.
    pub fn disconnect(mut self) -> VirtualYubiKey {
        self.close()
            .unwrap_or_else(|| panic!("the card's thread is gone"))
    }

    fn close(&mut self) -> Option<VirtualYubiKey> {
        let _ = self.socket.shutdown(Shutdown::Both);
        let thread = self.thread.take()?;
        match thread.join() {
            Ok(card) => Some(card),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for ConnectedCard {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.close();
        } else {
            let _ = self.socket.shutdown(Shutdown::Both);
        }
    }
}
