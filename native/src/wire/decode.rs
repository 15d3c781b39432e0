//! A bounds-checked protobuf reader for untrusted bytes, and decoders for every
//! v1 message. Unknown fields are skipped; malformed input is an `Err`, never a panic.

use super::messages::*;

/// Reads a varint from the start of `b` (at most 10 bytes): `(value, bytes used)`.
#[inline]
pub fn get_varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    let mut i = 0;
    while i < 10 {
        let &byte = b.get(i)?;
        v |= ((byte & 0x7f) as u64) << (7 * i);
        i += 1;
        if byte < 0x80 {
            return Some((v, i));
        }
    }
    None
}

pub type DResult<T> = Result<T, String>;

/// Nesting limit for AnyValue arrays/maps.
pub const MAX_DEPTH: u32 = 32;

/// A cursor over one message's bytes.
pub struct Dec<'a> {
    b: &'a [u8],
    pos: usize,
}

/// A field's value as read from the wire.
pub enum Field<'a> {
    Varint(u64),
    I64(u64),
    Len(&'a [u8]),
    I32(u32),
}

impl<'a> Dec<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Dec { b, pos: 0 }
    }

    #[inline(always)]
    fn varint(&mut self) -> DResult<u64> {
        // One or two bytes are the common cases (tags, lengths, dictionary references).
        if let Some(&b) = self.b.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(b as u64);
            }
            if let Some(&c) = self.b.get(self.pos + 1) {
                if c < 0x80 {
                    self.pos += 2;
                    return Ok((b & 0x7f) as u64 | (c as u64) << 7);
                }
            }
        }
        self.varint_long()
    }

    /// A varint of more than two bytes (or a malformed one).
    #[inline(never)]
    fn varint_long(&mut self) -> DResult<u64> {
        match get_varint(self.b.get(self.pos..).unwrap_or_default()) {
            Some((v, n)) => {
                self.pos += n;
                Ok(v)
            }
            None => Err(self.malformed_varint()),
        }
    }

    #[cold]
    #[inline(never)]
    fn malformed_varint(&self) -> String {
        format!("malformed varint at byte {}", self.pos)
    }

    #[inline(always)]
    fn take(&mut self, n: usize) -> DResult<&'a [u8]> {
        if n > self.b.len() - self.pos {
            return Err(self.past_end(n));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[cold]
    #[inline(never)]
    fn past_end(&self, n: usize) -> String {
        format!("field of {n} bytes at byte {} runs past the message ({} bytes)", self.pos, self.b.len())
    }

    /// Next `(field number, value)`, or `None` at the end.
    #[inline(always)]
    pub fn next_field(&mut self) -> DResult<Option<(u32, Field<'a>)>> {
        if self.pos >= self.b.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = (key >> 3) as u32;
        if field == 0 {
            return Err(field_zero());
        }
        let v = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => Field::I64(u64::from_le_bytes(self.take(8)?.try_into().unwrap())),
            2 => {
                let n = self.varint()?;
                Field::Len(self.take(usize::try_from(n).map_err(|_| "length overflow".to_string())?)?)
            }
            5 => Field::I32(u32::from_le_bytes(self.take(4)?.try_into().unwrap())),
            wt => return Err(unsupported_wire_type(wt, field)),
        };
        Ok(Some((field, v)))
    }
}

#[cold]
#[inline(never)]
fn field_zero() -> String {
    "field number 0".into()
}

#[cold]
#[inline(never)]
fn unsupported_wire_type(wt: u64, field: u32) -> String {
    format!("unsupported wire type {wt} for field {field}")
}

fn utf8(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    }
}

macro_rules! wrong {
    ($msg:expr, $f:expr) => {
        return Err(format!("{}: field {} has the wrong wire type", $msg, $f))
    };
}

