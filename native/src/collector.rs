//! Drives one file through the collector pipeline: reads the rings in the order
//! the pipeline needs (spans, pending events, events, queued ends, measurements),
//! and hands back encoded OTLP batches. This is everything the JS collector calls
//! per file; JS only schedules polls and moves the bytes.

use crate::collect::{Encoded, EntrySource, Pipeline, PipelineConfig, PipelineStats};
use crate::file::layout::{DictRef, RingKind};
use crate::reader::Reader;
use crate::wire::decode;
use std::path::Path;

impl EntrySource for Reader {
    fn entry(&mut self, r: DictRef) -> Result<Vec<u8>, String> {
        Reader::entry(self, r)
    }
}

/// Most errors kept per poll (the rest are only counted).
const MAX_ERRORS: usize = 16;

/// What one poll produced.
#[derive(Default)]
pub struct PollOutput {
    pub traces: Vec<Encoded>,
    pub logs: Vec<Encoded>,
    /// Records read per ring (events, spans, measurements).
    pub read: [u64; 3],
    /// Records left in each ring after the poll (events, spans, measurements).
    pub backlog: [u64; 3],
    pub errors: Vec<String>,
}

pub struct FileCollector {
    pub reader: Reader,
    pub pipeline: Pipeline,
    max_per_poll: usize,
    /// Records read per ring since the file was opened.
    pub total_read: [u64; 3],
    pub bad_records: u64,
}

impl FileCollector {
    pub fn open(path: &Path, cfg: PipelineConfig, max_per_poll: usize) -> Result<FileCollector, String> {
        Ok(FileCollector { reader: Reader::open(path)?, pipeline: Pipeline::new(cfg), max_per_poll: max_per_poll.max(1), total_read: [0; 3], bad_records: 0 })
    }

    fn note(out: &mut PollOutput, bad: &mut u64, pipeline: &mut Pipeline, e: String) {
        *bad += 1;
        pipeline.count_bad_record();
        if out.errors.len() < MAX_ERRORS {
            out.errors.push(e);
        }
    }

    /// Reads what is published (with `writer_dead`, also skips slots a dead writer
    /// claimed but never published) and returns finished traces and logs.
    pub fn poll(&mut self, writer_dead: bool) -> PollOutput {
        let mut out = PollOutput::default();
        if let Err(e) = self.reader.refresh() {
            out.errors.push(e);
        }
        self.pipeline.set_time(crate::file::create::now_unix_nano());
        let max = self.max_per_poll;

        // 1. spans: starts/updates apply now, ends are queued by the pipeline.
        let mut spans = Vec::new();
        let mut errs = Vec::new();
        out.read[1] = self.reader.read_raw(RingKind::Spans, max, writer_dead, |(seq, r)| match r.and_then(decode::span_event) {
            Ok(m) => spans.push(m),
            Err(e) => errs.push(format!("spans ring, record {seq}: {e}")),
        }) as u64;
        for m in spans {
            self.pipeline.on_span_event(&mut self.reader, m);
        }
        // 2. events left pending by the previous poll.
        self.pipeline.after_spans(&mut self.reader);
        // 3. events.
        let mut events = Vec::new();
        out.read[0] = self.reader.read_raw(RingKind::Events, max, writer_dead, |(seq, r)| match r.and_then(decode::event) {
            Ok(m) => events.push(m),
            Err(e) => errs.push(format!("events ring, record {seq}: {e}")),
        }) as u64;
        for m in events {
            self.pipeline.on_event(&mut self.reader, m);
        }
        // 4. queued ends.
        self.pipeline.end_of_poll(&mut self.reader);
        // 5. measurements.
        let mut ms = Vec::new();
        out.read[2] = self.reader.read_raw(RingKind::Measurements, max, writer_dead, |(seq, r)| match r.and_then(decode::measurement) {
            Ok(m) => ms.push(m),
            Err(e) => errs.push(format!("measurements ring, record {seq}: {e}")),
        }) as u64;
        for m in ms {
            self.pipeline.on_measurement(&mut self.reader, m);
        }
        for e in errs {
            Self::note(&mut out, &mut self.bad_records, &mut self.pipeline, e);
        }
        for i in 0..3 {
            self.total_read[i] += out.read[i];
        }
        out.traces = self.pipeline.take_traces();
        out.logs = self.pipeline.take_logs();
        for (i, ring) in [RingKind::Events, RingKind::Spans, RingKind::Measurements].into_iter().enumerate() {
            out.backlog[i] = self.reader.backlog(ring).max(0) as u64;
        }
        out
    }

