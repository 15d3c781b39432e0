//! Unit tests of the collector pipeline. OTLP output is checked with a small
//! generic protobuf reader over the exact opentelemetry-proto field numbers.

use super::*;
use crate::wire::decode::{Dec, Field};
use crate::wire::messages::*;
use std::collections::{BTreeMap, HashMap};

// ------------------------------------------------------------------ a dictionary in memory

#[derive(Default)]
struct MapDict {
    entries: HashMap<i64, Vec<u8>>,
    next: i64,
    reads: usize,
}

impl EntrySource for MapDict {
    fn entry(&mut self, r: DictRef) -> Result<Vec<u8>, String> {
        self.reads += 1;
        self.entries.get(&r.0).cloned().ok_or_else(|| format!("no entry at {}", r.0))
    }
}

fn kv_int(key: DictRef, v: i64) -> KeyValueRef {
    KeyValueRef { key_ref: key, value: Some(AnyValue::Int(v)) }
}

fn kv_str(key: DictRef, v: &str) -> KeyValueRef {
    KeyValueRef { key_ref: key, value: Some(AnyValue::String(v.into())) }
}

fn enc_any(e: &mut Enc, v: &AnyValue) {
    match v {
        AnyValue::String(s) => e.bytes_always(1, s.as_bytes()),
        AnyValue::Bool(b) => e.bool_always(2, *b),
        AnyValue::Int(i) => e.int64_always(3, *i),
        AnyValue::Double(d) => e.double_always(4, *d),
        AnyValue::ValueRef(r) => e.int64_always(8, r.0),
        AnyValue::Array(vals) => {
            let s = e.begin(5);
            for v in vals {
                let x = e.begin(1);
                enc_any(e, v);
                e.end(x);
            }
            e.end(s);
        }
        _ => unimplemented!(),
    }
}

fn enc_kvs(e: &mut Enc, field: u32, kvs: &[KeyValueRef]) {
    for kv in kvs {
        let s = e.begin(field);
        e.int64(1, kv.key_ref.0);
        if let Some(v) = &kv.value {
            let x = e.begin(2);
            enc_any(e, v);
            e.end(x);
        }
        e.end(s);
    }
}

impl MapDict {
    fn new() -> Self {
        MapDict { next: 1000, ..Default::default() }
    }
    fn raw(&mut self, b: Vec<u8>) -> DictRef {
        let r = self.next;
        self.next += 8 + b.len() as i64;
        self.entries.insert(r, b);
        DictRef(r)
    }
    fn string(&mut self, s: &str) -> DictRef {
        self.raw(s.as_bytes().to_vec())
    }
    fn resource(&mut self, attrs: &[KeyValueRef]) -> DictRef {
        let mut b = Vec::new();
        enc_kvs(&mut Enc::new(&mut b), 1, attrs);
        self.raw(b)
    }
    fn scope(&mut self, name: &str, version: &str, resource: DictRef) -> DictRef {
        let (n, v) = (self.string(name), self.string(version));
        let mut b = Vec::new();
        let mut e = Enc::new(&mut b);
        e.int64(1, n.0);
        e.int64(2, v.0);
        e.int64(5, resource.0);
        self.raw(b)
    }
    fn value(&mut self, v: &AnyValue) -> DictRef {
        let mut b = Vec::new();
        enc_any(&mut Enc::new(&mut b), v);
        self.raw(b)
    }
    fn metric(&mut self, name: &str, scope: DictRef, agg: &Aggregation) -> DictRef {
        let mut b = Vec::new();
        let mut e = Enc::new(&mut b);
        e.bytes(1, name.as_bytes());
        e.bytes(2, b"desc");
        e.bytes(3, b"ms");
        e.int64(4, scope.0);
        match agg {
            Aggregation::Gauge => {
                let s = e.begin(5);
                e.end(s);
            }
            Aggregation::Sum { temporality, is_monotonic } => {
                let s = e.begin(6);
                e.int64(2, *temporality as i64);
                e.bool(3, *is_monotonic);
                e.end(s);
            }
            Aggregation::Histogram { temporality, boundaries } => {
                let s = e.begin(7);
                e.int64(1, *temporality as i64);
                otlp::packed_double(&mut e, 2, boundaries);
                e.end(s);
            }
            Aggregation::ExpHistogram { temporality, max_buckets, max_scale } => {
                let s = e.begin(8);
                e.int64(1, *temporality as i64);
                e.int64(2, *max_buckets);
                e.int64(3, *max_scale);
                e.end(s);
            }
        }
        self.raw(b)
    }
}

// ------------------------------------------------------------------ a generic protobuf reader

#[derive(Clone, Debug)]
enum W {
    V(u64),
    F64(u64),
    L(Vec<u8>),
    F32(u32),
}

#[derive(Clone, Debug)]
struct Msg(Vec<(u32, W)>);

