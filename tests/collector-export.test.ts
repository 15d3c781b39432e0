/**
 * The collector's export side against the real test receiver (HTTP and gRPC):
 * retries, Retry-After, gzip, the bounded drop-oldest queue, partial success,
 * headers, and file following (new, replaced, dead, corrupt files).
 *
 * The native file reader is replaced by a small stand-in (`fakeOpenCollector`)
 * that reads a JSON description from real files in a temp directory and
 * produces real OTLP bytes: these tests are about the JavaScript collector.
 * The chain with the real native collector is in collector-e2e.test.ts.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { Collector, ConsoleExporter, OtlpGrpcExporter, OtlpHttpExporter, resolveConfig, type CollectorFlags, type FileCollector, type OpenCollector } from '../collector';
import type { Logger } from '../collector/log';
import { ExportQueue } from '../collector/queue';
import { decodeRequest, exportTypes, flattenSpans, OtlpReceiver, type Signal } from './support/otlp-receiver';

// ---------------------------------------------------------------- helpers

const id = (s: string, n: number): Buffer => crypto.createHash('sha256').update(s).digest().subarray(0, n);
const TRACE = id('trace', 16);

/** Encodes an ExportTraceServiceRequest with one span per name (server spans of one trace). */
function traceBatch(names: string[]): Buffer {
  const { request } = exportTypes('traces');
  return Buffer.from(
    request
      .encode(
        request.fromObject({
          resourceSpans: [
            {
              resource: { attributes: [{ key: 'service.name', value: { stringValue: 'fake-app' } }] },
              scopeSpans: [
                {
                  scope: { name: 'fake-scope', version: '1.0.0' },
                  spans: names.map((name) => ({
                    traceId: TRACE,
                    spanId: id(name, 8),
                    name,
                    kind: 2,
                    startTimeUnixNano: '1700000000000000000',
                    endTimeUnixNano: '1700000000002500000',
                    attributes: [{ key: 'span.name.again', value: { stringValue: name } }],
                  })),
                },
              ],
            },
          ],
        }),
      )
      .finish(),
  );
}

function logBatch(bodies: string[]): Buffer {
  const { request } = exportTypes('logs');
  return Buffer.from(
    request
      .encode(
        request.fromObject({
          resourceLogs: [{ resource: { attributes: [] }, scopeLogs: [{ scope: { name: 'fake-scope' }, logRecords: bodies.map((b) => ({ timeUnixNano: '1700000000000000000', severityNumber: 9, severityText: 'INFO', body: { stringValue: b } })) }] }],
        }),
      )
      .finish(),
  );
}

/** What a fake file holds (JSON): batches of span names, log bodies, whether it has metrics. */
interface FakeSpec {
  batches?: string[][];
  logs?: string[];
  dropped?: { events: number; spans: number; measurements: number };
}

/** The hidden marker that says "the writer of this file (this inode) is alive" (the scan ignores hidden names). */
const aliveMarker = (p: string, ino: number = fs.statSync(p).ino): string => path.join(path.dirname(p), `.${path.basename(p)}.${ino}.alive`);

/**
 * A stand-in for the native openCollector over JSON files. Opening a file that is not
 * valid JSON throws (like a corrupt otlp-mmap file). The first poll returns the
 * file's batches; `finish()` returns one span named `<basename>:incomplete`.
 */
