//! The writer: the seed design's recorder API over one v1 file.
//!
//! A `Recorder` is used by one thread (one JS realm). Several recorders, in threads
//! or processes, may write to one file at once (`attach`): rings are multi-producer
//! and dictionary space is reserved atomically. Nothing here blocks or waits:
//! a full ring drops the message and increments the file's drop counter.

pub mod args;

use crate::file::create::{self, CreateOptions, FileLayout};
use crate::file::layout::{varint_len, DictRef, RingKind, DICT_HEADER_SIZE};
use crate::file::mapping::Mapping;
use crate::wire::encode::Enc;
use args::{fields, Args, ValueEncoder};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Which JS error a failed call throws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrKind {
    Type,
    Range,
    Plain,
}

#[derive(Debug, Clone)]
pub struct RecError {
    pub kind: ErrKind,
    pub message: String,
}

impl RecError {
    pub fn type_error(message: String) -> Self {
        RecError { kind: ErrKind::Type, message }
    }
    pub fn range_error(message: String) -> Self {
        RecError { kind: ErrKind::Range, message }
    }
    pub fn plain(message: String) -> Self {
        RecError { kind: ErrKind::Plain, message }
    }
}

/// A fast hasher for dictionary references (file offsets): one multiply.
#[derive(Default, Clone, Copy)]
pub struct RefHasher(u64);
impl std::hash::Hasher for RefHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ *b as u64).wrapping_mul(0x100000001b3);
        }
    }
    fn write_i64(&mut self, v: i64) {
        self.0 = (v as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    }
}
type RefMap<V> = HashMap<i64, V, std::hash::BuildHasherDefault<RefHasher>>;

/// What a dictionary reference returned by this recorder points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefKind {
    String,
    Resource,
    Scope,
    Metric { int: bool },
}

#[derive(Debug, Clone)]
pub struct Stats {
    pub written: [u64; 3],
    pub dropped_in_file: [i64; 3],
    pub dictionary_bytes: i64,
    pub dictionary_entries: i64,
    pub truncated: u64,
    /// Attribute sets registered and not freed.
    pub attribute_sets: usize,
}

pub struct Recorder {
    pub path: PathBuf,
    map: Mapping,
    layout: FileLayout,
    dict_limit: u64,
    strings: HashMap<Box<str>, i64>,
    blobs: HashMap<(u8, Vec<u8>), i64>,
    refs: RefMap<RefKind>,
    truncated_key: i64,
    /// Messages this recorder published, per ring (`RingKind::index`).
    written: [u64; 3],
    values: ValueEncoder,
    /// Longest single value per ring (indexed by RingKind::index); dictionary entries are unlimited.
    value_limits: [usize; 3],
    msg: Vec<u8>,
    attrs: Vec<u8>,
    ranges: Vec<(usize, usize)>,
    inner: Vec<u8>,
    /// The two scope refs that passed `check_scope` last.
    last_scopes: std::cell::Cell<[Option<i64>; 2]>,
}

fn now() -> u64 {
    create::now_unix_nano()
}

const SPAN_TAG_START: u32 = 11;
const SPAN_TAG_END: u32 = 12;
const SPAN_TAG_NAME: u32 = 13;
const SPAN_TAG_ATTRS: u32 = 14;
const SPAN_TAG_LINKS: u32 = 15;

/// Room kept for a message's envelope when deciding how long one value may be.
const ENVELOPE_ROOM: usize = 128;