impl Msg {
    fn parse(b: &[u8]) -> Msg {
        let mut d = Dec::new(b);
        let mut out = Vec::new();
        while let Some((f, v)) = d.next_field().expect("valid protobuf") {
            out.push((
                f,
                match v {
                    Field::Varint(x) => W::V(x),
                    Field::I64(x) => W::F64(x),
                    Field::Len(x) => W::L(x.to_vec()),
                    Field::I32(x) => W::F32(x),
                },
            ));
        }
        Msg(out)
    }
    fn all(&self, f: u32) -> Vec<&W> {
        self.0.iter().filter(|(n, _)| *n == f).map(|(_, w)| w).collect()
    }
    fn has(&self, f: u32) -> bool {
        !self.all(f).is_empty()
    }
    fn one(&self, f: u32) -> Option<&W> {
        let a = self.all(f);
        assert!(a.len() <= 1, "field {f} repeated: {self:?}");
        a.first().copied()
    }
    fn msgs(&self, f: u32) -> Vec<Msg> {
        self.all(f)
            .into_iter()
            .map(|w| match w {
                W::L(b) => Msg::parse(b),
                _ => panic!("field {f} is not a message"),
            })
            .collect()
    }
    fn msg(&self, f: u32) -> Msg {
        let mut m = self.msgs(f);
        assert_eq!(m.len(), 1, "field {f} in {self:?}");
        m.remove(0)
    }
    fn bytes(&self, f: u32) -> Vec<u8> {
        match self.one(f) {
            Some(W::L(b)) => b.clone(),
            None => Vec::new(),
            w => panic!("field {f} is {w:?}"),
        }
    }
    fn str(&self, f: u32) -> String {
        String::from_utf8(self.bytes(f)).unwrap()
    }
    fn u64(&self, f: u32) -> u64 {
        match self.one(f) {
            Some(W::V(x)) | Some(W::F64(x)) => *x,
            Some(W::F32(x)) => *x as u64,
            None => 0,
            w => panic!("field {f} is {w:?}"),
        }
    }
    fn f64(&self, f: u32) -> f64 {
        match self.one(f) {
            Some(W::F64(x)) => f64::from_bits(*x),
            None => 0.0,
            w => panic!("field {f} is {w:?}"),
        }
    }
    fn packed_fixed64(&self, f: u32) -> Vec<u64> {
        self.bytes(f).chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect()
    }
    fn packed_varint(&self, f: u32) -> Vec<u64> {
        let b = self.bytes(f);
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < b.len() {
            let (v, n) = crate::wire::decode::get_varint(&b[pos..]).unwrap();
            out.push(v);
            pos += n;
        }
        out
    }
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// An OTLP AnyValue as a short string: `s:x`, `b:true`, `i:1`, `d:1.5`, `[..]`, `{k=v,..}`.
fn any(m: &Msg) -> String {
    if let Some(W::L(b)) = m.one(1) {
        return format!("s:{}", String::from_utf8_lossy(b));
    }
    if m.has(2) {
        return format!("b:{}", m.u64(2) != 0);
    }
    if m.has(3) {
        return format!("i:{}", m.u64(3) as i64);
    }
    if m.has(4) {
        return format!("d:{}", m.f64(4));
    }
    if m.has(5) {
        return format!("[{}]", m.msg(5).msgs(1).iter().map(any).collect::<Vec<_>>().join(","));
    }
    if m.has(6) {
        return format!("{{{}}}", m.msg(6).msgs(1).iter().map(|kv| format!("{}={}", kv.str(1), any(&kv.msg(2)))).collect::<Vec<_>>().join(","));
    }
    if m.has(7) {
        return format!("x:{:?}", m.bytes(7));
    }
    "empty".into()
}

fn attrs(m: &Msg, f: u32) -> BTreeMap<String, String> {
    m.msgs(f).iter().map(|kv| (kv.str(1), any(&kv.msg(2)))).collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// All (resource attrs, scope name, item) triples of an export request.
fn items(req: &[u8]) -> Vec<(BTreeMap<String, String>, String, Msg)> {
    let mut out = Vec::new();
    for rs in Msg::parse(req).msgs(1) {
        let res = attrs(&rs.msg(1), 1);
        for ss in rs.msgs(2) {
            let scope = ss.msg(1).str(1);
            for it in ss.msgs(2) {
                out.push((res.clone(), scope.clone(), it));
            }
        }
    }
    out
}

fn bodies(batches: Vec<Encoded>) -> Vec<Vec<u8>> {
    batches.into_iter().map(|b| b.body).collect()
}

fn all_items(reqs: &[Vec<u8>]) -> Vec<Msg> {
    reqs.iter().flat_map(|r| items(r)).map(|(_, _, m)| m).collect()
}

// ------------------------------------------------------------------ fixtures

const T: [u8; 16] = [1; 16];

fn sid(n: u8) -> Vec<u8> {
    vec![0, 0, 0, 0, 0, 0, 0, n]
}

struct Fx {
    d: MapDict,
    scope: DictRef,
    scope2: DictRef,
    k_a: DictRef,
    k_b: DictRef,
    k_c: DictRef,
}

fn fx() -> Fx {
    let mut d = MapDict::new();
    let k_svc = d.string("service.name");
    let res = d.resource(&[kv_str(k_svc, "shop")]);
    let scope = d.scope("http", "1.0", res);
    let scope2 = d.scope("logger", "2.0", res);
    let (k_a, k_b, k_c) = (d.string("a"), d.string("b"), d.string("c"));
    Fx { d, scope, scope2, k_a, k_b, k_c }
}

fn start(scope: DictRef, span: u8, name: &str, t: u64, attributes: Vec<KeyValueRef>) -> SpanEvent {
    SpanEvent {
        scope_ref: scope,
        trace_id: IdBytes::from(&T[..]),
        span_id: sid(span).into(),
        event: Some(SpanEventKind::Start(StartSpan { parent_span_id: sid(99).into(), flags: 0x301, name: name.into(), kind: 2, start_time_unix_nano: t, attributes })),
    }
}

fn msg(scope: DictRef, span: u8, k: SpanEventKind) -> SpanEvent {
    SpanEvent { scope_ref: scope, trace_id: IdBytes::from(&T[..]), span_id: sid(span).into(), event: Some(k) }
}

fn end(scope: DictRef, span: u8, t: u64) -> SpanEvent {
    msg(scope, span, SpanEventKind::End { end_time_unix_nano: t, status: Some(Status { message: "boom".into(), code: 2 }) })
}

fn event(scope: DictRef, span: Option<u8>, name: DictRef, t: u64) -> Event {
    Event {
        scope_ref: scope,
        time_unix_nano: t,
        event_name_ref: name,
        span_context: span.map(|s| SpanContext { trace_id: IdBytes::from(&T[..]), span_id: sid(s).into(), flags: 1 }),
        ..Default::default()
    }
}

fn poll(p: &mut Pipeline, d: &mut MapDict, spans: Vec<SpanEvent>, events: Vec<Event>) {
    for s in spans {
        p.on_span_event(d, s);
    }
    p.after_spans(d);
    for e in events {
        p.on_event(d, e);
    }
    p.end_of_poll(d);
}

fn pipeline() -> Pipeline {
    let mut p = Pipeline::new(PipelineConfig::default());
    p.set_time(5_000);
    p
}

fn span_named(spans: &[Msg], name: &str) -> Msg {
    spans.iter().find(|s| s.str(5) == name).unwrap_or_else(|| panic!("no span {name}")).clone()
}

// ------------------------------------------------------------------ spans

#[test]
fn assembles_a_span_from_start_name_attributes_links_and_end() {
    let mut f = fx();
    let mut p = pipeline();
    let link = Link { trace_id: vec![7; 16], span_id: vec![8; 8], trace_state: "k=v".into(), attributes: vec![kv_int(f.k_c, 3)], dropped_attributes_count: 1, flags: 0x101 };
    poll(
        &mut p,
        &mut f.d,
        vec![
            start(f.scope, 1, "GET", 100, vec![kv_int(f.k_a, 1), kv_str(f.k_b, "x")]),
            msg(f.scope, 1, SpanEventKind::Name("GET /users".into())),
            msg(f.scope, 1, SpanEventKind::Attributes(vec![kv_int(f.k_a, 2), kv_int(f.k_c, 9)])),
            msg(f.scope, 1, SpanEventKind::Links(vec![link])),
            end(f.scope, 1, 250),
        ],
        vec![],
    );
    let reqs = bodies(p.take_traces());
    assert_eq!(reqs.len(), 1);
    let it = items(&reqs[0]);
    assert_eq!(it.len(), 1);
    let (res, scope, s) = &it[0];
    assert_eq!(res, &map(&[("service.name", "s:shop")]));
    assert_eq!(scope, "http");
    let scope_msg = Msg::parse(&reqs[0]).msg(1).msg(2).msg(1);
    assert_eq!(scope_msg.str(2), "1.0");
    assert_eq!(s.bytes(1), T.to_vec());
    assert_eq!(s.bytes(2), sid(1));
    assert_eq!(s.bytes(4), sid(99));
    assert_eq!(s.str(5), "GET /users");
    assert_eq!(s.u64(6), 2);
    assert_eq!((s.u64(7), s.u64(8)), (100, 250));
    assert_eq!(s.u64(16), 0x301, "W3C flags plus has-is-remote/is-remote bits");
    assert_eq!(attrs(s, 9), map(&[("a", "i:2"), ("b", "s:x"), ("c", "i:9")]));
    let l = s.msg(13);
    assert_eq!((l.bytes(1), l.bytes(2), l.str(3), l.u64(5), l.u64(6)), (vec![7; 16], vec![8; 8], "k=v".to_string(), 1, 0x101));
    assert_eq!(attrs(&l, 4), map(&[("c", "i:3")]));
    let st = s.msg(15);
    assert_eq!((st.str(2), st.u64(3)), ("boom".to_string(), 2));
    assert_eq!(p.stats().spans_finished, 1);
    assert_eq!(p.stats().open_spans, 0);
}

#[test]
fn a_key_repeated_in_a_starts_list_keeps_its_last_value() {
    // A start written from two parts (`recordSpanStart`'s `moreAttributes`) may repeat a key: the
    // span has it once, with the later value, as when a key is set again after the start.
    let mut f = fx();
    let mut p = pipeline();
    poll(
        &mut p,
        &mut f.d,
        vec![start(f.scope, 1, "GET", 100, vec![kv_int(f.k_a, 1), kv_str(f.k_b, "x"), kv_int(f.k_a, 2)]), end(f.scope, 1, 250)],
        vec![],
    );
    let reqs = bodies(p.take_traces());
    let it = items(&reqs[0]);
    let s = &it[0].2;
    assert_eq!(s.msgs(9).len(), 2);
    assert_eq!(attrs(s, 9), map(&[("a", "i:2"), ("b", "s:x")]));
}

#[test]
fn an_event_published_before_its_spans_end_lands_on_the_span() {
    let mut f = fx();
    let mut p = pipeline();
    let ev_name = f.d.string("exception");
    let log_name = f.d.string("app.log");
    // poll 1: span 1 starts and ends in the spans ring; its event sits in the
    // events ring (published before the end). An event names span 2, whose
    // start is not read yet; another names span 3, which never appears.
    poll(
        &mut p,
        &mut f.d,
        vec![start(f.scope, 1, "one", 10, vec![]), end(f.scope, 1, 20)],
        vec![
            Event { attributes: vec![kv_int(f.k_a, 1)], ..event(f.scope, Some(1), ev_name, 15) },
            event(f.scope, Some(2), ev_name, 16),
            event(f.scope, Some(3), ev_name, 17),
            event(f.scope2, Some(1), log_name, 18), // other scope: a log record
            event(f.scope, None, log_name, 19),     // no span context: a log record
        ],
    );
    let spans = all_items(&bodies(p.take_traces()));
    assert_eq!(spans.len(), 1);
    let evs = spans[0].msgs(11);
    assert_eq!(evs.len(), 1);
    assert_eq!((evs[0].u64(1), evs[0].str(2)), (15, "exception".to_string()));
    assert_eq!(attrs(&evs[0], 3), map(&[("a", "i:1")]));
    let logs = all_items(&bodies(p.take_logs()));
    assert_eq!(logs.iter().map(|l| l.u64(1)).collect::<Vec<_>>(), vec![18, 19]);
    assert_eq!(p.stats().pending_events, 2);

    // poll 2: span 2 starts and ends; the pending event lands on it, the one for
    // span 3 becomes a log record carrying its trace context.
    poll(&mut p, &mut f.d, vec![start(f.scope, 2, "two", 12, vec![]), end(f.scope, 2, 30)], vec![]);
    let spans = all_items(&bodies(p.take_traces()));
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].str(5), "two");
    assert_eq!(spans[0].msgs(11).iter().map(|e| e.u64(1)).collect::<Vec<_>>(), vec![16]);
    let logs = all_items(&bodies(p.take_logs()));
    assert_eq!(logs.len(), 1);
    assert_eq!((logs[0].u64(1), logs[0].bytes(9), logs[0].bytes(10), logs[0].u64(8)), (17, T.to_vec(), sid(3), 1));
    assert_eq!(logs[0].str(12), "exception");
    let st = p.stats();
    assert_eq!((st.span_events_attached, st.log_records, st.pending_events), (2, 3, 0));
}

