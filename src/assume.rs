//! The path of one `vegas assume` (stub, being written).
