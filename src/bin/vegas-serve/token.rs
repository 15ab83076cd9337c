//! The bearer token a client must send: 256 random bits per run, compared
//! in constant time, wiped on drop; and the file it may be handed over in.
//!
//! The container credential provider sends the token as the whole value of
//! the `Authorization` header, read from `AWS_CONTAINER_AUTHORIZATION_TOKEN`
//! or from the file named by `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::ServeError;

/// Random bytes in a token: 256 bits.
const TOKEN_BYTES: usize = 32;

/// The token of this run, as the 64 lowercase hex digits clients send.
pub struct Token(Zeroizing<String>);

impl Token {
    /// A fresh token from the operating system's random source.
    pub fn generate() -> Result<Token, ServeError> {
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
        getrandom::fill(bytes.as_mut_slice()).map_err(|e| ServeError::Random(e.to_string()))?;
        Ok(Token::from_bytes(bytes.as_slice()))
    }

    fn from_bytes(bytes: &[u8]) -> Token {
        let mut hex = Zeroizing::new(String::with_capacity(bytes.len() * 2));
        for byte in bytes {
            for nibble in [byte >> 4, byte & 0x0f] {
                hex.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
            }
        }
        Token(hex)
    }

    /// Whether `presented` (an `Authorization` header's value) is this
    /// token, in time that does not depend on where they differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(presented).into()
    }

    /// The token itself, for the `export` line and the token file only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The token written to a file of its own for
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`; removed when dropped.
#[derive(Debug)]
pub struct TokenFile {
    path: PathBuf,
}

impl TokenFile {
    /// Create `path` (mode 0600, never following a symlink) and write the
    /// token to it. An existing file, or a symlink, is an error: vegas does
    /// not overwrite a file it did not create, nor remove one.
    pub fn create(path: &Path, token: &Token) -> Result<TokenFile, ServeError> {
        use std::os::unix::fs::OpenOptionsExt;
        let failed = |e: std::io::Error| ServeError::TokenFile {
            path: path.to_path_buf(),
            exists: e.kind() == std::io::ErrorKind::AlreadyExists,
            message: e.to_string(),
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(failed)?;
        let created = TokenFile {
            path: path.to_path_buf(),
        };
        file.write_all(token.expose().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(failed)?;
        Ok(created)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TokenFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_256_bits_of_hex_and_fresh_each_time() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn only_the_exact_token_matches() {
        let token = Token::from_bytes(&[0xab; 32]);
        let exact = "ab".repeat(32);
        assert!(token.matches(exact.as_bytes()));
        assert!(!token.matches(&exact.as_bytes()[..63]));
        assert!(!token.matches(format!("{exact}0").as_bytes()));
        assert!(!token.matches(exact.to_uppercase().as_bytes()));
        assert!(!token.matches(b""));
        assert!(!format!("{token:?}").contains("abab"));
    }

    #[test]
    fn the_token_file_is_private_refuses_an_existing_file_and_goes_on_drop() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let token = Token::generate().unwrap();
        let file = TokenFile::create(&path, &token).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), token.expose());
        let again = TokenFile::create(&path, &token).unwrap_err();
        assert!(
            matches!(again, ServeError::TokenFile { exists: true, .. }),
            "{again:?}"
        );
        drop(file);
        assert!(!path.exists());
    }

    #[test]
    fn a_symlink_at_the_token_path_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        let link = dir.path().join("token");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = TokenFile::create(&link, &Token::generate().unwrap()).unwrap_err();
        assert!(matches!(err, ServeError::TokenFile { .. }), "{err:?}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        assert!(link.symlink_metadata().is_ok(), "the link is not removed");
    }
}