#[test]
fn an_event_after_the_spans_end_was_applied_is_a_log_record() {
    let mut f = fx();
    let mut p = pipeline();
    let n = f.d.string("late");
    poll(&mut p, &mut f.d, vec![start(f.scope, 1, "one", 10, vec![]), end(f.scope, 1, 20)], vec![]);
    assert_eq!(all_items(&bodies(p.take_traces())).len(), 1);
    poll(&mut p, &mut f.d, vec![], vec![event(f.scope, Some(1), n, 25)]);
    poll(&mut p, &mut f.d, vec![], vec![]);
    assert_eq!(all_items(&bodies(p.take_logs())).len(), 1);
    assert!(bodies(p.take_traces()).is_empty());
}

#[test]
fn assembles_spans_whose_messages_arrive_before_their_start() {
    let mut f = fx();
    let mut p = pipeline();
    // the end and an update are read a poll before the start
    poll(&mut p, &mut f.d, vec![msg(f.scope, 1, SpanEventKind::Attributes(vec![kv_int(f.k_b, 5)])), end(f.scope, 1, 90)], vec![]);
    assert!(bodies(p.take_traces()).is_empty());
    assert_eq!(p.stats().open_spans, 1);
    poll(&mut p, &mut f.d, vec![start(f.scope, 1, "late start", 40, vec![kv_int(f.k_a, 1), kv_int(f.k_b, 1)])], vec![]);
    let spans = all_items(&bodies(p.take_traces()));
    assert_eq!(spans.len(), 1);
    assert_eq!((spans[0].str(5).as_str(), spans[0].u64(7), spans[0].u64(8)), ("late start", 40, 90));
    // the update came after the start in the writer's order: its value wins
    assert_eq!(attrs(&spans[0], 9), map(&[("a", "i:1"), ("b", "i:5")]));
    assert_eq!(p.stats().open_spans, 0);
}

#[test]
fn drops_and_counts_an_end_whose_start_never_arrives() {
    let mut f = fx();
    let mut p = pipeline();
    poll(&mut p, &mut f.d, vec![end(f.scope, 7, 90)], vec![]);
    for _ in 0..PipelineConfig::default().placeholder_polls {
        assert_eq!(p.stats().open_spans, 1);
        poll(&mut p, &mut f.d, vec![], vec![]);
    }
    assert_eq!(p.stats().open_spans, 0);
    assert_eq!(p.stats().spans_orphaned, 1);
    assert!(bodies(p.take_traces()).is_empty());
}

#[test]
fn can_export_an_orphan_end_with_what_is_known() {
    let mut f = fx();
    let mut p = Pipeline::new(PipelineConfig { export_orphans: true, placeholder_polls: 0, ..Default::default() });
    poll(&mut p, &mut f.d, vec![msg(f.scope, 7, SpanEventKind::Attributes(vec![kv_int(f.k_a, 1)])), end(f.scope, 7, 90), msg(f.scope, 8, SpanEventKind::Name("never ends".into()))], vec![]);
    let spans = all_items(&bodies(p.take_traces()));
    assert_eq!(spans.len(), 1);
    assert_eq!((spans[0].bytes(2), spans[0].u64(7), spans[0].u64(8)), (sid(7), 90, 90));
    assert_eq!(attrs(&spans[0], 9), map(&[("a", "i:1"), ("otlp_mmap.span.start_missing", "b:true")]));
    assert_eq!(spans[0].msg(15).u64(3), 2, "the status is kept");
    assert_eq!(p.stats().spans_orphaned, 2);
}

#[test]
fn merges_an_oversized_start_with_its_update_attributes_messages() {
    let mut f = fx();
    let mut p = pipeline();
    let keys: Vec<DictRef> = (0..30).map(|i| f.d.string(&format!("k{i:02}"))).collect();
    let kvs: Vec<KeyValueRef> = keys.iter().enumerate().map(|(i, k)| kv_int(*k, i as i64)).collect();
    poll(
        &mut p,
        &mut f.d,
        vec![
            start(f.scope, 1, "big", 1, kvs[..10].to_vec()),
            msg(f.scope, 1, SpanEventKind::Attributes(kvs[10..20].to_vec())),
            msg(f.scope, 1, SpanEventKind::Attributes(kvs[20..].to_vec())),
            end(f.scope, 1, 2),
        ],
        vec![],
    );
    let spans = all_items(&bodies(p.take_traces()));
    let got: Vec<String> = spans[0].msgs(9).iter().map(|kv| kv.str(1)).collect();
    let want: Vec<String> = (0..30).map(|i| format!("k{i:02}")).collect();
    assert_eq!(got, want);
    assert_eq!(attrs(&spans[0], 9)["k29"], "i:29");
}

#[test]
fn exports_spans_open_when_the_writer_died_as_incomplete() {
    let mut f = fx();
    let mut p = pipeline();
    let n = f.d.string("e");
    poll(&mut p, &mut f.d, vec![start(f.scope, 1, "done", 10, vec![]), end(f.scope, 1, 20), start(f.scope, 2, "crashed", 30, vec![kv_int(f.k_a, 1)])], vec![]);
    // final drain: an end and an event of the crashed request's child, then the writer is gone
    p.on_span_event(&mut f.d, start(f.scope, 3, "child", 40, vec![]));
    p.on_span_event(&mut f.d, end(f.scope, 3, 45));
    p.after_spans(&mut f.d);
    p.on_event(&mut f.d, event(f.scope, Some(2), n, 41));
    p.on_event(&mut f.d, event(f.scope, Some(4), n, 42)); // unknown: becomes a log
    p.finish_incomplete(&mut f.d, 1_000);
    let spans = all_items(&bodies(p.take_traces()));
    assert_eq!(spans.len(), 3);
    let done = span_named(&spans, "done");
    assert!(!attrs(&done, 9).contains_key(spans::INCOMPLETE_ATTRIBUTE));
    let child = span_named(&spans, "child");
    assert_eq!((child.u64(8), attrs(&child, 9).len()), (45, 0));
    let crashed = span_named(&spans, "crashed");
    assert_eq!(crashed.u64(8), 1_000);
    assert_eq!(attrs(&crashed, 9), map(&[("a", "i:1"), ("otlp_mmap.span.incomplete", "b:true")]));
    assert_eq!(crashed.msgs(11).len(), 1);
    assert_eq!(all_items(&bodies(p.take_logs())).len(), 1);
    let st = p.stats();
    assert_eq!((st.spans_incomplete, st.spans_finished, st.open_spans, st.pending_events), (1, 3, 0, 0));
}

#[test]
fn bounds_the_open_span_table_and_counts_the_overflow() {
    let mut f = fx();
    let mut p = Pipeline::new(PipelineConfig { max_open_spans: 2, ..Default::default() });
    poll(&mut p, &mut f.d, (1..=3).map(|i| start(f.scope, i, "s", 1, vec![])).collect(), vec![]);
    let st = p.stats();
    assert_eq!((st.open_spans, st.spans_overflowed, st.spans_started), (2, 1, 2));
}

#[test]
fn spans_that_start_and_end_in_one_poll_do_not_count_against_the_open_span_limit() {
    let mut f = fx();
    let mut p = Pipeline::new(PipelineConfig { max_open_spans: 2, ..Default::default() });
    let mut msgs = vec![start(f.scope, 100, "long", 1, vec![])];
    for i in 1..=50 {
        msgs.push(start(f.scope, i, "short", 1, vec![]));
        msgs.push(end(f.scope, i, 2));
    }
    poll(&mut p, &mut f.d, msgs, vec![]);
    assert_eq!(all_items(&bodies(p.take_traces())).len(), 50);
    let st = p.stats();
    assert_eq!((st.spans_overflowed, st.open_spans), (0, 1));
    poll(&mut p, &mut f.d, vec![start(f.scope, 101, "second", 1, vec![]), start(f.scope, 102, "third", 1, vec![])], vec![]);
    assert_eq!((p.stats().spans_overflowed, p.stats().open_spans), (1, 2));
}