pub fn any_value(b: &[u8], depth: u32) -> DResult<AnyValue> {
    if depth > MAX_DEPTH {
        return Err(format!("AnyValue nested deeper than {MAX_DEPTH}"));
    }
    let mut d = Dec::new(b);
    let mut out = AnyValue::String(Text::default());
    while let Some((f, v)) = d.next_field()? {
        out = match (f, v) {
            (1, Field::Len(s)) => AnyValue::String(Text::from_utf8_lossy(s)),
            (2, Field::Varint(x)) => AnyValue::Bool(x != 0),
            (3, Field::Varint(x)) => AnyValue::Int(x as i64),
            (4, Field::I64(x)) => AnyValue::Double(f64::from_bits(x)),
            (5, Field::Len(s)) => {
                let mut vals = Vec::new();
                let mut a = Dec::new(s);
                while let Some((af, av)) = a.next_field()? {
                    match (af, av) {
                        (1, Field::Len(e)) => vals.push(any_value(e, depth + 1)?),
                        (1, _) => wrong!("ArrayValue", 1),
                        _ => {}
                    }
                }
                AnyValue::Array(vals)
            }
            (6, Field::Len(s)) => {
                let mut kvs = Vec::new();
                let mut a = Dec::new(s);
                while let Some((af, av)) = a.next_field()? {
                    match (af, av) {
                        (1, Field::Len(e)) => kvs.push(key_value(e, depth + 1)?),
                        (1, _) => wrong!("KeyValueList", 1),
                        _ => {}
                    }
                }
                AnyValue::KvList(kvs)
            }
            (7, Field::Len(s)) => AnyValue::Bytes(s.to_vec()),
            (8, Field::Varint(x)) => AnyValue::ValueRef(DictRef(x as i64)),
            (1..=8, _) => wrong!("AnyValue", f),
            _ => out,
        };
    }
    Ok(out)
}

pub fn key_value(b: &[u8], depth: u32) -> DResult<KeyValueRef> {
    let mut d = Dec::new(b);
    let mut kv = KeyValueRef { key_ref: DictRef(0), value: None };
    while let Some((f, v)) = d.next_field()? {
        match (f, v) {
            (1, Field::Varint(x)) => kv.key_ref = DictRef(x as i64),
            (2, Field::Len(s)) => kv.value = Some(any_value(s, depth + 1)?),
            (1 | 2, _) => wrong!("KeyValueRef", f),
            _ => {}
        }
    }
    Ok(kv)
}

/// Appends to an attribute list, making room for several at the first (one
/// allocation for a typical list instead of a growth step every few).
#[inline]
fn push_attribute(list: &mut Vec<KeyValueRef>, kv: KeyValueRef) {
    if list.capacity() == 0 {
        list.reserve(8);
    }
    list.push(kv);
}

pub fn span_context(b: &[u8]) -> DResult<SpanContext> {
    let mut d = Dec::new(b);
    let mut sc = SpanContext::default();
    while let Some((f, v)) = d.next_field()? {
        match (f, v) {
            (1, Field::Len(s)) => sc.span_id = IdBytes::from(s),
            (2, Field::Len(s)) => sc.trace_id = IdBytes::from(s),
            (3, Field::I32(x)) => sc.flags = x,
            (1..=3, _) => wrong!("SpanContext", f),
            _ => {}
        }
    }
    Ok(sc)
}

fn status(b: &[u8]) -> DResult<Status> {
    let mut d = Dec::new(b);
    let mut s = Status::default();
    while let Some((f, v)) = d.next_field()? {
        match (f, v) {
            (2, Field::Len(x)) => s.message = utf8(x),
            (3, Field::Varint(x)) => s.code = x as i32,
            (2 | 3, _) => wrong!("Status", f),
            _ => {}
        }
    }
    Ok(s)
}

fn start_span(b: &[u8]) -> DResult<StartSpan> {
    let mut d = Dec::new(b);
    let mut s = StartSpan::default();
    while let Some((f, v)) = d.next_field()? {
        match (f, v) {
            (4, Field::Len(x)) => s.parent_span_id = IdBytes::from(x),
            (16, Field::I32(x)) => s.flags = x,
            (5, Field::Len(x)) => s.name = Text::from_utf8_lossy(x),
            (6, Field::Varint(x)) => s.kind = x as i32,
            (7, Field::I64(x)) => s.start_time_unix_nano = x,
            (9, Field::Len(x)) => push_attribute(&mut s.attributes, key_value(x, 0)?),
            (4..=7 | 9 | 16, _) => wrong!("StartSpan", f),
            _ => {}
        }
    }
    Ok(s)
}

