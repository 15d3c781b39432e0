/**
 * One followed file: its native collector, its identity (device and inode),
 * and what has been read from it. A source is `live` while its writer holds
 * the lock, `finished` once `finish()` has drained it after the writer died,
 * and `closed` at the end.
 */
import type { FileCollector, FileCollectorStatus } from './native';

/** `dev:ino`, the identity of a file independent of its path. */
export type FileKey = string;

export class FileSource {
  state: 'live' | 'finished' | 'closed' = 'live';
  /** The path now names another file (replaced by a new inode) or nothing (removed). */
  detached = false;
  readonly read = { events: 0, spans: 0, measurements: 0 };
  /** The last status seen (drop counters etc.); kept after close for self-metrics. */
  lastStatus?: FileCollectorStatus;
  /** Batches from `finish()` not yet exported/failed/dropped. */
  pendingFinal = 0;

  constructor(
    readonly path: string,
    readonly key: FileKey,
    readonly collector: FileCollector,
  ) {}

  /** Reads `status()` and remembers it; returns undefined when the native call fails. */
  refreshStatus(): FileCollectorStatus | undefined {
    try {
      this.lastStatus = this.collector.status();
    } catch {
      // keep the previous status
    }
    return this.lastStatus;
  }

  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    try {
      this.collector.close();
    } catch {
      // closing twice or a broken mapping: nothing left to release
    }
  }
}
