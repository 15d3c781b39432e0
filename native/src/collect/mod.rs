//! Span assembly, metric aggregation, logs and OTLP encoding (collector side).
//!
//! A [`Pipeline`] consumes the decoded messages of one file and produces encoded
//! OTLP export requests. It is pure (no I/O, no clock unless none is given) and
//! treats everything it reads as untrusted: a record with a bad reference or an
//! impossible value is skipped and counted in [`PipelineStats`], never a panic, and
//! every table it keeps is bounded by [`PipelineConfig`].
//!
//! # Per-poll call order (the caller guarantees it)
//!
//! 1. [`Pipeline::set_time`] (optional; otherwise the system clock is read).
//! 2. Drain the spans ring into [`Pipeline::on_span_event`]: starts, name changes,
//!    attribute updates and links apply at once; ends are queued.
//! 3. [`Pipeline::after_spans`]: events left pending by the previous poll land on
//!    their span if it is known now, or become log records.
//! 4. Drain the events ring into [`Pipeline::on_event`]: an event whose span context
//!    names a span being assembled (ended or not in this poll) from the same scope
//!    becomes a span event; one naming an unknown span waits one poll (bounded);
//!    the rest are log records.
//! 5. [`Pipeline::end_of_poll`]: queued ends apply; finished spans are ready for
//!    [`Pipeline::take_traces`].
//!
//! So an event the writer published before its span's end lands on the span,
//! provided step 4 reads the events ring at least as far as it was published when
//! step 2 ended (a per-poll bound of at least the ring's slot count guarantees
//! it). A poll that could not read that far should skip step 5: the ends stay
//! queued for the next poll. Measurements ([`Pipeline::on_measurement`]) may be
//! fed at any point; [`Pipeline::collect_metrics`] reports them.
//!
//! One pipeline serves one file generation: dictionary references are cached, so
//! a file replaced at the same path (a new inode or a new `start_time_unix_nano`)
//! needs a new pipeline. When the writer is gone, drain the rings once more in the
//! same order, then call [`Pipeline::finish_incomplete`], `take_*` and
//! [`Pipeline::collect_metrics`] one last time.

pub mod exphist;
pub mod hash;
pub mod metrics;
pub mod otlp;
pub mod resolve;
pub mod selfmetrics;
pub mod spans;

#[cfg(test)]
pub(crate) mod tests;

use crate::wire::decode;
use crate::wire::encode::Enc;
pub use crate::wire::messages::DictRef;
use crate::wire::messages::{Event, Measurement, SpanContext, SpanEvent, SpanEventKind};
use metrics::{canonical_attributes, Exemplar, Kind, Limits, Num, Recorded, Stream};
use otlp::{encode_grouped, Item};
use resolve::{Resolver, ScopeInfo};
use spans::{span_key, OpenSpan, SpanKey, SpanLimits};
use hash::{FastMap, FastSet};
use std::collections::hash_map::Entry;
use std::sync::Arc;

/// Raw dictionary access: the bytes of the entry at `r` (after its length varint),
/// bounds-checked by the implementation.
pub trait EntrySource {
    fn entry(&mut self, r: DictRef) -> Result<Vec<u8>, String>;
}

