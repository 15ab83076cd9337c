//! `vegas assume --profile P`: the credential_process JSON on stdout.

use std::io::Write;

use zeroize::Zeroizing;

use crate::cli::AssumeArgs;
use crate::config::Files;
use crate::flow::{self, Options, SourceKeys};
use crate::totp::PromptWays;
use crate::ui::Ui;
use crate::Error;

/// `no_gui`: the global `--no-gui` (never show a dialog to ask for the code).
pub fn run(args: &AssumeArgs, no_gui: bool, ui: &dyn Ui, out: &mut dyn Write) -> Result<(), Error> {
    let started = std::time::Instant::now();
    let files = Files::load()?;
    let profile = files.resolve(&args.profile)?;
    tracing::debug!(
        profile = %profile.name,
        elapsed_us = flow::micros(started),
        "configuration read and resolved"
    );
    let options = Options {
        token_code: args.token_code.clone().map(Zeroizing::new),
        disable_mandatory_refresh: args.disable_mandatory_refresh,
        cache_dir: crate::cli::default_cache_dir(),
        prompt: PromptWays {
            terminal: true,
            gui: !no_gui,
        },
        source_keys: Some(SourceKeys {
            found: files.source_credentials(&profile.long_term_source().value),
            credentials_file: files.credentials_path.clone(),
        }),
    };
    let creds = flow::assume(&profile, &options, ui)?;
    let mut json = creds.to_process_json();
    json.push('\n');
    super::emit(out, &json)
}
