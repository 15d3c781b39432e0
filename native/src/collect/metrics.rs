//! Metric streams: one per `MetricRef`, aggregating measurements per attribute set
//! as the stream's aggregation says, and encoding OTLP `Metric` messages.
//!
//! | aggregation | per point | reported | start time |
//! |---|---|---|---|
//! | gauge | last value by measurement time (ties: the later one read) | every collect, until the file ends | first measurement |
//! | sum, delta | sum of the measurements since the previous collect (measurements are increments) | when it had measurements; then reset | previous collect, or the first measurement before the first collect |
//! | sum, cumulative (or unspecified) | running sum | every collect | first measurement |
//! | histogram / exponential histogram | count, sum, min, max, buckets | as for sums | as for sums |
//!
//! Monotonic sums ignore negative values; NaN and infinities are ignored
//! everywhere. `time_unix_nano` is the collect time. A point is an integer while
//! every measurement was `as_long`, a double otherwise. Attribute sets are compared
//! by resolved content, regardless of order; per stream at most
//! `cardinality_limit - 1` sets are kept, the rest aggregate into
//! `otel.metric.overflow = true`. Exemplars: the most recent `max_exemplars`
//! measurements taken in a sampled span (flags bit 0).

use super::exphist::{self, ExpHistogram};
use super::otlp;
use super::resolve::{KeyValue, ScopeInfo, Value};
use crate::wire::encode::Enc;
use crate::wire::messages::{Aggregation, MetricRef, NumberValue, TEMPORALITY_DELTA};
use std::collections::HashMap;
use std::sync::Arc;

/// Most explicit-histogram boundaries accepted from a `MetricRef`.
pub const MAX_BOUNDARIES: usize = 4096;

/// A point value: integer while every measurement was `as_long`, double otherwise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    Int(i64),
    Double(f64),
}

impl Num {
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Double(d) => d,
        }
    }

    fn add(self, o: Num) -> Num {
        match (self, o) {
            (Num::Int(a), Num::Int(b)) => match a.checked_add(b) {
                Some(s) => Num::Int(s),
                None => Num::Double(a as f64 + b as f64),
            },
            (a, b) => Num::Double(a.as_f64() + b.as_f64()),
        }
    }

    fn is_negative(self) -> bool {
        match self {
            Num::Int(i) => i < 0,
            Num::Double(d) => d < 0.0,
        }
    }

    pub fn from_value(v: NumberValue) -> Num {
        match v {
            NumberValue::Long(i) => Num::Int(i),
            NumberValue::Double(d) => Num::Double(d),
        }
    }
}

/// How a stream aggregates.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Gauge,
    Sum { delta: bool, monotonic: bool },
    Histogram { delta: bool, bounds: Vec<f64> },
    ExpHistogram { delta: bool, max_buckets: usize, max_scale: i32 },
}

impl Kind {
    /// From a decoded `MetricRef` aggregation. Temporality 0 (unspecified) is
    /// cumulative; `max_buckets <= 0` is 160 and `max_scale == 0` is 20 (proto3
    /// cannot tell an absent field from zero). Boundaries that are NaN are dropped,
    /// the rest sorted and deduplicated.
    pub fn from_aggregation(a: &Aggregation) -> Result<Kind, String> {
        Ok(match a {
            Aggregation::Gauge => Kind::Gauge,
            Aggregation::Sum { temporality, is_monotonic } => Kind::Sum { delta: *temporality == TEMPORALITY_DELTA, monotonic: *is_monotonic },
            Aggregation::Histogram { temporality, boundaries } => {
                if boundaries.len() > MAX_BOUNDARIES {
                    return Err(format!("histogram has {} boundaries, more than {MAX_BOUNDARIES}", boundaries.len()));
                }
                let mut bounds: Vec<f64> = boundaries.iter().copied().filter(|b| !b.is_nan()).collect();
                bounds.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
                bounds.dedup();
                Kind::Histogram { delta: *temporality == TEMPORALITY_DELTA, bounds }
            }
            Aggregation::ExpHistogram { temporality, max_buckets, max_scale } => Kind::ExpHistogram {
                delta: *temporality == TEMPORALITY_DELTA,
                max_buckets: if *max_buckets <= 0 { exphist::DEFAULT_MAX_BUCKETS } else { (*max_buckets).min(exphist::MAX_MAX_BUCKETS as i64) as usize },
                max_scale: if *max_scale == 0 { exphist::MAX_SCALE } else { (*max_scale).clamp(exphist::MIN_SCALE as i64, exphist::MAX_SCALE as i64) as i32 },
            },
        })
    }

