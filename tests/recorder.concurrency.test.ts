// Concurrency: 4 worker threads and 2 separate processes write to one file at
// once (each attached with its own recorder) while one reader process, the
// single consumer of every ring, reads continuously with the native reader.
// Every message is either read exactly once and intact, or counted as dropped;
// the totals reconcile exactly, per ring.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChildProcess, fork, spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { openRecorder } from '../index';
import { readMmapFile, RingName, RING_NAMES } from './support/mmap-reader';
import { FIXTURES, tempDir } from './fixtures/recorder/helpers';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const shared = require('./fixtures/recorder/concurrency-shared.js') as {
  checkMessage: (ring: RingName, msg: unknown) => [number, number] | string;
};

const tmp = tempDir('recorder-concurrency');
afterAll(() => tmp.cleanup());

const WORKERS = 4;
const PROCESSES = 2;
const PER_WRITER = 6000; // 2000 per ring
/** Small rings, so that both paths (read and dropped) are taken. */
const OPTIONS = { slots: 256, slotSize: 512 };

type PerRing = Record<RingName, number>;
interface WriterResult {
  w: number;
  attempted: PerRing;
  written: PerRing;
}
interface ReaderResult {
  got: Record<RingName, Array<[number, number, number]>>;
  errors: string[];
}

function runWorker<R = WriterResult>(file: string, w: number, mode: 'write' | 'intern' = 'write', count = PER_WRITER): Promise<R> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(path.join(FIXTURES, 'writer-worker.js'), { workerData: { file, w, count, mode } });
    let result: R | undefined;
    worker.on('message', (m: R) => (result = m));
    worker.on('error', reject);
    worker.on('exit', (code) => (code === 0 && result ? resolve(result) : reject(new Error(`worker ${w} exited with ${code}`))));
  });
}

function runProcess<R = WriterResult>(file: string, w: number, mode: 'write' | 'intern' = 'write', count = PER_WRITER): Promise<R> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(FIXTURES, 'writer-process.js'), file, String(w), String(count), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8'); // decode across chunk boundaries
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    child.stderr.on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as R) : reject(new Error(`writer process ${w} exited with ${code}: ${err}`))));
  });
}

