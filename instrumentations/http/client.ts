/**
 * Outgoing requests: `http.request`/`http.get` and `https.request`/`https.get` are replaced by
 * wrappers that let Node build the `ClientRequest` first (so every argument form Node accepts
 * behaves exactly as without the agent), then start a CLIENT span as a child of the caller's
 * context from what the request says about itself (`method`, `host`, `protocol`, `path`), add
 * the propagation headers with `setHeader`, and end the span when the response body ends, the
 * request fails, or it closes without a response. Listeners on the request and the response run
 * in the caller's context, as without the agent. Nothing is traced while tracing is suppressed
 * (`suppressTracing`, used by exporters).
 */
import * as api from '@opentelemetry/api';
import type { Attributes, Context, Meter, Span, TextMapSetter, Tracer } from '@opentelemetry/api';
import { isTracingSuppressed } from '../common/otelCore';
import { errorMonitor, type EventEmitter } from 'node:events';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { errorType, recordFailure } from '../common/errors';
import { reportOnce } from './report';
import { HttpTelemetry } from './telemetry';
import {
  ERROR_TYPE,
  HTTP_REQUEST_METHOD,
  HTTP_REQUEST_METHOD_ORIGINAL,
  HTTP_RESPONSE_STATUS_CODE,
  METRIC_CLIENT_DURATION,
  NETWORK_PEER_ADDRESS,
  NETWORK_PEER_PORT,
  NETWORK_PROTOCOL_VERSION,
  normalizeMethod,
  redactQuery,
  SERVER_ADDRESS,
  SERVER_PORT,
  spanNameFor,
  URL_FULL,
  USER_AGENT_ORIGINAL,
} from './semconv';

const { context: contextApi, propagation, trace, SpanKind, SpanStatusCode } = api;

const kClientRequest = Symbol('otlp-mmap.http.clientRequest');
/** Marks our wrappers (a registered symbol, so tests and other copies of the agent can see it). */
const kPatched = Symbol.for('otlp-mmap.patched');

type RequestFn = (this: unknown, ...args: unknown[]) => ClientRequest;

interface Tracked {
  [kClientRequest]?: ClientOperation;
}
type TrackedRequest = ClientRequest & Tracked;
type TrackedResponse = IncomingMessage & Tracked;

/** Writes propagation headers into a request that has not sent its headers yet. */
const headerSetter: TextMapSetter<ClientRequest> = {
  set(carrier, key, value) {
    if (carrier.headersSent) return;
    try {
      carrier.setHeader(key, value);
    } catch {
      // Headers given as an array (or `Expect: 100-continue`) are written at once; nothing to add to.
    }
  },
};

/** One outgoing request in flight. */
class ClientOperation {
  ended = false;
  responded = false;

  constructor(
    readonly telemetry: HttpClientTelemetry,
    readonly span: Span,
    readonly context: Context,
    readonly metricAttributes: Attributes,
    readonly startedAt: number,
  ) {}

  /** The response head arrived. */
  response(res: IncomingMessage): void {
    if (this.ended) return;
    this.responded = true;
    const span = this.span;
    const metric = this.metricAttributes;
    const status = res.statusCode;
    if (status !== undefined) {
      span.setAttribute(HTTP_RESPONSE_STATUS_CODE, status);
      metric[HTTP_RESPONSE_STATUS_CODE] = status;
      if (status >= 400) {
        // Client spans: 4xx and 5xx are errors; error.type is the status code.
        const type = String(status);
        span.setStatus({ code: SpanStatusCode.ERROR });
        span.setAttribute(ERROR_TYPE, type);
        metric[ERROR_TYPE] = type;
      }
    }
    const socket = res.socket;
    if (socket) {
      const address = socket.remoteAddress;
      if (address !== undefined) {
        span.setAttribute(NETWORK_PEER_ADDRESS, address);
        const port = socket.remotePort;
        if (port !== undefined) span.setAttribute(NETWORK_PEER_PORT, port);
      }
    }
    const version = res.httpVersion;
    if (version) {
      span.setAttribute(NETWORK_PROTOCOL_VERSION, version);
      metric[NETWORK_PROTOCOL_VERSION] = version;
    }
  }