impl Recorder {
    /// Creates a new file (or attaches to an existing one) and returns its writer.
    pub fn open(path: &Path, o: &CreateOptions, attach: bool) -> Result<Recorder, RecError> {
        let (map, layout) = if attach {
            create::attach(path, o.max_dictionary_bytes)
        } else {
            create::create(path, o)
        }
        .map_err(|e| RecError::plain(format!("cannot {} otlp-mmap file {}: {e}", if attach { "attach to" } else { "create" }, path.display())))?;
        let dict_limit = create::dictionary_limit(&map);
        let limit = |k: RingKind| layout.ring(k).max_message_len().saturating_sub(ENVELOPE_ROOM).max(16);
        let value_limits = [limit(RingKind::Events), limit(RingKind::Spans), limit(RingKind::Measurements)];
        let mut r = Recorder {
            path: path.to_path_buf(),
            map,
            layout,
            dict_limit,
            strings: HashMap::new(),
            blobs: HashMap::new(),
            refs: RefMap::default(),
            truncated_key: 0,
            written: [0; 3],
            values: ValueEncoder::new(),
            value_limits,
            msg: Vec::with_capacity(1024),
            attrs: Vec::with_capacity(1024),
            ranges: Vec::with_capacity(32),
            inner: Vec::with_capacity(1024),
            last_scopes: std::cell::Cell::new([None, None]),
        };
        r.truncated_key = r.intern("otlp_mmap.truncated")?;
        Ok(r)
    }

    fn max_len(&self, ring: RingKind) -> usize {
        self.layout.ring(ring).max_message_len()
    }

    /// Claims a slot and publishes `self.msg`, or counts a drop when the ring is full.
    fn publish(&mut self, ring: RingKind) -> bool {
        Self::publish_parts(&self.map, &self.layout, &mut self.written, ring, &[&self.msg])
    }

    /// Claims a slot and publishes the concatenation of `parts` (one message).
    #[inline]
    fn publish_parts(map: &Mapping, layout: &FileLayout, written: &mut [u64; 3], ring: RingKind, parts: &[&[u8]]) -> bool {
        let r = layout.ring(ring);
        match r.try_claim(map) {
            Some(seq) => {
                r.write_parts_and_publish(map, seq, parts);
                written[ring.index()] += 1;
                true
            }
            None => {
                layout.dict.count_drop(map, ring);
                false
            }
        }
    }

    fn append_entry(&mut self, bytes: &[u8], kind: RefKind) -> Result<i64, RecError> {
        let r = self
            .layout
            .dict
            .append(&self.map, bytes, self.dict_limit)
            .map_err(|e| RecError::range_error(format!("cannot add a dictionary entry of {} bytes: {e}", bytes.len())))?;
        self.refs.insert(r.0, kind);
        Ok(r.0)
    }

    // ------------------------------------------------------------ dictionary

    /// `recordString`: the same string always returns the same ref.
    pub fn intern(&mut self, s: &str) -> Result<i64, RecError> {
        if let Some(&r) = self.strings.get(s) {
            return Ok(r);
        }
        let r = self.append_entry(s.as_bytes(), RefKind::String)?;
        self.strings.insert(s.into(), r);
        Ok(r)
    }

    fn check_ref(&self, r: i64, want: RefKind, arg: &str, what: &str) -> Result<RefKind, RecError> {
        match self.refs.get(&r) {
            Some(k) if std::mem::discriminant(k) == std::mem::discriminant(&want) => Ok(*k),
            _ => Err(RecError::range_error(format!("{arg} must be {what} returned by this recorder, got {r}"))),
        }
    }

    /// Checks a scope ref; the last two that passed are remembered (refs stay valid for the
    /// recorder's life), so span calls skip the map look-up even when a request's spans alternate
    /// between two instrumentations' scopes (http and express, say).
    fn check_scope(&self, r: i64) -> Result<(), RecError> {
        let [a, b] = self.last_scopes.get();
        if Some(r) == a || Some(r) == b {
            return Ok(());
        }
        self.check_ref(r, RefKind::Scope, "scopeRef", "an instrumentation scope ref (createInstrumentationScope)")?;
        self.last_scopes.set([Some(r), a]);
        Ok(())
    }

