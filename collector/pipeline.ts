/**
 * The export pipeline: a batcher that merges small polled batches of one
 * signal for up to `batchDelayMs` (protobuf repeated fields concatenate, so two
 * encoded `Export*ServiceRequest`s appended are one valid request holding
 * both), the bounded queue, and a sender per signal that exports with retries,
 * exponential backoff, jitter and `Retry-After`.
 */
import { SIGNALS, type Signal } from './config';
import type { Exporter, ExportResult } from './exporters/exporter';
import type { Logger } from './log';
import { ExportQueue, type Batch, type BatchOutcome } from './queue';
import { backoffDelay } from './retry';

/** Counters of the sender, per signal. */
export interface SignalExportStats {
  exportedBatches: number;
  exportedBytes: number;
  failedBatches: number;
  retries: number;
  /** Items the receiver rejected in partial-success responses. */
  rejected: number;
}

export interface PipelineOptions {
  queueBytes: number;
  batchDelayMs: number;
  maxBatchBytes: number;
  /** A merged batch of this signal stops growing at this many spans / log records (`--max-batch-size`). */
  maxBatchItems?: Partial<Record<Signal, number>>;
  concurrency: number;
  retry: { initialDelayMs: number; maxDelayMs: number };
  /** Where each signal goes (for messages only). */
  describe?: (signal: Signal) => string;
}

interface Pending {
  parts: Buffer[];
  bytes: number;
  /** Spans / log records in `parts`. */
  items: number;
  callbacks: Array<(o: BatchOutcome) => void>;
  timer?: NodeJS.Timeout;
}

interface Lane {
  inFlight: number;
  /** Consecutive failed attempts; 0 when the last export succeeded. */
  attempt: number;
  blockedUntil: number;
  timer?: NodeJS.Timeout;
  failingSince?: number;
}

/** Batches, queues and exports OTLP batches. */
export class ExportPipeline {
  readonly queue: ExportQueue;
  private readonly pending = new Map<Signal, Pending>();
  private readonly lanes: Record<Signal, Lane>;
  private readonly counters: Record<Signal, SignalExportStats>;
  private readonly idleWaiters: Array<() => void> = [];
  private stopped = false;

  constructor(
    private readonly exporter: Exporter,
    private readonly options: PipelineOptions,
    private readonly log: Logger,
  ) {
    this.queue = new ExportQueue(options.queueBytes, (b) =>
      log.limited('warn', 'queue-drop', 10_000, `export queue is full (${options.queueBytes} bytes): dropped the oldest ${b.signal} batch (${b.body.length} bytes)`),
    );
    const lane = (): Lane => ({ inFlight: 0, attempt: 0, blockedUntil: 0 });
    this.lanes = { traces: lane(), metrics: lane(), logs: lane() };
    const c = (): SignalExportStats => ({ exportedBatches: 0, exportedBytes: 0, failedBatches: 0, retries: 0, rejected: 0 });
    this.counters = { traces: c(), metrics: c(), logs: c() };
  }

  /**
   * Adds one encoded batch holding `items` spans / log records (0 when not counted, as
   * for metrics). Never blocks: it is merged, queued, or (when the queue is full) the
   * oldest data is dropped. A merged batch stays within `maxBatchBytes` and
   * `maxBatchItems`, unless one batch alone is larger.
   */
  add(signal: Signal, body: Buffer, items = 0, onSettled?: (o: BatchOutcome) => void): void {
    if (body.length === 0) {
      onSettled?.('exported');
      return;
    }
    if (this.options.batchDelayMs === 0) {
      this.enqueue({ signal, body, onSettled });
      return;
    }
    const maxItems = this.options.maxBatchItems?.[signal] ?? Infinity;
    let p = this.pending.get(signal);
    if (p && (p.bytes + body.length > this.options.maxBatchBytes || p.items + items > maxItems)) {
      this.flushSignal(signal);
      p = undefined;
    }
    if (!p) {
      p = { parts: [], bytes: 0, items: 0, callbacks: [] };
      this.pending.set(signal, p);
      p.timer = setTimeout(() => this.flushSignal(signal), this.options.batchDelayMs);
      p.timer.unref();
    }
    p.parts.push(body);
    p.bytes += body.length;
    p.items += items;
    if (onSettled) p.callbacks.push(onSettled);
    if (p.bytes >= this.options.maxBatchBytes || p.items >= maxItems) this.flushSignal(signal);
  }

  /** Queues everything the batcher holds now. */
  flushBatcher(): void {
    for (const s of SIGNALS) this.flushSignal(s);
  }

  private flushSignal(signal: Signal): void {
    const p = this.pending.get(signal);
    if (!p) return;
    this.pending.delete(signal);
    if (p.timer) clearTimeout(p.timer);
    const callbacks = p.callbacks;
    this.enqueue({
      signal,
      body: p.parts.length === 1 ? p.parts[0] : Buffer.concat(p.parts, p.bytes),
      onSettled: callbacks.length > 0 ? (o) => callbacks.forEach((cb) => cb(o)) : undefined,
    });
  }

