// Every recorder method writes exactly the fields it was given. Each test
// writes through the native recorder and decodes the file with the independent
// JS reader (tests/support/mmap-reader.ts), then compares field by field.
import { openRecorder, Recorder, type Attributes } from '../index';
import { attributesMap, attributesObject, JsKeyValue, JsSpanEvent, MmapFile, readMmapFile } from './support/mmap-reader';
import { bytesOf, nowBracket, tempDir, toHex } from './fixtures/recorder/helpers';

const tmp = tempDir('recorder-fields');
afterAll(() => tmp.cleanup());

const TRACE = bytesOf(16, 1);
const SPAN = bytesOf(8, 2);
const PARENT = bytesOf(8, 3);
const OTHER_TRACE = bytesOf(16, 4);
const OTHER_SPAN = bytesOf(8, 5);
/** A time a JS number cannot hold exactly (> 2^53). */
const T1 = 1_700_000_000_123_456_789n;
const T2 = 1_700_000_001_987_654_321n;

let counter = 0;
function fresh(): { rec: Recorder; path: string } {
  const p = tmp.file(`f${counter++}.mmap`);
  return { rec: openRecorder(p, { slots: 64, slotSize: 2048 }), path: p };
}

function read(p: string): MmapFile {
  return readMmapFile(p);
}

function onlySpan(f: MmapFile): JsSpanEvent {
  expect(f.spans.messages).toHaveLength(1);
  return f.spans.messages[0].message;
}

/** A resource + scope to write against. */
function scopeOf(rec: Recorder): number {
  const res = rec.createResource({ 'service.name': 'fields-test' });
  return rec.createInstrumentationScope(res, 'fields-lib', '0.0.1');
}

/** The attribute value every JS type must become. */
const ATTRS_IN = {
  str: 'héllo wörld ✓',
  empty: '',
  yes: true,
  no: false,
  int: 7,
  neg: -3,
  zero: 0,
  bigIntNumber: 2 ** 53,
  double: 3.25,
  negDouble: -0.5,
  big: 2n ** 63n - 1n,
  bigNeg: -(2n ** 63n),
  bytes: bytesOf(5, 9),
  strs: ['a', 'é', ''],
  ints: [1, 2, -3],
  doubles: [1.5, -2.25],
  bools: [true, false],
  bigs: [1n, -2n],
  bytesList: [bytesOf(2, 1), bytesOf(3, 2)],
  emptyList: [] as string[],
};
const ATTRS_OUT = {
  str: { string: 'héllo wörld ✓' },
  empty: { string: '' },
  yes: { bool: true },
  no: { bool: false },
  int: { int: 7n },
  neg: { int: -3n },
  zero: { int: 0n },
  bigIntNumber: { int: 2n ** 53n },
  double: { double: 3.25 },
  negDouble: { double: -0.5 },
  big: { int: 2n ** 63n - 1n },
  bigNeg: { int: -(2n ** 63n) },
  bytes: { bytes: bytesOf(5, 9) },
  strs: { array: [{ string: 'a' }, { string: 'é' }, { string: '' }] },
  ints: { array: [{ int: 1n }, { int: 2n }, { int: -3n }] },
  doubles: { array: [{ double: 1.5 }, { double: -2.25 }] },
  bools: { array: [{ bool: true }, { bool: false }] },
  bigs: { array: [{ int: 1n }, { int: -2n }] },
  bytesList: { array: [{ bytes: bytesOf(2, 1) }, { bytes: bytesOf(3, 2) }] },
  emptyList: { array: [] },
};

function expectAttrs(kvs: JsKeyValue[], expected: Record<string, unknown>): void {
  expect(attributesMap(kvs)).toEqual(expected);
}

