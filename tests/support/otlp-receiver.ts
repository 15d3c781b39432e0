/**
 * A real OTLP receiver for tests: an HTTP server (POST /v1/traces, /v1/metrics,
 * /v1/logs; binary protobuf, gzip-aware) and a gRPC server (the three OTLP
 * `Export` services), both decoding requests with protobufjs and the OTLP
 * `.proto` files in `tests/support/proto/` (independent of the collector's own
 * code). Failure modes are controllable (answer 503, 429 with Retry-After, a
 * partial success), and helpers wait for N spans, a metric, N log records.
 */
import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';

export type Signal = 'traces' | 'metrics' | 'logs';
const SIGNALS: Signal[] = ['traces', 'metrics', 'logs'];

const PROTO_DIR = path.join(__dirname, 'proto');
const PACKAGE: Record<Signal, string> = { traces: 'trace', metrics: 'metrics', logs: 'logs' };
const SERVICE: Record<Signal, string> = { traces: 'TraceService', metrics: 'MetricsService', logs: 'LogsService' };
const UPPER: Record<Signal, string> = { traces: 'Trace', metrics: 'Metrics', logs: 'Logs' };

let rootCache: protobuf.Root | undefined;

/** The OTLP protobuf definitions, loaded from `tests/support/proto/`. */
export function otlpRoot(): protobuf.Root {
  if (rootCache) return rootCache;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(PROTO_DIR, target);
  root.loadSync(SIGNALS.map((s) => `opentelemetry/proto/collector/${PACKAGE[s]}/v1/${PACKAGE[s]}_service.proto`));
  root.resolveAll();
  rootCache = root;
  return root;
}

/** The request / response message types of a signal's `Export` call. */
export function exportTypes(signal: Signal): { request: protobuf.Type; response: protobuf.Type } {
  const ns = `opentelemetry.proto.collector.${PACKAGE[signal]}.v1`;
  return { request: otlpRoot().lookupType(`${ns}.Export${UPPER[signal]}ServiceRequest`), response: otlpRoot().lookupType(`${ns}.Export${UPPER[signal]}ServiceResponse`) };
}

/** A decoded request as plain objects (`toObject` with longs as strings, enums as numbers, bytes as Buffers, defaults, and each oneof's set member named by a virtual property). */
export type Decoded = Record<string, unknown>;

/** Decodes an `Export*ServiceRequest`. */
export function decodeRequest(signal: Signal, bytes: Uint8Array): Decoded {
  const t = exportTypes(signal).request;
  return t.toObject(t.decode(bytes), { longs: String, enums: Number, defaults: true, arrays: true, oneofs: true }) as Decoded;
}

// ---------------------------------------------------------------- flattened views

/** An attribute value in plain JS: int64 values become numbers (bigint if unsafe), bytes become Buffers. */
export type PlainValue = string | number | bigint | boolean | Buffer | null | PlainValue[] | { [k: string]: PlainValue };

type Obj = Record<string, unknown>;

/** Converts an OTLP `AnyValue` object to a plain value. */
export function plainValue(v: unknown): PlainValue {
  if (!v || typeof v !== 'object') return null;
  const o = v as Obj;
  switch (o.value) {
    case 'stringValue':
      return o.stringValue as string;
    case 'boolValue':
      return o.boolValue as boolean;
    case 'intValue': {
      const b = BigInt(o.intValue as string);
      return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
    }
    case 'doubleValue':
      return o.doubleValue as number;
    case 'bytesValue':
      return Buffer.from(o.bytesValue as Uint8Array);
    case 'arrayValue':
      return (((o.arrayValue as Obj).values as unknown[]) ?? []).map(plainValue);
    case 'kvlistValue':
      return plainAttributes((o.kvlistValue as Obj).values);
    default:
      return null;
  }
}

/** Converts an OTLP `KeyValue[]` to a record. */
export function plainAttributes(kvs: unknown): Record<string, PlainValue> {
  const out: Record<string, PlainValue> = {};
  for (const kv of (kvs as Obj[]) ?? []) out[kv.key as string] = plainValue(kv.value);
  return out;
}