    /// Memory cells (counters) a point of this kind may use; charged against
    /// [`Limits::cells_available`] when the point is created.
    pub fn point_cells(&self) -> usize {
        match self {
            Kind::Gauge | Kind::Sum { .. } => 1,
            Kind::Histogram { bounds, .. } => bounds.len() + 2,
            Kind::ExpHistogram { max_buckets, .. } => 2 * max_buckets + 1,
        }
    }

    fn delta(&self) -> bool {
        match self {
            Kind::Gauge => false,
            Kind::Sum { delta, .. } | Kind::Histogram { delta, .. } | Kind::ExpHistogram { delta, .. } => *delta,
        }
    }
}

/// An exemplar: a measurement taken inside a sampled span.
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    pub time: u64,
    pub value: Num,
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
}

#[derive(Clone, Debug)]
enum Agg {
    Gauge { value: Num, time: u64 },
    Sum { value: Num },
    Histogram { counts: Vec<u64>, count: u64, sum: f64, min: f64, max: f64 },
    Exp(Box<ExpHistogram>),
}

/// One attribute set's accumulation.
#[derive(Clone, Debug)]
struct Point {
    /// The attribute set as [`canonical_attributes`] encodes it.
    attrs: Vec<u8>,
    /// Earliest measurement time since the point (re)started.
    first_time: u64,
    agg: Option<Agg>,
    exemplars: Vec<Exemplar>,
    exemplars_seen: u64,
}

/// What [`Stream::record`] did with a measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    Ok,
    /// Recorded into the overflow attribute set (cardinality limit reached).
    Overflow,
    /// Ignored: NaN/infinite, or negative on a monotonic sum.
    Ignored,
    /// Dropped: a new point was needed and the memory budget is spent.
    Dropped,
}

/// One metric stream (one `MetricRef`).
pub struct Stream {
    pub scope: Arc<ScopeInfo>,
    pub name: String,
    pub description: String,
    pub unit: String,
    pub kind: Kind,
    points: HashMap<Vec<u8>, Point>,
    overflow: Option<Point>,
    /// Time of the previous collect (0: none yet).
    last_collect: u64,
    /// Cells charged for the points held.
    pub cells: usize,
}

/// Sorts attributes by key (the last value wins for a repeated key) and encodes
/// them as consecutive length-prefixed `KeyValue` bodies: the result identifies
/// the attribute set regardless of order, and [`write_attributes`] writes it out.
pub fn canonical_attributes(mut kvs: Vec<KeyValue>) -> Vec<u8> {
    // a stable sort keeps the original order among equal keys; keep the last one
    kvs.sort_by(|a, b| a.key.cmp(&b.key));
    let mut out = Vec::new();
    for (i, kv) in kvs.iter().enumerate() {
        if kvs.get(i + 1).is_some_and(|next| next.key == kv.key) {
            continue;
        }
        let start = out.len();
        let mut e = Enc::new(&mut out);
        otlp::key_value_body(&mut e, kv);
        e.end(start);
    }
    out
}

/// Writes a canonical attribute set as repeated `KeyValue` field `field`.
pub fn write_attributes(e: &mut Enc, field: u32, canonical: &[u8]) {
    let mut pos = 0;
    while pos < canonical.len() {
        let Some((len, n)) = crate::wire::decode::get_varint(&canonical[pos..]) else { return };
        let end = pos + n + len as usize;
        e.tag(field, crate::wire::encode::WT_LEN);
        e.buf.extend_from_slice(&canonical[pos..end]);
        pos = end;
    }
}

fn overflow_attrs() -> Vec<u8> {
    canonical_attributes(vec![KeyValue { key: Arc::from("otel.metric.overflow"), value: Value::Bool(true) }])
}

/// Settings a stream needs when recording.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub cardinality_limit: usize,
    pub max_exemplars: usize,
    /// Cells that new points may still take (see [`Kind::point_cells`]).
    pub cells_available: usize,
}

