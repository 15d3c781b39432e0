/**
 * The `@opentelemetry/api` metrics surface on the native recorder.
 *
 * Each instrument is one metric stream (`createMetricStream`) whose aggregation the agent
 * decides here from the instrument kind, the temporality preference and the default histogram
 * aggregation; every measurement is one `recordMeasurement` call and the collector aggregates.
 * Instruments with the same identity (scope, case-insensitive name, kind, unit, description,
 * value type) share one stream.
 *
 * Observable instruments report absolute values; the collector adds up the measurements of a
 * sum stream, so observable counters write the increase since their previous observation of the
 * same attribute set. That memory holds only the attribute sets seen in the latest collection
 * (bounded by {@link OBSERVABLE_ATTRIBUTE_SETS_LIMIT}).
 */
import * as api from '@opentelemetry/api';
import {
  type Attributes as ApiAttributes,
  type BatchObservableCallback,
  type BatchObservableResult,
  type Context,
  type Counter,
  type Gauge,
  type Histogram,
  type Meter as ApiMeter,
  type MeterOptions,
  type MeterProvider as ApiMeterProvider,
  type MetricOptions,
  type Observable,
  type ObservableCallback,
  type ObservableResult,
  type SpanContext,
  type UpDownCounter,
} from '@opentelemetry/api';
import type { Aggregation, Attributes, Recorder } from '../index';
import { applyLimits } from './attributes';
import type { HistogramAggregation, TemporalityPreference } from './config';
import { reportOnce } from './log';
import { activeContext } from '../instrumentations/common/context';
import { RecordingSpan, type RecordedSpanContext } from './trace';

/** A span context for an exemplar: the API's (hex ids) or a recording span's (ids as the recorder takes them). */
type ExemplarContext = SpanContext | RecordedSpanContext;

// Read once: in the agent's bundle every read of an imported name is a re-export getter call
// (a megamorphic keyed load), which showed in per-request profiles.
const { createNoopMeter, diag, trace: traceApi, ValueType } = api;

/** The specification's default explicit bucket boundaries. */
export const DEFAULT_HISTOGRAM_BOUNDARIES: readonly number[] = [
  0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000,
];
/** Default base-2 exponential histogram size and scale. */
export const EXPONENTIAL_MAX_BUCKETS = 160;
export const EXPONENTIAL_MAX_SCALE = 20;
/** Attribute sets remembered per observable sum instrument between collections. */
export const OBSERVABLE_ATTRIBUTE_SETS_LIMIT = 2000;

const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.\-/]{0,254}$/;

/** Instrument kinds of the specification. */
export type InstrumentKind =
  | 'counter'
  | 'upDownCounter'
  | 'histogram'
  | 'gauge'
  | 'observableCounter'
  | 'observableUpDownCounter'
  | 'observableGauge';

/** What every meter of one provider shares. */
export interface MetricsShared {
  recorder: Recorder;
  resourceRef: number;
  temporalityPreference: TemporalityPreference;
  histogramAggregation: HistogramAggregation;
  /** Milliseconds between observable collections. */
  intervalMs: number;
  /** False with `OTEL_METRICS_EXPORTER=none`: every meter is a no-op. */
  record?: boolean;
}

/** The aggregation the collector applies to an instrument of `kind`. */
export function aggregationFor(
  kind: InstrumentKind,
  preference: TemporalityPreference,
  histogram: HistogramAggregation,
  boundaries: readonly number[] | undefined,
): Aggregation {
  const delta =
    preference === 'delta'
      ? kind === 'counter' || kind === 'observableCounter' || kind === 'histogram'
      : preference === 'lowmemory'
        ? kind === 'counter' || kind === 'histogram'
        : false;
  const temporality = delta ? 'delta' : 'cumulative';
  switch (kind) {
    case 'counter':
    case 'observableCounter':
      return { type: 'sum', temporality, isMonotonic: true };
    case 'upDownCounter':
    case 'observableUpDownCounter':
      return { type: 'sum', temporality, isMonotonic: false };
    case 'histogram':
      if (histogram === 'base2_exponential_bucket_histogram') {
        return {
          type: 'exponentialHistogram',
          temporality,
          maxBuckets: EXPONENTIAL_MAX_BUCKETS,
          maxScale: EXPONENTIAL_MAX_SCALE,
        };
      }
      return { type: 'histogram', temporality, boundaries: [...(boundaries ?? DEFAULT_HISTOGRAM_BOUNDARIES)] };
    default:
      return { type: 'gauge' };
  }
}

