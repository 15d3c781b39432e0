/**
 * The native API the collector uses, loaded from the package root (`index.js`).
 * Decoding the file, assembling spans, aggregating metrics and encoding OTLP
 * all happen there; this module only describes and loads it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as Native from '../index';
import type { NativeCollectorOptions } from './config';

export type RingName = Native.RingName;

/** What one `poll()` produced (see the package's `index.d.ts`). */
export type PollResult = Native.PollResult;

/** What `finish()` produced once the writer is gone: the last poll, plus the last metrics. */
export type FinishResult = Native.PollResult & { metrics: Buffer | null };

/** The part of the native `status()` the collector reads. */
export type FileCollectorStatus = Pick<Native.FileCollectorStatus, 'startTimeUnixNano' | 'dropped' | 'rings' | 'dictionaryBytes' | 'openSpans'> &
  Partial<Pick<Native.FileCollectorStatus, 'skipped' | 'badRecords' | 'pipeline'>>;

/** The part of the native collector of one file (`openCollector`) that the collector uses. */
export type FileCollector = Pick<Native.FileCollector, 'poll' | 'collectMetrics' | 'writerAlive' | 'finish' | 'close'> & {
  status(): FileCollectorStatus;
};

export type OpenCollector = (path: string, options?: NativeCollectorOptions) => FileCollector;

/** The subset of `Reader` (index.d.ts) that `inspect` uses. */
export interface NativeReader {
  header(): {
    version: number;
    startTimeUnixNano: bigint;
    rings: Record<RingName, { offset: number; slots: number; slotSize: number; readerIndex: number; writerIndex: number }>;
    dictionary: { offset: number; end: number; entries: number };
    dropped: Record<RingName, number>;
    fileBytes: number;
  };
  read(ring: RingName, max?: number): Array<Record<string, unknown> & { ring: RingName; seq: number }>;
  writerAlive(): boolean;
  close(): void;
}

export interface NativeModule {
  openCollector?: OpenCollector;
  openReader?: (path: string) => NativeReader;
}

/** Finds the directory of the `otlp-mmap` package (works from `collector/` and `dist/collector/`). */
export function packageRoot(from: string = __dirname): string {
  let dir = from;
  for (let i = 0; i < 6; i++) {
    const pj = path.join(dir, 'package.json');
    try {
      if ((JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: string }).name === 'otlp-mmap') return dir;
    } catch {
      // keep looking upward
    }
    dir = path.dirname(dir);
  }
  return path.join(from, '..', '..');
}

let cached: NativeModule | undefined;

/** Loads the package root's native API. Throws an `Error` saying how to build it when it cannot be loaded. */
export function loadNative(): NativeModule {
  if (cached) return cached;
  const root = packageRoot();
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cached = require(root) as NativeModule;
  } catch (e) {
    throw new Error(`cannot load the otlp-mmap native addon from ${root}: ${(e as Error).message} (build it with \`npm run build\`)`);
  }
  return cached;
}

/** The native `openCollector`, or an `Error` explaining that the addon lacks it. */
export function nativeOpenCollector(): OpenCollector {
  const native = loadNative();
  if (typeof native.openCollector !== 'function') throw new Error('the otlp-mmap native addon has no openCollector(): rebuild it with `npm run build`');
  return native.openCollector;
}
