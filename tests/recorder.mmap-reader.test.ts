// The independent JS reader (tests/support/mmap-reader.ts) must itself follow
// PROTOCOL.md, or the recorder tests that rely on it prove nothing. These tests
// build v1 files byte by byte and check what the reader makes of them.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attributesObject, flagOf, MmapFormatError, readMmapFile, SHARED_PROTO, VENDORED_PROTO } from './support/mmap-reader';
import { V1FileBuilder } from './fixtures/recorder/v1-file-builder';

const geo = { slots: 8, slotSize: 128 };
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmap-reader-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function write(b: V1FileBuilder, name: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, b.build());
  return p;
}

describe('the test reader of otlp-mmap v1 files', () => {
  test("reads with the repository's copy of the shared schema, which is the same file wherever both are there", () => {
    expect(fs.existsSync(VENDORED_PROTO)).toBe(true);
    if (fs.existsSync(SHARED_PROTO)) expect(fs.readFileSync(VENDORED_PROTO, 'utf8')).toBe(fs.readFileSync(SHARED_PROTO, 'utf8'));
  });

  test('computes flag(i) by shifting the 64-bit sequence first, then keeping the low 32 bits', () => {
    expect(flagOf(0, 8)).toBe(0);
    expect(flagOf(7, 8)).toBe(0);
    expect(flagOf(8, 8)).toBe(1);
    expect(flagOf(2 ** 40, 1)).toBe(0); // 2^40 truncated to 32 bits
    expect(flagOf(2 ** 31, 1)).toBe(-(2 ** 31));
  });

  test('decodes every message kind and dictionary entry of a hand-built file', () => {
    const b = new V1FileBuilder({ events: geo, spans: geo, measurements: geo });
    const key = b.string('http.method');
    const res = b.entry('Resource', { attributes: [{ key_ref: b.string('service.name'), value: { string_value: 'svc' } }] });
    const scope = b.entry('InstrumentationScope', { name_ref: b.string('lib'), version_ref: b.string('1.0'), resource_ref: res });
    const metric = b.entry('MetricRef', {
      name: 'm',
      unit: 'ms',
      instrumentation_scope_ref: scope,
      histogram: { aggregation_temporality: 2, bucket_boundaries: [1, 2.5] },
    });
    const trace = Buffer.alloc(16, 0xab);
    const span = Buffer.alloc(8, 0xcd);
    b.message('spans', 'SpanEvent', {
      scope_ref: scope,
      trace_id: trace,
      span_id: span,
      start: { name: 'GET', kind: 2, flags: 1, start_time_unix_nano: '18446744073709551615', attributes: [{ key_ref: key, value: { int_value: '-5' } }] },
    });
    b.message('spans', 'SpanEvent', { scope_ref: scope, trace_id: trace, span_id: span, end: { end_time_unix_nano: '7', status: { code: 2, message: 'bad' } } });
    b.message('events', 'Event', {
      scope_ref: scope,
      time_unix_nano: '9',
      severity_number: 9,
      body: { kvlist_value: { values: [{ key_ref: key, value: { array_value: { values: [{ bool_value: false }, { double_value: 0.5 }] } } }] } },
      span_context: { trace_id: trace, span_id: span, flags: 1 },
    });
    b.message('measurements', 'Measurement', { metric_ref: metric, time_unix_nano: '3', as_long: '0' });
    b.message('measurements', 'Measurement', { metric_ref: metric, time_unix_nano: '4', as_double: 0 });
    b.dropped = { events: 1, spans: 2, measurements: 3 };
    const f = readMmapFile(write(b, 'all.mmap'));

    expect(f.header.version).toBe(1);
    expect(f.dictionary.dropped).toEqual({ events: 1, spans: 2, measurements: 3 });
    expect(f.entries().length).toBe(f.dictionary.numEntries);
    expect(f.spans.messages.map((m) => m.seq)).toEqual([0, 1]);
    const start = f.spans.messages[0].message;
    expect(start.traceId).toBe('ab'.repeat(16));
    expect(start.event).toMatchObject({ type: 'start', name: 'GET', kind: 2, flags: 1, startTimeUnixNano: 2n ** 64n - 1n });
    if (start.event.type !== 'start') throw new Error('not a start');
    expect(attributesObject(start.event.attributes)).toEqual({ 'http.method': -5n });
    expect(f.spans.messages[1].message.event).toEqual({ type: 'end', endTimeUnixNano: 7n, status: { code: 2, message: 'bad' } });
    const ev = f.events.messages[0].message;
    expect(ev.body).toEqual({ kvlist: [{ keyRef: key, key: 'http.method', value: { array: [{ bool: false }, { double: 0.5 }] } }] });
    expect(ev.spanContext).toEqual({ traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), flags: 1 });
    // A zero set in a oneof is present, not absent.
    expect(f.measurements.messages.map((m) => m.message.value)).toEqual([{ asLong: 0n }, { asDouble: 0 }]);
    const m = f.resolveMetric(metric);
    expect(m).toEqual({ name: 'm', description: '', unit: 'ms', scopeRef: scope, aggregation: { type: 'histogram', temporality: 2, boundaries: [1, 2.5] } });
    expect(f.resolveScope(scope)).toMatchObject({ name: 'lib', version: '1.0', resourceRef: res });
    expect(attributesObject(f.resolveResource(res).attributes)).toEqual({ 'service.name': 'svc' });
    expect(f.resolveString(0)).toBe('');
  });

  test('reads from reader_index + 1, across a wrap, and stops at the first unpublished slot', () => {
    const b = new V1FileBuilder({ events: geo, spans: geo, measurements: geo });
    b.firstSeq.events = 13; // slots 5,6,7,0,1 with flags 1,1,1,2,2
    for (let i = 0; i < 5; i++) b.message('events', 'Event', { time_unix_nano: String(i + 1) });
    const buf = b.build();
    const p = path.join(dir, 'wrap.mmap');
    fs.writeFileSync(p, buf);
    const f = readMmapFile(p);
    expect(f.events.messages.map((m) => [m.seq, m.slot, m.message.timeUnixNano])).toEqual([
      [13, 5, 1n],
      [14, 6, 2n],
      [15, 7, 3n],
      [16, 0, 4n],
      [17, 1, 5n],
    ]);
    // Unpublish seq 16 (slot 0 still carries an old flag): the reader stops there.
    const o = b.ringOffsets.events;
    buf.writeInt32LE(1, o + 32 + 0);
    fs.writeFileSync(p, buf);
    const g = readMmapFile(p);
    expect(g.events.messages.map((m) => m.seq)).toEqual([13, 14, 15]);
    expect(g.events.unpublished).toBe(2);
  });

  test('consume stores reader_index so the next read starts after it', () => {
    const b = new V1FileBuilder({ events: geo, spans: geo, measurements: geo });
    for (let i = 0; i < 3; i++) b.message('events', 'Event', { time_unix_nano: String(i + 1) });
    const p = write(b, 'consume.mmap');
    expect(readMmapFile(p, { consume: true }).events.messages.length).toBe(3);
    const again = readMmapFile(p);
    expect(again.events.header.readerIndex).toBe(2);
    expect(again.events.messages).toEqual([]);
  });

  test('rejects what the protocol forbids', () => {
    const b = new V1FileBuilder({ events: geo, spans: geo, measurements: geo });
    b.message('events', 'Event', { event_name_ref: 999999 });
    expect(() => readMmapFile(write(b, 'badref.mmap'))).toThrow(MmapFormatError);

    const c = new V1FileBuilder({ events: geo, spans: geo, measurements: geo });
    c.message('events', 'Event', { time_unix_nano: '1' });
    const buf = c.build();
    const slot0 = c.ringOffsets.events + 32 + 4 * geo.slots;
    buf[slot0] = geo.slotSize; // length prefix longer than the slot
    fs.writeFileSync(path.join(dir, 'long.mmap'), buf);
    expect(() => readMmapFile(path.join(dir, 'long.mmap'))).toThrow(/does not fit/);

    const d = new V1FileBuilder({ events: geo, spans: geo, measurements: geo });
    const bad = d.string('x');
    d.message('events', 'Event', { event_name_ref: bad });
    const dbuf = d.build();
    dbuf[bad + 1] = 0xff; // invalid UTF-8
    fs.writeFileSync(path.join(dir, 'utf8.mmap'), dbuf);
    expect(() => readMmapFile(path.join(dir, 'utf8.mmap'))).toThrow(/UTF-8/);

    const e = new V1FileBuilder({ events: { slots: 6, slotSize: 64 }, spans: geo, measurements: geo });
    expect(() => readMmapFile(write(e, 'pow2.mmap'))).toThrow(/power of two/);
  });
});
