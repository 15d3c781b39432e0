/**
 * Traces, metrics and logs made through the public OpenTelemetry API in a real child process
 * under `--import otlp-mmap/register`, read back from the mmap file with the independent reader.
 */
import { attributesObject, plainValue } from './support/mmap-reader';
import {
  APP_CJS,
  REGISTER_MJS,
  assembleSpans,
  cleanup,
  readOnlyFile,
  runNode,
  spanNamed,
  tempDir,
} from './fixtures/agent/harness';

afterAll(cleanup);

async function runAction(action: string, env: Record<string, string> = {}) {
  return (await runActionWithResult(action, env)).file;
}

async function runActionWithResult(action: string, env: Record<string, string> = {}) {
  const dir = tempDir();
  const r = await runNode(['--import', REGISTER_MJS, APP_CJS, action], {
    OTLP_MMAP_DIR: dir,
    OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'none',
    ...env,
  });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return { file: readOnlyFile(dir), result: r.result };
}

describe('traces', () => {
  test('manual spans are recorded with parents, attributes, events, links, status and renames', async () => {
    const file = await runAction('manual');
    const spans = assembleSpans(file);
    expect([...spans.values()].every((s) => s.ended)).toBe(true);
    const parent = spanNamed(spans, 'parent');
    const child = spanNamed(spans, 'child-renamed');
    const active = spanNamed(spans, 'active-child');
    const grandchild = spanNamed(spans, 'grandchild');
    const root = spanNamed(spans, 'explicit-root');

    expect(parent.parentSpanId).toBe('');
    expect(parent.kind).toBe(2); // SERVER
    expect(parent.scope).toBe('fixture-manual');
    expect(file.resolveScope(file.spans.messages[0].message.scopeRef).version).toBe('1.2.3');
    expect(parent.attributes).toEqual({ 'app.start': 'yes' });
    expect(parent.status).toEqual({ code: 1, message: '' });
    expect(parent.flags & 0xff).toBe(1);

    for (const s of [child, active]) {
      expect(s.traceId).toBe(parent.traceId);
      expect(s.parentSpanId).toBe(parent.spanId);
    }
    expect(grandchild.parentSpanId).toBe(active.spanId);
    expect(grandchild.traceId).toBe(parent.traceId);
    expect(root.parentSpanId).toBe('');
    expect(root.traceId).not.toBe(parent.traceId);

    expect(child.startName).toBe('child');
    expect(child.kind).toBe(1); // INTERNAL
    expect(child.attributes).toEqual({
      'app.n': 8n,
      'app.f': 1.5,
      'app.list': ['a', 'b'],
      'app.late': true,
      'app.more': 'm',
    });
    expect(child.status).toEqual({ code: 2, message: 'it failed' });
    expect(child.links).toEqual([
      { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', attributes: { 'link.kind': 'follows' } },
    ]);
    // One start, the updates made after it, and exactly one end (end is idempotent).
    // Links added after the start are written at the end, before the final name and attributes, which
    // travel with the end in one recorder call.
    expect(child.messages).toEqual(['start', 'link', 'name', 'attributes', 'end']);

    const events = file.events.messages.map((m) => m.message);
    expect(events.map((e) => e.eventName)).toEqual(['checkpoint', 'exception']);
    for (const e of events) {
      expect(e.spanContext).toEqual({ traceId: child.traceId, spanId: child.spanId, flags: 1 });
      expect(file.resolveScope(e.scopeRef).name).toBe('fixture-manual');
    }
    expect(attributesObject(events[0].attributes)).toEqual({ step: 1n });
    const ex = attributesObject(events[1].attributes);
    expect(ex['exception.type']).toBe('TypeError');
    expect(ex['exception.message']).toBe('bad input');
    expect(String(ex['exception.stacktrace'])).toMatch(/^TypeError: bad input\n\s+at /);
  });

  test('span limits truncate values and drop attributes and events beyond the counts', async () => {
    const file = await runAction('limits', {
      OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '4',
      OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '5',
      OTEL_SPAN_EVENT_COUNT_LIMIT: '2',
    });
    const span = spanNamed(assembleSpans(file), 'limited');
    expect(span.attributes).toEqual({ k0: 'xxxxx', k1: 'xxxxx', k2: 'xxxxx', k3: 'xxxxx' });
    expect(file.events.messages.map((m) => m.message.eventName)).toEqual(['e0', 'e1']);
  });

  test('a start in two parts (the http server span) keeps both, under one count limit', async () => {
    const { file, result } = await runActionWithResult('parts', { OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '5' });
    const spans = assembleSpans(file);
    expect(spanNamed(spans, 'limited').attributes).toEqual({ a: 1n, b: 2n, c: 30n, d: 4n, e: 5n });
    for (const i of [0, 1]) expect(spanNamed(spans, `again-${i}`).attributes).toEqual({ i: BigInt(i), c: 3n, d: 4n, e: 5n, f: 6n });
    // A frozen object set whole at the end (the http server span's status and route), alone, then
    // changed, after another attribute, and past the count limit.
    const end = { 'http.response.status_code': 200n, 'http.route': '/r/:id' };
    for (const i of [0, 1]) expect(spanNamed(spans, `set-${i}`).attributes).toEqual({ i: BigInt(i), ...end });
    expect(spanNamed(spans, 'set-then-changed').attributes).toEqual({ ...end, 'http.route': '/other', late: 1n });
    expect(result).toEqual({ endFrozen: true, endRoute: '/r/:id' });
    expect(spanNamed(spans, 'set-after-one').attributes).toEqual({ first: 1n, ...end });
    expect(spanNamed(spans, 'set-past-limit').attributes).toEqual({ a: 1n, b: 2n, c: 3n, d: 4n, 'http.response.status_code': 200n });
  });

  test('with the always_off sampler nothing is written to the spans or events rings', async () => {
    const file = await runAction('manual', { OTEL_TRACES_SAMPLER: 'always_off' });
    expect(file.spans.header.writerIndex).toBe(-1);
    expect(file.spans.messages).toEqual([]);
    expect(file.events.messages).toEqual([]);
  });
});

describe('errors never reach the app', () => {
  test('bad input to every API is dropped or cleaned, and a closed recorder is reported once per call site', async () => {
    const dir = tempDir();
    const r = await runNode(['--import', REGISTER_MJS, APP_CJS, 'abuse'], { OTLP_MMAP_DIR: dir, OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'none' });
    expect(r.code).toBe(0);
    expect(r.result).toEqual({ survived: true });
    // After close(), each failing call site says so once, however often it is called.
    const lines = r.stderr.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(/^otlp-mmap: .* failed \(reported once\): recorder is closed/);
    expect(new Set(lines).size).toBe(lines.length);

    const file = readOnlyFile(dir);
    const spans = assembleSpans(file);
    const abused = spanNamed(spans, 'undefined'); // updateName(undefined) names it "undefined"
    expect(abused.startName).toBe('abused-1');
    expect(abused.attributes).toEqual({ ok: 1n });
    expect(abused.links).toEqual([]);
    expect(abused.status).toBeUndefined();
    expect([...spans.values()].map((s) => s.startName)).toEqual(['abused-1']);

    const events = file.events.messages.map((m) => m.message);
    const spanEvents = events.filter((e) => e.spanContext !== undefined);
    expect(spanEvents.map((e) => e.eventName)).toEqual(['42', 'exception', 'exception']);
    expect(spanEvents.map((e) => attributesObject(e.attributes))).toEqual([
      {},
      { 'exception.message': 'null' },
      { 'exception.message': '[object Object]' },
    ]);
    const logRecords = events.filter((e) => e.spanContext === undefined);
    expect(logRecords).toHaveLength(2);
    expect(plainValue(logRecords[0].body)).toEqual({ fn: '() => 1', when: '1970-01-01T00:00:00.000Z', ok: 'kept' });
    expect(attributesObject(logRecords[0].attributes)).toEqual({ ok: 2n });
    expect(logRecords[1]).toMatchObject({ severityNumber: 0, severityText: '' });

    const measurements = file.measurements.messages.map((m) => ({
      name: file.resolveMetric(m.message.metricRef).name,
      value: m.message.value,
      attrs: attributesObject(m.message.attributes),
    }));
    expect(measurements).toEqual([
      { name: 'abuse.count', value: { asDouble: 1 }, attrs: { ok: 'yes' } },
      { name: 'abuse.hist', value: { asDouble: 3 }, attrs: {} },
    ]);
  });
});

describe('context propagation', () => {
  test('W3C trace context and baggage are injected and extracted; an extracted parent is remote', async () => {
    const { file, result } = await runActionWithResult('propagate');
    const r = result as Record<string, string>;
    expect(r.traceparent).toBe(`00-${r.traceId}-${r.spanId}-01`);
    expect(r.baggage).toBe('user=u1');
    expect(r.extractedBaggage).toBe('acme');
    const incoming = spanNamed(assembleSpans(file), 'incoming');
    expect(incoming.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(incoming.parentSpanId).toBe('00f067aa0ba902b7');
    expect(incoming.flags).toBe(0x301); // sampled, parent-is-remote known and true
    expect(spanNamed(assembleSpans(file), 'outgoing').flags).toBe(0x101);
    // A local child: its span context (made from the recorded id bytes when asked) names the
    // recorded span, carries the remote trace state on, and is what goes downstream.
    const child = spanNamed(assembleSpans(file), 'incoming-child');
    const c = result as { child: { traceId: string; spanId: string; traceState: string | null; injected: Record<string, string> } };
    expect(c.child.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect({ traceId: child.traceId, spanId: child.spanId, parent: child.parentSpanId }).toEqual({
      traceId: c.child.traceId,
      spanId: c.child.spanId,
      parent: incoming.spanId,
    });
    expect(c.child.traceState).toBe('vendor=abc,other=1');
    expect(c.child.injected).toEqual({ traceparent: `00-${c.child.traceId}-${c.child.spanId}-01`, tracestate: 'vendor=abc,other=1' });
  });

  test('OTEL_PROPAGATORS=none injects and extracts nothing', async () => {
    const { file, result } = await runActionWithResult('propagate', { OTEL_PROPAGATORS: 'none' });
    const r = result as Record<string, unknown>;
    expect(r.traceparent).toBeUndefined();
    expect(r.baggage).toBeUndefined();
    expect(r.extractedBaggage).toBeNull();
    expect(spanNamed(assembleSpans(file), 'incoming').parentSpanId).toBe('');
  });
});

describe('OTEL_*_EXPORTER=none', () => {
  test('traces off: nothing is written, but spans are sampled and their context still propagates', async () => {
    const { file, result } = await runActionWithResult('propagate', { OTEL_TRACES_EXPORTER: 'none' });
    const r = result as Record<string, string>;
    expect(r.traceparent).toBe(`00-${r.traceId}-${r.spanId}-01`);
    expect(r.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(r.traceId).not.toBe('0'.repeat(32));
    expect(file.spans.messages).toHaveLength(0);
  });

  test('metrics off: no measurement; logs off: no log record; the other signals are unaffected', async () => {
    const metricsOff = await runAction('metrics', { OTEL_METRICS_EXPORTER: 'none' });
    expect(metricsOff.measurements.messages).toHaveLength(0);
    const logsOff = await runAction('logs', { OTEL_LOGS_EXPORTER: 'none' });
    expect(logsOff.events.messages).toHaveLength(0);
    expect(spanNamed(assembleSpans(logsOff), 'logged').ended).toBe(true);
  });
});

describe('metrics', () => {
  test('observable callbacks run every OTEL_METRIC_EXPORT_INTERVAL on their own', async () => {
    const { file, result } = await runActionWithResult('interval', { OTEL_METRIC_EXPORT_INTERVAL: '50' });
    const calls = (result as { calls: number }).calls;
    const values = file.measurements.messages.map((m) => m.message.value);
    // One measurement per timer collection, plus the last one at exit.
    expect(values.slice(0, 3)).toEqual([{ asDouble: 1 }, { asDouble: 2 }, { asDouble: 3 }]);
    expect(values.length).toBeGreaterThanOrEqual(calls + 1);
  });

  test('instruments become metric streams with the right aggregation, value type and exemplar context', async () => {
    const file = await runAction('metrics', { OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'delta' });
    const ms = file.measurements.messages.map((m) => {
      const metric = file.resolveMetric(m.message.metricRef);
      return { ref: m.message.metricRef, metric, m: m.message, attrs: attributesObject(m.message.attributes) };
    });
    const byName = (n: string) => ms.filter((x) => x.metric.name.toLowerCase() === n);

    // Same identity (case-insensitive name, kind, unit, description, value type): one stream.
    const requests = byName('app.requests');
    expect(requests.map((x) => x.attrs.route)).toEqual(['/a', '/b', '/in-span']);
    expect(new Set(requests.map((x) => x.ref)).size).toBe(1);
    expect(requests[0].metric).toMatchObject({
      name: 'app.requests',
      description: 'requests',
      unit: '{request}',
      aggregation: { type: 'sum', temporality: 1, isMonotonic: true },
    });
    expect(file.resolveScope(requests[0].metric.scopeRef)).toMatchObject({ name: 'fixture-metrics', version: '2.0.0' });
    expect(requests.map((x) => x.m.value)).toEqual([{ asLong: 2n }, { asLong: 3n }, { asLong: 1n }]);
    // Only the measurement inside the sampled span carries a span context.
    expect(requests[0].m.spanContext).toBeUndefined();
    const measured = spanNamed(assembleSpans(file), 'measured');
    expect(requests[2].m.spanContext).toEqual({ traceId: measured.traceId, spanId: measured.spanId, flags: 1 });

    const inflight = byName('app.inflight');
    expect(inflight.map((x) => x.m.value)).toEqual([{ asDouble: -2.5 }]);
    expect(inflight[0].metric.aggregation).toEqual({ type: 'sum', temporality: 2, isMonotonic: false });

    expect(byName('app.latency')[0].metric.aggregation).toEqual({ type: 'histogram', temporality: 1, boundaries: [1, 10, 100] });
    expect(byName('app.latency')[0].m.value).toEqual({ asDouble: 12.5 });
    expect(byName('app.size')[0].metric.aggregation).toEqual({
      type: 'histogram',
      temporality: 1,
      boundaries: [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000],
    });
    expect(byName('app.temperature')[0].metric.aggregation).toEqual({ type: 'gauge' });
    expect(byName('app.temperature')[0].attrs).toEqual({ room: 'x' });

    // Two forced collections, then a last one at process exit.
    // Observable counters write the increase since the last collection (10, then 25 - 10, then none).
    const bytes = byName('app.bytes');
    expect(bytes.map((x) => x.m.value)).toEqual([{ asLong: 10n }, { asLong: 15n }]);
    expect(bytes[0].attrs).toEqual({ dir: 'in' });
    expect(bytes[0].metric.aggregation).toEqual({ type: 'sum', temporality: 1, isMonotonic: true });
    // Gauges write the observed value each time; the batch callback feeds its instrument.
    expect(byName('app.heap').map((x) => x.m.value)).toEqual([{ asDouble: 42.5 }, { asDouble: 42.5 }, { asDouble: 42.5 }]);
    expect(byName('app.queue').map((x) => x.m.value)).toEqual([{ asDouble: 5 }]);
  });

  test('the default histogram aggregation can be base-2 exponential', async () => {
    const file = await runAction('metrics', {
      OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION: 'base2_exponential_bucket_histogram',
    });
    const m = file.measurements.messages.find((x) => file.resolveMetric(x.message.metricRef).name === 'app.size');
    expect(file.resolveMetric(m!.message.metricRef).aggregation).toEqual({
      type: 'exponentialHistogram',
      temporality: 2,
      maxBuckets: 160n,
      maxScale: 20n,
    });
  });
});

describe('logs', () => {
  test('log records land in the events ring with severity, body, attributes, event name and trace context', async () => {
    const file = await runAction('logs');
    const logged = spanNamed(assembleSpans(file), 'logged');
    const records = file.events.messages.map((m) => m.message);
    expect(records).toHaveLength(3);
    for (const r of records) expect(file.resolveScope(r.scopeRef)).toMatchObject({ name: 'fixture-logs', version: '3.0.0' });

    expect(records[0]).toMatchObject({ severityNumber: 13, severityText: 'WARN', eventName: '', spanContext: undefined });
    expect(plainValue(records[0].body)).toBe('disk almost full');
    expect(attributesObject(records[0].attributes)).toEqual({ 'disk.free': 12n });

    expect(records[1]).toMatchObject({ severityNumber: 9, eventName: 'app.event' });
    expect(plainValue(records[1].body)).toEqual({ msg: 'structured', n: 1n });
    expect(records[1].spanContext).toEqual({ traceId: logged.traceId, spanId: logged.spanId, flags: 1 });

    expect(records[2].severityNumber).toBe(17);
    const ex = attributesObject(records[2].attributes);
    expect(ex['exception.type']).toBe('RangeError');
    expect(ex['exception.message']).toBe('out of range');
    expect(records[2].timeUnixNano).toBeGreaterThan(records[0].timeUnixNano);
  });
});
