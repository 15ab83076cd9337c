//! (stub, being written)

use std::borrow::Cow;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not implemented yet")]
    NotImplemented,
}

impl crate::error::Hint for Error {
    fn hint(&self) -> Cow<'_, str> {
        Cow::Borrowed("this part of vegas is not written yet")
    }
}