    /// `createResource(attributes, schemaUrl)`; identical resources share one entry.
    pub fn create_resource(&mut self, a: &mut Args) -> Result<i64, RecError> {
        self.values.value_limit = usize::MAX;
        self.values.attributes(a, 1, &mut self.attrs, &mut self.ranges)?;
        let schema = a.blob()?.to_vec();
        self.msg.clear();
        self.msg.extend_from_slice(fields(&self.attrs, &self.ranges));
        // v1's Resource has no schema URL; keep resources with different URLs apart.
        let mut key = std::mem::take(&mut self.msg);
        let body_len = key.len();
        key.extend_from_slice(&schema);
        if let Some(&r) = self.blobs.get(&(1, key.clone())) {
            self.msg = key;
            return Ok(r);
        }
        let r = self.append_entry(&key[..body_len], RefKind::Resource)?;
        self.blobs.insert((1, key), r);
        Ok(r)
    }

    /// `createInstrumentationScope(resourceRef, name, version, attributes)`.
    pub fn create_scope(&mut self, a: &mut Args) -> Result<i64, RecError> {
        self.values.value_limit = usize::MAX;
        let resource = a.reference()?;
        self.check_ref(resource, RefKind::Resource, "resourceRef", "a resource ref (createResource)")?;
        let name = std::str::from_utf8(a.blob()?).map_err(|_| RecError::type_error("name must be valid UTF-8".into()))?.to_owned();
        let has_version = a.u8()? != 0;
        let version = a.blob()?.to_owned();
        self.values.attributes(a, 3, &mut self.attrs, &mut self.ranges)?;
        let name_ref = self.intern(&name)?;
        let version_ref = if has_version { self.intern(std::str::from_utf8(&version).unwrap_or(""))? } else { 0 };
        self.msg.clear();
        let mut enc = Enc::new(&mut self.msg);
        enc.int64(1, name_ref);
        enc.int64(2, version_ref);
        enc.buf.extend_from_slice(fields(&self.attrs, &self.ranges));
        enc.int64(5, resource);
        // Not deduplicated: every call is its own scope entry, so a logger and a tracer
        // of the same name keep distinct refs and the collector never takes a log
        // record for a span event (it pairs events with spans of the same scope ref).
        let msg = std::mem::take(&mut self.msg);
        let r = self.append_entry(&msg, RefKind::Scope);
        self.msg = msg;
        r
    }

    /// `createMetricStream(scopeRef, name, description, unit, aggregation, options)`.
    pub fn create_metric(&mut self, a: &mut Args) -> Result<i64, RecError> {
        let scope = a.reference()?;
        self.check_scope(scope)?;
        let name = a.blob()?.to_vec();
        let desc = a.blob()?.to_vec();
        let unit = a.blob()?.to_vec();
        let agg = a.u8()?;
        let temporality = a.u8()? as i64;
        let monotonic = a.u8()? != 0;
        let nb = a.u32()? as usize;
        let mut bounds = Vec::with_capacity(nb.min(4096));
        for _ in 0..nb {
            bounds.push(a.f64()?);
        }
        let max_buckets = a.i64()?;
        let max_scale = a.i64()?;
        let int = a.u8()? != 0;
        self.msg.clear();
        let mut enc = Enc::new(&mut self.msg);
        enc.bytes(1, &name);
        enc.bytes(2, &desc);
        enc.bytes(3, &unit);
        enc.int64(4, scope);
        match agg {
            1 => {
                let s = enc.begin(5);
                enc.end(s);
            }
            2 => {
                let s = enc.begin(6);
                enc.int64(2, temporality);
                enc.bool(3, monotonic);
                enc.end(s);
            }
            3 => {
                let s = enc.begin(7);
                enc.int64(1, temporality);
                if !bounds.is_empty() {
                    // packed repeated double
                    let p = enc.begin(2);
                    for b in &bounds {
                        enc.buf.extend_from_slice(&b.to_le_bytes());
                    }
                    enc.end(p);
                }
                enc.end(s);
            }
            4 => {
                let s = enc.begin(8);
                enc.int64(1, temporality);
                enc.int64(2, max_buckets);
                enc.int64(3, max_scale);
                enc.end(s);
            }
            _ => return Err(RecError::type_error(format!("aggregation kind {agg} is not gauge, sum, histogram or exponential histogram"))),
        }
        // Streams that differ only in value type are distinct streams.
        self.msg.push(int as u8);
        let key_len = self.msg.len() - 1;
        let full = std::mem::take(&mut self.msg);
        if let Some(&r) = self.blobs.get(&(3, full.clone())) {
            self.msg = full;
            return Ok(r);
        }
        let r = self.append_entry(&full[..key_len], RefKind::Metric { int })?;
        self.blobs.insert((3, full), r);
        Ok(r)
    }