/// Bounds and batch sizes of a [`Pipeline`].
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Spans being assembled at once, not counting those whose end was read in
    /// this poll (those are bounded by the messages read per poll); a `Start`
    /// beyond it is dropped and counted.
    pub max_open_spans: usize,
    /// Approximate bytes all open spans may hold (attributes, events, links);
    /// what does not fit is dropped and counted.
    pub max_open_span_bytes: usize,
    /// Events waiting one poll for their span; beyond it they become log records at once.
    pub max_pending_events: usize,
    /// Spans per `ExportTraceServiceRequest`.
    pub max_spans_per_batch: usize,
    /// Log records per `ExportLogsServiceRequest`.
    pub max_logs_per_batch: usize,
    /// A trace or logs batch is closed once its items reach this many bytes.
    pub max_batch_bytes: usize,
    pub max_attributes_per_span: usize,
    pub max_events_per_span: usize,
    pub max_links_per_span: usize,
    /// Polls a span seen without its `Start` (an end or update whose start was
    /// dropped or not yet read) waits for it before it is dropped and counted.
    pub placeholder_polls: u32,
    /// Export a span whose `Start` never arrived but whose `End` did (e.g. a
    /// collector restarted while the span was open) with what is known, marked
    /// `otlp_mmap.span.start_missing = true` and starting at its end time, instead
    /// of dropping it. Either way it is counted in `spans_orphaned`.
    pub export_orphans: bool,
    /// Attribute sets per metric stream, the overflow set included.
    pub cardinality_limit: usize,
    /// Exemplars kept per point (the most recent ones).
    pub max_exemplars: usize,
    /// Metric streams (`MetricRef`s) per file.
    pub max_metric_streams: usize,
    /// Memory budget of all metric points, in counters (8 bytes each): a number
    /// point costs 1, a histogram point its bucket count + 1, an exponential
    /// histogram point `2 * max_buckets + 1`. A new attribute set that does not fit
    /// goes to the overflow set; when even that does not fit, the measurement is
    /// dropped and counted.
    pub max_metric_cells: usize,
    /// Entries per dictionary cache (strings, scopes, resources, bad metric refs).
    pub cache_entries: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            max_open_spans: 65_536,
            max_open_span_bytes: 256 << 20,
            max_pending_events: 4096,
            max_spans_per_batch: 512,
            max_logs_per_batch: 512,
            max_batch_bytes: 4 << 20,
            max_attributes_per_span: 256,
            max_events_per_span: 256,
            max_links_per_span: 256,
            placeholder_polls: 2,
            export_orphans: false,
            cardinality_limit: 2000,
            max_exemplars: 4,
            max_metric_streams: 4096,
            max_metric_cells: 4_000_000,
            cache_entries: 8192,
        }
    }
}

/// Counters (monotonic unless noted) and current sizes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Spans being assembled now (gauge).
    pub open_spans: u64,
    /// Approximate bytes the open spans hold (gauge).
    pub open_span_bytes: u64,
    pub spans_started: u64,
    /// Spans encoded for export (complete and incomplete).
    pub spans_finished: u64,
    /// Spans exported as incomplete by [`Pipeline::finish_incomplete`].
    pub spans_incomplete: u64,
    /// Spans dropped because the open-span table (or its byte budget) was full.
    pub spans_overflowed: u64,
    /// Spans dropped because their `Start` never arrived (an end or update for an
    /// unknown span, e.g. after the start was dropped by a full ring).
    pub spans_orphaned: u64,
    pub span_events_attached: u64,
    /// Span events, links and attributes dropped by the per-span limits.
    pub span_events_dropped: u64,
    pub span_links_dropped: u64,
    pub span_attributes_dropped: u64,
    /// Events waiting for their span (gauge).
    pub pending_events: u64,
    /// Events that became log records at once because the pending list was full.
    pub pending_overflowed: u64,
    pub log_records: u64,
    pub measurements: u64,
    /// Measurements ignored: NaN/infinite, or negative on a monotonic sum.
    pub measurements_ignored: u64,
    /// Measurements aggregated into a stream's `otel.metric.overflow` set
    /// (cardinality limit or memory budget reached).
    pub measurements_overflowed: u64,
    /// Measurements dropped because the metric memory budget was spent.
    pub measurements_dropped: u64,
    /// Metric streams (gauge).
    pub metric_streams: u64,
    /// Measurements dropped because the stream table (or the metric memory budget) was full.
    pub metric_streams_overflowed: u64,
    /// Records skipped as malformed (wrong id lengths, missing fields, duplicates).
    pub bad_records: u64,
    /// Records skipped because a dictionary reference could not be resolved.
    pub dictionary_errors: u64,
}