    pub fn collect_metrics(&mut self) -> Option<Vec<u8>> {
        let now = crate::file::create::now_unix_nano();
        self.pipeline.collect_metrics(&mut self.reader, now)
    }

    /// The writer is gone: drain everything (skipping slots it claimed but never
    /// published), export open spans as incomplete, and return all that is left.
    pub fn finish(&mut self) -> (PollOutput, Option<Vec<u8>>) {
        let mut all = PollOutput::default();
        loop {
            let o = self.poll(true);
            let n: u64 = o.read.iter().sum();
            all.traces.extend(o.traces);
            all.logs.extend(o.logs);
            all.errors.extend(o.errors);
            for i in 0..3 {
                all.read[i] += o.read[i];
            }
            all.backlog = o.backlog;
            if n == 0 {
                break;
            }
        }
        // One more pass turns events still pending into logs.
        self.pipeline.after_spans(&mut self.reader);
        self.pipeline.end_of_poll(&mut self.reader);
        let now = crate::file::create::now_unix_nano();
        self.pipeline.finish_incomplete(&mut self.reader, now);
        all.traces.extend(self.pipeline.take_traces());
        all.logs.extend(self.pipeline.take_logs());
        let metrics = self.collect_metrics();
        (all, metrics)
    }

    pub fn stats(&self) -> PipelineStats {
        self.pipeline.stats()
    }
}

#[cfg(test)]
mod untrusted_file_tests {
    //! Every file is untrusted input: corrupt files give a clear error for that file or
    //! skipped, counted records, and never a panic, an out-of-bounds read or an unbounded
    //! allocation. (A read outside the mapping would kill this test process with SIGBUS or
    //! SIGSEGV, so "the test finished" is itself the bounds check.)

    use super::*;
    use crate::file::layout::*;
    use crate::recorder::args::Tag;
    use crate::recorder::tests::{opts, scope, temp, Call};
    use crate::collect::tests::Rng;
    use crate::recorder::Recorder;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    /// A small valid file holding spans, events, measurements and dictionary entries.
    fn valid_file(name: &str) -> (std::path::PathBuf, Vec<u8>) {
        let p = temp(name);
        let mut rec = Recorder::open(&p, &opts(16, 256), false).unwrap();
        let sc = scope(&mut rec);
        let key = rec.intern("http.route").unwrap();
        for i in 0..5u8 {
            let start = Call::default().f64(sc as f64).raw(&[9; 16]).raw(&[i + 1; 8]).u8(0).raw(&[0; 8]).u32(1).u8(2).time(Some(10)).blob(b"GET /x").attrs(&[(key, "/x")]);
            rec.span_start(&mut start.args()).unwrap();
            let ev = Call::default().f64(sc as f64).u8(1).raw(&[9; 16]).raw(&[i + 1; 8]).u32(1).f64(0.0).time(Some(11)).attrs(&[(key, "e")]).u8(9).blob(b"INFO").u8(1).u8(Tag::STRING).blob(b"body");
            rec.event(&mut ev.args()).unwrap();
            if i % 2 == 0 {
                let end = Call::default().f64(sc as f64).raw(&[9; 16]).raw(&[i + 1; 8]).time(Some(12)).u8(1).u8(2).blob(b"boom").u8(0).blob(b"").u32(0);
                rec.span_end(&mut end.args()).unwrap();
            }
        }
        let metric = rec
            .create_metric(&mut Call::default().f64(sc as f64).blob(b"m").blob(b"").blob(b"1").u8(3).u8(2).u8(0).u32(2).f64(1.0).f64(10.0).u64(0).u64(0).u8(0).args())
            .unwrap();
        for v in [0.5f64, 5.0, 50.0] {
            let m = Call::default().f64(metric as f64).attrs(&[(key, "/x")]).time(Some(13)).u8(1).u64(v.to_bits()).u8(0);
            rec.measurement(&mut m.args()).unwrap();
        }
        drop(rec);
        let bytes = std::fs::read(&p).unwrap();
        (p, bytes)
    }