function fakeOpenCollector(opened: string[] = []): OpenCollector {
  return (p: string): FileCollector => {
    const spec = JSON.parse(fs.readFileSync(p, 'utf8')) as FakeSpec;
    const marker = aliveMarker(p);
    opened.push(p);
    let polled = false;
    const dropped = spec.dropped ?? { events: 0, spans: 0, measurements: 0 };
    return {
      poll() {
        if (polled) return { traces: [], logs: [], traceItems: [], logItems: [], read: { events: 0, spans: 0, measurements: 0 }, backlog: { events: 0, spans: 0, measurements: 0 }, errors: [] };
        polled = true;
        const batches = spec.batches ?? [];
        return {
          traces: batches.map(traceBatch),
          logs: spec.logs ? [logBatch(spec.logs)] : [],
          traceItems: batches.map((b) => b.length),
          logItems: spec.logs ? [spec.logs.length] : [],
          read: { events: spec.logs?.length ?? 0, spans: batches.flat().length * 2, measurements: 0 },
          backlog: { events: 0, spans: 0, measurements: 0 },
          errors: [],
        };
      },
      collectMetrics: () => null,
      writerAlive: () => fs.existsSync(marker),
      finish: () => ({
        traces: [traceBatch([`${path.basename(p)}:incomplete`])],
        logs: [],
        traceItems: [1],
        logItems: [],
        read: { events: 0, spans: 0, measurements: 0 },
        backlog: { events: 0, spans: 0, measurements: 0 },
        errors: [],
        metrics: null,
      }),
      status: () => ({
        startTimeUnixNano: 1n,
        dropped,
        rings: { events: { slots: 8, slotSize: 64, used: 0 }, spans: { slots: 8, slotSize: 64, used: 0 }, measurements: { slots: 8, slotSize: 64, used: 0 } },
        dictionaryBytes: 64,
        openSpans: 0,
      }),
      close() {},
    };
  };
}