impl PipelineStats {
    /// Every counter with its field name, in declaration order (for JSON and
    /// self-metrics).
    pub fn pairs(&self) -> [(&'static str, u64); 22] {
        [
            ("open_spans", self.open_spans),
            ("open_span_bytes", self.open_span_bytes),
            ("spans_started", self.spans_started),
            ("spans_finished", self.spans_finished),
            ("spans_incomplete", self.spans_incomplete),
            ("spans_overflowed", self.spans_overflowed),
            ("spans_orphaned", self.spans_orphaned),
            ("span_events_attached", self.span_events_attached),
            ("span_events_dropped", self.span_events_dropped),
            ("span_links_dropped", self.span_links_dropped),
            ("span_attributes_dropped", self.span_attributes_dropped),
            ("pending_events", self.pending_events),
            ("pending_overflowed", self.pending_overflowed),
            ("log_records", self.log_records),
            ("measurements", self.measurements),
            ("measurements_ignored", self.measurements_ignored),
            ("measurements_overflowed", self.measurements_overflowed),
            ("measurements_dropped", self.measurements_dropped),
            ("metric_streams", self.metric_streams),
            ("metric_streams_overflowed", self.metric_streams_overflowed),
            ("bad_records", self.bad_records),
            ("dictionary_errors", self.dictionary_errors),
        ]
    }
}

/// Which message an update to a span is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Update {
    Start,
    End,
    Other,
}

struct Pending {
    key: SpanKey,
    ev: Event,
    observed: u64,
}

/// One encoded export request and how many spans or log records it holds (so that
/// the exporter can merge requests without passing the batch size).
pub struct Encoded {
    pub body: Vec<u8>,
    pub items: usize,
}

/// Accumulates encoded items into export requests of bounded size.
struct Batcher {
    items: Vec<Item>,
    bytes: usize,
    max_items: usize,
    max_bytes: usize,
    out: Vec<Encoded>,
}

impl Batcher {
    fn new(max_items: usize, max_bytes: usize) -> Self {
        Batcher { items: Vec::new(), bytes: 0, max_items: max_items.max(1), max_bytes: max_bytes.max(1), out: Vec::new() }
    }

    fn push(&mut self, it: Item) {
        self.bytes += it.bytes.len();
        self.items.push(it);
        if self.items.len() >= self.max_items || self.bytes >= self.max_bytes {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.items.is_empty() {
            self.out.push(Encoded { body: encode_grouped(&self.items), items: self.items.len() });
            self.items.clear();
            self.bytes = 0;
        }
    }

    fn take(&mut self) -> Vec<Encoded> {
        self.flush();
        std::mem::take(&mut self.out)
    }
}

/// Nanoseconds since the Unix epoch from the system clock (at least 1).
pub fn system_time_unix_nano() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1).max(1)
}

/// Assembles spans, aggregates metrics and builds log records for one file.
pub struct Pipeline {
    cfg: PipelineConfig,
    span_limits: SpanLimits,
    resolver: Resolver,
    spans: FastMap<SpanKey, OpenSpan>,
    open_span_bytes: usize,
    /// Spans in `spans` whose end has been read (finished at the end of the poll,
    /// or placeholders waiting for their start).
    ending: usize,
    refused: FastSet<SpanKey>,
    end_queue: Vec<SpanKey>,
    placeholders: Vec<SpanKey>,
    pending: Vec<Pending>,
    traces: Batcher,
    logs: Batcher,
    streams: Vec<Stream>,
    stream_index: FastMap<i64, usize>,
    bad_metric_refs: FastSet<i64>,
    metric_cells: usize,
    stream_base_cells: usize,
    clock: u64,
    stats: PipelineStats,
}

/// The span context's key when it names a span (16-byte trace id, 8-byte span id,
/// not all zero).
fn context_key(sc: &Option<SpanContext>) -> Option<SpanKey> {
    let sc = sc.as_ref()?;
    let k = span_key(&sc.trace_id, &sc.span_id)?;
    if k[..16].iter().all(|&b| b == 0) || k[16..].iter().all(|&b| b == 0) {
        return None;
    }
    Some(k)
}

