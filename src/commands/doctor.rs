//! `vegas doctor`: checks the whole chain and says what to fix.

use std::io::Write;

use crate::ui::Ui;
use crate::Error;

pub fn run(
    _profile: Option<&str>,
    _offline: bool,
    _json: bool,
    _ui: &dyn Ui,
    _out: &mut dyn Write,
) -> Result<(), Error> {
    Ok(())
}
