// A second reader agrees: the independent JS reader (DataView + protobufjs)
// and the native openReader() decode the same file to the same content,
// message by message and field by field: for a file our recorder wrote, and
// for a v1 file built byte by byte as another SDK would.
import * as fs from 'node:fs';
import { openReader, openRecorder } from '../index';
import { JsAnyValue, JsKeyValue, JsSpanContext, MmapFile, readMmapFile, RingName, RING_NAMES } from './support/mmap-reader';
import { V1FileBuilder } from './fixtures/recorder/v1-file-builder';
import { bytesOf, tempDir, toHex } from './fixtures/recorder/helpers';

const tmp = tempDir('recorder-second-reader');
afterAll(() => tmp.cleanup());

type Plain = Record<string, unknown>;

/** Replaces bytes by their hex, recursively, so both readers' values compare as data. */
function canon(v: unknown): unknown {
  if (v instanceof Uint8Array) return { hex: toHex(v) };
  if (Array.isArray(v)) return v.map(canon);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, canon(x)]));
  return v;
}

const value = (v: JsAnyValue | undefined): unknown => {
  if (v === undefined || v === null) return null;
  if ('array' in v) return { array: v.array.map(value) };
  if ('kvlist' in v) return { kvlist: kvs(v.kvlist) };
  return v;
};
const kvs = (list: JsKeyValue[]): Plain[] => list.map((kv) => ({ key: kv.key, value: value(kv.value) }));
const ctx = (c: JsSpanContext | undefined): Plain | null => (c ? { traceId: c.traceId, spanId: c.spanId, traceFlags: c.flags } : null);

/** The JS reader's messages in the native reader's documented shape (ids hex, times bigint, refs resolved where it resolves them). */
function jsMessages(f: MmapFile, ring: RingName): Plain[] {
  if (ring === 'spans') {
    return f.spans.messages.map(({ seq, message: m }) => {
      const base = { ring, seq, scopeRef: m.scopeRef, traceId: m.traceId, spanId: m.spanId };
      const e = m.event;
      switch (e.type) {
        case 'start':
          return { ...base, type: 'start', parentSpanId: e.parentSpanId || null, flags: e.flags, kind: e.kind, name: e.name, startTimeUnixNano: e.startTimeUnixNano, attributes: kvs(e.attributes) };
        case 'end':
          return { ...base, type: 'end', endTimeUnixNano: e.endTimeUnixNano, status: e.status ?? null };
        case 'name':
          return { ...base, type: 'name', name: e.name };
        case 'attributes':
          return { ...base, type: 'attributes', attributes: kvs(e.attributes) };
        case 'link':
          return {
            ...base,
            type: 'links',
            links: e.links.map((l) => ({ traceId: l.traceId, spanId: l.spanId, traceState: l.traceState, flags: l.flags, droppedAttributesCount: l.droppedAttributesCount, attributes: kvs(l.attributes) })),
          };
        default:
          return { ...base, type: 'none' };
      }
    });
  }
  if (ring === 'events') {
    return f.events.messages.map(({ seq, message: m }) => ({
      ring,
      seq,
      scopeRef: m.scopeRef,
      timeUnixNano: m.timeUnixNano,
      severityNumber: m.severityNumber,
      severityText: m.severityText,
      eventName: m.eventName,
      body: value(m.body),
      spanContext: ctx(m.spanContext),
      attributes: kvs(m.attributes),
    }));
  }
  return f.measurements.messages.map(({ seq, message: m }) => ({
    ring,
    seq,
    metricRef: m.metricRef,
    metric: f.resolveMetric(m.metricRef).name,
    timeUnixNano: m.timeUnixNano,
    value: m.value ?? null,
    attributes: kvs(m.attributes),
    spanContext: ctx(m.spanContext),
  }));
}

/** Reads every ring with both readers and compares. The JS reader goes first: the native one consumes. */
function expectReadersAgree(file: string): Record<RingName, number> {
  const f = readMmapFile(file);
  const reader = openReader(file);
  const counts = {} as Record<RingName, number>;
  try {
    const h = reader.header();
    expect(h.version).toBe(f.header.version);
    expect(BigInt(h.startTimeUnixNano)).toBe(f.header.startTimeUnixNano);
    expect(h.dropped).toEqual(f.dictionary.dropped);
    expect(h.dictionary).toEqual({ offset: f.dictionary.offset, end: f.dictionary.end, entries: f.dictionary.numEntries });
    for (const ring of RING_NAMES) {
      const hr = f[ring].header;
      expect(h.rings[ring]).toEqual({ offset: hr.offset, slots: hr.numBuffers, slotSize: hr.bufferSize, readerIndex: hr.readerIndex, writerIndex: hr.writerIndex });
      const native: unknown[] = [];
      for (;;) {
        const batch = reader.read(ring, 64);
        if (batch.length === 0) break;
        native.push(...batch);
      }
      expect(canon(native)).toEqual(canon(jsMessages(f, ring)));
      counts[ring] = native.length;
    }
  } finally {
    reader.close();
  }
  return counts;
}

