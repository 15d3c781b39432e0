//! Decoded v1 messages. Dictionary references are kept as [`DictRef`]s; the reader
//! resolves them. Field numbers are in `shared/protocol/mmap.proto`.

pub use crate::file::layout::DictRef;

/// A UTF-8 string value: held inline up to [`Text::INLINE`] bytes (most attribute
/// values: methods, routes, versions, host names), on the heap when longer, so that
/// decoding a short value allocates nothing.
#[derive(Clone, Default)]
pub struct Text(Repr);

/// Private, so that an inline value is only ever made from a `&str` (see `Deref`).
#[derive(Clone)]
enum Repr {
    Inline(u8, [u8; Text::INLINE]),
    Heap(String),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Inline(0, [0; Text::INLINE])
    }
}

impl Text {
    pub const INLINE: usize = 22;

    /// `b` as text; invalid UTF-8 sequences are replaced.
    #[inline]
    pub fn from_utf8_lossy(b: &[u8]) -> Text {
        match std::str::from_utf8(b) {
            Ok(s) => Text::from(s),
            Err(_) => Text(Repr::Heap(String::from_utf8_lossy(b).into_owned())),
        }
    }
}

impl From<&str> for Text {
    #[inline]
    fn from(s: &str) -> Text {
        if s.len() <= Text::INLINE {
            let mut a = [0u8; Text::INLINE];
            a[..s.len()].copy_from_slice(s.as_bytes());
            Text(Repr::Inline(s.len() as u8, a))
        } else {
            Text(Repr::Heap(s.to_owned()))
        }
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        if s.len() <= Text::INLINE {
            Text::from(s.as_str())
        } else {
            Text(Repr::Heap(s))
        }
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        match &self.0 {
            // SAFETY: `Repr` is private to this module and an `Inline` is only made by
            // `From<&str>` (or empty, by `Default`): its first `n` bytes are a copy of a
            // `&str`, so valid UTF-8, and `n <= INLINE`, so the slice is in bounds.
            Repr::Inline(n, a) => unsafe { std::str::from_utf8_unchecked(&a[..*n as usize]) },
            Repr::Heap(s) => s,
        }
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        **self == **other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        &**self == *other
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum AnyValue {
    String(Text),
    Bool(bool),
    Int(i64),
    Double(f64),
    Array(Vec<AnyValue>),
    KvList(Vec<KeyValueRef>),
    Bytes(Vec<u8>),
    /// A dictionary entry holding an encoded `AnyValue`.
    ValueRef(DictRef),
}

#[derive(Clone, Debug, PartialEq)]
pub struct KeyValueRef {
    pub key_ref: DictRef,
    /// `None` when the value field is absent.
    pub value: Option<AnyValue>,
}

/// A trace or span id as read from a record: held inline when it has at most 16
/// bytes (every valid id, so reading one allocates nothing), on the heap when longer
/// (an invalid id, kept whole so that it can be shown and rejected).
#[derive(Clone, PartialEq, Eq)]
pub enum IdBytes {
    Inline(u8, [u8; 16]),
    Heap(Vec<u8>),
}

impl Default for IdBytes {
    fn default() -> Self {
        IdBytes::Inline(0, [0; 16])
    }
}

impl From<&[u8]> for IdBytes {
    #[inline]
    fn from(b: &[u8]) -> Self {
        if b.len() <= 16 {
            let mut a = [0u8; 16];
            a[..b.len()].copy_from_slice(b);
            IdBytes::Inline(b.len() as u8, a)
        } else {
            IdBytes::Heap(b.to_vec())
        }
    }
}

impl From<Vec<u8>> for IdBytes {
    fn from(v: Vec<u8>) -> Self {
        IdBytes::from(&v[..])
    }
}

impl std::ops::Deref for IdBytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            IdBytes::Inline(n, a) => &a[..*n as usize],
            IdBytes::Heap(v) => v,
        }
    }
}

impl std::fmt::Debug for IdBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct SpanContext {
    pub trace_id: IdBytes,
    pub span_id: IdBytes,
    pub flags: u32,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Status {
    pub message: String,
    /// 0 unset, 1 ok, 2 error.
    pub code: i32,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct StartSpan {
    pub parent_span_id: IdBytes,
    /// W3C trace flags in bits 0-7; bits 8-9: parent-is-remote (0x100 has-is-remote, 0x200 is-remote).
    pub flags: u32,
    pub name: Text,
    /// OTLP SpanKind numbering (0 unspecified .. 5 consumer).
    pub kind: i32,
    pub start_time_unix_nano: u64,
    pub attributes: Vec<KeyValueRef>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Link {
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub trace_state: String,
    pub attributes: Vec<KeyValueRef>,
    pub dropped_attributes_count: u32,
    pub flags: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SpanEventKind {
    Start(StartSpan),
    End { end_time_unix_nano: u64, status: Option<Status> },
    Name(Text),
    Attributes(Vec<KeyValueRef>),
    Links(Vec<Link>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct SpanEvent {
    pub scope_ref: DictRef,
    pub trace_id: IdBytes,
    pub span_id: IdBytes,
    /// `None` when the oneof is absent (a message this reader cannot use).
    pub event: Option<SpanEventKind>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NumberValue {
    Long(i64),
    Double(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    pub metric_ref: DictRef,
    pub attributes: Vec<KeyValueRef>,
    pub time_unix_nano: u64,
    pub value: Option<NumberValue>,
    pub span_context: Option<SpanContext>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Event {
    pub scope_ref: DictRef,
    pub time_unix_nano: u64,
    pub severity_number: i32,
    pub severity_text: String,
    pub body: Option<AnyValue>,
    pub event_name_ref: DictRef,
    pub span_context: Option<SpanContext>,
    pub attributes: Vec<KeyValueRef>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Resource {
    pub attributes: Vec<KeyValueRef>,
    pub dropped_attributes_count: u32,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct InstrumentationScope {
    pub name_ref: DictRef,
    pub version_ref: DictRef,
    pub attributes: Vec<KeyValueRef>,
    pub dropped_attributes_count: u32,
    pub resource_ref: DictRef,
}

/// 0 unspecified, 1 delta, 2 cumulative.
pub type Temporality = i32;
pub const TEMPORALITY_DELTA: Temporality = 1;
pub const TEMPORALITY_CUMULATIVE: Temporality = 2;

#[derive(Clone, Debug, PartialEq)]
pub enum Aggregation {
    Gauge,
    Sum { temporality: Temporality, is_monotonic: bool },
    Histogram { temporality: Temporality, boundaries: Vec<f64> },
    ExpHistogram { temporality: Temporality, max_buckets: i64, max_scale: i64 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct MetricRef {
    pub name: String,
    pub description: String,
    pub unit: String,
    pub instrumentation_scope_ref: DictRef,
    /// `None` when the oneof is absent.
    pub aggregation: Option<Aggregation>,
}
