/**
 * All agent configuration, parsed and validated in one place from the environment.
 *
 * Every variable is documented in the README (section Configuration). A bad value never throws: it
 * produces one warning (collected in {@link AgentConfig.warnings}) and the default is used.
 */
import os = require('node:os');
import path = require('node:path');

/** The six standard samplers of the OpenTelemetry specification. */
export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

/** Propagators this agent implements. */
export type PropagatorName = 'tracecontext' | 'baggage';

/** `OTEL_LOG_LEVEL` values. */
export type LogLevel = 'none' | 'error' | 'warn' | 'info' | 'debug' | 'verbose' | 'all';

/** `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` values. */
export type TemporalityPreference = 'cumulative' | 'delta' | 'lowmemory';

/** `OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION` values. */
export type HistogramAggregation = 'explicit_bucket_histogram' | 'base2_exponential_bucket_histogram';

/** Limits applied to span attributes, events and links (`OTEL_SPAN_*_LIMIT`, `OTEL_ATTRIBUTE_*`). */
export interface SpanLimits {
  /** Longest string attribute value (characters); `Infinity` for no limit. */
  attributeValueLengthLimit: number;
  attributeCountLimit: number;
  eventCountLimit: number;
  linkCountLimit: number;
  attributePerEventCountLimit: number;
  attributePerLinkCountLimit: number;
}

/** Limits applied to log record attributes (`OTEL_LOGRECORD_*`, falling back to `OTEL_ATTRIBUTE_*`). */
export interface LogRecordLimits {
  attributeValueLengthLimit: number;
  attributeCountLimit: number;
}

/** Slot count and slot size of one ring (`undefined`: the recorder's default). */
export interface RingConfig {
  slots?: number;
  slotSize?: number;
}

/** Where and how the mmap file is created. */
export interface FileConfig {
  /** Directory for one file per process (`OTLP_MMAP_DIR`). */
  directory: string;
  /** One explicit path (`OTLP_MMAP_FILE` or `SDK_MMAP_EXPORTER_FILE`); overrides `directory`. */
  explicitPath: string | undefined;
  /** File mode of a new file (`OTLP_MMAP_FILE_MODE`, octal). */
  mode: number | undefined;
  /** Slots / slot size for all rings (`OTLP_MMAP_SLOTS`, `OTLP_MMAP_SLOT_SIZE`). */
  slots?: number;
  slotSize?: number;
  events: RingConfig;
  spans: RingConfig;
  measurements: RingConfig;
  dictionaryBytes?: number;
  maxDictionaryBytes?: number;
}

/** Which signals are recorded (`OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER`, `OTEL_LOGS_EXPORTER`). */
export interface SignalSelection {
  traces: boolean;
  metrics: boolean;
  logs: boolean;
}

/** The typed agent configuration. */
export interface AgentConfig {
  /**
   * Signals to record. An `OTEL_*_EXPORTER` of `none` turns its signal off (spans are still sampled
   * and their context propagated, but nothing is written); any other value records into the file,
   * and the collector decides where it goes.
   */
  signals: SignalSelection;
  /** `OTEL_SDK_DISABLED=true`: no file, no patching. */
  disabled: boolean;
  /** `OTEL_SERVICE_NAME`, if set. */
  serviceName: string | undefined;
  /** Parsed (percent-decoded) `OTEL_RESOURCE_ATTRIBUTES`. */
  resourceAttributes: Record<string, string>;
  sampler: SamplerName;
  /** Ratio for the traceidratio samplers, in [0, 1]. */
  samplerRatio: number;
  /** Propagators in order; empty for `none`. */
  propagators: PropagatorName[];
  /** `OTEL_NODE_ENABLED_INSTRUMENTATIONS`, or `null` for "all". */
  enabledInstrumentations: Set<string> | null;
  /** `OTEL_NODE_DISABLED_INSTRUMENTATIONS`. */
  disabledInstrumentations: Set<string>;
  /** `OTEL_LOG_LEVEL`, or `undefined` when unset. */
  logLevel: LogLevel | undefined;
  spanLimits: SpanLimits;
  logRecordLimits: LogRecordLimits;
  temporalityPreference: TemporalityPreference;
  histogramAggregation: HistogramAggregation;
  /** Milliseconds between runs of observable instrument callbacks. */
  metricExportIntervalMs: number;
  file: FileConfig;
  /**
   * `OTLP_MMAP_ESM_HOOK`: `auto` installs no ESM loader hook (on Node 20 it costs a loader thread
   * and ~80-100 ms of start-up; CommonJS packages imported by ES modules are patched through
   * `Module._load`) and, for an ES-module main, loads the patched builtins up front; `always`
   * installs import-in-the-middle's loader hook; `never` does neither.
   */
  esmHook: EsmHookMode;
  /** One message per bad value, in the order found. */
  warnings: string[];
}

