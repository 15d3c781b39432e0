//! Protobuf wire format for the v1 messages (`shared/protocol/mmap.proto`):
//! [`encode`] for the recorder's hot path, [`decode`] for untrusted input,
//! [`messages`] for the decoded form.

pub mod decode;
pub mod encode;
pub mod messages;
