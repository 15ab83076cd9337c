//! The [`Hint`] trait: what to do about an error, one line, shown after it.
//!
//! A leaf: every layer's error implements it, and nothing here imports from
//! any layer, so `error.rs` and the modules never import each other.

use std::borrow::Cow;

/// What to do about an error, one line, shown after it (`hint: …`).
pub trait Hint {
    fn hint(&self) -> Cow<'_, str>;
}
