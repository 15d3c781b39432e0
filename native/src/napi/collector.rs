//! Node-API functions of the collector: one handle per file. Results cross as
//! Buffers of encoded OTLP (the JS side only moves them) plus a few numbers.

use super::sys::{napi_callback, napi_env, napi_value};
use super::{js_fn, Env, JsResult};
use crate::collect::{Encoded, PipelineConfig};
use crate::collector::{FileCollector, PollOutput};
use crate::file::layout::RingKind;
use crate::reader::json;
use crate::recorder::RecError;
use std::cell::RefCell;
use std::os::raw::c_void;
use std::path::Path;

struct Handle(RefCell<Option<FileCollector>>);

unsafe extern "C" fn finalize(_env: napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the `Box<Handle>` leaked by `create_external`, finalized once.
    drop(unsafe { Box::from_raw(data as *mut Handle) });
}

fn with<T>(env: Env, h: napi_value, f: impl FnOnce(&mut FileCollector) -> JsResult<T>) -> JsResult<T> {
    let h: &Handle = env.external(h)?;
    let mut g = h.0.borrow_mut();
    let c = g.as_mut().ok_or_else(|| RecError::type_error("collector handle is closed".into()))?;
    f(c)
}

fn buffers(env: Env, list: &[Encoded]) -> JsResult<napi_value> {
    let items = list.iter().map(|b| env.buffer_copy(&b.body)).collect::<JsResult<Vec<_>>>()?;
    env.array(&items)
}

/// How many spans / log records each batch of `list` holds.
fn counts(env: Env, list: &[Encoded]) -> JsResult<napi_value> {
    let items = list.iter().map(|b| env.number(b.items as f64)).collect::<JsResult<Vec<_>>>()?;
    env.array(&items)
}

/// `[traces[], logs[], readEvents, readSpans, readMeasurements, errors[], metrics | null,
/// spansPerTraceBatch[], recordsPerLogBatch[], backlogEvents, backlogSpans, backlogMeasurements]`
fn poll_result(env: Env, o: &PollOutput, metrics: Option<&Vec<u8>>) -> JsResult<napi_value> {
    let errs = o.errors.iter().map(|e| env.str(e)).collect::<JsResult<Vec<_>>>()?;
    let m = match metrics {
        Some(b) => env.buffer_copy(b)?,
        None => env.null(),
    };
    env.array(&[
        buffers(env, &o.traces)?,
        buffers(env, &o.logs)?,
        env.number(o.read[0] as f64)?,
        env.number(o.read[1] as f64)?,
        env.number(o.read[2] as f64)?,
        env.array(&errs)?,
        m,
        counts(env, &o.traces)?,
        counts(env, &o.logs)?,
        env.number(o.backlog[0] as f64)?,
        env.number(o.backlog[1] as f64)?,
        env.number(o.backlog[2] as f64)?,
    ])
}

js_fn!(col_open, |env, info| {
    let a = env.args::<8>(info)?;
    let path = env.string(a[0])?;
    let num = |i: usize, def: usize| -> JsResult<usize> {
        let v = env.f64(a[i])?;
        Ok(if v.is_finite() && v > 0.0 { v as usize } else { def })
    };
    let d = PipelineConfig::default();
    let cfg = PipelineConfig {
        max_open_spans: num(1, d.max_open_spans)?,
        max_pending_events: num(2, d.max_pending_events)?,
        max_spans_per_batch: num(3, d.max_spans_per_batch)?,
        max_logs_per_batch: num(4, d.max_logs_per_batch)?,
        cardinality_limit: num(5, d.cardinality_limit)?,
        max_batch_bytes: num(7, d.max_batch_bytes)?,
        ..d
    };
    let per_poll = num(6, 65_536)?;
    let c = FileCollector::open(Path::new(&path), cfg, per_poll).map_err(RecError::plain)?;
    env.create_external(Box::new(Handle(RefCell::new(Some(c)))), finalize)
});

js_fn!(col_poll, |env, info| {
    let [h] = env.args::<1>(info)?;
    with(env, h, |c| {
        let o = c.poll(false);
        poll_result(env, &o, None)
    })
});

js_fn!(col_metrics, |env, info| {
    let [h] = env.args::<1>(info)?;
    with(env, h, |c| match c.collect_metrics() {
        Some(b) => env.buffer_copy(&b),
        None => Ok(env.null()),
    })
});

js_fn!(col_finish, |env, info| {
    let [h] = env.args::<1>(info)?;
    with(env, h, |c| {
        let (o, m) = c.finish();
        poll_result(env, &o, m.as_ref())
    })
});

js_fn!(col_writer_alive, |env, info| {
    let [h] = env.args::<1>(info)?;
    with(env, h, |c| env.boolean(c.reader.writer_alive()))
});

// Status as JSON: header, ring fill, drop counters, pipeline counters.
js_fn!(col_status, |env, info| {
    let [h] = env.args::<1>(info)?;
    with(env, h, |c| {
        let _ = c.reader.refresh();
        let mut s = String::from("{\"header\":");
        s.push_str(&json::header(&c.reader));
        let (dev, ino) = c.reader.identity();
        s.push_str(&format!(",\"dev\":{dev},\"ino\":{ino},\"startTime\":\"{}\"", c.reader.layout.start_time_unix_nano));
        s.push_str(&format!(
            ",\"backlog\":{{\"events\":{},\"spans\":{},\"measurements\":{}}}",
            c.reader.backlog(RingKind::Events),
            c.reader.backlog(RingKind::Spans),
            c.reader.backlog(RingKind::Measurements)
        ));
        s.push_str(&format!(
            ",\"read\":{{\"events\":{},\"spans\":{},\"measurements\":{}}},\"skipped\":{{\"events\":{},\"spans\":{},\"measurements\":{}}},\"badRecords\":{}",
            c.total_read[0], c.total_read[1], c.total_read[2], c.reader.skipped[0], c.reader.skipped[1], c.reader.skipped[2], c.bad_records
        ));
        s.push_str(&format!(",\"pipeline\":{}}}", pipeline_json(&c.stats())));
        env.str(&s)
    })
});

fn pipeline_json(p: &crate::collect::PipelineStats) -> String {
    let fields: Vec<String> = p.pairs().iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", fields.join(","))
}

js_fn!(col_close, |env, info| {
    let [h] = env.args::<1>(info)?;
    let h: &Handle = env.external(h)?;
    drop(h.0.borrow_mut().take());
    Ok(env.undefined())
});

pub(super) const EXPORTS: &[(&str, napi_callback)] = &[
    ("colOpen", col_open),
    ("colPoll", col_poll),
    ("colMetrics", col_metrics),
    ("colFinish", col_finish),
    ("colWriterAlive", col_writer_alive),
    ("colStatus", col_status),
    ("colClose", col_close),
];
