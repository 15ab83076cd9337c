//! `vegas-sts`: the STS helper `vegas` runs on a cache miss (see
//! `vegas::sts::helper`). It reads one call as JSON on stdin and answers on
//! stdout; it is not meant to be run by hand.
//!
//! Being a separate binary is the point: aws-sdk-sts, aws-config, rustls,
//! aws-lc and tokio live here, so the `vegas` binary that answers cache hits
//! is a fraction of the size and starts faster.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    vegas::platform::harden_process();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if std::io::stdin().is_terminal() || args.iter().any(|a| a == "--help" || a == "-h") {
        eprintln!("vegas-sts is the STS helper of vegas; vegas runs it on a cache miss.");
        return ExitCode::from(2);
    }
    if args.iter().any(|a| a == "--verbose") {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        use tracing_subscriber::Layer;
        // vegas's own events only: the SDK's debug log names the long-term
        // access key id (see `vegas::platform::diagnostics_filter`).
        let diagnostics = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_ansi(false)
            .with_filter(vegas::platform::diagnostics_filter());
        tracing_subscriber::registry().with(diagnostics).init();
    }
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    match vegas::sts::helper::serve(&mut stdin.lock(), &mut stdout.lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vegas-sts: {e}");
            ExitCode::from(1)
        }
    }
}