fn attributes_only(b: &[u8], field: u32, what: &str) -> DResult<Vec<KeyValueRef>> {
    let mut d = Dec::new(b);
    let mut out = Vec::new();
    while let Some((f, v)) = d.next_field()? {
        match v {
            Field::Len(x) if f == field => push_attribute(&mut out, key_value(x, 0)?),
            _ if f == field => wrong!(what, f),
            _ => {}
        }
    }
    Ok(out)
}

fn link(b: &[u8]) -> DResult<Link> {
    let mut d = Dec::new(b);
    let mut l = Link::default();
    while let Some((f, v)) = d.next_field()? {
        match (f, v) {
            (1, Field::Len(x)) => l.trace_id = x.to_vec(),
            (2, Field::Len(x)) => l.span_id = x.to_vec(),
            (3, Field::Len(x)) => l.trace_state = utf8(x),
            (4, Field::Len(x)) => l.attributes.push(key_value(x, 0)?),
            (5, Field::Varint(x)) => l.dropped_attributes_count = x as u32,
            (6, Field::I32(x)) => l.flags = x,
            (1..=6, _) => wrong!("Link", f),
            _ => {}
        }
    }
    Ok(l)
}

pub fn span_event(b: &[u8]) -> DResult<SpanEvent> {
    let mut d = Dec::new(b);
    let mut e = SpanEvent { scope_ref: DictRef(0), trace_id: IdBytes::default(), span_id: IdBytes::default(), event: None };
    while let Some((f, v)) = d.next_field()? {
        match (f, v) {
            (20, Field::Varint(x)) => e.scope_ref = DictRef(x as i64),
            (1, Field::Len(x)) => e.trace_id = IdBytes::from(x),
            (2, Field::Len(x)) => e.span_id = IdBytes::from(x),
            (11, Field::Len(x)) => e.event = Some(SpanEventKind::Start(start_span(x)?)),
            (12, Field::Len(x)) => {
                let mut dd = Dec::new(x);
                let (mut t, mut st) = (0u64, None);
                while let Some((ff, vv)) = dd.next_field()? {
                    match (ff, vv) {
                        (8, Field::I64(y)) => t = y,
                        (15, Field::Len(y)) => st = Some(status(y)?),
                        (8 | 15, _) => wrong!("EndSpan", ff),
                        _ => {}
                    }
                }
                e.event = Some(SpanEventKind::End { end_time_unix_nano: t, status: st });
            }
            (13, Field::Len(x)) => {
                let mut dd = Dec::new(x);
                let mut name = Text::default();
                while let Some((ff, vv)) = dd.next_field()? {
                    match (ff, vv) {
                        (5, Field::Len(y)) => name = Text::from_utf8_lossy(y),
                        (5, _) => wrong!("ChangeSpanName", 5),
                        _ => {}
                    }
                }
                e.event = Some(SpanEventKind::Name(name));
            }
            (14, Field::Len(x)) => e.event = Some(SpanEventKind::Attributes(attributes_only(x, 9, "UpdateAttributes")?)),
            (15, Field::Len(x)) => {
                let mut dd = Dec::new(x);
                let mut links = Vec::new();
                while let Some((ff, vv)) = dd.next_field()? {
                    match (ff, vv) {
                        (13, Field::Len(y)) => links.push(link(y)?),
                        (13, _) => wrong!("AddLink", 13),
                        _ => {}
                    }
                }
                e.event = Some(SpanEventKind::Links(links));
            }
            (1 | 2 | 11..=15 | 20, _) => wrong!("SpanEvent", f),
            _ => {}
        }
    }
    Ok(e)
}

pub fn measurement(b: &[u8]) -> DResult<Measurement> {
    let mut d = Dec::new(b);
    let mut m = Measurement { metric_ref: DictRef(0), attributes: Vec::new(), time_unix_nano: 0, value: None, span_context: None };
    while let Some((f, v)) = d.next_field()? {
        match (f, v) {
            (1, Field::Varint(x)) => m.metric_ref = DictRef(x as i64),
            (2, Field::Len(x)) => push_attribute(&mut m.attributes, key_value(x, 0)?),
            (3, Field::I64(x)) => m.time_unix_nano = x,
            (4, Field::Varint(x)) => m.value = Some(NumberValue::Long(x as i64)),
            (5, Field::I64(x)) => m.value = Some(NumberValue::Double(f64::from_bits(x))),
            (6, Field::Len(x)) => m.span_context = Some(span_context(x)?),
            (1..=6, _) => wrong!("Measurement", f),
            _ => {}
        }
    }
    Ok(m)
}