  private enqueue(batch: Batch): void {
    this.queue.push(batch);
    this.pump(batch.signal);
  }

  private pump(signal: Signal): void {
    if (this.stopped) return;
    const lane = this.lanes[signal];
    const now = Date.now();
    if (now < lane.blockedUntil) {
      if (!lane.timer) {
        lane.timer = setTimeout(() => {
          lane.timer = undefined;
          this.pump(signal);
        }, lane.blockedUntil - now);
        lane.timer.unref();
      }
      return;
    }
    while (lane.inFlight < this.options.concurrency && this.queue.has(signal)) {
      // While failing, probe with one request at a time.
      if (lane.attempt > 0 && lane.inFlight > 0) break;
      const batch = this.queue.take(signal) as Batch;
      lane.inFlight++;
      let result: Promise<ExportResult>;
      try {
        result = this.exporter.export(signal, batch.body);
      } catch (e) {
        result = Promise.resolve({ kind: 'retryable', error: (e as Error).message });
      }
      result
        .catch((e: unknown): ExportResult => ({ kind: 'retryable', error: e instanceof Error ? e.message : String(e) }))
        .then((r) => this.onResult(signal, batch, r))
        .catch((e: unknown) => this.log.error(`internal error after exporting a ${signal} batch: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`));
    }
    this.notifyIfIdle();
  }

  private onResult(signal: Signal, batch: Batch, r: ExportResult): void {
    const lane = this.lanes[signal];
    const stats = this.counters[signal];
    lane.inFlight--;
    const where = this.options.describe?.(signal) ?? signal;
    if (r.kind === 'success') {
      stats.exportedBatches++;
      stats.exportedBytes += batch.body.length;
      if (lane.attempt > 0) this.log.info(`exporting ${signal} to ${where} works again after ${lane.attempt} failed attempt(s)`);
      lane.attempt = 0;
      lane.failingSince = undefined;
      if (r.partialSuccess) {
        stats.rejected += Number(r.partialSuccess.rejected);
        this.log.limited('warn', `partial-${signal}`, 10_000, `${where} accepted a ${signal} batch partially: ${r.partialSuccess.rejected} rejected${r.partialSuccess.errorMessage ? `: ${r.partialSuccess.errorMessage}` : ''}`);
      }
      this.queue.settle(batch, 'exported');
    } else if (r.kind === 'retryable' && !this.stopped) {
      stats.retries++;
      lane.attempt++;
      lane.failingSince ??= Date.now();
      const delay = r.retryAfterMs ?? backoffDelay(lane.attempt, this.options.retry.initialDelayMs, this.options.retry.maxDelayMs);
      lane.blockedUntil = Math.max(lane.blockedUntil, Date.now() + delay);
      this.log.limited('warn', `retry-${signal}`, 10_000, `exporting ${signal} failed (attempt ${lane.attempt}), retrying in ${delay}ms${r.retryAfterMs !== undefined ? ' (Retry-After)' : ''}: ${r.error}`);
      this.queue.requeue(batch);
    } else {
      stats.failedBatches++;
      this.log.limited('error', `failed-${signal}`, 10_000, `dropped a ${signal} batch (${batch.body.length} bytes) that cannot be exported: ${r.error}`);
      this.queue.settle(batch, 'failed');
    }
    this.pump(signal);
  }

  private notifyIfIdle(): void {
    if (!this.queue.empty || this.pending.size > 0) return;
    const waiters = this.idleWaiters.splice(0);
    waiters.forEach((w) => w());
  }

  /**
   * Flushes the batcher and waits until every queued batch has been exported or
   * failed, or until `timeoutMs` passes. Resolves `true` when the queue emptied.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.flushBatcher();
    if (this.queue.empty) return true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        const i = this.idleWaiters.indexOf(onIdle);
        if (i >= 0) this.idleWaiters.splice(i, 1);
        resolve(this.queue.empty);
      }, timeoutMs);
      const onIdle = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(onIdle);
      // settle() without a pump (last batch) also has to wake us
      for (const s of SIGNALS) this.pump(s);
    });
  }

  /** Per-signal export counters. */
  stats(): Record<Signal, SignalExportStats> {
    return { traces: { ...this.counters.traces }, metrics: { ...this.counters.metrics }, logs: { ...this.counters.logs } };
  }

  /** True while some signal has consecutive failures. */
  failingSince(): number | undefined {
    const times = SIGNALS.map((s) => this.lanes[s].failingSince).filter((t): t is number => t !== undefined);
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  /** Stops retrying, drops what is still queued (counted) and releases the exporter. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const s of SIGNALS) {
      const lane = this.lanes[s];
      if (lane.timer) clearTimeout(lane.timer);
      const p = this.pending.get(s);
      if (p?.timer) clearTimeout(p.timer);
    }
    this.pending.clear();
    const n = this.queue.dropAll();
    if (n > 0) this.log.warn(`shutting down with ${n} batch(es) not exported`);
    await this.exporter.shutdown();
  }
}
