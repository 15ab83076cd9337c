//! `vegas completions SHELL`: a completion script generated from the clap
//! definitions in `cli.rs`, so it never falls behind the flags.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::Error;

pub fn run(shell: Shell, out: &mut dyn Write) -> Result<(), Error> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "vegas", &mut script);
    out.write_all(&script)
        .and_then(|_| out.flush())
        .map_err(Error::Output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_that_knows_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::PowerShell] {
            let mut out = Vec::new();
            run(shell, &mut out).unwrap();
            let script = String::from_utf8(out).unwrap();
            for word in ["assume", "doctor", "show-profile", "no-gui"] {
                assert!(script.contains(word), "{shell}: no {word}");
            }
        }
    }
}