pub fn event(b: &[u8]) -> DResult<Event> {
    let mut d = Dec::new(b);
    let mut e = Event::default();
    while let Some((f, v)) = d.next_field()? {
        match (f, v) {
            (1, Field::Varint(x)) => e.scope_ref = DictRef(x as i64),
            (2, Field::I64(x)) => e.time_unix_nano = x,
            (3, Field::Varint(x)) => e.severity_number = x as i32,
            (4, Field::Len(x)) => e.severity_text = utf8(x),
            (5, Field::Len(x)) => e.body = Some(any_value(x, 0)?),
            (6, Field::Varint(x)) => e.event_name_ref = DictRef(x as i64),
            (7, Field::Len(x)) => e.span_context = Some(span_context(x)?),
            (8, Field::Len(x)) => push_attribute(&mut e.attributes, key_value(x, 0)?),
            (1..=8, _) => wrong!("Event", f),
            _ => {}
        }
    }
    Ok(e)
}

pub fn resource(b: &[u8]) -> DResult<Resource> {
    let mut d = Dec::new(b);
    let mut r = Resource::default();
    while let Some((f, v)) = d.next_field()? {
        match (f, v) {
            (1, Field::Len(x)) => r.attributes.push(key_value(x, 0)?),
            (2, Field::Varint(x)) => r.dropped_attributes_count = x as u32,
            (1 | 2, _) => wrong!("Resource", f),
            _ => {}
        }
    }
    Ok(r)
}

pub fn scope(b: &[u8]) -> DResult<InstrumentationScope> {
    let mut d = Dec::new(b);
    let mut s = InstrumentationScope::default();
    while let Some((f, v)) = d.next_field()? {
        match (f, v) {
            (1, Field::Varint(x)) => s.name_ref = DictRef(x as i64),
            (2, Field::Varint(x)) => s.version_ref = DictRef(x as i64),
            (3, Field::Len(x)) => s.attributes.push(key_value(x, 0)?),
            (4, Field::Varint(x)) => s.dropped_attributes_count = x as u32,
            (5, Field::Varint(x)) => s.resource_ref = DictRef(x as i64),
            (1..=5, _) => wrong!("InstrumentationScope", f),
            _ => {}
        }
    }
    Ok(s)
}

