/**
 * Decodes OTLP export requests and responses into plain objects, for the
 * console exporter and for reading `partial_success` from export responses.
 * This is OTLP (what the native side produced, or what a receiver answered),
 * never the mmap file.
 *
 * The schemas below list the OTLP v1 fields by number (opentelemetry-proto
 * `common`, `resource`, `trace`, `metrics`, `logs` and the collector services).
 * Unknown fields are skipped, as protobuf requires.
 */
import { ProtoReader, WireError, WireType } from './wire';

type Scalar = 'string' | 'bytes' | 'bool' | 'uint' | 'int32' | 'int64' | 'sint32' | 'fixed64' | 'sfixed64' | 'fixed32' | 'double';
interface FieldSpec {
  name: string;
  kind: Scalar | Schema;
  repeated?: boolean;
}
interface Schema {
  [field: number]: FieldSpec | undefined;
}

const f = (name: string, kind: Scalar | Schema, repeated = false): FieldSpec => ({ name, kind, repeated });

// A schema refers to itself through these (AnyValue <-> ArrayValue/KeyValueList), so fill them after declaration.
const AnyValue: Schema = {};
const KeyValue: Schema = { 1: f('key', 'string'), 2: f('value', AnyValue) };
Object.assign(AnyValue, {
  1: f('stringValue', 'string'),
  2: f('boolValue', 'bool'),
  3: f('intValue', 'int64'),
  4: f('doubleValue', 'double'),
  5: f('arrayValue', { 1: f('values', AnyValue, true) }),
  6: f('kvlistValue', { 1: f('values', KeyValue, true) }),
  7: f('bytesValue', 'bytes'),
});
const Scope: Schema = { 1: f('name', 'string'), 2: f('version', 'string'), 3: f('attributes', KeyValue, true), 4: f('droppedAttributesCount', 'uint') };
const Resource: Schema = { 1: f('attributes', KeyValue, true), 2: f('droppedAttributesCount', 'uint') };

const Span: Schema = {
  1: f('traceId', 'bytes'),
  2: f('spanId', 'bytes'),
  3: f('traceState', 'string'),
  4: f('parentSpanId', 'bytes'),
  16: f('flags', 'fixed32'),
  5: f('name', 'string'),
  6: f('kind', 'uint'),
  7: f('startTimeUnixNano', 'fixed64'),
  8: f('endTimeUnixNano', 'fixed64'),
  9: f('attributes', KeyValue, true),
  10: f('droppedAttributesCount', 'uint'),
  11: f('events', { 1: f('timeUnixNano', 'fixed64'), 2: f('name', 'string'), 3: f('attributes', KeyValue, true), 4: f('droppedAttributesCount', 'uint') }, true),
  12: f('droppedEventsCount', 'uint'),
  13: f(
    'links',
    { 1: f('traceId', 'bytes'), 2: f('spanId', 'bytes'), 3: f('traceState', 'string'), 4: f('attributes', KeyValue, true), 5: f('droppedAttributesCount', 'uint'), 6: f('flags', 'fixed32') },
    true,
  ),
  14: f('droppedLinksCount', 'uint'),
  15: f('status', { 2: f('message', 'string'), 3: f('code', 'uint') }),
};

