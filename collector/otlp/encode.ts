/**
 * Encodes the collector's own metrics (`otlp_mmap.*`) as an OTLP
 * `ExportMetricsServiceRequest`. Only what the collector needs: integer
 * cumulative sums and gauges with string/int attributes.
 */
import { ProtoWriter } from './wire';

/** An attribute value of a self-metric point. */
export type SimpleAttributeValue = string | number | boolean;

export interface SimplePoint {
  attributes: Record<string, SimpleAttributeValue>;
  /** Integer value (the collector's counters are all integers). */
  value: number;
}

export interface SimpleMetric {
  name: string;
  description: string;
  unit: string;
  /** `sum` is cumulative; `gauge` is a last value. */
  kind: 'sum' | 'gauge';
  /** For sums: counters never go down. */
  monotonic?: boolean;
  points: SimplePoint[];
}

export interface SimpleMetricsRequest {
  resource: Record<string, SimpleAttributeValue>;
  scope: { name: string; version?: string };
  metrics: SimpleMetric[];
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
}

const AGGREGATION_TEMPORALITY_CUMULATIVE = 2;

function anyValue(v: SimpleAttributeValue): ProtoWriter {
  const w = new ProtoWriter();
  if (typeof v === 'string') w.string(1, v);
  else if (typeof v === 'boolean') w.varint(2, v);
  else if (Number.isInteger(v)) w.varint(3, BigInt(v));
  else w.double(4, v);
  return w;
}

function keyValues(w: ProtoWriter, field: number, attrs: Record<string, SimpleAttributeValue>): void {
  for (const [key, value] of Object.entries(attrs)) {
    w.message(field, new ProtoWriter().string(1, key).message(2, anyValue(value)));
  }
}

/** Encodes an `ExportMetricsServiceRequest` holding one resource and one scope. */
export function encodeSimpleMetrics(req: SimpleMetricsRequest): Buffer {
  const resource = new ProtoWriter();
  keyValues(resource, 1, req.resource);

  const scope = new ProtoWriter().string(1, req.scope.name);
  if (req.scope.version) scope.string(2, req.scope.version);

  const scopeMetrics = new ProtoWriter().message(1, scope);
  for (const m of req.metrics) {
    const metric = new ProtoWriter().string(1, m.name).string(2, m.description).string(3, m.unit);
    const data = new ProtoWriter();
    for (const p of m.points) {
      const point = new ProtoWriter();
      keyValues(point, 7, p.attributes);
      if (m.kind === 'sum') point.fixed64(2, req.startTimeUnixNano);
      point.fixed64(3, req.timeUnixNano);
      point.sfixed64(6, BigInt(Math.trunc(p.value)));
      data.message(1, point);
    }
    if (m.kind === 'sum') {
      data.varint(2, AGGREGATION_TEMPORALITY_CUMULATIVE).varint(3, m.monotonic ?? true);
      metric.message(7, data);
    } else {
      metric.message(5, data);
    }
    scopeMetrics.message(2, metric);
  }

  const resourceMetrics = new ProtoWriter().message(1, resource).message(2, scopeMetrics);
  return new ProtoWriter().message(1, resourceMetrics).finish();
}
