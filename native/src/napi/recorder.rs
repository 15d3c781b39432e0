//! Node-API functions of the recorder. `index.js` wraps them: it validates the
//! arguments, writes them into the call buffer (see `recorder::args`) and calls one
//! of these with the handle only, so each telemetry call crosses into native code once.

use super::sys::{napi_callback, napi_env, napi_ref};
use super::{js_fn, Env, JsResult};
use crate::file::create::CreateOptions;
use crate::file::layout::RingGeometry;
use crate::recorder::args::Args;
use crate::recorder::{RecError, Recorder};
use std::cell::{Cell, RefCell};
use std::os::raw::c_void;
use std::path::Path;

/// What a recorder handle (a JS external) owns.
struct Handle {
    recorder: RefCell<Option<Recorder>>,
    scratch: Cell<(*const u8, usize)>,
    scratch_ref: Cell<napi_ref>,
}

unsafe extern "C" fn finalize(env: napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the `Box<Handle>` leaked by `create_external`; Node calls the
    // finalizer exactly once, after which no JS value refers to it.
    let h = unsafe { Box::from_raw(data as *mut Handle) };
    Env(env).delete_reference(h.scratch_ref.replace(std::ptr::null_mut()));
    drop(h);
}

fn closed() -> RecError {
    RecError::type_error("recorder is closed: open a new one with openRecorder()".into())
}

/// Runs `f` with the live recorder of `h` and its call buffer.
fn with_handle<T>(h: &Handle, f: impl FnOnce(&mut Recorder, &mut Args) -> JsResult<T>) -> JsResult<T> {
    let mut guard = h.recorder.try_borrow_mut().map_err(|_| RecError::plain("recorder re-entered".into()))?;
    let rec = guard.as_mut().ok_or_else(closed)?;
    let (p, len) = h.scratch.get();
    // SAFETY: the call buffer is a Node Buffer kept alive by `scratch_ref`; only this
    // JS thread writes it, and not while this synchronous call runs.
    let bytes = unsafe { std::slice::from_raw_parts(p, len) };
    f(rec, &mut Args::new(bytes))
}

/// `with_handle` for functions that take the handle as their argument.
fn with_call<T>(env: Env, info: super::sys::napi_callback_info, f: impl FnOnce(&mut Recorder, &mut Args) -> JsResult<T>) -> JsResult<T> {
    let [h] = env.args::<1>(info)?;
    with_handle(env.external(h)?, f)
}

fn geometry(env: Env, slots: super::sys::napi_value, size: super::sys::napi_value) -> JsResult<RingGeometry> {
    Ok(RingGeometry { num_buffers: env.f64(slots)? as u64, buffer_size: env.f64(size)? as u64 })
}

js_fn!(rec_open, |env, info| {
    let a = env.args::<12>(info)?;
    let path = env.string(a[0])?;
    let (p, len) = env.buffer(a[1])?;
    let opts = CreateOptions {
        events: geometry(env, a[2], a[3])?,
        spans: geometry(env, a[4], a[5])?,
        measurements: geometry(env, a[6], a[7])?,
        initial_dictionary_bytes: env.f64(a[8])? as u64,
        max_dictionary_bytes: env.f64(a[9])? as u64,
        mode: env.f64(a[10])? as u32,
    };
    let attach = env.bool(a[11])?;
    let rec = Recorder::open(Path::new(&path), &opts, attach)?;
    let scratch_ref = env.reference(a[1])?;
    let h = Box::new(Handle { recorder: RefCell::new(Some(rec)), scratch: Cell::new((p, len)), scratch_ref: Cell::new(scratch_ref) });
    let ptr = &*h as *const Handle as *mut c_void;
    let external = env.create_external(h, finalize)?;
    // The hot-path calls as functions bound to this recorder: no argument to convert.
    let out = env.object()?;
    env.set(out, "h", external)?;
    for (name, cb) in BOUND {
        let f = env.bound_function(name, *cb, ptr, external)?;
        env.set(out, name, f)?;
    }
    Ok(out)
});

/// Runs `f` with the recorder a bound function belongs to and the call buffer.
fn with_bound(env: Env, info: super::sys::napi_callback_info, f: impl FnOnce(&mut Recorder, &mut Args) -> JsResult<()>) -> JsResult<()> {
    with_handle(env.data(info)?, f)
}

macro_rules! bound_call {
    ($name:ident, $method:ident) => {
        js_fn!($name, |env, info| {
            with_bound(env, info, |rec, a| rec.$method(a))?;
            // NULL is `undefined` to JS.
            Ok(std::ptr::null_mut())
        });
    };
}