function validBoundaries(b: unknown): number[] | undefined {
  if (!Array.isArray(b)) return undefined;
  for (let i = 0; i < b.length; i++) {
    if (typeof b[i] !== 'number' || !Number.isFinite(b[i]) || (i > 0 && b[i] <= b[i - 1])) return undefined;
  }
  return b as number[];
}

/** The sampled span context in `ctx` (or the active context), for exemplars. */
function exemplarContext(ctx: Context | undefined): ExemplarContext | undefined {
  const span = traceApi.getSpan(ctx ?? activeContext());
  if (span === undefined) return undefined;
  // Our own spans give their ids as the recorder takes them (bytes: no hex to decode).
  if (span instanceof RecordingSpan) return span.recordedContext();
  const sc = span.spanContext();
  return (sc.traceFlags & 1) === 1 ? sc : undefined;
}

/** Writes one measurement; a value the recorder rejects is retried once with cleaned attributes. */
function write(
  recorder: Recorder,
  ref: number,
  attributes: ApiAttributes | undefined,
  value: number,
  spanContext: ExemplarContext | undefined,
): void {
  try {
    recorder.recordMeasurement(ref, attributes as Attributes | undefined, undefined, value, spanContext);
  } catch (e) {
    try {
      const clean = applyLimits(attributes, Infinity, Infinity).attributes;
      if (clean === attributes) throw e;
      recorder.recordMeasurement(ref, clean, undefined, value, spanContext);
    } catch (e2) {
      reportOnce('recordMeasurement', e2);
    }
  }
}

/** A synchronous instrument: counter, up-down counter, histogram or gauge. */
class SyncInstrument implements Counter, UpDownCounter, Histogram, Gauge {
  constructor(
    private readonly recorder: Recorder,
    private readonly ref: number,
    private readonly isInt: boolean,
    private readonly nonNegative: boolean,
    private readonly name: string,
  ) {}

  add(value: number, attributes?: ApiAttributes, ctx?: Context): void {
    this.record(value, attributes, ctx);
  }

  record(value: number, attributes?: ApiAttributes, ctx?: Context): void {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      diag.warn(`otlp-mmap: non-finite value ignored for instrument ${this.name}`);
      return;
    }
    if (this.nonNegative && value < 0) {
      diag.warn(`otlp-mmap: negative value ignored for instrument ${this.name}`);
      return;
    }
    try {
      write(this.recorder, this.ref, attributes, this.isInt ? Math.trunc(value) : value, exemplarContext(ctx));
    } catch (e) {
      reportOnce('metric record', e);
    }
  }
}

const noopSync: SyncInstrument = new (class extends SyncInstrument {
  override record(): void {}
})(undefined as unknown as Recorder, 0, false, false, '');

/** Stable key for an attribute set (sorted keys). */
function attributesKey(attributes: ApiAttributes | undefined): string {
  if (attributes === undefined || attributes === null) return '';
  const keys = Object.keys(attributes).sort();
  let s = '';
  for (const k of keys) s += `${JSON.stringify(k)}:${JSON.stringify(attributes[k])},`;
  return s;
}

interface Observation {
  value: number;
  attributes: ApiAttributes | undefined;
}

/** An observable instrument: its callbacks run on every collection. */
class ObservableInstrument implements Observable {
  readonly callbacks = new Set<ObservableCallback>();
  /** Observations of the collection in progress, last value per attribute set. */
  current = new Map<string, Observation>();
  /** Previous absolute values, for observable sums. */
  private previous = new Map<string, number>();
  private overflowReported = false;

  constructor(
    private readonly provider: MeterProvider,
    private readonly recorder: Recorder,
    private readonly ref: number,
    private readonly isInt: boolean,
    private readonly isSum: boolean,
    private readonly isMonotonic: boolean,
    readonly name: string,
  ) {}

  addCallback(callback: ObservableCallback): void {
    if (typeof callback !== 'function') return;
    this.callbacks.add(callback);
    this.provider.startCollecting();
  }

  removeCallback(callback: ObservableCallback): void {
    this.callbacks.delete(callback);
  }

  observe(value: number, attributes: ApiAttributes | undefined): void {
    if (typeof value !== 'number' || !Number.isFinite(value)) return;
    const key = attributesKey(attributes);
    if (!this.current.has(key) && this.current.size >= OBSERVABLE_ATTRIBUTE_SETS_LIMIT) {
      if (!this.overflowReported) {
        this.overflowReported = true;
        diag.warn(`otlp-mmap: ${this.name} observed more than ${OBSERVABLE_ATTRIBUTE_SETS_LIMIT} attribute sets; extra ones are dropped`);
      }
      return;
    }
    this.current.set(key, { value: this.isInt ? Math.trunc(value) : value, attributes });
  }

