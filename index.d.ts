/**
 * otlp-mmap: the native recorder and reader for otlp-mmap v1 files.
 *
 * The recorder writes OpenTelemetry data into a memory-mapped file (see
 * `shared/PROTOCOL.md`); a separate collector (`otlp-mmap collect`) exports it.
 * Every write is lock-free and never blocks: when a ring is full the message is
 * dropped and counted.
 */

/** A dictionary reference: the absolute file offset of a dictionary entry. */
export type Ref = number;

/** Nanoseconds since the Unix epoch as a `bigint`, or `undefined` for "now" (native clock, full precision). A finite non-negative `number` is accepted as nanoseconds too. */
export type TimeNs = bigint | number | undefined;

/** A trace id (16 bytes or 32 lowercase hex characters) or span id (8 bytes or 16 hex characters). */
export type Id = Uint8Array | string;

/** An attribute value: string, boolean, number (integers become `int`, others `double`), bigint, bytes, or an array of these. */
export type AttributeValue =
  | string
  | boolean
  | number
  | bigint
  | Uint8Array
  | Array<string | boolean | number | bigint | Uint8Array | null | undefined>;

/**
 * Attributes: keys are interned as dictionary strings. `undefined`/`null` values are skipped. A
 * frozen object of plain data properties is encoded once and then named by an id (see
 * {@link RecorderStats.attributeSets}): freeze an object you pass again and again.
 */
export type Attributes = Record<string, AttributeValue | null | undefined>;

/** An OTLP `AnyValue` (used for log bodies): string, number, boolean, bytes, arrays and maps of these. */
export type AnyValue =
  | string
  | number
  | boolean
  | bigint
  | Uint8Array
  | null
  | undefined
  | AnyValue[]
  | { [key: string]: AnyValue };

/** A span context, as `@opentelemetry/api` spells it. */
export interface SpanContextLike {
  traceId: Id;
  spanId: Id;
  /** W3C trace flags (bit 0: sampled). */
  traceFlags?: number;
}

/** Span status: code 0 unset, 1 ok, 2 error (the `@opentelemetry/api` `SpanStatusCode`). */
export interface SpanStatus {
  code: 0 | 1 | 2;
  message?: string;
}

/** OTLP span kind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
export type SpanKindNumber = 0 | 1 | 2 | 3 | 4 | 5;

export interface SpanLink {
  traceId: Id;
  spanId: Id;
  traceState?: string;
  /** W3C trace flags. */
  traceFlags?: number;
  attributes?: Attributes;
  droppedAttributesCount?: number;
}

export type Temporality = 'delta' | 'cumulative';

/** How the collector aggregates a metric stream. The seed's snake_case dictionary form (`{ sum: { aggregation_temporality, is_monotonic } }` etc.) is accepted too. */
export type Aggregation =
  | 'gauge'
  | { type: 'gauge' }
  | { type: 'sum'; temporality: Temporality; isMonotonic: boolean }
  | { type: 'histogram'; temporality: Temporality; boundaries: number[] }
  | { type: 'exponentialHistogram'; temporality: Temporality; maxBuckets?: number; maxScale?: number }
  | Record<string, unknown>;

export interface MetricStreamOptions {
  /** `'int'` writes integer measurements `as_long`; `'double'` (default) writes `as_double`. */
  valueType?: 'int' | 'double';
}

/** Extra fields of a log record / event. */
export interface EventExtra {
  /** OpenTelemetry severity number, 0..24. */
  severityNumber?: number;
  severityText?: string;
  body?: AnyValue;
}

export interface RingOptions {
  /** Number of slots; a power of two. */
  slots?: number;
  /** Bytes per slot; a multiple of 8. */
  slotSize?: number;
}

export interface RecorderOptions {
  /** Slots per ring (power of two) for all rings unless overridden. */
  slots?: number;
  /** Bytes per slot for all rings unless overridden. */
  slotSize?: number;
  events?: RingOptions;
  spans?: RingOptions;
  measurements?: RingOptions;
  /** Bytes of dictionary space allocated up front. */
  dictionaryBytes?: number;
  /** The dictionary never grows past this. */
  maxDictionaryBytes?: number;
  /** File mode for a new file (default 0o600). */
  mode?: number;
  /** Attach to an existing file written by another recorder instead of creating a new one. */
  attach?: boolean;
}

