//! Unit tests of the recorder against the file layer (the JS suites test the API).

use super::args::Tag;
use super::*;
use crate::file::create::CreateOptions;
use crate::file::layout::RingGeometry;
use crate::reader::Reader;
use crate::wire::{decode, messages::*};

/// Builds a call buffer the way index.js does.
#[derive(Default)]
pub(crate) struct Call(pub Vec<u8>);
impl Call {
    pub fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn f64(mut self, v: f64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    pub fn blob(self, b: &[u8]) -> Self {
        self.u32(b.len() as u32).raw(b)
    }
    pub fn time(self, t: Option<u64>) -> Self {
        self.u8(t.is_some() as u8).u64(t.unwrap_or(0))
    }
    /// String attributes with already-interned keys.
    pub fn attrs(mut self, kv: &[(i64, &str)]) -> Self {
        self = self.u32(kv.len() as u32);
        for (k, v) in kv {
            self = self.f64(*k as f64).u8(Tag::STRING).blob(v.as_bytes());
        }
        self
    }
    pub fn args(&self) -> Args<'_> {
        Args::new(&self.0)
    }
}

pub(crate) fn opts(slots: u64, slot: u64) -> CreateOptions {
    let g = RingGeometry { num_buffers: slots, buffer_size: slot };
    CreateOptions { events: g, spans: g, measurements: g, initial_dictionary_bytes: 4096, max_dictionary_bytes: 1 << 20, mode: 0o600 }
}

