//! Another PC/SC client beside vegas, as on a real desk: what GnuPG's
//! scdaemon, yubikey-agent or a browser's PIV middleware do to a shared
//! YubiKey. The end-to-end tests (tests/neighbours_e2e.rs) run it against the
//! virtual key behind their private pcscd (`PCSCLITE_CSOCK_NAME`).
//!
//! ```text
//! pcsc-neighbour --reader NAME hold SECONDS    connect exclusively, hold, let go
//! pcsc-neighbour --reader NAME transaction SECONDS
//!                                              connect shared, hold a PC/SC transaction
//!                                              for SECONDS (as OpenSC or a PIV
//!                                              middleware does), let go
//! pcsc-neighbour --reader NAME select-piv      SELECT the PIV applet (A0 00 00 03 08)
//! pcsc-neighbour --reader NAME select-piv-for SECONDS
//!                                              SELECT PIV again and again, as soon as
//!                                              the card lets it, for SECONDS
//! pcsc-neighbour --reader NAME reset           reset the card
//! pcsc-neighbour --reader NAME as-vegas-outside-a-transaction
//!                                              not a neighbour but vegas: connect as
//!                                              vegas does (its PC/SC settings and
//!                                              transport), say ready, then at a line on
//!                                              stdin SELECT OATH outside a transaction,
//!                                              as vegas sends a touch CALCULATE; print
//!                                              the outcome and its hint
//! ```
//!
//! Prints "ready" on stdout once it has done its part (for `hold` and
//! `transaction`: once it holds the card), so a test knows when vegas meets it.

use std::ffi::CString;
use std::io::{BufRead, Write};
use std::time::Duration;

use vegas::hint::Hint;
use vegas::oath::transport::Transport;

const SELECT_PIV: [u8; 10] = [0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08];
const SELECT_OATH: [u8; 12] = [
    0x00, 0xA4, 0x04, 0x00, 0x07, 0xA0, 0x00, 0x00, 0x05, 0x27, 0x21, 0x01,
];
const AS_VEGAS: &str = "as-vegas-outside-a-transaction";

fn main() {
    // As vegas's main does, before any PC/SC call.
    if std::env::args().any(|arg| arg == AS_VEGAS) {
        vegas::oath::pcsc::refuse_rather_than_wait();
    }
    if let Err(e) = run() {
        eprintln!("pcsc-neighbour: {e}");
        std::process::exit(1);
    }
}

fn ready() {
    println!("ready");
    let _ = std::io::stdout().flush();
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (reader, action) = match args.as_slice() {
        [flag, reader, action @ ..] if flag == "--reader" => (reader, action),
        _ => {
            return Err("usage: pcsc-neighbour --reader NAME hold SECONDS|transaction SECONDS|select-piv|select-piv-for SECONDS|reset|as-vegas-outside-a-transaction".into())
        }
    };
    let reader = CString::new(reader.as_str()).map_err(|e| e.to_string())?;
    if matches!(action, [verb] if verb == AS_VEGAS) {
        return as_vegas(&reader);
    }
    let context = pcsc::Context::establish(pcsc::Scope::User).map_err(|e| e.to_string())?;
    let connect = |mode| {
        context
            .connect(&reader, mode, pcsc::Protocols::ANY)
            .map_err(|e| format!("connecting: {e}"))
    };
    match action {
        [verb, seconds] if verb == "hold" => {
            let seconds: f64 = seconds.parse().map_err(|_| "SECONDS is a number")?;
            let card = connect(pcsc::ShareMode::Exclusive)?;
            ready();
            std::thread::sleep(Duration::from_secs_f64(seconds));
            card.disconnect(pcsc::Disposition::LeaveCard)
                .map_err(|(_, e)| e.to_string())
        }
        [verb, seconds] if verb == "transaction" => {
            let seconds: f64 = seconds.parse().map_err(|_| "SECONDS is a number")?;
            let mut card = connect(pcsc::ShareMode::Shared)?;
            let transaction = card
                .transaction()
                .map_err(|e| format!("beginning a transaction: {e}"))?;
            ready();
            std::thread::sleep(Duration::from_secs_f64(seconds));
            transaction
                .end(pcsc::Disposition::LeaveCard)
                .map_err(|(_, e)| e.to_string())?;
            card.disconnect(pcsc::Disposition::LeaveCard)
                .map_err(|(_, e)| e.to_string())
        }
        [verb] if verb == "select-piv" => {
            let card = connect(pcsc::ShareMode::Shared)?;
            let mut buffer = [0u8; 258];
            let answer = card
                .transmit(&SELECT_PIV, &mut buffer)
                .map_err(|e| format!("SELECT PIV: {e}"))?;
            if answer != [0x90, 0x00] {
                return Err(format!("SELECT PIV answered {answer:02X?}"));
            }
            ready();
            card.disconnect(pcsc::Disposition::LeaveCard)
                .map_err(|(_, e)| e.to_string())
        }
        [verb, seconds] if verb == "select-piv-for" => {
            let seconds: f64 = seconds.parse().map_err(|_| "SECONDS is a number")?;
            let until = std::time::Instant::now() + Duration::from_secs_f64(seconds);
            let card = connect(pcsc::ShareMode::Shared)?;
            let mut buffer = [0u8; 258];
            let mut said = false;
            while std::time::Instant::now() < until {
                // Refused while another client holds a transaction: again.
                let selected = card
                    .transmit(&SELECT_PIV, &mut buffer)
                    .is_ok_and(|answer| answer == [0x90, 0x00]);
                if selected && !said {
                    ready();
                    said = true;
                }
            }
            card.disconnect(pcsc::Disposition::LeaveCard)
                .map_err(|(_, e)| e.to_string())
        }
        [verb] if verb == "reset" => {
            let card = connect(pcsc::ShareMode::Shared)?;
            card.disconnect(pcsc::Disposition::ResetCard)
                .map_err(|(_, e)| e.to_string())?;
            ready();
            Ok(())
        }
        _ => {
            Err("unknown action: hold SECONDS, transaction SECONDS, select-piv, select-piv-for SECONDS, reset or as-vegas-outside-a-transaction".into())
        }
    }
}

/// Connect as vegas does, then at a line on stdin send SELECT OATH outside a
/// transaction and print "answered" or the error and its hint.
fn as_vegas(reader: &std::ffi::CStr) -> Result<(), String> {
    let mut transport =
        vegas::oath::pcsc::PcscTransport::connect(reader).map_err(|e| e.to_string())?;
    ready();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    match transport.transmit(&SELECT_OATH) {
        Ok(_) => println!("answered"),
        Err(e) => println!("{e}: {}", e.hint()),
    }
    Ok(())
}
