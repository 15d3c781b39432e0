/**
 * The collector: follows otlp-mmap files (a directory or one path), drains
 * their rings through the native collector into the export pipeline, exports
 * metrics every interval, finishes files whose writer died (then removes
 * them), and reports on itself.
 *
 * Files are untrusted: a file that cannot be opened or read is logged, set
 * aside until it changes, and never stops the others.
 */
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';
import { type CollectorConfig, SIGNALS, type Signal } from './config';
import { ConsoleExporter } from './exporters/console';
import { NoneExporter, type Exporter } from './exporters/exporter';
import { OtlpGrpcExporter } from './exporters/otlp-grpc';
import { OtlpHttpExporter } from './exporters/otlp-http';
import { FileSource, type FileKey } from './file-source';
import { startHealthServer, type HealthReport } from './health';
import { createLogger, type Logger } from './log';
import { nativeOpenCollector, packageRoot, type OpenCollector, type RingName } from './native';
import { ExportPipeline, type SignalExportStats } from './pipeline';
import type { QueueStats } from './queue';
import { encodeSelfMetrics, summaryLine } from './self-metrics';

/** What the collector has done so far. */
export interface CollectorStats {
  files: Array<{
    path: string;
    state: 'live' | 'finished' | 'closed';
    read: Record<RingName, number>;
    dropped: Record<RingName, number>;
    openSpans: number;
    /** Native pipeline counters of the file (see `FileCollectorStatus.pipeline`). */
    pipeline: Record<string, number>;
    skipped: Record<RingName, number>;
  }>;
  read: Record<RingName, number>;
  export: Record<Signal, SignalExportStats>;
  queue: QueueStats;
  /** Files that could not be opened or read. */
  fileErrors: number;
  /** Files whose writer died and that were finished. */
  filesFinished: number;
}

/** Replaceable parts, for embedding and tests. */
export interface CollectorDeps {
  /** Opens the native collector of one file (default: the package's native `openCollector`). */
  openCollector?: OpenCollector;
  /** Where batches go (default: chosen by `config.exporter`). */
  exporter?: Exporter;
  logger?: Logger;
  /** Output of the console exporter (default stdout). */
  consoleOutput?: { write(s: string): unknown };
}