impl Stream {
    pub fn new(scope: Arc<ScopeInfo>, m: MetricRef, kind: Kind) -> Stream {
        Stream { scope, name: m.name, description: m.description, unit: m.unit, kind, points: HashMap::new(), overflow: None, last_collect: 0, cells: 0 }
    }

    /// Cells the stream's definition takes (boundaries, names), charged once.
    pub fn base_cells(&self) -> usize {
        let bounds = if let Kind::Histogram { bounds, .. } = &self.kind { bounds.len() } else { 0 };
        4 + bounds + (self.name.len() + self.description.len() + self.unit.len()) / 8
    }

    /// Number of attribute sets held (including the overflow set).
    pub fn point_count(&self) -> usize {
        self.points.len() + self.overflow.is_some() as usize
    }

    /// Records one measurement under the canonical attribute set `key`.
    pub fn record(&mut self, key: Vec<u8>, value: Num, time: u64, exemplar: Option<Exemplar>, lim: Limits) -> Recorded {
        if let Num::Double(d) = value {
            if !d.is_finite() {
                return Recorded::Ignored;
            }
        }
        if let Kind::Sum { monotonic: true, .. } = self.kind {
            if value.is_negative() {
                return Recorded::Ignored;
            }
        }
        let regular_limit = lim.cardinality_limit.max(1) - 1;
        let cost = self.kind.point_cells();
        let mut res = Recorded::Ok;
        let point = if self.points.contains_key(&key) {
            self.points.get_mut(&key).expect("present")
        } else if self.points.len() < regular_limit && cost <= lim.cells_available {
            self.cells += cost;
            self.points.entry(key.clone()).or_insert_with(|| Point { attrs: key, first_time: time, agg: None, exemplars: Vec::new(), exemplars_seen: 0 })
        } else {
            res = Recorded::Overflow;
            if self.overflow.is_none() {
                if cost > lim.cells_available {
                    return Recorded::Dropped;
                }
                self.cells += cost;
            }
            self.overflow.get_or_insert_with(|| Point { attrs: overflow_attrs(), first_time: time, agg: None, exemplars: Vec::new(), exemplars_seen: 0 })
        };
        point.first_time = point.first_time.min(time);
        let v = value.as_f64();
        match (&mut point.agg, &self.kind) {
            (None, Kind::Gauge) => point.agg = Some(Agg::Gauge { value, time }),
            (Some(Agg::Gauge { value: cur, time: t }), _) => {
                if time >= *t {
                    *cur = value;
                    *t = time;
                }
            }
            (None, Kind::Sum { .. }) => point.agg = Some(Agg::Sum { value }),
            (Some(Agg::Sum { value: cur }), _) => *cur = cur.add(value),
            (None, Kind::Histogram { bounds, .. }) => {
                let mut counts = vec![0u64; bounds.len() + 1];
                counts[bucket_of(bounds, v)] = 1;
                point.agg = Some(Agg::Histogram { counts, count: 1, sum: v, min: v, max: v });
            }
            (Some(Agg::Histogram { counts, count, sum, min, max }), Kind::Histogram { bounds, .. }) => {
                counts[bucket_of(bounds, v)] += 1;
                *count += 1;
                *sum += v;
                *min = min.min(v);
                *max = max.max(v);
            }
            (None, Kind::ExpHistogram { max_buckets, max_scale, .. }) => {
                let mut h = ExpHistogram::new(*max_buckets, *max_scale);
                h.record(v);
                point.agg = Some(Agg::Exp(Box::new(h)));
            }
            (Some(Agg::Exp(h)), _) => h.record(v),
            (Some(Agg::Histogram { .. }), _) => {}
        }
        if let Some(ex) = exemplar {
            if lim.max_exemplars > 0 {
                if point.exemplars.len() < lim.max_exemplars {
                    point.exemplars.push(ex);
                } else {
                    // keep the most recent ones
                    let slot = (point.exemplars_seen % lim.max_exemplars as u64) as usize;
                    point.exemplars[slot] = ex;
                }
                point.exemplars_seen += 1;
            }
        }
        res
    }

