//! Node-API functions of the collector pipeline.
use super::sys::napi_callback;
pub(super) const EXPORTS: &[(&str, napi_callback)] = &[];