export type EsmHookMode = 'auto' | 'always' | 'never';

/** Environment variables as `process.env` has them. */
export type Env = Record<string, string | undefined>;

const SAMPLERS: readonly SamplerName[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];
const LOG_LEVELS: readonly LogLevel[] = ['none', 'error', 'warn', 'info', 'debug', 'verbose', 'all'];
const TEMPORALITIES: readonly TemporalityPreference[] = ['cumulative', 'delta', 'lowmemory'];
const HISTOGRAMS: readonly HistogramAggregation[] = ['explicit_bucket_histogram', 'base2_exponential_bucket_histogram'];

/** The default attribute count limit of the specification. */
export const DEFAULT_COUNT_LIMIT = 128;
/** The default `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds). */
export const DEFAULT_METRIC_EXPORT_INTERVAL_MS = 60000;

/** The default directory for per-process files: `$TMPDIR/otlp-mmap` (usually `/tmp/otlp-mmap`). */
export function defaultDirectory(): string {
  return path.join(os.tmpdir(), 'otlp-mmap');
}

/** The file extension of the per-process files the agent writes (and the collector looks for). */
export const FILE_EXTENSION = '.otlp-mmap';

/**
 * The file name for one process: `<service>-<pid>-<8 hex>.otlp-mmap`. The service name is
 * reduced to `[A-Za-z0-9._]` (others become `_`, at most 64 characters); the random suffix keeps
 * two containers that share a directory and both run as pid 1 apart.
 */
export function fileNameFor(serviceName: string, pid: number, suffix: string): string {
  const safe = serviceName.replace(/[^A-Za-z0-9._]/g, '_').slice(0, 64) || 'unknown_service';
  return `${safe}-${pid}-${suffix}${FILE_EXTENSION}`;
}

class Parser {
  readonly warnings: string[] = [];
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const v = this.env[name];
    if (v === undefined) return undefined;
    const t = v.trim();
    return t === '' ? undefined : t;
  }

  warn(name: string, value: string, expected: string, fallback: string): void {
    this.warnings.push(`${name}=${JSON.stringify(value)} is not valid (expected ${expected}); using ${fallback}`);
  }

  boolean(name: string, def: boolean): boolean {
    const v = this.raw(name);
    if (v === undefined) return def;
    const l = v.toLowerCase();
    if (l === 'true') return true;
    if (l === 'false') return false;
    this.warn(name, v, 'true or false', String(def));
    return def;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], def: T): T {
    const v = this.raw(name);
    if (v === undefined) return def;
    const l = v.toLowerCase();
    if ((allowed as readonly string[]).includes(l)) return l as T;
    this.warn(name, v, `one of ${allowed.join(', ')}`, def);
    return def;
  }

  /** A non-negative integer, or `undefined` when unset or bad. */
  integer(name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (/^\d+$/.test(v)) {
      const n = Number(v);
      if (n >= min && n <= max) return n;
    }
    this.warn(name, v, `an integer from ${min} to ${max}`, 'the default');
    return undefined;
  }

  powerOfTwo(name: string): number | undefined {
    const n = this.integer(name, 2, 2 ** 24);
    if (n === undefined) return undefined;
    if ((n & (n - 1)) === 0) return n;
    this.warn(name, String(n), 'a power of two', 'the default');
    return undefined;
  }

  multipleOf8(name: string): number | undefined {
    const n = this.integer(name, 64, 2 ** 20);
    if (n === undefined) return undefined;
    if (n % 8 === 0) return n;
    this.warn(name, String(n), 'a multiple of 8', 'the default');
    return undefined;
  }

  list(name: string): string[] | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    return v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }
}

