//! Span assembly state: a span being built from `SpanEvent`s, and its OTLP encoding.

use super::otlp;
use super::resolve::{KeyValue, ScopeInfo, Value};
use crate::wire::encode::Enc;
use crate::wire::messages::{IdBytes, StartSpan, Status, Text};
use std::sync::Arc;

/// Attribute set on spans exported because their writer died before ending them.
pub const INCOMPLETE_ATTRIBUTE: &str = "otlp_mmap.span.incomplete";

/// Attribute set on spans exported without their `Start` (see
/// `PipelineConfig::export_orphans`): name, kind, parent and start time are unknown.
pub const START_MISSING_ATTRIBUTE: &str = "otlp_mmap.span.start_missing";

/// Mask of the mmap/OTLP span flags that are exported: W3C trace flags (bits 0-7),
/// `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK` (0x100) and `..._IS_REMOTE_MASK` (0x200).
pub const SPAN_FLAGS_MASK: u32 = 0x3ff;

/// The table key: trace id then span id.
pub type SpanKey = [u8; 24];

pub fn span_key(trace_id: &[u8], span_id: &[u8]) -> Option<SpanKey> {
    if trace_id.len() != 16 || span_id.len() != 8 {
        return None;
    }
    let mut k = [0u8; 24];
    k[..16].copy_from_slice(trace_id);
    k[16..].copy_from_slice(span_id);
    Some(k)
}

/// Per-span bounds on what accumulates while a span is open.
#[derive(Clone, Copy, Debug)]
pub struct SpanLimits {
    pub max_attributes: usize,
    pub max_events: usize,
    pub max_links: usize,
}

/// A span being assembled. A span that has seen messages but no `Start` yet is a
/// placeholder (`started == false`).
pub struct OpenSpan {
    pub scope: Arc<ScopeInfo>,
    pub started: bool,
    pub parent_span_id: IdBytes,
    pub flags: u32,
    pub name: Option<Text>,
    pub kind: i32,
    pub start_time: u64,
    pub attrs: Vec<KeyValue>,
    pub dropped_attrs: u32,
    /// Encoded `Span.Event` messages (field 11 included).
    pub events: Vec<u8>,
    pub n_events: usize,
    pub dropped_events: u32,
    /// Encoded `Span.Link` messages (field 13 included).
    pub links: Vec<u8>,
    pub n_links: usize,
    pub dropped_links: u32,
    /// Set by an `End` (applied at the end of the poll).
    pub end: Option<(u64, Option<Status>)>,
    /// Polls this span has spent as a placeholder.
    pub placeholder_polls: u32,
    /// Approximate bytes held, charged against the pipeline's open-span budget.
    pub bytes: usize,
}

/// Bytes charged for an open span before anything is added to it.
pub const SPAN_BASE_BYTES: usize = 256;

/// Takes `n` bytes from `avail`; false (and nothing taken) when they do not fit.
fn take(avail: &mut usize, n: usize) -> bool {
    if n > *avail {
        return false;
    }
    *avail -= n;
    true
}

/// No key appears twice in `kvs`. (A repeated key from the resolver's cache is
/// usually the same `Arc`, found by pointer; distinct keys mostly differ in length.)
fn distinct_keys(kvs: &[KeyValue]) -> bool {
    for (i, a) in kvs.iter().enumerate() {
        for b in &kvs[..i] {
            if Arc::ptr_eq(&a.key, &b.key) || a.key == b.key {
                return false;
            }
        }
    }
    true
}

impl OpenSpan {
    pub fn new(scope: Arc<ScopeInfo>) -> Self {
        OpenSpan {
            scope,
            started: false,
            parent_span_id: IdBytes::default(),
            flags: 0,
            name: None,
            kind: 0,
            start_time: 0,
            attrs: Vec::new(),
            dropped_attrs: 0,
            events: Vec::new(),
            n_events: 0,
            dropped_events: 0,
            links: Vec::new(),
            n_links: 0,
            dropped_links: 0,
            end: None,
            placeholder_polls: 0,
            bytes: SPAN_BASE_BYTES,
        }
    }

    /// Sets attributes: a key already present takes the new value (as the SDK's
    /// `setAttribute` does); new keys beyond the limit, or beyond the `avail`
    /// bytes, are dropped and counted. Returns how many were dropped.
    pub fn set_attributes(&mut self, kvs: Vec<KeyValue>, lim: &SpanLimits, avail: &mut usize) -> u32 {
        if self.attrs.is_empty() && kvs.len() <= lim.max_attributes && distinct_keys(&kvs) {
            // The common case, a span's first attributes: the list is taken as it is
            // when it fits (same outcome as adding them one by one).
            let size: usize = kvs.iter().map(KeyValue::approx_size).sum();
            if take(avail, size) {
                self.bytes += size;
                self.attrs = kvs;
                return 0;
            }
        }
        let mut dropped = 0;
        for kv in kvs {
            let size = kv.approx_size();
            if let Some(cur) = self.attrs.iter_mut().find(|a| a.key == kv.key) {
                let old = 16 + cur.key.len() + cur.value.approx_size();
                if size <= old {
                    self.bytes -= old - size;
                    *avail += old - size;
                    cur.value = kv.value;
                } else if take(avail, size - old) {
                    self.bytes += size - old;
                    cur.value = kv.value;
                } else {
                    dropped += 1;
                }
            } else if self.attrs.len() < lim.max_attributes && take(avail, size) {
                self.bytes += size;
                self.attrs.push(kv);
            } else {
                dropped += 1;
            }
        }
        self.dropped_attrs = self.dropped_attrs.saturating_add(dropped);
        dropped
    }

