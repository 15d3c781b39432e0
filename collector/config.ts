/**
 * The collector's configuration: defaults, the OpenTelemetry exporter
 * environment variables (with the specification's meaning), and the project's
 * own `OTLP_MMAP_*` variables. Command-line flags (see `options.ts`) override
 * the environment; the environment overrides the defaults.
 *
 * Everything is validated here; a bad value throws `ConfigError` naming the
 * flag or variable and the value, and the CLI exits with code 2.
 */
import * as os from 'node:os';
import * as path from 'node:path';

/** The three OTLP signals. */
export type Signal = 'traces' | 'metrics' | 'logs';
export const SIGNALS: readonly Signal[] = ['traces', 'metrics', 'logs'];

export type Protocol = 'http/protobuf' | 'grpc';
export type Compression = 'gzip' | 'none';
export type ExporterKind = 'otlp' | 'console' | 'none';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/** A configuration value that cannot be used. The CLI prints the message and exits with code 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Where and how one signal is exported over OTLP. */
export interface SignalExportConfig {
  /** For `http/protobuf`: the full URL (`.../v1/traces`). For `grpc`: `http(s)://host:port`. */
  url: string;
  protocol: Protocol;
  headers: Record<string, string>;
  timeoutMs: number;
  compression: Compression;
  /** gRPC without a scheme in the endpoint: plaintext when true. */
  insecure: boolean;
  /** PEM file paths for TLS. */
  certificate?: string;
  clientKey?: string;
  clientCertificate?: string;
}

/** Options passed to the native `openCollector` (its `CollectorOptions` in `index.d.ts`). */
export type NativeCollectorOptions = import('../index').CollectorOptions;

/** The complete, validated configuration of a collector. */
export interface CollectorConfig {
  /** Follow every file in a directory, or one file. */
  source: { kind: 'dir'; dir: string } | { kind: 'file'; file: string };
  /** In a directory, only names ending with this are followed (`''`: every file). Hidden names never are. */
  suffix: string;
  exporter: ExporterKind;
  otlp: Record<Signal, SignalExportConfig>;
  /** How often each file's rings are drained. */
  pollIntervalMs: number;
  /** How often the directory is listed for new files. */
  scanIntervalMs: number;
  /** How long polled batches of one signal are held to be merged before they are queued. */
  batchDelayMs: number;
  /** Merged batches stop growing at this many bytes. */
  maxBatchBytes: number;
  /** The queue of encoded batches waiting for export never holds more than this; the oldest are dropped. */
  queueBytes: number;
  metricIntervalMs: number;
  /** Backoff for retryable export failures. */
  retry: { initialDelayMs: number; maxDelayMs: number };
  /** How many exports may be in flight per signal. */
  concurrency: number;
  native: NativeCollectorOptions;
  /** `0` turns the periodic summary line off. */
  summaryIntervalMs: number;
  /** Export the collector's own `otlp_mmap.*` metrics. */
  selfMetrics: boolean;
  /** Keep files whose writer died instead of removing them once exported. */
  keepFiles: boolean;
  healthPort?: number;
  healthHost: string;
  shutdownTimeoutMs: number;
  logLevel: LogLevel;
  /**
   * How much `otlp-mmap collect` lowers its own scheduling priority (added to its nice value) when
   * it starts, so that an application sharing its CPU is scheduled first; 0 leaves it.
   */
  nice: number;
}

/** The extension of the per-process files the agent writes. */
export const FILE_SUFFIX = '.otlp-mmap';

/** The directory the agent writes its files to (the same rule as the agent's). */
export function defaultDirectory(env: NodeJS.ProcessEnv = process.env): string {
  return env.OTLP_MMAP_DIR || path.join(os.tmpdir(), 'otlp-mmap');
}

// ---------------------------------------------------------------- value parsers