const hex = (b: unknown): string => (b && (b as Uint8Array).length ? Buffer.from(b as Uint8Array).toString('hex') : '');
const big = (s: unknown): bigint => BigInt((s as string | undefined) ?? '0');

export interface FlatSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  flags: number;
  name: string;
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Record<string, PlainValue>;
  events: Array<{ name: string; timeUnixNano: bigint; attributes: Record<string, PlainValue> }>;
  links: Array<{ traceId: string; spanId: string; attributes: Record<string, PlainValue> }>;
  status: { code: number; message: string };
  resource: Record<string, PlainValue>;
  scope: { name: string; version: string };
}

export interface FlatMetric {
  name: string;
  description: string;
  unit: string;
  /** `gauge`, `sum`, `histogram`, `exponentialHistogram` or `summary`. */
  type: string;
  /** The decoded data (`dataPoints` etc.) of that type. */
  data: Obj;
  resource: Record<string, PlainValue>;
  scope: { name: string; version: string };
}

export interface FlatLog {
  timeUnixNano: bigint;
  observedTimeUnixNano: bigint;
  severityNumber: number;
  severityText: string;
  body: PlainValue;
  attributes: Record<string, PlainValue>;
  traceId: string;
  spanId: string;
  flags: number;
  eventName: string;
  resource: Record<string, PlainValue>;
  scope: { name: string; version: string };
}

function eachScope(req: Decoded, resourceKey: string, scopeKey: string, itemKey: string, fn: (item: Obj, resource: Record<string, PlainValue>, scope: { name: string; version: string }) => void): void {
  for (const r of (req[resourceKey] as Obj[]) ?? []) {
    const resource = plainAttributes(((r.resource as Obj | undefined)?.attributes as unknown[]) ?? []);
    for (const s of (r[scopeKey] as Obj[]) ?? []) {
      const sc = (s.scope as Obj | undefined) ?? {};
      const scope = { name: (sc.name as string) ?? '', version: (sc.version as string) ?? '' };
      for (const item of (s[itemKey] as Obj[]) ?? []) fn(item, resource, scope);
    }
  }
}

/** Flattens the spans of a decoded trace request. */
export function flattenSpans(req: Decoded): FlatSpan[] {
  const out: FlatSpan[] = [];
  eachScope(req, 'resourceSpans', 'scopeSpans', 'spans', (s, resource, scope) => {
    const status = (s.status as Obj | undefined) ?? {};
    out.push({
      traceId: hex(s.traceId),
      spanId: hex(s.spanId),
      parentSpanId: hex(s.parentSpanId),
      traceState: (s.traceState as string) ?? '',
      flags: (s.flags as number) ?? 0,
      name: s.name as string,
      kind: s.kind as number,
      startTimeUnixNano: big(s.startTimeUnixNano),
      endTimeUnixNano: big(s.endTimeUnixNano),
      attributes: plainAttributes(s.attributes),
      events: ((s.events as Obj[]) ?? []).map((e) => ({ name: e.name as string, timeUnixNano: big(e.timeUnixNano), attributes: plainAttributes(e.attributes) })),
      links: ((s.links as Obj[]) ?? []).map((l) => ({ traceId: hex(l.traceId), spanId: hex(l.spanId), attributes: plainAttributes(l.attributes) })),
      status: { code: (status.code as number) ?? 0, message: (status.message as string) ?? '' },
      resource,
      scope,
    });
  });
  return out;
}

/** Flattens the metrics of a decoded metrics request. */
export function flattenMetrics(req: Decoded): FlatMetric[] {
  const out: FlatMetric[] = [];
  eachScope(req, 'resourceMetrics', 'scopeMetrics', 'metrics', (m, resource, scope) => {
    const type = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'].find((t) => m[t] !== undefined && m[t] !== null) ?? 'none';
    out.push({ name: m.name as string, description: m.description as string, unit: m.unit as string, type, data: (m[type] as Obj) ?? {}, resource, scope });
  });
  return out;
}