  /** The response body ended (`complete`) or the request closed (`!complete`). */
  finish(complete: boolean): void {
    if (this.ended) return;
    if (!complete) {
      // Closed before a whole response: aborted by either side without an 'error'.
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: this.responded ? 'response aborted' : 'request closed before a response' });
      if (this.metricAttributes[ERROR_TYPE] === undefined) {
        this.span.setAttribute(ERROR_TYPE, '_OTHER');
        this.metricAttributes[ERROR_TYPE] = '_OTHER';
      }
    }
    this.end();
  }

  /** The request or the response emitted 'error'. */
  fail(error: unknown): void {
    if (this.ended) return;
    recordFailure(this.span, error, true);
    this.metricAttributes[ERROR_TYPE] = errorType(error);
    this.end();
  }

  private end(): void {
    this.ended = true;
    this.span.end();
    this.telemetry.duration().record((performance.now() - this.startedAt) / 1000, this.metricAttributes, this.context);
  }
}

// The listeners below run for every request: try/catch inline, no closure per call.

/** 'response' listener, prepended to every tracked request (`this` is the request). */
function onResponse(this: TrackedRequest, res: TrackedResponse): void {
  const op = this[kClientRequest];
  if (op === undefined) return;
  try {
    op.response(res);
    res[kClientRequest] = op;
    contextApi.bind(contextApi.active(), res as EventEmitter);
    res.on('end', onResponseEnd);
    res.on(errorMonitor, onError);
    // Node dumps a response nobody listens to; with our listener it would wait forever.
    if (this.listenerCount('response') <= 1) res.resume();
  } catch (e) {
    reportOnce('http client response', e);
  }
}

function onResponseEnd(this: TrackedResponse): void {
  const op = this[kClientRequest];
  if (op === undefined) return;
  try {
    op.finish(!(this.aborted && !this.complete));
  } catch (e) {
    reportOnce('http client span end', e);
  }
}

/** errorMonitor listener of tracked requests and responses. */
function onError(this: Tracked, error: unknown): void {
  const op = this[kClientRequest];
  if (op === undefined) return;
  try {
    op.fail(error);
  } catch (e) {
    reportOnce('http client span failure', e);
  }
}

function onRequestClose(this: TrackedRequest): void {
  const op = this[kClientRequest];
  // The response's 'end' comes first when there is one; 'error' before 'close' when it failed.
  if (op === undefined || op.ended) return;
  // A 101 or CONNECT response goes to an 'upgrade'/'connect' listener instead of 'response'; Node
  // sets `upgradeOrConnect` and `res` before it emits that and then 'close'. That is a success.
  const handedOver = this as { upgradeOrConnect?: boolean; res?: IncomingMessage | null };
  const head = !op.responded && handedOver.upgradeOrConnect === true ? handedOver.res : undefined;
  try {
    if (head) op.response(head);
    op.finish(head != null);
  } catch (e) {
    reportOnce('http client span end', e);
  }
}

/**
 * The target URI of a request (RFC 9112, section 3.3), for `url.full`, with the query
 * redacted and no credentials: origin + path for the usual origin-form target
 * ("/p?q"); the target itself for an absolute-form one (a request through a forward
 * proxy); "scheme://host:port" of the tunnel for an authority-form one (CONNECT
 * host:port); the origin alone for the asterisk form (OPTIONS *).
 */
function targetUri(protocol: string, host: string, port: number | undefined, target: string): string {
  if (target.charCodeAt(0) === 0x2f /* / */) return `${origin(protocol, host, port)}${redactTarget(target)}`;
  if (target === '*') return origin(protocol, host, port);
  const absolute = ABSOLUTE_FORM.exec(target);
  if (absolute !== null) return `${absolute[1]}${redactTarget(target.slice(absolute[0].length))}`;
  return `${protocol}//${target}`;
}

