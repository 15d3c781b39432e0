/**
 * Human-readable rendering of OTLP batches, for the console exporter and
 * `otlp-mmap inspect`. Spans are printed as a tree per trace (children under
 * their parent when the parent is in the same batch).
 */
import {
  decodeLogsRequest,
  decodeMetricsRequest,
  decodeTraceRequest,
  OtlpAnyValue,
  OtlpExemplar,
  OtlpKeyValue,
  OtlpMetric,
  OtlpResource,
  OtlpScope,
  OtlpSpan,
} from './decode';

const SPAN_KINDS = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUS = ['unset', 'ok', 'error'];
const TEMPORALITY = ['unspecified', 'delta', 'cumulative'];
const SEVERITY = ['', 'TRACE', 'TRACE2', 'TRACE3', 'TRACE4', 'DEBUG', 'DEBUG2', 'DEBUG3', 'DEBUG4', 'INFO', 'INFO2', 'INFO3', 'INFO4', 'WARN', 'WARN2', 'WARN3', 'WARN4', 'ERROR', 'ERROR2', 'ERROR3', 'ERROR4', 'FATAL', 'FATAL2', 'FATAL3', 'FATAL4'];

/** Hex of an id, or `-` when absent. */
export function hex(id: Uint8Array | undefined): string {
  return id && id.length > 0 ? Buffer.from(id).toString('hex') : '-';
}

/** Renders an `AnyValue` compactly (strings quoted). */
export function formatAnyValue(v: OtlpAnyValue | undefined): string {
  if (!v) return 'null';
  if (v.stringValue !== undefined) return JSON.stringify(v.stringValue);
  if (v.boolValue !== undefined) return String(v.boolValue);
  if (v.intValue !== undefined) return v.intValue.toString();
  if (v.doubleValue !== undefined) return String(v.doubleValue);
  if (v.bytesValue !== undefined) return `0x${Buffer.from(v.bytesValue).toString('hex')}`;
  if (v.arrayValue) return `[${v.arrayValue.values.map(formatAnyValue).join(', ')}]`;
  if (v.kvlistValue) return `{${formatAttributes(v.kvlistValue.values)}}`;
  return 'null';
}

/** Renders attributes as `key=value key=value`. */
export function formatAttributes(attrs: OtlpKeyValue[]): string {
  return attrs.map((kv) => `${kv.key ?? ''}=${formatAnyValue(kv.value)}`).join(' ');
}

