//! Drives one file through the collector pipeline: reads the rings in the order
//! the pipeline needs (spans, pending events, events, queued ends, measurements),
//! and hands back encoded OTLP batches. This is everything the JS collector calls
//! per file; JS only schedules polls and moves the bytes.

use crate::collect::{EntrySource, Pipeline, PipelineConfig, PipelineStats};
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
    pub traces: Vec<Vec<u8>>,
    pub logs: Vec<Vec<u8>>,
    /// Records read per ring (events, spans, measurements).
    pub read: [u64; 3],
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
        out.read[1] = self.reader.read_raw(RingKind::Spans, max, writer_dead, |(seq, r)| match r.and_then(|b| decode::span_event(b)) {
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
        out.read[0] = self.reader.read_raw(RingKind::Events, max, writer_dead, |(seq, r)| match r.and_then(|b| decode::event(b)) {
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
        out.read[2] = self.reader.read_raw(RingKind::Measurements, max, writer_dead, |(seq, r)| match r.and_then(|b| decode::measurement(b)) {
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