    /// Encodes the stream's points as an OTLP `Metric` (or `None` when it has no
    /// point to report) and, for delta temporality, starts a new interval.
    /// `now` must be non-zero.
    pub fn collect(&mut self, now: u64) -> Option<Vec<u8>> {
        let delta = self.kind.delta();
        let prev = self.last_collect;
        self.last_collect = now;
        if self.points.is_empty() && self.overflow.is_none() {
            return None;
        }
        let mut pts: Vec<&Point> = self.points.values().collect();
        // deterministic order: by attributes
        pts.sort_by(|a, b| a.attrs.cmp(&b.attrs));
        if let Some(o) = &self.overflow {
            pts.push(o);
        }
        let mut out = Vec::new();
        let mut e = Enc::new(&mut out);
        e.bytes(1, self.name.as_bytes());
        e.bytes(2, self.description.as_bytes());
        e.bytes(3, self.unit.as_bytes());
        let (field, temporality) = match &self.kind {
            Kind::Gauge => (5, 0),
            Kind::Sum { .. } => (7, if delta { 1 } else { 2 }),
            Kind::Histogram { .. } => (9, if delta { 1 } else { 2 }),
            Kind::ExpHistogram { .. } => (10, if delta { 1 } else { 2 }),
        };
        let data = e.begin(field);
        for p in pts {
            let start = if delta && prev != 0 { prev } else { p.first_time };
            let start = if start == 0 || start > now { now } else { start };
            encode_point(&mut e, p, &self.kind, start, now);
        }
        if temporality != 0 {
            e.int64(2, temporality);
        }
        if let Kind::Sum { monotonic: true, .. } = self.kind {
            e.bool(3, true);
        }
        e.end(data);
        if delta {
            self.points.clear();
            self.overflow = None;
            self.cells = 0;
        }
        Some(out)
    }
}

/// OTLP explicit bucket: bucket `i` counts values in `(b[i-1], b[i]]`.
pub fn bucket_of(bounds: &[f64], v: f64) -> usize {
    bounds.partition_point(|&b| b < v)
}

fn encode_exemplars(e: &mut Enc, field: u32, exs: &[Exemplar]) {
    for x in exs {
        let s = e.begin(field);
        otlp::fixed64_always(e, 2, x.time);
        match x.value {
            Num::Double(d) => e.double_always(3, d),
            Num::Int(i) => otlp::sfixed64_always(e, 6, i),
        }
        e.bytes_always(4, &x.span_id);
        e.bytes_always(5, &x.trace_id);
        e.end(s);
    }
}

fn encode_point(e: &mut Enc, p: &Point, kind: &Kind, start: u64, now: u64) {
    let s = e.begin(1);
    match (&p.agg, kind) {
        (Some(Agg::Gauge { value, .. }) | Some(Agg::Sum { value }), _) => {
            // NumberDataPoint
            write_attributes(e, 7, &p.attrs);
            otlp::fixed64_always(e, 2, start);
            otlp::fixed64_always(e, 3, now);
            match value {
                Num::Double(d) => e.double_always(4, *d),
                Num::Int(i) => otlp::sfixed64_always(e, 6, *i),
            }
            encode_exemplars(e, 5, &p.exemplars);
        }
        (Some(Agg::Histogram { counts, count, sum, min, max }), Kind::Histogram { bounds, .. }) => {
            write_attributes(e, 9, &p.attrs);
            otlp::fixed64_always(e, 2, start);
            otlp::fixed64_always(e, 3, now);
            otlp::fixed64_always(e, 4, *count);
            e.double_always(5, *sum);
            otlp::packed_fixed64(e, 6, counts);
            otlp::packed_double(e, 7, bounds);
            encode_exemplars(e, 8, &p.exemplars);
            e.double_always(11, *min);
            e.double_always(12, *max);
        }
        (Some(Agg::Exp(h)), _) => {
            write_attributes(e, 1, &p.attrs);
            otlp::fixed64_always(e, 2, start);
            otlp::fixed64_always(e, 3, now);
            otlp::fixed64_always(e, 4, h.count);
            e.double_always(5, h.sum);
            otlp::sint32(e, 6, h.scale);
            otlp::fixed64_always(e, 7, h.zero_count);
            for (field, b) in [(8u32, &h.positive), (9u32, &h.negative)] {
                if !b.counts.is_empty() {
                    let bs = e.begin(field);
                    otlp::sint32(e, 1, b.start as i32);
                    otlp::packed_uint64(e, 2, &b.counts);
                    e.end(bs);
                }
            }
            encode_exemplars(e, 11, &p.exemplars);
            e.double_always(12, h.min);
            e.double_always(13, h.max);
        }
        _ => {}
    }
    e.end(s);
}
