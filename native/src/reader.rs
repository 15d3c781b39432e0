//! A bounds-checked reader of v1 files: the single consumer of each ring.
//!
//! Every file is untrusted input. Offsets, lengths and references are checked
//! against the file before use; a corrupt record is reported and skipped; a corrupt
//! header is an error for that file. Nothing here panics on bad input or allocates
//! more than a record's slot or a bounded dictionary entry.

use crate::file::create::{self, FileLayout};
use crate::file::layout::{DictRef, RingKind};
use crate::file::mapping::Mapping;
use crate::file::sys;
use crate::wire::decode;
use crate::wire::messages::*;
use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// Largest dictionary entry the reader accepts.
pub const MAX_ENTRY_BYTES: usize = 16 << 20;
/// Address space reserved beyond the file's length when mapping it.
const HEADROOM: u64 = 256 << 20;

/// One record read from a ring: its sequence number and its bytes, or why it was skipped.
pub type RawRecord<'a> = (i64, Result<&'a [u8], String>);

pub struct Reader {
    pub path: PathBuf,
    map: Mapping,
    pub layout: FileLayout,
    file_len: u64,
    buf: Vec<u8>,
    entry: Vec<u8>,
    /// Unpublished slots skipped after the writer died, per ring.
    pub skipped: [u64; 3],
}

impl Reader {
    pub fn open(path: &Path) -> Result<Reader, String> {
        let file = create::open_for_reading(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        Self::from_file(path, file)
    }

    fn from_file(path: &Path, file: File) -> Result<Reader, String> {
        let len = file.metadata().map_err(|e| format!("cannot stat {}: {e}", path.display()))?.len();
        let map = Mapping::new(file, len + HEADROOM, true).map_err(|e| format!("cannot map {}: {e}", path.display()))?;
        let layout = FileLayout::read(&map, len).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Reader { path: path.to_path_buf(), map, layout, file_len: len, buf: Vec::new(), entry: Vec::new(), skipped: [0; 3] })
    }

    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Re-reads the file's length (the dictionary grows), remapping if it outgrew the mapping.
    pub fn refresh(&mut self) -> Result<(), String> {
        let len = self.map.file_len().map_err(|e| format!("cannot stat {}: {e}", self.path.display()))?;
        if len < self.file_len {
            return Err(format!("{} shrank from {} to {len} bytes; a v1 file never shrinks", self.path.display(), self.file_len));
        }
        if len > self.map.reserved() {
            let file = self.map.file().try_clone().map_err(|e| e.to_string())?;
            self.map = Mapping::new(file, len + HEADROOM, true).map_err(|e| format!("cannot remap {}: {e}", self.path.display()))?;
        }
        self.file_len = len;
        Ok(())
    }

    /// True while some writer holds its shared lock (a non-blocking exclusive probe fails).
    pub fn writer_alive(&self) -> bool {
        let fd = self.map.file().as_raw_fd();
        match sys::lock(fd, sys::LOCK_EX | sys::LOCK_NB) {
            Ok(true) => {
                // We got it: no writer. Release at once so a new writer never waits on us.
                let _ = sys::lock(fd, sys::LOCK_UN);
                false
            }
            Ok(false) => true,
            Err(_) => true,
        }
    }

    /// The file's (device, inode), to notice a path replaced by a new file.
    pub fn identity(&self) -> (u64, u64) {
        use std::os::unix::fs::MetadataExt;
        self.map.file().metadata().map(|m| (m.dev(), m.ino())).unwrap_or((0, 0))
    }

    /// The current `start_time_unix_nano` in the header (a change means a new generation).
    pub fn current_start_time(&self) -> u64 {
        self.map.atomic_i64(crate::file::layout::H_START_TIME).load(std::sync::atomic::Ordering::Acquire) as u64
    }

    pub fn map(&self) -> &Mapping {
        &self.map
    }

    /// Reads up to `max` published records from `ring`, advancing `reader_index` past
    /// each. With `writer_dead`, claimed-but-unpublished slots up to `writer_index` are
    /// skipped (their writer can no longer publish them). Calls `f` for each record.
    pub fn read_raw(&mut self, ring: RingKind, max: usize, writer_dead: bool, mut f: impl FnMut(RawRecord)) -> usize {
        let r = *self.layout.ring(ring);
        let mut n = 0;
        // A claimed slot can only lie within one ring's length of the reader: more skips
        // than that mean a corrupt writer_index, and must not turn into an endless loop.
        let mut skips = 0u64;
        while n < max {
            let next = r.reader_index(&self.map) + 1;
            if r.next_readable(&self.map).is_some() {
                let res = r.read_record(&self.map, next, &mut self.buf);
                match res {
                    Ok(()) => f((next, Ok(&self.buf))),
                    Err(e) => f((next, Err(e))),
                }
                r.advance(&self.map, next);
                n += 1;
            } else if writer_dead && skips < r.num_buffers && r.is_claimed_unpublished(&self.map, next) {
                r.advance(&self.map, next);
                self.skipped[ring.index()] += 1;
                skips += 1;
            } else {
                break;
            }
        }
        n
    }