export interface RingStats {
  /** Messages this recorder published to the ring. */
  written: number;
  /** Messages dropped because the ring was full (the file's counter, all writers). */
  dropped: number;
}

export interface RecorderStats {
  events: RingStats;
  spans: RingStats;
  measurements: RingStats;
  dictionary: { bytes: number; entries: number };
  /** Attribute values truncated to fit a slot. */
  truncated: number;
  /**
   * Frozen attribute objects the recorder now names by a registered id instead of encoding them
   * (at most 4096 at a time; a set is freed when its object is garbage-collected).
   */
  attributeSets: number;
}

/** A writer for one otlp-mmap v1 file. Methods throw `TypeError`/`RangeError` for bad arguments, naming the argument and the value; a bad call writes nothing. */
export interface Recorder {
  readonly path: string;
  /** Interns a string; the same string always returns the same ref. */
  recordString(s: string): Ref;
  /** Writes (or reuses) a `Resource` entry. v1 has no schema URL field, so `schemaUrl` only distinguishes otherwise-identical resources. */
  createResource(attributes: Attributes, schemaUrl?: string): Ref;
  createInstrumentationScope(resourceRef: Ref, name: string, version?: string, attributes?: Attributes): Ref;
  createMetricStream(scopeRef: Ref, name: string, description: string, unit: string, aggregation: Aggregation, options?: MetricStreamOptions): Ref;
  recordMeasurement(metricRef: Ref, attributes: Attributes | null | undefined, timeUnixNano: TimeNs, value: number | bigint, spanContext?: SpanContextLike | null): void;
  recordEvent(scopeRef: Ref, spanContext: SpanContextLike | null | undefined, eventNameRef: Ref, timeUnixNano: TimeNs, attributes?: Attributes | null, extra?: EventExtra | null): void;
  /**
   * Starts a span. `moreAttributes`, when given, are written after `attributes` as one list: a
   * frozen object reused across calls (say, a connection's attributes) can then be one part and
   * the call's own attributes the other. Keys should not repeat between the two; where one does,
   * the collector keeps the value in `moreAttributes`.
   */
  recordSpanStart(
    scopeRef: Ref,
    traceId: Id,
    spanId: Id,
    parentSpanId: Id | null | undefined,
    flags: number,
    name: string,
    kind: SpanKindNumber,
    startTimeUnixNano: TimeNs,
    attributes?: Attributes | null,
    moreAttributes?: Attributes | null,
  ): void;
  /**
   * Ends a span. `name` and `attributes`, when given, are the span's final name and its attributes
   * set after the start: they are written as a `ChangeSpanName` and `UpdateAttributes` just before
   * the `EndSpan`, in this one call (the same messages as `recordSpanName` + `recordSpanAttributes`
   * + `recordSpanEnd`, for one crossing into native code instead of three).
   */
  recordSpanEnd(
    scopeRef: Ref,
    traceId: Id,
    spanId: Id,
    endTimeUnixNano: TimeNs,
    status?: SpanStatus | null,
    name?: string | null,
    attributes?: Attributes | null,
  ): void;
  recordSpanName(scopeRef: Ref, traceId: Id, spanId: Id, name: string): void;
  recordSpanAttributes(scopeRef: Ref, traceId: Id, spanId: Id, attributes: Attributes): void;
  recordSpanLinks(scopeRef: Ref, traceId: Id, spanId: Id, links: SpanLink[]): void;
  stats(): RecorderStats;
  /** Unmaps the file and releases the writer lock. Further calls throw. Idempotent. */
  close(): void;
  readonly closed: boolean;
}

/** Creates a new file at `path` (temporary name, then rename; mode 0600; shared flock held until `close()`), or attaches to an existing one with `{ attach: true }`. */
export function openRecorder(path: string, options?: RecorderOptions): Recorder;

/** The defaults `openRecorder` uses. */
export const defaultRecorderOptions: Readonly<Required<Pick<RecorderOptions, 'dictionaryBytes' | 'maxDictionaryBytes' | 'mode'>> & {
  events: Required<RingOptions>;
  spans: Required<RingOptions>;
  measurements: Required<RingOptions>;
}>;

// ---------------------------------------------------------------- reader

export type RingName = 'events' | 'spans' | 'measurements';

export interface FileHeader {
  version: number;
  startTimeUnixNano: bigint;
  rings: Record<RingName, { offset: number; slots: number; slotSize: number; readerIndex: number; writerIndex: number }>;
  dictionary: { offset: number; end: number; entries: number };
  dropped: Record<RingName, number>;
  fileBytes: number;
}

