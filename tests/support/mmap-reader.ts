/**
 * An independent reader of otlp-mmap v1 files, for tests.
 *
 * It follows `shared/PROTOCOL.md` to the letter, using only `fs` and `DataView`
 * for the layout (file header, ring headers, availability flags, slots,
 * dictionary) and protobufjs with `shared/protocol/mmap.proto` for the
 * messages. It deliberately shares no code with the native reader, so a test
 * that decodes a file with it checks the recorder against the protocol rather
 * than against itself.
 *
 * The reader is strict: anything the protocol forbids (a bad version, an
 * unaligned offset, a ring size that is not a power of two, a record longer
 * than its slot, a reference outside the dictionary, invalid UTF-8 in a
 * string entry, ...) throws an `MmapFormatError`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';

/** Thrown when a file does not follow PROTOCOL.md. */
export class MmapFormatError extends Error {
  override name = 'MmapFormatError';
}

export type RingName = 'events' | 'spans' | 'measurements';
export const RING_NAMES: readonly RingName[] = ['events', 'spans', 'measurements'];

const HEADER_SIZE = 64;
const RING_HEADER_SIZE = 32;
const DICT_HEADER_SIZE = 64;

// ------------------------------------------------------------------ schema

/** The shared schema beside the repository, where the project's documents live. */
export const SHARED_PROTO = path.join(__dirname, '../../../shared/protocol/mmap.proto');
/**
 * The repository's copy of that schema, for a clone with nothing beside it (a fresh CI checkout);
 * `tests/recorder.mmap-reader.test.ts` checks that it is the same file whenever both are there.
 */
export const VENDORED_PROTO = path.join(__dirname, 'proto/otlp-mmap/mmap.proto');

/** Where the schema is read from: `$OTLP_MMAP_PROTO`, else beside the repository, else the copy in it. */
export function protoPath(): string {
  const fromEnv = process.env.OTLP_MMAP_PROTO;
  if (fromEnv && fs.existsSync(fromEnv)) return fromEnv;
  if (fs.existsSync(SHARED_PROTO)) return SHARED_PROTO;
  if (fs.existsSync(VENDORED_PROTO)) return VENDORED_PROTO;
  throw new Error(`mmap.proto not found at ${SHARED_PROTO} or ${VENDORED_PROTO}; set OTLP_MMAP_PROTO to its path`);
}

interface Schema {
  SpanEvent: protobuf.Type;
  Measurement: protobuf.Type;
  Event: protobuf.Type;
  Resource: protobuf.Type;
  InstrumentationScope: protobuf.Type;
  MetricRef: protobuf.Type;
}

let schema: Schema | undefined;

function loadSchema(): Schema {
  if (schema) return schema;
  const root = new protobuf.Root().loadSync(protoPath(), { keepCase: true });
  const t = (n: string): protobuf.Type => root.lookupType(`opentelemetry.proto.mmap.v1.${n}`);
  schema = {
    SpanEvent: t('SpanEvent'),
    Measurement: t('Measurement'),
    Event: t('Event'),
    Resource: t('Resource'),
    InstrumentationScope: t('InstrumentationScope'),
    MetricRef: t('MetricRef'),
  };
  return schema;
}

// ------------------------------------------------------------------ decoded shapes

/** An attribute value, in the same shape as the native reader's `DecodedAnyValue` (plus `valueRef`). */
export type JsAnyValue =
  | { string: string }
  | { bool: boolean }
  | { int: bigint }
  | { double: number }
  | { bytes: Uint8Array }
  | { array: JsAnyValue[] }
  | { kvlist: JsKeyValue[] }
  | { valueRef: number }
  | null;

export interface JsKeyValue {
  keyRef: number;
  /** The key, resolved from the dictionary. */
  key: string;
  /** `undefined` when the `value` field is absent from the wire. */
  value: JsAnyValue | undefined;
}

