//! The test suite's virtual YubiKey as a process, for demos and for trying
//! ykman or vegas by hand against a private pcscd:
//!
//! ```text
//! cargo run --example virtual-yubikey -- --port 35963 --accounts fixtures/cards/demo.json
//! ```
//!
//! It connects to the vpcd reader driver inside pcscd (reconnecting when
//! pcscd restarts) and answers as the card described by the JSON file
//! (format in tests/support/card/fixture.rs). It never prints a secret or a
//! code; `--log FILE` records each message's kind and INS byte, not its data.

#[path = "../tests/support/card/mod.rs"]
#[allow(dead_code, unused_imports)]
mod card;

use card::vpcd::{serve, VpcdEvent};
use card::{TouchResponse, VirtualYubiKey};
use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
usage: virtual-yubikey [--port PORT] [--accounts FILE] [--log FILE]
                       [--touch-delay MS] [--touch-timeout MS] [--apdu-delay MS]

  --port PORT         vpcd port of the reader slot (default 35963, pcscd's stock vpcd)
  --accounts FILE     card description, e.g. fixtures/cards/demo.json
                      (default: an empty key with serial 12345678)
  --log FILE          append one line per reader message: its kind and INS, never data
  --touch-delay MS    a touch account is 'touched' after MS milliseconds (default 1500)
  --touch-timeout MS  nobody touches: touch accounts fail after MS milliseconds
  --apdu-delay MS     take MS milliseconds over each APDU, as a key on USB does (default 0)";

struct Options {
    port: u16,
    accounts: Option<PathBuf>,
    log: Option<PathBuf>,
    touch: TouchResponse,
    apdu_delay: Duration,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        port: 35963,
        accounts: None,
        log: None,
        touch: TouchResponse::TouchedAfter(Duration::from_millis(1500)),
        apdu_delay: Duration::ZERO,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let millis = |v: &str| {
            v.parse()
                .map(Duration::from_millis)
                .map_err(|_| format!("{flag}: {v:?} is not a number of milliseconds"))
        };
        match flag.as_str() {
            "--port" => {
                options.port = value
                    .parse()
                    .map_err(|_| format!("--port: {value:?} is not a port"))?
            }
            "--accounts" => options.accounts = Some(value.into()),
            "--log" => options.log = Some(value.into()),
            "--touch-delay" => options.touch = TouchResponse::TouchedAfter(millis(&value)?),
            "--touch-timeout" => options.touch = TouchResponse::TimesOutAfter(millis(&value)?),
            "--apdu-delay" => options.apdu_delay = millis(&value)?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("virtual-yubikey: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let card = match &options.accounts {
        Some(path) => card::fixture::load(path).map_err(|e| format!("{}: {e}", path.display())),
        None => Ok(VirtualYubiKey::new(12345678)),
    };
    let mut card = match card {
        Ok(card) => {
            let card = card.with_touch_response(options.touch);
            card.handle().set_apdu_delay(options.apdu_delay);
            card
        }
        Err(message) => {
            eprintln!("virtual-yubikey: {message}");
            return ExitCode::FAILURE;
        }
    };
    let mut log = match &options.log {
        Some(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(file) => Some(file),
            Err(e) => {
                eprintln!("virtual-yubikey: cannot open log {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    eprintln!(
        "virtual-yubikey: serial {}, connecting to vpcd on 127.0.0.1:{}",
        card.serial(),
        options.port
    );
    loop {
        match TcpStream::connect(("127.0.0.1", options.port)) {
            Ok(mut stream) => {
                let _ = stream.set_nodelay(true);
                eprintln!("virtual-yubikey: inserted");
                let result = serve(&mut stream, &mut card, &mut |event: VpcdEvent| {
                    if let (Some(file), false) = (log.as_mut(), event == VpcdEvent::Atr) {
                        let _ = writeln!(file, "{event}");
                    }
                });
                eprintln!(
                    "virtual-yubikey: reader closed the connection ({result:?}); reconnecting"
                );
            }
            Err(_) => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}