impl Pipeline {
    pub fn new(cfg: PipelineConfig) -> Self {
        Pipeline {
            span_limits: SpanLimits { max_attributes: cfg.max_attributes_per_span, max_events: cfg.max_events_per_span, max_links: cfg.max_links_per_span },
            resolver: Resolver::new(cfg.cache_entries),
            spans: FastMap::default(),
            open_span_bytes: 0,
            ending: 0,
            refused: FastSet::default(),
            end_queue: Vec::new(),
            placeholders: Vec::new(),
            pending: Vec::new(),
            traces: Batcher::new(cfg.max_spans_per_batch, cfg.max_batch_bytes),
            logs: Batcher::new(cfg.max_logs_per_batch, cfg.max_batch_bytes),
            streams: Vec::new(),
            stream_index: FastMap::default(),
            bad_metric_refs: FastSet::default(),
            metric_cells: 0,
            stream_base_cells: 0,
            clock: 0,
            stats: PipelineStats::default(),
            cfg,
        }
    }

    /// Sets the time used as the observed time of log records read from now on
    /// and in place of zero measurement times. Call it at the start of each poll;
    /// `0` (the initial state) means "read the system clock each time".
    pub fn set_time(&mut self, now_unix_nano: u64) {
        self.clock = now_unix_nano;
    }

    fn now(&self) -> u64 {
        if self.clock != 0 {
            self.clock
        } else {
            system_time_unix_nano()
        }
    }

    /// Decodes a spans-ring record (the message bytes after the slot's length
    /// varint) and applies it; a record that does not decode is counted as bad.
    pub fn on_span_record(&mut self, dict: &mut dyn EntrySource, record: &[u8]) {
        match decode::span_event(record) {
            Ok(ev) => self.on_span_event(dict, ev),
            Err(_) => self.stats.bad_records += 1,
        }
    }

    /// Decodes an events-ring record and applies it (see [`Pipeline::on_span_record`]).
    pub fn on_event_record(&mut self, dict: &mut dyn EntrySource, record: &[u8]) {
        match decode::event(record) {
            Ok(ev) => self.on_event(dict, ev),
            Err(_) => self.stats.bad_records += 1,
        }
    }

    /// Decodes a measurements-ring record and applies it (see [`Pipeline::on_span_record`]).
    pub fn on_measurement_record(&mut self, dict: &mut dyn EntrySource, record: &[u8]) {
        match decode::measurement(record) {
            Ok(m) => self.on_measurement(dict, m),
            Err(_) => {
                self.stats.measurements += 1;
                self.stats.bad_records += 1;
            }
        }
    }

    /// Counts a record the caller could not decode (shown in [`PipelineStats::bad_records`]).
    pub fn count_bad_record(&mut self) {
        self.stats.bad_records += 1;
    }

    pub fn stats(&self) -> PipelineStats {
        let mut s = self.stats.clone();
        s.open_spans = self.spans.len() as u64;
        s.open_span_bytes = self.open_span_bytes as u64;
        s.pending_events = self.pending.len() as u64;
        s.metric_streams = self.streams.len() as u64;
        s
    }

    // ------------------------------------------------------------------ spans

    /// Bytes the open-span table may still grow by.
    fn span_bytes_available(&self) -> usize {
        self.cfg.max_open_span_bytes.saturating_sub(self.open_span_bytes)
    }

    fn remove_span(&mut self, key: &SpanKey) -> Option<OpenSpan> {
        let sp = self.spans.remove(key)?;
        self.released(&sp);
        Some(sp)
    }

    /// Accounts for a span taken out of the table.
    fn released(&mut self, sp: &OpenSpan) {
        self.open_span_bytes = self.open_span_bytes.saturating_sub(sp.bytes);
        if sp.end.is_some() {
            self.ending = self.ending.saturating_sub(1);
        }
    }

