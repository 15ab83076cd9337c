//! The `vegas` binary: parse, run, print the error with its hint, exit.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use vegas::cli::Cli;
use vegas::error::Hint;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.verbose {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(!cli.no_color && std::env::var_os("NO_COLOR").is_none())
            .init();
    }
    let ui = vegas::ui::Terminal::default();
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
            ExitCode::from(vegas::error::EXIT_ERROR as u8)
        }
    }
}