    // ------------------------------------------------------------ spans

    /// Writes the SpanEvent header (scope, trace id, span id) into `self.msg`.
    fn span_header(&mut self, scope: i64, trace: &[u8], span: &[u8]) {
        self.msg.clear();
        let mut enc = Enc::new(&mut self.msg);
        enc.int64(20, scope);
        enc.bytes_always(1, trace);
        enc.bytes_always(2, span);
    }

    /// Appends `inner` as the nested message `tag` to the header in `self.msg`.
    fn finish_span_event(&mut self, tag: u32) {
        let mut enc = Enc::new(&mut self.msg);
        enc.bytes_always(tag, &self.inner);
    }

    /// Packs attributes `from..` into UpdateAttributes messages that fit the slot.
    fn write_attribute_updates(&mut self, scope: i64, trace: &[u8], span: &[u8], mut from: usize) {
        let max = self.max_len(RingKind::Spans);
        while from < self.ranges.len() {
            self.span_header(scope, trace, span);
            let header = self.msg.len();
            let mut inner_len = 0usize;
            let mut to = from;
            while to < self.ranges.len() {
                let e = self.ranges[to].1 - self.ranges[to].0;
                let n = inner_len + e;
                if header + 1 + varint_len(n as u64) + n > max {
                    break;
                }
                inner_len = n;
                to += 1;
            }
            if to == from {
                // One attribute larger than any slot even after value truncation
                // (an array or map): drop it and count it.
                self.values.truncated += 1;
                from += 1;
                continue;
            }
            let body = fields(&self.attrs, &self.ranges[from..to]);
            let mut enc = Enc::new(&mut self.msg);
            enc.tag(SPAN_TAG_ATTRS, crate::wire::encode::WT_LEN);
            enc.varint(body.len() as u64);
            Self::publish_parts(&self.map, &self.layout, &mut self.written, RingKind::Spans, &[&self.msg, body]);
            from = to;
        }
    }