#[test]
fn bounds_pending_events_and_span_events() {
    let mut f = fx();
    let mut p = Pipeline::new(PipelineConfig { max_pending_events: 1, max_events_per_span: 2, ..Default::default() });
    let n = f.d.string("e");
    poll(&mut p, &mut f.d, vec![start(f.scope, 1, "s", 1, vec![])], (0..4).map(|t| event(f.scope, Some(1), n, t)).collect());
    poll(&mut p, &mut f.d, vec![end(f.scope, 1, 9)], vec![event(f.scope, Some(5), n, 1), event(f.scope, Some(6), n, 2)]);
    let spans = all_items(&bodies(p.take_traces()));
    assert_eq!(spans[0].msgs(11).len(), 2);
    assert_eq!(spans[0].u64(12), 2, "dropped_events_count");
    let st = p.stats();
    assert_eq!((st.span_events_dropped, st.pending_overflowed, st.pending_events, st.log_records), (2, 1, 1, 1));
}

#[test]
fn skips_and_counts_bad_records_and_unresolvable_references() {
    let mut f = fx();
    let mut p = pipeline();
    let mut bad = start(f.scope, 1, "s", 1, vec![]);
    bad.trace_id = IdBytes::from(&T[..15]);
    p.on_span_event(&mut f.d, bad);
    p.on_span_event(&mut f.d, start(DictRef(12345), 1, "s", 1, vec![]));
    p.on_span_event(&mut f.d, start(f.scope, 2, "s", 1, vec![kv_int(DictRef(999_999), 1)]));
    p.on_span_event(&mut f.d, SpanEvent { event: None, ..start(f.scope, 3, "s", 1, vec![]) });
    // a value_ref cycle: the entry refers to itself
    let cyc = f.d.next;
    f.d.value(&AnyValue::Array(vec![AnyValue::ValueRef(DictRef(cyc))]));
    p.on_event(&mut f.d, Event { body: Some(AnyValue::ValueRef(DictRef(cyc))), ..event(f.scope, None, DictRef(0), 1) });
    p.on_measurement(&mut f.d, Measurement { metric_ref: DictRef(4242), attributes: vec![], time_unix_nano: 1, value: Some(NumberValue::Long(1)), span_context: None });
    let st = p.stats();
    assert_eq!((st.bad_records, st.dictionary_errors, st.open_spans, st.log_records), (2, 4, 0, 0));
}

#[test]
fn groups_spans_by_resource_then_scope() {
    let mut f = fx();
    let k = f.d.string("service.name");
    let res2 = f.d.resource(&[kv_str(k, "billing")]);
    let scope3 = f.d.scope("pg", "", res2);
    let mut p = pipeline();
    let mut s = Vec::new();
    for (i, sc) in [(1, f.scope), (2, scope3), (3, f.scope2), (4, f.scope), (5, scope3)] {
        s.push(start(sc, i, &format!("s{i}"), 1, vec![]));
        s.push(end(sc, i, 2));
    }
    poll(&mut p, &mut f.d, s, vec![]);
    let reqs = bodies(p.take_traces());
    assert_eq!(reqs.len(), 1);
    let rs = Msg::parse(&reqs[0]).msgs(1);
    assert_eq!(rs.len(), 2);
    type Summary = Vec<(String, Vec<(String, Vec<String>)>)>;
    let summary: Summary = rs
        .iter()
        .map(|r| (attrs(&r.msg(1), 1)["service.name"].clone(), r.msgs(2).iter().map(|ss| (ss.msg(1).str(1), ss.msgs(2).iter().map(|sp| sp.str(5)).collect())).collect()))
        .collect();
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut summary = summary;
    summary.sort();
    assert_eq!(
        summary,
        vec![
            ("s:billing".to_string(), vec![("pg".to_string(), names(&["s2", "s5"]))]),
            ("s:shop".to_string(), vec![("http".to_string(), names(&["s1", "s4"])), ("logger".to_string(), names(&["s3"]))]),
        ]
    );
}

#[test]
fn splits_traces_into_batches() {
    let mut f = fx();
    let mut p = Pipeline::new(PipelineConfig { max_spans_per_batch: 2, ..Default::default() });
    let mut s = Vec::new();
    for i in 1..=5 {
        s.push(start(f.scope, i, "s", 1, vec![]));
        s.push(end(f.scope, i, 2));
    }
    poll(&mut p, &mut f.d, s, vec![]);
    let batches = p.take_traces();
    // Each batch says how many spans it holds (the exporter's merging relies on it).
    assert_eq!(batches.iter().map(|b| b.items).collect::<Vec<_>>(), vec![2, 2, 1]);
    let reqs = bodies(batches);
    assert_eq!(reqs.iter().map(|r| items(r).len()).collect::<Vec<_>>(), vec![2, 2, 1]);
}

#[test]
fn caches_resolved_dictionary_entries() {
    let mut f = fx();
    let mut p = pipeline();
    poll(&mut p, &mut f.d, vec![start(f.scope, 1, "s", 1, vec![kv_int(f.k_a, 1)])], vec![]);
    let reads = f.d.reads;
    poll(&mut p, &mut f.d, vec![start(f.scope, 2, "s", 1, vec![kv_int(f.k_a, 1)])], vec![]);
    assert_eq!(f.d.reads, reads);
}

// ------------------------------------------------------------------ logs

#[test]
fn builds_log_records_with_severity_body_attributes_and_trace_context() {
    let mut f = fx();
    let mut p = pipeline();
    p.set_time(777);
    let name = f.d.string("user.login");
    let shared = f.d.value(&AnyValue::Array(vec![AnyValue::Int(1), AnyValue::String("two".into())]));
    let ev = Event {
        scope_ref: f.scope2,
        time_unix_nano: 500,
        severity_number: 17,
        severity_text: "ERROR".into(),
        body: Some(AnyValue::KvList(vec![KeyValueRef { key_ref: f.k_a, value: Some(AnyValue::ValueRef(shared)) }, kv_str(f.k_b, "x")])),
        event_name_ref: name,
        span_context: Some(SpanContext { trace_id: IdBytes::from(&T[..]), span_id: sid(4).into(), flags: 0x101 }),
        attributes: vec![kv_int(f.k_c, 3), KeyValueRef { key_ref: f.k_a, value: Some(AnyValue::Double(1.5)) }],
    };
    poll(&mut p, &mut f.d, vec![], vec![ev.clone()]);
    poll(&mut p, &mut f.d, vec![], vec![]); // the unknown span context waits one poll
    let reqs = bodies(p.take_logs());
    let it = items(&reqs[0]);
    assert_eq!(it.len(), 1);
    let (res, scope, l) = &it[0];
    assert_eq!((res["service.name"].as_str(), scope.as_str()), ("s:shop", "logger"));
    assert_eq!((l.u64(1), l.u64(2), l.str(3)), (500, 17, "ERROR".to_string()));
    assert_eq!(any(&l.msg(5)), "{a=[i:1,s:two],b=s:x}");
    assert_eq!(attrs(l, 6), map(&[("a", "d:1.5"), ("c", "i:3")]));
    assert_eq!((l.u64(8), l.bytes(9), l.bytes(10)), (1, T.to_vec(), sid(4)));
    assert_eq!(l.u64(11), 777, "observed time is when the collector read it");
    assert_eq!(l.str(12), "user.login");
    // without a span context: no trace fields
    poll(&mut p, &mut f.d, vec![], vec![Event { span_context: None, ..ev }]);
    let l = all_items(&bodies(p.take_logs())).remove(0);
    assert!(!l.has(8) && !l.has(9) && !l.has(10));
}

// ------------------------------------------------------------------ metrics

fn meas(metric: DictRef, attrs: Vec<KeyValueRef>, t: u64, v: NumberValue) -> Measurement {
    Measurement { metric_ref: metric, attributes: attrs, time_unix_nano: t, value: Some(v), span_context: None }
}

/// (metric name, data field, data message) of every metric in a request.
fn metrics_of(req: &[u8]) -> Vec<(String, u32, Msg)> {
    items(req)
        .into_iter()
        .map(|(_, _, m)| {
            let f = [5, 7, 9, 10].into_iter().find(|f| m.has(*f)).expect("a data field");
            (m.str(1), f, m.msg(f))
        })
        .collect()
}