pub(crate) fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("otlp-mmap-rs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

pub(crate) fn scope(rec: &mut Recorder) -> i64 {
    let res = rec.create_resource(&mut Call::default().attrs(&[]).blob(b"").args()).unwrap();
    rec.create_scope(&mut Call::default().f64(res as f64).blob(b"scope").u8(1).blob(b"1.0").attrs(&[]).args()).unwrap()
}

fn start_call(scope: i64, span: u8, attrs: &[(i64, &str)]) -> Call {
    Call::default().f64(scope as f64).raw(&[7; 16]).raw(&[span; 8]).u8(0).raw(&[0; 8]).u32(1).u8(2).time(Some(42)).blob(b"GET /x").attrs(attrs)
}

#[test]
fn span_start_round_trips_through_the_reader() {
    let p = temp("roundtrip");
    let mut rec = Recorder::open(&p, &opts(16, 256), false).unwrap();
    let sc = scope(&mut rec);
    let k = rec.intern("http.route").unwrap();
    rec.span_start(&mut start_call(sc, 1, &[(k, "/x")]).args()).unwrap();
    let mut rd = Reader::open(&p).unwrap();
    let mut got = Vec::new();
    rd.read_raw(RingKind::Spans, 10, false, |(_, r)| got.push(decode::span_event(r.unwrap()).unwrap()));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].scope_ref, DictRef(sc));
    match &got[0].event {
        Some(SpanEventKind::Start(s)) => {
            assert_eq!(s.name, "GET /x");
            assert_eq!(s.kind, 2);
            assert_eq!(s.start_time_unix_nano, 42);
            assert_eq!(s.attributes.len(), 1);
            assert_eq!(rd.string(s.attributes[0].key_ref).unwrap(), "http.route");
            assert_eq!(s.attributes[0].value, Some(AnyValue::String("/x".into())));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_full_ring_drops_and_counts_without_waiting() {
    let p = temp("full");
    let mut rec = Recorder::open(&p, &opts(8, 128), false).unwrap();
    let sc = scope(&mut rec);
    for i in 0..80 {
        rec.span_start(&mut start_call(sc, i as u8, &[]).args()).unwrap();
    }
    let s = rec.stats();
    assert_eq!(s.written[RingKind::Spans.index()], 7);
    assert_eq!(s.dropped_in_file[RingKind::Spans.index()], 73);
}

#[test]
fn oversized_start_is_split_into_attribute_updates() {
    let p = temp("split");
    let mut rec = Recorder::open(&p, &opts(64, 256), false).unwrap();
    let sc = scope(&mut rec);
    let keys: Vec<i64> = (0..20).map(|i| rec.intern(&format!("k{i}")).unwrap()).collect();
    let val = "v".repeat(60);
    let kv: Vec<(i64, &str)> = keys.iter().map(|k| (*k, val.as_str())).collect();
    rec.span_start(&mut start_call(sc, 1, &kv).args()).unwrap();
    let mut rd = Reader::open(&p).unwrap();
    let mut n_attrs = 0;
    let mut msgs = 0;
    rd.read_raw(RingKind::Spans, 100, false, |(_, r)| {
        msgs += 1;
        match decode::span_event(r.unwrap()).unwrap().event {
            Some(SpanEventKind::Start(s)) => n_attrs += s.attributes.len(),
            Some(SpanEventKind::Attributes(a)) => n_attrs += a.len(),
            other => panic!("unexpected {other:?}"),
        }
    });
    assert_eq!(n_attrs, 20);
    assert!(msgs > 1);
}

#[test]
#[ignore]
fn bench_span_start_end() {
    let p = temp("bench");
    let mut rec = Recorder::open(&p, &opts(1 << 16, 512), false).unwrap();
    let sc = scope(&mut rec);
    let keys: Vec<i64> = (0..8).map(|i| rec.intern(&format!("key.number.{i}")).unwrap()).collect();
    let kv: Vec<(i64, &str)> = keys.iter().map(|k| (*k, "some-value")).collect();
    let call = start_call(sc, 1, &kv);
    let end = Call::default().f64(sc as f64).raw(&[7; 16]).raw(&[1; 8]).time(None).u8(0).u8(0).u32(0).u8(0).u32(0).u32(0);
    let n: usize = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let t = std::time::Instant::now();
    for _ in 0..n {
        rec.span_start(&mut call.args()).unwrap();
        rec.span_end(&mut end.args()).unwrap();
    }
    eprintln!("start+end, 8 attrs: {:.0} ns", t.elapsed().as_nanos() as f64 / n as f64);
}

#[test]
fn remembered_scopes_do_not_let_other_refs_through() {
    let p = temp("scope-cache");
    let mut rec = Recorder::open(&p, &opts(64, 512), false).unwrap();
    let res = rec.create_resource(&mut Call::default().attrs(&[]).blob(b"").args()).unwrap();
    let mk = |rec: &mut Recorder, name: &[u8]| rec.create_scope(&mut Call::default().f64(res as f64).blob(name).u8(1).blob(b"1.0").attrs(&[]).args()).unwrap();
    // Nothing is remembered before the first check: no ref passes unchecked.
    for bad in [-1, 0, res] {
        assert!(rec.span_start(&mut start_call(bad, 1, &[]).args()).is_err(), "{bad}");
    }
    let (a, b, c) = (mk(&mut rec, b"a"), mk(&mut rec, b"b"), mk(&mut rec, b"c"));
    // Alternating between two scopes, then a third: every call is accepted.
    for s in [a, b, a, b, c, a, c] {
        rec.span_start(&mut start_call(s, 1, &[]).args()).unwrap();
    }
    // Refs that are not scopes are still refused, whatever was remembered.
    let key = rec.intern("k").unwrap();
    for bad in [res, key, a + 1, -1, 0] {
        let e = rec.span_start(&mut start_call(bad, 1, &[]).args()).unwrap_err();
        assert!(format!("{e:?}").contains("scopeRef must be an instrumentation scope ref"), "{bad}: {e:?}");
    }
    rec.span_start(&mut start_call(c, 1, &[]).args()).unwrap();
    std::fs::remove_file(&p).ok();
}

/// A JS-encoded attribute list: a string and an int, the string `len` bytes long.
fn set_list(len: usize) -> Vec<u8> {
    let s = "x".repeat(len);
    let mut c = Call::default().u32(2).f64(11.0).u8(Tag::STRING).blob(s.as_bytes());
    c = c.f64(12.0).u8(Tag::INT_NUMBER).f64(200.0);
    c.0
}

fn encode(v: &mut args::ValueEncoder, call: &[u8], field: u32) -> (Vec<u8>, Vec<(usize, usize)>) {
    let (mut out, mut ranges) = (Vec::new(), Vec::new());
    let mut a = Args::new(call);
    v.attributes(&mut a, field, &mut out, &mut ranges).unwrap();
    assert_eq!(a.remaining(), 0);
    (out, ranges)
}

#[test]
fn a_registered_attribute_set_writes_what_its_list_writes() {
    let mut v = args::ValueEncoder::new();
    let list = set_list(40);
    let id = v.register_set(&list).unwrap().unwrap();
    let by_id = Call::default().u32(args::SET_MARKER).u32(id).0;
    // Every field number and value limit: the same bytes and ranges as the list itself, and the
    // same truncation count, on first use (encoded then) and on later uses (copied).
    for (field, limit) in [(9, usize::MAX), (2, usize::MAX), (9, 10), (2, 10), (9, usize::MAX)] {
        for _ in 0..2 {
            v.value_limit = limit;
            let t0 = v.truncated;
            let direct = encode(&mut v, &list, field);
            let t1 = v.truncated;
            let named = encode(&mut v, &by_id, field);
            assert_eq!(named, direct, "field {field}, limit {limit}");
            assert_eq!(v.truncated - t1, t1 - t0, "field {field}, limit {limit}");
            assert_eq!(t1 - t0, u64::from(limit == 10));
        }
    }
}

#[test]
fn attribute_set_registration_checks_the_list_and_is_bounded() {
    let mut v = args::ValueEncoder::new();
    // Not a list: the marker as its count, trailing bytes, a bad value tag, a cut-off entry.
    let marker = Call::default().u32(args::SET_MARKER).u32(0).0;
    let mut trailing = set_list(3);
    trailing.push(0);
    let bad_tag = Call::default().u32(1).f64(11.0).u8(99).0;
    let short = &set_list(3)[..10];
    for bad in [&marker[..], &trailing, &bad_tag, short] {
        assert!(v.register_set(bad).is_err());
    }
    // An unknown id is refused, not read out of bounds.
    let (mut out, mut ranges) = (Vec::new(), Vec::new());
    let unknown = Call::default().u32(args::SET_MARKER).u32(7).0;
    assert!(v.attributes(&mut Args::new(&unknown), 9, &mut out, &mut ranges).is_err());
    // At most 4096 sets; then None (the caller keeps sending its list).
    let list = set_list(1);
    for i in 0..4096 {
        assert_eq!(v.register_set(&list).unwrap(), Some(i));
    }
    assert_eq!(v.register_set(&list).unwrap(), None);
    // And at most 8 MiB of them.
    let mut w = args::ValueEncoder::new();
    let big = set_list(1 << 20);
    let mut n = 0;
    while w.register_set(&big).unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 7);
}

/// The entries of a list made by `set_list` (its bytes after the count).
fn entries(list: &[u8]) -> &[u8] {
    &list[4..]
}

#[test]
fn two_parts_write_what_one_list_of_both_writes() {
    let mut v = args::ValueEncoder::new();
    let (a, b) = (set_list(5), set_list(300));
    let id_a = v.register_set(&a).unwrap().unwrap();
    let id_b = v.register_set(&b).unwrap().unwrap();
    let both = [&Call::default().u32(4).0[..], entries(&a), entries(&b)].concat();
    let list_a = Call::default().u32(args::PARTS_MARKER).0;
    let by_id = |id: u32| Call::default().u32(args::SET_MARKER).u32(id).0;
    // Each part a list or a set, in every pairing; each set used first and again (copied), at
    // two field numbers and with a value limit that cuts the second list's string.
    for (field, limit) in [(9, usize::MAX), (9, 10), (2, usize::MAX), (9, 10), (9, usize::MAX)] {
        v.value_limit = limit;
        let t0 = v.truncated;
        let direct = encode(&mut v, &both, field);
        let per_call = v.truncated - t0;
        assert_eq!(per_call, u64::from(limit == 10));
        for (first, second) in [
            (a.clone(), b.clone()),
            (by_id(id_a), b.clone()),
            (a.clone(), by_id(id_b)),
            (by_id(id_a), by_id(id_b)),
        ] {
            let call = [&list_a[..], &first, &second].concat();
            let t1 = v.truncated;
            assert_eq!(encode(&mut v, &call, field), direct, "field {field}, limit {limit}");
            assert_eq!(v.truncated - t1, per_call);
        }
    }
    // Parts do not nest, and a part may not be missing.
    let nested = [&list_a[..], &list_a, &a, &b, &b].concat();
    let one = [&list_a[..], &a].concat();
    for bad in [&nested, &one] {
        let (mut out, mut ranges) = (Vec::new(), Vec::new());
        assert!(v.attributes(&mut Args::new(bad), 9, &mut out, &mut ranges).is_err());
    }
    // Nor can a set be registered as parts.
    assert!(v.register_set(&[&list_a[..], &a, &b].concat()).is_err());
}

#[test]
fn a_freed_attribute_set_is_refused_and_its_place_taken_again() {
    let mut v = args::ValueEncoder::new();
    let list = set_list(3);
    for i in 0..4096 {
        assert_eq!(v.register_set(&list).unwrap(), Some(i));
    }
    assert_eq!(v.register_set(&list).unwrap(), None);
    assert_eq!(v.live_sets(), 4096);
    // Used once (an encoding is kept), then freed: its id is refused, and freeing twice, or an id
    // never registered, reports false.
    let by_id = Call::default().u32(args::SET_MARKER).u32(17).0;
    let before = encode(&mut v, &by_id, 9);
    assert!(v.free_set(17));
    assert!(!v.free_set(17));
    assert!(!v.free_set(4096));
    assert_eq!(v.live_sets(), 4095);
    let (mut out, mut ranges) = (Vec::new(), Vec::new());
    assert!(v.attributes(&mut Args::new(&by_id), 9, &mut out, &mut ranges).is_err());
    // The next registration takes the freed place, with its own list.
    let other = set_list(9);
    assert_eq!(v.register_set(&other).unwrap(), Some(17));
    assert_eq!(v.register_set(&list).unwrap(), None);
    let after = encode(&mut v, &by_id, 9);
    assert_eq!(after, encode(&mut v, &other, 9));
    assert_ne!(after, before);
    // The bytes the sets hold are given back too: with 8 MiB of sets, freeing one makes room.
    let mut w = args::ValueEncoder::new();
    let big = set_list(1 << 20);
    let mut ids = Vec::new();
    while let Some(id) = w.register_set(&big).unwrap() {
        ids.push(id);
    }
    assert_eq!(ids.len(), 7);
    let by_id = Call::default().u32(args::SET_MARKER).u32(ids[3]).0;
    encode(&mut w, &by_id, 9); // its encoding counts against the bytes as well
    assert_eq!(w.register_set(&big).unwrap(), None);
    assert!(w.free_set(ids[3]));
    assert_eq!(w.register_set(&big).unwrap(), Some(ids[3]));
}