const Exemplar: Schema = {
  7: f('filteredAttributes', KeyValue, true),
  2: f('timeUnixNano', 'fixed64'),
  3: f('asDouble', 'double'),
  6: f('asInt', 'sfixed64'),
  4: f('spanId', 'bytes'),
  5: f('traceId', 'bytes'),
};
const NumberDataPoint: Schema = {
  7: f('attributes', KeyValue, true),
  2: f('startTimeUnixNano', 'fixed64'),
  3: f('timeUnixNano', 'fixed64'),
  4: f('asDouble', 'double'),
  6: f('asInt', 'sfixed64'),
  5: f('exemplars', Exemplar, true),
  8: f('flags', 'uint'),
};
const HistogramDataPoint: Schema = {
  9: f('attributes', KeyValue, true),
  2: f('startTimeUnixNano', 'fixed64'),
  3: f('timeUnixNano', 'fixed64'),
  4: f('count', 'fixed64'),
  5: f('sum', 'double'),
  6: f('bucketCounts', 'fixed64', true),
  7: f('explicitBounds', 'double', true),
  8: f('exemplars', Exemplar, true),
  10: f('flags', 'uint'),
  11: f('min', 'double'),
  12: f('max', 'double'),
};
const Buckets: Schema = { 1: f('offset', 'sint32'), 2: f('bucketCounts', 'int64', true) };
const ExpHistogramDataPoint: Schema = {
  1: f('attributes', KeyValue, true),
  2: f('startTimeUnixNano', 'fixed64'),
  3: f('timeUnixNano', 'fixed64'),
  4: f('count', 'fixed64'),
  5: f('sum', 'double'),
  6: f('scale', 'sint32'),
  7: f('zeroCount', 'fixed64'),
  8: f('positive', Buckets),
  9: f('negative', Buckets),
  10: f('flags', 'uint'),
  11: f('exemplars', Exemplar, true),
  12: f('min', 'double'),
  13: f('max', 'double'),
  14: f('zeroThreshold', 'double'),
};
const SummaryDataPoint: Schema = {
  7: f('attributes', KeyValue, true),
  2: f('startTimeUnixNano', 'fixed64'),
  3: f('timeUnixNano', 'fixed64'),
  4: f('count', 'fixed64'),
  5: f('sum', 'double'),
  6: f('quantileValues', { 1: f('quantile', 'double'), 2: f('value', 'double') }, true),
  8: f('flags', 'uint'),
};
const Metric: Schema = {
  1: f('name', 'string'),
  2: f('description', 'string'),
  3: f('unit', 'string'),
  5: f('gauge', { 1: f('dataPoints', NumberDataPoint, true) }),
  7: f('sum', { 1: f('dataPoints', NumberDataPoint, true), 2: f('aggregationTemporality', 'uint'), 3: f('isMonotonic', 'bool') }),
  9: f('histogram', { 1: f('dataPoints', HistogramDataPoint, true), 2: f('aggregationTemporality', 'uint') }),
  10: f('exponentialHistogram', { 1: f('dataPoints', ExpHistogramDataPoint, true), 2: f('aggregationTemporality', 'uint') }),
  11: f('summary', { 1: f('dataPoints', SummaryDataPoint, true) }),
  12: f('metadata', KeyValue, true),
};
const LogRecord: Schema = {
  1: f('timeUnixNano', 'fixed64'),
  11: f('observedTimeUnixNano', 'fixed64'),
  2: f('severityNumber', 'uint'),
  3: f('severityText', 'string'),
  5: f('body', AnyValue),
  6: f('attributes', KeyValue, true),
  7: f('droppedAttributesCount', 'uint'),
  8: f('flags', 'fixed32'),
  9: f('traceId', 'bytes'),
  10: f('spanId', 'bytes'),
  12: f('eventName', 'string'),
};

const resourceLevel = (scopeName: string, itemName: string, item: Schema): Schema => ({
  1: f('resource', Resource),
  2: f(scopeName, { 1: f('scope', Scope), 2: f(itemName, item, true), 3: f('schemaUrl', 'string') }, true),
  3: f('schemaUrl', 'string'),
});

const TraceRequest: Schema = { 1: f('resourceSpans', resourceLevel('scopeSpans', 'spans', Span), true) };
const MetricsRequest: Schema = { 1: f('resourceMetrics', resourceLevel('scopeMetrics', 'metrics', Metric), true) };
const LogsRequest: Schema = { 1: f('resourceLogs', resourceLevel('scopeLogs', 'logRecords', LogRecord), true) };
const PartialSuccessResponse: Schema = { 1: f('partialSuccess', { 1: f('rejected', 'int64'), 2: f('errorMessage', 'string') }) };

type Decoded = { [name: string]: unknown };

const PACKABLE = new Set<Scalar>(['bool', 'uint', 'int32', 'int64', 'sint32', 'fixed64', 'sfixed64', 'fixed32', 'double']);

function readScalar(r: ProtoReader, kind: Scalar, wire: number): unknown {
  const expected = kind === 'fixed64' || kind === 'sfixed64' || kind === 'double' ? WireType.Fixed64 : kind === 'fixed32' ? WireType.Fixed32 : kind === 'string' || kind === 'bytes' ? WireType.LengthDelimited : WireType.Varint;
  if (wire !== expected) throw new WireError(`wire type ${wire} where ${kind} expects ${expected}`);
  switch (kind) {
    case 'string':
      return r.string();
    case 'bytes':
      return r.bytes();
    case 'bool':
      return r.varint() !== 0n;
    case 'uint':
      return r.uint();
    case 'int32':
      return r.int32();
    case 'int64':
      return BigInt.asIntN(64, r.varint());
    case 'sint32':
      return r.sint32();
    case 'fixed64':
      return r.fixed64();
    case 'sfixed64':
      return r.sfixed64();
    case 'fixed32':
      return r.fixed32();
    case 'double':
      return r.double();
  }
}

