/**
 * The bounded queue of encoded batches between reading and exporting.
 * Reading never waits for it: `push` always succeeds, and when the queue holds
 * more than its byte limit the OLDEST waiting batches are dropped and counted.
 * Batches being sent right now count toward the limit but are not dropped.
 */
import type { Signal } from './config';

/** How a batch left the queue. */
export type BatchOutcome = 'exported' | 'failed' | 'dropped';

/** One encoded OTLP `Export*ServiceRequest`. */
export interface Batch {
  signal: Signal;
  body: Buffer;
  /** Order of arrival, set by the queue. */
  seq?: number;
  /** Called once when the batch leaves the queue for good. */
  onSettled?: (outcome: BatchOutcome) => void;
}

export interface QueueStats {
  /** Bytes waiting or in flight. */
  bytes: number;
  /** Batches waiting or in flight. */
  batches: number;
  droppedBatches: number;
  droppedBytes: number;
}

/** A FIFO of batches with a byte limit and drop-oldest overflow. */
export class ExportQueue {
  private readonly pending: Batch[] = [];
  private pendingBytes = 0;
  private inFlightBytes = 0;
  private inFlightCount = 0;
  private dropped = { batches: 0, bytes: 0 };
  private nextSeq = 0;

  constructor(
    readonly limitBytes: number,
    private readonly onDrop?: (batch: Batch) => void,
  ) {}

  /** Adds a batch at the end, then drops the oldest waiting batches while over the limit. */
  push(batch: Batch): void {
    batch.seq = this.nextSeq++;
    this.pending.push(batch);
    this.pendingBytes += batch.body.length;
    this.enforceLimit();
  }

  /** Puts a batch that could not be sent back in its place by arrival (near the front: it is among the oldest), then enforces the limit. */
  requeue(batch: Batch): void {
    this.inFlightBytes -= batch.body.length;
    this.inFlightCount--;
    let i = 0;
    while (i < this.pending.length && (this.pending[i].seq ?? 0) < (batch.seq ?? 0)) i++;
    this.pending.splice(i, 0, batch);
    this.pendingBytes += batch.body.length;
    this.enforceLimit();
  }

  /** Takes the oldest waiting batch of a signal for sending, or `undefined`. */
  take(signal: Signal): Batch | undefined {
    const i = this.pending.findIndex((b) => b.signal === signal);
    if (i < 0) return undefined;
    const [batch] = this.pending.splice(i, 1);
    this.pendingBytes -= batch.body.length;
    this.inFlightBytes += batch.body.length;
    this.inFlightCount++;
    return batch;
  }

  /** Marks a taken batch as finished (exported or failed for good). */
  settle(batch: Batch, outcome: 'exported' | 'failed'): void {
    this.inFlightBytes -= batch.body.length;
    this.inFlightCount--;
    batch.onSettled?.(outcome);
  }

  /** True when a batch of this signal is waiting. */
  has(signal: Signal): boolean {
    return this.pending.some((b) => b.signal === signal);
  }

  /** True when nothing is waiting or in flight. */
  get empty(): boolean {
    return this.pending.length === 0 && this.inFlightCount === 0;
  }

  stats(): QueueStats {
    return {
      bytes: this.pendingBytes + this.inFlightBytes,
      batches: this.pending.length + this.inFlightCount,
      droppedBatches: this.dropped.batches,
      droppedBytes: this.dropped.bytes,
    };
  }

  /** Drops everything still waiting (at shutdown, after the flush deadline). Returns how many batches. */
  dropAll(): number {
    const n = this.pending.length;
    while (this.pending.length > 0) this.dropOldest();
    return n;
  }

  private enforceLimit(): void {
    while (this.pendingBytes + this.inFlightBytes > this.limitBytes && this.pending.length > 0) this.dropOldest();
  }

  private dropOldest(): void {
    const batch = this.pending.shift() as Batch;
    this.pendingBytes -= batch.body.length;
    this.dropped.batches++;
    this.dropped.bytes += batch.body.length;
    this.onDrop?.(batch);
    batch.onSettled?.('dropped');
  }
}