/** Flattens the log records of a decoded logs request. */
export function flattenLogs(req: Decoded): FlatLog[] {
  const out: FlatLog[] = [];
  eachScope(req, 'resourceLogs', 'scopeLogs', 'logRecords', (l, resource, scope) => {
    out.push({
      timeUnixNano: big(l.timeUnixNano),
      observedTimeUnixNano: big(l.observedTimeUnixNano),
      severityNumber: (l.severityNumber as number) ?? 0,
      severityText: (l.severityText as string) ?? '',
      body: plainValue(l.body),
      attributes: plainAttributes(l.attributes),
      traceId: hex(l.traceId),
      spanId: hex(l.spanId),
      flags: (l.flags as number) ?? 0,
      eventName: (l.eventName as string) ?? '',
      resource,
      scope,
    });
  });
  return out;
}

// ---------------------------------------------------------------- the receiver

/** One request that was accepted and decoded. */
export interface ReceivedRequest {
  signal: Signal;
  transport: 'http' | 'grpc';
  headers: Record<string, string>;
  /** The request body was gzip-compressed (HTTP `content-encoding`, gRPC `grpc-encoding`). */
  gzip: boolean;
  /** Bytes of the (decompressed) protobuf message. */
  bytes: number;
  decoded: Decoded;
}

/** Every request, including the ones the receiver refused. */
export interface Attempt {
  signal: Signal;
  transport: 'http' | 'grpc';
  /** HTTP status answered (gRPC failures are mapped back to the HTTP status that was configured). */
  status: number;
}

/** How to answer the next requests. */
export interface FailureMode {
  /** HTTP status to answer (gRPC: 503 → UNAVAILABLE, 429 → RESOURCE_EXHAUSTED, 400 → INVALID_ARGUMENT, others UNKNOWN). */
  status: number;
  /** `Retry-After` value (seconds) for HTTP; RetryInfo delay for gRPC. */
  retryAfterSeconds?: number;
  /** Only requests of these signals fail (default all). */
  signals?: Signal[];
  /** Fail this many requests, then recover (default: until `recover()`). */
  times?: number;
}

const GRPC_CODE: Record<number, grpc.status> = { 503: grpc.status.UNAVAILABLE, 429: grpc.status.RESOURCE_EXHAUSTED, 400: grpc.status.INVALID_ARGUMENT, 504: grpc.status.DEADLINE_EXCEEDED };

/** Builds `google.rpc.Status{code, message, details:[Any(RetryInfo{retry_delay})]}` by hand (tests only). */
function retryInfoStatus(code: number, message: string, delaySeconds: number): Buffer {
  const root = protobuf.Root.fromJSON({
    nested: {
      Duration: { fields: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } } },
      RetryInfo: { fields: { retryDelay: { type: 'Duration', id: 1 } } },
      Any: { fields: { typeUrl: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
      Status: { fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 }, details: { rule: 'repeated', type: 'Any', id: 3 } } },
    },
  });
  const retryInfo = root.lookupType('RetryInfo');
  const value = retryInfo.encode(retryInfo.create({ retryDelay: { seconds: delaySeconds, nanos: 0 } })).finish();
  const status = root.lookupType('Status');
  return Buffer.from(status.encode(status.create({ code, message, details: [{ typeUrl: 'type.googleapis.com/google.rpc.RetryInfo', value }] })).finish());
}

export interface ReceiverOptions {
  /** Start the HTTP server (default true). */
  http?: boolean;
  /** Start the gRPC server (default false). */
  grpc?: boolean;
}

/** A running receiver. */
export class OtlpReceiver extends EventEmitter {
  readonly requests: ReceivedRequest[] = [];
  readonly attempts: Attempt[] = [];
  private failure?: FailureMode;
  private partial?: { rejected: number; message: string };
  private httpServer?: http.Server;
  private grpcServer?: grpc.Server;
  /** `http://127.0.0.1:PORT` of the HTTP server. */
  httpUrl = '';
  /** `http://127.0.0.1:PORT` of the gRPC server. */
  grpcUrl = '';

  /** Starts the servers on free ports of 127.0.0.1. */
  static async start(options: ReceiverOptions = {}): Promise<OtlpReceiver> {
    const r = new OtlpReceiver();
    if (options.http ?? true) await r.startHttp();
    if (options.grpc) await r.startGrpc();
    return r;
  }