function decodeMessage(r: ProtoReader, schema: Schema, depth: number): Decoded {
  if (depth > 64) throw new WireError('message nesting deeper than 64');
  const out: Decoded = {};
  for (const key of Object.keys(schema)) {
    const spec = schema[Number(key)];
    if (spec?.repeated) out[spec.name] = [];
  }
  while (r.more()) {
    const { field, wire } = r.tag();
    const spec = schema[field];
    if (!spec) {
      r.skip(wire);
      continue;
    }
    let value: unknown;
    if (typeof spec.kind === 'object') {
      if (wire !== WireType.LengthDelimited) throw new WireError(`wire type ${wire} for message field ${spec.name}`);
      value = decodeMessage(r.message(), spec.kind, depth + 1);
    } else if (spec.repeated && wire === WireType.LengthDelimited && PACKABLE.has(spec.kind)) {
      const packed = r.message();
      const list = out[spec.name] as unknown[];
      const elementWire = spec.kind === 'fixed64' || spec.kind === 'sfixed64' || spec.kind === 'double' ? WireType.Fixed64 : spec.kind === 'fixed32' ? WireType.Fixed32 : WireType.Varint;
      while (packed.more()) list.push(readScalar(packed, spec.kind, elementWire));
      continue;
    } else {
      value = readScalar(r, spec.kind, wire);
    }
    if (spec.repeated) (out[spec.name] as unknown[]).push(value);
    else out[spec.name] = value;
  }
  return out;
}

// ---------------------------------------------------------------- typed views

/** A decoded `AnyValue`: exactly one of the fields is set (or none, for an empty value). */
export interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: bigint;
  doubleValue?: number;
  arrayValue?: { values: OtlpAnyValue[] };
  kvlistValue?: { values: OtlpKeyValue[] };
  bytesValue?: Uint8Array;
}
export interface OtlpKeyValue {
  key?: string;
  value?: OtlpAnyValue;
}
export interface OtlpResource {
  attributes: OtlpKeyValue[];
}
export interface OtlpScope {
  name?: string;
  version?: string;
  attributes: OtlpKeyValue[];
}
export interface OtlpSpan {
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  parentSpanId?: Uint8Array;
  traceState?: string;
  flags?: number;
  name?: string;
  kind?: number;
  startTimeUnixNano?: bigint;
  endTimeUnixNano?: bigint;
  attributes: OtlpKeyValue[];
  events: Array<{ timeUnixNano?: bigint; name?: string; attributes: OtlpKeyValue[] }>;
  links: Array<{ traceId?: Uint8Array; spanId?: Uint8Array; attributes: OtlpKeyValue[] }>;
  status?: { message?: string; code?: number };
  droppedAttributesCount?: number;
  droppedEventsCount?: number;
  droppedLinksCount?: number;
}
export interface OtlpNumberPoint {
  attributes: OtlpKeyValue[];
  startTimeUnixNano?: bigint;
  timeUnixNano?: bigint;
  asDouble?: number;
  asInt?: bigint;
  exemplars: OtlpExemplar[];
}
export interface OtlpExemplar {
  filteredAttributes: OtlpKeyValue[];
  timeUnixNano?: bigint;
  asDouble?: number;
  asInt?: bigint;
  spanId?: Uint8Array;
  traceId?: Uint8Array;
}
export interface OtlpHistogramPoint {
  attributes: OtlpKeyValue[];
  startTimeUnixNano?: bigint;
  timeUnixNano?: bigint;
  count?: bigint;
  sum?: number;
  min?: number;
  max?: number;
  bucketCounts: bigint[];
  explicitBounds: number[];
  exemplars: OtlpExemplar[];
}
export interface OtlpExpHistogramPoint {
  attributes: OtlpKeyValue[];
  startTimeUnixNano?: bigint;
  timeUnixNano?: bigint;
  count?: bigint;
  sum?: number;
  min?: number;
  max?: number;
  scale?: number;
  zeroCount?: bigint;
  positive?: { offset?: number; bucketCounts: bigint[] };
  negative?: { offset?: number; bucketCounts: bigint[] };
  exemplars: OtlpExemplar[];
}
export interface OtlpSummaryPoint {
  attributes: OtlpKeyValue[];
  timeUnixNano?: bigint;
  count?: bigint;
  sum?: number;
  quantileValues: Array<{ quantile?: number; value?: number }>;
}
export interface OtlpMetric {
  name?: string;
  description?: string;
  unit?: string;
  gauge?: { dataPoints: OtlpNumberPoint[] };
  sum?: { dataPoints: OtlpNumberPoint[]; aggregationTemporality?: number; isMonotonic?: boolean };
  histogram?: { dataPoints: OtlpHistogramPoint[]; aggregationTemporality?: number };
  exponentialHistogram?: { dataPoints: OtlpExpHistogramPoint[]; aggregationTemporality?: number };
  summary?: { dataPoints: OtlpSummaryPoint[] };
}
export interface OtlpLogRecord {
  timeUnixNano?: bigint;
  observedTimeUnixNano?: bigint;
  severityNumber?: number;
  severityText?: string;
  body?: OtlpAnyValue;
  attributes: OtlpKeyValue[];
  flags?: number;
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  eventName?: string;
}

