//! Node-API functions of the reader. Decoded messages cross as JSON strings (one
//! string per batch), which `index.js` parses; this path is for inspection and
//! tests, not for the collector's export loop.

use super::sys::{napi_callback, napi_env};
use super::{js_fn, Env};
use crate::file::layout::RingKind;
use crate::reader::{json, Reader};
use crate::recorder::RecError;
use std::cell::RefCell;
use std::os::raw::c_void;
use std::path::Path;

struct Handle(RefCell<Option<Reader>>);

unsafe extern "C" fn finalize(_env: napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the `Box<Handle>` leaked by `create_external`, finalized once.
    drop(unsafe { Box::from_raw(data as *mut Handle) });
}

fn with<T>(env: Env, h: super::sys::napi_value, f: impl FnOnce(&mut Reader) -> T) -> Result<T, RecError> {
    let h: &Handle = env.external(h)?;
    let mut g = h.0.borrow_mut();
    let rd = g.as_mut().ok_or_else(|| RecError::type_error("reader is closed".into()))?;
    Ok(f(rd))
}

js_fn!(reader_open, |env, info| {
    let [p] = env.args::<1>(info)?;
    let path = env.string(p)?;
    let rd = Reader::open(Path::new(&path)).map_err(RecError::plain)?;
    env.create_external(Box::new(Handle(RefCell::new(Some(rd)))), finalize)
});

js_fn!(reader_header, |env, info| {
    let [h] = env.args::<1>(info)?;
    let s = with(env, h, |rd| {
        rd.refresh().map(|_| json::header(rd))
    })?
    .map_err(RecError::plain)?;
    env.str(&s)
});

js_fn!(reader_read, |env, info| {
    let [h, ring, max] = env.args::<3>(info)?;
    let ring = match env.f64(ring)? as i32 {
        0 => RingKind::Events,
        1 => RingKind::Spans,
        _ => RingKind::Measurements,
    };
    let max = env.f64(max)?.clamp(1.0, 1e6) as usize;
    let s = with(env, h, |rd| json::read(rd, ring, max))?;
    env.str(&s)
});

js_fn!(reader_discard, |env, info| {
    let [h, ring] = env.args::<2>(info)?;
    let ring = match env.f64(ring)? as i32 {
        0 => RingKind::Events,
        1 => RingKind::Spans,
        _ => RingKind::Measurements,
    };
    let n = with(env, h, |rd| rd.read_raw(ring, usize::MAX, false, |_| {}))?;
    env.number(n as f64)
});

js_fn!(reader_writer_alive, |env, info| {
    let [h] = env.args::<1>(info)?;
    let alive = with(env, h, |rd| rd.writer_alive())?;
    env.boolean(alive)
});

js_fn!(reader_close, |env, info| {
    let [h] = env.args::<1>(info)?;
    let h: &Handle = env.external(h)?;
    drop(h.0.borrow_mut().take());
    Ok(env.undefined())
});

pub(super) const EXPORTS: &[(&str, napi_callback)] = &[
    ("readerOpen", reader_open),
    ("readerHeader", reader_header),
    ("readerRead", reader_read),
    ("readerDiscard", reader_discard),
    ("readerWriterAlive", reader_writer_alive),
    ("readerClose", reader_close),
];
