//! `vegas oath keys|list|code`.

use std::io::Write;

use crate::cli::OathCommand;
use crate::ui::Ui;
use crate::Error;

pub fn run(_cmd: &OathCommand, _ui: &dyn Ui, _out: &mut dyn Write) -> Result<(), Error> {
    Ok(())
}