    /// Published-but-unread messages in `ring` (approximate while writers run).
    pub fn backlog(&self, ring: RingKind) -> i64 {
        let r = self.layout.ring(ring);
        (r.writer_index(&self.map) - r.reader_index(&self.map)).max(0)
    }

    pub fn dropped(&self, ring: RingKind) -> i64 {
        self.layout.dict.dropped(&self.map, ring)
    }

    /// The raw bytes of dictionary entry `r` (bounds-checked, refreshing the file
    /// length once if the entry lies past what we knew).
    pub fn entry(&mut self, r: DictRef) -> Result<Vec<u8>, String> {
        let d = self.layout.dict;
        if d.read_entry(&self.map, r, self.file_len, MAX_ENTRY_BYTES, &mut self.entry).is_err() {
            self.refresh()?;
            d.read_entry(&self.map, r, self.file_len, MAX_ENTRY_BYTES, &mut self.entry)?;
        }
        Ok(self.entry.clone())
    }

    pub fn string(&mut self, r: DictRef) -> Result<String, String> {
        if r.is_none() {
            return Ok(String::new());
        }
        Ok(String::from_utf8_lossy(&self.entry(r)?).into_owned())
    }

    pub fn resource(&mut self, r: DictRef) -> Result<Resource, String> {
        decode::resource(&self.entry(r)?).map_err(|e| format!("resource {}: {e}", r.0))
    }

    pub fn scope(&mut self, r: DictRef) -> Result<InstrumentationScope, String> {
        decode::scope(&self.entry(r)?).map_err(|e| format!("scope {}: {e}", r.0))
    }

    pub fn metric(&mut self, r: DictRef) -> Result<MetricRef, String> {
        decode::metric_ref(&self.entry(r)?).map_err(|e| format!("metric {}: {e}", r.0))
    }

    /// Resolves an `AnyValue` stored in the dictionary (`value_ref`), bounded in depth
    /// so a reference cycle ends in an error.
    pub fn value_ref(&mut self, r: DictRef, depth: u32) -> Result<AnyValue, String> {
        if depth > decode::MAX_DEPTH {
            return Err(format!("value_ref {} nests deeper than {} (a reference cycle?)", r.0, decode::MAX_DEPTH));
        }
        let v = decode::any_value(&self.entry(r)?, 0)?;
        match v {
            AnyValue::ValueRef(inner) => self.value_ref(inner, depth + 1),
            other => Ok(other),
        }
    }
}

// ------------------------------------------------------------------ JSON rendering for JS

/// Renders decoded messages as JSON for `openReader()` (inspection and tests; the
/// collector's export path never goes through JSON). 64-bit integers are
/// `{"$big":"..."}` and bytes `{"$bytes":"<base64>"}` so JS keeps full precision.
pub mod json {
    use super::*;
    use std::fmt::Write;

    pub fn string(out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }

    pub fn big(out: &mut String, v: impl std::fmt::Display) {
        let _ = write!(out, "{{\"$big\":\"{v}\"}}");
    }

    pub fn hex(out: &mut String, b: &[u8]) {
        out.push('"');
        for x in b {
            let _ = write!(out, "{x:02x}");
        }
        out.push('"');
    }

    fn base64(out: &mut String, b: &[u8]) {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        out.push_str("{\"$bytes\":\"");
        for c in b.chunks(3) {
            let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
            out.push(A[(n >> 18) as usize & 63] as char);
            out.push(A[(n >> 12) as usize & 63] as char);
            out.push(if c.len() > 1 { A[(n >> 6) as usize & 63] as char } else { '=' });
            out.push(if c.len() > 2 { A[n as usize & 63] as char } else { '=' });
        }
        out.push_str("\"}");
    }

    fn num(out: &mut String, v: f64) {
        if v.is_finite() {
            let _ = write!(out, "{v}");
        } else {
            string(out, &v.to_string());
        }
    }