fn one_metric(req: &[u8]) -> (u32, Msg) {
    let mut v = metrics_of(req);
    assert_eq!(v.len(), 1);
    let (_, f, m) = v.remove(0);
    (f, m)
}

#[test]
fn delta_sums_reset_each_collect_and_start_at_the_previous_collect() {
    let mut f = fx();
    let mut p = pipeline();
    let m = f.d.metric("requests", f.scope, &Aggregation::Sum { temporality: TEMPORALITY_DELTA, is_monotonic: true });
    for (t, v) in [(110, 1), (120, 2), (130, 3), (140, -5)] {
        p.on_measurement(&mut f.d, meas(m, vec![kv_str(f.k_a, "x")], t, NumberValue::Long(v)));
    }
    assert_eq!(p.stats().measurements_ignored, 1, "monotonic sums ignore negative values");
    let req = p.collect_metrics(&mut f.d, 1000).unwrap();
    let it = items(&req);
    assert_eq!(it[0].2.str(2), "desc");
    assert_eq!(it[0].2.str(3), "ms");
    let (field, sum) = one_metric(&req);
    assert_eq!(field, 7);
    assert_eq!((sum.u64(2), sum.u64(3)), (1, 1), "delta, monotonic");
    let pt = sum.msg(1);
    assert_eq!((pt.u64(2), pt.u64(3), pt.u64(6) as i64), (110, 1000, 6));
    assert!(!pt.has(4), "an int point");
    assert_eq!(attrs(&pt, 7), map(&[("a", "s:x")]));
    // nothing new: nothing to report
    assert!(p.collect_metrics(&mut f.d, 2000).is_none());
    p.on_measurement(&mut f.d, meas(m, vec![kv_str(f.k_a, "x")], 2500, NumberValue::Double(0.5)));
    let (_, sum) = one_metric(&p.collect_metrics(&mut f.d, 3000).unwrap());
    let pt = sum.msg(1);
    assert_eq!((pt.u64(2), pt.u64(3), pt.f64(4)), (2000, 3000, 0.5));
    assert!(!pt.has(6), "a double point");
}

#[test]
fn cumulative_sums_keep_their_start_time() {
    let mut f = fx();
    let mut p = pipeline();
    let m = f.d.metric("active", f.scope, &Aggregation::Sum { temporality: TEMPORALITY_CUMULATIVE, is_monotonic: false });
    p.on_measurement(&mut f.d, meas(m, vec![], 200, NumberValue::Long(5)));
    p.on_measurement(&mut f.d, meas(m, vec![], 150, NumberValue::Long(-2)));
    let (_, sum) = one_metric(&p.collect_metrics(&mut f.d, 1000).unwrap());
    assert_eq!((sum.u64(2), sum.u64(3)), (2, 0));
    let pt = sum.msg(1);
    assert_eq!((pt.u64(2), pt.u64(3), pt.u64(6) as i64), (150, 1000, 3));
    p.on_measurement(&mut f.d, meas(m, vec![], 1500, NumberValue::Long(4)));
    let (_, sum) = one_metric(&p.collect_metrics(&mut f.d, 2000).unwrap());
    let pt = sum.msg(1);
    assert_eq!((pt.u64(2), pt.u64(3), pt.u64(6) as i64), (150, 2000, 7));
    // still reported with no new measurement
    let (_, sum) = one_metric(&p.collect_metrics(&mut f.d, 3000).unwrap());
    assert_eq!((sum.msg(1).u64(2), sum.msg(1).u64(3), sum.msg(1).u64(6)), (150, 3000, 7));
}

#[test]
fn gauges_keep_the_last_value_by_timestamp() {
    let mut f = fx();
    let mut p = pipeline();
    let m = f.d.metric("temp", f.scope, &Aggregation::Gauge);
    for (t, v) in [(300, 1.5), (500, 2.5), (400, 9.0)] {
        p.on_measurement(&mut f.d, meas(m, vec![], t, NumberValue::Double(v)));
    }
    let (field, g) = one_metric(&p.collect_metrics(&mut f.d, 1000).unwrap());
    assert_eq!(field, 5);
    let pt = g.msg(1);
    assert_eq!((pt.u64(2), pt.u64(3), pt.f64(4)), (300, 1000, 2.5));
}

#[test]
fn explicit_histograms_count_values_into_upper_inclusive_buckets() {
    let mut f = fx();
    let mut p = pipeline();
    let m = f.d.metric("latency", f.scope, &Aggregation::Histogram { temporality: TEMPORALITY_DELTA, boundaries: vec![0.0, 5.0, 10.0] });
    for v in [0.0, 5.0, 7.0, 10.0, 11.0, -1.0] {
        p.on_measurement(&mut f.d, meas(m, vec![], 100, NumberValue::Double(v)));
    }
    p.on_measurement(&mut f.d, meas(m, vec![], 100, NumberValue::Double(f64::NAN)));
    let (field, h) = one_metric(&p.collect_metrics(&mut f.d, 1000).unwrap());
    assert_eq!((field, h.u64(2)), (9, 1));
    let pt = h.msg(1);
    assert_eq!((pt.u64(2), pt.u64(3), pt.u64(4), pt.f64(5)), (100, 1000, 6, 32.0));
    assert_eq!(pt.packed_fixed64(6), vec![2, 1, 2, 1]);
    assert_eq!(pt.packed_fixed64(7).into_iter().map(f64::from_bits).collect::<Vec<_>>(), vec![0.0, 5.0, 10.0]);
    assert_eq!((pt.f64(11), pt.f64(12)), (-1.0, 11.0));
    assert_eq!(p.stats().measurements_ignored, 1);
}

#[test]
fn exponential_histograms_downscale_to_fit_max_buckets() {
    let mut f = fx();
    let mut p = pipeline();
    let m = f.d.metric("size", f.scope, &Aggregation::ExpHistogram { temporality: TEMPORALITY_CUMULATIVE, max_buckets: 4, max_scale: 20 });
    for v in [1, 2, 4] {
        p.on_measurement(&mut f.d, meas(m, vec![], 100, NumberValue::Long(v)));
    }
    p.on_measurement(&mut f.d, meas(m, vec![], 100, NumberValue::Long(0)));
    p.on_measurement(&mut f.d, meas(m, vec![], 100, NumberValue::Double(-3.0)));
    let (field, h) = one_metric(&p.collect_metrics(&mut f.d, 1000).unwrap());
    assert_eq!((field, h.u64(2)), (10, 2));
    let pt = h.msg(1);
    assert_eq!((pt.u64(2), pt.u64(3), pt.u64(4), pt.f64(5)), (100, 1000, 5, 4.0));
    assert_eq!(zigzag(pt.u64(6)), 0, "scale");
    assert_eq!(pt.u64(7), 1, "zero count");
    let pos = pt.msg(8);
    assert_eq!((zigzag(pos.u64(1)), pos.packed_varint(2)), (-1, vec![1, 1, 1]));
    let neg = pt.msg(9);
    assert_eq!((zigzag(neg.u64(1)), neg.packed_varint(2)), (1, vec![1]));
    assert_eq!((pt.f64(12), pt.f64(13)), (-3.0, 4.0));
}

#[test]
fn exponential_histograms_stay_at_max_scale_when_values_fit() {
    let mut f = fx();
    let mut p = pipeline();
    let m = f.d.metric("size", f.scope, &Aggregation::ExpHistogram { temporality: TEMPORALITY_DELTA, max_buckets: 160, max_scale: 3 });
    for v in [1.0, 1.1, 1.5] {
        p.on_measurement(&mut f.d, meas(m, vec![], 100, NumberValue::Double(v)));
    }
    let (_, h) = one_metric(&p.collect_metrics(&mut f.d, 1000).unwrap());
    let pt = h.msg(1);
    assert_eq!(zigzag(pt.u64(6)), 3);
    // scale 3: base 2^(1/8); 1.0 -> -1, 1.1 -> 1, 1.5 -> 4
    let pos = pt.msg(8);
    assert_eq!((zigzag(pos.u64(1)), pos.packed_varint(2)), (-1, vec![1, 0, 1, 0, 0, 1]));
}