export interface JsSpanContext {
  traceId: string;
  spanId: string;
  flags: number;
}

export interface JsLink {
  traceId: string;
  spanId: string;
  traceState: string;
  attributes: JsKeyValue[];
  droppedAttributesCount: number;
  flags: number;
}

export interface JsStatus {
  code: number;
  message: string;
}

export type JsSpanEventBody =
  | {
      type: 'start';
      parentSpanId: string;
      flags: number;
      name: string;
      kind: number;
      startTimeUnixNano: bigint;
      attributes: JsKeyValue[];
    }
  | { type: 'end'; endTimeUnixNano: bigint; status: JsStatus | undefined }
  | { type: 'name'; name: string }
  | { type: 'attributes'; attributes: JsKeyValue[] }
  | { type: 'link'; links: JsLink[] }
  | { type: 'none' };

export interface JsSpanEvent {
  scopeRef: number;
  traceId: string;
  spanId: string;
  event: JsSpanEventBody;
}

export interface JsEvent {
  scopeRef: number;
  timeUnixNano: bigint;
  severityNumber: number;
  severityText: string;
  /** `undefined` when the body field is absent. */
  body: JsAnyValue | undefined;
  eventNameRef: number;
  eventName: string;
  spanContext: JsSpanContext | undefined;
  attributes: JsKeyValue[];
}

export interface JsMeasurement {
  metricRef: number;
  attributes: JsKeyValue[];
  timeUnixNano: bigint;
  value: { asLong: bigint } | { asDouble: number } | undefined;
  spanContext: JsSpanContext | undefined;
}

export interface JsResource {
  attributes: JsKeyValue[];
  droppedAttributesCount: number;
}

export interface JsScope {
  nameRef: number;
  name: string;
  versionRef: number;
  version: string;
  attributes: JsKeyValue[];
  droppedAttributesCount: number;
  resourceRef: number;
}

export type JsAggregation =
  | { type: 'gauge' }
  | { type: 'sum'; temporality: number; isMonotonic: boolean }
  | { type: 'histogram'; temporality: number; boundaries: number[] }
  | { type: 'exponentialHistogram'; temporality: number; maxBuckets: bigint; maxScale: bigint }
  | { type: 'none' };

export interface JsMetricRef {
  name: string;
  description: string;
  unit: string;
  scopeRef: number;
  aggregation: JsAggregation;
}

export interface RingMessage<T> {
  seq: number;
  slot: number;
  /** Byte length of the protobuf message (without its length prefix). */
  byteLength: number;
  message: T;
}

export interface RingHeader {
  offset: number;
  numBuffers: number;
  bufferSize: number;
  readerIndex: number;
  writerIndex: number;
}

export interface RingContents<T> {
  header: RingHeader;
  /** Every published message from `reader_index + 1`, in sequence order. */
  messages: RingMessage<T>[];
  /** Claimed (`<= writer_index`) but not (yet) published slots after the last readable one. */
  unpublished: number;
}

export interface JsFileHeader {
  version: number;
  ringOffsets: Record<RingName, number>;
  dictionaryOffset: number;
  startTimeUnixNano: bigint;
  /** The 16 reserved bytes (must be zero). */
  reserved: Uint8Array;
}

export interface DictionaryHeader {
  offset: number;
  end: number;
  numEntries: number;
  dropped: Record<RingName, number>;
  reserved: Uint8Array;
}

export interface DictionaryEntry {
  ref: number;
  bytes: Uint8Array;
}

export interface MmapFile {
  fileBytes: number;
  header: JsFileHeader;
  dictionary: DictionaryHeader;
  events: RingContents<JsEvent>;
  spans: RingContents<JsSpanEvent>;
  measurements: RingContents<JsMeasurement>;
  /** Every dictionary entry from the start of the dictionary to `end`, in file order. */
  entries(): DictionaryEntry[];
  /** A dictionary string (0 is the empty string). */
  resolveString(ref: number): string;
  resolveResource(ref: number): JsResource;
  resolveScope(ref: number): JsScope;
  resolveMetric(ref: number): JsMetricRef;
}

