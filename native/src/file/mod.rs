//! The otlp-mmap v1 file: header, rings and dictionary (see `shared/PROTOCOL.md`).
//!
//! Everything here is shared by the writer ([`crate::recorder`]) and the reader
//! ([`crate::reader`]). Offsets into the file are [`FileOffset`]s; references to
//! dictionary entries are [`DictRef`]s.

pub mod create;
pub mod dict;
pub mod layout;
pub mod mapping;
pub mod ring;
pub mod sys;

pub use layout::{DictRef, FileOffset};

#[cfg(test)]
mod tests;
