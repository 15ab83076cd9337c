//! The man pages (vegas.1 and one per subcommand, vegas-assume.1, …),
//! generated from the clap definitions:
//! `cargo run --example man -- docs/man`. tests/doctor_e2e.rs checks that the
//! committed pages are current and that `man -l` renders them.

use clap::CommandFactory;

fn main() -> std::io::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| std::path::PathBuf::from("docs/man"), Into::into);
    std::fs::create_dir_all(&dir)?;
    clap_mangen::generate_to(vegas::cli::Cli::command(), &dir)
}
