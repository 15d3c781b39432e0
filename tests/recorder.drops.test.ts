// Never blocks: with no reader, writing ten times a ring's capacity returns
// (the test would hang until its timeout if a producer waited for space); the
// ring holds N-1 messages, every other one is dropped and counted in the
// dictionary-header drop counter, and stats() agrees with the file.
import { openRecorder } from '../index';
import { attributesObject, JsKeyValue, readMmapFile, RingName } from './support/mmap-reader';
import { bytesOf, tempDir } from './fixtures/recorder/helpers';

const tmp = tempDir('recorder-drops');
afterAll(() => tmp.cleanup());

const N = 16;
const ATTEMPTS = 10 * N;

describe('the recorder never blocks', () => {
  test.each<RingName>(['spans', 'events', 'measurements'])('a full %s ring drops and counts every message beyond N-1, and stats() agrees', (ring) => {
    const p = tmp.file(`${ring}.mmap`);
    const rec = openRecorder(p, { slots: N, slotSize: 256 });
    const scope = rec.createInstrumentationScope(rec.createResource({ 'service.name': 'drops' }), 'drops');
    const metric = rec.createMetricStream(scope, 'm', '', '', 'gauge', { valueType: 'int' });
    const trace = bytesOf(16, 1);
    const span = bytesOf(8, 2);
    for (let i = 0; i < ATTEMPTS; i++) {
      if (ring === 'spans') rec.recordSpanStart(scope, trace, span, null, 1, 's', 1, BigInt(i), { i });
      else if (ring === 'events') rec.recordEvent(scope, null, 0, BigInt(i), { i });
      else rec.recordMeasurement(metric, { i }, BigInt(i), i);
    }
    const st = rec.stats();
    const f = readMmapFile(p);
    rec.close();

    const held = N - 1;
    expect(f[ring].messages).toHaveLength(held);
    expect(f[ring].unpublished).toBe(0);
    expect(f[ring].header.writerIndex).toBe(held - 1);
    // The first N-1 were kept, in order, intact.
    expect(f[ring].messages.map((m) => attributesObject(readAttrs(m.message)).i)).toEqual([...Array(held).keys()].map(BigInt));
    // Every other one was dropped and counted, in the file and in stats().
    expect(f.dictionary.dropped[ring]).toBe(ATTEMPTS - held);
    expect(st[ring]).toEqual({ written: held, dropped: ATTEMPTS - held });
    for (const other of (['spans', 'events', 'measurements'] as RingName[]).filter((r) => r !== ring)) {
      expect(f.dictionary.dropped[other]).toBe(0);
      expect(st[other].dropped).toBe(0);
    }
  });

  test('a message that is both too large and meets a full ring is one drop, not two', () => {
    const p = tmp.file('oversize-full.mmap');
    const rec = openRecorder(p, { slots: N, slotSize: 256 });
    const scope = rec.createInstrumentationScope(rec.createResource({}), 'drops');
    for (let i = 0; i < N - 1; i++) rec.recordEvent(scope, null, 0, BigInt(i));
    const many: Record<string, string> = {};
    for (let k = 0; k < 20; k++) many[`k${k}`] = 'v'.repeat(40);
    rec.recordEvent(scope, null, 0, 99n, many);
    const st = rec.stats();
    const f = readMmapFile(p);
    rec.close();
    expect(f.events.messages).toHaveLength(N - 1);
    expect(f.dictionary.dropped.events).toBe(1);
    expect(st.events).toEqual({ written: N - 1, dropped: 1 });
  });

  test('after the consumer frees space, the producer writes again (drops are per message, not a latch)', () => {
    const p = tmp.file('resume.mmap');
    const rec = openRecorder(p, { slots: N, slotSize: 256 });
    const scope = rec.createInstrumentationScope(rec.createResource({}), 'drops');
    for (let i = 0; i < 2 * N; i++) rec.recordEvent(scope, null, 0, BigInt(i), { i });
    const first = readMmapFile(p, { consume: true }); // the JS reader acts as the only consumer
    expect(first.events.messages).toHaveLength(N - 1);
    for (let i = 0; i < 3; i++) rec.recordEvent(scope, null, 0, BigInt(1000 + i), { i: 1000 + i });
    const second = readMmapFile(p);
    const st = rec.stats();
    rec.close();
    expect(second.events.messages.map((m) => m.seq)).toEqual([N - 1, N, N + 1]);
    expect(second.events.messages.map((m) => m.message.timeUnixNano)).toEqual([1000n, 1001n, 1002n]);
    expect(second.dictionary.dropped.events).toBe(2 * N - (N - 1));
    expect(st.events).toEqual({ written: N - 1 + 3, dropped: N + 1 });
  });
});

/** The attributes of an event, a measurement or a span start. */
function readAttrs(m: unknown): JsKeyValue[] {
  const msg = m as { attributes?: JsKeyValue[]; event?: { attributes?: JsKeyValue[] } };
  return msg.attributes ?? msg.event?.attributes ?? [];
}