  /** Makes the next requests fail (see `FailureMode`). */
  fail(mode: FailureMode): void {
    this.failure = { ...mode };
  }

  /** Answers requests normally again. */
  recover(): void {
    this.failure = undefined;
  }

  /** Answers successful requests with a partial success (until called with `undefined`). */
  setPartialSuccess(p: { rejected: number; message: string } | undefined): void {
    this.partial = p;
  }

  /** Decides whether this request fails; returns the failure mode or undefined. */
  private takeFailure(signal: Signal): FailureMode | undefined {
    const f = this.failure;
    if (!f || (f.signals && !f.signals.includes(signal))) return undefined;
    if (f.times !== undefined) {
      f.times--;
      if (f.times <= 0) this.failure = undefined;
    }
    return f;
  }

  private accept(signal: Signal, transport: 'http' | 'grpc', headers: Record<string, string>, gzip: boolean, body: Buffer): Buffer {
    const decoded = decodeRequest(signal, body);
    this.requests.push({ signal, transport, headers, gzip, bytes: body.length, decoded });
    this.attempts.push({ signal, transport, status: 200 });
    const { response } = exportTypes(signal);
    const answer = this.partial
      ? response.encode(response.create({ partialSuccess: { [signal === 'traces' ? 'rejectedSpans' : signal === 'metrics' ? 'rejectedDataPoints' : 'rejectedLogRecords']: this.partial.rejected, errorMessage: this.partial.message } })).finish()
      : response.encode(response.create({})).finish();
    setImmediate(() => this.emit('request'));
    return Buffer.from(answer);
  }

