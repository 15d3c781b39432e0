// Messages too large for a slot follow PROTOCOL.md: a span start whose
// attributes do not fit continues in UpdateAttributes messages (nothing lost);
// a single value larger than a slot is truncated at a UTF-8 boundary and
// counted; any other message that cannot fit is replaced by a small marked
// stand-in and counted as dropped; and the ring never stalls.
import { openRecorder } from '../index';
import { attributesObject, JsKeyValue, JsSpanEvent, MmapFile, readMmapFile } from './support/mmap-reader';
import { bytesOf, tempDir, toHex } from './fixtures/recorder/helpers';

const tmp = tempDir('recorder-oversize');
afterAll(() => tmp.cleanup());

const TRACE = bytesOf(16, 1);
const SPAN = bytesOf(8, 2);
const T = 1_700_000_000_000_000_000n;

/** 300 attributes of 1 KiB each, every value distinct. */
function bigAttributes(): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (let i = 0; i < 300; i++) attrs[`attr.${String(i).padStart(3, '0')}`] = `${i}:`.padEnd(1024, String.fromCharCode(97 + (i % 26)));
  return attrs;
}

/** Collects a span's attributes from its start and attribute updates, failing on a duplicate key. */
function collectSpanAttributes(f: MmapFile): { kinds: string[]; attrs: Record<string, unknown> } {
  const kinds: string[] = [];
  const all: JsKeyValue[] = [];
  for (const { message: m } of f.spans.messages as Array<{ message: JsSpanEvent }>) {
    expect([m.traceId, m.spanId]).toEqual([toHex(TRACE), toHex(SPAN)]);
    kinds.push(m.event.type);
    if (m.event.type === 'start' || m.event.type === 'attributes') all.push(...m.event.attributes);
  }
  return { kinds, attrs: attributesObject(all) };
}

/** Byte length of the UTF-8 encoding. */
const utf8Len = (s: string): number => Buffer.byteLength(s, 'utf8');