/** Parses a duration: `250`, `250ms`, `2s`, `1m` (plain numbers are milliseconds). */
export function parseDuration(what: string, value: string, { allowZero = false } = {}): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  if (!m) throw new ConfigError(`${what} must be a duration such as 500, 500ms, 2s or 1m, got ${JSON.stringify(value)}`);
  const n = Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 'ms'] ?? 1);
  const ms = Math.round(n);
  if (!Number.isFinite(ms) || ms > 2 ** 31 - 1) throw new ConfigError(`${what} is too large: ${JSON.stringify(value)}`);
  if (ms === 0 && !allowZero) throw new ConfigError(`${what} must be greater than zero, got ${JSON.stringify(value)}`);
  return ms;
}

/** Parses a byte size: `1048576`, `512KiB`, `64MiB`, `1GiB` (also `k`, `m`, `g`, `KB`, `MB`, `GB` as powers of 1024). */
export function parseBytes(what: string, value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$/i.exec(value);
  if (!m) throw new ConfigError(`${what} must be a size such as 1048576, 512KiB or 64MiB, got ${JSON.stringify(value)}`);
  const unit = (m[2] ?? 'b').toLowerCase()[0];
  const n = Math.round(Number(m[1]) * ({ b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[unit] ?? 1));
  if (n <= 0 || !Number.isSafeInteger(n)) throw new ConfigError(`${what} must be a positive size, got ${JSON.stringify(value)}`);
  return n;
}

/** Parses a positive integer within `[min, max]`. */
export function parseInteger(what: string, value: string, min = 1, max = 2 ** 31 - 1): number {
  if (!/^\s*\d+\s*$/.test(value)) throw new ConfigError(`${what} must be an integer, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max) throw new ConfigError(`${what} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** Parses `true`/`false` (case-insensitive). */
export function parseBoolean(what: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new ConfigError(`${what} must be true or false, got ${JSON.stringify(value)}`);
}

/** Parses `OTEL_EXPORTER_OTLP_HEADERS`: `key1=value1,key2=value2`, values percent-decoded. */
export function parseHeaders(what: string, value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ConfigError(`${what} must be key=value pairs separated by commas, got ${JSON.stringify(part.trim())}`);
    const key = part.slice(0, eq).trim();
    let v = part.slice(eq + 1).trim();
    try {
      v = decodeURIComponent(v);
    } catch {
      throw new ConfigError(`${what}: the value of ${JSON.stringify(key)} is not valid percent-encoding: ${JSON.stringify(v)}`);
    }
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(key)) throw new ConfigError(`${what}: ${JSON.stringify(key)} is not a valid header name`);
    out[key.toLowerCase()] = v;
  }
  return out;
}

function parseProtocol(what: string, value: string): Protocol {
  const v = value.trim();
  if (v === 'http/protobuf' || v === 'grpc') return v;
  if (v === 'http/json') throw new ConfigError(`${what}: http/json is not supported by otlp-mmap (use http/protobuf or grpc)`);
  throw new ConfigError(`${what} must be http/protobuf or grpc, got ${JSON.stringify(value)}`);
}

function parseCompression(what: string, value: string): Compression {
  const v = value.trim().toLowerCase();
  if (v === 'gzip' || v === 'none') return v;
  throw new ConfigError(`${what} must be gzip or none, got ${JSON.stringify(value)}`);
}

function checkUrl(what: string, value: string, protocol: Protocol): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    if (protocol === 'grpc' && /^[\w.-]+:\d+$/.test(value)) return value; // host:port without a scheme
    throw new ConfigError(`${what} must be a URL such as http://localhost:4318, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${what} must use http or https, got ${JSON.stringify(value)}`);
  return value;
}

// ---------------------------------------------------------------- resolution

