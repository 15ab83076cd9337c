//! `vegas serve`: hand over to `vegas-serve`, the binary beside vegas that
//! holds the HTTP server and its runtime.
//!
//! The server lives in a binary of its own so that `vegas` never links
//! hyper or tokio and a cache hit of `vegas assume` stays the cost of
//! starting a small process. `vegas serve` is still a subcommand here, so
//! help, the man page and completions cover it; it parses the arguments,
//! finds `vegas-serve` as [`crate::sts::helper::locate`] finds `vegas-sts`,
//! and replaces itself with it (exec: one process, signals reach the server
//! directly, and its exit status is the command's).

use std::ffi::OsString;

use crate::cli::{Cli, ServeArgs};
use crate::Error;

/// The server's file name, beside the `vegas` binary.
pub const SERVER_NAME: &str = "vegas-serve";

/// Exec `vegas-serve` with `args`; returns only if that fails.
pub fn run(cli: &Cli, args: &ServeArgs) -> Result<(), Error> {
    use std::os::unix::process::CommandExt;
    let missing = |e: crate::platform::SiblingMissing| Error::ServerMissing {
        path: e.path,
        message: e.message,
    };
    let server = crate::platform::locate_beside_current_exe(SERVER_NAME).map_err(missing)?;
    // vegas-serve decides PCSCLITE_NO_BLOCKING itself, from the user's environment.
    let failed = crate::oath::pcsc::as_started(&mut std::process::Command::new(&server))
        .args(server_argv(cli, args))
        .exec();
    Err(Error::ServerMissing {
        path: server.display().to_string(),
        message: failed.to_string(),
    })
}

/// The command line `vegas-serve` parses back into the same [`ServeArgs`]
/// and global flags.
pub fn server_argv(cli: &Cli, args: &ServeArgs) -> Vec<OsString> {
    let mut argv: Vec<OsString> = Vec::new();
    let mut flag = |on: bool, name: &str| {
        if on {
            argv.push(name.into());
        }
    };
    flag(cli.verbose, "--verbose");
    flag(cli.no_color, "--no-color");
    flag(cli.no_gui, "--no-gui");
    flag(
        args.disable_mandatory_refresh,
        "--disable-mandatory-refresh",
    );
    argv.push("--profile".into());
    argv.push(args.profile.clone().into());
    if let Some(listen) = args.listen {
        argv.push("--listen".into());
        argv.push(listen.to_string().into());
    }
    if let Some(file) = &args.token_file {
        argv.push("--token-file".into());
        argv.push(file.clone().into_os_string());
    }
    if !args.command.is_empty() {
        argv.push("--".into());
        argv.extend(args.command.iter().cloned());
    }
    argv
}

/// What `vegas-serve` parses: the global flags that matter to it and
/// `vegas serve`'s own arguments.
#[derive(Debug, clap::Parser)]
#[command(
    name = "vegas-serve",
    about = "The HTTP server behind `vegas serve`; run `vegas serve` instead."
)]
pub struct ServerCli {
    #[arg(long, short = 'v')]
    pub verbose: bool,
    #[arg(long)]
    pub no_color: bool,
    #[arg(long)]
    pub no_gui: bool,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_server_parses_back_exactly_what_vegas_serve_was_given() {
        let cli = Cli::try_parse_from([
            "vegas",
            "--verbose",
            "--no-gui",
            "serve",
            "--profile",
            "admin",
            "--listen",
            "[::1]:8123",
            "--token-file",
            "/tmp/t",
            "--disable-mandatory-refresh",
            "--",
            "sh",
            "-c",
            "exit 3",
        ])
        .unwrap();
        let crate::cli::Command::Serve(args) = &cli.command else {
            panic!("not serve")
        };
        let mut argv = vec![OsString::from(SERVER_NAME)];
        argv.extend(server_argv(&cli, args));
        let back = ServerCli::try_parse_from(argv).unwrap();
        assert!(back.verbose && back.no_gui && !back.no_color);
        assert_eq!(back.serve.profile, "admin");
        assert_eq!(back.serve.listen, args.listen);
        assert_eq!(back.serve.token_file, args.token_file);
        assert!(back.serve.disable_mandatory_refresh);
        assert_eq!(back.serve.command, ["sh", "-c", "exit 3"]);
    }
}