describe('the recorder writes exactly the fields it was given', () => {
  test('recordString interns: the same string returns the same ref and makes one dictionary entry', () => {
    const { rec, path } = fresh();
    const a = rec.recordString('grüße 👋');
    const entriesAfterFirst = read(path).dictionary.numEntries;
    const b = rec.recordString('grüße 👋');
    const c = rec.recordString('other');
    rec.close();
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    const f = read(path);
    expect(f.resolveString(a)).toBe('grüße 👋');
    expect(f.resolveString(c)).toBe('other');
    expect(f.dictionary.numEntries).toBe(entriesAfterFirst + 1);
    const same = f.entries().filter((e) => Buffer.from(e.bytes).equals(Buffer.from('grüße 👋', 'utf8')));
    expect(same.map((e) => e.ref)).toEqual([a]);
    expect(f.entries().length).toBe(f.dictionary.numEntries);
  });

  test('createResource writes a Resource entry and deduplicates identical resources', () => {
    const { rec, path } = fresh();
    const r1 = rec.createResource({ 'service.name': 'svc', 'service.instance.id': 'i-1', pid: 42, weight: 0.5 });
    const before = read(path).dictionary.numEntries;
    const r2 = rec.createResource({ 'service.name': 'svc', 'service.instance.id': 'i-1', pid: 42, weight: 0.5 });
    const afterDup = read(path).dictionary.numEntries;
    const r3 = rec.createResource({ 'service.name': 'svc2' });
    const r4 = rec.createResource({ 'service.name': 'svc', 'service.instance.id': 'i-1', pid: 42, weight: 0.5 }, 'https://opentelemetry.io/schemas/1.30.0');
    rec.close();
    expect(r2).toBe(r1);
    expect(afterDup).toBe(before);
    expect(r3).not.toBe(r1);
    expect(r4).not.toBe(r1);
    const f = read(path);
    expect(attributesObject(f.resolveResource(r1).attributes)).toEqual({ 'service.name': 'svc', 'service.instance.id': 'i-1', pid: 42n, weight: 0.5 });
    expect(attributesObject(f.resolveResource(r3).attributes)).toEqual({ 'service.name': 'svc2' });
    expect(f.resolveResource(r1).droppedAttributesCount).toBe(0);
  });

  test('createInstrumentationScope writes name, version, attributes and the resource ref', () => {
    const { rec, path } = fresh();
    const res = rec.createResource({ 'service.name': 'svc' });
    const s1 = rec.createInstrumentationScope(res, '@opentelemetry/instrumentation-http', '0.223.0', { 'lib.flag': true, n: 3 });
    const s2 = rec.createInstrumentationScope(res, 'no-version');
    rec.close();
    const f = read(path);
    const a = f.resolveScope(s1);
    expect(a.name).toBe('@opentelemetry/instrumentation-http');
    expect(a.version).toBe('0.223.0');
    expect(a.resourceRef).toBe(res);
    expect(attributesObject(a.attributes)).toEqual({ 'lib.flag': true, n: 3n });
    const b = f.resolveScope(s2);
    expect(b.name).toBe('no-version');
    expect(b.version).toBe('');
    expect(b.resourceRef).toBe(res);
    expect(b.attributes).toEqual([]);
  });

  test('createMetricStream writes all four aggregations, in camelCase and the snake_case dictionary form', () => {
    const { rec, path } = fresh();
    const scope = scopeOf(rec);
    const gauge = rec.createMetricStream(scope, 'g', 'a gauge', '1', 'gauge');
    const gauge2 = rec.createMetricStream(scope, 'g2', '', '', { type: 'gauge' });
    const sumD = rec.createMetricStream(scope, 'http.server.requests', 'reqs', '{request}', { type: 'sum', temporality: 'delta', isMonotonic: true });
    const sumC = rec.createMetricStream(scope, 'updown', 'ud', '1', { type: 'sum', temporality: 'cumulative', isMonotonic: false });
    const hist = rec.createMetricStream(scope, 'http.server.duration', 'dur', 'ms', { type: 'histogram', temporality: 'cumulative', boundaries: [0, 5, 10.5, 1000] });
    const exp = rec.createMetricStream(scope, 'exp', 'e', 's', { type: 'exponentialHistogram', temporality: 'delta', maxBuckets: 160, maxScale: 20 });
    const sGauge = rec.createMetricStream(scope, 'sg', '', '', { gauge: {} });
    const sSum = rec.createMetricStream(scope, 'ss', '', '', { sum: { aggregation_temporality: 1, is_monotonic: true } });
    const sHist = rec.createMetricStream(scope, 'sh', '', '', { histogram: { aggregation_temporality: 2, bucket_boundaries: [1, 2] } });
    const sExp = rec.createMetricStream(scope, 'se', '', '', { exp_hist: { aggregation_temporality: 2, max_buckets: 80, max_scale: 10 } });
    rec.close();
    const f = read(path);
    expect(f.resolveMetric(gauge)).toEqual({ name: 'g', description: 'a gauge', unit: '1', scopeRef: scope, aggregation: { type: 'gauge' } });
    expect(f.resolveMetric(gauge2)).toEqual({ name: 'g2', description: '', unit: '', scopeRef: scope, aggregation: { type: 'gauge' } });
    expect(f.resolveMetric(sumD)).toEqual({
      name: 'http.server.requests',
      description: 'reqs',
      unit: '{request}',
      scopeRef: scope,
      aggregation: { type: 'sum', temporality: 1, isMonotonic: true },
    });
    expect(f.resolveMetric(sumC).aggregation).toEqual({ type: 'sum', temporality: 2, isMonotonic: false });
    expect(f.resolveMetric(hist)).toEqual({
      name: 'http.server.duration',
      description: 'dur',
      unit: 'ms',
      scopeRef: scope,
      aggregation: { type: 'histogram', temporality: 2, boundaries: [0, 5, 10.5, 1000] },
    });
    expect(f.resolveMetric(exp).aggregation).toEqual({ type: 'exponentialHistogram', temporality: 1, maxBuckets: 160n, maxScale: 20n });
    expect(f.resolveMetric(sGauge).aggregation).toEqual({ type: 'gauge' });
    expect(f.resolveMetric(sSum).aggregation).toEqual({ type: 'sum', temporality: 1, isMonotonic: true });
    expect(f.resolveMetric(sHist).aggregation).toEqual({ type: 'histogram', temporality: 2, boundaries: [1, 2] });
    expect(f.resolveMetric(sExp).aggregation).toEqual({ type: 'exponentialHistogram', temporality: 2, maxBuckets: 80n, maxScale: 10n });
  });

  test('recordMeasurement writes as_long for int streams and as_double otherwise, with attributes, time and span context', () => {
    const { rec, path } = fresh();
    const scope = scopeOf(rec);
    const ints = rec.createMetricStream(scope, 'count', '', '1', { type: 'sum', temporality: 'delta', isMonotonic: true }, { valueType: 'int' });
    const dbls = rec.createMetricStream(scope, 'ratio', '', '1', 'gauge');
    const dflt = rec.createMetricStream(scope, 'dflt', '', '1', 'gauge', { valueType: 'double' });
    rec.recordMeasurement(ints, { route: '/a', code: 200 }, T1, 42);
    rec.recordMeasurement(ints, null, T2, 2n ** 62n);
    rec.recordMeasurement(ints, undefined, T1, -7);
    rec.recordMeasurement(dbls, { k: true }, T1, 42);
    rec.recordMeasurement(dbls, {}, T1, 0.125);
    rec.recordMeasurement(dflt, {}, 12345, -1.5);
    const now = nowBracket(() => rec.recordMeasurement(ints, { a: 'b' }, undefined, 1, { traceId: toHex(TRACE), spanId: SPAN, traceFlags: 1 }));
    expect(rec.stats().measurements.written).toBe(7);
    rec.close();
    const ms = read(path).measurements.messages.map((m) => m.message);
    expect(ms).toHaveLength(7);
    expect(ms[0]).toEqual({ metricRef: ints, attributes: expect.any(Array), timeUnixNano: T1, value: { asLong: 42n }, spanContext: undefined });
    expectAttrs(ms[0].attributes, { route: { string: '/a' }, code: { int: 200n } });
    expect(ms[1]).toEqual({ metricRef: ints, attributes: [], timeUnixNano: T2, value: { asLong: 2n ** 62n }, spanContext: undefined });
    expect(ms[2].value).toEqual({ asLong: -7n });
    expect(ms[2].attributes).toEqual([]);
    expect(ms[3]).toMatchObject({ metricRef: dbls, timeUnixNano: T1, value: { asDouble: 42 } });
    expectAttrs(ms[3].attributes, { k: { bool: true } });
    expect(ms[4].value).toEqual({ asDouble: 0.125 });
    expect(ms[5]).toMatchObject({ metricRef: dflt, timeUnixNano: 12345n, value: { asDouble: -1.5 } });
    expect(ms[6].spanContext).toEqual({ traceId: toHex(TRACE), spanId: toHex(SPAN), flags: 1 });
    expect(ms[6].timeUnixNano >= now.low && ms[6].timeUnixNano <= now.high).toBe(true);
  });

  test('a bigint measurement on a double stream is written as_double (a stream never mixes value types)', () => {
    const { rec, path } = fresh();
    const dbls = rec.createMetricStream(scopeOf(rec), 'ratio', '', '1', 'gauge');
    rec.recordMeasurement(dbls, null, T1, 5n);
    rec.close();
    expect(read(path).measurements.messages.map((m) => m.message.value)).toEqual([{ asDouble: 5 }]);
  });

  test('recordEvent writes scope, span context, name, time, attributes, severity and every kind of body', () => {
    const { rec, path } = fresh();
    const scope = scopeOf(rec);
    const name = rec.recordString('exception');
    const ctx = { traceId: TRACE, spanId: toHex(SPAN), traceFlags: 1 };
    const bodies: Array<[unknown, unknown]> = [
      ['a log line ✓', { string: 'a log line ✓' }],
      [42, { int: 42n }],
      [1.5, { double: 1.5 }],
      [12n, { int: 12n }],
      [true, { bool: true }],
      [false, { bool: false }],
      [bytesOf(4, 7), { bytes: bytesOf(4, 7) }],
      [['x', 1, 2.5, false, ['nested']], { array: [{ string: 'x' }, { int: 1n }, { double: 2.5 }, { bool: false }, { array: [{ string: 'nested' }] }] }],
    ];
    for (const [body] of bodies) rec.recordEvent(scope, ctx, name, T1, { 'exception.type': 'Error' }, { severityNumber: 17, severityText: 'ERROR', body: body as never });
    rec.recordEvent(scope, null, 0, T2, { n: 1 }, { body: { msg: 'hi', n: 2, inner: { ok: true } } });
    const now = nowBracket(() => rec.recordEvent(scope, undefined, 0, undefined));
    rec.close();
    const ev = read(path).events.messages.map((m) => m.message);
    expect(ev).toHaveLength(bodies.length + 2);
    bodies.forEach(([, expected], i) => {
      expect(ev[i]).toEqual({
        scopeRef: scope,
        timeUnixNano: T1,
        severityNumber: 17,
        severityText: 'ERROR',
        body: expected,
        eventNameRef: name,
        eventName: 'exception',
        spanContext: { traceId: toHex(TRACE), spanId: toHex(SPAN), flags: 1 },
        attributes: expect.any(Array),
      });
      expectAttrs(ev[i].attributes, { 'exception.type': { string: 'Error' } });
    });
    const map = ev[bodies.length];
    expect(map.spanContext).toBeUndefined();
    expect(map.eventName).toBe('');
    expect(map.timeUnixNano).toBe(T2);
    expect(map.severityNumber).toBe(0);
    expect(map.severityText).toBe('');
    expectAttrs(map.attributes, { n: { int: 1n } });
    expect(map.body).toBeDefined();
    const body = map.body as { kvlist: JsKeyValue[] };
    expect(attributesObject(body.kvlist)).toEqual({ msg: 'hi', n: 2n, inner: { ok: true } });
    const last = ev[bodies.length + 1];
    expect(last.body).toBeUndefined();
    expect(last.attributes).toEqual([]);
    expect(last.timeUnixNano >= now.low && last.timeUnixNano <= now.high).toBe(true);
  });

  test('recordSpanStart writes ids (bytes or hex), parent, flags, name, kind, time and attributes of every type', () => {
    const { rec, path } = fresh();
    const scope = scopeOf(rec);
    rec.recordSpanStart(scope, TRACE, SPAN, PARENT, 1, 'GET /users/:id', 2, T1, ATTRS_IN);
    rec.close();
    const s = onlySpan(read(path));
    expect(s.scopeRef).toBe(scope);
    expect(s.traceId).toBe(toHex(TRACE));
    expect(s.spanId).toBe(toHex(SPAN));
    expect(s.event).toMatchObject({ type: 'start', parentSpanId: toHex(PARENT), flags: 1, name: 'GET /users/:id', kind: 2, startTimeUnixNano: T1 });
    if (s.event.type !== 'start') throw new Error('not a start');
    expectAttrs(s.event.attributes, ATTRS_OUT);
  });

  test('hex-string ids write the same bytes as Uint8Array ids; a root span has no parent; undefined time is now', () => {
    const { rec, path } = fresh();
    const scope = scopeOf(rec);
    const now = nowBracket(() => rec.recordSpanStart(scope, toHex(TRACE), toHex(SPAN), null, 0, 'root', 1, undefined));
    rec.recordSpanStart(scope, TRACE, SPAN, undefined, 0, 'root', 1, T1, null);
    rec.recordSpanStart(scope, toHex(OTHER_TRACE), OTHER_SPAN, toHex(PARENT), 0x301, 'remote child', 5, 1000);
    rec.close();
    const [a, b, c] = read(path).spans.messages.map((m) => m.message);
    expect(a.traceId).toBe(toHex(TRACE));
    expect(a.spanId).toBe(toHex(SPAN));
    expect(b.traceId).toBe(a.traceId);
    expect(b.spanId).toBe(a.spanId);
    if (a.event.type !== 'start' || b.event.type !== 'start' || c.event.type !== 'start') throw new Error('not a start');
    expect(a.event.parentSpanId).toBe('');
    expect(b.event.parentSpanId).toBe('');
    expect(a.event.attributes).toEqual([]);
    expect(a.event.startTimeUnixNano >= now.low && a.event.startTimeUnixNano <= now.high).toBe(true);
    expect(b.event.startTimeUnixNano).toBe(T1);
    expect(c.traceId).toBe(toHex(OTHER_TRACE));
    expect(c.spanId).toBe(toHex(OTHER_SPAN));
    expect(c.event).toMatchObject({ parentSpanId: toHex(PARENT), flags: 0x301, name: 'remote child', kind: 5, startTimeUnixNano: 1000n });
  });

  test('an undefined time is read from the native clock at full nanosecond precision', () => {
    const { rec, path } = fresh();
    const scope = scopeOf(rec);
    for (let i = 0; i < 20; i++) rec.recordEvent(scope, null, 0, undefined);
    rec.close();
    const times = read(path).events.messages.map((m) => m.message.timeUnixNano);
    expect(times).toHaveLength(20);
    // Not milliseconds or microseconds scaled up: some value has non-zero sub-microsecond digits.
    expect(times.some((t) => t % 1000n !== 0n)).toBe(true);
  });

  test('null and undefined attribute values are skipped; nothing else is', () => {
    const { rec, path } = fresh();
    const scope = scopeOf(rec);
    rec.recordSpanStart(scope, TRACE, SPAN, null, 0, 's', 1, T1, { a: null, b: undefined, c: 'kept' });
    rec.close();
    const s = onlySpan(read(path));
    if (s.event.type !== 'start') throw new Error('not a start');
    expectAttrs(s.event.attributes, { c: { string: 'kept' } });
  });

  describe('a frozen attributes object is encoded once and then copied (the agent reuses such objects per route)', () => {
    function startAttributes(path: string): Record<string, unknown>[] {
      const out: Record<string, unknown>[] = [];
      for (const m of read(path).spans.messages) if (m.message.event.type === 'start') out.push(attributesObject(m.message.event.attributes));
      return out;
    }

    test('every use writes the same attributes as the first, new keys included, in any call', () => {
      const { rec, path } = fresh();
      const scope = scopeOf(rec);
      const attrs = Object.freeze({ 'fresh.key': 'v', n: 7, yes: true, d: 2.5, big: 5n, skipped: undefined });
      for (let i = 0; i < 3; i++) rec.recordSpanStart(scope, TRACE, SPAN, null, 0, `s${i}`, 1, T1, attrs);
      rec.recordSpanAttributes(scope, TRACE, SPAN, attrs);
      rec.recordEvent(scope, null, 0, T1, attrs);
      rec.close();
      const expected = { 'fresh.key': 'v', n: 7n, yes: true, d: 2.5, big: 5n };
      expect(startAttributes(path)).toEqual([expected, expected, expected]);
      const f = read(path);
      const late = f.spans.messages[3].message.event;
      if (late.type !== 'attributes') throw new Error('not attributes');
      expect(attributesObject(late.attributes)).toEqual(expected);
      expect(attributesObject(f.events.messages[0].message.attributes)).toEqual(expected);
    });

    test('objects that can read differently are encoded every time: getters, arrays inside, inherited keys, unfrozen', () => {
      const { rec, path } = fresh();
      const scope = scopeOf(rec);
      let reads = 0;
      const getter = Object.freeze({
        get g(): string {
          reads++;
          return `read ${reads}`;
        },
      });
      const list = ['a'];
      const withArray = Object.freeze({ list });
      const inherited = Object.freeze(Object.assign(Object.create({ parent: 'p1' }) as Record<string, unknown>, { own: 'o' }));
      const open = { k: 'first' };
      const all = [getter, withArray, inherited, open] as Attributes[];
      // Twice: the first use interns the keys, so the second is the one that could be remembered.
      for (let i = 0; i < 2; i++) for (const attrs of all) rec.recordSpanStart(scope, TRACE, SPAN, null, 0, 's', 1, T1, attrs);
      list.push('b');
      (Object.getPrototypeOf(inherited) as Record<string, unknown>).parent = 'p2';
      open.k = 'second';
      for (const attrs of all) rec.recordSpanStart(scope, TRACE, SPAN, null, 0, 's', 1, T1, attrs);
      rec.close();
      expect(startAttributes(path)).toEqual([
        { g: 'read 1' },
        { list: ['a'] },
        { own: 'o', parent: 'p1' },
        { k: 'first' },
        { g: 'read 2' },
        { list: ['a'] },
        { own: 'o', parent: 'p1' },
        { k: 'first' },
        { g: 'read 3' },
        { list: ['a', 'b'] },
        { own: 'o', parent: 'p2' },
        { k: 'second' },
      ]);
    });

    test('past the 4096 sets the native side keeps, frozen objects are still written in full, every time', () => {
      const p = tmp.file(`sets-${counter++}.mmap`);
      const rec = openRecorder(p, { spans: { slots: 16384, slotSize: 256 } });
      const scope = scopeOf(rec);
      const objects = Array.from({ length: 4200 }, (_, i) => Object.freeze({ n: i, s: `v${i}` }));
      // Twice each: the first use registers (while there is room), the second names the set.
      for (const o of objects) for (let k = 0; k < 2; k++) rec.recordSpanStart(scope, TRACE, SPAN, null, 0, 's', 1, T1, o);
      rec.close();
      const got = startAttributes(p);
      expect(got).toHaveLength(8400);
      for (let i = 0; i < 4200; i++) {
        expect(got[2 * i]).toEqual({ n: BigInt(i), s: `v${i}` });
        expect(got[2 * i + 1]).toEqual({ n: BigInt(i), s: `v${i}` });
      }
    });

    test('whether a frozen object reads the same is checked once per object, not per call', () => {
      const { rec, path } = fresh();
      const scope = scopeOf(rec);
      let reads = 0;
      const getter = Object.freeze({
        get g(): string {
          reads++;
          return 'v';
        },
      });
      const spy = jest.spyOn(Object, 'getOwnPropertyDescriptors');
      try {
        for (let i = 0; i < 5; i++) rec.recordSpanStart(scope, TRACE, SPAN, null, 0, 's', 1, T1, getter as Attributes);
        // The first call interns the key; the second checks the object (and finds a getter).
        expect(spy).toHaveBeenCalledTimes(1);
      } finally {
        spy.mockRestore();
      }
      rec.close();
      expect(reads).toBe(5);
      expect(startAttributes(path)).toEqual(Array(5).fill({ g: 'v' }));
    });

    test('a span start in two parts (moreAttributes) writes both as one list, frozen or not, on either path', () => {
      const { rec, path } = fresh();
      const scope = scopeOf(rec);
      const conn = Object.freeze({ 'server.address': 'example.com', 'server.port': 8080, 'new.key': true });
      const other = Object.freeze({ 'network.peer.port': 40000 });
      const per = (i: number): Attributes => ({ 'url.path': `/p/${i}`, 'http.request.method': 'GET' });
      const calls: [Attributes | null | undefined, Attributes | null | undefined][] = [
        [conn, per(0)], // first use of conn: encoded, then registered
        [conn, per(1)], // named by its set, then the list
        [per(2), conn], // a set as the second part
        [conn, other], // two sets
        [per(3), { extra: 'e' }], // two lists
        [null, per(4)],
        [per(5), null], // no second part: one list, as before
        [undefined, undefined],
      ];
      // Id bytes and no time take the hot path; hex ids and a time the general one.
      for (const [a, b] of calls) rec.recordSpanStart(scope, TRACE, SPAN, PARENT, 0x101, 's', 2, undefined, a, b);
      for (const [a, b] of calls) rec.recordSpanStart(scope, toHex(TRACE), toHex(SPAN), toHex(PARENT), 0x101, 's', 2, T1, a, b);
      expect(rec.stats().attributeSets).toBe(2);
      rec.close();
      const lists: string[][] = [];
      for (const m of read(path).spans.messages) {
        if (m.message.event.type !== 'start') throw new Error('not a start');
        lists.push(m.message.event.attributes.map((kv) => `${kv.key}=${String(Object.values(kv.value ?? {})[0])}`));
      }
      const c = ['server.address=example.com', 'server.port=8080', 'new.key=true'];
      const p = (i: number): string[] => [`url.path=/p/${i}`, 'http.request.method=GET'];
      const expected = [[...c, ...p(0)], [...c, ...p(1)], [...p(2), ...c], [...c, 'network.peer.port=40000'], [...p(3), 'extra=e'], p(4), p(5), []];
      expect(lists).toEqual([...expected, ...expected]);
    });

    test('a bad second part is refused, naming moreAttributes, and writes nothing', () => {
      const { rec, path } = fresh();
      const scope = scopeOf(rec);
      for (const [bad, got] of [['x', '"x"'], [3, 'number 3'], [[1], 'array of 1']] as const) {
        expect(() => rec.recordSpanStart(scope, TRACE, SPAN, null, 0, 's', 1, undefined, { a: 1 }, bad as unknown as Attributes)).toThrow(
          new TypeError(`moreAttributes must be a plain object of attributes, got ${got}`),
        );
      }
      rec.recordSpanStart(scope, TRACE, SPAN, null, 0, 'ok', 1, undefined, { a: 1 }, { b: 2 });
      rec.close();
      expect(read(path).spans.messages).toHaveLength(1);
    });

    test("a frozen object's set is freed when the object is garbage-collected, and its place taken by another", async () => {
      // gc() for this test only (jest runs without --expose-gc).
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('node:v8').setFlagsFromString('--expose-gc');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const gc = require('node:vm').runInNewContext('gc') as () => void;
      const p = tmp.file(`sets-gc-${counter++}.mmap`);
      const rec = openRecorder(p, { spans: { slots: 16384, slotSize: 256 } });
      const scope = scopeOf(rec);
      const kept = Object.freeze({ kept: 'yes' });
      const use = (o: Attributes): void => rec.recordSpanStart(scope, TRACE, SPAN, null, 0, 's', 1, T1, o);
      // Keys are interned first, so that each frozen object registers at its first use.
      use({ kept: 'no', round: -1, i: -1, last: -1 });
      use(kept);
      // More objects over time than the 4096 sets the native side holds at once.
      const collected = async (): Promise<void> => {
        for (let tries = 0; tries < 50 && rec.stats().attributeSets > 1; tries++) {
          gc();
          await new Promise((r) => setImmediate(r));
        }
      };
      for (let round = 0; round < 3; round++) {
        (() => {
          for (let i = 0; i < 2500; i++) use(Object.freeze({ round, i }));
        })();
        expect(rec.stats().attributeSets).toBe(2501);
        await collected();
        expect(rec.stats().attributeSets).toBe(1);
      }
      // The set that stayed reachable still names its attributes, and a new object registers.
      use(kept);
      const last = Object.freeze({ last: 1 });
      use(last);
      expect(rec.stats().attributeSets).toBe(2);
      rec.close();
      const starts = read(p).spans.messages.map((m) => (m.message.event.type === 'start' ? attributesObject(m.message.event.attributes) : null));
      expect(starts).toHaveLength(2 + 3 * 2500 + 2);
      expect(starts[1]).toEqual({ kept: 'yes' });
      for (let round = 0; round < 3; round++) {
        for (const i of [0, 1234, 2499]) expect(starts[2 + round * 2500 + i]).toEqual({ round: BigInt(round), i: BigInt(i) });
      }
      expect(starts.slice(-2)).toEqual([{ kept: 'yes' }, { last: 1n }]);
    });

    test('a long string in a frozen object is cut to the slot every time, and a resource keeps it whole', () => {
      const p = tmp.file(`f${counter++}.mmap`);
      const rec = openRecorder(p, { slots: 64, slotSize: 256 });
      const attrs = Object.freeze({ long: 'x'.repeat(1000) });
      const res = rec.createResource(attrs);
      const scope = rec.createInstrumentationScope(res, 'lib');
      for (let i = 0; i < 2; i++) rec.recordSpanStart(scope, TRACE, SPAN, null, 0, 's', 1, T1, attrs);
      const res2 = rec.createResource(attrs);
      rec.close();
      expect(res2).toBe(res);
      const f = read(p);
      const cut = startAttributes(p).map((a) => (a.long as string).length);
      expect(cut[0]).toBeLessThan(256);
      expect(cut[1]).toBe(cut[0]);
      expect(attributesObject(f.resolveResource(res).attributes)).toEqual({ long: 'x'.repeat(1000) });
    });
  });

  test('recordSpanEnd writes the end time and status; without a status, none (or an unset one) is written', () => {
    const { rec, path } = fresh();
    const scope = scopeOf(rec);
    rec.recordSpanEnd(scope, TRACE, SPAN, T2, { code: 2, message: 'boom 💥' });
    rec.recordSpanEnd(scope, toHex(TRACE), toHex(SPAN), T1, { code: 1 });
    rec.recordSpanEnd(scope, TRACE, SPAN, T1);
    const now = nowBracket(() => rec.recordSpanEnd(scope, TRACE, SPAN, undefined, null));
    rec.close();
    const [a, b, c, d] = read(path).spans.messages.map((m) => m.message);
    expect(a).toEqual({ scopeRef: scope, traceId: toHex(TRACE), spanId: toHex(SPAN), event: { type: 'end', endTimeUnixNano: T2, status: { code: 2, message: 'boom 💥' } } });
    expect(b.event).toEqual({ type: 'end', endTimeUnixNano: T1, status: { code: 1, message: '' } });
    for (const m of [c, d]) {
      if (m.event.type !== 'end') throw new Error('not an end');
      if (m.event.status !== undefined) expect(m.event.status).toEqual({ code: 0, message: '' });
    }
    if (d.event.type !== 'end') throw new Error('not an end');
    expect(d.event.endTimeUnixNano >= now.low && d.event.endTimeUnixNano <= now.high).toBe(true);
  });

  test("the agent's usual calls (id bytes, no time, a scope or metric used before) write what the general path writes", () => {
    // The first call of each pair takes the recorder's hot path (id bytes, no time, no status);
    // hex ids always take the general path. Each pair must decode the same, times apart.
    const { rec, path } = fresh();
    const scope = scopeOf(rec);
    const metric = rec.createMetricStream(scope, 'http.server.request.duration', '', 's', { type: 'histogram', temporality: 'cumulative', boundaries: [0.1, 1] });
    const frozen = Object.freeze({ 'express.name': 'requestId', 'express.type': 'middleware' });
    const fresh5 = () => ({ 'http.request.method': 'GET', 'url.scheme': 'http', 'network.protocol.version': '1.1', 'http.response.status_code': 200, 'http.route': '/users/:id/a-route-longer-than-twenty' });
    const long = 'request handler - /users/:id/ünïcode-and-longer-than-twenty';
    const sc = { traceId: TRACE, spanId: SPAN, traceFlags: 1 };
    const scHex = { traceId: toHex(TRACE), spanId: toHex(SPAN), traceFlags: 1 };
    const pairs: Array<[() => void, () => void]> = [
      [() => rec.recordSpanStart(scope, TRACE, SPAN, PARENT, 0x101, 'middleware - requestId', 1, undefined, frozen),
       () => rec.recordSpanStart(scope, toHex(TRACE), toHex(SPAN), toHex(PARENT), 0x101, 'middleware - requestId', 1, undefined, frozen)],
      [() => rec.recordSpanStart(scope, TRACE, SPAN, null, 0x301, long, 2, undefined, fresh5()),
       () => rec.recordSpanStart(scope, toHex(TRACE), toHex(SPAN), null, 0x301, long, 2, undefined, fresh5())],
      [() => rec.recordSpanStart(scope, TRACE, OTHER_SPAN, undefined, 0, 'x', 0, undefined, undefined),
       () => rec.recordSpanStart(scope, toHex(TRACE), toHex(OTHER_SPAN), undefined, 0, 'x', 0, undefined, undefined)],
      [() => rec.recordSpanEnd(scope, TRACE, SPAN, undefined), () => rec.recordSpanEnd(scope, toHex(TRACE), toHex(SPAN), undefined)],
      [() => rec.recordSpanEnd(scope, TRACE, SPAN, undefined, null, long, { 'http.response.status_code': 404, 'http.route': '/users/:id' }),
       () => rec.recordSpanEnd(scope, toHex(TRACE), toHex(SPAN), undefined, null, long, { 'http.response.status_code': 404, 'http.route': '/users/:id' })],
      [() => rec.recordMeasurement(metric, fresh5(), undefined, 0.0123, sc), () => rec.recordMeasurement(metric, fresh5(), undefined, 0.0123, scHex)],
      [() => rec.recordMeasurement(metric, frozen, undefined, 2, null), () => rec.recordMeasurement(metric, frozen, undefined, 2, { ...scHex, traceId: '' }) ],
    ];
    // The last pair's general call is invalid on purpose (an empty trace id): it must throw, and
    // write nothing, even though the metric was used just before.
    const written = (): number => rec.stats().spans.written + rec.stats().measurements.written;
    const ranges: Array<{ hot: [number, number]; general: [number, number] }> = [];
    const now = nowBracket(() => {
      // Two calls on the general path first (so that the refs are not the ones checked last).
      rec.recordSpanEnd(scope, toHex(TRACE), toHex(SPAN), undefined);
      rec.recordMeasurement(metric, {}, undefined, 1);
      for (const [h, g] of pairs) {
        const a = written();
        h();
        const b = written();
        try {
          g();
        } catch (e) {
          expect(e).toBeInstanceOf(TypeError);
          expect(String(e)).toMatch(/spanContext\.traceId/);
        }
        ranges.push({ hot: [a, b], general: [b, written()] });
      }
    });
    rec.close();
    const f = read(path);
    // Spans and measurements in the order written (each ring keeps its own order; the pairs
    // write to one ring each).
    const spanMsgs = f.spans.messages.map((m) => m.message);
    const measMsgs = f.measurements.messages.map((m) => m.message);
    const all: unknown[] = [];
    let si = 0;
    let mi = 0;
    all.push(spanMsgs[si++], measMsgs[mi++]);
    for (const [k, r] of ranges.entries()) {
      const ring = k < 5 ? spanMsgs : measMsgs;
      for (let n = r.hot[0]; n < r.general[1]; n++) all.push(ring === spanMsgs ? spanMsgs[si++] : measMsgs[mi++]);
    }
    expect(si).toBe(spanMsgs.length);
    expect(mi).toBe(measMsgs.length);
    const timeless = (m: unknown): unknown =>
      JSON.parse(JSON.stringify(m, (k, v: unknown) => (k === 'startTimeUnixNano' || k === 'endTimeUnixNano' || k === 'timeUnixNano' ? 'now' : typeof v === 'bigint' ? `${v}n` : v)));
    for (const r of ranges.slice(0, 6)) {
      const hot = all.slice(r.hot[0], r.hot[1]).map(timeless);
      const general = all.slice(r.general[0], r.general[1]).map(timeless);
      expect(hot.length).toBeGreaterThan(0);
      expect(hot).toEqual(general);
    }
    // The general call that threw wrote nothing; its hot twin wrote its measurement.
    expect(ranges[6].hot[1] - ranges[6].hot[0]).toBe(1);
    expect(ranges[6].general[1] - ranges[6].general[0]).toBe(0);
    for (const m of spanMsgs) {
      const t = m.event.type === 'start' ? m.event.startTimeUnixNano : m.event.type === 'end' ? m.event.endTimeUnixNano : undefined;
      if (t !== undefined) expect(t >= now.low && t <= now.high).toBe(true);
    }
    for (const m of measMsgs) expect(m.timeUnixNano >= now.low && m.timeUnixNano <= now.high).toBe(true);
    const spans = spanMsgs.slice(1);
    const ms = measMsgs.slice(1);
    // The end with a name and attributes wrote three messages: the name, the attributes, the end.
    expect(spans).toHaveLength(2 + 2 + 2 + 2 + 6);
    expect(ms).toHaveLength(3);
    // What the hot path wrote, field by field.
    expect(spans[0].event).toMatchObject({ type: 'start', parentSpanId: toHex(PARENT), flags: 0x101, name: 'middleware - requestId', kind: 1 });
    if (spans[0].event.type !== 'start' || spans[2].event.type !== 'start') throw new Error('not a start');
    expectAttrs(spans[0].event.attributes, { 'express.name': { string: 'requestId' }, 'express.type': { string: 'middleware' } });
    expect(spans[2].event).toMatchObject({ parentSpanId: '', flags: 0x301, name: long, kind: 2 });
    expectAttrs(spans[2].event.attributes, {
      'http.request.method': { string: 'GET' },
      'url.scheme': { string: 'http' },
      'network.protocol.version': { string: '1.1' },
      'http.response.status_code': { int: 200n },
      'http.route': { string: '/users/:id/a-route-longer-than-twenty' },
    });
    expect(ms[0]).toMatchObject({ metricRef: metric, value: { asDouble: 0.0123 }, spanContext: { traceId: toHex(TRACE), spanId: toHex(SPAN), flags: 1 } });
    expect(ms[2]).toMatchObject({ metricRef: metric, value: { asDouble: 2 }, spanContext: undefined });
  });

  test('after a hot-path call, bad arguments still get the general checks and errors', () => {
    const { rec, path } = fresh();
    // Before any call has checked a ref, no ref is taken on trust.
    for (const bad of [-1, 0, NaN, undefined]) {
      expect(() => rec.recordSpanStart(bad as number, TRACE, SPAN, PARENT, 1, 'ok', 1, undefined)).toThrow(/scopeRef must be an instrumentation scope ref/);
      expect(() => rec.recordSpanEnd(bad as number, TRACE, SPAN, undefined)).toThrow(/scopeRef must be an instrumentation scope ref/);
      expect(() => rec.recordMeasurement(bad as number, {}, undefined, 1)).toThrow(/metricRef must be a metric stream ref/);
    }
    const scope = scopeOf(rec);
    const metric = rec.createMetricStream(scope, 'm', '', '1', 'gauge');
    rec.recordSpanStart(scope, TRACE, SPAN, PARENT, 1, 'ok', 1, undefined);
    rec.recordSpanStart(scope, TRACE, SPAN, PARENT, 1, 'ok', 1, undefined);
    rec.recordMeasurement(metric, {}, undefined, 1);
    rec.recordMeasurement(metric, {}, undefined, 1);
    expect(() => rec.recordSpanStart(scope, TRACE, SPAN, PARENT, 1, 'k', 9 as never, undefined)).toThrow(new RangeError('kind must be an OTLP span kind from 0 to 5, got number 9'));
    expect(() => rec.recordSpanStart(scope, TRACE, SPAN, PARENT, 1.5, 'k', 1, undefined)).toThrow(RangeError);
    expect(() => rec.recordSpanStart(scope, TRACE, SPAN, PARENT, 1, 7 as unknown as string, 1, undefined)).toThrow(/name must be a string, got number 7/);
    expect(() => rec.recordSpanStart(scope, TRACE, bytesOf(7, 1), PARENT, 1, 'k', 1, undefined)).toThrow(/spanId must be 8 bytes/);
    expect(() => rec.recordSpanStart(scope, TRACE, SPAN, bytesOf(9, 1), 1, 'k', 1, undefined)).toThrow(/parentSpanId must be 8 bytes/);
    expect(() => rec.recordSpanStart(scope + 1, TRACE, SPAN, PARENT, 1, 'k', 1, undefined)).toThrow(/scopeRef must be an instrumentation scope ref/);
    expect(() => rec.recordSpanEnd(scope, TRACE, SPAN, undefined, { code: 7 as never })).toThrow(/status.code must be 0/);
    expect(() => rec.recordMeasurement(metric, {}, undefined, Infinity)).toThrow(new RangeError('value must be a finite number or a bigint, got Infinity'));
    expect(() => rec.recordMeasurement(metric, {}, undefined, 1, { traceId: TRACE, spanId: SPAN, traceFlags: 256 })).toThrow(/spanContext.traceFlags must be an integer from 0 to 255, got number 256/);
    expect(() => rec.recordMeasurement(metric + 1, {}, undefined, 1)).toThrow(/metricRef must be a metric stream ref/);
    expect(rec.stats().spans.written).toBe(2);
    expect(rec.stats().measurements.written).toBe(2);
    rec.close();
    expect(read(path).spans.messages).toHaveLength(2);
  });

  test('recordSpanName, recordSpanAttributes and recordSpanLinks write their fields', () => {
    const { rec, path } = fresh();
    const scope = scopeOf(rec);
    rec.recordSpanName(scope, TRACE, toHex(SPAN), 'renamed ✓');
    rec.recordSpanAttributes(scope, toHex(TRACE), SPAN, ATTRS_IN);
    rec.recordSpanLinks(scope, TRACE, SPAN, [
      { traceId: OTHER_TRACE, spanId: toHex(OTHER_SPAN), traceState: 'vendor=a,other=b', traceFlags: 1, attributes: { 'link.kind': 'follows', n: 2 }, droppedAttributesCount: 3 },
      { traceId: toHex(TRACE), spanId: PARENT },
    ]);
    rec.close();
    const [n, a, l] = read(path).spans.messages.map((m) => m.message);
    for (const m of [n, a, l]) {
      expect(m.scopeRef).toBe(scope);
      expect(m.traceId).toBe(toHex(TRACE));
      expect(m.spanId).toBe(toHex(SPAN));
    }
    expect(n.event).toEqual({ type: 'name', name: 'renamed ✓' });
    if (a.event.type !== 'attributes') throw new Error('not an attribute update');
    expectAttrs(a.event.attributes, ATTRS_OUT);
    if (l.event.type !== 'link') throw new Error('not a link');
    expect(l.event.links).toHaveLength(2);
    expect(l.event.links[0]).toMatchObject({ traceId: toHex(OTHER_TRACE), spanId: toHex(OTHER_SPAN), traceState: 'vendor=a,other=b', flags: 1, droppedAttributesCount: 3 });
    expect(attributesObject(l.event.links[0].attributes)).toEqual({ 'link.kind': 'follows', n: 2n });
    expect(l.event.links[1]).toEqual({ traceId: toHex(TRACE), spanId: toHex(PARENT), traceState: '', attributes: [], droppedAttributesCount: 0, flags: 0 });
  });

  test('span names are written the same the first time and every time after (longer names are remembered as bytes)', () => {
    // Around the recorder's limits: 7 characters (a JS loop), 8 to 256 (remembered, as 32-bit
    // words: every length modulo 4), 20 and 21 (`_str`'s loop and its call into C++ the first
    // time), 257 (encoded every time); non-ASCII, astral and lone surrogates. The attributes
    // that follow a name must not be touched by the padding of its last word.
    const names = [
      'GET',
      'GET /ab',
      'GET /abc',
      'GET /abcd',
      'GET /abcde',
      'GET /abcdef',
      'GET /é',
      'GET /éé',
      'x'.repeat(20),
      'y'.repeat(21),
      'middleware - <anonymous>',
      'request handler - /users/:id',
      'z'.repeat(256),
      'w'.repeat(257),
      'request handler - /prés/✓/💥',
      `lone ${'\ud800'} surrogate, long enough`,
    ];
    const path = tmp.file(`f${counter++}.mmap`);
    const rec = openRecorder(path, { slots: 1024, slotSize: 2048 });
    const scope = scopeOf(rec);
    for (let round = 0; round < 2; round++) {
      for (const name of names) {
        rec.recordSpanStart(scope, TRACE, SPAN, PARENT, 1, name, 2, undefined, { after: 'name', n: 7 }); // hot path
        rec.recordSpanStart(scope, toHex(TRACE), SPAN, null, 1, name, 2, T1, undefined); // general path
        rec.recordSpanEnd(scope, TRACE, SPAN, undefined, undefined, name, { 'http.route': '/r' }); // hot path
        rec.recordSpanEnd(scope, TRACE, SPAN, T2, { code: 1 }, name); // general path
        rec.recordSpanName(scope, TRACE, SPAN, name);
      }
    }
    rec.close();
    const messages = read(path).spans.messages.map((m) => m.message.event);
    // An end with a name writes a name change, then the end (which has no name).
    expect(messages.filter((e) => e.type === 'end')).toHaveLength(names.length * 2 * 2);
    const got = messages.flatMap((e) => (e.type === 'start' || e.type === 'name' ? [e.name] : []));
    const expected: string[] = [];
    for (let round = 0; round < 2; round++) {
      for (const name of names) {
        const utf8 = Buffer.from(name, 'utf8').toString('utf8'); // a lone surrogate becomes U+FFFD
        expected.push(utf8, utf8, utf8, utf8, utf8);
      }
    }
    expect(got).toEqual(expected);
    // The attributes after each name, on the hot path's start and end (an update before the end).
    const starts = messages.filter((e) => e.type === 'start');
    expect(starts.filter((e, i) => i % 2 === 0).map((e) => attributesObject(e.attributes))).toEqual(
      expected.filter((_, i) => i % 5 === 0).map(() => ({ after: 'name', n: 7n })),
    );
    const updates = messages.filter((e) => e.type === 'attributes');
    expect(updates.map((e) => attributesObject(e.attributes))).toEqual(expected.filter((_, i) => i % 5 === 0).map(() => ({ 'http.route': '/r' })));
  });

  describe('a value that fits is written whole, whatever the other rings\' slot sizes (default options)', () => {
    /** The string lengths of the attributes (concise on failure), then the values. */
    function expectWhole(kvs: JsKeyValue[], expected: Record<string, string>): void {
      const got = attributesObject(kvs);
      const lengths = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, String(v).length]));
      expect(lengths(got)).toEqual(lengths(expected));
      expect(got).toEqual(expected);
    }

    test('dictionary entries (resource and scope attributes) are never truncated to a slot', () => {
      const p = tmp.file('whole-dict.mmap');
      const rec = openRecorder(p);
      const res = rec.createResource({ 'process.command_line': 'r'.repeat(2000) });
      const scope = rec.createInstrumentationScope(res, 's', '1', { note: 'n'.repeat(1000) });
      const st = rec.stats();
      rec.close();
      const f = read(p);
      expectWhole(f.resolveResource(res).attributes, { 'process.command_line': 'r'.repeat(2000) });
      expectWhole(f.resolveScope(scope).attributes, { note: 'n'.repeat(1000) });
      expect(st.truncated).toBe(0);
    });

    test('scope names and versions, and metric names, descriptions and units, are never truncated (dictionary entries)', () => {
      const p = tmp.file('whole-names.mmap');
      const rec = openRecorder(p);
      const scope = rec.createInstrumentationScope(rec.createResource({}), 'n'.repeat(3000), 'v'.repeat(3000));
      const metric = rec.createMetricStream(scope, 'm'.repeat(3000), 'd'.repeat(5000), 'u'.repeat(3000), 'gauge');
      const st = rec.stats();
      rec.close();
      const f = read(p);
      const sc = f.resolveScope(scope);
      const m = f.resolveMetric(metric);
      expect([sc.name.length, sc.version.length, m.name.length, m.description.length, m.unit.length]).toEqual([3000, 3000, 3000, 5000, 3000]);
      expect(st.truncated).toBe(0);
    });

    test('a severity text that fits the event slot is written whole', () => {
      const p = tmp.file('whole-severity.mmap');
      const rec = openRecorder(p);
      const scope = rec.createInstrumentationScope(rec.createResource({}), 's');
      rec.recordEvent(scope, null, 0, T1, null, { severityNumber: 13, severityText: 'W'.repeat(300) });
      rec.close();
      expect(read(p).events.messages[0].message.severityText.length).toBe(300);
    });

    test('an event body and attributes that fit the default event slot are written whole', () => {
      const p = tmp.file('whole-event.mmap');
      const rec = openRecorder(p);
      const scope = rec.createInstrumentationScope(rec.createResource({}), 's');
      rec.recordEvent(scope, null, 0, T1, { a: 'e'.repeat(300) }, { body: 'b'.repeat(600) });
      const st = rec.stats();
      rec.close();
      const e = read(p).events.messages[0].message;
      expect(e.body && 'string' in e.body ? e.body.string.length : e.body).toBe(600);
      expectWhole(e.attributes, { a: 'e'.repeat(300) });
      expect(st.truncated).toBe(0);
    });

    test('a span attribute that fits the default span slot is written whole', () => {
      const p = tmp.file('whole-span.mmap');
      const rec = openRecorder(p);
      const scope = rec.createInstrumentationScope(rec.createResource({}), 's');
      rec.recordSpanStart(scope, TRACE, SPAN, null, 0, 'x', 1, T1, { s: 's'.repeat(300) });
      const st = rec.stats();
      rec.close();
      const s = onlySpan(read(p));
      if (s.event.type !== 'start') throw new Error('not a start');
      expectWhole(s.event.attributes, { s: 's'.repeat(300) });
      expect(st.truncated).toBe(0);
    });
  });

  test('integral numbers outside the int64 range are written as doubles, not clamped', () => {
    const { rec, path } = fresh();
    const scope = scopeOf(rec);
    rec.recordSpanStart(scope, TRACE, SPAN, null, 0, 'x', 1, T1, { e20: 1e20, p63: 2 ** 63, m: -(2 ** 64), maxSafe: Number.MAX_SAFE_INTEGER });
    rec.close();
    const s = onlySpan(read(path));
    if (s.event.type !== 'start') throw new Error('not a start');
    expectAttrs(s.event.attributes, { e20: { double: 1e20 }, p63: { double: 2 ** 63 }, m: { double: -(2 ** 64) }, maxSafe: { int: BigInt(Number.MAX_SAFE_INTEGER) } });
  });

  test('the dictionary grows past its initial size, and every ref still resolves', () => {
    const p = tmp.file('grow.mmap');
    const rec = openRecorder(p, { slots: 16, slotSize: 256, dictionaryBytes: 4096 });
    const initialBytes = read(p).fileBytes;
    const refs: Array<[number, string]> = [];
    for (let i = 0; i < 3000; i++) {
      const s = `string number ${i} ✓`;
      refs.push([rec.recordString(s), s]);
    }
    const scope = rec.createInstrumentationScope(rec.createResource({ late: 'resource' }), 'late-scope');
    rec.recordEvent(scope, null, refs[2999][0], T1, { [refs[2999][1]]: 'late key' });
    rec.close();
    const f = read(p);
    expect(f.fileBytes).toBeGreaterThan(initialBytes);
    for (const [ref, s] of refs) if (f.resolveString(ref) !== s) expect(f.resolveString(ref)).toBe(s);
    expect(new Set(refs.map(([r]) => r)).size).toBe(refs.length);
    const e = f.events.messages[0].message;
    expect(e.eventName).toBe('string number 2999 ✓');
    expect(attributesObject(e.attributes)).toEqual({ 'string number 2999 ✓': 'late key' });
    expect(f.resolveScope(scope).name).toBe('late-scope');
  });

  test('a full dictionary (maxDictionaryBytes) makes recordString throw a RangeError; the file stays valid and the rings keep working', () => {
    const p = tmp.file('dict-full.mmap');
    const rec = openRecorder(p, { slots: 16, slotSize: 256, dictionaryBytes: 4096, maxDictionaryBytes: 8192 });
    const scope = rec.createInstrumentationScope(rec.createResource({}), 'before-full');
    const refs: Array<[number, string]> = [];
    let thrown: unknown;
    for (let i = 0; i < 10000 && thrown === undefined; i++) {
      const s = `filler string ${i} `.padEnd(40, '.');
      try {
        refs.push([rec.recordString(s), s]);
      } catch (e) {
        thrown = e;
      }
    }
    expect((thrown as Error).name).toBe('RangeError'); // by name: native errors carry the main realm's constructors
    expect((thrown as Error).message).toMatch(/dictionary/);
    expect(refs.length).toBeGreaterThan(50);
    rec.recordEvent(scope, null, refs[0][0], T1);
    rec.close();
    const f = read(p);
    expect(f.dictionary.end).toBeLessThanOrEqual(f.dictionary.offset + 64 + 8192);
    expect(f.entries().length).toBe(f.dictionary.numEntries);
    for (const [ref, s] of refs) if (f.resolveString(ref) !== s) expect(f.resolveString(ref)).toBe(s);
    expect(f.events.messages.map((m) => m.message.eventName)).toEqual([refs[0][1]]);
  });

  test('stats() counts what was written, per ring, and the dictionary size', () => {
    const { rec, path } = fresh();
    const scope = scopeOf(rec);
    const m = rec.createMetricStream(scope, 'm', '', '', 'gauge');
    for (let i = 0; i < 3; i++) rec.recordSpanStart(scope, TRACE, SPAN, null, 0, 's', 1, T1);
    for (let i = 0; i < 2; i++) rec.recordEvent(scope, null, 0, T1);
    rec.recordMeasurement(m, null, T1, 1);
    const st = rec.stats();
    const f = read(path);
    rec.close();
    expect(st.spans).toEqual({ written: 3, dropped: 0 });
    expect(st.events).toEqual({ written: 2, dropped: 0 });
    expect(st.measurements).toEqual({ written: 1, dropped: 0 });
    expect(st.truncated).toBe(0);
    expect(st.dictionary.entries).toBe(f.dictionary.numEntries);
    // Either the bytes of the entries or the dictionary's extent including its header.
    expect([f.dictionary.end - f.dictionary.offset - 64, f.dictionary.end - f.dictionary.offset]).toContain(st.dictionary.bytes);
    expect([f.events.messages.length, f.spans.messages.length, f.measurements.messages.length]).toEqual([2, 3, 1]);
  });
});