function writeFake(dir: string, name: string, spec: FakeSpec, alive = true): string {
  const p = path.join(dir, name);
  // Like the recorder: write under a temporary name (marked alive first), then rename into place.
  const tmp = path.join(dir, `.${name}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify(spec));
  if (alive) fs.writeFileSync(aliveMarker(p, fs.statSync(tmp).ino), '');
  fs.renameSync(tmp, p);
  return p;
}

function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const add = (l: string) => (m: string) => void lines.push(`${l}: ${m}`);
  return { lines, error: add('error'), warn: add('warn'), info: add('info'), debug: add('debug'), limited: (l, _k, _i, m) => (lines.push(`${l}: ${m}`), true) };
}

const fast: CollectorFlags = {
  pollInterval: '10ms',
  scanInterval: '20ms',
  batchDelay: '0',
  retryInitialDelay: '20ms',
  retryMaxDelay: '100ms',
  summaryInterval: '0',
  metricInterval: '1h',
  selfMetrics: false,
  shutdownTimeout: '5s',
};

let tmp: string;
let receiver: OtlpReceiver;
const running: Collector[] = [];

async function startWith(flags: CollectorFlags, env: NodeJS.ProcessEnv = {}, opened: string[] = [], logger = memoryLogger()): Promise<Collector> {
  const c = new Collector(resolveConfig({ dir: tmp, endpoint: receiver.httpUrl, ...fast, ...flags }, env), { openCollector: fakeOpenCollector(opened), logger });
  running.push(c);
  await c.start();
  return c;
}

beforeEach(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'collector-export-'));
  receiver = await OtlpReceiver.start({ http: true, grpc: true });
});

afterEach(async () => {
  for (const c of running.splice(0)) await c.stop();
  await receiver.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const names = (spans: Array<{ name: string }>): string[] => spans.map((s) => s.name).sort();

// ---------------------------------------------------------------- the receiver itself

test('the test receiver decodes what the OpenTelemetry JS SDK serializes, sent by the OTLP/HTTP exporter', async () => {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  const tracer = provider.getTracer('sdk-scope', '2.0.0');
  const parent = tracer.startSpan('parent', { attributes: { 'http.request.method': 'GET', 'retry.count': 3, ok: true } });
  parent.end();
  const bytes = ProtobufTraceSerializer.serializeRequest(memory.getFinishedSpans());
  const exporter = new OtlpHttpExporter(resolveConfig({ endpoint: receiver.httpUrl }, {}).otlp);
  const result = await exporter.export('traces', Buffer.from(bytes as Uint8Array));
  await exporter.shutdown();
  expect(result).toEqual({ kind: 'success' });
  const [span] = receiver.spans();
  expect(span.name).toBe('parent');
  expect(span.attributes).toEqual({ 'http.request.method': 'GET', 'retry.count': 3, ok: true });
  expect(span.scope).toEqual({ name: 'sdk-scope', version: '2.0.0' });
  expect(span.spanId).toBe(parent.spanContext().spanId);
  expect(span.traceId).toBe(parent.spanContext().traceId);
});

// ---------------------------------------------------------------- following files

test('exports every span of every file in the directory, including files that appear later', async () => {
  writeFake(tmp, 'a.otlp-mmap', { batches: [['a1', 'a2']] });
  writeFake(tmp, 'b.otlp-mmap', { batches: [['b1'], ['b2']] });
  const c = await startWith({});
  await receiver.waitForSpans(4);
  writeFake(tmp, 'c.otlp-mmap', { batches: [['c1']], logs: ['hello from c'] });
  await receiver.waitForSpans(5);
  const [log] = await receiver.waitForLogs(1);
  expect(names(receiver.spans())).toEqual(['a1', 'a2', 'b1', 'b2', 'c1']);
  expect(log).toMatchObject({ body: 'hello from c', severityNumber: 9, severityText: 'INFO' });
  expect(receiver.spans()[0].resource).toEqual({ 'service.name': 'fake-app' });
  const stats = c.stats();
  expect(stats.files.map((f) => path.basename(f.path)).sort()).toEqual(['a.otlp-mmap', 'b.otlp-mmap', 'c.otlp-mmap']);
  expect(stats.read.spans).toBe(10);
});

test('finishes a file whose writer exited: exports what is left, then removes the file', async () => {
  const p = writeFake(tmp, 'dying.otlp-mmap', { batches: [['d1']] });
  await startWith({});
  await receiver.waitForSpans(1);
  expect(fs.existsSync(p)).toBe(true);
  fs.unlinkSync(aliveMarker(p)); // the writer dies
  await receiver.waitForSpans(2);
  expect(names(receiver.spans())).toEqual(['d1', 'dying.otlp-mmap:incomplete']);
  await receiver.waitFor('the file to be removed', () => !fs.existsSync(p));
});

test('--keep-files leaves the file of a dead writer in place', async () => {
  const p = writeFake(tmp, 'kept.otlp-mmap', { batches: [['k1']] }, false);
  const c = await startWith({ keepFiles: true });
  await receiver.waitForSpans(2);
  await c.flush();
  expect(c.stats().filesFinished).toBe(1);
  expect(fs.existsSync(p)).toBe(true);
});

test('a path replaced by a new file (new inode): the old one is finished first, then the new one is followed', async () => {
  const p = writeFake(tmp, 'app.otlp-mmap', { batches: [['old1']] });
  const opened: string[] = [];
  await startWith({}, {}, opened);
  await receiver.waitForSpans(1);
  // The old writer exits and a new process renames its new file over the path.
  fs.unlinkSync(aliveMarker(p));
  writeFake(tmp, 'app.otlp-mmap', { batches: [['new1']] });
  await receiver.waitForSpans(3);
  const order = receiver.spans().map((s) => s.name);
  expect(order).toEqual(['old1', 'app.otlp-mmap:incomplete', 'new1']);
  expect(opened).toEqual([p, p]);
  // The new file belongs to a living writer: it stays.
  expect(fs.existsSync(p)).toBe(true);
});

test('a corrupt file is reported and skipped; the other files are still exported; other names are ignored', async () => {
  fs.writeFileSync(path.join(tmp, 'corrupt.otlp-mmap'), 'not an otlp-mmap file');
  fs.writeFileSync(path.join(tmp, 'README.txt'), 'not followed: wrong suffix');
  writeFake(tmp, 'good.otlp-mmap', { batches: [['g1']] });
  const logger = memoryLogger();
  const c = await startWith({}, {}, [], logger);
  await receiver.waitForSpans(1);
  expect(names(receiver.spans())).toEqual(['g1']);
  expect(c.stats().fileErrors).toBe(1);
  expect(logger.lines.some((l) => l.startsWith('error: cannot read') && l.includes('corrupt.otlp-mmap'))).toBe(true);
});

test('--file follows one path that appears after the collector started', async () => {
  const p = path.join(tmp, 'single.otlp-mmap');
  await startWith({ dir: undefined, file: p });
  writeFake(tmp, 'other.otlp-mmap', { batches: [['not-followed']] });
  writeFake(tmp, 'single.otlp-mmap', { batches: [['s1']] });
  await receiver.waitForSpans(1);
  expect(names(receiver.spans())).toEqual(['s1']);
});

// ---------------------------------------------------------------- transport

test('retries while the receiver answers 503 and delivers everything, once, when it recovers', async () => {
  receiver.fail({ status: 503 });
  writeFake(tmp, 'a.otlp-mmap', { batches: [['r1', 'r2'], ['r3'], ['r4']] });
  const c = await startWith({});
  await receiver.waitForAttempts(4);
  expect(receiver.requests).toHaveLength(0);
  receiver.recover();
  await receiver.waitForSpans(4);
  await c.flush();
  expect(names(receiver.spans())).toEqual(['r1', 'r2', 'r3', 'r4']);
  const stats = c.stats();
  expect(stats.export.traces.retries).toBeGreaterThanOrEqual(4);
  expect(stats.export.traces.exportedBatches).toBe(3);
  expect(stats.export.traces.failedBatches).toBe(0);
  expect(stats.queue.droppedBatches).toBe(0);
});

test('honours Retry-After: with a one-hour backoff configured, a 429 with Retry-After: 1 is retried after a second', async () => {
  receiver.fail({ status: 429, retryAfterSeconds: 1, times: 1 });
  writeFake(tmp, 'a.otlp-mmap', { batches: [['after-retry']] });
  await startWith({ retryInitialDelay: '1h', retryMaxDelay: '1h' });
  const spans = await receiver.waitForSpans(1, 20_000);
  expect(spans.map((s) => s.name)).toEqual(['after-retry']);
  expect(receiver.attempts.map((a) => a.status)).toEqual([429, 200]);
});

test('a 400 is not retried: the batch is counted as failed and later batches still go through', async () => {
  receiver.fail({ status: 400, times: 1 });
  writeFake(tmp, 'a.otlp-mmap', { batches: [['refused'], ['accepted']] });
  const logger = memoryLogger();
  const c = await startWith({ concurrency: '1' }, {}, [], logger);
  await receiver.waitForSpans(1);
  await c.flush();
  expect(names(receiver.spans())).toEqual(['accepted']);
  expect(c.stats().export.traces.failedBatches).toBe(1);
  expect(logger.lines.some((l) => l.startsWith('error:') && l.includes('HTTP 400'))).toBe(true);
});

test('gzip: compressed requests carry the same spans', async () => {
  writeFake(tmp, 'a.otlp-mmap', { batches: [['z1', 'z2']] });
  await startWith({ compression: 'gzip' });
  await receiver.waitForSpans(2);
  expect(receiver.requests.every((r) => r.gzip && r.headers['content-encoding'] === 'gzip')).toBe(true);
  expect(names(receiver.spans())).toEqual(['z1', 'z2']);
});

test('OTEL_EXPORTER_OTLP_HEADERS and per-signal endpoints from the environment are used', async () => {
  writeFake(tmp, 'a.otlp-mmap', { batches: [['h1']], logs: ['l1'] });
  const env = {
    OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=secret%20value,x-tenant=t1',
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-tenant=traces-tenant',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.httpUrl}/v1/traces`,
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: `${receiver.httpUrl}/v1/logs`,
  };
  await startWith({ endpoint: undefined }, env);
  await receiver.waitForSpans(1);
  await receiver.waitForLogs(1);
  const traces = receiver.requests.find((r) => r.signal === 'traces');
  const logs = receiver.requests.find((r) => r.signal === 'logs');
  expect(traces?.headers['x-api-key']).toBe('secret value');
  expect(traces?.headers['x-tenant']).toBe('traces-tenant');
  expect(logs?.headers['x-tenant']).toBe('t1');
});