#[test]
fn applies_the_cardinality_limit_with_the_overflow_attribute_set() {
    let mut f = fx();
    let mut p = Pipeline::new(PipelineConfig { cardinality_limit: 3, ..Default::default() });
    let m = f.d.metric("hits", f.scope, &Aggregation::Sum { temporality: TEMPORALITY_CUMULATIVE, is_monotonic: true });
    for i in 0..5 {
        p.on_measurement(&mut f.d, meas(m, vec![kv_int(f.k_a, i)], 100, NumberValue::Long(10 + i)));
    }
    p.on_measurement(&mut f.d, meas(m, vec![kv_int(f.k_a, 0)], 100, NumberValue::Long(1)));
    let (_, sum) = one_metric(&p.collect_metrics(&mut f.d, 1000).unwrap());
    let pts: Vec<(BTreeMap<String, String>, i64)> = sum.msgs(1).iter().map(|pt| (attrs(pt, 7), pt.u64(6) as i64)).collect();
    assert_eq!(pts, vec![(map(&[("a", "i:0")]), 11), (map(&[("a", "i:1")]), 11), (map(&[("otel.metric.overflow", "b:true")]), 12 + 13 + 14)]);
    assert_eq!(p.stats().measurements_overflowed, 3);
}

#[test]
fn identifies_attribute_sets_by_content_regardless_of_order() {
    let mut f = fx();
    let mut p = pipeline();
    let m = f.d.metric("hits", f.scope, &Aggregation::Sum { temporality: TEMPORALITY_DELTA, is_monotonic: true });
    // a second, different string entry with the same text "a"
    let k_a2 = f.d.string("a");
    p.on_measurement(&mut f.d, meas(m, vec![kv_int(f.k_a, 1), kv_str(f.k_b, "x")], 100, NumberValue::Long(1)));
    p.on_measurement(&mut f.d, meas(m, vec![kv_str(f.k_b, "x"), kv_int(k_a2, 1)], 100, NumberValue::Long(2)));
    p.on_measurement(&mut f.d, meas(m, vec![kv_str(f.k_b, "x"), kv_int(f.k_a, 2)], 100, NumberValue::Long(4)));
    let (_, sum) = one_metric(&p.collect_metrics(&mut f.d, 1000).unwrap());
    let pts: Vec<(BTreeMap<String, String>, u64)> = sum.msgs(1).iter().map(|pt| (attrs(pt, 7), pt.u64(6))).collect();
    assert_eq!(pts.len(), 2);
    assert!(pts.contains(&(map(&[("a", "i:1"), ("b", "s:x")]), 3)));
    assert!(pts.contains(&(map(&[("a", "i:2"), ("b", "s:x")]), 4)));
}

#[test]
fn takes_exemplars_from_sampled_measurements_only_and_bounds_them() {
    let mut f = fx();
    let mut p = Pipeline::new(PipelineConfig { max_exemplars: 2, ..Default::default() });
    let m = f.d.metric("latency", f.scope, &Aggregation::Histogram { temporality: TEMPORALITY_DELTA, boundaries: vec![10.0] });
    let sc = |s: u8, flags: u32| Some(SpanContext { trace_id: IdBytes::from(&T[..]), span_id: sid(s).into(), flags });
    p.on_measurement(&mut f.d, Measurement { span_context: sc(1, 0), ..meas(m, vec![], 100, NumberValue::Long(1)) });
    p.on_measurement(&mut f.d, Measurement { span_context: sc(2, 1), ..meas(m, vec![], 200, NumberValue::Long(2)) });
    let (_, h) = one_metric(&p.collect_metrics(&mut f.d, 1000).unwrap());
    let ex = h.msg(1).msgs(8);
    assert_eq!(ex.len(), 1);
    assert_eq!((ex[0].u64(2), ex[0].u64(6), ex[0].bytes(4), ex[0].bytes(5)), (200, 2, sid(2), T.to_vec()));
    for s in 3..8 {
        p.on_measurement(&mut f.d, Measurement { span_context: sc(s, 1), ..meas(m, vec![], 300 + s as u64, NumberValue::Double(0.5)) });
    }
    let (_, h) = one_metric(&p.collect_metrics(&mut f.d, 2000).unwrap());
    let ex = h.msg(1).msgs(8);
    assert_eq!(ex.len(), 2);
    let mut ids: Vec<u8> = ex.iter().map(|e| e.bytes(4)[7]).collect();
    ids.sort();
    assert_eq!(ids, vec![6, 7], "the most recent ones");
    assert_eq!(ex[0].f64(3), 0.5);
}

#[test]
fn replaces_zero_measurement_times_so_no_timestamp_is_zero() {
    let mut f = fx();
    let mut p = pipeline();
    p.set_time(4_000);
    let m = f.d.metric("g", f.scope, &Aggregation::Sum { temporality: TEMPORALITY_CUMULATIVE, is_monotonic: true });
    p.on_measurement(&mut f.d, meas(m, vec![], 0, NumberValue::Long(1)));
    let (_, sum) = one_metric(&p.collect_metrics(&mut f.d, 0).unwrap());
    let pt = sum.msg(1);
    assert_eq!((pt.u64(2), pt.u64(3)), (4_000, 4_000));
}

#[test]
fn bounds_metric_streams() {
    let mut f = fx();
    let mut p = Pipeline::new(PipelineConfig { max_metric_streams: 1, ..Default::default() });
    let m1 = f.d.metric("a", f.scope, &Aggregation::Gauge);
    let m2 = f.d.metric("b", f.scope, &Aggregation::Gauge);
    p.on_measurement(&mut f.d, meas(m1, vec![], 1, NumberValue::Long(1)));
    p.on_measurement(&mut f.d, meas(m2, vec![], 1, NumberValue::Long(1)));
    let st = p.stats();
    assert_eq!((st.metric_streams, st.metric_streams_overflowed), (1, 1));
}

/// Writes sample export requests to `$OTLP_MMAP_DUMP_DIR` (when set) so they can be
/// decoded with the official protos (`scripts`/tests on the JS side).
#[test]
fn dump_samples_for_external_decoding() {
    let Ok(dir) = std::env::var("OTLP_MMAP_DUMP_DIR") else { return };
    let mut f = fx();
    let mut p = pipeline();
    let n = f.d.string("exception");
    let link = Link { trace_id: vec![7; 16], span_id: vec![8; 8], trace_state: "k=v".into(), attributes: vec![kv_int(f.k_c, 3)], dropped_attributes_count: 1, flags: 0x101 };
    poll(
        &mut p,
        &mut f.d,
        vec![start(f.scope, 1, "GET", 100, vec![kv_int(f.k_a, 1), kv_str(f.k_b, "x")]), msg(f.scope, 1, SpanEventKind::Links(vec![link])), end(f.scope, 1, 250), start(f.scope, 2, "open", 120, vec![])],
        vec![
            Event { attributes: vec![kv_int(f.k_a, 1)], ..event(f.scope, Some(1), n, 150) },
            Event {
                severity_number: 9,
                severity_text: "INFO".into(),
                body: Some(AnyValue::KvList(vec![kv_str(f.k_a, "hello"), KeyValueRef { key_ref: f.k_b, value: Some(AnyValue::Array(vec![AnyValue::Bool(true), AnyValue::Double(2.5), AnyValue::Bytes(vec![1, 2])])) }])),
                ..event(f.scope2, Some(1), n, 160)
            },
        ],
    );
    p.finish_incomplete(&mut f.d, 9_000);
    let sum = f.d.metric("requests", f.scope, &Aggregation::Sum { temporality: TEMPORALITY_DELTA, is_monotonic: true });
    let gauge = f.d.metric("temp", f.scope, &Aggregation::Gauge);
    let hist = f.d.metric("latency", f.scope2, &Aggregation::Histogram { temporality: TEMPORALITY_CUMULATIVE, boundaries: vec![1.0, 10.0] });
    let exp = f.d.metric("size", f.scope2, &Aggregation::ExpHistogram { temporality: TEMPORALITY_DELTA, max_buckets: 4, max_scale: 20 });
    let sc = Some(SpanContext { trace_id: IdBytes::from(&T[..]), span_id: sid(1).into(), flags: 1 });
    for (t, v) in [(110u64, 1i64), (120, 2), (130, 4)] {
        for m in [sum, gauge, hist, exp] {
            p.on_measurement(&mut f.d, Measurement { span_context: sc.clone(), ..meas(m, vec![kv_int(f.k_a, 1)], t, NumberValue::Long(v)) });
        }
    }
    p.on_measurement(&mut f.d, meas(exp, vec![], 140, NumberValue::Double(-0.25)));
    let metrics = p.collect_metrics(&mut f.d, 10_000).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(format!("{dir}/traces.bin"), &bodies(p.take_traces())[0]).unwrap();
    std::fs::write(format!("{dir}/logs.bin"), &bodies(p.take_logs())[0]).unwrap();
    std::fs::write(format!("{dir}/metrics.bin"), metrics).unwrap();
}