function isoTime(ns: bigint | undefined): string {
  if (ns === undefined || ns === 0n) return '(no time)';
  const ms = Number(ns / 1_000_000n);
  const sub = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${new Date(ms).toISOString().slice(0, 19)}.${sub}Z`;
}

function duration(start: bigint | undefined, end: bigint | undefined): string {
  if (!start || !end) return '?';
  const us = Number((end - start) / 1000n);
  return us >= 1000 ? `${(us / 1000).toFixed(3)}ms` : `${us}µs`;
}

function scopeLabel(scope: OtlpScope | undefined): string {
  if (!scope?.name) return '(no scope)';
  return scope.version ? `${scope.name}@${scope.version}` : scope.name;
}

function resourceLabel(resource: OtlpResource | undefined): string {
  return resource && resource.attributes.length > 0 ? formatAttributes(resource.attributes) : '(empty)';
}

/** Remembers printed resources so that a repeated resource is shown as one short line. */
export type ResourceMemory = Set<string>;

function resourceLine(resource: OtlpResource | undefined, memory?: ResourceMemory): string {
  const full = resourceLabel(resource);
  if (!memory) return `resource ${full}`;
  if (memory.has(full)) {
    const name = resource?.attributes.find((kv) => kv.key === 'service.name');
    return `resource ${name ? `service.name=${formatAnyValue(name.value)} ` : ''}(as above)`;
  }
  if (memory.size > 1000) memory.clear();
  memory.add(full);
  return `resource ${full}`;
}

/**
 * Renders an `ExportTraceServiceRequest`: per resource, one tree per trace (a
 * child under its parent when both are in the batch, whatever their scopes).
 */
export function formatTraces(bytes: Uint8Array, memory?: ResourceMemory): string {
  const out: string[] = [];
  type Item = { span: OtlpSpan; scope: string };
  // A merged batch may repeat a resource: its spans are shown together, so that trees are whole.
  const groups = new Map<string, { resource: OtlpResource | undefined; scopes: Array<{ scope?: OtlpScope; spans: OtlpSpan[] }> }>();
  for (const rs of decodeTraceRequest(bytes)) {
    const key = resourceLabel(rs.resource);
    const g = groups.get(key);
    if (g) g.scopes.push(...rs.scopes);
    else groups.set(key, { resource: rs.resource, scopes: [...rs.scopes] });
  }
  for (const rs of groups.values()) {
    out.push(resourceLine(rs.resource, memory));
    const byTrace = new Map<string, Item[]>();
    for (const ss of rs.scopes) {
      const scope = scopeLabel(ss.scope);
      for (const span of ss.spans) {
        const t = hex(span.traceId);
        let list = byTrace.get(t);
        if (!list) byTrace.set(t, (list = []));
        list.push({ span, scope });
      }
    }
    for (const [traceId, items] of byTrace) {
      out.push(`  trace ${traceId}`);
      const ids = new Set(items.map((i) => hex(i.span.spanId)));
      const children = new Map<string, Item[]>();
      const roots: Item[] = [];
      for (const i of items) {
        const parent = hex(i.span.parentSpanId);
        if (parent !== '-' && ids.has(parent)) {
          let c = children.get(parent);
          if (!c) children.set(parent, (c = []));
          c.push(i);
        } else {
          roots.push(i);
        }
      }
      const byStart = (a: Item, b: Item): number => ((a.span.startTimeUnixNano ?? 0n) < (b.span.startTimeUnixNano ?? 0n) ? -1 : 1);
      const seen = new Set<Item>();
      const visit = (i: Item, depth: number): void => {
        if (seen.has(i)) return;
        seen.add(i);
        const s = i.span;
        const pad = '    ' + '   '.repeat(depth);
        const parent = hex(s.parentSpanId);
        const parentNote = depth === 0 && parent !== '-' ? ` parent=${parent}` : '';
        const status = s.status?.code ? ` status=${STATUS[s.status.code] ?? s.status.code}${s.status.message ? `(${JSON.stringify(s.status.message)})` : ''}` : '';
        out.push(`${pad}${depth > 0 ? '└─ ' : ''}${s.name ?? ''} [${SPAN_KINDS[s.kind ?? 0] ?? s.kind}] ${duration(s.startTimeUnixNano, s.endTimeUnixNano)} span=${hex(s.spanId)}${parentNote}${status} (${i.scope})`);
        const inner = pad + (depth > 0 ? '   ' : '') + '  ';
        if (s.attributes.length > 0) out.push(`${inner}${formatAttributes(s.attributes)}`);
        for (const e of s.events) out.push(`${inner}event ${e.name ?? ''} at ${isoTime(e.timeUnixNano)} ${formatAttributes(e.attributes)}`.trimEnd());
        for (const l of s.links) out.push(`${inner}link trace=${hex(l.traceId)} span=${hex(l.spanId)} ${formatAttributes(l.attributes)}`.trimEnd());
        for (const c of (children.get(hex(s.spanId)) ?? []).sort(byStart)) visit(c, depth + 1);
      };
      for (const r of roots.sort(byStart)) visit(r, 0);
      // Spans in a parent cycle (malformed input) are still shown.
      for (const i of items) if (!seen.has(i)) visit(i, 0);
    }
  }
  return out.join('\n');
}

function exemplarText(ex: OtlpExemplar[]): string {
  if (ex.length === 0) return '';
  return ` exemplars=[${ex.map((e) => `${e.asInt !== undefined ? e.asInt : e.asDouble} trace=${hex(e.traceId)} span=${hex(e.spanId)}`).join(', ')}]`;
}

function metricLines(m: OtlpMetric, out: string[]): void {
  const unit = m.unit ? ` (${m.unit})` : '';
  const pad = '      ';
  if (m.gauge) {
    out.push(`    ${m.name} gauge${unit}`);
    for (const p of m.gauge.dataPoints) out.push(`${pad}{${formatAttributes(p.attributes)}} ${p.asInt !== undefined ? p.asInt : p.asDouble}${exemplarText(p.exemplars)}`);
  } else if (m.sum) {
    out.push(`    ${m.name} sum ${TEMPORALITY[m.sum.aggregationTemporality ?? 0]}${m.sum.isMonotonic ? ' monotonic' : ''}${unit}`);
    for (const p of m.sum.dataPoints) out.push(`${pad}{${formatAttributes(p.attributes)}} ${p.asInt !== undefined ? p.asInt : p.asDouble}${exemplarText(p.exemplars)}`);
  } else if (m.histogram) {
    out.push(`    ${m.name} histogram ${TEMPORALITY[m.histogram.aggregationTemporality ?? 0]}${unit}`);
    for (const p of m.histogram.dataPoints) {
      // Only the buckets that counted something: `≤bound:count` (`>bound` for the last one).
      const buckets = p.bucketCounts
        .map((c, i) => (c === 0n ? '' : `${i < p.explicitBounds.length ? `≤${p.explicitBounds[i]}` : `>${p.explicitBounds[p.explicitBounds.length - 1] ?? '-Inf'}`}:${c}`))
        .filter(Boolean)
        .join(' ');
      out.push(`${pad}{${formatAttributes(p.attributes)}} count=${p.count ?? 0n} sum=${p.sum ?? '-'} min=${p.min ?? '-'} max=${p.max ?? '-'} buckets=[${buckets}] (${p.explicitBounds.length} bounds)${exemplarText(p.exemplars)}`);
    }
  } else if (m.exponentialHistogram) {
    out.push(`    ${m.name} exponential_histogram ${TEMPORALITY[m.exponentialHistogram.aggregationTemporality ?? 0]}${unit}`);
    for (const p of m.exponentialHistogram.dataPoints) {
      const pos = p.positive ? `offset=${p.positive.offset ?? 0} [${p.positive.bucketCounts.join(' ')}]` : '-';
      const neg = p.negative ? `offset=${p.negative.offset ?? 0} [${p.negative.bucketCounts.join(' ')}]` : '-';
      out.push(`${pad}{${formatAttributes(p.attributes)}} count=${p.count ?? 0n} sum=${p.sum ?? '-'} min=${p.min ?? '-'} max=${p.max ?? '-'} scale=${p.scale ?? 0} zero=${p.zeroCount ?? 0n} positive=${pos} negative=${neg}`);
    }
  } else if (m.summary) {
    out.push(`    ${m.name} summary${unit}`);
    for (const p of m.summary.dataPoints) out.push(`${pad}{${formatAttributes(p.attributes)}} count=${p.count ?? 0n} sum=${p.sum ?? '-'}`);
  } else {
    out.push(`    ${m.name} (no data)`);
  }
}

/** Renders an `ExportMetricsServiceRequest`. */
export function formatMetrics(bytes: Uint8Array, memory?: ResourceMemory): string {
  const out: string[] = [];
  for (const rm of decodeMetricsRequest(bytes)) {
    out.push(resourceLine(rm.resource, memory));
    for (const sm of rm.scopes) {
      out.push(`  scope ${scopeLabel(sm.scope)}: ${sm.metrics.length} metric(s)`);
      for (const m of sm.metrics) metricLines(m, out);
    }
  }
  return out.join('\n');
}

/** Renders an `ExportLogsServiceRequest`. */
export function formatLogs(bytes: Uint8Array, memory?: ResourceMemory): string {
  const out: string[] = [];
  for (const rl of decodeLogsRequest(bytes)) {
    out.push(resourceLine(rl.resource, memory));
    for (const sl of rl.scopes) {
      out.push(`  scope ${scopeLabel(sl.scope)}: ${sl.logRecords.length} log record(s)`);
      for (const r of sl.logRecords) {
        const sev = r.severityText || SEVERITY[r.severityNumber ?? 0] || '-';
        const ctx = r.traceId && r.traceId.length > 0 ? ` trace=${hex(r.traceId)} span=${hex(r.spanId)}` : '';
        const name = r.eventName ? ` event=${r.eventName}` : '';
        const attrs = r.attributes.length > 0 ? ` ${formatAttributes(r.attributes)}` : '';
        out.push(`    ${isoTime(r.timeUnixNano || r.observedTimeUnixNano)} ${sev}${name} ${formatAnyValue(r.body)}${attrs}${ctx}`);
      }
    }
  }
  return out.join('\n');
}
