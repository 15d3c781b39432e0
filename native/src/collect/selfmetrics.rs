//! The collector's own metrics (`otlp_mmap.*`: per-file drop counters, records
//! read, exported, failed, queue bytes), encoded as an `ExportMetricsServiceRequest`
//! without going through a dictionary.

use super::otlp::{self, encode_grouped, Item};
use super::resolve::{KeyValue, ResourceInfo, ScopeInfo, Value};
use crate::wire::encode::Enc;
use std::sync::Arc;

/// How a self-metric is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelfMetricKind {
    /// A cumulative monotonic sum (a counter since `start_time_unix_nano`).
    Counter,
    /// A cumulative non-monotonic sum (e.g. queue bytes that go up and down).
    UpDownCounter,
    /// A gauge.
    Gauge,
}

/// One data point of a self-metric. Points with the same `name` form one metric
/// (its description, unit and kind are taken from the first point).
#[derive(Clone, Debug, PartialEq)]
pub struct SelfMetricPoint {
    pub name: String,
    pub description: String,
    pub unit: String,
    pub kind: SelfMetricKind,
    /// String attributes, e.g. `("otlp_mmap.file", path)`, `("otlp_mmap.ring", "spans")`.
    pub attributes: Vec<(String, String)>,
    pub value: i64,
}

/// Encodes `points` as one `ExportMetricsServiceRequest` under a resource with
/// `resource` string attributes and a scope `scope_name`/`scope_version`. Every
/// point gets `start_time_unix_nano` (the collector's start) and `time_unix_nano`
/// (now); both must be non-zero.
pub fn encode_self_metrics(resource: &[(String, String)], scope_name: &str, scope_version: &str, start_time_unix_nano: u64, time_unix_nano: u64, points: &[SelfMetricPoint]) -> Vec<u8> {
    let kv = |k: &str, v: &str| KeyValue { key: Arc::from(k), value: Value::Str(v.into()) };
    let mut res = Vec::new();
    otlp::attributes(&mut Enc::new(&mut res), 1, &resource.iter().map(|(k, v)| kv(k, v)).collect::<Vec<_>>());
    let mut sc = Vec::new();
    let mut e = Enc::new(&mut sc);
    e.bytes(1, scope_name.as_bytes());
    e.bytes(2, scope_version.as_bytes());
    let scope = Arc::new(ScopeInfo { scope_ref: 1, resource: Arc::new(ResourceInfo { resource_ref: 1, encoded: res }), encoded: sc });
    let mut names: Vec<&str> = Vec::new();
    for p in points {
        if !names.contains(&p.name.as_str()) {
            names.push(&p.name);
        }
    }
    let mut items = Vec::new();
    for name in names {
        let pts: Vec<&SelfMetricPoint> = points.iter().filter(|p| p.name == name).collect();
        let first = pts[0];
        let mut out = Vec::new();
        let mut e = Enc::new(&mut out);
        e.bytes(1, first.name.as_bytes());
        e.bytes(2, first.description.as_bytes());
        e.bytes(3, first.unit.as_bytes());
        let data = e.begin(if first.kind == SelfMetricKind::Gauge { 5 } else { 7 });
        for p in pts {
            let s = e.begin(1);
            for (k, v) in &p.attributes {
                otlp::key_value(&mut e, 7, &kv(k, v));
            }
            otlp::fixed64_always(&mut e, 2, start_time_unix_nano);
            otlp::fixed64_always(&mut e, 3, time_unix_nano);
            otlp::sfixed64_always(&mut e, 6, p.value);
            e.end(s);
        }
        if first.kind != SelfMetricKind::Gauge {
            e.int64(2, 2); // cumulative
            e.bool(3, first.kind == SelfMetricKind::Counter);
        }
        e.end(data);
        items.push(Item { scope: scope.clone(), bytes: out });
    }
    encode_grouped(&items)
}