  /** Writes the observations of this collection and starts a new one. */
  flush(): void {
    const current = this.current;
    this.current = new Map();
    if (!this.isSum) {
      for (const o of current.values()) write(this.recorder, this.ref, o.attributes, o.value, undefined);
      return;
    }
    const next = new Map<string, number>();
    for (const [key, o] of current) {
      const before = this.previous.get(key);
      // First observation, or a counter that restarted: the whole value is new.
      const increase = before === undefined || (this.isMonotonic && o.value < before) ? o.value : o.value - before;
      next.set(key, o.value);
      if (increase !== 0 || before === undefined) write(this.recorder, this.ref, o.attributes, increase, undefined);
    }
    this.previous = next;
  }
}

/** A meter: one instrumentation scope, the streams of its instruments. */
export class Meter implements ApiMeter {
  private readonly streams = new Map<string, number>();

  /** @internal */
  constructor(
    private readonly provider: MeterProvider,
    private readonly shared: MetricsShared,
    private readonly scopeRef: number,
  ) {}

  private stream(kind: InstrumentKind, name: string, options: MetricOptions | undefined): { ref: number; isInt: boolean } | undefined {
    if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
      diag.warn(`otlp-mmap: invalid instrument name ${JSON.stringify(name)}; the instrument records nothing`);
      return undefined;
    }
    const description = typeof options?.description === 'string' ? options.description : '';
    const unit = typeof options?.unit === 'string' ? options.unit : '';
    const isInt = options?.valueType === ValueType.INT;
    const key = `${kind}\0${name.toLowerCase()}\0${unit}\0${description}\0${isInt ? 'i' : 'd'}`;
    let ref = this.streams.get(key);
    if (ref === undefined) {
      try {
        const aggregation = aggregationFor(
          kind,
          this.shared.temporalityPreference,
          this.shared.histogramAggregation,
          validBoundaries(options?.advice?.explicitBucketBoundaries),
        );
        ref = this.shared.recorder.createMetricStream(this.scopeRef, name, description, unit, aggregation, {
          valueType: isInt ? 'int' : 'double',
        });
        this.streams.set(key, ref);
      } catch (e) {
        reportOnce('createMetricStream', e);
        return undefined;
      }
    }
    return { ref, isInt };
  }

  private sync(kind: InstrumentKind, name: string, options?: MetricOptions): SyncInstrument {
    const s = this.stream(kind, name, options);
    if (s === undefined) return noopSync;
    return new SyncInstrument(this.shared.recorder, s.ref, s.isInt, kind === 'counter' || kind === 'histogram', name);
  }

  private observable(kind: InstrumentKind, name: string, options?: MetricOptions): ObservableInstrument {
    const s = this.stream(kind, name, options);
    const isSum = kind !== 'observableGauge';
    const isMonotonic = kind === 'observableCounter';
    const o = new ObservableInstrument(this.provider, this.shared.recorder, s?.ref ?? 0, s?.isInt ?? false, isSum, isMonotonic, name);
    if (s !== undefined) this.provider.register(o);
    return o;
  }

  createCounter(name: string, options?: MetricOptions): Counter {
    return this.sync('counter', name, options);
  }

  createUpDownCounter(name: string, options?: MetricOptions): UpDownCounter {
    return this.sync('upDownCounter', name, options);
  }

  createHistogram(name: string, options?: MetricOptions): Histogram {
    return this.sync('histogram', name, options);
  }

  createGauge(name: string, options?: MetricOptions): Gauge {
    return this.sync('gauge', name, options);
  }

  createObservableCounter(name: string, options?: MetricOptions): Observable {
    return this.observable('observableCounter', name, options);
  }

  createObservableUpDownCounter(name: string, options?: MetricOptions): Observable {
    return this.observable('observableUpDownCounter', name, options);
  }

  createObservableGauge(name: string, options?: MetricOptions): Observable {
    return this.observable('observableGauge', name, options);
  }

  addBatchObservableCallback(callback: BatchObservableCallback, observables: Observable[]): void {
    if (typeof callback !== 'function' || !Array.isArray(observables)) return;
    this.provider.addBatch(callback, observables);
  }

  removeBatchObservableCallback(callback: BatchObservableCallback, observables: Observable[]): void {
    this.provider.removeBatch(callback, observables);
  }
}

