//! The variables that point an AWS SDK at the server: printed as `export`
//! lines for a shell, or set in the environment of `-- COMMAND`.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::Path;

use zeroize::Zeroizing;

use crate::http::CREDENTIALS_PATH;
use crate::token::Token;

pub const FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
pub const TOKEN: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
pub const TOKEN_FILE: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";

/// Variables that would win over the container provider in the SDKs'
/// chains, or point it elsewhere: not passed to `-- COMMAND`.
const SHADOWING: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    TOKEN,
    TOKEN_FILE,
];

/// The URL and the token (or the file it is in).
pub struct Variables<'a> {
    pub url: String,
    pub token: &'a Token,
    pub token_file: Option<&'a Path>,
}

impl<'a> Variables<'a> {
    pub fn new(client_address: SocketAddr, token: &'a Token, token_file: Option<&'a Path>) -> Self {
        Variables {
            url: format!("http://{client_address}{CREDENTIALS_PATH}"),
            token,
            token_file,
        }
    }

    /// `export NAME=value` lines, quoted for a POSIX shell, built in one
    /// buffer that is wiped on drop (no temporary holds the token).
    pub fn export_lines(&self) -> Zeroizing<String> {
        // Room for both lines from the start: growing would leave a copy.
        let mut out = Zeroizing::new(String::with_capacity(512 + self.url.len()));
        let mut line = |name: &str, value: &str| {
            out.push_str("export ");
            out.push_str(name);
            out.push('=');
            push_quoted(&mut out, value);
            out.push('\n');
        };
        line(FULL_URI, &self.url);
        match self.token_file {
            Some(file) => line(TOKEN_FILE, &file.to_string_lossy()),
            None => line(TOKEN, self.token.expose()),
        }
        out
    }

    /// Set the variables in `cmd`'s environment, without those that would
    /// shadow them. The token is then copied into COMMAND's environment,
    /// which vegas cannot wipe (docs/security.md says so).
    pub fn apply(&self, cmd: &mut tokio::process::Command) {
        for name in SHADOWING {
            cmd.env_remove(name);
        }
        cmd.env(FULL_URI, &self.url);
        match self.token_file {
            Some(file) => cmd.env(TOKEN_FILE, OsString::from(file)),
            None => cmd.env(TOKEN, self.token.expose()),
        };
    }
}

/// `value` as one word for a POSIX shell, pushed onto `out`: as is when
/// it is plainly safe, else in single quotes.
fn push_quoted(out: &mut String, value: &str) {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/:._-[]@%+=,".contains(&b));
    if plain {
        out.push_str(value);
        return;
    }
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str(r"'\''"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell_quote(value: &str) -> String {
        let mut out = String::new();
        push_quoted(&mut out, value);
        out
    }

    #[test]
    fn a_path_with_spaces_or_quotes_is_quoted_for_the_shell() {
        assert_eq!(shell_quote("/tmp/token"), "/tmp/token");
        assert_eq!(shell_quote("/tmp/my token"), "'/tmp/my token'");
        assert_eq!(shell_quote("/tmp/it's"), r"'/tmp/it'\''s'");
        assert_eq!(shell_quote("$(rm -rf ~)"), "'$(rm -rf ~)'");
    }

    #[test]
    fn the_export_lines_name_the_url_and_the_token_or_its_file() {
        let token = Token::generate().unwrap();
        let address: SocketAddr = "127.0.0.1:4321".parse().unwrap();
        let lines = Variables::new(address, &token, None).export_lines();
        assert_eq!(
            lines.as_str(),
            format!(
                "export {FULL_URI}=http://127.0.0.1:4321/credentials\nexport {TOKEN}={}\n",
                token.expose()
            )
        );
        let file = Path::new("/run/user/1000/vegas-token");
        let lines = Variables::new(address, &token, Some(file)).export_lines();
        assert!(lines.ends_with(&format!("export {TOKEN_FILE}=/run/user/1000/vegas-token\n")));
        assert!(!lines.contains(token.expose()));
    }
}