pub fn metric_ref(b: &[u8]) -> DResult<MetricRef> {
    let mut d = Dec::new(b);
    let mut m = MetricRef { name: String::new(), description: String::new(), unit: String::new(), instrumentation_scope_ref: DictRef(0), aggregation: None };
    while let Some((f, v)) = d.next_field()? {
        match (f, v) {
            (1, Field::Len(x)) => m.name = utf8(x),
            (2, Field::Len(x)) => m.description = utf8(x),
            (3, Field::Len(x)) => m.unit = utf8(x),
            (4, Field::Varint(x)) => m.instrumentation_scope_ref = DictRef(x as i64),
            (5, Field::Len(_)) => m.aggregation = Some(Aggregation::Gauge),
            (6, Field::Len(x)) => {
                let (mut t, mut mono) = (0, false);
                let mut dd = Dec::new(x);
                while let Some((ff, vv)) = dd.next_field()? {
                    match (ff, vv) {
                        (2, Field::Varint(y)) => t = y as i32,
                        (3, Field::Varint(y)) => mono = y != 0,
                        (2 | 3, _) => wrong!("Sum", ff),
                        _ => {}
                    }
                }
                m.aggregation = Some(Aggregation::Sum { temporality: t, is_monotonic: mono });
            }
            (7, Field::Len(x)) => {
                let (mut t, mut bounds) = (0, Vec::new());
                let mut dd = Dec::new(x);
                while let Some((ff, vv)) = dd.next_field()? {
                    match (ff, vv) {
                        (1, Field::Varint(y)) => t = y as i32,
                        (2, Field::I64(y)) => bounds.push(f64::from_bits(y)),
                        (2, Field::Len(packed)) => {
                            if packed.len() % 8 != 0 {
                                return Err("Histogram: packed boundaries are not a multiple of 8 bytes".into());
                            }
                            bounds.extend(packed.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())));
                        }
                        (1 | 2, _) => wrong!("Histogram", ff),
                        _ => {}
                    }
                }
                m.aggregation = Some(Aggregation::Histogram { temporality: t, boundaries: bounds });
            }
            (8, Field::Len(x)) => {
                let (mut t, mut mb, mut ms) = (0, 0i64, 0i64);
                let mut dd = Dec::new(x);
                while let Some((ff, vv)) = dd.next_field()? {
                    match (ff, vv) {
                        (1, Field::Varint(y)) => t = y as i32,
                        (2, Field::Varint(y)) => mb = y as i64,
                        (3, Field::Varint(y)) => ms = y as i64,
                        (1..=3, _) => wrong!("ExponentialHistogram", ff),
                        _ => {}
                    }
                }
                m.aggregation = Some(Aggregation::ExpHistogram { temporality: t, max_buckets: mb, max_scale: ms });
            }
            (1..=8, _) => wrong!("MetricRef", f),
            _ => {}
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::encode::Enc;

    /// Every varint length, read as a field value, gives what `get_varint` gives;
    /// truncated and over-long varints are errors, never a panic.
    #[test]
    fn varints_of_every_length_read_as_get_varint_does() {
        let values = [0u64, 1, 127, 128, 300, 16_383, 16_384, 1 << 21, (1 << 35) + 5, u64::MAX >> 1, u64::MAX];
        for &v in &values {
            let mut b = Vec::new();
            let mut e = Enc::new(&mut b);
            e.int64_always(3, v as i64);
            let expected = get_varint(&b[1..]).unwrap().0;
            assert_eq!(expected, v);
            let mut d = Dec::new(&b);
            match d.next_field() {
                Ok(Some((3, Field::Varint(x)))) => assert_eq!(x, v),
                _ => panic!("varint {v} not read back"),
            }
            assert!(matches!(d.next_field(), Ok(None)));
            // Cut short at every byte: an error, or (for the tag alone) a missing value.
            for cut in 1..b.len() {
                assert!(Dec::new(&b[..cut]).next_field().is_err(), "varint {v} cut at {cut} bytes was accepted");
            }
        }
        // Eleven continuation bytes: longer than any varint.
        let mut b = vec![3 << 3];
        b.extend_from_slice(&[0x80; 11]);
        assert!(Dec::new(&b).next_field().is_err());
        // A two-byte field number (20, as SpanEvent.scope_ref) then a two-byte value.
        let mut b = Vec::new();
        Enc::new(&mut b).int64_always(20, 200);
        assert_eq!(b.len(), 4);
        assert!(matches!(Dec::new(&b).next_field(), Ok(Some((20, Field::Varint(200))))));
    }

    #[test]
    fn text_is_inline_up_to_its_limit_and_replaces_invalid_utf8() {
        for s in ["", "GET", "exactly-twenty-two-b!!", "twenty-three bytes long", "a longer value, well past the inline limit", "é日本語🙂"] {
            let t = Text::from(s);
            assert_eq!(&*t, s);
            assert_eq!(&*Text::from(s.to_string()), s);
            assert_eq!(&*Text::from_utf8_lossy(s.as_bytes()), s);
            assert_eq!(t, Text::from_utf8_lossy(s.as_bytes()));
        }
        assert_eq!(&*Text::from_utf8_lossy(b"ok\xffok"), "ok\u{fffd}ok");
        assert_eq!(&*Text::default(), "");
        let x = Text::from("x");
        assert!(x == "x");
    }

    #[test]
    fn ids_of_any_length_read_back_whole() {
        for n in [0usize, 1, 8, 15, 16, 17, 40] {
            let bytes: Vec<u8> = (0..n as u8).collect();
            let id = IdBytes::from(&bytes[..]);
            assert_eq!(&*id, &bytes[..]);
            assert_eq!(id, IdBytes::from(bytes.clone()));
        }
        // A span event with a 20-byte trace id keeps it whole (the pipeline rejects it).
        let mut b = Vec::new();
        let mut e = Enc::new(&mut b);
        e.bytes_always(1, &[7; 20]);
        e.bytes_always(2, &[8; 8]);
        let ev = span_event(&b).unwrap();
        assert_eq!(&*ev.trace_id, &[7; 20][..]);
        assert_eq!(&*ev.span_id, &[8; 8][..]);
    }
}