/** "scheme://" and any "user:password@" after it. */
const ABSOLUTE_FORM = /^([a-z][a-z0-9+.-]*:\/\/)(?:[^/?#@]*@)?/i;

/** `target` with the values of signature parameters in its query redacted. */
function redactTarget(target: string): string {
  const q = target.indexOf('?');
  return q < 0 ? target : `${target.slice(0, q + 1)}${redactQuery(target.slice(q + 1))}`;
}

/** "scheme://host[:port]", an IPv6 host in brackets; `port` undefined when it is the scheme's default. */
function origin(protocol: string, host: string, port: number | undefined): string {
  return `${protocol}//${host.includes(':') ? `[${host}]` : host}${port === undefined ? '' : `:${port}`}`;
}

/** The port the caller asked for, from any argument form of `http.request`. */
function requestedPort(args: IArguments): number | undefined {
  let port: unknown;
  const first = args[0];
  if (typeof first === 'string') {
    const m = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(?:\[[^\]]*\]|[^:/?#]*):(\d+)/i.exec(first);
    if (m) port = m[1];
  } else if (first instanceof URL) {
    port = first.port;
  } else if (first !== null && typeof first === 'object') {
    port = (first as { port?: unknown }).port;
  }
  const second = args[1];
  if (typeof first !== 'object' || first instanceof URL) {
    if (second !== null && typeof second === 'object' && (second as { port?: unknown }).port !== undefined) {
      port = (second as { port?: unknown }).port;
    }
  }
  const n = typeof port === 'number' ? port : typeof port === 'string' && port.length > 0 ? Number(port) : NaN;
  return Number.isInteger(n) && n > 0 && n <= 65535 ? n : undefined;
}

/** Records outgoing requests through one tracer and one meter. */
export class HttpClientTelemetry extends HttpTelemetry {
  constructor(tracer: Tracer, meter: Meter, knownMethods: ReadonlySet<string>) {
    super(tracer, meter, knownMethods, METRIC_CLIENT_DURATION, 'Duration of HTTP client requests.');
  }

  /** Replaces `request` and `get` of the `http` or `https` module. Patching twice is a no-op. */
  patch(module: { request: RequestFn; get: RequestFn }, scheme: 'http' | 'https'): void {
    const original = module.request;
    if ((original as unknown as Record<symbol, unknown>)[kPatched] === true) return;
    const telemetry = this;
    const request = function request(this: unknown): ClientRequest {
      return telemetry.outgoing(original, this, arguments, scheme);
    };
    // Node's get() is request() plus end(); it calls its module's own request, so it is replaced too.
    const get = function get(this: unknown): ClientRequest {
      const req = telemetry.outgoing(original, this, arguments, scheme);
      req.end();
      return req;
    };
    for (const fn of [request, get]) Object.defineProperty(fn, kPatched, { value: true });
    module.request = request as RequestFn;
    module.get = get as RequestFn;
  }

  private outgoing(original: RequestFn, self: unknown, args: IArguments, scheme: 'http' | 'https'): ClientRequest {
    const parent = contextApi.active();
    const req = original.apply(self, args as unknown as unknown[]) as TrackedRequest;
    if (isTracingSuppressed(parent)) return req;
    try {
      this.track(req, parent, args, scheme);
    } catch (e) {
      reportOnce('http client span start', e);
    }
    return req;
  }

  private track(req: TrackedRequest, parent: Context, args: IArguments, scheme: 'http' | 'https'): void {
    const rawMethod = req.method || 'GET';
    const method = normalizeMethod(rawMethod, this.knownMethods);
    const protocol = req.protocol || `${scheme}:`;
    const host = req.host || 'localhost';
    const defaultPort = protocol === 'https:' ? 443 : 80;
    const agentPort = (req as { agent?: { defaultPort?: unknown } }).agent?.defaultPort;
    const port = requestedPort(args) ?? (typeof agentPort === 'number' ? agentPort : defaultPort);
    const url = targetUri(protocol, host, port === defaultPort ? undefined : port, req.path || '/');

    const attributes: Attributes = {
      [HTTP_REQUEST_METHOD]: method,
      [SERVER_ADDRESS]: host,
      [SERVER_PORT]: port,
      [URL_FULL]: url,
    };
    if (method !== rawMethod) attributes[HTTP_REQUEST_METHOD_ORIGINAL] = rawMethod;
    const userAgent = req.getHeader('user-agent');
    if (typeof userAgent === 'string') attributes[USER_AGENT_ORIGINAL] = userAgent;
    const metricAttributes: Attributes = { [HTTP_REQUEST_METHOD]: method, [SERVER_ADDRESS]: host, [SERVER_PORT]: port };

    const startedAt = performance.now();
    const span = this.tracer.startSpan(spanNameFor(method), { kind: SpanKind.CLIENT, attributes }, parent);
    const ctx = trace.setSpan(parent, span);
    propagation.inject(ctx, req, headerSetter);
    // The caller's listeners ('response', 'error', the callback) run in the caller's context.
    contextApi.bind(parent, req as EventEmitter);
    req[kClientRequest] = new ClientOperation(this, span, ctx, metricAttributes, startedAt);
    req.prependListener('response', onResponse);
    req.on(errorMonitor, onError);
    req.on('close', onRequestClose);
  }
}