/** Values given on the command line; anything unset falls back to the environment, then the default. */
export interface CollectorFlags {
  dir?: string;
  file?: string;
  suffix?: string;
  exporter?: string;
  endpoint?: string;
  tracesEndpoint?: string;
  metricsEndpoint?: string;
  logsEndpoint?: string;
  protocol?: string;
  headers?: string[];
  compression?: string;
  timeout?: string;
  pollInterval?: string;
  scanInterval?: string;
  batchDelay?: string;
  maxBatchSize?: string;
  maxBatchBytes?: string;
  queueBytes?: string;
  metricInterval?: string;
  retryInitialDelay?: string;
  retryMaxDelay?: string;
  concurrency?: string;
  maxOpenSpans?: string;
  maxPendingEvents?: string;
  cardinalityLimit?: string;
  maxMessagesPerPoll?: string;
  summaryInterval?: string;
  selfMetrics?: boolean;
  keepFiles?: boolean;
  healthPort?: string;
  healthHost?: string;
  shutdownTimeout?: string;
  logLevel?: string;
  nice?: string;
}

const SIGNAL_PATH: Record<Signal, string> = { traces: 'v1/traces', metrics: 'v1/metrics', logs: 'v1/logs' };
const DEFAULT_ENDPOINT: Record<Protocol, string> = { 'http/protobuf': 'http://localhost:4318', grpc: 'http://localhost:4317' };

function signalConfig(signal: Signal, flags: CollectorFlags, env: NodeJS.ProcessEnv): SignalExportConfig {
  const S = signal.toUpperCase();
  const pick = (name: string): { what: string; value: string } | undefined => {
    const specific = env[`OTEL_EXPORTER_OTLP_${S}_${name}`];
    if (specific !== undefined && specific !== '') return { what: `OTEL_EXPORTER_OTLP_${S}_${name}`, value: specific };
    const general = env[`OTEL_EXPORTER_OTLP_${name}`];
    if (general !== undefined && general !== '') return { what: `OTEL_EXPORTER_OTLP_${name}`, value: general };
    return undefined;
  };

  const protocolSrc = flags.protocol !== undefined ? { what: '--protocol', value: flags.protocol } : pick('PROTOCOL');
  const protocol = protocolSrc ? parseProtocol(protocolSrc.what, protocolSrc.value) : 'http/protobuf';

  // Endpoint: a per-signal endpoint is used as-is; a base endpoint gets /v1/<signal> appended (HTTP only).
  const flagSignalEndpoint = { traces: flags.tracesEndpoint, metrics: flags.metricsEndpoint, logs: flags.logsEndpoint }[signal];
  let url: string;
  const envSignal = env[`OTEL_EXPORTER_OTLP_${S}_ENDPOINT`];
  if (flagSignalEndpoint !== undefined) {
    url = checkUrl(`--${signal}-endpoint`, flagSignalEndpoint, protocol);
  } else if (flags.endpoint === undefined && envSignal) {
    url = checkUrl(`OTEL_EXPORTER_OTLP_${S}_ENDPOINT`, envSignal, protocol);
  } else {
    const baseSrc = flags.endpoint !== undefined ? { what: '--endpoint', value: flags.endpoint } : env.OTEL_EXPORTER_OTLP_ENDPOINT ? { what: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: env.OTEL_EXPORTER_OTLP_ENDPOINT } : undefined;
    const base = baseSrc ? checkUrl(baseSrc.what, baseSrc.value, protocol) : DEFAULT_ENDPOINT[protocol];
    url = protocol === 'grpc' ? base : `${base.replace(/\/+$/, '')}/${SIGNAL_PATH[signal]}`;
  }

  const headers: Record<string, string> = {};
  const hGeneral = env.OTEL_EXPORTER_OTLP_HEADERS;
  if (hGeneral) Object.assign(headers, parseHeaders('OTEL_EXPORTER_OTLP_HEADERS', hGeneral));
  const hSignal = env[`OTEL_EXPORTER_OTLP_${S}_HEADERS`];
  if (hSignal) Object.assign(headers, parseHeaders(`OTEL_EXPORTER_OTLP_${S}_HEADERS`, hSignal));
  for (const h of flags.headers ?? []) Object.assign(headers, parseHeaders('--header', h));

  const timeoutSrc = flags.timeout !== undefined ? { what: '--timeout', value: flags.timeout } : pick('TIMEOUT');
  const timeoutMs = timeoutSrc ? parseDuration(timeoutSrc.what, timeoutSrc.value) : 10_000;

  const compressionSrc = flags.compression !== undefined ? { what: '--compression', value: flags.compression } : pick('COMPRESSION');
  const compression = compressionSrc ? parseCompression(compressionSrc.what, compressionSrc.value) : 'none';

  const insecureSrc = pick('INSECURE');
  const insecure = insecureSrc ? parseBoolean(insecureSrc.what, insecureSrc.value) : false;

  return {
    url,
    protocol,
    headers,
    timeoutMs,
    compression,
    insecure,
    certificate: pick('CERTIFICATE')?.value,
    clientKey: pick('CLIENT_KEY')?.value,
    clientCertificate: pick('CLIENT_CERTIFICATE')?.value,
  };
}