/** One resource and its scopes, each with its items (`spans`, `metrics` or `logRecords`). */
export interface ResourceGroup<I extends string, T> {
  resource?: OtlpResource;
  schemaUrl?: string;
  scopes: Array<{ scope?: OtlpScope; schemaUrl?: string } & { [K in I]: T[] }>;
}
export type ResourceSpans = ResourceGroup<'spans', OtlpSpan>;
export type ResourceMetrics = ResourceGroup<'metrics', OtlpMetric>;
export type ResourceLogs = ResourceGroup<'logRecords', OtlpLogRecord>;

function normalize<T>(list: unknown, scopeKey: string): T[] {
  return (list as Array<Decoded>).map((rl) => ({ resource: rl.resource, schemaUrl: rl.schemaUrl, scopes: (rl[scopeKey] as unknown[]) ?? [] }) as T);
}

/** Decodes an `ExportTraceServiceRequest`. Throws `WireError` on malformed input. */
export function decodeTraceRequest(bytes: Uint8Array): ResourceSpans[] {
  return normalize<ResourceSpans>(decodeMessage(new ProtoReader(bytes), TraceRequest, 0).resourceSpans, 'scopeSpans');
}

/** Decodes an `ExportMetricsServiceRequest`. Throws `WireError` on malformed input. */
export function decodeMetricsRequest(bytes: Uint8Array): ResourceMetrics[] {
  return normalize<ResourceMetrics>(decodeMessage(new ProtoReader(bytes), MetricsRequest, 0).resourceMetrics, 'scopeMetrics');
}

/** Decodes an `ExportLogsServiceRequest`. Throws `WireError` on malformed input. */
export function decodeLogsRequest(bytes: Uint8Array): ResourceLogs[] {
  return normalize<ResourceLogs>(decodeMessage(new ProtoReader(bytes), LogsRequest, 0).resourceLogs, 'scopeLogs');
}

/** The `partial_success` of an export response (any signal: field 1 is the rejected count in all three). */
export interface PartialSuccess {
  rejected: bigint;
  errorMessage: string;
}

/**
 * Reads `partial_success` from an `Export*ServiceResponse`. Returns `null` when the
 * response is empty, has no partial success, or reports nothing rejected and no message
 * (the specification's "full success"). Malformed bytes also return `null`: a
 * response we cannot read does not make a delivered batch fail.
 */
export function decodePartialSuccess(bytes: Uint8Array): PartialSuccess | null {
  if (bytes.length === 0) return null;
  try {
    const ps = decodeMessage(new ProtoReader(bytes), PartialSuccessResponse, 0).partialSuccess as Decoded | undefined;
    if (!ps) return null;
    const rejected = (ps.rejected as bigint | undefined) ?? 0n;
    const errorMessage = (ps.errorMessage as string | undefined) ?? '';
    if (rejected === 0n && errorMessage === '') return null;
    return { rejected, errorMessage };
  } catch {
    return null;
  }
}