export interface ReadOptions {
  /**
   * Act as the ring's consumer: after reading, store `reader_index` = the last
   * sequence read, through a positioned write to the file. Only use this when no
   * other consumer reads the file.
   */
  consume?: boolean;
}

// ------------------------------------------------------------------ low-level helpers

function i64(view: DataView, off: number, what: string): number {
  if (off % 8 !== 0) throw new MmapFormatError(`${what} at ${off} is not 8-byte aligned`);
  if (off + 8 > view.byteLength) throw new MmapFormatError(`${what} at ${off} is beyond the file (${view.byteLength} bytes)`);
  const v = view.getBigInt64(off, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new MmapFormatError(`${what} = ${v} is out of the safe integer range`);
  }
  return Number(v);
}

/** Reads a protobuf varint (up to 64 bits) at `off`; returns the value and its byte length. */
export function readVarint(buf: Uint8Array, off: number, end: number): { value: number; length: number } {
  let result = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (off + i >= end) throw new MmapFormatError(`varint at ${off} runs past ${end}`);
    const b = buf[off + i];
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) {
      if (result > BigInt(Number.MAX_SAFE_INTEGER)) throw new MmapFormatError(`varint at ${off} is too large: ${result}`);
      return { value: Number(result), length: i + 1 };
    }
    shift += 7n;
  }
  throw new MmapFormatError(`varint at ${off} is longer than 10 bytes`);
}

/** `flag(i) = (i32)(i >> log2(N))`. */
export function flagOf(seq: number, numBuffers: number): number {
  const shift = BigInt(Math.log2(numBuffers));
  return Number(BigInt.asIntN(32, BigInt(seq) >> shift));
}

function hex(b: unknown): string {
  return b instanceof Uint8Array ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex') : '';
}

function bytesOf(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

interface LongLike {
  toString(): string;
}

function big(v: unknown): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'number') return BigInt(v);
  if (typeof v === 'bigint') return v;
  return BigInt((v as LongLike).toString());
}

function num(v: unknown, what: string): number {
  const b = big(v);
  if (b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new MmapFormatError(`${what} = ${b} is out of the safe integer range`);
  }
  return Number(b);
}

type PbMsg = Record<string, unknown>;