/** A decoded attribute with its key resolved. */
export interface DecodedKeyValue {
  key: string;
  value: DecodedAnyValue;
}

export type DecodedAnyValue =
  | { string: string }
  | { bool: boolean }
  | { int: bigint }
  | { double: number }
  | { bytes: Uint8Array }
  | { array: DecodedAnyValue[] }
  | { kvlist: DecodedKeyValue[] }
  | null;

/** One message read from a ring, with dictionary references resolved. Ids are lowercase hex; times are bigint. */
export type DecodedMessage = Record<string, unknown> & { ring: RingName; seq: number };

/** A bounds-checked reader (the single consumer of each ring). Corrupt input throws an `Error`, never crashes. */
export interface Reader {
  readonly path: string;
  header(): FileHeader;
  /** Reads up to `max` published messages from one ring, advancing its `reader_index`. Malformed records come back as `{ error }` messages and are skipped. */
  read(ring: RingName, max?: number): DecodedMessage[];
  /** Consumes every published message of one ring without decoding it (a null consumer); returns how many. */
  discard(ring: RingName): number;
  /** True while a writer holds its shared lock on the file (the lock probe). */
  writerAlive(): boolean;
  close(): void;
}

export function openReader(path: string): Reader;

// ---------------------------------------------------------------- collector core

export interface CollectorOptions {
  /** Spans being assembled at once (default 65536); overflow is counted, never unbounded growth. */
  maxOpenSpans?: number;
  /** Events waiting one poll for their span (default 4096). */
  maxPendingEvents?: number;
  /** Spans per ExportTraceServiceRequest (default 512). */
  maxSpansPerBatch?: number;
  /** Log records per ExportLogsServiceRequest (default 512). */
  maxLogsPerBatch?: number;
  /** Attribute sets per metric stream, the overflow set included (default 2000). */
  cardinalityLimit?: number;
  /** Records read per ring per poll (default 65536). */
  maxMessagesPerPoll?: number;
  /** A batch closes once it reaches this many bytes (default 4 MiB). */
  maxBatchBytes?: number;
}

export interface PollResult {
  /** Encoded OTLP `ExportTraceServiceRequest` protobuf messages. */
  traces: Buffer[];
  /** Encoded OTLP `ExportLogsServiceRequest` protobuf messages. */
  logs: Buffer[];
  /** How many spans each of `traces` holds (at most `maxSpansPerBatch`). */
  traceItems: number[];
  /** How many log records each of `logs` holds (at most `maxLogsPerBatch`). */
  logItems: number[];
  read: Record<RingName, number>;
  /** Records still in each ring after this call (written while it read, or beyond `maxMessagesPerPoll`). */
  backlog: Record<RingName, number>;
  /** Records that could not be decoded (skipped and counted). */
  errors: string[];
}

export interface FileCollectorStatus {
  startTimeUnixNano: bigint;
  dev: number;
  ino: number;
  dropped: Record<RingName, number>;
  rings: Record<RingName, { slots: number; slotSize: number; used: number }>;
  dictionaryBytes: number;
  fileBytes: number;
  openSpans: number;
  read: Record<RingName, number>;
  /** Slots a dead writer claimed but never published, skipped by finish(). */
  skipped: Record<RingName, number>;
  badRecords: number;
  /** Counters of the native pipeline (spans started/finished/incomplete/overflowed, logs, measurements, ...). */
  pipeline: Record<string, number>;
}

/** The native core of the collector for one file: reads the rings, assembles spans, aggregates metrics and encodes OTLP. */
export interface FileCollector {
  readonly path: string;
  /** Drains the rings; returns the finished traces and logs as encoded OTLP. */
  poll(): PollResult;
  /** Encoded OTLP `ExportMetricsServiceRequest` for this collection interval, or null when there is nothing. */
  collectMetrics(): Buffer | null;
  /** The lock probe: true while a writer holds its shared lock. */
  writerAlive(): boolean;
  /** The writer is gone: drain everything (skipping unpublished slots), export open spans as incomplete, and return what is left. */
  finish(): PollResult & { metrics: Buffer | null };
  status(): FileCollectorStatus;
  close(): void;
}

/** Opens one otlp-mmap file for collection. Throws an Error for a missing or corrupt file. */
export function openCollector(path: string, options?: CollectorOptions): FileCollector;
