/**
 * End to end through the real native collector: a writer (the recorder in this
 * process, or a child process) → the mmap file → the collector → the real OTLP
 * receiver. Exact span trees, metric points and log records; the writer killed
 * with SIGKILL; a backend outage; a collector restart.
 *
 * Skipped (with a message) only when the native addon has no `openCollector`.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Collector, resolveConfig, type CollectorFlags } from '../collector';
import { silentLogger } from '../collector/log';
import { flattenLogs, flattenSpans, OtlpReceiver, type FlatSpan } from './support/otlp-receiver';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const native = require('..') as typeof import('..');
const hasCollector = typeof (native as { openCollector?: unknown }).openCollector === 'function';
if (!hasCollector) {
  // eslint-disable-next-line no-console
  console.warn('collector-e2e: the native addon has no openCollector(); end-to-end tests skipped');
}
const describeNative = hasCollector ? describe : describe.skip;

const ROOT = path.join(__dirname, '..');
const T0 = 1_700_000_000_000_000_000n;
const TRACE = '0af7651916cd43dd8448eb211c80319c';
const ROOT_SPAN = 'b7ad6b7169203331';
const CHILD_SPAN = '00f067aa0ba902b7';

const fast: CollectorFlags = {
  pollInterval: '10ms',
  scanInterval: '20ms',
  batchDelay: '0',
  retryInitialDelay: '20ms',
  retryMaxDelay: '200ms',
  summaryInterval: '0',
  metricInterval: '1h',
  selfMetrics: false,
  shutdownTimeout: '10s',
};

let tmp: string;
let receiver: OtlpReceiver;
const collectors: Collector[] = [];

async function startCollector(flags: CollectorFlags = {}): Promise<Collector> {
  const c = new Collector(resolveConfig({ dir: tmp, endpoint: receiver.httpUrl, ...fast, ...flags }, {}), { logger: silentLogger });
  collectors.push(c);
  await c.start();
  return c;
}

beforeEach(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'collector-e2e-'));
  receiver = await OtlpReceiver.start({ http: true });
});

afterEach(async () => {
  for (const c of collectors.splice(0)) await c.stop();
  await receiver.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const byName = (spans: FlatSpan[]): Record<string, FlatSpan> => Object.fromEntries(spans.map((s) => [s.name, s]));

describeNative('collector end to end (native)', () => {
  test('--max-batch-size bounds the requests that merge several polls, for spans and log records alike', async () => {
    const file = path.join(tmp, 'batches-1.otlp-mmap');
    const rec = native.openRecorder(file);
    const scope = rec.createInstrumentationScope(rec.createResource({ 'service.name': 'batches' }), 'batches');
    // Held for an hour: only the size bound (or flush) sends a merged request.
    const c = await startCollector({ batchDelay: '1h', maxBatchSize: '8' });
    let n = 0;
    for (let round = 0; round < 10; round++) {
      // Three spans and three log records per poll: each poll's own batches hold three.
      for (let k = 0; k < 3; k++, n++) {
        const id = (n + 1).toString(16).padStart(16, '0');
        rec.recordSpanStart(scope, TRACE, id, null, 1, `s${n}`, 1, T0 + BigInt(n), {});
        rec.recordSpanEnd(scope, TRACE, id, T0 + BigInt(n) + 1n, { code: 0 });
        rec.recordEvent(scope, null, rec.recordString('log'), T0 + BigInt(n), { n }, { severityNumber: 9, body: `l${n}` });
      }
      await receiver.waitFor(`poll ${round}`, () => (c.stats().read.spans >= 2 * n && c.stats().read.events >= n ? true : undefined));
    }
    await c.flush();
    rec.close();
    const perRequest = (signal: 'traces' | 'logs', count: (r: (typeof receiver.requests)[number]) => number): number[] =>
      receiver.requests.filter((r) => r.signal === signal).map(count);
    const spans = perRequest('traces', (r) => flattenSpans(r.decoded).length);
    const logs = perRequest('logs', (r) => flattenLogs(r.decoded).length);
    expect(spans.reduce((a, b) => a + b, 0)).toBe(30);
    expect(logs.reduce((a, b) => a + b, 0)).toBe(30);
    // Merged up to the bound, never past it: 30 in at least four requests of at most 8.
    expect(Math.max(...spans)).toBeLessThanOrEqual(8);
    expect(Math.max(...logs)).toBeLessThanOrEqual(8);
    expect(spans.length).toBeGreaterThanOrEqual(4);
    expect(spans.length).toBeLessThan(10); // and polls were merged
    expect(logs.length).toBeLessThan(10);
  });

  test('poll() reports what is left in each ring (the collector polls again at once while any is)', () => {
    const file = path.join(tmp, 'backlog-1.otlp-mmap');
    const rec = native.openRecorder(file);
    const resource = rec.createResource({ 'service.name': 'backlog' });
    const scope = rec.createInstrumentationScope(resource, 'backlog-scope', '1.0.0');
    for (let i = 1; i <= 50; i++) {
      const id = i.toString(16).padStart(16, '0');
      rec.recordSpanStart(scope, TRACE, id, null, 1, `span ${i}`, 1, T0, { 'http.route': '/r' });
      rec.recordSpanEnd(scope, TRACE, id, T0 + 1n, null);
    }
    for (let i = 0; i < 7; i++) rec.recordEvent(scope, null, rec.recordString('app.log'), T0, { i });
    const m = rec.createMetricStream(scope, 'c', '', '1', { type: 'sum', temporality: 'cumulative', isMonotonic: true });
    for (let i = 0; i < 12; i++) rec.recordMeasurement(m, { k: 'v' }, T0, 1);
    const c = native.openCollector(file, { maxMessagesPerPoll: 30 });
    try {
      const seen: Array<[number, number, number, number]> = [];
      for (let i = 0; i < 6; i++) {
        const r = c.poll();
        const used = c.status().rings;
        // What poll() says is left is what the file's indexes say.
        expect(r.backlog).toEqual({ events: used.events.used, spans: used.spans.used, measurements: used.measurements.used });
        seen.push([r.read.spans, r.backlog.spans, r.backlog.events, r.backlog.measurements]);
      }
      // 100 span messages read 30 per poll; 7 events and 12 measurements in the first poll.
      expect(seen).toEqual([
        [30, 70, 0, 0],
        [30, 40, 0, 0],
        [30, 10, 0, 0],
        [10, 0, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 0, 0],
      ]);
      // A record written after a poll shows in the next poll's count, not before.
      rec.recordMeasurement(m, { k: 'v' }, T0, 1);
      expect(c.poll().read.measurements).toBe(1);
      expect(c.poll().backlog).toEqual({ events: 0, spans: 0, measurements: 0 });
    } finally {
      c.close();
      rec.close();
    }
  });

  test('exports the exact span tree, span event, log record and metric points a writer recorded, then the open span as incomplete when the writer closes', async () => {
    const file = path.join(tmp, 'shop-1.otlp-mmap');
    const rec = native.openRecorder(file);
    const resource = rec.createResource({ 'service.name': 'shop', 'deployment.environment.name': 'test' });
    const scope = rec.createInstrumentationScope(resource, 'e2e-scope', '1.2.3');
    rec.recordSpanStart(scope, TRACE, ROOT_SPAN, null, 1, 'GET /orders', 2, T0, { 'http.request.method': 'GET', 'url.path': '/orders' });
    rec.recordSpanStart(scope, TRACE, CHILD_SPAN, ROOT_SPAN, 1, 'SELECT orders', 3, T0 + 1_000_000n, { 'db.system.name': 'postgresql' });
    rec.recordSpanEnd(scope, TRACE, CHILD_SPAN, T0 + 4_000_000n, { code: 0 });
    rec.recordEvent(scope, { traceId: TRACE, spanId: ROOT_SPAN, traceFlags: 1 }, rec.recordString('cache.miss'), T0 + 5_000_000n, { 'cache.key': 'orders:42' });
    rec.recordSpanAttributes(scope, TRACE, ROOT_SPAN, { 'http.response.status_code': 500 });
    rec.recordSpanEnd(scope, TRACE, ROOT_SPAN, T0 + 9_000_000n, { code: 2, message: 'db timeout' });
    rec.recordEvent(scope, null, rec.recordString('app.log'), T0 + 10_000_000n, { 'log.kind': 'audit' }, { severityNumber: 13, severityText: 'WARN', body: 'slow order' });
    const counter = rec.createMetricStream(scope, 'orders.created', 'Orders created', '{order}', { type: 'sum', temporality: 'cumulative', isMonotonic: true }, { valueType: 'int' });
    for (const v of [1, 2, 3]) rec.recordMeasurement(counter, { region: 'eu' }, T0 + 11_000_000n, v);
    const hist = rec.createMetricStream(scope, 'order.duration', 'Order latency', 'ms', { type: 'histogram', temporality: 'cumulative', boundaries: [10, 100] });
    for (const v of [5, 50, 500]) rec.recordMeasurement(hist, { region: 'eu' }, T0 + 12_000_000n, v);
    rec.recordSpanStart(scope, TRACE, 'c0ffee00c0ffee00', ROOT_SPAN, 1, 'still running', 1, T0 + 13_000_000n, { step: 'pay' });

    const c = await startCollector();
    const spans = byName(await receiver.waitForSpans(2));
    expect(Object.keys(spans).sort()).toEqual(['GET /orders', 'SELECT orders']);
    expect(spans['GET /orders']).toMatchObject({
      traceId: TRACE,
      spanId: ROOT_SPAN,
      parentSpanId: '',
      kind: 2,
      startTimeUnixNano: T0,
      endTimeUnixNano: T0 + 9_000_000n,
      attributes: { 'http.request.method': 'GET', 'url.path': '/orders', 'http.response.status_code': 500 },
      status: { code: 2, message: 'db timeout' },
      events: [{ name: 'cache.miss', timeUnixNano: T0 + 5_000_000n, attributes: { 'cache.key': 'orders:42' } }],
      resource: { 'service.name': 'shop', 'deployment.environment.name': 'test' },
      scope: { name: 'e2e-scope', version: '1.2.3' },
    });
    expect(spans['SELECT orders']).toMatchObject({ parentSpanId: ROOT_SPAN, kind: 3, startTimeUnixNano: T0 + 1_000_000n, endTimeUnixNano: T0 + 4_000_000n, attributes: { 'db.system.name': 'postgresql' } });

    const [log] = await receiver.waitForLogs(1);
    expect(log).toMatchObject({ eventName: 'app.log', severityNumber: 13, severityText: 'WARN', body: 'slow order', attributes: { 'log.kind': 'audit' }, timeUnixNano: T0 + 10_000_000n, traceId: '' });
    expect(log.observedTimeUnixNano).toBeGreaterThan(0n);

    c.exportMetrics();
    await c.flush();
    const sum = await receiver.waitForMetric('orders.created');
    expect(sum).toMatchObject({ type: 'sum', unit: '{order}', description: 'Orders created' });
    expect(sum.data).toMatchObject({ aggregationTemporality: 2, isMonotonic: true });
    const [sumPoint] = sum.data.dataPoints as Array<Record<string, unknown>>;
    expect(sumPoint.asInt).toBe('6');
    expect(BigInt(sumPoint.startTimeUnixNano as string)).toBeGreaterThan(0n);
    expect(BigInt(sumPoint.timeUnixNano as string)).toBeGreaterThan(0n);
    const histogram = await receiver.waitForMetric('order.duration');
    const [hp] = histogram.data.dataPoints as Array<Record<string, unknown>>;
    expect(hp).toMatchObject({ count: '3', sum: 555, min: 5, max: 500, bucketCounts: ['1', '1', '1'], explicitBounds: [10, 100] });

    // The writer goes away: the open span is exported as incomplete, then the file is removed.
    rec.close();
    const incomplete = await receiver.waitFor('the incomplete span', () => receiver.spans().find((s) => s.name === 'still running'));
    expect(incomplete.attributes).toMatchObject({ step: 'pay', 'otlp_mmap.span.incomplete': true });
    expect(incomplete.parentSpanId).toBe(ROOT_SPAN);
    expect(incomplete.endTimeUnixNano).toBeGreaterThan(incomplete.startTimeUnixNano);
    await receiver.waitFor('the file to be removed', () => !fs.existsSync(file));
    expect(receiver.spans()).toHaveLength(3);
  });

  test('crash: a writer killed with SIGKILL under load; every ended span is exported, and every open one as incomplete', async () => {
    const file = path.join(tmp, 'crasher.otlp-mmap');
    // The child starts span i+1 before it ends span i, so at any moment one or two spans are open.
    const script = `
      const { openRecorder } = require(${JSON.stringify(ROOT)});
      const rec = openRecorder(${JSON.stringify(file)}, { spans: { slots: 16384, slotSize: 256 } });
      const scope = rec.createInstrumentationScope(rec.createResource({ 'service.name': 'crasher' }), 'crash', '1');
      const trace = '11'.repeat(16);
      const id = (i) => i.toString(16).padStart(16, '0');
      let i = 1;
      rec.recordSpanStart(scope, trace, id(i), null, 1, 'work', 1, undefined, { i });
      process.stdout.write('ready\\n');
      function burst() {
        for (let k = 0; k < 20; k++) {
          rec.recordSpanStart(scope, trace, id(i + 1), null, 1, 'work', 1, undefined, { i: i + 1 });
          rec.recordSpanEnd(scope, trace, id(i), undefined);
          i++;
        }
        setTimeout(burst, 1);
      }
      burst();
    `;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const c = await startCollector({ batchDelay: '50ms' });
    await receiver.waitForSpans(3000);
    const killed = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    child.kill('SIGKILL');
    await killed;
    // The collector notices the dead writer and finishes the file.
    await receiver.waitFor('the file to be finished and removed', () => !fs.existsSync(file), 60_000);
    await c.flush();
    const spans = receiver.spans();
    const ids = spans.map((s) => parseInt(s.spanId, 16));
    const incomplete = spans.filter((s) => s.attributes['otlp_mmap.span.incomplete'] === true);
    const max = Math.max(...ids);
    const status = c.stats().files.find((f) => f.path === file);
    const droppedSpans = status?.dropped.spans ?? 0;
    // eslint-disable-next-line no-console
    console.log(`crash test: ${spans.length} spans exported (${spans.length - incomplete.length} complete, ${incomplete.length} incomplete), highest id ${max}, ${droppedSpans} span messages dropped by the writer`);
    expect(droppedSpans).toBe(0);
    expect(new Set(ids).size).toBe(ids.length); // no duplicates
    expect(ids.sort((a, b) => a - b)).toEqual(Array.from({ length: max }, (_, k) => k + 1)); // no gaps: every started span arrived
    expect(incomplete.length).toBeGreaterThanOrEqual(1);
    expect(incomplete.length).toBeLessThanOrEqual(2);
    for (const s of incomplete) expect(parseInt(s.spanId, 16)).toBeGreaterThanOrEqual(max - 1);
  });

  test('crash with the agent: an app under --import otlp-mmap/register is SIGKILLed; every span it ended is exported, open ones as incomplete', async () => {
    const appFile = path.join(tmp, 'crash-app.cjs');
    // Each burst ends the span left open by the previous one, starts and ends 20 more, then
    // opens a new one; the ids of ended spans are written synchronously after they ended.
    fs.writeFileSync(
      appFile,
      `
      const fs = require('node:fs');
      const { trace } = require(${JSON.stringify(require.resolve('@opentelemetry/api'))});
      const tracer = trace.getTracer('crash-app', '1.0.0');
      let open = null;
      let n = 0;
      function burst() {
        const ended = [];
        if (open) { open.end(); ended.push(open.spanContext().spanId); }
        for (let k = 0; k < 20; k++) {
          const s = tracer.startSpan('work', { attributes: { n: n++ } });
          s.end();
          ended.push(s.spanContext().spanId);
        }
        open = tracer.startSpan('in-flight', { attributes: { n: n++ } });
        fs.writeSync(1, ended.join('\\n') + '\\n');
        setTimeout(burst, 1);
      }
      burst();
      `,
    );
    const dir = path.join(tmp, 'agent-files');
    // The real deployment: the collector is its own process (started first), the app another.
    const collector = spawn(
      process.execPath,
      [path.join(ROOT, 'collector', 'bin.js'), 'collect', '--dir', dir, '--endpoint', receiver.httpUrl, '--poll-interval', '10ms', '--scan-interval', '20ms', '--batch-delay', '50ms', '--summary-interval', '0', '--no-self-metrics'],
      { env: { PATH: process.env.PATH }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    collector.stderr.on('data', (c: Buffer) => (log += c.toString()));
    await new Promise<void>((resolve) => {
      const check = (): void => (log.includes('collecting from') ? resolve() : void setTimeout(check, 20));
      check();
    });
    const child = spawn(process.execPath, ['--import', path.join(ROOT, 'register.mjs'), appFile], {
      // This test is about what survives a crash, not about ring sizing: a larger span
      // ring keeps a collector starved of CPU by a busy test machine from turning into
      // ring-full drops (those are counted and asserted zero below).
      env: { PATH: process.env.PATH, OTLP_MMAP_DIR: dir, OTEL_SERVICE_NAME: 'crash-app', OTLP_MMAP_SPAN_SLOTS: '65536' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await receiver.waitForSpans(2000);
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
      await receiver.waitFor('the dead app file to be finished and removed', () => /removed .*crash_app-\d+-[0-9a-f]{8}\.otlp-mmap/.test(log), 60_000);
    } finally {
      child.kill('SIGKILL');
      const stopped = new Promise<void>((resolve) => collector.on('exit', () => resolve()));
      collector.kill('SIGTERM');
      await stopped;
    }

    const endedByApp = new Set(out.split('\n').filter((l) => /^[0-9a-f]{16}$/.test(l)));
    const spans = receiver.spans();
    const complete = new Map(spans.filter((s) => s.attributes['otlp_mmap.span.incomplete'] !== true).map((s) => [s.spanId, s]));
    const incomplete = spans.filter((s) => s.attributes['otlp_mmap.span.incomplete'] === true);
    const missing = [...endedByApp].filter((id) => !complete.has(id));
    const drops = /file drops events=(\d+) spans=(\d+) measurements=(\d+)/.exec(log);
    // eslint-disable-next-line no-console
    console.log(`agent crash test: the app reported ${endedByApp.size} ended spans; ${complete.size} exported complete, ${incomplete.length} incomplete, ${missing.length} missing; ${drops?.[0]}`);
    expect(drops?.[2]).toBe('0');
    expect(missing).toEqual([]);
    expect(new Set(spans.map((s) => s.spanId)).size).toBe(spans.length);
    // At most one span is open at any instant: the burst's 'in-flight' one between bursts, or,
    // when the SIGKILL lands inside a burst, the 'work' span between its start and its end.
    for (const s of incomplete) {
      expect(endedByApp.has(s.spanId)).toBe(false);
      expect(['in-flight', 'work']).toContain(s.name);
      expect(s.resource['service.name']).toBe('crash-app');
    }
    expect(incomplete.length).toBeLessThanOrEqual(1);
  });

  test('backend outage: the receiver answers 503 for a while; nothing is lost within the queue bound', async () => {
    receiver.fail({ status: 503 });
    const file = path.join(tmp, 'outage.otlp-mmap');
    const rec = native.openRecorder(file);
    const scope = rec.createInstrumentationScope(rec.createResource({ 'service.name': 'outage' }), 'outage', '1');
    const c = await startCollector({ batchDelay: '20ms' });
    const trace = '22'.repeat(16);
    const id = (i: number): string => i.toString(16).padStart(16, '0');
    for (let i = 1; i <= 3000; i++) {
      rec.recordSpanStart(scope, trace, id(i), null, 1, 'during-outage', 1, undefined, { i });
      rec.recordSpanEnd(scope, trace, id(i), undefined);
      if (i % 500 === 0) await new Promise((r) => setTimeout(r, 20)); // let the collector drain the ring
    }
    await receiver.waitForAttempts(5);
    await receiver.waitFor('every message to be read from the file', () => c.stats().read.spans === 6000);
    expect(receiver.spans()).toHaveLength(0);
    receiver.recover();
    const spans = await receiver.waitForSpans(3000);
    await c.flush();
    expect(new Set(spans.map((s) => s.spanId)).size).toBe(3000);
    expect(c.stats().queue.droppedBatches).toBe(0);
    expect(c.stats().files[0].dropped.spans).toBe(0);
    rec.close();
  });

  test('a collector restart resumes from the reader_index in the file: nothing is exported twice', async () => {
    const file = path.join(tmp, 'restart.otlp-mmap');
    const rec = native.openRecorder(file);
    const scope = rec.createInstrumentationScope(rec.createResource({ 'service.name': 'restart' }), 'restart', '1');
    const trace = '33'.repeat(16);
    const write = (from: number, to: number): void => {
      for (let i = from; i <= to; i++) {
        const sid = i.toString(16).padStart(16, '0');
        rec.recordSpanStart(scope, trace, sid, null, 1, `span-${i}`, 1, undefined, undefined);
        rec.recordSpanEnd(scope, trace, sid, undefined);
      }
    };
    write(1, 100);
    const first = await startCollector();
    await receiver.waitForSpans(100);
    await first.stop();
    expect(fs.existsSync(file)).toBe(true); // the writer is alive: the file stays
    write(101, 150);
    await startCollector();
    await receiver.waitForSpans(150);
    const names = receiver.spans().map((s) => s.name);
    expect(new Set(names).size).toBe(150);
    expect(names).toHaveLength(150);
    rec.close();
  });

  test('a corrupt file next to a good one: the good one is exported, the corrupt one reported', async () => {
    fs.writeFileSync(path.join(tmp, 'garbage.otlp-mmap'), Buffer.alloc(4096, 0xab));
    const rec = native.openRecorder(path.join(tmp, 'good.otlp-mmap'));
    const scope = rec.createInstrumentationScope(rec.createResource({ 'service.name': 'good' }), 'good', '1');
    rec.recordSpanStart(scope, TRACE, ROOT_SPAN, null, 1, 'fine', 1, T0, undefined);
    rec.recordSpanEnd(scope, TRACE, ROOT_SPAN, T0 + 1n, undefined);
    const c = await startCollector();
    const [span] = await receiver.waitForSpans(1);
    expect(span.name).toBe('fine');
    expect(c.stats().fileErrors).toBe(1);
    rec.close();
  });
});