    /// Runs `f` on span `key` with the byte budget, keeping the budget's
    /// accounting. An unknown span is created (for a message other than `Start`,
    /// as a placeholder) when the table and the budget have room; otherwise it is
    /// refused, counted once, and its later messages are ignored (the set of
    /// refused spans is bounded and forgotten when full). Returns `None` when the
    /// span was refused, a `Start` repeats or the scope does not match (counted).
    fn update_span<R>(&mut self, key: SpanKey, scope: &Arc<ScopeInfo>, kind: Update, f: impl FnOnce(&mut OpenSpan, &mut usize) -> R) -> Option<R> {
        if kind != Update::Start && !self.refused.is_empty() && self.refused.contains(&key) {
            if kind == Update::End {
                self.refused.remove(&key);
            }
            return None;
        }
        let has_room = self.spans.len().saturating_sub(self.ending) < self.cfg.max_open_spans && self.span_bytes_available() >= spans::SPAN_BASE_BYTES;
        let sp = match self.spans.entry(key) {
            Entry::Occupied(o) => {
                let sp = o.into_mut();
                if sp.scope.scope_ref != scope.scope_ref || (kind == Update::Start && sp.started) {
                    self.stats.bad_records += 1;
                    return None;
                }
                sp
            }
            Entry::Vacant(v) => {
                if kind == Update::Start && !self.refused.is_empty() {
                    self.refused.remove(&key);
                }
                if !has_room {
                    self.stats.spans_overflowed += 1;
                    if self.refused.len() >= self.cfg.max_open_spans.max(1) {
                        self.refused.clear();
                    }
                    self.refused.insert(key);
                    return None;
                }
                if kind != Update::Start {
                    self.placeholders.push(key);
                }
                let sp = v.insert(OpenSpan::new(scope.clone()));
                self.open_span_bytes += sp.bytes;
                sp
            }
        };
        let mut avail = self.cfg.max_open_span_bytes.saturating_sub(self.open_span_bytes);
        let before = sp.bytes;
        let r = f(sp, &mut avail);
        let after = sp.bytes;
        self.open_span_bytes = (self.open_span_bytes + after).saturating_sub(before);
        Some(r)
    }

    /// Applies one message of the spans ring (an end is queued until [`Pipeline::end_of_poll`]).
    pub fn on_span_event(&mut self, dict: &mut dyn EntrySource, ev: SpanEvent) {
        let (Some(key), Some(kind)) = (span_key(&ev.trace_id, &ev.span_id), ev.event) else {
            self.stats.bad_records += 1;
            return;
        };
        let scope = match self.resolver.scope(dict, ev.scope_ref) {
            Ok(s) => s,
            Err(_) => {
                self.stats.dictionary_errors += 1;
                return;
            }
        };
        let lim = self.span_limits;
        match kind {
            SpanEventKind::Start(mut s) => {
                let Ok(attrs) = self.resolver.attributes(dict, std::mem::take(&mut s.attributes)) else {
                    self.stats.dictionary_errors += 1;
                    return;
                };
                let Some(dropped) = self.update_span(key, &scope, Update::Start, |sp, avail| sp.apply_start(s, attrs, &lim, avail)) else { return };
                self.stats.span_attributes_dropped += dropped as u64;
                self.stats.spans_started += 1;
            }
            SpanEventKind::End { end_time_unix_nano, status } => {
                let queued = self.update_span(key, &scope, Update::End, |sp, _| {
                    if sp.end.is_some() {
                        return false;
                    }
                    sp.end = Some((end_time_unix_nano, status));
                    true
                });
                match queued {
                    Some(true) => {
                        self.ending += 1;
                        self.end_queue.push(key);
                    }
                    Some(false) => self.stats.bad_records += 1,
                    None => {}
                }
            }
            SpanEventKind::Name(name) => {
                self.update_span(key, &scope, Update::Other, |sp, avail| sp.set_name(name, avail));
            }
            SpanEventKind::Attributes(kvs) => {
                let Ok(attrs) = self.resolver.attributes(dict, kvs) else {
                    self.stats.dictionary_errors += 1;
                    return;
                };
                let dropped = self.update_span(key, &scope, Update::Other, |sp, avail| sp.set_attributes(attrs, &lim, avail));
                self.stats.span_attributes_dropped += dropped.unwrap_or(0) as u64;
            }
            SpanEventKind::Links(mut links) => {
                let mut bodies = Vec::with_capacity(links.len());
                for l in &mut links {
                    if l.trace_id.len() != 16 || l.span_id.len() != 8 {
                        self.stats.bad_records += 1;
                        continue;
                    }
                    let Ok(attrs) = self.resolver.attributes(dict, std::mem::take(&mut l.attributes)) else {
                        self.stats.dictionary_errors += 1;
                        continue;
                    };
                    let mut b = Vec::new();
                    let mut e = Enc::new(&mut b);
                    e.bytes_always(1, &l.trace_id);
                    e.bytes_always(2, &l.span_id);
                    e.bytes(3, l.trace_state.as_bytes());
                    otlp::attributes(&mut e, 4, &attrs);
                    e.uint32(5, l.dropped_attributes_count);
                    e.fixed32(6, l.flags & spans::SPAN_FLAGS_MASK);
                    bodies.push(b);
                }
                let dropped = self.update_span(key, &scope, Update::Other, |sp, avail| bodies.iter().filter(|b| !sp.add_link(b, &lim, avail)).count());
                self.stats.span_links_dropped += dropped.unwrap_or(0) as u64;
            }
        }
    }