/** Decodes `%XX` escapes; returns `undefined` when the text is not valid percent-encoding. */
function percentDecode(s: string): string | undefined {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** Parses the W3C-baggage-like `key1=value1,key2=value2` form of `OTEL_RESOURCE_ATTRIBUTES`. */
function parseResourceAttributes(p: Parser): Record<string, string> {
  const out: Record<string, string> = {};
  const v = p.raw('OTEL_RESOURCE_ATTRIBUTES');
  if (v === undefined) return out;
  for (const part of v.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    const key = eq > 0 ? percentDecode(part.slice(0, eq).trim()) : undefined;
    const value = eq > 0 ? percentDecode(part.slice(eq + 1).trim()) : undefined;
    if (!key || value === undefined) {
      p.warnings.push(`OTEL_RESOURCE_ATTRIBUTES entry ${JSON.stringify(part)} is not key=value (percent-encoded); skipping it`);
      continue;
    }
    out[key] = value;
  }
  return out;
}

/** Exporter names that make sense for the agent: the file carries OTLP; `console` is the collector's job. */
const EXPORTERS_RECORDED = new Set(['otlp', 'console']);

/** `OTEL_<SIGNAL>_EXPORTER`: false when it is `none` (alone). */
function parseExporter(p: Parser, name: string): boolean {
  const list = p.list(name);
  if (list === undefined || list.length === 0) return true;
  const names = list.map((s) => s.toLowerCase());
  if (names.every((n) => n === 'none')) return false;
  for (const n of names) {
    if (n !== 'none' && !EXPORTERS_RECORDED.has(n)) {
      p.warnings.push(
        `${name}=${JSON.stringify(n)}: the agent records into its otlp-mmap file and the collector exports OTLP; choose the destination with the collector's OTEL_EXPORTER_OTLP_* variables (recording as usual)`,
      );
    }
  }
  return true;
}

function parseSamplerRatio(p: Parser, sampler: SamplerName): number {
  const v = p.raw('OTEL_TRACES_SAMPLER_ARG');
  if (sampler !== 'traceidratio' && sampler !== 'parentbased_traceidratio') return 1;
  if (v === undefined) return 1;
  const n = Number(v);
  if (Number.isFinite(n) && n >= 0 && n <= 1) return n;
  p.warn('OTEL_TRACES_SAMPLER_ARG', v, 'a number from 0 to 1', '1');
  return 1;
}

function parsePropagators(p: Parser): PropagatorName[] {
  const list = p.list('OTEL_PROPAGATORS');
  if (list === undefined) return ['tracecontext', 'baggage'];
  const out: PropagatorName[] = [];
  for (const raw of list) {
    const name = raw.toLowerCase();
    if (name === 'none') return [];
    if (name === 'tracecontext' || name === 'baggage') {
      if (!out.includes(name)) out.push(name);
    } else {
      p.warnings.push(`OTEL_PROPAGATORS: propagator ${JSON.stringify(raw)} is not supported (supported: tracecontext, baggage, none); ignoring it`);
    }
  }
  return out;
}

function parseLimits(p: Parser): { span: SpanLimits; log: LogRecordLimits } {
  const lengthOf = (name: string): number | undefined => p.integer(name, 0);
  const countOf = (name: string): number | undefined => p.integer(name, 0);
  const generalLength = lengthOf('OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT') ?? Infinity;
  const generalCount = countOf('OTEL_ATTRIBUTE_COUNT_LIMIT') ?? DEFAULT_COUNT_LIMIT;
  return {
    span: {
      attributeValueLengthLimit: lengthOf('OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT') ?? generalLength,
      attributeCountLimit: countOf('OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT') ?? generalCount,
      eventCountLimit: countOf('OTEL_SPAN_EVENT_COUNT_LIMIT') ?? DEFAULT_COUNT_LIMIT,
      linkCountLimit: countOf('OTEL_SPAN_LINK_COUNT_LIMIT') ?? DEFAULT_COUNT_LIMIT,
      attributePerEventCountLimit: countOf('OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT') ?? DEFAULT_COUNT_LIMIT,
      attributePerLinkCountLimit: countOf('OTEL_LINK_ATTRIBUTE_COUNT_LIMIT') ?? DEFAULT_COUNT_LIMIT,
    },
    log: {
      attributeValueLengthLimit: lengthOf('OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT') ?? generalLength,
      attributeCountLimit: countOf('OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT') ?? generalCount,
    },
  };
}

function parseFile(p: Parser): FileConfig {
  const explicit = p.raw('OTLP_MMAP_FILE') ?? p.raw('SDK_MMAP_EXPORTER_FILE');
  let mode: number | undefined;
  const modeRaw = p.raw('OTLP_MMAP_FILE_MODE');
  if (modeRaw !== undefined) {
    if (/^0?[0-7]{3}$/.test(modeRaw)) mode = parseInt(modeRaw, 8);
    else p.warn('OTLP_MMAP_FILE_MODE', modeRaw, 'an octal mode such as 0600 or 0644', '0600');
  }
  const ring = (prefix: string): RingConfig => ({
    slots: p.powerOfTwo(`OTLP_MMAP_${prefix}_SLOTS`),
    slotSize: p.multipleOf8(`OTLP_MMAP_${prefix}_SLOT_SIZE`),
  });
  const dictionaryBytes = p.integer('OTLP_MMAP_DICTIONARY_BYTES', 4096);
  let maxDictionaryBytes = p.integer('OTLP_MMAP_MAX_DICTIONARY_BYTES', 4096);
  if (dictionaryBytes !== undefined && maxDictionaryBytes !== undefined && maxDictionaryBytes < dictionaryBytes) {
    p.warnings.push(
      `OTLP_MMAP_MAX_DICTIONARY_BYTES=${maxDictionaryBytes} is smaller than OTLP_MMAP_DICTIONARY_BYTES=${dictionaryBytes}; using the default maximum`,
    );
    maxDictionaryBytes = undefined;
  }
  return {
    directory: p.raw('OTLP_MMAP_DIR') ?? defaultDirectory(),
    explicitPath: explicit,
    mode,
    slots: p.powerOfTwo('OTLP_MMAP_SLOTS'),
    slotSize: p.multipleOf8('OTLP_MMAP_SLOT_SIZE'),
    events: ring('EVENT'),
    spans: ring('SPAN'),
    measurements: ring('MEASUREMENT'),
    dictionaryBytes,
    maxDictionaryBytes,
  };
}

function parseInstrumentationList(p: Parser, name: string): Set<string> | undefined {
  const list = p.list(name);
  return list === undefined ? undefined : new Set(list.map((s) => s.toLowerCase()));
}

/**
 * Reads the whole agent configuration from `env` (default `process.env`). Never throws.
 *
 * @param env - the environment to read.
 * @returns the typed configuration, with one warning per bad value in `warnings`.
 */
export function loadConfig(env: Env = process.env): AgentConfig {
  const p = new Parser(env);
  const disabled = p.boolean('OTEL_SDK_DISABLED', false);
  const sampler = p.oneOf('OTEL_TRACES_SAMPLER', SAMPLERS, 'parentbased_always_on');
  const limits = parseLimits(p);
  let interval = p.integer('OTEL_METRIC_EXPORT_INTERVAL', 1, 2 ** 31 - 1);
  if (interval === undefined) interval = DEFAULT_METRIC_EXPORT_INTERVAL_MS;
  const config: AgentConfig = {
    disabled,
    signals: {
      traces: parseExporter(p, 'OTEL_TRACES_EXPORTER'),
      metrics: parseExporter(p, 'OTEL_METRICS_EXPORTER'),
      logs: parseExporter(p, 'OTEL_LOGS_EXPORTER'),
    },
    serviceName: p.raw('OTEL_SERVICE_NAME'),
    resourceAttributes: parseResourceAttributes(p),
    sampler,
    samplerRatio: parseSamplerRatio(p, sampler),
    propagators: parsePropagators(p),
    enabledInstrumentations: parseInstrumentationList(p, 'OTEL_NODE_ENABLED_INSTRUMENTATIONS') ?? null,
    disabledInstrumentations: parseInstrumentationList(p, 'OTEL_NODE_DISABLED_INSTRUMENTATIONS') ?? new Set(),
    logLevel: p.raw('OTEL_LOG_LEVEL') === undefined ? undefined : p.oneOf('OTEL_LOG_LEVEL', LOG_LEVELS, 'info'),
    spanLimits: limits.span,
    logRecordLimits: limits.log,
    temporalityPreference: p.oneOf('OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE', TEMPORALITIES, 'cumulative'),
    histogramAggregation: p.oneOf(
      'OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION',
      HISTOGRAMS,
      'explicit_bucket_histogram',
    ),
    metricExportIntervalMs: interval,
    file: parseFile(p),
    esmHook: p.oneOf<EsmHookMode>('OTLP_MMAP_ESM_HOOK', ['auto', 'always', 'never'], 'auto'),
    warnings: p.warnings,
  };
  return config;
}