    pub fn any_value(out: &mut String, rd: &mut Reader, v: &AnyValue, depth: u32) {
        match v {
            AnyValue::String(s) => {
                out.push_str("{\"string\":");
                string(out, s);
                out.push('}');
            }
            AnyValue::Bool(b) => {
                let _ = write!(out, "{{\"bool\":{b}}}");
            }
            AnyValue::Int(i) => {
                out.push_str("{\"int\":");
                big(out, i);
                out.push('}');
            }
            AnyValue::Double(d) => {
                out.push_str("{\"double\":");
                num(out, *d);
                out.push('}');
            }
            AnyValue::Bytes(b) => {
                out.push_str("{\"bytes\":");
                base64(out, b);
                out.push('}');
            }
            AnyValue::Array(a) => {
                out.push_str("{\"array\":[");
                for (i, e) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    any_value(out, rd, e, depth + 1);
                }
                out.push_str("]}");
            }
            AnyValue::KvList(kvs) => {
                out.push_str("{\"kvlist\":");
                attributes(out, rd, kvs, depth + 1);
                out.push('}');
            }
            AnyValue::ValueRef(r) => match rd.value_ref(*r, depth) {
                Ok(v) => any_value(out, rd, &v, depth + 1),
                Err(e) => {
                    out.push_str("{\"error\":");
                    string(out, &e);
                    out.push('}');
                }
            },
        }
    }

    pub fn attributes(out: &mut String, rd: &mut Reader, kvs: &[KeyValueRef], depth: u32) {
        out.push('[');
        for (i, kv) in kvs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"key\":");
            match rd.string(kv.key_ref) {
                Ok(k) => string(out, &k),
                Err(e) => string(out, &format!("<bad key: {e}>")),
            }
            out.push_str(",\"value\":");
            match &kv.value {
                Some(v) => any_value(out, rd, v, depth),
                None => out.push_str("null"),
            }
            out.push('}');
        }
        out.push(']');
    }

    fn span_context(out: &mut String, sc: &Option<SpanContext>) {
        match sc {
            None => out.push_str("null"),
            Some(sc) => {
                out.push_str("{\"traceId\":");
                hex(out, &sc.trace_id);
                out.push_str(",\"spanId\":");
                hex(out, &sc.span_id);
                let _ = write!(out, ",\"traceFlags\":{}}}", sc.flags);
            }
        }
    }

    fn ids(out: &mut String, e: &SpanEvent) {
        let _ = write!(out, ",\"scopeRef\":{},\"traceId\":", e.scope_ref.0);
        hex(out, &e.trace_id);
        out.push_str(",\"spanId\":");
        hex(out, &e.span_id);
    }

    pub fn span_event(out: &mut String, rd: &mut Reader, e: &SpanEvent) {
        ids(out, e);
        match &e.event {
            None => out.push_str(",\"type\":\"unknown\""),
            Some(SpanEventKind::Start(s)) => {
                out.push_str(",\"type\":\"start\",\"parentSpanId\":");
                if s.parent_span_id.is_empty() {
                    out.push_str("null");
                } else {
                    hex(out, &s.parent_span_id);
                }
                let _ = write!(out, ",\"flags\":{},\"kind\":{},\"name\":", s.flags, s.kind);
                string(out, &s.name);
                out.push_str(",\"startTimeUnixNano\":");
                big(out, s.start_time_unix_nano);
                out.push_str(",\"attributes\":");
                attributes(out, rd, &s.attributes, 0);
            }
            Some(SpanEventKind::End { end_time_unix_nano, status }) => {
                out.push_str(",\"type\":\"end\",\"endTimeUnixNano\":");
                big(out, end_time_unix_nano);
                out.push_str(",\"status\":");
                match status {
                    None => out.push_str("null"),
                    Some(s) => {
                        let _ = write!(out, "{{\"code\":{},\"message\":", s.code);
                        string(out, &s.message);
                        out.push('}');
                    }
                }
            }
            Some(SpanEventKind::Name(n)) => {
                out.push_str(",\"type\":\"name\",\"name\":");
                string(out, n);
            }
            Some(SpanEventKind::Attributes(a)) => {
                out.push_str(",\"type\":\"attributes\",\"attributes\":");
                attributes(out, rd, a, 0);
            }
            Some(SpanEventKind::Links(links)) => {
                out.push_str(",\"type\":\"links\",\"links\":[");
                for (i, l) in links.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"traceId\":");
                    hex(out, &l.trace_id);
                    out.push_str(",\"spanId\":");
                    hex(out, &l.span_id);
                    out.push_str(",\"traceState\":");
                    string(out, &l.trace_state);
                    let _ = write!(out, ",\"flags\":{},\"droppedAttributesCount\":{},\"attributes\":", l.flags, l.dropped_attributes_count);
                    attributes(out, rd, &l.attributes, 0);
                    out.push('}');
                }
                out.push(']');
            }
        }
    }

    pub fn measurement(out: &mut String, rd: &mut Reader, m: &Measurement) {
        let _ = write!(out, ",\"metricRef\":{},\"metric\":", m.metric_ref.0);
        match rd.metric(m.metric_ref) {
            Ok(mr) => string(out, &mr.name),
            Err(e) => string(out, &format!("<bad metric: {e}>")),
        }
        out.push_str(",\"timeUnixNano\":");
        big(out, m.time_unix_nano);
        out.push_str(",\"value\":");
        match m.value {
            Some(NumberValue::Long(v)) => {
                out.push_str("{\"asLong\":");
                big(out, v);
                out.push('}');
            }
            Some(NumberValue::Double(v)) => {
                out.push_str("{\"asDouble\":");
                num(out, v);
                out.push('}');
            }
            None => out.push_str("null"),
        }
        out.push_str(",\"attributes\":");
        attributes(out, rd, &m.attributes, 0);
        out.push_str(",\"spanContext\":");
        span_context(out, &m.span_context);
    }

    pub fn event(out: &mut String, rd: &mut Reader, e: &Event) {
        let _ = write!(out, ",\"scopeRef\":{},\"timeUnixNano\":", e.scope_ref.0);
        big(out, e.time_unix_nano);
        let _ = write!(out, ",\"severityNumber\":{},\"severityText\":", e.severity_number);
        string(out, &e.severity_text);
        out.push_str(",\"eventName\":");
        match rd.string(e.event_name_ref) {
            Ok(n) => string(out, &n),
            Err(err) => string(out, &format!("<bad name: {err}>")),
        }
        out.push_str(",\"body\":");
        match &e.body {
            Some(b) => any_value(out, rd, b, 0),
            None => out.push_str("null"),
        }
        out.push_str(",\"spanContext\":");
        span_context(out, &e.span_context);
        out.push_str(",\"attributes\":");
        attributes(out, rd, &e.attributes, 0);
    }

    /// Reads up to `max` messages of `ring` and renders them as a JSON array.
    pub fn read(rd: &mut Reader, ring: RingKind, max: usize) -> String {
        let mut raw: Vec<(i64, Result<Vec<u8>, String>)> = Vec::new();
        rd.read_raw(ring, max, false, |(seq, r)| raw.push((seq, r.map(|b| b.to_vec()))));
        let mut out = String::from("[");
        for (i, (seq, r)) in raw.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{{\"ring\":\"{}\",\"seq\":{seq}", ring.name());
            let decoded = r.and_then(|b| match ring {
                RingKind::Spans => decode::span_event(&b).map(|m| span_event(&mut out, rd, &m)),
                RingKind::Events => decode::event(&b).map(|m| event(&mut out, rd, &m)),
                RingKind::Measurements => decode::measurement(&b).map(|m| measurement(&mut out, rd, &m)),
            });
            if let Err(e) = decoded {
                out.push_str(",\"error\":");
                string(&mut out, &e);
            }
            out.push('}');
        }
        out.push(']');
        out
    }

    pub fn header(rd: &Reader) -> String {
        let map = rd.map();
        let mut out = String::from("{\"version\":1,\"startTimeUnixNano\":");
        big(&mut out, rd.current_start_time());
        out.push_str(",\"rings\":{");
        for (i, k) in RingKind::ALL.iter().enumerate() {
            let r = rd.layout.ring(*k);
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "\"{}\":{{\"offset\":{},\"slots\":{},\"slotSize\":{},\"readerIndex\":{},\"writerIndex\":{}}}",
                k.name(),
                r.offset,
                r.num_buffers,
                r.buffer_size,
                r.reader_index(map),
                r.writer_index(map)
            );
        }
        let d = rd.layout.dict;
        let _ = write!(
            out,
            "}},\"dictionary\":{{\"offset\":{},\"end\":{},\"entries\":{}}},\"dropped\":{{\"events\":{},\"spans\":{},\"measurements\":{}}},\"fileBytes\":{}}}",
            d.offset,
            d.end(map),
            d.num_entries(map),
            rd.dropped(RingKind::Events),
            rd.dropped(RingKind::Spans),
            rd.dropped(RingKind::Measurements),
            rd.file_len()
        );
        out
    }
}