    /// Step 2 of a poll: events pending since the previous poll land on their span
    /// if it is known now; the others become log records.
    pub fn after_spans(&mut self, dict: &mut dyn EntrySource) {
        for p in std::mem::take(&mut self.pending) {
            let on_span = self.spans.get(&p.key).is_some_and(|sp| sp.scope.scope_ref == p.ev.scope_ref.0);
            if on_span {
                self.attach(dict, p.key, p.ev);
            } else {
                self.log_record(dict, p.ev, p.observed);
            }
        }
    }

    /// Applies the ends queued during this poll: those spans are finished and
    /// ready for [`Pipeline::take_traces`]. Spans seen without their `Start` for
    /// more than `placeholder_polls` polls are dropped (counted as orphaned).
    pub fn end_of_poll(&mut self, _dict: &mut dyn EntrySource) {
        for key in std::mem::take(&mut self.end_queue) {
            if let Some(sp) = self.spans.remove(&key) {
                if sp.started && sp.end.is_some() {
                    self.released(&sp);
                    self.finish(key, sp, None);
                } else {
                    // a placeholder: it waits for its start
                    self.spans.insert(key, sp);
                }
            }
        }
        let max_polls = self.cfg.placeholder_polls;
        let mut keep = Vec::new();
        for key in std::mem::take(&mut self.placeholders) {
            let Some(sp) = self.spans.get_mut(&key) else { continue };
            if sp.started {
                if sp.end.is_some() {
                    let sp = self.remove_span(&key).expect("present");
                    self.finish(key, sp, None);
                }
            } else if sp.placeholder_polls >= max_polls {
                let sp = self.remove_span(&key).expect("present");
                self.orphan(key, sp);
            } else {
                sp.placeholder_polls += 1;
                keep.push(key);
            }
        }
        self.placeholders = keep;
    }

    fn orphan(&mut self, key: SpanKey, sp: OpenSpan) {
        self.stats.spans_orphaned += 1;
        if self.cfg.export_orphans && sp.end.is_some() {
            self.finish(key, sp, None);
        }
    }

    fn finish(&mut self, key: SpanKey, sp: OpenSpan, incomplete_end: Option<u64>) {
        let scope = sp.scope.clone();
        let bytes = sp.encode(&key, incomplete_end);
        self.traces.push(Item { scope, bytes });
        self.stats.spans_finished += 1;
        if incomplete_end.is_some() {
            self.stats.spans_incomplete += 1;
        }
    }

    /// The writer is gone: pending events land on their span or become logs,
    /// queued ends apply, and every span still open is exported with
    /// `otlp_mmap.span.incomplete = true` and end time `now_unix_nano` (spans
    /// never started are dropped as orphaned). Call it after the final drain.
    pub fn finish_incomplete(&mut self, dict: &mut dyn EntrySource, now_unix_nano: u64) {
        let now = if now_unix_nano == 0 { self.now() } else { now_unix_nano };
        self.after_spans(dict);
        self.end_of_poll(dict);
        let mut open: Vec<(SpanKey, OpenSpan)> = self.spans.drain().collect();
        self.open_span_bytes = 0;
        self.ending = 0;
        open.sort_by_key(|(k, sp)| (sp.start_time, *k));
        for (key, sp) in open {
            if sp.started {
                self.finish(key, sp, Some(now));
            } else {
                self.orphan(key, sp);
            }
        }
        self.placeholders.clear();
        self.end_queue.clear();
        self.refused.clear();
    }

