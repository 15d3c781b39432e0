//! Node-API functions of the reader (filled in below).
use super::sys::napi_callback;
pub(super) const EXPORTS: &[(&str, napi_callback)] = &[];
