//! The test suite's strict STS as a process, for the demo and for trying
//! vegas, the AWS CLI or boto3 by hand:
//!
//! ```text
//! cargo run --example local-sts -- --port 4599 --config fixtures/sts/demo.json
//! export AWS_ENDPOINT_URL_STS=http://127.0.0.1:4599
//! ```
//!
//! It prints its URL on stdout once it listens, then one line per call on
//! stderr (action, signer, role, MFA verdict, outcome; never a secret or a
//! code) until it is killed. The configuration format is `StsConfig` in
//! tests/support/sts.rs; fixtures/sts/demo.json is an example.

#[path = "../tests/support/sts.rs"]
#[allow(dead_code)]
mod sts;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use sts::{CallRecord, Fault, Outcome, StrictSts, StsConfig};

const USAGE: &str = "\
usage: local-sts [--port PORT] [--config FILE] [--fail-next FAULT]...

  --port PORT         port on 127.0.0.1 (default 0: any free port; the URL is printed)
  --config FILE       JSON configuration, e.g. fixtures/sts/demo.json
                      (default: no keys, every request is refused)
  --fail-next FAULT   queue a fault for the next request, in order; FAULT is
                      throttling, internal-failure, access-denied, expired-token,
                      drop-connection or slow-MS";

struct Options {
    port: u16,
    config: Option<PathBuf>,
    faults: Vec<Fault>,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        port: 0,
        config: None,
        faults: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => {
                options.port = value
                    .parse()
                    .map_err(|_| format!("--port: {value:?} is not a port"))?
            }
            "--config" => options.config = Some(value.into()),
            "--fail-next" => options.faults.push(value.parse()?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("local-sts: {problem}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match &options.config {
        Some(path) => match StsConfig::from_json_file(path) {
            Ok(config) => config,
            Err(problem) => {
                eprintln!("local-sts: {problem}");
                return ExitCode::FAILURE;
            }
        },
        None => StsConfig::new(),
    };
    let server = match StrictSts::start_on(("127.0.0.1", options.port), config) {
        Ok(server) => server,
        Err(problem) => {
            eprintln!(
                "local-sts: cannot listen on 127.0.0.1:{}: {problem}",
                options.port
            );
            return ExitCode::FAILURE;
        }
    };
    server.push_faults(options.faults);
    println!("{}", server.url());
    let _ = std::io::stdout().flush();
    log_calls_forever(&server)
}

fn log_calls_forever(server: &StrictSts) -> ! {
    let mut shown = 0;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let calls = server.calls();
        for call in calls.iter().skip(shown) {
            eprintln!("{}", describe(call));
        }
        shown = calls.len();
    }
}

fn describe(call: &CallRecord) -> String {
    let mut line = format!(
        "{} signer={}",
        call.action.name(),
        call.signer.as_deref().unwrap_or("-")
    );
    for (name, value) in [
        ("role", &call.role_arn),
        ("session", &call.role_session_name),
        ("duration", &call.duration_seconds),
        ("serial", &call.serial_number),
    ] {
        if let Some(value) = value {
            line.push_str(&format!(" {name}={value}"));
        }
    }
    if let Some(check) = &call.token_check {
        line.push_str(&format!(" code={check:?}"));
    }
    if let Some(fault) = &call.fault {
        line.push_str(&format!(" fault={fault:?}"));
    }
    match &call.outcome {
        Outcome::Success => line.push_str(" -> ok"),
        Outcome::Error { status, code, .. } => line.push_str(&format!(" -> {status} {code}")),
        Outcome::Dropped => line.push_str(" -> connection dropped"),
    }
    line
}