const TRACE = bytesOf(16, 1);
const SPAN = bytesOf(8, 2);
const T = 1_700_000_000_123_456_789n;

describe('a second reader agrees', () => {
  test('the JS reader and the native reader decode a recorder-written file to the same content', () => {
    const p = tmp.file('recorded.mmap');
    const rec = openRecorder(p, { slots: 64, slotSize: 1024 });
    const res = rec.createResource({ 'service.name': 'agree' });
    const scope = rec.createInstrumentationScope(res, 'agree-lib', '2.0');
    const ints = rec.createMetricStream(scope, 'ints', '', '1', { type: 'sum', temporality: 'cumulative', isMonotonic: true }, { valueType: 'int' });
    const dbls = rec.createMetricStream(scope, 'dbls', '', 'ms', { type: 'histogram', temporality: 'delta', boundaries: [1, 10] });
    const evName = rec.recordString('app.event');
    const attrs = { s: 'héllo ✓', t: true, f: false, i: -42, d: 2.5, b: 2n ** 62n, by: bytesOf(3, 4), arr: ['x', 'y'], nums: [1, 2.5], empty: '' };
    rec.recordSpanStart(rec.createInstrumentationScope(res, 'other'), TRACE, SPAN, bytesOf(8, 9), 0x101, 'GET /', 2, T, attrs);
    rec.recordSpanStart(scope, toHex(TRACE), toHex(bytesOf(8, 3)), null, 0, '', 0, 0n);
    rec.recordSpanName(scope, TRACE, SPAN, 'GET /users');
    rec.recordSpanAttributes(scope, TRACE, SPAN, { 'http.status_code': 200 });
    rec.recordSpanLinks(scope, TRACE, SPAN, [{ traceId: bytesOf(16, 5), spanId: bytesOf(8, 5), traceState: 'a=1', traceFlags: 1, attributes: { l: 'x' }, droppedAttributesCount: 1 }]);
    rec.recordSpanEnd(scope, TRACE, SPAN, T + 5n, { code: 2, message: 'failed' });
    rec.recordSpanEnd(scope, TRACE, bytesOf(8, 3), undefined);
    rec.recordEvent(scope, { traceId: TRACE, spanId: SPAN, traceFlags: 1 }, evName, T, attrs, { severityNumber: 13, severityText: 'WARN', body: { msg: 'm', list: [1, 'two', false, bytesOf(2, 1)], nested: { deep: 1.25 } } });
    rec.recordEvent(scope, null, 0, T, null, { body: 'just a string' });
    rec.recordEvent(scope, null, 0, undefined);
    rec.recordMeasurement(ints, { route: '/a' }, T, 7, { traceId: TRACE, spanId: SPAN, traceFlags: 1 });
    rec.recordMeasurement(ints, null, T, -(2n ** 40n));
    rec.recordMeasurement(dbls, { route: '/b' }, undefined, 3.75);
    // A stand-in for a message too large, and a truncated value.
    const many: Record<string, string> = {};
    for (let k = 0; k < 40; k++) many[`k${k}`] = 'v'.repeat(40);
    rec.recordEvent(scope, null, 0, T, many);
    rec.recordSpanAttributes(scope, TRACE, SPAN, { huge: '€'.repeat(2000) });
    rec.close();
    const counts = expectReadersAgree(p);
    expect(counts).toEqual({ events: 4, spans: 8, measurements: 3 });
  });

  test('the two readers agree on a file built byte by byte as another v1 writer would (wrapped sequence numbers, drop counters)', () => {
    const b = new V1FileBuilder({ events: { slots: 8, slotSize: 256 }, spans: { slots: 8, slotSize: 256 }, measurements: { slots: 8, slotSize: 256 } });
    const key = b.string('k');
    const scope = b.entry('InstrumentationScope', { name_ref: b.string('foreign'), version_ref: 0 });
    const metric = b.entry('MetricRef', { name: 'foreign.metric', instrumentation_scope_ref: scope, gauge: {} });
    b.firstSeq = { events: 21, spans: 6, measurements: 0 };
    b.dropped = { events: 3, spans: 0, measurements: 9 };
    for (let i = 0; i < 5; i++) {
      b.message('events', 'Event', { scope_ref: scope, time_unix_nano: String(100 + i), severity_number: 5, attributes: [{ key_ref: key, value: { int_value: String(i) } }] });
      b.message('spans', 'SpanEvent', { scope_ref: scope, trace_id: Buffer.from(TRACE), span_id: Buffer.from(SPAN), start: { name: `s${i}`, kind: 3, start_time_unix_nano: String(i), attributes: [{ key_ref: key, value: { double_value: i + 0.5 } }] } });
      b.message('measurements', 'Measurement', { metric_ref: metric, time_unix_nano: String(i), as_double: i });
    }
    const p = tmp.file('foreign.mmap');
    fs.writeFileSync(p, b.build());
    expect(expectReadersAgree(p)).toEqual({ events: 5, spans: 5, measurements: 5 });
  });
});
