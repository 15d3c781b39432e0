//! otlp-mmap: the native core of the Node.js agent.
//!
//! * [`file`]: the v1 file layout (header, rings, dictionary), shared by writer and reader.
//! * [`wire`]: protobuf encoding and decoding of the v1 messages.
//! * [`recorder`]: the writer used inside the instrumented process.
//! * [`reader`]: a bounds-checked reader for untrusted files.
//! * [`collect`]: span assembly, metric aggregation, logs and OTLP encoding.
//! * `napi`: the only place with Node-API FFI.

pub mod collect;
pub mod collector;
pub mod file;
pub mod reader;
pub mod recorder;
pub mod wire;

mod napi;
