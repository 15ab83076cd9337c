//! `vegas-serve`: the HTTP endpoint behind `vegas serve`, for the AWS SDKs'
//! container credential provider (`AWS_CONTAINER_CREDENTIALS_FULL_URI`).
//! `vegas serve` execs it; it is not meant to be run by hand.
//!
//! A binary of its own so that hyper and the tokio runtime are never loaded
//! by `vegas assume`. Credentials come as `vegas assume` gets them
//! (fetch.rs): once at start, then refreshed ahead of expiry in a single
//! flight (issuer.rs); requests are answered after the checks in http.rs
//! and within the limits in server.rs.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod answer;
mod child;
mod error;
mod fetch;
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
use fetch::FlowFetch;
use http::Shared;
use issuer::Issuer;
use signals::Signals;
use token::{Token, TokenFile};
use variables::Variables;

/// How long in-flight requests get to finish once told to stop.
const DRAIN: Duration = Duration::from_millis(300);

fn main() -> ExitCode {
    vegas::oath::pcsc::refuse_rather_than_wait();
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
    let fetch = Arc::new(FlowFetch {
        profile: args.profile.clone(),
        disable_mandatory_refresh: args.disable_mandatory_refresh,
        no_gui: cli.no_gui,
        shares_terminal: !args.command.is_empty(),
    });
    fetch.check()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ServeError::Runtime(e.to_string()))?;
    // The signals are caught before the token file exists, so that none
    // of them can end the process and leave the file behind.
    let mut signals = Signals::install()?;
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
        issuer: Issuer::new(fetch.clone(), args.disable_mandatory_refresh),
        hosts: http::hosts(bound),
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
    let outcome = runtime.block_on(async {
        if let Some(signal) = first_credentials(&fetch, &shared.issuer, &mut signals).await? {
            return Ok(ExitCode::from(128 + (signal.number & 0x7f) as u8));
        }
        serve_until_done(
            listener,
            shared.clone(),
            &variables,
            &args.command,
            &mut signals,
        )
        .await
    });
    // Requests still waiting for a touch are not waited for.
    runtime.shutdown_timeout(Duration::from_millis(100));
    drop(token_file);
    outcome
}

/// Fetch the first credentials before anything is printed or run, so that
/// the touch happens now, where the person is looking, and a failure is
/// the one error of `vegas assume`. `Some(signal)` if stopped by one.
async fn first_credentials(
    fetch: &Arc<FlowFetch>,
    issuer: &Issuer,
    signals: &mut Signals,
) -> Result<Option<signals::Caught>, ServeError> {
    use futures_util::future::{select, Either};
    use std::pin::pin;
    let fetch = fetch.clone();
    let first = tokio::task::spawn_blocking(move || fetch.credentials());
    match select(first, pin!(signals.next())).await {
        Either::Left((Ok(Ok((profile, creds))), _)) => {
            let answer = answer::Answer::credentials(&creds, &profile.role_arn.value);
            issuer.hold(answer, creds.expires_at);
            Ok(None)
        }
        Either::Left((Ok(Err(err)), _)) => Err(err.into()),
        Either::Left((Err(e), _)) => Err(ServeError::Runtime(e.to_string())),
        Either::Right((signal, _)) => Ok(Some(signal)),
    }
}

/// Serve until a signal, or until `command` ends when there is one.
async fn serve_until_done(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    variables: &Variables<'_>,
    command: &[std::ffi::OsString],
    signals: &mut Signals,
) -> Result<ExitCode, ServeError> {
    let listener = tokio::net::TcpListener::from_std(listener)
        .map_err(|e| ServeError::Runtime(e.to_string()))?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let refresher = tokio::spawn(shared.issuer.clone().refresh_ahead());
    let server = tokio::spawn(server::serve(listener, shared, stopped));
    tracing::debug!(url = %variables.url, "serving");
    let outcome = if command.is_empty() {
        announce(variables).map(|()| ExitCode::SUCCESS)
    } else {
        child::run(command, variables, signals).await
    };
    if command.is_empty() && outcome.is_ok() {
        signals.next().await;
    }
    refresher.abort();
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