    /// Encoded `ExportTraceServiceRequest`s holding the spans finished so far.
    pub fn take_traces(&mut self) -> Vec<Encoded> {
        self.traces.take()
    }

    // ------------------------------------------------------------------ events and logs

    /// Step 4 of a poll: one message of the events ring.
    pub fn on_event(&mut self, dict: &mut dyn EntrySource, ev: Event) {
        let observed = self.now();
        if let Some(key) = context_key(&ev.span_context) {
            match self.spans.get(&key) {
                Some(sp) if sp.scope.scope_ref == ev.scope_ref.0 => return self.attach(dict, key, ev),
                Some(_) => {}
                None => {
                    if self.pending.len() < self.cfg.max_pending_events {
                        self.pending.push(Pending { key, ev, observed });
                        return;
                    }
                    self.stats.pending_overflowed += 1;
                }
            }
        }
        self.log_record(dict, ev, observed);
    }

    fn attach(&mut self, dict: &mut dyn EntrySource, key: SpanKey, ev: Event) {
        let name = match self.resolver.string(dict, ev.event_name_ref) {
            Ok(n) => n,
            Err(_) => {
                self.stats.dictionary_errors += 1;
                return;
            }
        };
        let Ok(attrs) = self.resolver.attributes(dict, ev.attributes) else {
            self.stats.dictionary_errors += 1;
            return;
        };
        let mut body = Vec::new();
        let mut e = Enc::new(&mut body);
        otlp::fixed64_always(&mut e, 1, ev.time_unix_nano);
        e.bytes(2, name.as_bytes());
        otlp::attributes(&mut e, 3, &attrs);
        let lim = self.span_limits;
        let mut avail = self.span_bytes_available();
        let Some(sp) = self.spans.get_mut(&key) else { return };
        let before = sp.bytes;
        let added = sp.add_event(&body, &lim, &mut avail);
        self.open_span_bytes += sp.bytes - before;
        if added {
            self.stats.span_events_attached += 1;
        } else {
            self.stats.span_events_dropped += 1;
        }
    }

    fn log_record(&mut self, dict: &mut dyn EntrySource, ev: Event, observed: u64) {
        let encoded = (|| -> Result<(Arc<ScopeInfo>, Vec<u8>), String> {
            let scope = self.resolver.scope(dict, ev.scope_ref)?;
            let name = self.resolver.string(dict, ev.event_name_ref)?;
            let attrs = self.resolver.attributes(dict, ev.attributes)?;
            let body = match ev.body {
                Some(b) => Some(self.resolver.value(dict, b)?),
                None => None,
            };
            let mut out = Vec::new();
            let mut e = Enc::new(&mut out);
            e.fixed64(1, ev.time_unix_nano);
            e.int64(2, ev.severity_number as i64);
            e.bytes(3, ev.severity_text.as_bytes());
            if let Some(b) = &body {
                let s = e.begin(5);
                otlp::any_value_body(&mut e, b);
                e.end(s);
            }
            otlp::attributes(&mut e, 6, &attrs);
            if let (Some(_), Some(sc)) = (context_key(&ev.span_context), &ev.span_context) {
                e.fixed32(8, sc.flags & 0xff);
                e.bytes_always(9, &sc.trace_id);
                e.bytes_always(10, &sc.span_id);
            }
            otlp::fixed64_always(&mut e, 11, observed);
            e.bytes(12, name.as_bytes());
            Ok((scope, out))
        })();
        match encoded {
            Ok((scope, bytes)) => {
                self.logs.push(Item { scope, bytes });
                self.stats.log_records += 1;
            }
            Err(_) => self.stats.dictionary_errors += 1,
        }
    }

    /// Encoded `ExportLogsServiceRequest`s holding the log records built so far.
    pub fn take_logs(&mut self) -> Vec<Encoded> {
        self.logs.take()
    }

    // ------------------------------------------------------------------ metrics