    /// Opens `bytes` as a file and runs everything the collector does with it.
    /// Returns the open error, if any. Panics are caught and reported as failures.
    fn collect_all(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
        std::fs::write(path, bytes).unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<(), String> {
            let cfg = PipelineConfig { max_open_spans: 64, max_metric_cells: 10_000, ..PipelineConfig::default() };
            let mut c = FileCollector::open(path, cfg, 64)?;
            for _ in 0..3 {
                c.poll(false);
            }
            c.collect_metrics();
            c.finish();
            let _ = c.stats();
            Ok(())
        }));
        match outcome {
            Ok(r) => r,
            Err(_) => panic!("the collector panicked on a corrupt file"),
        }
    }

    fn put_i64(b: &mut [u8], at: usize, v: i64) {
        b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn a_valid_file_collects_without_errors() {
        let (p, bytes) = valid_file("valid-collect");
        collect_all(&p, &bytes).unwrap();
    }

    #[test]
    fn truncated_files_give_an_error_or_skip_records_never_a_crash() {
        let (p, bytes) = valid_file("truncated");
        for len in [0, 1, 8, 63, 64, 100, 200, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
            let r = collect_all(&p, &bytes[..len]);
            if len < 64 {
                let e = r.expect_err("a file shorter than its header must be refused");
                assert!(e.contains("header") || e.contains("shorter"), "{e}");
            }
        }
    }

    #[test]
    fn random_bytes_and_wrong_versions_are_refused_clearly() {
        let (p, mut bytes) = valid_file("random");
        let mut rng = Rng(7);
        let mut noise = vec![0u8; bytes.len()];
        for b in noise.iter_mut() {
            *b = rng.next() as u8;
        }
        let e = collect_all(&p, &noise).expect_err("random bytes are not a v1 file");
        assert!(e.contains("version"), "{e}");
        put_i64(&mut bytes, H_VERSION as usize, 2);
        let e = collect_all(&p, &bytes).expect_err("version 2 is refused");
        assert!(e.contains("unsupported version 2"), "{e}");
    }

    #[test]
    fn offsets_past_the_end_and_overlapping_regions_are_refused() {
        let (p, bytes) = valid_file("offsets");
        for (field, v) in [(H_SPANS, i64::MAX), (H_EVENTS, bytes.len() as i64 + 8), (H_DICTIONARY, 1 << 40), (H_MEASUREMENTS, -8), (H_SPANS, 64)] {
            let mut b = bytes.clone();
            put_i64(&mut b, field as usize, v);
            let e = collect_all(&p, &b).expect_err("a bad region offset is refused");
            assert!(!e.is_empty());
        }
        // A ring claiming more slots than the file holds.
        let mut b = bytes.clone();
        let spans = i64::from_le_bytes(bytes[H_SPANS as usize..H_SPANS as usize + 8].try_into().unwrap()) as usize;
        put_i64(&mut b, spans + R_NUM_BUFFERS as usize, 1 << 20);
        assert!(collect_all(&p, &b).unwrap_err().contains("past the end"));
    }

    #[test]
    fn huge_lengths_in_slots_and_dictionary_entries_are_skipped_and_counted() {
        let (p, bytes) = valid_file("huge");
        let spans = i64::from_le_bytes(bytes[H_SPANS as usize..H_SPANS as usize + 8].try_into().unwrap()) as usize;
        let n = 16usize;
        let first_slot = spans + RING_HEADER_SIZE as usize + 4 * n;
        let mut b = bytes.clone();
        // Slot 0's length prefix: a 10-byte varint for u64::MAX.
        b[first_slot..first_slot + 10].copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        std::fs::write(&p, &b).unwrap();
        let mut c = FileCollector::open(&p, PipelineConfig::default(), 64).unwrap();
        let out = c.poll(false);
        assert!(out.errors.iter().any(|e| e.contains("exceeds the slot")), "{:?}", out.errors);
        assert_eq!(c.bad_records, 1);
        // The rest of the ring is still read.
        assert!(out.read[1] > 1);
        // A dictionary entry whose length runs past the end.
        let dict = i64::from_le_bytes(bytes[H_DICTIONARY as usize..H_DICTIONARY as usize + 8].try_into().unwrap()) as usize;
        let first_entry = dict + DICT_HEADER_SIZE as usize;
        let mut b = bytes.clone();
        b[first_entry..first_entry + 5].copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        collect_all(&p, &b).unwrap();
    }

    #[test]
    fn a_value_ref_cycle_ends_in_an_error() {
        let p = temp("cycle");
        let rec = Recorder::open(&p, &opts(16, 256), false).unwrap();
        drop(rec);
        // Append a dictionary entry holding AnyValue{value_ref = itself}.
        let mut rd = Reader::open(&p).unwrap();
        let end = rd.layout.dict.end(rd.map()) as u64;
        let mut body = vec![0x40];
        let mut tmp = [0u8; 10];
        let n = crate::wire::encode::put_varint(&mut tmp, end);
        body.extend_from_slice(&tmp[..n]);
        let r = rd.layout.dict.append(rd.map(), &body, rd.map().reserved()).unwrap();
        assert_eq!(r.0 as u64, end);
        let e = rd.value_ref(r, 0).expect_err("a cycle is refused");
        assert!(e.contains("deeper"), "{e}");
    }

    #[test]
    fn thousands_of_randomly_mutated_files_never_crash_the_collector() {
        let (p, bytes) = valid_file("mutations");
        let mut rng = Rng(0x5eed);
        let rounds: usize = std::env::var("OTLP_MMAP_MUTATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
        let (mut refused, mut collected) = (0, 0);
        for _ in 0..rounds {
            let mut b = bytes.clone();
            match rng.next() % 10 {
                // A few random bytes anywhere.
                0..=5 => {
                    for _ in 0..1 + rng.next() % 8 {
                        let at = (rng.next() as usize) % b.len();
                        b[at] = rng.next() as u8;
                    }
                }
                // An aligned 64-bit field of the header, a ring header or the dictionary header.
                6 | 7 => {
                    let at = (rng.next() as usize % (b.len() / 8)) * 8;
                    let v = [0, -1, 1, i64::MAX, i64::MIN, b.len() as i64, rng.next() as i64][rng.next() as usize % 7];
                    put_i64(&mut b, at, v);
                }
                // Truncated.
                8 => b.truncate((rng.next() as usize) % b.len()),
                // A run of noise.
                _ => {
                    let at = (rng.next() as usize) % b.len();
                    let len = (rng.next() as usize % 512).min(b.len() - at);
                    for x in &mut b[at..at + len] {
                        *x = rng.next() as u8;
                    }
                }
            }
            match collect_all(&p, &b) {
                Ok(()) => collected += 1,
                Err(_) => refused += 1,
            }
        }
        eprintln!("{rounds} mutated files: {collected} collected, {refused} refused with an error");
        // Both paths must be exercised: files refused at open (bad headers) and files whose
        // damaged records are read, skipped and counted.
        assert!(collected > rounds / 50 && refused > rounds / 50, "{collected} collected, {refused} refused");
    }
}
