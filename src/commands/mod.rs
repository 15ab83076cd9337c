//! One function per command: turn parsed arguments into library calls and
//! write the result to `out` (stdout in the binary). Nothing here prompts or
//! exits; errors go back to `main.rs` with their hints.

use std::io::Write;

use crate::cli::{Cli, Command};
use crate::ui::Ui;
use crate::Error;

pub mod assume;
pub mod cache;
pub mod completions;
pub mod config;
pub mod doctor;
pub mod oath;
pub mod serve;
pub mod setup;
mod table;

pub fn run(cli: &Cli, ui: &dyn Ui, out: &mut dyn Write) -> Result<(), Error> {
    match &cli.command {
        Command::Oath(cmd) => oath::run(cmd, ui, out),
        Command::Assume(args) => assume::run(args, cli.no_gui, ui, out),
        Command::Cache(cmd) => cache::run(cmd, ui, out),
        Command::Config(cmd) => config::run(cmd, ui, out),
        Command::Doctor {
            profile,
            offline,
            json,
        } => {
            let options = doctor::Options {
                profile: profile.as_deref(),
                offline: *offline,
                json: *json,
                no_gui: cli.no_gui,
                color: wants_color(cli),
            };
            doctor::run(&options, out)
        }
        Command::Setup(args) => {
            let style = setup::Style {
                no_gui: cli.no_gui,
                color: wants_color(cli),
            };
            setup::run(args, style, ui, out)
        }
        Command::Serve(args) => serve::run(cli, args),
        Command::Completions { shell } => completions::run(*shell, out),
    }
}

/// Write a whole output, mapping I/O failures to [`Error::Output`].
pub fn emit(out: &mut dyn Write, text: &str) -> Result<(), Error> {
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(Error::Output)
}

/// Colour only on a terminal, and never with `--no-color` or `NO_COLOR`.
pub fn wants_color(cli: &Cli) -> bool {
    use std::io::IsTerminal;
    crate::platform::colour(cli.no_color, std::io::stdout().is_terminal())
}