    /// Applies a `Start` to this span (new, or a placeholder whose later messages
    /// arrived first: their name and attributes win over the start's).
    pub fn apply_start(&mut self, s: StartSpan, attrs: Vec<KeyValue>, lim: &SpanLimits, avail: &mut usize) -> u32 {
        self.started = true;
        self.parent_span_id = s.parent_span_id;
        self.flags = s.flags;
        if self.name.is_none() {
            self.set_name(s.name, avail);
        }
        self.kind = s.kind;
        self.start_time = s.start_time_unix_nano;
        let later = std::mem::take(&mut self.attrs);
        let released: usize = later.iter().map(KeyValue::approx_size).sum();
        self.bytes -= released;
        *avail += released;
        let earlier_dropped = self.dropped_attrs;
        self.dropped_attrs = 0;
        let mut dropped = self.set_attributes(attrs, lim, avail);
        dropped += self.set_attributes(later, lim, avail);
        self.dropped_attrs = self.dropped_attrs.saturating_add(earlier_dropped);
        dropped
    }

    /// Sets the name (a name too large for the byte budget is ignored).
    pub fn set_name(&mut self, name: Text, avail: &mut usize) {
        let old = self.name.as_ref().map_or(0, |n| n.len());
        if name.len() <= old {
            self.bytes -= old - name.len();
            *avail += old - name.len();
            self.name = Some(name);
        } else if take(avail, name.len() - old) {
            self.bytes += name.len() - old;
            self.name = Some(name);
        }
    }

    /// Adds an encoded `Span.Event` body; returns false when over the limit or
    /// the byte budget (counted).
    pub fn add_event(&mut self, body: &[u8], lim: &SpanLimits, avail: &mut usize) -> bool {
        if self.n_events >= lim.max_events || !take(avail, body.len() + 4) {
            self.dropped_events = self.dropped_events.saturating_add(1);
            return false;
        }
        self.bytes += body.len() + 4;
        Enc::new(&mut self.events).bytes_always(11, body);
        self.n_events += 1;
        true
    }

    /// Adds an encoded `Span.Link` body; returns false when over the limit or the
    /// byte budget (counted).
    pub fn add_link(&mut self, body: &[u8], lim: &SpanLimits, avail: &mut usize) -> bool {
        if self.n_links >= lim.max_links || !take(avail, body.len() + 4) {
            self.dropped_links = self.dropped_links.saturating_add(1);
            return false;
        }
        self.bytes += body.len() + 4;
        Enc::new(&mut self.links).bytes_always(13, body);
        self.n_links += 1;
        true
    }

    /// Encodes the finished span as an OTLP `Span` message body. `incomplete_end`
    /// marks a span whose writer died: it ends then and carries
    /// `otlp_mmap.span.incomplete = true`.
    pub fn encode(mut self, key: &SpanKey, incomplete_end: Option<u64>) -> Vec<u8> {
        if !self.started {
            // an orphan exported with what is known: it starts when it ends
            self.start_time = self.end.as_ref().map_or(0, |e| e.0);
            self.attrs.retain(|a| &*a.key != START_MISSING_ATTRIBUTE);
            self.attrs.push(KeyValue { key: Arc::from(START_MISSING_ATTRIBUTE), value: Value::Bool(true) });
        }
        let (end_time, status) = match (incomplete_end, self.end.take()) {
            (_, Some((t, st))) => (t, st),
            (Some(now), None) => {
                self.attrs.retain(|a| &*a.key != INCOMPLETE_ATTRIBUTE);
                self.attrs.push(KeyValue { key: Arc::from(INCOMPLETE_ATTRIBUTE), value: Value::Bool(true) });
                (now.max(self.start_time), None)
            }
            (None, None) => (self.start_time, None),
        };
        let mut out = Vec::with_capacity(96 + self.events.len() + self.links.len() + 32 * self.attrs.len());
        let mut e = Enc::new(&mut out);
        e.bytes_always(1, &key[..16]);
        e.bytes_always(2, &key[16..]);
        e.bytes(4, &self.parent_span_id);
        e.bytes(5, self.name.as_deref().unwrap_or("").as_bytes());
        e.int64(6, self.kind as i64);
        otlp::fixed64_always(&mut e, 7, self.start_time);
        otlp::fixed64_always(&mut e, 8, end_time);
        otlp::attributes(&mut e, 9, &self.attrs);
        e.uint32(10, self.dropped_attrs);
        e.buf.extend_from_slice(&self.events);
        e.uint32(12, self.dropped_events);
        e.buf.extend_from_slice(&self.links);
        e.uint32(14, self.dropped_links);
        if let Some(st) = status {
            if st.code != 0 || !st.message.is_empty() {
                let s = e.begin(15);
                e.bytes(2, st.message.as_bytes());
                e.int64(3, st.code as i64);
                e.end(s);
            }
        }
        e.fixed32(16, self.flags & SPAN_FLAGS_MASK);
        out
    }
}