bound_call!(b_span_start, span_start);
bound_call!(b_span_end, span_end);
bound_call!(b_span_name, span_name);
bound_call!(b_span_attributes, span_attributes);
bound_call!(b_span_links, span_links);
bound_call!(b_measurement, measurement);
bound_call!(b_event, event);

const BOUND: &[(&str, napi_callback)] = &[
    ("spanStart", b_span_start),
    ("spanEnd", b_span_end),
    ("spanName", b_span_name),
    ("spanAttributes", b_span_attributes),
    ("spanLinks", b_span_links),
    ("measurement", b_measurement),
    ("event", b_event),
];

js_fn!(rec_set_scratch, |env, info| {
    let [h, buf] = env.args::<2>(info)?;
    let h: &Handle = env.external(h)?;
    let (p, len) = env.buffer(buf)?;
    let r = env.reference(buf)?;
    env.delete_reference(h.scratch_ref.replace(r));
    h.scratch.set((p, len));
    Ok(env.undefined())
});

js_fn!(rec_string, |env, info| {
    let [h, s] = env.args::<2>(info)?;
    let h: &Handle = env.external(h)?;
    let s = env.string(s)?;
    let mut guard = h.recorder.borrow_mut();
    let rec = guard.as_mut().ok_or_else(closed)?;
    let r = rec.intern(&s)?;
    env.number(r as f64)
});

macro_rules! ref_call {
    ($name:ident, $method:ident) => {
        js_fn!($name, |env, info| {
            let r = with_call(env, info, |rec, a| rec.$method(a))?;
            env.number(r as f64)
        });
    };
}

ref_call!(rec_resource, create_resource);
ref_call!(rec_scope, create_scope);
ref_call!(rec_metric, create_metric);

js_fn!(rec_attr_set, |env, info| {
    // (handle, start, end): registers the attribute list at [start, end) of the call buffer.
    let [h, start, end] = env.args::<3>(info)?;
    let h: &Handle = env.external(h)?;
    let (start, end) = (env.f64(start)?, env.f64(end)?);
    let id = with_handle(h, |rec, a| {
        let whole = a.remaining();
        if !(start >= 0.0 && start <= end && end <= whole as f64) {
            return Err(RecError::range_error(format!("attribute set bounds {start}..{end} are outside the call buffer")));
        }
        let js = a.take(end as usize)?;
        rec.register_attr_set(&js[start as usize..])
    })?;
    env.number(id.map_or(-1.0, f64::from))
});

js_fn!(rec_attr_set_free, |env, info| {
    // (handle, id): frees a registered attribute set; false when `id` was not one (or the
    // recorder is closed: its sets went with it).
    let [h, id] = env.args::<2>(info)?;
    let h: &Handle = env.external(h)?;
    let id = env.f64(id)?;
    let Ok(mut guard) = h.recorder.try_borrow_mut() else { return env.boolean(false) };
    let freed = match guard.as_mut() {
        Some(rec) if id >= 0.0 && id <= f64::from(u32::MAX) && id.fract() == 0.0 => rec.free_attr_set(id as u32),
        _ => false,
    };
    env.boolean(freed)
});

js_fn!(rec_stats, |env, info| {
    let [h] = env.args::<1>(info)?;
    let h: &Handle = env.external(h)?;
    let guard = h.recorder.borrow();
    let rec = guard.as_ref().ok_or_else(closed)?;
    let s = rec.stats();
    let mut vals = Vec::with_capacity(10);
    for v in s.written {
        vals.push(env.number(v as f64)?);
    }
    for v in s.dropped_in_file {
        vals.push(env.number(v as f64)?);
    }
    vals.push(env.number(s.dictionary_bytes as f64)?);
    vals.push(env.number(s.dictionary_entries as f64)?);
    vals.push(env.number(s.truncated as f64)?);
    vals.push(env.str(&rec.start_time_unix_nano().to_string())?);
    vals.push(env.number(s.attribute_sets as f64)?);
    env.array(&vals)
});

js_fn!(rec_close, |env, info| {
    let [h] = env.args::<1>(info)?;
    let h: &Handle = env.external(h)?;
    let taken = h.recorder.borrow_mut().take();
    drop(taken); // unmaps the file and releases the writer lock
    Ok(env.undefined())
});

pub(super) const EXPORTS: &[(&str, napi_callback)] = &[
    ("recOpen", rec_open),
    ("recSetScratch", rec_set_scratch),
    ("recString", rec_string),
    ("recResource", rec_resource),
    ("recScope", rec_scope),
    ("recMetric", rec_metric),
    ("recAttrSet", rec_attr_set),
    ("recAttrSetFree", rec_attr_set_free),
    ("recStats", rec_stats),
    ("recClose", rec_close),
];