#[test]
fn counts_a_refused_span_once_and_ignores_its_later_messages() {
    let mut f = fx();
    let mut p = Pipeline::new(PipelineConfig { max_open_spans: 1, ..Default::default() });
    poll(&mut p, &mut f.d, vec![start(f.scope, 1, "kept", 1, vec![]), start(f.scope, 2, "refused", 1, vec![]), msg(f.scope, 2, SpanEventKind::Name("x".into())), end(f.scope, 2, 5)], vec![]);
    poll(&mut p, &mut f.d, vec![end(f.scope, 1, 6)], vec![]);
    for _ in 0..4 {
        poll(&mut p, &mut f.d, vec![], vec![]);
    }
    let spans = all_items(&bodies(p.take_traces()));
    assert_eq!(spans.iter().map(|s| s.str(5)).collect::<Vec<_>>(), vec!["kept"]);
    let st = p.stats();
    assert_eq!((st.spans_overflowed, st.spans_orphaned, st.open_spans, st.open_span_bytes), (1, 0, 0, 0));
}

#[test]
fn bounds_the_bytes_open_spans_hold() {
    let mut f = fx();
    let budget = 2 * spans::SPAN_BASE_BYTES + 300;
    let mut p = Pipeline::new(PipelineConfig { max_open_span_bytes: budget, ..Default::default() });
    let n = f.d.string("e");
    let big = "x".repeat(100);
    poll(
        &mut p,
        &mut f.d,
        vec![start(f.scope, 1, "a", 1, vec![kv_str(f.k_a, &big)]), start(f.scope, 2, "b", 1, vec![kv_str(f.k_a, &big), kv_str(f.k_b, &big)]), start(f.scope, 3, "c", 1, vec![])],
        (0..10).map(|t| Event { attributes: vec![kv_str(f.k_c, &big)], ..event(f.scope, Some(1), n, t) }).collect(),
    );
    let st = p.stats();
    assert!(st.open_span_bytes as usize <= budget, "{st:?}");
    assert_eq!(st.open_spans, 2);
    assert_eq!(st.spans_overflowed, 1);
    assert!(st.span_attributes_dropped >= 1 && st.span_events_dropped >= 8, "{st:?}");
    poll(&mut p, &mut f.d, vec![end(f.scope, 1, 2), end(f.scope, 2, 2)], vec![]);
    assert_eq!(p.stats().open_span_bytes, 0);
    assert_eq!(all_items(&bodies(p.take_traces())).len(), 2);
}

#[test]
fn bounds_metric_memory_and_counts_what_does_not_fit() {
    let mut f = fx();
    let mut p = Pipeline::new(PipelineConfig { max_metric_cells: 40, ..Default::default() });
    let h = f.d.metric("h", f.scope, &Aggregation::Histogram { temporality: TEMPORALITY_DELTA, boundaries: (0..8).map(f64::from).collect() });
    for i in 0..5 {
        p.on_measurement(&mut f.d, meas(h, vec![kv_int(f.k_a, i)], 1, NumberValue::Long(1)));
    }
    // 12 cells for the stream, 10 per point: two points, then not even an overflow set fits
    let st = p.stats();
    assert_eq!((st.measurements_overflowed, st.measurements_dropped), (0, 3), "{st:?}");
    let (_, m) = one_metric(&p.collect_metrics(&mut f.d, 10).unwrap());
    assert_eq!(m.msgs(1).len(), 2);
    // a delta collect frees the points' cells
    p.on_measurement(&mut f.d, meas(h, vec![kv_int(f.k_a, 9)], 11, NumberValue::Long(1)));
    assert_eq!(p.stats().measurements_dropped, 3);
    let (_, m) = one_metric(&p.collect_metrics(&mut f.d, 20).unwrap());
    assert_eq!(attrs(&m.msg(1), 9), map(&[("a", "i:9")]));
}

/// A small deterministic generator for the randomized tests.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn survives_random_messages_and_dictionary_entries() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut f = fx();
    // valid-looking entries to mutate, and a pool of references (some dangling)
    let m1 = f.d.metric("m1", f.scope, &Aggregation::ExpHistogram { temporality: 1, max_buckets: 3, max_scale: 20 });
    let m2 = f.d.metric("m2", f.scope, &Aggregation::Histogram { temporality: 2, boundaries: vec![1.0, 2.0] });
    let mut refs: Vec<i64> = f.d.entries.keys().copied().collect();
    refs.sort();
    let originals: Vec<(i64, Vec<u8>)> = refs.iter().map(|r| (*r, f.d.entries[r].clone())).collect();
    let mut p = Pipeline::new(PipelineConfig { max_open_spans: 64, max_pending_events: 8, cardinality_limit: 5, max_metric_streams: 4, ..Default::default() });
    let mut sample = Vec::new();
    {
        // seed messages: encode a few real ones to mutate
        let mut q = pipeline();
        poll(&mut q, &mut f.d, vec![start(f.scope, 1, "s", 1, vec![kv_int(f.k_a, 1)]), end(f.scope, 1, 2)], vec![]);
        sample.extend(bodies(q.take_traces()));
    }
    for round in 0..20_000u64 {
        // mutate one dictionary entry now and then, restoring the others
        if round % 50 == 0 {
            for (r, b) in &originals {
                f.d.entries.insert(*r, b.clone());
            }
            let (r, b) = &originals[rng.below(originals.len() as u64) as usize];
            let mut b = b.clone();
            for _ in 0..1 + rng.below(4) {
                if b.is_empty() {
                    break;
                }
                let i = rng.below(b.len() as u64) as usize;
                b[i] = rng.next() as u8;
            }
            if rng.below(4) == 0 {
                b.truncate(rng.below(b.len() as u64 + 1) as usize);
            }
            f.d.entries.insert(*r, b);
        }
        let pick = |rng: &mut Rng| -> DictRef {
            match rng.below(6) {
                0 => DictRef(0),
                1 => DictRef(rng.next() as i64),
                _ => DictRef(refs[rng.below(refs.len() as u64) as usize]),
            }
        };
        let kvs = |rng: &mut Rng| -> Vec<KeyValueRef> {
            (0..rng.below(4))
                .map(|_| KeyValueRef {
                    key_ref: DictRef(refs[rng.below(refs.len() as u64) as usize]),
                    value: match rng.below(5) {
                        0 => None,
                        1 => Some(AnyValue::ValueRef(DictRef(refs[rng.below(refs.len() as u64) as usize]))),
                        2 => Some(AnyValue::Double(f64::from_bits(rng.next()))),
                        _ => Some(AnyValue::Int(rng.next() as i64)),
                    },
                })
                .collect()
        };
        let span = rng.below(200) as u8;
        let scope = pick(&mut rng);
        match rng.below(8) {
            0 => p.on_span_event(&mut f.d, start(scope, span, "s", rng.below(1000), kvs(&mut rng))),
            1 => p.on_span_event(&mut f.d, end(scope, span, rng.below(1000))),
            2 => p.on_span_event(&mut f.d, msg(scope, span, SpanEventKind::Attributes(kvs(&mut rng)))),
            3 => p.on_event(&mut f.d, Event { attributes: kvs(&mut rng), body: Some(AnyValue::ValueRef(pick(&mut rng))), ..event(scope, Some(span), pick(&mut rng), 1) }),
            4 | 5 => {
                let metric = match rng.below(3) {
                    0 => m1,
                    1 => m2,
                    _ => pick(&mut rng),
                };
                let v = if rng.below(2) == 0 { NumberValue::Long(rng.next() as i64) } else { NumberValue::Double(f64::from_bits(rng.next())) };
                let sc = Some(SpanContext { trace_id: IdBytes::from(&T[..]), span_id: sid(span).into(), flags: rng.below(2) as u32 });
                p.on_measurement(&mut f.d, Measurement { span_context: sc, ..meas(metric, kvs(&mut rng), rng.below(100), v) });
            }
            6 => {
                p.after_spans(&mut f.d);
                p.end_of_poll(&mut f.d);
            }
            _ => {
                // random bytes through the real decoders
                let mut b: Vec<u8> = sample[0].clone();
                let i = rng.below(b.len() as u64) as usize;
                b[i] = rng.next() as u8;
                if let Ok(se) = crate::wire::decode::span_event(&b) {
                    p.on_span_event(&mut f.d, se);
                }
                if let Ok(ev) = crate::wire::decode::event(&b) {
                    p.on_event(&mut f.d, ev);
                }
                if let Ok(m) = crate::wire::decode::measurement(&b) {
                    p.on_measurement(&mut f.d, m);
                }
            }
        }
        if round % 97 == 0 {
            for r in bodies(p.take_traces()).iter().chain(bodies(p.take_logs()).iter()) {
                let _ = items(r); // the output is always well-formed protobuf
            }
            if let Some(m) = p.collect_metrics(&mut f.d, 1000 + round) {
                let _ = items(&m);
            }
            let st = p.stats();
            assert!(st.open_spans <= 64 || st.open_spans <= PipelineConfig::default().max_open_spans as u64);
        }
    }
    p.finish_incomplete(&mut f.d, 1);
    for r in bodies(p.take_traces()) {
        let _ = items(&r);
    }
    let st = p.stats();
    // the run exercised every path
    assert!(st.spans_finished > 0 && st.log_records > 0 && st.span_events_attached > 0 && st.measurements_overflowed > 0, "{st:?}");
    assert!(st.dictionary_errors > 0 && st.bad_records > 0 && st.spans_orphaned > 0, "{st:?}");
}

