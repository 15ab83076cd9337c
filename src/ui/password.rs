//! The one place the OATH password of a YubiKey is asked for (or read from
//! stdin with `vegas oath … --password-stdin`): `assume` over PC/SC, `assume`
//! through ykman and the `oath` commands all come here, and each turns
//! [`NoPassword`] into its own error, whose hint says what to do there.

use std::io::BufRead;

use zeroize::Zeroizing;

use super::{SecretInput, Ui};

/// Where the password comes from.
pub enum PasswordFrom<'a> {
    /// Asked of the person, with hidden input.
    Person(&'a dyn Ui),
    /// The first line of this input, without its line ending.
    FirstLineOf(&'a mut dyn BufRead),
}

/// Why no password was had.
#[derive(Debug)]
pub enum NoPassword {
    /// Nowhere to ask (no terminal).
    NoWayToAsk,
    /// The terminal or the input could not be read.
    Unreadable(std::io::Error),
}

/// The OATH password of `key` ("YubiKey serial 12345678"). One try: what a
/// wrong password means is for the caller to say.
pub fn oath_password(from: PasswordFrom<'_>, key: &str) -> Result<SecretInput, NoPassword> {
    match from {
        PasswordFrom::Person(ui) => match ui.ask_secret(&format!("OATH password for {key}: ")) {
            Some(answer) => answer.map_err(NoPassword::Unreadable),
            None => Err(NoPassword::NoWayToAsk),
        },
        PasswordFrom::FirstLineOf(input) => first_line(input).map_err(NoPassword::Unreadable),
    }
}

fn first_line(input: &mut dyn BufRead) -> std::io::Result<SecretInput> {
    let mut line = Zeroizing::new(String::new());
    input.read_line(&mut line)?;
    let kept = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(kept);
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::scripted::{Said, Scripted};

    #[test]
    fn the_person_is_asked_once_naming_the_key() {
        let ui = Scripted::new().password("hunter2");
        let password = oath_password(PasswordFrom::Person(&ui), "YubiKey serial 42").unwrap();
        assert_eq!(password.as_str(), "hunter2");
        assert_eq!(
            ui.said(),
            [Said::Secret("OATH password for YubiKey serial 42: ".into())]
        );
    }

    #[test]
    fn without_a_way_to_ask_there_is_no_password() {
        let outcome = oath_password(PasswordFrom::Person(&crate::ui::Silent), "YubiKey");
        assert!(matches!(outcome, Err(NoPassword::NoWayToAsk)));
    }

    #[test]
    fn the_first_line_drops_its_line_ending_only() {
        let mut input = std::io::Cursor::new(b" pass word \r\nnext line\n".to_vec());
        let password = oath_password(PasswordFrom::FirstLineOf(&mut input), "k").unwrap();
        assert_eq!(password.as_str(), " pass word ");
        let mut empty = std::io::Cursor::new(Vec::new());
        let password = oath_password(PasswordFrom::FirstLineOf(&mut empty), "k").unwrap();
        assert_eq!(password.as_str(), "");
    }
}