function has(m: PbMsg, field: string): boolean {
  return Object.prototype.hasOwnProperty.call(m, field) && m[field] !== undefined && m[field] !== null;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

// ------------------------------------------------------------------ the reader

/** Reads and decodes a whole file (a snapshot taken with `readFileSync`). */
export function readMmapFile(file: string, options: ReadOptions = {}): MmapFile {
  const s = loadSchema();
  const buf = fs.readFileSync(file);
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (bytes.byteLength < HEADER_SIZE) throw new MmapFormatError(`file is ${bytes.byteLength} bytes, shorter than the header`);

  const header: JsFileHeader = {
    version: i64(view, 0, 'version'),
    ringOffsets: {
      events: i64(view, 8, 'events ring offset'),
      spans: i64(view, 16, 'spans ring offset'),
      measurements: i64(view, 24, 'measurements ring offset'),
    },
    dictionaryOffset: i64(view, 32, 'dictionary offset'),
    startTimeUnixNano: view.getBigUint64(40, true),
    reserved: bytes.slice(48, 64),
  };
  if (header.version !== 1) throw new MmapFormatError(`version is ${header.version}, expected 1`);

  // ---- dictionary
  const d = header.dictionaryOffset;
  if (d < HEADER_SIZE || d + DICT_HEADER_SIZE > bytes.byteLength) throw new MmapFormatError(`dictionary offset ${d} is outside the file`);
  const dictionary: DictionaryHeader = {
    offset: d,
    end: i64(view, d, 'dictionary end'),
    numEntries: i64(view, d + 8, 'dictionary num_entries'),
    dropped: {
      events: i64(view, d + 16, 'events dropped'),
      spans: i64(view, d + 24, 'spans dropped'),
      measurements: i64(view, d + 32, 'measurements dropped'),
    },
    reserved: bytes.slice(d + 40, d + 64),
  };
  const dataStart = d + DICT_HEADER_SIZE;
  if (dictionary.end < dataStart || dictionary.end > bytes.byteLength) {
    throw new MmapFormatError(`dictionary end ${dictionary.end} is outside [${dataStart}, ${bytes.byteLength}]`);
  }

  function entryAt(ref: number, what: string): Uint8Array {
    if (!Number.isInteger(ref) || ref < dataStart || ref >= dictionary.end) {
      throw new MmapFormatError(`${what} reference ${ref} is outside the dictionary [${dataStart}, ${dictionary.end})`);
    }
    const { value: len, length: n } = readVarint(bytes, ref, dictionary.end);
    if (ref + n + len > dictionary.end) throw new MmapFormatError(`${what} entry at ${ref} (length ${len}) runs past the dictionary end ${dictionary.end}`);
    return bytes.subarray(ref + n, ref + n + len);
  }

  const stringCache = new Map<number, string>();
  function resolveString(ref: number): string {
    if (ref === 0) return '';
    const cached = stringCache.get(ref);
    if (cached !== undefined) return cached;
    let str: string;
    try {
      str = utf8.decode(entryAt(ref, 'string'));
    } catch (e) {
      if (e instanceof MmapFormatError) throw e;
      throw new MmapFormatError(`string entry at ${ref} is not valid UTF-8`);
    }
    stringCache.set(ref, str);
    return str;
  }

  // ---- protobuf -> plain conversions
  function anyValue(v: PbMsg): JsAnyValue {
    if (has(v, 'string_value')) return { string: v.string_value as string };
    if (has(v, 'bool_value')) return { bool: v.bool_value as boolean };
    if (has(v, 'int_value')) return { int: big(v.int_value) };
    if (has(v, 'double_value')) return { double: v.double_value as number };
    if (has(v, 'array_value')) {
      const arr = ((v.array_value as PbMsg).values as PbMsg[] | undefined) ?? [];
      return { array: arr.map(anyValue) };
    }
    if (has(v, 'kvlist_value')) {
      const kvs = ((v.kvlist_value as PbMsg).values as PbMsg[] | undefined) ?? [];
      return { kvlist: kvs.map(keyValue) };
    }
    if (has(v, 'bytes_value')) return { bytes: bytesOf(v.bytes_value as Uint8Array) };
    if (has(v, 'value_ref')) return { valueRef: num(v.value_ref, 'value_ref') };
    return null;
  }

  function keyValue(kv: PbMsg): JsKeyValue {
    const keyRef = num(kv.key_ref, 'key_ref');
    return { keyRef, key: resolveString(keyRef), value: has(kv, 'value') ? anyValue(kv.value as PbMsg) : undefined };
  }

  function keyValues(list: unknown): JsKeyValue[] {
    return ((list as PbMsg[] | undefined) ?? []).map(keyValue);
  }

  function spanContext(m: PbMsg, field: string): JsSpanContext | undefined {
    if (!has(m, field)) return undefined;
    const c = m[field] as PbMsg;
    return { traceId: hex(c.trace_id), spanId: hex(c.span_id), flags: (c.flags as number) ?? 0 };
  }

  function decodeSpanEvent(raw: Uint8Array): JsSpanEvent {
    const m = s.SpanEvent.decode(raw) as unknown as PbMsg;
    let event: JsSpanEventBody = { type: 'none' };
    if (has(m, 'start')) {
      const st = m.start as PbMsg;
      event = {
        type: 'start',
        parentSpanId: hex(st.parent_span_id),
        flags: (st.flags as number) ?? 0,
        name: (st.name as string) ?? '',
        kind: (st.kind as number) ?? 0,
        startTimeUnixNano: big(st.start_time_unix_nano),
        attributes: keyValues(st.attributes),
      };
    } else if (has(m, 'end')) {
      const en = m.end as PbMsg;
      const status = has(en, 'status')
        ? { code: ((en.status as PbMsg).code as number) ?? 0, message: ((en.status as PbMsg).message as string) ?? '' }
        : undefined;
      event = { type: 'end', endTimeUnixNano: big(en.end_time_unix_nano), status };
    } else if (has(m, 'name')) {
      event = { type: 'name', name: ((m.name as PbMsg).name as string) ?? '' };
    } else if (has(m, 'attributes')) {
      event = { type: 'attributes', attributes: keyValues((m.attributes as PbMsg).attributes) };
    } else if (has(m, 'link')) {
      const links = (((m.link as PbMsg).links as PbMsg[] | undefined) ?? []).map((l) => ({
        traceId: hex(l.trace_id),
        spanId: hex(l.span_id),
        traceState: (l.trace_state as string) ?? '',
        attributes: keyValues(l.attributes),
        droppedAttributesCount: (l.dropped_attributes_count as number) ?? 0,
        flags: (l.flags as number) ?? 0,
      }));
      event = { type: 'link', links };
    }
    return { scopeRef: num(m.scope_ref, 'scope_ref'), traceId: hex(m.trace_id), spanId: hex(m.span_id), event };
  }

  function decodeEvent(raw: Uint8Array): JsEvent {
    const m = s.Event.decode(raw) as unknown as PbMsg;
    const eventNameRef = num(m.event_name_ref, 'event_name_ref');
    return {
      scopeRef: num(m.scope_ref, 'scope_ref'),
      timeUnixNano: big(m.time_unix_nano),
      severityNumber: (m.severity_number as number) ?? 0,
      severityText: (m.severity_text as string) ?? '',
      body: has(m, 'body') ? anyValue(m.body as PbMsg) : undefined,
      eventNameRef,
      eventName: resolveString(eventNameRef),
      spanContext: spanContext(m, 'span_context'),
      attributes: keyValues(m.attributes),
    };
  }

  function decodeMeasurement(raw: Uint8Array): JsMeasurement {
    const m = s.Measurement.decode(raw) as unknown as PbMsg;
    let value: JsMeasurement['value'];
    if (has(m, 'as_long')) value = { asLong: big(m.as_long) };
    else if (has(m, 'as_double')) value = { asDouble: m.as_double as number };
    return {
      metricRef: num(m.metric_ref, 'metric_ref'),
      attributes: keyValues(m.attributes),
      timeUnixNano: big(m.time_unix_nano),
      value,
      spanContext: spanContext(m, 'span_context'),
    };
  }

  function resolveResource(ref: number): JsResource {
    const m = s.Resource.decode(entryAt(ref, 'resource')) as unknown as PbMsg;
    return { attributes: keyValues(m.attributes), droppedAttributesCount: (m.dropped_attributes_count as number) ?? 0 };
  }

  function resolveScope(ref: number): JsScope {
    const m = s.InstrumentationScope.decode(entryAt(ref, 'instrumentation scope')) as unknown as PbMsg;
    const nameRef = num(m.name_ref, 'name_ref');
    const versionRef = num(m.version_ref, 'version_ref');
    return {
      nameRef,
      name: resolveString(nameRef),
      versionRef,
      version: resolveString(versionRef),
      attributes: keyValues(m.attributes),
      droppedAttributesCount: (m.dropped_attributes_count as number) ?? 0,
      resourceRef: num(m.resource_ref, 'resource_ref'),
    };
  }

  function resolveMetric(ref: number): JsMetricRef {
    const m = s.MetricRef.decode(entryAt(ref, 'metric')) as unknown as PbMsg;
    let aggregation: JsAggregation = { type: 'none' };
    if (has(m, 'gauge')) aggregation = { type: 'gauge' };
    else if (has(m, 'sum')) {
      const a = m.sum as PbMsg;
      aggregation = { type: 'sum', temporality: (a.aggregation_temporality as number) ?? 0, isMonotonic: (a.is_monotonic as boolean) ?? false };
    } else if (has(m, 'histogram')) {
      const a = m.histogram as PbMsg;
      aggregation = {
        type: 'histogram',
        temporality: (a.aggregation_temporality as number) ?? 0,
        boundaries: [...((a.bucket_boundaries as number[] | undefined) ?? [])],
      };
    } else if (has(m, 'exp_hist')) {
      const a = m.exp_hist as PbMsg;
      aggregation = {
        type: 'exponentialHistogram',
        temporality: (a.aggregation_temporality as number) ?? 0,
        maxBuckets: big(a.max_buckets),
        maxScale: big(a.max_scale),
      };
    }
    return {
      name: (m.name as string) ?? '',
      description: (m.description as string) ?? '',
      unit: (m.unit as string) ?? '',
      scopeRef: num(m.instrumentation_scope_ref, 'instrumentation_scope_ref'),
      aggregation,
    };
  }

  function entries(): DictionaryEntry[] {
    const out: DictionaryEntry[] = [];
    let off = dataStart;
    while (off < dictionary.end) {
      const { value: len, length: n } = readVarint(bytes, off, dictionary.end);
      if (off + n + len > dictionary.end) throw new MmapFormatError(`dictionary entry at ${off} runs past the end ${dictionary.end}`);
      out.push({ ref: off, bytes: bytes.slice(off + n, off + n + len) });
      off += n + len;
    }
    return out;
  }

  // ---- rings
  const ringHeaders = {} as Record<RingName, RingHeader>;
  for (const name of RING_NAMES) {
    const off = header.ringOffsets[name];
    if (off < HEADER_SIZE || off + RING_HEADER_SIZE > bytes.byteLength) throw new MmapFormatError(`${name} ring offset ${off} is outside the file`);
    const h: RingHeader = {
      offset: off,
      numBuffers: i64(view, off, `${name} num_buffers`),
      bufferSize: i64(view, off + 8, `${name} buffer_size`),
      readerIndex: i64(view, off + 16, `${name} reader_index`),
      writerIndex: i64(view, off + 24, `${name} writer_index`),
    };
    if (h.numBuffers < 1 || (h.numBuffers & (h.numBuffers - 1)) !== 0) throw new MmapFormatError(`${name} num_buffers ${h.numBuffers} is not a power of two`);
    if (h.bufferSize < 2) throw new MmapFormatError(`${name} buffer_size ${h.bufferSize} is too small`);
    const ringEnd = off + RING_HEADER_SIZE + 4 * h.numBuffers + h.numBuffers * h.bufferSize;
    if (ringEnd > bytes.byteLength) throw new MmapFormatError(`${name} ring ends at ${ringEnd}, past the file (${bytes.byteLength} bytes)`);
    if (h.readerIndex < -1 || h.writerIndex < h.readerIndex) {
      throw new MmapFormatError(`${name} indices are inconsistent: reader_index ${h.readerIndex}, writer_index ${h.writerIndex}`);
    }
    if (h.writerIndex - h.readerIndex > h.numBuffers - 1) {
      throw new MmapFormatError(`${name} holds ${h.writerIndex - h.readerIndex} unread messages, more than N-1 = ${h.numBuffers - 1}`);
    }
    ringHeaders[name] = h;
  }
  // Regions must not overlap.
  const regions: Array<[number, number, string]> = RING_NAMES.map((n) => {
    const h = ringHeaders[n];
    return [h.offset, h.offset + RING_HEADER_SIZE + 4 * h.numBuffers + h.numBuffers * h.bufferSize, `${n} ring`];
  });
  regions.push([d, d + DICT_HEADER_SIZE, 'dictionary header']);
  regions.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < regions.length; i++) {
    if (regions[i - 1][1] > regions[i][0]) throw new MmapFormatError(`${regions[i - 1][2]} overlaps ${regions[i][2]}`);
  }
  if (regions[0][0] < HEADER_SIZE) throw new MmapFormatError(`${regions[0][2]} overlaps the file header`);

  function readRing<T>(name: RingName, decode: (raw: Uint8Array) => T): RingContents<T> {
    const h = ringHeaders[name];
    const messages: RingMessage<T>[] = [];
    let seq = h.readerIndex + 1;
    for (; seq <= h.writerIndex; seq++) {
      const slot = seq & (h.numBuffers - 1);
      const flag = view.getInt32(h.offset + RING_HEADER_SIZE + 4 * slot, true);
      if (flag !== flagOf(seq, h.numBuffers)) break;
      const start = h.offset + RING_HEADER_SIZE + 4 * h.numBuffers + slot * h.bufferSize;
      const { value: len, length: n } = readVarint(bytes, start, start + h.bufferSize);
      if (n + len > h.bufferSize) throw new MmapFormatError(`${name} seq ${seq}: record of ${len} bytes does not fit a ${h.bufferSize}-byte slot`);
      const raw = bytes.subarray(start + n, start + n + len);
      let message: T;
      try {
        message = decode(raw);
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        throw new MmapFormatError(`${name} seq ${seq}: ${why}`);
      }
      messages.push({ seq, slot, byteLength: len, message });
    }
    return { header: h, messages, unpublished: h.writerIndex - seq + 1 };
  }

  const result: MmapFile = {
    fileBytes: bytes.byteLength,
    header,
    dictionary,
    events: readRing('events', decodeEvent),
    spans: readRing('spans', decodeSpanEvent),
    measurements: readRing('measurements', decodeMeasurement),
    entries,
    resolveString,
    resolveResource,
    resolveScope,
    resolveMetric,
  };

  if (options.consume) {
    const fd = fs.openSync(file, 'r+');
    try {
      for (const name of RING_NAMES) {
        const ring = result[name];
        const last = ring.messages.length ? ring.messages[ring.messages.length - 1].seq : undefined;
        if (last === undefined) continue;
        const b = Buffer.alloc(8);
        b.writeBigInt64LE(BigInt(last));
        fs.writeSync(fd, b, 0, 8, ring.header.offset + 16);
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  return result;
}

// ------------------------------------------------------------------ conveniences for tests

/** A plain JS value for an `AnyValue`, for easy comparison: ints are bigint, bytes Uint8Array, kvlists objects. */
export function plainValue(v: JsAnyValue | undefined): unknown {
  if (v === undefined || v === null) return v;
  if ('string' in v) return v.string;
  if ('bool' in v) return v.bool;
  if ('int' in v) return v.int;
  if ('double' in v) return v.double;
  if ('bytes' in v) return v.bytes;
  if ('array' in v) return v.array.map(plainValue);
  if ('kvlist' in v) return attributesObject(v.kvlist);
  return { valueRef: v.valueRef };
}

/** Attributes as an object `{ key: JsAnyValue }`; throws on a duplicate key. */
export function attributesMap(kvs: JsKeyValue[]): Record<string, JsAnyValue | undefined> {
  const out: Record<string, JsAnyValue | undefined> = {};
  for (const kv of kvs) {
    if (Object.prototype.hasOwnProperty.call(out, kv.key)) throw new Error(`duplicate attribute key ${JSON.stringify(kv.key)}`);
    out[kv.key] = kv.value;
  }
  return out;
}

/** Attributes as plain JS values `{ key: value }` (see `plainValue`). */
export function attributesObject(kvs: JsKeyValue[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(attributesMap(kvs))) out[k] = plainValue(v);
  return out;
}
