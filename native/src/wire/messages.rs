//! Decoded v1 messages. Dictionary references are kept as [`DictRef`]s; the reader
//! resolves them. Field numbers are in `shared/protocol/mmap.proto`.

pub use crate::file::layout::DictRef;

#[derive(Clone, Debug, PartialEq)]
pub enum AnyValue {
    String(String),
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

#[derive(Clone, Debug, PartialEq, Default)]
pub struct SpanContext {
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
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
    pub parent_span_id: Vec<u8>,
    /// W3C trace flags in bits 0-7; bits 8-9: parent-is-remote (0x100 has-is-remote, 0x200 is-remote).
    pub flags: u32,
    pub name: String,
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
    Name(String),
    Attributes(Vec<KeyValueRef>),
    Links(Vec<Link>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct SpanEvent {
    pub scope_ref: DictRef,
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
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
