//! `vegas assume --profile P`: the credential_process JSON on stdout.

use std::io::{Read, Write};

use zeroize::Zeroizing;

use crate::cli::AssumeArgs;
use crate::config::{Files, Profile};
use crate::credentials::Credentials;
use crate::flow::{self, Options, SourceKeys};
use crate::totp::{Error as TotpError, PromptWays};
use crate::ui::Ui;
use crate::Error;

/// `no_gui`: the global `--no-gui` (never show a dialog to ask for the code).
pub fn run(args: &AssumeArgs, no_gui: bool, ui: &dyn Ui, out: &mut dyn Write) -> Result<(), Error> {
    let request = Request {
        profile: &args.profile,
        token_code: args.token_code.as_deref(),
        disable_mandatory_refresh: args.disable_mandatory_refresh,
        refresh_ahead: None,
        no_gui,
    };
    let (_, creds) = credentials(request, ui)?;
    let mut json = creds.to_process_json();
    json.push('\n');
    super::emit(out, &json)
}

/// What one `vegas assume` asks for; `vegas serve` asks the same for each
/// request it answers.
pub struct Request<'a> {
    pub profile: &'a str,
    /// `--token-code`: a code, or `-` to read it from stdin (read only
    /// once the profile resolved, so a typo fails without waiting for it).
    pub token_code: Option<&'a str>,
    pub disable_mandatory_refresh: bool,
    /// Refresh cached credentials with less than this left (`vegas serve`,
    /// ahead of its clients); `None`: the mandatory window.
    pub refresh_ahead: Option<std::time::Duration>,
    pub no_gui: bool,
}

/// The credentials of `request.profile` from the cache or fresh, and the
/// profile as resolved (its role ARN, for those who show it).
pub fn credentials(request: Request<'_>, ui: &dyn Ui) -> Result<(Profile, Credentials), Error> {
    let started = std::time::Instant::now();
    let files = Files::load()?;
    let profile = files.resolve(request.profile)?;
    tracing::debug!(
        profile = %profile.name,
        elapsed_us = flow::micros(started),
        "configuration read and resolved"
    );
    let cache_dir = crate::platform::cache_dir().map_err(|e| Error::Cache(e.into()))?;
    let options = Options {
        token_code: token_code(request.token_code, &mut *unbuffered_stdin())?,
        disable_mandatory_refresh: request.disable_mandatory_refresh,
        refresh_ahead: request.refresh_ahead,
        cache_dir,
        prompt: PromptWays {
            terminal: true,
            gui: !request.no_gui,
        },
        source_keys: Some(SourceKeys {
            found: files.source_credentials(&profile.long_term_source().value),
            credentials_file: files.credentials_path.clone(),
        }),
    };
    let creds = flow::assume(&profile, &options, ui)?;
    Ok((profile, creds))
}

/// Standard input read straight from descriptor 0, byte by byte: std's
/// `Stdin` keeps what it reads in a buffer of its own that nothing wipes.
/// Not closed on drop (the descriptor is the process's, not ours).
fn unbuffered_stdin() -> std::mem::ManuallyDrop<std::fs::File> {
    use std::os::fd::FromRawFd;
    // SAFETY: descriptor 0 stays open for the life of the process, and
    // ManuallyDrop keeps this File from closing it.
    std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(0) })
}

/// The code given with `--token-code`: `-` reads it from the first line of
/// `stdin`, so it appears in no process list. Held in a buffer that is wiped
/// when the flow is done with it.
fn token_code(
    given: Option<&str>,
    stdin: &mut dyn Read,
) -> Result<Option<Zeroizing<String>>, Error> {
    let code = match given {
        None => return Ok(None),
        Some("-") => read_code_line(stdin)?,
        Some(code) => Zeroizing::new(code.to_string()),
    };
    Ok(Some(code))
}

/// The first line of `stdin`, at most [`LINE_MAX`] bytes, read one byte at
/// a time into a buffer allocated once (no reallocation leaves a copy).
fn read_code_line(stdin: &mut dyn Read) -> Result<Zeroizing<String>, Error> {
    const LINE_MAX: usize = 64;
    let mut line = Zeroizing::new(Vec::with_capacity(LINE_MAX));
    let mut byte = [0u8; 1];
    while line.len() < LINE_MAX {
        match stdin.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(TotpError::PromptFailed(format!(
                    "cannot read --token-code from stdin: {}",
                    e.kind()
                ))
                .into())
            }
        }
    }
    zeroize::Zeroize::zeroize(&mut byte);
    let text = std::str::from_utf8(&line).unwrap_or_default();
    let code = Zeroizing::new(text.trim().to_string());
    if code.is_empty() {
        return Err(TotpError::PromptClosed.into());
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dash_reads_the_code_from_the_first_line_of_stdin() {
        let mut stdin: &[u8] = b" 123456\r\nrest\n";
        let code = token_code(Some("-"), &mut stdin).unwrap().unwrap();
        assert_eq!(code.as_str(), "123456");
        let mut unused: &[u8] = b"999999\n";
        let given = token_code(Some("654321"), &mut unused).unwrap().unwrap();
        assert_eq!(given.as_str(), "654321");
        assert!(token_code(None, &mut unused).unwrap().is_none());
    }

    #[test]
    fn an_empty_stdin_is_no_code_rather_than_an_empty_one() {
        let mut stdin: &[u8] = b"";
        let err = token_code(Some("-"), &mut stdin).unwrap_err();
        assert!(
            matches!(err, Error::Totp(TotpError::PromptClosed)),
            "{err:?}"
        );
    }
}