    fn ids<'a>(a: &mut Args<'a>) -> Result<(i64, &'a [u8], &'a [u8]), RecError> {
        let scope = a.reference()?;
        let trace = a.take(16)?;
        let span = a.take(8)?;
        Ok((scope, trace, span))
    }

    /// Registers the attribute list at `js` (see [`ValueEncoder::register_set`]); `None` when full.
    pub fn register_attr_set(&mut self, js: &[u8]) -> Result<Option<u32>, RecError> {
        self.values.register_set(js)
    }

    /// Frees attribute set `id` (see [`ValueEncoder::free_set`]); false when it was not registered.
    pub fn free_attr_set(&mut self, id: u32) -> bool {
        self.values.free_set(id)
    }

    /// Attribute sets registered and not freed.
    pub fn attr_sets(&self) -> usize {
        self.values.live_sets()
    }

    /// `recordSpanStart`: a StartSpan carrying the attributes that fit, then
    /// UpdateAttributes messages for the rest.
    pub fn span_start(&mut self, a: &mut Args) -> Result<(), RecError> {
        self.values.value_limit = self.value_limits[1];
        let (scope, trace, span) = Self::ids(a)?;
        let has_parent = a.u8()? != 0;
        let parent = a.take(8)?;
        let flags = a.u32()?;
        let kind = a.u8()?;
        let time = a.time()?;
        let name = a.blob()?;
        self.check_scope(scope)?;
        self.values.attributes(a, 9, &mut self.attrs, &mut self.ranges)?;
        let max = self.max_len(RingKind::Spans);
        let name = self.values.truncate_counted(name);
        self.inner.clear();
        let mut enc = Enc::new(&mut self.inner);
        if has_parent {
            enc.bytes_always(4, parent);
        }
        enc.fixed32(16, flags);
        enc.bytes(5, name);
        enc.int64(6, kind as i64);
        enc.fixed64(7, time.unwrap_or_else(now));
        self.span_header(scope, trace, span);
        let header = self.msg.len();
        let mut inner_len = self.inner.len();
        let mut fit = 0;
        while fit < self.ranges.len() {
            let n = inner_len + (self.ranges[fit].1 - self.ranges[fit].0);
            if header + 1 + varint_len(n as u64) + n > max {
                break;
            }
            inner_len = n;
            fit += 1;
        }
        let body = fields(&self.attrs, &self.ranges[..fit]);
        let mut enc = Enc::new(&mut self.msg);
        enc.tag(SPAN_TAG_START, crate::wire::encode::WT_LEN);
        enc.varint((self.inner.len() + body.len()) as u64);
        Self::publish_parts(&self.map, &self.layout, &mut self.written, RingKind::Spans, &[&self.msg, &self.inner, body]);
        if fit < self.ranges.len() {
            self.write_attribute_updates(scope, trace, span, fit);
        }
        Ok(())
    }

    /// `recordSpanEnd`: optionally a ChangeSpanName and UpdateAttributes first (the span's last
    /// name and attributes, in the same call), then the EndSpan.
    pub fn span_end(&mut self, a: &mut Args) -> Result<(), RecError> {
        self.values.value_limit = self.value_limits[1];
        let (scope, trace, span) = Self::ids(a)?;
        let time = a.time()?;
        let has_status = a.u8()? != 0;
        let code = a.u8()?;
        let message = a.blob()?;
        let has_name = a.u8()? != 0;
        let name = a.blob()?;
        self.check_scope(scope)?;
        // Everything is read (and could still fail) before anything is published.
        self.values.attributes(a, 9, &mut self.attrs, &mut self.ranges)?;
        if has_name {
            self.write_name(scope, trace, span, name);
        }
        if !self.ranges.is_empty() {
            self.write_attribute_updates(scope, trace, span, 0);
        }
        let message = self.values.truncate_counted(message);
        self.inner.clear();
        let mut enc = Enc::new(&mut self.inner);
        enc.fixed64(8, time.unwrap_or_else(now));
        if has_status {
            let s = enc.begin(15);
            enc.bytes(2, message);
            enc.int64(3, code as i64);
            enc.end(s);
        }
        self.span_header(scope, trace, span);
        self.finish_span_event(SPAN_TAG_END);
        self.publish(RingKind::Spans);
        Ok(())
    }

    /// `recordSpanName`.
    pub fn span_name(&mut self, a: &mut Args) -> Result<(), RecError> {
        self.values.value_limit = self.value_limits[1];
        let (scope, trace, span) = Self::ids(a)?;
        let name = a.blob()?;
        self.check_scope(scope)?;
        self.write_name(scope, trace, span, name);
        Ok(())
    }

    /// Publishes a ChangeSpanName (the name truncated to the span value limit, counted).
    fn write_name(&mut self, scope: i64, trace: &[u8], span: &[u8], name: &[u8]) {
        let name = self.values.truncate_counted(name);
        self.inner.clear();
        Enc::new(&mut self.inner).bytes_always(5, name);
        self.span_header(scope, trace, span);
        self.finish_span_event(SPAN_TAG_NAME);
        self.publish(RingKind::Spans);
    }

    /// `recordSpanAttributes`: as many UpdateAttributes messages as needed.
    pub fn span_attributes(&mut self, a: &mut Args) -> Result<(), RecError> {
        self.values.value_limit = self.value_limits[1];
        let (scope, trace, span) = Self::ids(a)?;
        self.check_scope(scope)?;
        self.values.attributes(a, 9, &mut self.attrs, &mut self.ranges)?;
        self.write_attribute_updates(scope, trace, span, 0);
        Ok(())
    }

    /// `recordSpanLinks`: links are packed into AddLink messages that fit; a link
    /// too large alone loses its attributes (counted in `dropped_attributes_count`).
    pub fn span_links(&mut self, a: &mut Args) -> Result<(), RecError> {
        self.values.value_limit = self.value_limits[1];
        let (scope, trace, span) = Self::ids(a)?;
        self.check_scope(scope)?;
        let n = a.u32()? as usize;
        let max = self.max_len(RingKind::Spans);
        // Encode every link body into `self.attrs`-independent storage first.
        let mut links: Vec<Vec<u8>> = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let lt = a.take(16)?;
            let ls = a.take(8)?;
            let state = a.blob()?;
            let flags = a.u32()?;
            let dropped = a.u32()?;
            self.values.attributes(a, 4, &mut self.attrs, &mut self.ranges)?;
            let mut body = Vec::new();
            let mut enc = Enc::new(&mut body);
            enc.bytes_always(1, lt);
            enc.bytes_always(2, ls);
            enc.bytes(3, state);
            let base = enc.buf.len();
            enc.buf.extend_from_slice(fields(&self.attrs, &self.ranges));
            let mut dropped = dropped;
            if base + 40 + 24 > max || body.len() + 64 > max {
                body.truncate(base);
                dropped += self.ranges.len() as u32;
            }
            let mut enc = Enc::new(&mut body);
            enc.uint32(5, dropped);
            enc.fixed32(6, flags);
            links.push(body);
        }
        let mut i = 0;
        while i < links.len() {
            self.span_header(scope, trace, span);
            let header = self.msg.len();
            self.inner.clear();
            let mut enc = Enc::new(&mut self.inner);
            let mut j = i;
            while j < links.len() {
                let add = 1 + varint_len(links[j].len() as u64) + links[j].len();
                let n = enc.buf.len() + add;
                if j > i && header + 1 + varint_len(n as u64) + n > max {
                    break;
                }
                enc.bytes_always(13, &links[j]);
                j += 1;
            }
            if header + 1 + varint_len(self.inner.len() as u64) + self.inner.len() <= max {
                self.finish_span_event(SPAN_TAG_LINKS);
                self.publish(RingKind::Spans);
            } else {
                self.layout.dict.count_drop(&self.map, RingKind::Spans);
            }
            i = j;
        }
        Ok(())
    }

    // ------------------------------------------------------------ measurements and events

    fn put_span_context(enc: &mut Enc, field: u32, sc: Option<(&[u8], &[u8], u32)>) {
        if let Some((t, s, f)) = sc {
            let p = enc.begin(field);
            enc.bytes_always(1, s);
            enc.bytes_always(2, t);
            enc.fixed32(3, f);
            enc.end(p);
        }
    }

    /// `recordMeasurement`. Value kinds: 1 = JS number (f64), 2 = bigint (i64).
    pub fn measurement(&mut self, a: &mut Args) -> Result<(), RecError> {
        self.values.value_limit = self.value_limits[2];
        let metric = a.reference()?;
        let kind = match self.refs.get(&metric) {
            Some(RefKind::Metric { int }) => *int,
            _ => {
                return Err(RecError::range_error(format!(
                    "metricRef must be a metric stream ref returned by this recorder's createMetricStream(), got {metric}"
                )))
            }
        };
        self.values.attributes(a, 2, &mut self.attrs, &mut self.ranges)?;
        let time = a.time()?.unwrap_or_else(now);
        let vkind = a.u8()?;
        let raw = a.u64()?;
        let sc = a.span_context()?;
        self.msg.clear();
        let mut enc = Enc::new(&mut self.msg);
        enc.int64(1, metric);
        enc.buf.extend_from_slice(fields(&self.attrs, &self.ranges));
        enc.fixed64(3, time);
        Self::put_value(&mut enc, kind, vkind, raw);
        Self::put_span_context(&mut enc, 6, sc);
        if self.msg.len() > self.max_len(RingKind::Measurements) {
            // Too large: the smallest valid stand-in, marked, counted as dropped.
            self.msg.clear();
            let mut enc = Enc::new(&mut self.msg);
            enc.int64(1, metric);
            let e = enc.begin(2);
            enc.int64(1, self.truncated_key);
            let v = enc.begin(2);
            enc.bool_always(2, true);
            enc.end(v);
            enc.end(e);
            enc.fixed64(3, time);
            Self::put_value(&mut enc, kind, vkind, raw);
            // The stand-in replaces the real message: count it as dropped once it is
            // in the ring (a full ring counts its own drop).
            if self.publish(RingKind::Measurements) {
                self.layout.dict.count_drop(&self.map, RingKind::Measurements);
            }
            return Ok(());
        }
        self.publish(RingKind::Measurements);
        Ok(())
    }

    fn put_value(enc: &mut Enc, int_stream: bool, vkind: u8, raw: u64) {
        if vkind == 2 {
            if int_stream {
                enc.int64_always(4, raw as i64);
            } else {
                enc.double_always(5, raw as i64 as f64);
            }
        } else {
            let v = f64::from_bits(raw);
            if int_stream {
                enc.int64_always(4, v.trunc() as i64);
            } else {
                enc.double_always(5, v);
            }
        }
    }

    /// `recordEvent(scopeRef, spanContext, eventNameRef, time, attributes, extra)`.
    pub fn event(&mut self, a: &mut Args) -> Result<(), RecError> {
        self.values.value_limit = self.value_limits[0];
        let scope = a.reference()?;
        let sc = a.span_context()?;
        let name = a.reference()?;
        let time = a.time()?.unwrap_or_else(now);
        self.check_scope(scope)?;
        if name != 0 {
            self.check_ref(name, RefKind::String, "eventNameRef", "0 or a string ref (recordString)")?;
        }
        self.values.attributes(a, 8, &mut self.attrs, &mut self.ranges)?;
        let severity = a.u8()?;
        let severity_text = a.blob()?;
        let has_body = a.u8()? != 0;
        self.msg.clear();
        let mut enc = Enc::new(&mut self.msg);
        enc.int64(1, scope);
        enc.fixed64(2, time);
        enc.int64(3, severity as i64);
        enc.bytes(4, self.values.truncate_counted(severity_text));
        if has_body {
            let b = enc.begin(5);
            self.values.any_value(a, &mut enc, 0)?;
            enc.end(b);
        }
        enc.int64(6, name);
        Self::put_span_context(&mut enc, 7, sc);
        enc.buf.extend_from_slice(fields(&self.attrs, &self.ranges));
        if self.msg.len() > self.max_len(RingKind::Events) {
            self.msg.clear();
            let mut enc = Enc::new(&mut self.msg);
            enc.int64(1, scope);
            enc.fixed64(2, time);
            enc.int64(3, severity as i64);
            enc.int64(6, name);
            Self::put_span_context(&mut enc, 7, sc);
            let e = enc.begin(8);
            enc.int64(1, self.truncated_key);
            let v = enc.begin(2);
            enc.bool_always(2, true);
            enc.end(v);
            enc.end(e);
            if self.publish(RingKind::Events) {
                self.layout.dict.count_drop(&self.map, RingKind::Events);
            }
            return Ok(());
        }
        self.publish(RingKind::Events);
        Ok(())
    }

    pub fn stats(&self) -> Stats {
        let d = &self.layout.dict;
        Stats {
            written: self.written,
            dropped_in_file: [
                d.dropped(&self.map, RingKind::Events),
                d.dropped(&self.map, RingKind::Spans),
                d.dropped(&self.map, RingKind::Measurements),
            ],
            dictionary_bytes: d.end(&self.map) - (d.offset + DICT_HEADER_SIZE) as i64,
            dictionary_entries: d.num_entries(&self.map),
            truncated: self.values.truncated,
            attribute_sets: self.values.live_sets(),
        }
    }

    pub fn start_time_unix_nano(&self) -> u64 {
        self.layout.start_time_unix_nano
    }
}

/// Convenience used by tests and benches: `DictRef` of a value returned by the API.
pub fn dict_ref(r: i64) -> DictRef {
    DictRef(r)
}

#[cfg(test)]
pub(crate) mod tests;
