//! The `vegas` binary: parse, run, print the error with its hint, exit.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use vegas::cli::Cli;
use vegas::hint::Hint;

fn main() -> ExitCode {
    vegas::oath::pcsc::refuse_rather_than_wait();
    vegas::platform::harden_process();
    let cli = Cli::parse();
    if cli.verbose {
        use std::io::IsTerminal;
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        use tracing_subscriber::Layer;
        // Diagnostics go to stderr: colour only when that is a terminal.
        let colour = vegas::platform::colour(cli.no_color, std::io::stderr().is_terminal());
        let diagnostics = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_ansi(colour)
            .with_filter(vegas::platform::diagnostics_filter());
        tracing_subscriber::registry().with(diagnostics).init();
    }
    let ui = vegas::ui::Terminal;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match vegas::commands::run(&cli, &ui, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(vegas::Error::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(err) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "vegas: {err}");
            let _ = writeln!(stderr, "hint: {}", err.hint());
            ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(1))
        }
    }
}
