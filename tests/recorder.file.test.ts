// Creating a file: the layout of a new file, mode 0600, the file appears at its
// final path only complete (temporary name, then rename), and the writer holds
// a shared flock for as long as it lives.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { openReader, openRecorder } from '../index';
import { readMmapFile, RING_NAMES, flagOf } from './support/mmap-reader';
import { nowBracket, tempDir } from './fixtures/recorder/helpers';

const tmp = tempDir('recorder-file');
afterAll(() => tmp.cleanup());

/** Exit status of `flock -n <mode> <file> true`: 0 when the lock was granted, 1 when it is held elsewhere. */
function probe(file: string, mode: '-x' | '-s'): number | null {
  const r = spawnSync('flock', ['-n', mode, file, 'true'], { encoding: 'utf8' });
  if (r.error) throw r.error;
  return r.status;
}

describe('creating a file', () => {
  test('a new file is laid out as PROTOCOL.md says, with the sizes the options ask for', () => {
    const p = tmp.file('layout.mmap');
    const { value: rec, low, high } = nowBracket(() =>
      openRecorder(p, { slots: 32, slotSize: 256, spans: { slots: 128, slotSize: 1024 }, dictionaryBytes: 1 << 16 }),
    );
    const f = readMmapFile(p);
    rec.close();
    expect(f.header.version).toBe(1);
    expect(Buffer.from(f.header.reserved).equals(Buffer.alloc(16))).toBe(true);
    expect(f.header.startTimeUnixNano >= low && f.header.startTimeUnixNano <= high).toBe(true);
    expect(f.events.header).toMatchObject({ numBuffers: 32, bufferSize: 256, readerIndex: -1, writerIndex: -1 });
    expect(f.measurements.header).toMatchObject({ numBuffers: 32, bufferSize: 256, readerIndex: -1, writerIndex: -1 });
    expect(f.spans.header).toMatchObject({ numBuffers: 128, bufferSize: 1024, readerIndex: -1, writerIndex: -1 });
    // Every i64 on an 8-byte boundary.
    for (const n of RING_NAMES) expect(f.header.ringOffsets[n] % 8).toBe(0);
    expect(f.header.dictionaryOffset % 8).toBe(0);
    // Every availability entry of a new ring is -1.
    const raw = fs.readFileSync(p);
    for (const n of RING_NAMES) {
      const h = f[n].header;
      for (let k = 0; k < h.numBuffers; k++) expect(raw.readInt32LE(h.offset + 32 + 4 * k)).toBe(-1);
    }
    expect(flagOf(-1, 32)).toBe(-1); // so a fresh slot never looks published for seq 0
    // A new dictionary: end just past its header (or past entries the recorder wrote itself), zero drops, zero reserved.
    expect(f.dictionary.end).toBeGreaterThanOrEqual(f.dictionary.offset + 64);
    expect(f.dictionary.dropped).toEqual({ events: 0, spans: 0, measurements: 0 });
    expect(Buffer.from(f.dictionary.reserved).equals(Buffer.alloc(24))).toBe(true);
    expect(f.entries().length).toBe(f.dictionary.numEntries);
    // The initial dictionary space is allocated up front.
    expect(f.fileBytes).toBeGreaterThanOrEqual(f.dictionary.offset + 64 + (1 << 16));
  });

  test('a new file has mode 0600 by default, and the mode option when given', () => {
    const p = tmp.file('mode.mmap');
    const rec = openRecorder(p);
    expect(fs.statSync(p).mode & 0o777).toBe(0o600);
    rec.close();
    const q = tmp.file('mode640.mmap');
    const rec2 = openRecorder(q, { mode: 0o640 });
    expect(fs.statSync(q).mode & 0o777).toBe(0o640);
    rec2.close();
  });

  test('the file appears at its final path only complete: built under a temporary name, then renamed', async () => {
    const sub = path.join(tmp.dir, 'watched');
    fs.mkdirSync(sub);
    const final = 'app.mmap';
    const events: Array<[string, string | null]> = [];
    const marker = 'marker.done';
    const watcher = fs.watch(sub);
    const sawMarker = new Promise<void>((resolve) => {
      watcher.on('change', (type, name) => {
        const n = name === null ? null : String(name);
        events.push([type, n]);
        if (n === marker) resolve();
      });
    });
    const rec = openRecorder(path.join(sub, final), { slots: 16, slotSize: 256 });
    // inotify delivers a watch's events in order: once the marker is seen, every
    // event caused by openRecorder has been seen too.
    fs.writeFileSync(path.join(sub, marker), '');
    await sawMarker;
    watcher.close();
    rec.close();
    const names = new Set(events.map(([, n]) => n));
    // No write ever touched the final name; it only arrived by rename.
    expect(events.filter(([t, n]) => n === final && t === 'change')).toEqual([]);
    expect(events.some(([t, n]) => n === final && t === 'rename')).toBe(true);
    // A temporary name was used, in the same directory, and it is gone.
    const others = [...names].filter((n) => n !== final && n !== marker);
    expect(others.length).toBeGreaterThan(0);
    for (const n of others) expect(n === null ? false : fs.existsSync(path.join(sub, n))).toBe(false);
    expect(fs.readdirSync(sub).sort()).toEqual([final, marker].sort());
  });

  test('re-creating a file replaces it with a new inode and leaves no temporary file', () => {
    const sub = path.join(tmp.dir, 'recreate');
    fs.mkdirSync(sub);
    const p = path.join(sub, 'app.mmap');
    const a = openRecorder(p, { slots: 16, slotSize: 256 });
    const scope = a.createInstrumentationScope(a.createResource({}), 'x');
    a.recordEvent(scope, null, 0, 1n);
    const inoA = fs.statSync(p).ino;
    const startA = readMmapFile(p).header.startTimeUnixNano;
    // A second writer creating the same path while the first is alive.
    const b = openRecorder(p, { slots: 16, slotSize: 256 });
    const inoB = fs.statSync(p).ino;
    expect(inoB).not.toBe(inoA);
    const f = readMmapFile(p);
    expect(f.events.messages).toEqual([]); // a new file, not the old one re-initialised
    expect(f.header.startTimeUnixNano).not.toBe(startA);
    // The first writer keeps writing into its own (now unlinked) inode, not the new file.
    a.recordEvent(scope, null, 0, 2n);
    expect(readMmapFile(p).events.messages).toEqual([]);
    a.close();
    b.close();
    const c = openRecorder(p, { slots: 16, slotSize: 256 });
    expect(fs.statSync(p).ino).not.toBe(inoB);
    c.close();
    expect(fs.readdirSync(sub)).toEqual(['app.mmap']);
  });

  test('a reader draining the old inode keeps everything when the file is re-created at its path', () => {
    const sub = path.join(tmp.dir, 'drain');
    fs.mkdirSync(sub);
    const p = path.join(sub, 'app.mmap');
    const a = openRecorder(p, { slots: 16, slotSize: 256 });
    const scope = a.createInstrumentationScope(a.createResource({}), 'x');
    for (let i = 0; i < 3; i++) a.recordEvent(scope, null, 0, BigInt(i + 1));
    const reader = openReader(p);
    const b = openRecorder(p, { slots: 16, slotSize: 256 }); // a restart: new file at the same path
    a.recordEvent(scope, null, 0, 4n); // the old writer is still alive, on the old inode
    const got = reader.read('events').map((m) => m.timeUnixNano);
    reader.close();
    a.close();
    b.close();
    expect(got).toEqual([1n, 2n, 3n, 4n]);
  });

  test('the writer holds a shared flock for its whole life, and close() releases it', () => {
    const p = tmp.file('lock.mmap');
    const rec = openRecorder(p);
    const reader = openReader(p);
    expect(probe(p, '-x')).toBe(1); // an exclusive probe fails: a writer is alive
    expect(reader.writerAlive()).toBe(true);
    expect(probe(p, '-s')).toBe(0); // the lock is shared: other writers may attach
    const scope = rec.createInstrumentationScope(rec.createResource({}), 'x');
    rec.recordEvent(scope, null, 0, 1n);
    expect(probe(p, '-x')).toBe(1);
    rec.close();
    expect(rec.closed).toBe(true);
    expect(probe(p, '-x')).toBe(0);
    expect(reader.writerAlive()).toBe(false);
    reader.close();
    rec.close(); // idempotent
  });

  test('an attached writer holds the lock too: the file is free only when the last writer closes', () => {
    const p = tmp.file('attach-lock.mmap');
    const creator = openRecorder(p);
    const attached = openRecorder(p, { attach: true });
    creator.close();
    expect(probe(p, '-x')).toBe(1);
    attached.close();
    expect(probe(p, '-x')).toBe(0);
  });
});
