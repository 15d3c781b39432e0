/**
 * The collector's own telemetry: `otlp_mmap.*` metrics (exported like any
 * other metrics batch) and the one-line summary it logs periodically.
 */
import * as os from 'node:os';
import { SIGNALS } from './config';
import { encodeSimpleMetrics, type SimpleMetric } from './otlp/encode';
import type { CollectorStats } from './collector';
import type { RingName } from './native';

const RINGS: RingName[] = ['events', 'spans', 'measurements'];
/** Native pipeline values that go up and down (not counters). */
const GAUGE_COUNTERS = new Set(['open_spans', 'open_span_bytes', 'pending_events', 'metric_streams']);

/** Encodes the collector's counters as an `ExportMetricsServiceRequest`. */
export function encodeSelfMetrics(stats: CollectorStats, version: string, startTimeUnixNano: bigint, nowUnixNano: bigint): Buffer {
  const metrics: SimpleMetric[] = [
    {
      name: 'otlp_mmap.file.dropped',
      description: 'Messages a writer dropped because a ring of its file was full (the file counters).',
      unit: '{message}',
      kind: 'sum',
      points: stats.files.flatMap((f) => RINGS.map((ring) => ({ attributes: { 'otlp_mmap.file': f.path, 'otlp_mmap.ring': ring }, value: f.dropped[ring] }))),
    },
    {
      name: 'otlp_mmap.file.skipped',
      description: 'Slots a dead writer claimed but never published, skipped when its file was finished.',
      unit: '{message}',
      kind: 'sum',
      points: stats.files.flatMap((f) => RINGS.map((ring) => ({ attributes: { 'otlp_mmap.file': f.path, 'otlp_mmap.ring': ring }, value: f.skipped[ring] }))),
    },
    {
      name: 'otlp_mmap.file.collect',
      description: 'Counters of the native collector per file: spans started/finished/incomplete/overflowed, events, measurements dropped or overflowed, bad records, ...',
      unit: '{item}',
      kind: 'sum',
      points: stats.files.flatMap((f) =>
        Object.entries(f.pipeline)
          .filter(([name]) => !GAUGE_COUNTERS.has(name))
          .map(([name, value]) => ({ attributes: { 'otlp_mmap.file': f.path, 'otlp_mmap.counter': name }, value })),
      ),
    },
    {
      name: 'otlp_mmap.file.open_spans',
      description: 'Spans started and not yet ended, per followed file.',
      unit: '{span}',
      kind: 'gauge',
      points: stats.files.filter((f) => f.state === 'live').map((f) => ({ attributes: { 'otlp_mmap.file': f.path }, value: f.openSpans })),
    },
    {
      name: 'otlp_mmap.collector.files',
      description: 'Files being followed.',
      unit: '{file}',
      kind: 'gauge',
      points: [{ attributes: {}, value: stats.files.filter((f) => f.state === 'live').length }],
    },
    {
      name: 'otlp_mmap.collector.read',
      description: 'Messages read from the rings of all files.',
      unit: '{message}',
      kind: 'sum',
      points: RINGS.map((ring) => ({ attributes: { 'otlp_mmap.ring': ring }, value: stats.read[ring] })),
    },
    {
      name: 'otlp_mmap.collector.exported',
      description: 'Batches delivered to the destination.',
      unit: '{batch}',
      kind: 'sum',
      points: SIGNALS.map((signal) => ({ attributes: { 'otlp_mmap.signal': signal }, value: stats.export[signal].exportedBatches })),
    },
    {
      name: 'otlp_mmap.collector.exported_bytes',
      description: 'Encoded bytes delivered.',
      unit: 'By',
      kind: 'sum',
      points: SIGNALS.map((signal) => ({ attributes: { 'otlp_mmap.signal': signal }, value: stats.export[signal].exportedBytes })),
    },
    {
      name: 'otlp_mmap.collector.failed',
      description: 'Batches dropped because the destination refused them for good.',
      unit: '{batch}',
      kind: 'sum',
      points: SIGNALS.map((signal) => ({ attributes: { 'otlp_mmap.signal': signal }, value: stats.export[signal].failedBatches })),
    },
    {
      name: 'otlp_mmap.collector.retries',
      description: 'Export attempts that failed and were retried.',
      unit: '{attempt}',
      kind: 'sum',
      points: SIGNALS.map((signal) => ({ attributes: { 'otlp_mmap.signal': signal }, value: stats.export[signal].retries })),
    },
    {
      name: 'otlp_mmap.collector.rejected',
      description: 'Items the destination rejected in partial-success responses.',
      unit: '{item}',
      kind: 'sum',
      points: SIGNALS.map((signal) => ({ attributes: { 'otlp_mmap.signal': signal }, value: stats.export[signal].rejected })),
    },
    { name: 'otlp_mmap.queue.bytes', description: 'Encoded bytes waiting for export or in flight.', unit: 'By', kind: 'gauge', points: [{ attributes: {}, value: stats.queue.bytes }] },
    { name: 'otlp_mmap.queue.batches', description: 'Batches waiting for export or in flight.', unit: '{batch}', kind: 'gauge', points: [{ attributes: {}, value: stats.queue.batches }] },
    {
      name: 'otlp_mmap.queue.dropped',
      description: 'Batches dropped (oldest first) because the export queue was full.',
      unit: '{batch}',
      kind: 'sum',
      points: [{ attributes: {}, value: stats.queue.droppedBatches }],
    },
    { name: 'otlp_mmap.queue.dropped_bytes', description: 'Bytes of the batches dropped from the full queue.', unit: 'By', kind: 'sum', points: [{ attributes: {}, value: stats.queue.droppedBytes }] },
    { name: 'otlp_mmap.collector.file_errors', description: 'Files that could not be read (corrupt or not otlp-mmap).', unit: '{file}', kind: 'sum', points: [{ attributes: {}, value: stats.fileErrors }] },
  ];
  return encodeSimpleMetrics({
    resource: { 'service.name': 'otlp-mmap-collector', 'service.version': version, 'host.name': os.hostname(), 'process.pid': process.pid },
    scope: { name: 'otlp-mmap/collector', version },
    metrics,
    startTimeUnixNano,
    timeUnixNano: nowUnixNano,
  });
}

function kib(n: number): string {
  return n < 1024 ? `${n}B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)}KiB` : `${(n / 1024 / 1024).toFixed(1)}MiB`;
}

/** The periodic one-line summary. */
export function summaryLine(stats: CollectorStats): string {
  const live = stats.files.filter((f) => f.state === 'live').length;
  const fileDrops = RINGS.map((r) => stats.files.reduce((n, f) => n + f.dropped[r], 0));
  const ex = stats.export;
  return [
    `summary: files=${live}`,
    `read events=${stats.read.events} spans=${stats.read.spans} measurements=${stats.read.measurements}`,
    `exported batches traces=${ex.traces.exportedBatches} metrics=${ex.metrics.exportedBatches} logs=${ex.logs.exportedBatches}`,
    `failed=${ex.traces.failedBatches + ex.metrics.failedBatches + ex.logs.failedBatches} retries=${ex.traces.retries + ex.metrics.retries + ex.logs.retries}`,
    `queue=${kib(stats.queue.bytes)}/${stats.queue.batches} dropped=${stats.queue.droppedBatches}`,
    `file drops events=${fileDrops[0]} spans=${fileDrops[1]} measurements=${fileDrops[2]}`,
  ].join(' | ');
}