function nowUnixNano(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

function readVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Describes an export destination for log messages. */
function describeDestination(config: CollectorConfig, signal: Signal): string {
  if (config.exporter !== 'otlp') return config.exporter;
  const c = config.otlp[signal];
  return `${c.url} (${c.protocol})`;
}

/** Creates the exporter `config.exporter` names. */
export function createExporter(config: CollectorConfig, consoleOutput?: { write(s: string): unknown }): Exporter {
  if (config.exporter === 'console') return new ConsoleExporter(consoleOutput);
  if (config.exporter === 'none') return new NoneExporter();
  // One protocol per signal is allowed (per-signal *_PROTOCOL variables).
  const protocols = new Set(SIGNALS.map((s) => config.otlp[s].protocol));
  if (protocols.size === 1) return protocols.has('grpc') ? new OtlpGrpcExporter(config.otlp) : new OtlpHttpExporter(config.otlp);
  const grpc = new OtlpGrpcExporter(config.otlp);
  const httpExporter = new OtlpHttpExporter(config.otlp);
  return {
    export: (signal, body) => (config.otlp[signal].protocol === 'grpc' ? grpc : httpExporter).export(signal, body),
    shutdown: async () => {
      await Promise.all([grpc.shutdown(), httpExporter.shutdown()]);
    },
  };
}

/** Follows otlp-mmap files and exports what they hold. */
export class Collector {
  readonly config: CollectorConfig;
  private readonly log: Logger;
  private readonly pipeline: ExportPipeline;
  private readonly openNative: () => OpenCollector;
  /** Followed files by identity. */
  private readonly sources = new Map<FileKey, FileSource>();
  /** Which source the path currently names. */
  private readonly byPath = new Map<string, FileSource>();
  /** Files that could not be opened, skipped until their identity, size or time changes. */
  private readonly badFiles = new Map<string, string>();
  /** Sources that are done, kept for their final counters. */
  private readonly retired: FileSource[] = [];
  private readonly totals = { events: 0, spans: 0, measurements: 0 };
  private fileErrors = 0;
  private filesFinished = 0;
  private readonly startTimeUnixNano = nowUnixNano();
  private readonly startedAt = Date.now();
  private readonly version = readVersion();
  private timers: NodeJS.Timeout[] = [];
  /** Consecutive polls that read nothing, and whether the current one read anything. */
  private idlePolls = 0;
  private readSinceLastPoll = false;
  /** Notifications for the followed directory (undefined where unavailable). */
  private watcher: fs.FSWatcher | undefined;
  private pollTimer?: NodeJS.Timeout | NodeJS.Immediate;
  private running = false;
  private stopping = false;
  private healthServer?: http.Server;

  constructor(config: CollectorConfig, deps: CollectorDeps = {}) {
    this.config = config;
    this.log = deps.logger ?? createLogger(config.logLevel);
    const exporter = deps.exporter ?? createExporter(config, deps.consoleOutput);
    this.pipeline = new ExportPipeline(
      exporter,
      {
        queueBytes: config.queueBytes,
        batchDelayMs: config.batchDelayMs,
        maxBatchBytes: config.maxBatchBytes,
        maxBatchItems: { traces: config.native.maxSpansPerBatch, logs: config.native.maxLogsPerBatch },
        concurrency: config.concurrency,
        retry: config.retry,
        describe: (s) => describeDestination(config, s),
      },
      this.log,
    );
    let open: OpenCollector | undefined = deps.openCollector;
    this.openNative = () => (open ??= nativeOpenCollector());
  }

  /** The health endpoint, when `healthPort` is set and the collector runs. */
  get healthServerAddress(): { host: string; port: number } | undefined {
    const a = this.healthServer?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : undefined;
  }

  /**
   * Starts following files and exporting. Throws when the native addon cannot
   * be loaded or the health port cannot be bound.
   */
  async start(): Promise<void> {
    if (this.running) return;
    this.openNative(); // fail early with a clear message
    this.running = true;
    const src = this.config.source;
    this.log.info(`collecting from ${src.kind === 'dir' ? `directory ${src.dir}` : `file ${src.file}`}, exporting with ${this.exporterLabel()}`);
    if (this.config.healthPort !== undefined) {
      this.healthServer = await startHealthServer(this.config.healthHost, this.config.healthPort, () => this.health());
      const a = this.healthServerAddress;
      if (a) this.log.info(`health check on http://${a.host}:${a.port}/healthz`);
    }
    this.guard('scan', () => this.scan());
    this.watchSource();
    this.schedulePoll(0);
    this.timers.push(setInterval(() => this.guard('scan', () => this.scan()), this.config.scanIntervalMs));
    this.timers.push(setInterval(() => this.guard('metrics', () => this.exportMetrics()), this.config.metricIntervalMs));
    if (this.config.summaryIntervalMs > 0) this.timers.push(setInterval(() => this.guard('summary', () => this.log.info(summaryLine(this.stats()))), this.config.summaryIntervalMs));
  }

  /**
   * Watches the directory (inotify) so a new file is followed as soon as it is renamed
   * into place: a busy app's first burst would otherwise fill its rings before the next
   * periodic scan. The periodic scan stays, for file systems without notifications.
   */
  private watchSource(): void {
    const src = this.config.source;
    const dir = src.kind === 'dir' ? src.dir : path.dirname(src.file);
    let pending = false;
    try {
      this.watcher = fs.watch(dir, { persistent: false }, () => {
        if (pending || this.stopping) return;
        pending = true;
        setImmediate(() => {
          pending = false;
          if (!this.stopping) this.guard('scan', () => this.scan());
        });
      });
      this.watcher.on('error', () => this.closeWatcher());
    } catch {
      // The directory may not exist yet, or notifications are unavailable: the periodic scan covers it.
      this.watcher = undefined;
    }
  }

  private closeWatcher(): void {
    try {
      this.watcher?.close();
    } catch {
      // already closed
    }
    this.watcher = undefined;
  }

  /** Runs a periodic task; an unexpected error is logged and the collector keeps running. */
  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log.limited('error', `internal:${what}`, 60_000, `internal error in ${what}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    }
  }

  private exporterLabel(): string {
    if (this.config.exporter !== 'otlp') return `the ${this.config.exporter} exporter`;
    const urls = [...new Set(SIGNALS.map((s) => describeDestination(this.config, s)))];
    return `OTLP to ${urls.join(', ')}`;
  }

  /**
   * Stops: reads what the files hold now, finishes files whose writer died,
   * exports the last metrics, waits up to `shutdownTimeoutMs` for the queue to
   * drain, and releases everything. Files of living writers are left in place.
   */
  async stop(): Promise<void> {
    if (!this.running || this.stopping) return;
    this.stopping = true;
    this.closeWatcher();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.clearPollTimer();
    this.scan();
    this.drainFilesNow();
    this.exportMetrics();
    const drained = await this.pipeline.drain(this.config.shutdownTimeoutMs);
    if (!drained) this.log.warn(`the export queue did not drain within ${this.config.shutdownTimeoutMs}ms`);
    await this.pipeline.shutdown();
    for (const s of this.sources.values()) s.close();
    this.log.info(summaryLine(this.stats()));
    if (this.healthServer) {
      const server = this.healthServer;
      this.healthServer = undefined;
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    this.running = false;
  }

  /**
   * Reads every file now, queues what the batcher holds, and waits (up to
   * `timeoutMs`) until the queue is empty. Useful to embedders and tests.
   */
  async flush(timeoutMs = this.config.shutdownTimeoutMs): Promise<boolean> {
    this.drainFilesNow();
    return this.pipeline.drain(timeoutMs);
  }

  /** Collects and queues the metrics of every live file, plus the collector's own. */
  exportMetrics(): void {
    for (const s of this.sources.values()) {
      if (s.state !== 'live') continue;
      try {
        const m = s.collector.collectMetrics();
        if (m && m.length > 0) this.pipeline.add('metrics', m);
      } catch (e) {
        this.fileFailed(s, e);
      }
    }
    if (this.config.selfMetrics) {
      try {
        this.pipeline.add('metrics', encodeSelfMetrics(this.stats(), this.version, this.startTimeUnixNano, nowUnixNano()));
      } catch (e) {
        this.log.error(`cannot encode the collector's own metrics: ${(e as Error).message}`);
      }
    }
  }

  /** Counters and per-file state. */
  stats(): CollectorStats {
    for (const s of this.sources.values()) if (s.state === 'live') s.refreshStatus();
    const files = [...this.sources.values(), ...this.retired].map((s) => ({
      path: s.path,
      state: s.state,
      read: { ...s.read },
      dropped: { ...(s.lastStatus?.dropped ?? { events: 0, spans: 0, measurements: 0 }) },
      openSpans: s.lastStatus?.openSpans ?? 0,
      pipeline: { ...(s.lastStatus?.pipeline ?? {}) },
      skipped: { ...(s.lastStatus?.skipped ?? { events: 0, spans: 0, measurements: 0 }) },
    }));
    return {
      files,
      read: { ...this.totals },
      export: this.pipeline.stats(),
      queue: this.pipeline.queue.stats(),
      fileErrors: this.fileErrors,
      filesFinished: this.filesFinished,
    };
  }

  private health(): HealthReport {
    const q = this.pipeline.queue.stats();
    const failing = this.pipeline.failingSince();
    return {
      status: this.stopping ? 'stopping' : 'ok',
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      files: [...this.sources.values()].filter((s) => s.state === 'live').length,
      queueBytes: q.bytes,
      queueBatches: q.batches,
      droppedBatches: q.droppedBatches,
      exportFailingSince: failing !== undefined ? new Date(failing).toISOString() : undefined,
    };
  }

  // ------------------------------------------------------------ polling

  private clearPollTimer(): void {
    if (this.pollTimer) {
      clearTimeout(this.pollTimer as NodeJS.Timeout);
      clearImmediate(this.pollTimer as NodeJS.Immediate);
      this.pollTimer = undefined;
    }
  }

  private schedulePoll(delayMs: number): void {
    if (this.stopping) return;
    this.clearPollTimer();
    const run = (): void => {
      this.pollTimer = undefined;
      let more = false;
      this.guard('poll', () => {
        for (const s of [...this.sources.values()]) if (s.state === 'live' && this.pollSource(s)) more = true;
      });
      // A ring still holding messages is read again at once; otherwise wait. After
      // polls that found nothing the wait grows (up to 2.5x the interval) to keep an idle
      // collector cheap; anything read brings it straight back.
      if (this.readSinceLastPoll) this.idlePolls = 0;
      else this.idlePolls++;
      this.readSinceLastPoll = false;
      const idleFactor = Math.min(2.5, 1 + this.idlePolls / 20);
      this.schedulePoll(more ? 0 : Math.round(this.config.pollIntervalMs * idleFactor));
    };
    this.pollTimer = delayMs === 0 ? setImmediate(run) : setTimeout(run, delayMs);
  }

  /** Polls one file; returns true when its rings still hold messages. */
  private pollSource(s: FileSource): boolean {
    let r;
    try {
      r = s.collector.poll();
    } catch (e) {
      this.fileFailed(s, e);
      return false;
    }
    r.traces.forEach((t, i) => this.pipeline.add('traces', t, r.traceItems[i]));
    r.logs.forEach((l, i) => this.pipeline.add('logs', l, r.logItems[i]));
    for (const ring of ['events', 'spans', 'measurements'] as const) {
      s.read[ring] += r.read[ring];
      this.totals[ring] += r.read[ring];
    }
    for (const err of r.errors) this.log.limited('warn', `poll-error:${s.path}`, 10_000, `${s.path}: ${err}`);
    if (r.read.events + r.read.spans + r.read.measurements === 0) return false;
    this.readSinceLastPoll = true;
    // The poll tells what is left; the full status (a JSON document) is read only when
    // counters are asked for (stats()), not after every poll.
    return r.backlog.events > 0 || r.backlog.spans > 0 || r.backlog.measurements > 0;
  }

  /** Polls every live file until its rings are empty (bounded), then flushes the batcher. */
  private drainFilesNow(): void {
    for (const s of [...this.sources.values()]) {
      for (let i = 0; i < 1000 && s.state === 'live' && this.pollSource(s); i++);
    }
    this.pipeline.flushBatcher();
  }

  // ------------------------------------------------------------ files

  /** Lists the directory (or stats the file), opens new files, handles replaced and dead ones. */
  private scan(): void {
    const found = new Map<string, { key: FileKey; sig: string }>();
    const src = this.config.source;
    const consider = (p: string): void => {
      let st: fs.Stats;
      try {
        st = fs.statSync(p);
      } catch {
        return;
      }
      if (!st.isFile()) return;
      found.set(p, { key: `${st.dev}:${st.ino}`, sig: `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}` });
    };
    if (src.kind === 'file') {
      consider(src.file);
    } else {
      let names: string[] = [];
      try {
        names = fs.readdirSync(src.dir);
        // The directory may have appeared since start(): watch it from now on.
        if (this.watcher === undefined && this.running && !this.stopping) this.watchSource();
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        this.log.limited(code === 'ENOENT' ? 'info' : 'warn', 'scan-dir', 60_000, code === 'ENOENT' ? `waiting for ${src.dir} to exist` : `cannot list ${src.dir}: ${(e as Error).message}`);
      }
      // Hidden names are the writers' temporary files (renamed into place when complete).
      for (const name of names) if (!name.startsWith('.') && !name.endsWith('.tmp') && name.endsWith(this.config.suffix)) consider(path.join(src.dir, name));
    }

    // Paths that vanished or now name another file: the old source is detached and followed until its writer dies.
    for (const [p, s] of [...this.byPath]) {
      const now = found.get(p);
      if (!now || now.key !== s.key) {
        s.detached = true;
        this.byPath.delete(p);
        this.log.info(now ? `${p} was replaced by a new file; finishing the old one first` : `${p} was removed; following it until its writer exits`);
        this.checkWriter(s);
      }
    }
    for (const p of [...this.badFiles.keys()]) if (!found.has(p)) this.badFiles.delete(p);

    for (const [p, { key, sig }] of found) {
      if (this.byPath.get(p)?.key === key) continue;
      if (this.sources.has(key)) continue; // same file under a second name
      if (this.badFiles.get(p) === sig) continue;
      this.open(p, key, sig);
    }

    for (const s of [...this.sources.values()]) if (s.state === 'live') this.checkWriter(s);
  }

  private open(p: string, key: FileKey, sig: string): void {
    let collector;
    try {
      collector = this.openNative()(p, this.config.native);
    } catch (e) {
      this.fileErrors++;
      this.badFiles.set(p, sig);
      this.log.limited('error', `open:${p}`, 60_000, `cannot read ${p}: ${(e as Error).message} (skipped until it changes)`);
      return;
    }
    this.badFiles.delete(p);
    const s = new FileSource(p, key, collector);
    this.sources.set(key, s);
    this.byPath.set(p, s);
    s.refreshStatus();
    this.log.info(`following ${p}`);
  }

  /** Finishes a source whose writer is gone. */
  private checkWriter(s: FileSource): void {
    if (s.state !== 'live') return;
    let alive: boolean;
    try {
      alive = s.collector.writerAlive();
    } catch (e) {
      this.fileFailed(s, e);
      return;
    }
    if (!alive) this.finish(s);
  }

  private finish(s: FileSource): void {
    // Whatever the rings hold is read first, so nothing is left behind for finish().
    for (let i = 0; i < 1000 && this.pollSource(s); i++);
    s.refreshStatus();
    let result;
    try {
      result = s.collector.finish();
    } catch (e) {
      this.fileFailed(s, e);
      return;
    }
    s.state = 'finished';
    this.filesFinished++;
    for (const ring of ['events', 'spans', 'measurements'] as const) {
      s.read[ring] += result.read[ring];
      this.totals[ring] += result.read[ring];
    }
    for (const err of result.errors) this.log.limited('warn', `poll-error:${s.path}`, 10_000, `${s.path}: ${err}`);
    const batches: Array<[Signal, Buffer, number]> = [
      ...result.traces.map((b, i): [Signal, Buffer, number] => ['traces', b, result.traceItems[i]]),
      ...result.logs.map((b, i): [Signal, Buffer, number] => ['logs', b, result.logItems[i]]),
      ...(result.metrics && result.metrics.length > 0 ? [['metrics', result.metrics, 0] as [Signal, Buffer, number]] : []),
    ];
    this.retire(s);
    this.log.info(`the writer of ${s.path} exited; exporting what is left (${batches.length} batch(es))${this.config.keepFiles || s.detached ? '' : ', then removing the file'}`);
    s.pendingFinal = batches.length;
    const settled = (): void => {
      if (--s.pendingFinal === 0) this.removeFile(s);
    };
    for (const [signal, body, items] of batches) this.pipeline.add(signal, body, items, settled);
    if (batches.length === 0) this.removeFile(s);
  }

  private retire(s: FileSource): void {
    s.close();
    this.sources.delete(s.key);
    if (this.byPath.get(s.path) === s) this.byPath.delete(s.path);
    this.retired.push(s);
    if (this.retired.length > 100) this.retired.shift();
  }

  private removeFile(s: FileSource): void {
    if (this.config.keepFiles || s.detached) return;
    try {
      const st = fs.statSync(s.path);
      if (`${st.dev}:${st.ino}` !== s.key) return; // the path names a newer file now
      fs.unlinkSync(s.path);
      this.log.info(`removed ${s.path}`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn(`cannot remove ${s.path}: ${(e as Error).message}`);
    }
  }

  private fileFailed(s: FileSource, e: unknown): void {
    this.fileErrors++;
    this.log.error(`${s.path}: ${e instanceof Error ? e.message : String(e)}; no longer following it`);
    try {
      const st = fs.statSync(s.path);
      if (`${st.dev}:${st.ino}` === s.key) this.badFiles.set(s.path, `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`);
    } catch {
      // gone
    }
    this.retire(s);
  }
}