/** Starts the native reader process; resolves once it has opened the file. */
function startReader(file: string, outFile: string): Promise<{ child: ChildProcess; finished: Promise<ReaderResult> }> {
  return new Promise((resolveStart, rejectStart) => {
    const child = fork(path.join(FIXTURES, 'reader-process.js'), [file, outFile], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const finished = new Promise<ReaderResult>((resolve, reject) => {
      child.on('message', (m: unknown) => {
        if (m === 'ready') resolveStart({ child, finished });
      });
      child.on('exit', (code) => {
        if (code === 0 && fs.existsSync(outFile)) resolve(JSON.parse(fs.readFileSync(outFile, 'utf8')) as ReaderResult);
        else {
          const e = new Error(`reader process exited with ${code}: ${err}`);
          reject(e);
          rejectStart(e);
        }
      });
    });
  });
}

/** The JS reader as consumer, in this process (OTLP_MMAP_TEST_READER=js; for when the native reader is unavailable). */
async function jsConsumer(file: string, writersDone: () => boolean): Promise<ReaderResult> {
  const got: ReaderResult['got'] = { events: [], spans: [], measurements: [] };
  const errors: string[] = [];
  let last = false;
  for (;;) {
    const f = readMmapFile(file, { consume: true });
    for (const ring of RING_NAMES) {
      for (const m of f[ring].messages) {
        const r = shared.checkMessage(ring, m.message);
        if (typeof r === 'string') errors.push(`${ring} seq ${m.seq}: ${r}`);
        else got[ring].push([m.seq, r[0], r[1]]);
      }
    }
    if (last) break;
    if (writersDone()) last = true;
    await new Promise((r) => setImmediate(r));
  }
  return { got, errors };
}

describe('concurrent writers and one reader', () => {
  test('4 worker threads + 2 processes write while a reader process reads: every message read exactly once, intact, or counted as dropped', async () => {
    const file = tmp.file('shared.mmap');
    const creator = openRecorder(file, OPTIONS);
    const useJs = process.env.OTLP_MMAP_TEST_READER === 'js';
    const reader = useJs ? undefined : await startReader(file, tmp.file('reader-out.json'));

    let writersDone = false;
    const writers = Promise.all([
      ...Array.from({ length: WORKERS }, (_, k) => runWorker(file, k)),
      ...Array.from({ length: PROCESSES }, (_, k) => runProcess(file, WORKERS + k)),
    ]).finally(() => (writersDone = true));
    const jsRead = useJs ? jsConsumer(file, () => writersDone) : undefined;
    const results = await writers;
    let read: ReaderResult;
    if (reader) {
      reader.child.send('stop');
      read = await reader.finished;
    } else {
      read = await (jsRead as Promise<ReaderResult>);
    }
    const final = readMmapFile(file);
    const creatorStats = creator.stats();
    creator.close();

    expect(read.errors.slice(0, 10)).toEqual([]);
    const attempted = (ring: RingName) => results.reduce((n, r) => n + r.attempted[ring], 0);
    const written = (ring: RingName) => results.reduce((n, r) => n + r.written[ring], 0);
    const summary: Record<string, unknown> = {};
    for (const ring of RING_NAMES) {
      const got = read.got[ring];
      // Exactly once: no (writer, index) twice, no sequence number twice, and the
      // sequence numbers are exactly 0..writer_index (nothing claimed was skipped).
      const ids = new Set(got.map(([, w, i]) => `${w}:${i}`));
      expect(ids.size).toBe(got.length);
      const seqs = got.map(([s]) => s).sort((a, b) => a - b);
      expect(seqs).toEqual([...Array(got.length).keys()]);
      expect(final[ring].header.writerIndex).toBe(got.length - 1);
      expect(final[ring].header.readerIndex).toBe(got.length - 1);
      // Each writer's messages on one ring arrive in the order it wrote them.
      for (let w = 0; w < WORKERS + PROCESSES; w++) {
        const mine = got.filter(([, ww]) => ww === w).map(([, , i]) => i);
        expect(mine).toEqual([...mine].sort((a, b) => a - b));
      }
      // Reconcile: read + dropped = attempted; what the writers say they published was read.
      expect(got.length + final.dictionary.dropped[ring]).toBe(attempted(ring));
      expect(written(ring)).toBe(got.length);
      // stats().dropped is the file's counter, all writers included.
      expect(creatorStats[ring]).toEqual({ written: 0, dropped: final.dictionary.dropped[ring] });
      summary[ring] = { attempted: attempted(ring), read: got.length, dropped: final.dictionary.dropped[ring] };
    }
    // Both paths were exercised: messages were dropped, and the reader read while
    // writers wrote (more than the N-1 a final drain can find, so a ring wrapped).
    expect(RING_NAMES.some((r) => final.dictionary.dropped[r] > 0)).toBe(true);
    expect(RING_NAMES.some((r) => read.got[r].length > OPTIONS.slots - 1)).toBe(true);
    // eslint-disable-next-line no-console
    console.log(`concurrency totals (${useJs ? 'JS' : 'native'} reader): ${JSON.stringify(summary)}`);
  });

  test('writers in threads and processes grow the dictionary at once; every ref resolves to its own string', async () => {
    const file = tmp.file('dict.mmap');
    const creator = openRecorder(file, { slots: 4096, slotSize: 256, dictionaryBytes: 4096 });
    const initialBytes = fs.statSync(file).size;
    type Interned = { w: number; refs: Array<[number, string]> };
    const results = await Promise.all([
      ...Array.from({ length: 2 }, (_, k) => runWorker<Interned>(file, k, 'intern', 3000)),
      ...Array.from({ length: 2 }, (_, k) => runProcess<Interned>(file, 2 + k, 'intern', 3000)),
    ]);
    const f = readMmapFile(file);
    creator.close();
    expect(f.fileBytes).toBeGreaterThan(initialBytes);
    const all = results.flatMap((r) => r.refs);
    expect(all).toHaveLength(4 * 3000);
    expect(new Set(all.map(([ref]) => ref)).size).toBe(all.length); // no two entries share space
    const resolved = (ref: number): string => {
      try {
        return f.resolveString(ref);
      } catch (e) {
        return `<${(e as Error).message}>`;
      }
    };
    // On a mismatch, show what the ref resolved to, and where it lies in the file.
    const wrong = all.filter(([ref, s]) => resolved(ref) !== s).map(([ref, s]) => ({ ref, want: s, got: resolved(ref), initialBytes, fileBytes: f.fileBytes }));
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(f.entries().length).toBe(f.dictionary.numEntries);
    // The events that name them resolve too.
    expect(f.events.messages).toHaveLength(4 * 300);
    const names = new Set(all.map(([, s]) => s));
    expect(f.events.messages.every((m) => names.has(m.message.eventName))).toBe(true);
  });
});