interface BatchEntry {
  callback: BatchObservableCallback;
  observables: Set<Observable>;
}

/** The global meter provider. Observable callbacks run every `intervalMs` on an unref'd timer. */
export class MeterProvider implements ApiMeterProvider {
  private readonly meters = new Map<string, Meter>();
  private readonly observables: ObservableInstrument[] = [];
  private readonly batches: BatchEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private collecting = false;

  /** @internal */
  constructor(private readonly shared: MetricsShared) {}

  getMeter(name: string, version?: string, options?: MeterOptions): ApiMeter {
    if (this.shared.record === false) return createNoopMeter();
    const n = typeof name === 'string' ? name : '';
    const key = `${n}\0${version ?? ''}\0${options?.schemaUrl ?? ''}`;
    let meter = this.meters.get(key);
    if (meter === undefined) {
      let scopeRef = 0;
      try {
        scopeRef = this.shared.recorder.createInstrumentationScope(this.shared.resourceRef, n, version);
      } catch (e) {
        reportOnce('getMeter', e);
      }
      meter = new Meter(this, this.shared, scopeRef);
      this.meters.set(key, meter);
    }
    return meter;
  }

  /** @internal */
  register(o: ObservableInstrument): void {
    this.observables.push(o);
  }

  /** @internal */
  addBatch(callback: BatchObservableCallback, observables: Observable[]): void {
    const set = new Set(observables.filter((o) => o instanceof ObservableInstrument));
    if (set.size === 0) return;
    this.batches.push({ callback, observables: set });
    this.startCollecting();
  }

  /** @internal */
  removeBatch(callback: BatchObservableCallback, observables: Observable[]): void {
    const set = new Set(observables);
    const i = this.batches.findIndex((b) => b.callback === callback && [...b.observables].every((o) => set.has(o)));
    if (i >= 0) this.batches.splice(i, 1);
  }

  /** @internal Starts the unref'd collection timer (once). */
  startCollecting(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      void this.collect();
    }, this.shared.intervalMs);
    this.timer.unref();
  }

  /**
   * Runs every observable callback once and writes what they observed. Asynchronous callbacks
   * are awaited, up to the collection interval.
   */
  async collect(): Promise<void> {
    if (this.collecting) return;
    this.collecting = true;
    try {
      const pending = this.runCallbacks();
      if (pending.length > 0) {
        let timeout: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.allSettled(pending),
          new Promise<void>((resolve) => {
            timeout = setTimeout(resolve, this.shared.intervalMs);
            timeout.unref();
          }),
        ]);
        if (timeout !== undefined) clearTimeout(timeout);
      }
      this.flushAll();
    } catch (e) {
      reportOnce('observable collection', e);
    } finally {
      this.collecting = false;
    }
  }

  /** Runs the callbacks and writes only what they observed synchronously (used at process exit). */
  collectSync(): void {
    if (this.collecting) return;
    try {
      this.runCallbacks();
      this.flushAll();
    } catch (e) {
      reportOnce('observable collection', e);
    }
  }

  private runCallbacks(): Promise<unknown>[] {
    const pending: Promise<unknown>[] = [];
    const settle = (r: unknown, what: string): void => {
      if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') {
        pending.push((r as Promise<unknown>).then(undefined, (e: unknown) => reportOnce(what, e)));
      }
    };
    for (const o of this.observables) {
      if (o.callbacks.size === 0) continue;
      const result: ObservableResult = { observe: (value, attributes) => o.observe(value, attributes) };
      for (const cb of o.callbacks) {
        try {
          settle(cb(result), `observable callback of ${o.name}`);
        } catch (e) {
          reportOnce(`observable callback of ${o.name}`, e);
        }
      }
    }
    for (const b of this.batches) {
      const result: BatchObservableResult = {
        observe: (observable, value, attributes) => {
          if (observable instanceof ObservableInstrument && b.observables.has(observable)) observable.observe(value, attributes);
        },
      };
      try {
        settle(b.callback(result), 'batch observable callback');
      } catch (e) {
        reportOnce('batch observable callback', e);
      }
    }
    return pending;
  }

  private flushAll(): void {
    for (const o of this.observables) {
      try {
        o.flush();
      } catch (e) {
        reportOnce('observable flush', e);
      }
    }
  }

  /** Runs an observable collection now. */
  forceFlush(): Promise<void> {
    return this.collect();
  }

  /** Stops the collection timer. */
  shutdown(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    return Promise.resolve();
  }
}
