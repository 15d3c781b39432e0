// Bad arguments throw a TypeError or RangeError whose message names the
// argument and the value received, and a bad call writes nothing: the file is
// byte-for-byte unchanged (rings, dictionary, counters) and so is stats().
import * as fs from 'node:fs';
import { openRecorder, Recorder } from '../index';
import { readMmapFile } from './support/mmap-reader';
import { bytesOf, expectArgumentError, tempDir, toHex } from './fixtures/recorder/helpers';

const tmp = tempDir('recorder-args');
afterAll(() => tmp.cleanup());

const TRACE = bytesOf(16, 1);
const SPAN = bytesOf(8, 2);
const T = 1_700_000_000_000_000_000n;

interface Fixture {
  rec: Recorder;
  path: string;
  res: number;
  scope: number;
  metric: number;
  name: number;
}

let n = 0;
function fixture(): Fixture {
  const p = tmp.file(`a${n++}.mmap`);
  const rec = openRecorder(p, { slots: 16, slotSize: 1024 });
  const res = rec.createResource({ 'service.name': 'args' });
  const scope = rec.createInstrumentationScope(res, 'args');
  const metric = rec.createMetricStream(scope, 'm', '', '', 'gauge');
  const name = rec.recordString('event.name');
  // One good write of each kind, so the rings are not pristine.
  rec.recordSpanStart(scope, TRACE, SPAN, null, 1, 'ok', 1, T, { k: 'v' });
  rec.recordEvent(scope, null, name, T, { k: 'v' });
  rec.recordMeasurement(metric, { k: 'v' }, T, 1);
  return { rec, path: p, res, scope, metric, name };
}

/** Runs a bad call and checks it threw as expected and changed nothing in the file or stats(). */
function expectRejected(f: Fixture, call: () => unknown, ...patterns: RegExp[]): void {
  const before = fs.readFileSync(f.path);
  const statsBefore = f.rec.stats();
  expectArgumentError(call, ...patterns);
  const after = fs.readFileSync(f.path);
  if (!after.equals(before)) {
    const a = readMmapFile(f.path);
    const b = (() => {
      fs.writeFileSync(`${f.path}.before`, before);
      return readMmapFile(`${f.path}.before`);
    })();
    const summary = (m: typeof a) => ({
      writerIndex: [m.events.header.writerIndex, m.spans.header.writerIndex, m.measurements.header.writerIndex],
      dictionaryEnd: m.dictionary.end,
      entries: m.dictionary.numEntries,
      dropped: m.dictionary.dropped,
    });
    expect({ changed: summary(a) }).toEqual({ changed: summary(b) });
    expect(after.equals(before)).toBe(true);
  }
  expect(f.rec.stats()).toEqual(statsBefore);
}