/// Throughput check (not a timing assertion): `cargo test --release --lib bench_ -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_span_events_per_second() {
    let mut f = fx();
    let mut p = pipeline();
    let n = 200_000u32;
    let keys: Vec<DictRef> = (0..5).map(|i| f.d.string(&format!("http.attr{i}"))).collect();
    let m = f.d.metric("dur", f.scope, &Aggregation::Histogram { temporality: 1, boundaries: vec![1.0, 5.0, 10.0, 50.0, 100.0] });
    let t0 = std::time::Instant::now();
    let mut batches = 0;
    for chunk in 0..(n / 1000) {
        for i in 0..1000u32 {
            let id = chunk * 1000 + i;
            let attrs: Vec<KeyValueRef> = keys.iter().map(|k| kv_str(*k, "value-of-attribute")).collect();
            let mut s = start(f.scope, 0, "GET /api/users", 1, attrs);
            s.span_id = IdBytes::from(&(id as u64 + 1).to_be_bytes()[..]);
            p.on_span_event(&mut f.d, s);
            let mut e = end(f.scope, 0, 2);
            e.span_id = IdBytes::from(&(id as u64 + 1).to_be_bytes()[..]);
            p.on_span_event(&mut f.d, e);
            p.on_measurement(&mut f.d, meas(m, vec![kv_str(keys[0], "GET"), kv_int(keys[1], 200)], 5, NumberValue::Double(3.0)));
        }
        p.after_spans(&mut f.d);
        p.end_of_poll(&mut f.d);
        batches += bodies(p.take_traces()).len();
    }
    let dt = t0.elapsed().as_secs_f64();
    eprintln!("{n} spans ({} span events + {n} measurements) in {dt:.3}s: {:.0} span events/s, {batches} batches", 2 * n, 2.0 * n as f64 / dt);
}

#[test]
fn encodes_the_collectors_own_metrics() {
    use selfmetrics::*;
    let pt = |name: &str, kind, ring: &str, value| SelfMetricPoint { name: name.into(), description: "d".into(), unit: "{message}".into(), kind, attributes: vec![("otlp_mmap.ring".into(), ring.into())], value };
    let req = encode_self_metrics(
        &[("service.name".into(), "otlp-mmap-collector".into())],
        "otlp-mmap",
        "0.1.0",
        10,
        20,
        &[pt("otlp_mmap.dropped", SelfMetricKind::Counter, "spans", 3), pt("otlp_mmap.queue.bytes", SelfMetricKind::UpDownCounter, "", 100), pt("otlp_mmap.dropped", SelfMetricKind::Counter, "events", 4)],
    );
    let it = items(&req);
    assert_eq!(it.len(), 2);
    assert_eq!((it[0].0["service.name"].as_str(), it[0].1.as_str()), ("s:otlp-mmap-collector", "otlp-mmap"));
    let dropped = it[0].2.msg(7);
    assert_eq!((dropped.u64(2), dropped.u64(3)), (2, 1));
    let pts: Vec<(BTreeMap<String, String>, u64, u64, u64)> = dropped.msgs(1).iter().map(|p| (attrs(p, 7), p.u64(2), p.u64(3), p.u64(6))).collect();
    assert_eq!(pts, vec![(map(&[("otlp_mmap.ring", "s:spans")]), 10, 20, 3), (map(&[("otlp_mmap.ring", "s:events")]), 10, 20, 4)]);
    let q = it[1].2.msg(7);
    assert_eq!((it[1].2.str(1).as_str(), q.u64(3), q.msg(1).u64(6)), ("otlp_mmap.queue.bytes", 0, 100));
}

#[test]
fn decodes_ring_records_and_counts_the_ones_that_do_not_decode() {
    let mut f = fx();
    let mut p = pipeline();
    // a StartSpan record as the recorder writes it: SpanEvent{trace_id=1, span_id=2, start=11, scope_ref=20}
    let mut rec = Vec::new();
    let mut e = Enc::new(&mut rec);
    e.bytes(1, &T);
    e.bytes(2, &sid(1));
    let s = e.begin(11);
    e.bytes(5, b"from bytes");
    e.fixed64(7, 10);
    e.end(s);
    e.int64(20, f.scope.0);
    p.on_span_record(&mut f.d, &rec);
    let mut rec = Vec::new();
    let mut e = Enc::new(&mut rec);
    e.bytes(1, &T);
    e.bytes(2, &sid(1));
    let s = e.begin(12);
    e.fixed64(8, 20);
    e.end(s);
    e.int64(20, f.scope.0);
    p.on_span_record(&mut f.d, &rec);
    p.on_span_record(&mut f.d, &[0x0a, 0xff]);
    p.on_event_record(&mut f.d, &[0x12, 0x01]);
    p.on_measurement_record(&mut f.d, &[0xff; 12]);
    p.after_spans(&mut f.d);
    p.end_of_poll(&mut f.d);
    let spans = all_items(&bodies(p.take_traces()));
    assert_eq!((spans[0].str(5).as_str(), spans[0].u64(7), spans[0].u64(8)), ("from bytes", 10, 20));
    assert_eq!(p.stats().bad_records, 3);
}

#[test]
fn refuses_value_refs_that_expand_exponentially() {
    let mut f = fx();
    let mut p = pipeline();
    let mut r = f.d.value(&AnyValue::String("leaf".into()));
    for _ in 0..24 {
        r = f.d.value(&AnyValue::Array(vec![AnyValue::ValueRef(r), AnyValue::ValueRef(r)]));
    }
    p.on_event(&mut f.d, Event { body: Some(AnyValue::ValueRef(r)), ..event(f.scope, None, DictRef(0), 1) });
    assert!(f.d.reads < 10_000, "{} reads", f.d.reads);
    assert_eq!((p.stats().dictionary_errors, p.stats().log_records), (1, 0));
    // a shallow shared reference is fine
    let leaf = f.d.value(&AnyValue::String("leaf".into()));
    let two = f.d.value(&AnyValue::Array(vec![AnyValue::ValueRef(leaf), AnyValue::ValueRef(leaf)]));
    p.on_event(&mut f.d, Event { body: Some(AnyValue::ValueRef(two)), ..event(f.scope, None, DictRef(0), 1) });
    let logs = all_items(&bodies(p.take_logs()));
    assert_eq!(any(&logs[0].msg(5)), "[s:leaf,s:leaf]");
}

/// Throughput check for measurements (not a timing assertion).
#[test]
#[ignore]
fn bench_measurements_per_second() {
    let mut f = fx();
    let mut p = pipeline();
    let keys: Vec<DictRef> = (0..4).map(|i| f.d.string(&format!("http.attr{i}"))).collect();
    let m = f.d.metric("dur", f.scope, &Aggregation::Histogram { temporality: 1, boundaries: vec![1.0, 5.0, 10.0, 50.0, 100.0] });
    let n = 500_000u32;
    let t0 = std::time::Instant::now();
    for i in 0..n {
        p.on_measurement(&mut f.d, meas(m, vec![kv_str(keys[0], "GET"), kv_int(keys[1], 200 + (i % 5) as i64), kv_str(keys[2], "/api/users")], 5, NumberValue::Double(3.0)));
    }
    let dt = t0.elapsed().as_secs_f64();
    eprintln!("{n} measurements in {dt:.3}s: {:.0}/s", n as f64 / dt);
}

#[test]
fn stats_pairs_name_every_counter() {
    let st = PipelineStats { dictionary_errors: 7, open_spans: 2, ..Default::default() };
    let pairs = st.pairs();
    assert_eq!(pairs.len(), format!("{st:?}").matches(':').count());
    assert!(pairs.contains(&("dictionary_errors", 7)) && pairs.contains(&("open_spans", 2)));
}

#[test]
fn a_pipeline_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Pipeline>();
}