/**
 * Resolves flags + environment into a complete configuration.
 * @throws ConfigError naming the flag or variable and the bad value.
 */
export function resolveConfig(flags: CollectorFlags = {}, env: NodeJS.ProcessEnv = process.env): CollectorConfig {
  if (flags.dir !== undefined && flags.file !== undefined) throw new ConfigError('--dir and --file cannot be used together');
  let source: CollectorConfig['source'];
  if (flags.file !== undefined) source = { kind: 'file', file: path.resolve(flags.file) };
  else if (flags.dir !== undefined) source = { kind: 'dir', dir: path.resolve(flags.dir) };
  else if (env.OTLP_MMAP_FILE) source = { kind: 'file', file: path.resolve(env.OTLP_MMAP_FILE) };
  else if (env.SDK_MMAP_EXPORTER_FILE) source = { kind: 'file', file: path.resolve(env.SDK_MMAP_EXPORTER_FILE) };
  else source = { kind: 'dir', dir: path.resolve(defaultDirectory(env)) };
  if (source.kind === 'file' && source.file.endsWith(path.sep)) throw new ConfigError(`--file must name a file, got a directory: ${source.file}`);

  const exporterValue = flags.exporter ?? env.OTLP_MMAP_EXPORTER ?? 'otlp';
  if (exporterValue !== 'otlp' && exporterValue !== 'console' && exporterValue !== 'none') {
    throw new ConfigError(`${flags.exporter !== undefined ? '--exporter' : 'OTLP_MMAP_EXPORTER'} must be otlp, console or none, got ${JSON.stringify(exporterValue)}`);
  }

  const otlp = { traces: signalConfig('traces', flags, env), metrics: signalConfig('metrics', flags, env), logs: signalConfig('logs', flags, env) };

  const from = (flag: string | undefined, flagName: string, envName: string | undefined): { what: string; value: string } | undefined => {
    if (flag !== undefined) return { what: flagName, value: flag };
    const e = envName ? env[envName] : undefined;
    if (e !== undefined && e !== '') return { what: envName as string, value: e };
    return undefined;
  };
  const duration = (flag: string | undefined, flagName: string, envName: string | undefined, def: number, allowZero = false): number => {
    const s = from(flag, flagName, envName);
    return s ? parseDuration(s.what, s.value, { allowZero }) : def;
  };
  const integer = (flag: string | undefined, flagName: string, envName: string | undefined, def: number | undefined, max?: number, min = 1): number | undefined => {
    const s = from(flag, flagName, envName);
    return s ? parseInteger(s.what, s.value, min, max) : def;
  };
  const bytes = (flag: string | undefined, flagName: string, envName: string | undefined, def: number): number => {
    const s = from(flag, flagName, envName);
    return s ? parseBytes(s.what, s.value) : def;
  };

  const maxBatchBytes = bytes(flags.maxBatchBytes, '--max-batch-bytes', undefined, 1024 * 1024);
  // 8192, the OpenTelemetry Collector's batch size, not the SDK's 512: a collector sends for
  // many processes, and every request costs CPU (512 made draining a file 35% dearer).
  const maxBatchSize = integer(flags.maxBatchSize, '--max-batch-size', 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 8192) as number;
  const retryInitial = duration(flags.retryInitialDelay, '--retry-initial-delay', undefined, 1000);
  const retryMax = duration(flags.retryMaxDelay, '--retry-max-delay', undefined, 30_000);
  if (retryMax < retryInitial) throw new ConfigError(`--retry-max-delay (${retryMax}ms) must not be smaller than --retry-initial-delay (${retryInitial}ms)`);

  const logLevelValue = flags.logLevel ?? env.OTLP_MMAP_LOG_LEVEL ?? 'info';
  if (!['error', 'warn', 'info', 'debug'].includes(logLevelValue)) {
    throw new ConfigError(`${flags.logLevel !== undefined ? '--log-level' : 'OTLP_MMAP_LOG_LEVEL'} must be error, warn, info or debug, got ${JSON.stringify(logLevelValue)}`);
  }

  const healthSrc = from(flags.healthPort, '--health-port', 'OTLP_MMAP_HEALTH_PORT');
  const healthPort = healthSrc ? parseInteger(healthSrc.what, healthSrc.value, 0, 65535) : undefined;

  const suffix = flags.suffix ?? FILE_SUFFIX;
  if (suffix.includes('/')) throw new ConfigError(`--suffix must not contain "/", got ${JSON.stringify(suffix)}`);

  return {
    source,
    suffix,
    exporter: exporterValue,
    otlp,
    pollIntervalMs: duration(flags.pollInterval, '--poll-interval', 'OTLP_MMAP_POLL_INTERVAL', 20),
    scanIntervalMs: duration(flags.scanInterval, '--scan-interval', undefined, 1000),
    batchDelayMs: duration(flags.batchDelay, '--batch-delay', 'OTEL_BSP_SCHEDULE_DELAY', 1000, true),
    maxBatchBytes,
    queueBytes: bytes(flags.queueBytes, '--queue-bytes', 'OTLP_MMAP_QUEUE_BYTES', 64 * 1024 * 1024),
    metricIntervalMs: duration(flags.metricInterval, '--metric-interval', 'OTEL_METRIC_EXPORT_INTERVAL', 60_000),
    retry: { initialDelayMs: retryInitial, maxDelayMs: retryMax },
    concurrency: integer(flags.concurrency, '--concurrency', undefined, 2, 64) as number,
    native: {
      maxSpansPerBatch: maxBatchSize,
      maxLogsPerBatch: maxBatchSize,
      maxOpenSpans: integer(flags.maxOpenSpans, '--max-open-spans', undefined, undefined),
      maxPendingEvents: integer(flags.maxPendingEvents, '--max-pending-events', undefined, undefined),
      cardinalityLimit: integer(flags.cardinalityLimit, '--cardinality-limit', 'OTEL_METRICS_CARDINALITY_LIMIT', undefined),
      maxMessagesPerPoll: integer(flags.maxMessagesPerPoll, '--max-messages-per-poll', undefined, undefined),
      maxBatchBytes,
    },
    summaryIntervalMs: duration(flags.summaryInterval, '--summary-interval', undefined, 60_000, true),
    selfMetrics: flags.selfMetrics ?? true,
    keepFiles: flags.keepFiles ?? false,
    healthPort,
    healthHost: flags.healthHost ?? '0.0.0.0',
    shutdownTimeoutMs: duration(flags.shutdownTimeout, '--shutdown-timeout', undefined, 10_000),
    logLevel: logLevelValue as LogLevel,
    nice: integer(flags.nice, '--nice', 'OTLP_MMAP_COLLECTOR_NICE', 10, 19, 0) as number,
  };
}
