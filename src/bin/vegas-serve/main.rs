//! `vegas-serve`: the HTTP endpoint behind `vegas serve`, for the AWS SDKs'
//! container credential provider (`AWS_CONTAINER_CREDENTIALS_FULL_URI`).
//! `vegas serve` execs it; it is not meant to be run by hand.
//!
//! A binary of its own so that hyper and the tokio runtime are never loaded
//! by `vegas assume`. Each request is answered as `vegas assume` answers
//! (`vegas::commands::assume::credentials`), one at a time (issuer.rs),
//! after the checks in http.rs and within the limits in server.rs.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod answer;
mod child;
mod error;
mod http;
mod issuer;
mod server;
mod signals;
mod token;
mod variables;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use vegas::commands::serve::ServerCli;
use vegas::Hint;

use error::ServeError;
use http::Shared;
use issuer::Issuer;
use signals::Signals;
use token::{Token, TokenFile};
use variables::Variables;

/// How long in-flight requests get to finish once told to stop.
const DRAIN: Duration = Duration::from_millis(300);

fn main() -> ExitCode {
    vegas::platform::harden_process();
    let cli = ServerCli::parse();
    if cli.verbose {
        diagnostics(cli.no_color);
    }
    match run(&cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("vegas: {err}");
            eprintln!("hint: {}", err.hint());
            ExitCode::from(vegas::error::EXIT_ERROR as u8)
        }
    }
}

/// `--verbose`: vegas's own events on stderr, never a secret.
fn diagnostics(no_color: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let colour = vegas::platform::colour(no_color, std::io::stderr().is_terminal());
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(colour)
        .with_filter(vegas::platform::diagnostics_filter());
    tracing_subscriber::registry().with(layer).init();
}

fn run(cli: &ServerCli) -> Result<ExitCode, ServeError> {
    let args = &cli.serve;
    let issuer = Issuer::new(
        args.profile.clone(),
        args.disable_mandatory_refresh,
        cli.no_gui,
    );
    issuer.check()?;
    let listener = server::bind(args.listen)?;
    let bound = listener.local_addr().map_err(|e| ServeError::Listen {
        address: args.listen.unwrap_or_else(|| ([127, 0, 0, 1], 0).into()),
        message: e.to_string(),
    })?;
    if !bound.ip().is_loopback() {
        eprintln!(
            "vegas: warning: listening on {bound}, which other machines may reach; \
             the token travels over plain HTTP"
        );
    }
    let shared = Arc::new(Shared {
        token: Token::generate()?,
        issuer,
    });
    let token_file = match &args.token_file {
        Some(path) => Some(TokenFile::create(&absolute(path), &shared.token)?),
        None => None,
    };
    let variables = Variables::new(
        server::client_address(bound),
        &shared.token,
        token_file.as_ref().map(TokenFile::path),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ServeError::Runtime(e.to_string()))?;
    let outcome = runtime.block_on(serve_until_done(
        listener,
        shared.clone(),
        &variables,
        &args.command,
    ));
    // Requests still waiting for a touch are not waited for.
    runtime.shutdown_timeout(Duration::from_millis(100));
    drop(token_file);
    outcome
}

/// Serve until a signal, or until `command` ends when there is one.
async fn serve_until_done(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    variables: &Variables<'_>,
    command: &[std::ffi::OsString],
) -> Result<ExitCode, ServeError> {
    let listener = tokio::net::TcpListener::from_std(listener)
        .map_err(|e| ServeError::Runtime(e.to_string()))?;
    let mut signals = Signals::install()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(server::serve(listener, shared, stopped));
    tracing::debug!(url = %variables.url, "serving");
    let outcome = if command.is_empty() {
        announce(variables).map(|()| ExitCode::SUCCESS)
    } else {
        child::run(command, variables, &mut signals).await
    };
    if command.is_empty() && outcome.is_ok() {
        signals.next().await;
    }
    let _ = stop.send(true);
    let _ = tokio::time::timeout(DRAIN, server).await;
    outcome
}

/// The `export` lines on stdout, then stdout closed (so that
/// `eval "$(vegas serve … &)"` returns); how to use them on stderr.
fn announce(variables: &Variables<'_>) -> Result<(), ServeError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(variables.export_lines().as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(ServeError::Output)?;
    drop(stdout);
    close_stdout();
    let token_var = match variables.token_file {
        Some(_) => variables::TOKEN_FILE,
        None => variables::TOKEN,
    };
    eprintln!(
        "vegas: serving credentials at {}; Ctrl-C stops.\n\
         vegas: in a container (the SDKs take plain HTTP only on loopback, so use the host's network):\n  \
         docker run --network host -e {} -e {token_var} IMAGE",
        variables.url,
        variables::FULL_URI
    );
    Ok(())
}

/// Point descriptor 1 at /dev/null: whoever reads our stdout sees its end.
fn close_stdout() {
    use std::os::fd::AsRawFd;
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 onto descriptor 1, which stays open for the process.
        unsafe { libc::dup2(null.as_raw_fd(), 1) };
    }
}

/// `path` made absolute against the current directory: the variable is
/// read by a tool that may run elsewhere.
fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