  private async startHttp(): Promise<void> {
    const server = http.createServer((req, res) => {
      const signal = SIGNALS.find((s) => req.url === `/v1/${s}`);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method !== 'POST' || !signal) {
          res.writeHead(404).end();
          return;
        }
        if (!String(req.headers['content-type']).startsWith('application/x-protobuf')) {
          this.attempts.push({ signal, transport: 'http', status: 415 });
          res.writeHead(415).end('expected application/x-protobuf');
          return;
        }
        const failure = this.takeFailure(signal);
        if (failure) {
          this.attempts.push({ signal, transport: 'http', status: failure.status });
          const headers: http.OutgoingHttpHeaders = { 'content-type': 'text/plain' };
          if (failure.retryAfterSeconds !== undefined) headers['retry-after'] = String(failure.retryAfterSeconds);
          res.writeHead(failure.status, headers).end(`failing on purpose with ${failure.status}`);
          setImmediate(() => this.emit('request'));
          return;
        }
        let body: Buffer = Buffer.concat(chunks);
        const gzip = req.headers['content-encoding'] === 'gzip';
        try {
          if (gzip) body = zlib.gunzipSync(body);
          const answer = this.accept(signal, 'http', req.headers as Record<string, string>, gzip, body);
          res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(answer);
        } catch (e) {
          this.attempts.push({ signal, transport: 'http', status: 400 });
          res.writeHead(400, { 'content-type': 'text/plain' }).end(`cannot decode: ${(e as Error).message}`);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.httpServer = server;
    this.httpUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  private async startGrpc(): Promise<void> {
    const server = new grpc.Server();
    for (const signal of SIGNALS) {
      const definition: grpc.ServiceDefinition = {
        Export: {
          path: `/opentelemetry.proto.collector.${PACKAGE[signal]}.v1.${SERVICE[signal]}/Export`,
          requestStream: false,
          responseStream: false,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => b,
        },
      };
      server.addService(definition, {
        Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(call.metadata.getMap())) headers[k] = String(v);
          const failure = this.takeFailure(signal);
          if (failure) {
            this.attempts.push({ signal, transport: 'grpc', status: failure.status });
            const code = GRPC_CODE[failure.status] ?? grpc.status.UNKNOWN;
            const metadata = new grpc.Metadata();
            if (failure.retryAfterSeconds !== undefined) metadata.set('grpc-status-details-bin', retryInfoStatus(code, 'failing on purpose', failure.retryAfterSeconds));
            callback({ code, details: `failing on purpose with ${failure.status}`, metadata });
            setImmediate(() => this.emit('request'));
            return;
          }
          try {
            callback(null, this.accept(signal, 'grpc', headers, headers['grpc-encoding'] === 'gzip', call.request));
          } catch (e) {
            this.attempts.push({ signal, transport: 'grpc', status: 400 });
            callback({ code: grpc.status.INVALID_ARGUMENT, details: (e as Error).message });
          }
        },
      });
    }
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    this.grpcServer = server;
    this.grpcUrl = `http://127.0.0.1:${port}`;
  }

  private readonly flat = new WeakMap<ReceivedRequest, unknown[]>();

  private flatOf<T>(signal: Signal, fn: (d: Decoded) => T[]): T[] {
    const out: T[] = [];
    for (const r of this.requests) {
      if (r.signal !== signal) continue;
      let f = this.flat.get(r) as T[] | undefined;
      if (!f) this.flat.set(r, (f = fn(r.decoded)));
      for (const x of f) out.push(x);
    }
    return out;
  }

  /** All spans received so far. */
  spans(): FlatSpan[] {
    return this.flatOf('traces', flattenSpans);
  }

  /** All metrics received so far (one entry per metric per request). */
  metrics(): FlatMetric[] {
    return this.flatOf('metrics', flattenMetrics);
  }

  /** All log records received so far. */
  logs(): FlatLog[] {
    return this.flatOf('logs', flattenLogs);
  }

  /**
   * Resolves with `check()`'s value once it is truthy (checked after every
   * request and every 25ms), or rejects after `timeoutMs` with `what` and the last state.
   */
  waitFor<T>(what: string, check: () => T | undefined | null | false, timeoutMs = 30_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const tryIt = (): boolean => {
        const v = check();
        if (v) {
          this.off('request', tryIt);
          clearTimeout(timer);
          clearInterval(poll);
          resolve(v);
          return true;
        }
        return false;
      };
      // Also re-check now and then, for conditions that change without a request (a file removed, ...).
      const poll = setInterval(tryIt, 25);
      const timer = setTimeout(() => {
        clearInterval(poll);
        this.off('request', tryIt);
        reject(new Error(`timed out waiting for ${what}: ${this.requests.length} request(s), ${this.attempts.length} attempt(s), ${this.spans().length} span(s) received`));
      }, timeoutMs);
      this.on('request', tryIt);
      tryIt();
    });
  }

  /** Waits until at least `n` spans arrived; resolves with all spans. */
  waitForSpans(n: number, timeoutMs?: number): Promise<FlatSpan[]> {
    return this.waitFor(`${n} span(s)`, () => {
      const s = this.spans();
      return s.length >= n ? s : undefined;
    }, timeoutMs);
  }

  /** Waits until at least `n` log records arrived. */
  waitForLogs(n: number, timeoutMs?: number): Promise<FlatLog[]> {
    return this.waitFor(`${n} log record(s)`, () => {
      const l = this.logs();
      return l.length >= n ? l : undefined;
    }, timeoutMs);
  }

  /** Waits until a metric named `name` arrived (optionally matching `match`); resolves with the latest such metric. */
  waitForMetric(name: string, match: (m: FlatMetric) => boolean = () => true, timeoutMs?: number): Promise<FlatMetric> {
    return this.waitFor(`metric ${name}`, () => this.metrics().filter((m) => m.name === name && match(m)).pop(), timeoutMs);
  }

  /** Waits until `n` attempts (accepted or refused) were made. */
  waitForAttempts(n: number, timeoutMs?: number): Promise<Attempt[]> {
    return this.waitFor(`${n} attempt(s)`, () => (this.attempts.length >= n ? this.attempts : undefined), timeoutMs);
  }

  /** Forgets what was received. */
  reset(): void {
    this.requests.length = 0;
    this.attempts.length = 0;
  }

  async close(): Promise<void> {
    const tasks: Promise<void>[] = [];
    if (this.httpServer) {
      const s = this.httpServer;
      s.closeAllConnections();
      tasks.push(new Promise<void>((resolve) => s.close(() => resolve())));
    }
    if (this.grpcServer) {
      const g = this.grpcServer;
      tasks.push(new Promise<void>((resolve) => g.tryShutdown(() => resolve())));
    }
    await Promise.all(tasks);
  }
}