    fn stream(&mut self, dict: &mut dyn EntrySource, r: DictRef) -> Option<usize> {
        if let Some(&i) = self.stream_index.get(&r.0) {
            return Some(i);
        }
        if self.bad_metric_refs.contains(&r.0) {
            self.stats.dictionary_errors += 1;
            return None;
        }
        if self.streams.len() >= self.cfg.max_metric_streams {
            self.stats.metric_streams_overflowed += 1;
            return None;
        }
        let made = (|| -> Result<Stream, String> {
            if r.is_none() {
                return Err("metric_ref is 0".into());
            }
            let bytes = dict.entry(r)?;
            let m = decode::metric_ref(&bytes)?;
            let agg = m.aggregation.as_ref().ok_or_else(|| format!("MetricRef {} has no aggregation", r.0))?;
            let kind = Kind::from_aggregation(agg)?;
            let scope = self.resolver.scope(dict, m.instrumentation_scope_ref)?;
            Ok(Stream::new(scope, m, kind))
        })();
        match made {
            Ok(s) if self.metric_cells + s.base_cells() > self.cfg.max_metric_cells => {
                self.stats.metric_streams_overflowed += 1;
                None
            }
            Ok(s) => {
                self.stream_base_cells += s.base_cells();
                self.metric_cells += s.base_cells();
                self.streams.push(s);
                self.stream_index.insert(r.0, self.streams.len() - 1);
                Some(self.streams.len() - 1)
            }
            Err(_) => {
                self.stats.dictionary_errors += 1;
                if self.bad_metric_refs.len() >= self.cfg.cache_entries {
                    self.bad_metric_refs.clear();
                }
                self.bad_metric_refs.insert(r.0);
                None
            }
        }
    }

    /// Aggregates one measurement into its stream (created from the `MetricRef`
    /// on first sight).
    pub fn on_measurement(&mut self, dict: &mut dyn EntrySource, m: Measurement) {
        self.stats.measurements += 1;
        let Some(value) = m.value else {
            self.stats.bad_records += 1;
            return;
        };
        let Some(si) = self.stream(dict, m.metric_ref) else { return };
        let attrs = match self.resolver.attributes(dict, m.attributes) {
            Ok(a) => a,
            Err(_) => {
                self.stats.dictionary_errors += 1;
                return;
            }
        };
        let key = canonical_attributes(attrs);
        let time = if m.time_unix_nano == 0 { self.now() } else { m.time_unix_nano };
        let value = Num::from_value(value);
        let exemplar = match (&m.span_context, context_key(&m.span_context)) {
            (Some(sc), Some(k)) if sc.flags & 1 == 1 => {
                let mut trace_id = [0u8; 16];
                let mut span_id = [0u8; 8];
                trace_id.copy_from_slice(&k[..16]);
                span_id.copy_from_slice(&k[16..]);
                Some(Exemplar { time, value, trace_id, span_id })
            }
            _ => None,
        };
        let lim = Limits {
            cardinality_limit: self.cfg.cardinality_limit,
            max_exemplars: self.cfg.max_exemplars,
            cells_available: self.cfg.max_metric_cells.saturating_sub(self.metric_cells),
        };
        let stream = &mut self.streams[si];
        let before = stream.cells;
        let res = stream.record(key, value, time, exemplar, lim);
        self.metric_cells += stream.cells - before;
        match res {
            Recorded::Ok => {}
            Recorded::Overflow => self.stats.measurements_overflowed += 1,
            Recorded::Ignored => self.stats.measurements_ignored += 1,
            Recorded::Dropped => self.stats.measurements_dropped += 1,
        }
    }

    /// An `ExportMetricsServiceRequest` with every stream that has points, as of
    /// `now_unix_nano` (0: the pipeline's clock); `None` when there is nothing to
    /// report. Delta streams start a new interval.
    pub fn collect_metrics(&mut self, _dict: &mut dyn EntrySource, now_unix_nano: u64) -> Option<Vec<u8>> {
        let now = if now_unix_nano == 0 { self.now() } else { now_unix_nano };
        let mut items = Vec::new();
        for s in &mut self.streams {
            if let Some(bytes) = s.collect(now) {
                items.push(Item { scope: s.scope.clone(), bytes });
            }
        }
        self.metric_cells = self.stream_base_cells + self.streams.iter().map(|s| s.cells).sum::<usize>();
        if items.is_empty() {
            None
        } else {
            Some(encode_grouped(&items))
        }
    }
}