test('gRPC: exports to the OTLP gRPC services, retrying UNAVAILABLE and RESOURCE_EXHAUSTED with RetryInfo', async () => {
  receiver.fail({ status: 503, times: 2 });
  writeFake(tmp, 'a.otlp-mmap', { batches: [['g1', 'g2']], logs: ['grpc log'] });
  const c = await startWith({ protocol: 'grpc', endpoint: receiver.grpcUrl, headers: ['x-grpc-key=v1'] });
  await receiver.waitForSpans(2);
  await receiver.waitForLogs(1);
  expect(names(receiver.spans())).toEqual(['g1', 'g2']);
  expect(receiver.requests.every((r) => r.transport === 'grpc' && r.headers['x-grpc-key'] === 'v1')).toBe(true);
  expect(receiver.attempts.filter((a) => a.status === 503)).toHaveLength(2);

  // RESOURCE_EXHAUSTED is retried only with RetryInfo; its delay wins over the (huge) backoff.
  await c.stop();
  receiver.reset();
  receiver.fail({ status: 429, retryAfterSeconds: 1, times: 1 });
  writeFake(tmp, 'b.otlp-mmap', { batches: [['g3']] });
  await startWith({ protocol: 'grpc', endpoint: receiver.grpcUrl, retryInitialDelay: '1h', retryMaxDelay: '1h' });
  await receiver.waitFor('g3', () => receiver.spans().find((s) => s.name === 'g3'), 20_000);
  expect(receiver.attempts.map((a) => a.status)).toContain(429);
});