describe('messages too large for a slot', () => {
  test.each([
    ['every ring', { slots: 1024, slotSize: 4096 }],
    ['only the span ring (other rings at their defaults)', { spans: { slots: 1024, slotSize: 4096 } }],
  ])('a span with 300 attributes of 1 KiB arrives whole as a start plus UpdateAttributes messages (4 KiB slots in %s)', (label, options) => {
    const p = tmp.file(`split-${label.length}.mmap`);
    const rec = openRecorder(p, options);
    const scope = rec.createInstrumentationScope(rec.createResource({}), 'big');
    const attrs = bigAttributes();
    rec.recordSpanStart(scope, TRACE, SPAN, null, 1, 'big span', 1, T, attrs);
    rec.recordSpanEnd(scope, TRACE, SPAN, T + 1n, { code: 1 });
    const st = rec.stats();
    rec.close();
    const f = readMmapFile(p);
    const { kinds, attrs: got } = collectSpanAttributes(f);
    expect(kinds[0]).toBe('start');
    expect(kinds[kinds.length - 1]).toBe('end');
    expect(kinds.slice(1, -1).every((k) => k === 'attributes')).toBe(true);
    expect(kinds.length).toBeGreaterThan(2); // it really was split
    expect(Object.keys(got).sort()).toEqual(Object.keys(attrs).sort());
    expect(new Set(Object.values(got).map((v) => String(v).length))).toEqual(new Set([1024]));
    expect(got).toEqual(attrs);
    const start = f.spans.messages[0].message;
    expect(start.event).toMatchObject({ type: 'start', name: 'big span', flags: 1, kind: 1, startTimeUnixNano: T });
    expect(st.truncated).toBe(0);
    expect(st.spans).toEqual({ written: kinds.length, dropped: 0 });
    expect(f.spans.unpublished).toBe(0);
  });

  test('with the default options, a span with 300 attributes of 1 KiB arrives whole', () => {
    const p = tmp.file('split-default.mmap');
    const rec = openRecorder(p);
    const scope = rec.createInstrumentationScope(rec.createResource({}), 'big');
    const attrs = bigAttributes();
    rec.recordSpanStart(scope, TRACE, SPAN, null, 1, 'big span', 1, T, attrs);
    const st = rec.stats();
    rec.close();
    const { attrs: got } = collectSpanAttributes(readMmapFile(p));
    expect(Object.keys(got).length).toBe(300);
    expect(new Set(Object.values(got).map((v) => String(v).length))).toEqual(new Set([1024]));
    expect(got).toEqual(attrs);
    expect(st.truncated).toBe(0);
  });

  test('with the default options, a 1 KiB value under a 128-character key arrives whole (README "Options and defaults")', () => {
    const p = tmp.file('long-key-default.mmap');
    const rec = openRecorder(p);
    const scope = rec.createInstrumentationScope(rec.createResource({}), 'long key');
    const key = `app.${'k'.repeat(124)}`;
    const attrs = { [key]: 'v'.repeat(1024), 'http.route': '/users/:id' };
    rec.recordSpanStart(scope, TRACE, SPAN, null, 1, 'long key span', 1, T, attrs);
    const st = rec.stats();
    rec.close();
    const { attrs: got } = collectSpanAttributes(readMmapFile(p));
    expect(key).toHaveLength(128);
    expect(got).toEqual(attrs);
    expect(st.truncated).toBe(0);
  });

  test.each([
    ['3-byte', '€'],
    ['4-byte (a surrogate pair in JS)', '😀'],
  ])('a single %s-character value larger than a slot is truncated at a UTF-8 boundary and counted', (_label, ch) => {
    const p = tmp.file(`trunc-${utf8Len(ch)}.mmap`);
    const slotSize = 1024;
    const rec = openRecorder(p, { slots: 64, slotSize });
    const scope = rec.createInstrumentationScope(rec.createResource({}), 'trunc');
    // Offset by one ASCII byte so that a cut at a byte multiple of the char size would split a character.
    const huge = 'x' + ch.repeat(3000);
    const hugeBytes = bytesOf(5000, 3);
    rec.recordSpanStart(scope, TRACE, SPAN, null, 0, 's', 1, T, { huge, small: 'kept' });
    rec.recordSpanAttributes(scope, TRACE, SPAN, { blob: hugeBytes });
    rec.recordSpanEnd(scope, TRACE, SPAN, T + 1n);
    const st = rec.stats();
    rec.close();
    const f = readMmapFile(p);
    const { kinds, attrs } = collectSpanAttributes(f);
    expect(kinds).toEqual(['start', 'attributes', 'end']); // nothing stalled, nothing lost
    const got = attrs.huge as string;
    expect(typeof got).toBe('string');
    expect(got).not.toContain('\uFFFD');
    expect(huge.startsWith(got)).toBe(true);
    expect(utf8Len(got)).toBeLessThan(slotSize);
    expect(utf8Len(got)).toBeGreaterThan(slotSize / 4); // truncated, not emptied
    expect((utf8Len(got) - 1) % utf8Len(ch)).toBe(0); // whole characters only
    expect(attrs.small).toBe('kept');
    const blob = attrs.blob as Uint8Array;
    expect(blob.length).toBeLessThan(slotSize);
    expect(blob.length).toBeGreaterThan(slotSize / 4);
    expect(Buffer.from(blob).equals(Buffer.from(hugeBytes.subarray(0, blob.length)))).toBe(true);
    expect(st.truncated).toBe(2);
    expect(st.spans.dropped).toBe(0);
  });

  test('a span name, a new name or a status message larger than a slot is truncated at a UTF-8 boundary and counted', () => {
    const p = tmp.file('trunc-names.mmap');
    const slotSize = 1024;
    const rec = openRecorder(p, { slots: 64, slotSize });
    const scope = rec.createInstrumentationScope(rec.createResource({}), 'trunc');
    const long = 'x' + '€'.repeat(3000);
    rec.recordSpanStart(scope, TRACE, SPAN, null, 0, long, 1, T);
    rec.recordSpanName(scope, TRACE, SPAN, long);
    rec.recordSpanEnd(scope, TRACE, SPAN, T + 1n, { code: 2, message: long });
    const st = rec.stats();
    rec.close();
    const events = readMmapFile(p).spans.messages.map((m) => m.message.event);
    expect(events.map((e) => e.type)).toEqual(['start', 'name', 'end']);
    const texts = events.map((e) => (e.type === 'start' || e.type === 'name' ? e.name : e.type === 'end' ? e.status?.message ?? '' : ''));
    for (const t of texts) {
      expect(t).not.toContain('\uFFFD');
      expect(long.startsWith(t)).toBe(true);
      expect(utf8Len(t)).toBeLessThan(slotSize);
      expect(utf8Len(t)).toBeGreaterThan(slotSize / 4);
    }
    expect(st.truncated).toBe(3);
  });

  test('an event or measurement that cannot fit is replaced by a marked stand-in, counted as dropped, and the ring goes on', () => {
    const p = tmp.file('standin.mmap');
    const rec = openRecorder(p, { slots: 64, slotSize: 512 });
    const scope = rec.createInstrumentationScope(rec.createResource({}), 'standin');
    const metric = rec.createMetricStream(scope, 'm', '', '', 'gauge', { valueType: 'int' });
    const many: Record<string, string> = {};
    for (let i = 0; i < 40; i++) many[`key.${i}`] = 'v'.repeat(60);
    const ctx = { traceId: TRACE, spanId: SPAN, traceFlags: 1 };
    rec.recordEvent(scope, ctx, 0, T, many, { severityNumber: 9, body: 'too much' });
    rec.recordEvent(scope, null, 0, T + 1n, { after: true });
    rec.recordMeasurement(metric, many, T, 5);
    rec.recordMeasurement(metric, { after: true }, T + 1n, 6);
    const st = rec.stats();
    rec.close();
    const f = readMmapFile(p);
    expect(f.events.messages).toHaveLength(2);
    const standIn = f.events.messages[0].message;
    expect(standIn.scopeRef).toBe(scope);
    expect(standIn.timeUnixNano).toBe(T);
    expect(attributesObject(standIn.attributes)).toEqual({ 'otlp_mmap.truncated': true });
    expect(attributesObject(f.events.messages[1].message.attributes)).toEqual({ after: true });
    expect(f.measurements.messages).toHaveLength(2);
    const mStandIn = f.measurements.messages[0].message;
    expect(mStandIn.metricRef).toBe(metric);
    expect(attributesObject(mStandIn.attributes)).toEqual({ 'otlp_mmap.truncated': true });
    expect(attributesObject(f.measurements.messages[1].message.attributes)).toEqual({ after: true });
    expect(f.measurements.messages[1].message.value).toEqual({ asLong: 6n });
    expect(f.dictionary.dropped.events).toBe(1);
    expect(f.dictionary.dropped.measurements).toBe(1);
    expect(st.events.dropped).toBe(1);
    expect(st.measurements.dropped).toBe(1);
  });

  test('many links that do not fit one slot are spread over several AddLink messages', () => {
    const p = tmp.file('links.mmap');
    const rec = openRecorder(p, { slots: 64, slotSize: 512 });
    const scope = rec.createInstrumentationScope(rec.createResource({}), 'links');
    const links = Array.from({ length: 40 }, (_, i) => ({ traceId: bytesOf(16, i + 10), spanId: bytesOf(8, i + 10), traceState: `k=${i}`, attributes: { i } }));
    rec.recordSpanLinks(scope, TRACE, SPAN, links);
    rec.close();
    const f = readMmapFile(p);
    const got = f.spans.messages.flatMap(({ message: m }) => (m.event.type === 'link' ? m.event.links : []));
    expect(f.spans.messages.length).toBeGreaterThan(1);
    expect(got.map((l) => [l.traceId, l.spanId, l.traceState, attributesObject(l.attributes).i])).toEqual(
      links.map((l, i) => [toHex(l.traceId), toHex(l.spanId), `k=${i}`, BigInt(i)]),
    );
  });
});