describe('bad arguments throw, naming the argument and the value, and write nothing', () => {
  let f: Fixture;
  beforeEach(() => {
    f = fixture();
  });
  afterEach(() => f.rec.close());

  test('ids of the wrong length', () => {
    expectRejected(f, () => f.rec.recordSpanStart(f.scope, bytesOf(15, 1), SPAN, null, 0, 's', 1, T), /traceId|trace_id/, /15/);
    expectRejected(f, () => f.rec.recordSpanStart(f.scope, TRACE, bytesOf(16, 1), null, 0, 's', 1, T), /spanId|span_id/, /16/);
    expectRejected(f, () => f.rec.recordSpanEnd(f.scope, 'abc', SPAN, T), /traceId|trace_id/, /abc/);
    expectRejected(f, () => f.rec.recordSpanEnd(f.scope, TRACE, toHex(SPAN) + '00', T), new RegExp(`spanId|span_id`), new RegExp(toHex(SPAN) + '00'));
    expectRejected(f, () => f.rec.recordSpanStart(f.scope, TRACE, SPAN, bytesOf(4, 1), 0, 's', 1, T), /parentSpanId|parent_span_id/, /4/);
  });

  test('ids that are not hex', () => {
    const bad = 'zz' + toHex(TRACE).slice(2);
    expectRejected(f, () => f.rec.recordSpanStart(f.scope, bad, SPAN, null, 0, 's', 1, T), /traceId|trace_id/, new RegExp(bad));
    expectRejected(f, () => f.rec.recordSpanName(f.scope, TRACE, 'g'.repeat(16), 'x'), /spanId|span_id/, /gggggggggggggggg/);
    expectRejected(f, () => f.rec.recordEvent(f.scope, { traceId: bad, spanId: SPAN }, 0, T), /spanContext\.traceId|trace_id/, new RegExp(bad));
    expectRejected(f, () => f.rec.recordSpanLinks(f.scope, TRACE, SPAN, [{ traceId: TRACE, spanId: 'xyz' }]), /links\[0\]\.spanId|span_id/, /xyz/);
    expectRejected(f, () => f.rec.recordSpanStart(f.scope, 42 as never, SPAN, null, 0, 's', 1, T), /traceId|trace_id/, /42/);
  });

  test('a ref this recorder never returned, or a ref of the wrong kind', () => {
    expectRejected(f, () => f.rec.recordSpanStart(123456, TRACE, SPAN, null, 0, 's', 1, T), /scopeRef|scope_ref/, /123456/);
    expectRejected(f, () => f.rec.recordSpanStart(f.name, TRACE, SPAN, null, 0, 's', 1, T), /scopeRef|scope_ref/, new RegExp(String(f.name)));
    expectRejected(f, () => f.rec.recordMeasurement(999, null, T, 1), /metricRef|metric_ref/, /999/);
    expectRejected(f, () => f.rec.recordMeasurement(f.scope, null, T, 1), /metricRef|metric_ref/, new RegExp(String(f.scope)));
    expectRejected(f, () => f.rec.createInstrumentationScope(77, 'x'), /resourceRef|resource_ref/, /77/);
    expectRejected(f, () => f.rec.createMetricStream(f.res, 'x', '', '', 'gauge'), /scopeRef|scope_ref/, new RegExp(String(f.res)));
    expectRejected(f, () => f.rec.recordEvent(f.scope, null, f.scope, T), /eventNameRef|event_name_ref/, new RegExp(String(f.scope)));
    expectRejected(f, () => f.rec.recordEvent(f.scope, null, f.name + 1, T), /eventNameRef|event_name_ref/, new RegExp(String(f.name + 1)));
    expectRejected(f, () => f.rec.recordSpanEnd(Number.NaN, TRACE, SPAN, T), /scopeRef|scope_ref/, /NaN/);
  });

  test('a time that is not finite, negative, too large or of the wrong type', () => {
    expectRejected(f, () => f.rec.recordSpanStart(f.scope, TRACE, SPAN, null, 0, 's', 1, Number.NaN), /startTimeUnixNano|start_time/, /NaN/);
    expectRejected(f, () => f.rec.recordSpanEnd(f.scope, TRACE, SPAN, Number.POSITIVE_INFINITY), /endTimeUnixNano|end_time/, /Infinity/);
    expectRejected(f, () => f.rec.recordMeasurement(f.metric, null, -1, 1), /timeUnixNano|time_unix_nano/, /-1/);
    expectRejected(f, () => f.rec.recordEvent(f.scope, null, 0, -5n), /timeUnixNano|time_unix_nano/, /-5/);
    expectRejected(f, () => f.rec.recordEvent(f.scope, null, 0, 2n ** 64n), /timeUnixNano|time_unix_nano/, /18446744073709551616/);
    expectRejected(f, () => f.rec.recordEvent(f.scope, null, 0, '123' as never), /timeUnixNano|time_unix_nano/, /123/);
  });

  test('an unsupported attribute value, even after a valid attribute with a new key', () => {
    const fn = function handler(): number {
      return 1;
    };
    expectRejected(f, () => f.rec.recordSpanStart(f.scope, TRACE, SPAN, null, 0, 's', 1, T, { fresh1: 'ok', cb: fn as never }), /attributes\.cb|cb/, /function/);
    expectRejected(f, () => f.rec.recordSpanAttributes(f.scope, TRACE, SPAN, { fresh2: 1, obj: { a: 1 } as never }), /attributes\.obj|obj/, /object/);
    expectRejected(f, () => f.rec.recordEvent(f.scope, null, 0, T, { fresh3: true, sym: Symbol('s') as never }), /attributes\.sym|sym/, /symbol|Symbol/);
    expectRejected(f, () => f.rec.recordMeasurement(f.metric, { fresh4: 'x', nested: [['a']] as never }, T, 1), /attributes\.nested|nested/, /array/);
    expectRejected(f, () => f.rec.recordMeasurement(f.metric, { fresh5: 'x', d: new Date(0) as never }, T, 1), /attributes\.d\b|\bd\b/, /object|Date/);
    expectRejected(f, () => f.rec.createResource({ fresh6: 'x', f: fn as never }), /attributes\.f|\bf\b/, /function/);
    expectRejected(f, () => f.rec.createInstrumentationScope(f.res, 'fresh-scope', '1', { fresh7: 'x', f: fn as never }), /attributes\.f|\bf\b/, /function/);
    expectRejected(
      f,
      () => f.rec.recordSpanLinks(f.scope, TRACE, SPAN, [{ traceId: TRACE, spanId: SPAN, attributes: { fresh8: 1 } }, { traceId: TRACE, spanId: SPAN, attributes: { o: {} as never } }]),
      /links\[1\]\.attributes\.o|\bo\b/,
      /object/,
    );
    expectRejected(f, () => f.rec.recordEvent(f.scope, null, 0, T, { fresh9: 1 }, { body: { fresh10: 'x', f: fn } as never }), /extra\.body\.f|body/, /function/);
    expectRejected(f, () => f.rec.recordSpanStart(f.scope, TRACE, SPAN, null, 0, 's', 1, T, 'not an object' as never), /attributes/, /not an object/);
  });

  test('an integer outside the int64 range is refused, not wrapped', () => {
    expectRejected(f, () => f.rec.recordSpanStart(f.scope, TRACE, SPAN, null, 0, 's', 1, T, { fresh11: 1, big: 2n ** 64n }), /attributes\.big|big/, /18446744073709551616/);
    expectRejected(f, () => f.rec.recordSpanStart(f.scope, TRACE, SPAN, null, 0, 's', 1, T, { small: -(2n ** 63n) - 1n }), /attributes\.small|small/, /9223372036854775809/);
    expectRejected(f, () => f.rec.recordMeasurement(f.metric, { fresh12: 1 }, T, 2n ** 63n), /value/, /9223372036854775808/);
  });

  test('a bad measurement value, severity or status', () => {
    expectRejected(f, () => f.rec.recordMeasurement(f.metric, { fresh13: 1 }, T, Number.NaN), /value/, /NaN/);
    expectRejected(f, () => f.rec.recordMeasurement(f.metric, null, T, '1' as never), /value/, /1/);
    expectRejected(f, () => f.rec.recordEvent(f.scope, null, 0, T, { fresh14: 1 }, { severityNumber: 99 }), /severityNumber|severity_number/, /99/);
    expectRejected(f, () => f.rec.recordSpanEnd(f.scope, TRACE, SPAN, T, { code: 7 as never }), /status\.code|code/, /7/);
    expectRejected(f, () => f.rec.recordSpanStart(f.scope, TRACE, SPAN, null, 0, 's', 9 as never, T), /kind/, /9/);
  });

  test('a bad aggregation', () => {
    expectRejected(f, () => f.rec.createMetricStream(f.scope, 'x', '', '', 'median' as never), /aggregation/, /median/);
    expectRejected(f, () => f.rec.createMetricStream(f.scope, 'x', '', '', { type: 'summary' }), /aggregation/, /summary/);
    expectRejected(f, () => f.rec.createMetricStream(f.scope, 'x', '', '', { type: 'sum', temporality: 'weekly', isMonotonic: true } as never), /temporality/, /weekly/);
    expectRejected(f, () => f.rec.createMetricStream(f.scope, 'x', '', '', { type: 'sum', temporality: 'delta' } as never), /isMonotonic|is_monotonic/, /undefined/);
    expectRejected(f, () => f.rec.createMetricStream(f.scope, 'x', '', '', { type: 'histogram', temporality: 'delta', boundaries: [1, Number.NaN] }), /boundaries/, /NaN/);
    expectRejected(f, () => f.rec.createMetricStream(f.scope, 'x', '', '', { type: 'histogram', temporality: 'delta', boundaries: 'x' as never }), /boundaries/, /x/);
    expectRejected(f, () => f.rec.createMetricStream(f.scope, 'x', '', '', { sum: { aggregation_temporality: 5, is_monotonic: true } }), /temporality/, /5/);
    expectRejected(f, () => f.rec.createMetricStream(f.scope, 'x', '', '', null as never), /aggregation/, /null/);
    expectRejected(f, () => f.rec.createMetricStream(f.scope, 'x', '', '', 'gauge', { valueType: 'long' as never }), /valueType/, /long/);
  });

  test('use after close() throws for every method', () => {
    const g = fixture();
    g.rec.close();
    expect(g.rec.closed).toBe(true);
    const before = fs.readFileSync(g.path);
    const calls: Array<() => unknown> = [
      () => g.rec.recordString('fresh-after-close'),
      () => g.rec.createResource({}),
      () => g.rec.createInstrumentationScope(g.res, 'x'),
      () => g.rec.createMetricStream(g.scope, 'x', '', '', 'gauge'),
      () => g.rec.recordMeasurement(g.metric, null, T, 1),
      () => g.rec.recordEvent(g.scope, null, 0, T),
      () => g.rec.recordSpanStart(g.scope, TRACE, SPAN, null, 0, 's', 1, T),
      () => g.rec.recordSpanEnd(g.scope, TRACE, SPAN, T),
      () => g.rec.recordSpanName(g.scope, TRACE, SPAN, 'n'),
      () => g.rec.recordSpanAttributes(g.scope, TRACE, SPAN, { a: 1 }),
      () => g.rec.recordSpanLinks(g.scope, TRACE, SPAN, []),
      () => g.rec.stats(),
    ];
    for (const call of calls) expectArgumentError(call, /closed/);
    expect(fs.readFileSync(g.path).equals(before)).toBe(true);
    g.rec.close(); // still idempotent
  });
});