test('gRPC with gzip: the message on the wire is gzip-compressed and flagged so (checked by a raw HTTP/2 server)', async () => {
  // grpc-js servers hide the encoding, so this reads the gRPC framing directly.
  const seen: Array<{ path: string; encoding: string | undefined; compressedFlag: number; decoded: string[] }> = [];
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const frame = Buffer.concat(chunks);
      const flag = frame.readUInt8(0);
      const length = frame.readUInt32BE(1);
      const message = frame.subarray(5, 5 + length);
      const plain = flag === 1 ? zlib.gunzipSync(message) : message;
      const decoded = flattenSpans(decodeRequest('traces', plain)).map((sp) => sp.name);
      seen.push({ path: String(headers[':path']), encoding: headers['grpc-encoding'] as string | undefined, compressedFlag: flag, decoded });
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.from([0, 0, 0, 0, 0])); // an empty ExportTraceServiceResponse
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const exporter = new OtlpGrpcExporter(resolveConfig({ protocol: 'grpc', endpoint: `http://127.0.0.1:${port}`, compression: 'gzip' }, {}).otlp);
  try {
    const result = await exporter.export('traces', traceBatch(['wire1', 'wire2']));
    expect(result).toEqual({ kind: 'success' });
  } finally {
    await exporter.shutdown();
    server.close();
  }
  expect(seen).toEqual([{ path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export', encoding: 'gzip', compressedFlag: 1, decoded: ['wire1', 'wire2'] }]);
});

test('drops the OLDEST batches when the queue is full, counts them, and delivers the rest after recovery', async () => {
  receiver.fail({ status: 503 });
  const batches = Array.from({ length: 10 }, (_, i) => [`q${i}`]);
  const size = traceBatch(['q0']).length;
  // Room for three and a half batches. The first batch is being sent when the rest arrive, and a
  // batch in flight is never dropped (it counts toward the limit), so two more fit: q8 and q9.
  // q0 fails, goes back to the front of the queue, and is delivered after the recovery.
  writeFake(tmp, 'a.otlp-mmap', { batches });
  const logger = memoryLogger();
  const c = await startWith({ queueBytes: String(Math.floor(size * 3.5)), concurrency: '1' }, {}, [], logger);
  await receiver.waitForAttempts(2);
  expect(c.stats().queue.droppedBatches).toBe(7);
  receiver.recover();
  await receiver.waitForSpans(3);
  await c.flush();
  expect(names(receiver.spans())).toEqual(['q0', 'q8', 'q9']);
  const stats = c.stats();
  expect(stats.queue.droppedBatches).toBe(7);
  expect(stats.queue.droppedBytes).toBe(7 * size);
  expect(stats.queue.bytes).toBe(0);
  expect(logger.lines.some((l) => l.includes('export queue is full'))).toBe(true);
});

test('partial success answers are logged and the rejected count is kept', async () => {
  receiver.setPartialSuccess({ rejected: 2, message: 'spans too old' });
  writeFake(tmp, 'a.otlp-mmap', { batches: [['p1', 'p2', 'p3']] });
  const logger = memoryLogger();
  const c = await startWith({}, {}, [], logger);
  await receiver.waitForSpans(3);
  await c.flush();
  expect(c.stats().export.traces.rejected).toBe(2);
  expect(logger.lines.some((l) => l.startsWith('warn:') && l.includes('2 rejected') && l.includes('spans too old'))).toBe(true);
});

test('batching merges polled batches of one signal into one valid request', async () => {
  writeFake(tmp, 'a.otlp-mmap', { batches: [['m1'], ['m2'], ['m3']] });
  const c = await startWith({ batchDelay: '1h' });
  await c.flush(); // flush() queues what the batcher holds
  await receiver.waitForSpans(3);
  expect(receiver.requests.filter((r) => r.signal === 'traces')).toHaveLength(1);
  expect(names(receiver.spans())).toEqual(['m1', 'm2', 'm3']);
});

// ---------------------------------------------------------------- self-metrics

test('exports its own otlp_mmap.* metrics: per-file drop counters and read/exported counts', async () => {
  writeFake(tmp, 'a.otlp-mmap', { batches: [['x1']], dropped: { events: 1, spans: 7, measurements: 0 } });
  const c = await startWith({ selfMetrics: true });
  await receiver.waitForSpans(1);
  await c.flush();
  c.exportMetrics();
  await c.flush();
  const dropped = await receiver.waitForMetric('otlp_mmap.file.dropped');
  expect(dropped.type).toBe('sum');
  const points = (dropped.data.dataPoints as Array<{ attributes: Array<{ key: string; value: { stringValue?: string } }>; asInt: string }>).map((p) => ({
    ring: p.attributes.find((a) => a.key === 'otlp_mmap.ring')?.value.stringValue,
    file: p.attributes.find((a) => a.key === 'otlp_mmap.file')?.value.stringValue,
    value: Number(p.asInt),
  }));
  expect(points).toEqual([
    { ring: 'events', file: path.join(tmp, 'a.otlp-mmap'), value: 1 },
    { ring: 'spans', file: path.join(tmp, 'a.otlp-mmap'), value: 7 },
    { ring: 'measurements', file: path.join(tmp, 'a.otlp-mmap'), value: 0 },
  ]);
  const exported = await receiver.waitForMetric('otlp_mmap.collector.exported');
  const tracesPoint = (exported.data.dataPoints as Array<{ attributes: Array<{ value: { stringValue?: string } }>; asInt: string }>).find((p) => p.attributes[0].value.stringValue === 'traces');
  expect(Number(tracesPoint?.asInt)).toBe(1);
  expect(exported.resource['service.name']).toBe('otlp-mmap-collector');
  const read = await receiver.waitForMetric('otlp_mmap.collector.read');
  expect(read.data.isMonotonic).toBe(true);
});

test('logs a one-line summary periodically', async () => {
  writeFake(tmp, 'a.otlp-mmap', { batches: [['s1', 's2']], dropped: { events: 0, spans: 3, measurements: 0 } });
  const logger = memoryLogger();
  await startWith({ summaryInterval: '30ms' }, {}, [], logger);
  await receiver.waitForSpans(2);
  const line = await receiver.waitFor('a summary line after the export', () => logger.lines.find((l) => l.startsWith('info: summary:') && l.includes('traces=1')));
  expect(line).toBe('info: summary: files=1 | read events=0 spans=4 measurements=0 | exported batches traces=1 metrics=0 logs=0 | failed=0 retries=0 | queue=0B/0 dropped=0 | file drops events=0 spans=3 measurements=0');
});

// ---------------------------------------------------------------- console exporter

test('the console exporter prints spans as a tree with ids, durations and attributes', async () => {
  const { request } = exportTypes('traces');
  const parentId = id('parent', 8);
  const bytes = Buffer.from(
    request
      .encode(
        request.fromObject({
          resourceSpans: [
            {
              resource: { attributes: [{ key: 'service.name', value: { stringValue: 'shop' } }] },
              scopeSpans: [
                {
                  scope: { name: 'otlp-mmap/http' },
                  spans: [
                    { traceId: TRACE, spanId: id('child', 8), parentSpanId: parentId, name: 'SELECT shop', kind: 3, startTimeUnixNano: '1700000000000500000', endTimeUnixNano: '1700000000001000000' },
                    { traceId: TRACE, spanId: parentId, name: 'GET /items', kind: 2, startTimeUnixNano: '1700000000000000000', endTimeUnixNano: '1700000000012000000', attributes: [{ key: 'http.response.status_code', value: { intValue: 200 } }], status: { code: 2, message: 'boom' } },
                  ],
                },
              ],
            },
          ],
        }),
      )
      .finish(),
  );
  let out = '';
  const result = await new ConsoleExporter({ write: (s: string) => (out += s) }).export('traces', bytes);
  expect(result).toEqual({ kind: 'success' });
  const lines = out.split('\n');
  const parentLine = lines.findIndex((l) => l.includes('GET /items [server] 12.000ms'));
  const childLine = lines.findIndex((l) => l.includes('└─ SELECT shop [client] 500µs'));
  expect(parentLine).toBeGreaterThan(0);
  expect(childLine).toBeGreaterThan(parentLine);
  expect(out).toContain(`trace ${TRACE.toString('hex')}`);
  expect(out).toContain(`span=${parentId.toString('hex')}`);
  expect(out).toContain('status=error("boom")');
  expect(out).toContain('http.response.status_code=200');
  expect(out).toContain('resource service.name="shop"');

  const bad = await new ConsoleExporter({ write: () => undefined }).export('traces', Buffer.from([0x0a, 0xff]));
  expect(bad.kind).toBe('failed');
});

// ---------------------------------------------------------------- the queue alone

test('ExportQueue: drop-oldest accounting with batches in flight and requeued', () => {
  const dropped: string[] = [];
  const q = new ExportQueue(30, (b) => dropped.push(b.body.toString()));
  const batch = (signal: Signal, s: string) => ({ signal, body: Buffer.from(s.padEnd(10, '.')) });
  q.push(batch('traces', 'a'));
  const a = q.take('traces');
  q.push(batch('traces', 'b'));
  q.push(batch('logs', 'c'));
  q.push(batch('traces', 'd')); // 40 bytes with a in flight: b (oldest waiting) goes
  expect(dropped.map((d) => d[0])).toEqual(['b']);
  expect(q.stats()).toMatchObject({ bytes: 30, batches: 3, droppedBatches: 1, droppedBytes: 10 });
  q.requeue(a!); // back at the front: it is the oldest waiting batch now
  expect(q.stats()).toMatchObject({ bytes: 30, batches: 3 });
  q.push(batch('traces', 'e')); // over the limit: the oldest (a) goes
  expect(dropped.map((d) => d[0])).toEqual(['b', 'a']);
  expect(q.take('logs')?.body.toString()[0]).toBe('c');
  expect(q.take('traces')?.body.toString()[0]).toBe('d');
  expect(q.take('traces')?.body.toString()[0]).toBe('e');
  expect(q.take('traces')).toBeUndefined();
  expect(q.stats()).toMatchObject({ bytes: 30, batches: 3, droppedBatches: 2, droppedBytes: 20 });
});

test('ExportQueue: batches that failed together go back in their order of arrival', () => {
  const q = new ExportQueue(1000);
  for (const s of ['a', 'b', 'c']) q.push({ signal: 'traces', body: Buffer.from(s) });
  const a = q.take('traces')!;
  const b = q.take('traces')!;
  q.requeue(b); // b's failure is noticed first
  q.requeue(a);
  expect([q.take('traces'), q.take('traces'), q.take('traces')].map((x) => x?.body.toString())).toEqual(['a', 'b', 'c']);
});
