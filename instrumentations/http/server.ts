/**
 * Incoming requests: `http.Server.prototype.emit` / `https.Server.prototype.emit` are wrapped so
 * that every `'request'` event starts a SERVER span (parent: the context the global propagator
 * extracts from the request headers), runs the app's request listeners in that span's context with
 * `req`/`res` bound to it, and ends the span when the response closes, with the status code, the
 * route (from the RPC metadata a framework instrumentation fills in, e.g. express) and an
 * `http.server.request.duration` measurement.
 *
 * Per request this allocates the span, one attribute object per signal and one state object (also
 * the RPC metadata that frameworks report the route to, {@link ServerRequestInfo}), and parses the
 * request target with string operations (no `URL` object in the common origin-form case). The
 * span's attributes that come from the connection are made once per keep-alive connection (see
 * {@link ConnectionAttributes}), and those set at its end once per status and route. With the
 * agent's context manager, the response's bound emit tells the state of 'finish', 'close' and
 * 'error'; otherwise two shared listeners are added to the response.
 */
import * as api from '@opentelemetry/api';
import type { Attributes, Context, Meter, Span, Tracer } from '@opentelemetry/api';
import { setRPCMetadata } from '../common/otelCore';
import { errorMonitor, type EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { bindTo, call3InContext, EMPTY_CONTEXT, fastContext, type EmitObserver } from '../common/context';
import { AttributeSets } from '../common/attributeSets';
import { ServerRequestInfo, type Endable } from '../common/request';
import { errorType, recordFailure } from '../common/errors';
import { setAttributeSet, startSpanParts } from '../common/spanParts';
import { reportOnce } from './report';
import { HttpTelemetry } from './telemetry';
import {
  CLIENT_ADDRESS,
  ERROR_TYPE,
  forwardedParam,
  HTTP_REQUEST_METHOD,
  HTTP_REQUEST_METHOD_ORIGINAL,
  HTTP_RESPONSE_STATUS_CODE,
  HTTP_ROUTE,
  METRIC_SERVER_DURATION,
  NETWORK_PEER_ADDRESS,
  NETWORK_PEER_PORT,
  NETWORK_PROTOCOL_VERSION,
  normalizeMethod,
  parseHost,
  redactQuery,
  SERVER_ADDRESS,
  SERVER_PORT,
  spanNameFor,
  stripPort,
  URL_PATH,
  URL_QUERY,
  URL_SCHEME,
  USER_AGENT_ORIGINAL,
} from './semconv';

// The API singletons, read once (in the agent's bundle every property read of an import is a getter call).
const { propagation, trace, SpanKind, SpanStatusCode } = api;

const kServerRequest = Symbol('otlp-mmap.http.serverRequest');
/** Marks our wrappers (a registered symbol, so tests and other copies of the agent can see it). */
const kPatched = Symbol.for('otlp-mmap.patched');

type Emit = (this: unknown, event: string | symbol, ...args: unknown[]) => boolean;

/** How many routes {@link routeSpanName} remembers a name for, per method. */
const ROUTE_NAME_LIMIT = 1024;
/** Span names `"{method} {route}"`, by method and route (see {@link routeSpanName}). */
const routeNames = new Map<string, Map<string, string>>();

/**
 * The span name `"{spanName} {route}"`, made once per method and route and then the same string.
 * A name made per request is a fresh string that the recorder's name cache then has to flatten,
 * hash and compare in full on every request; a remembered one is found by identity. The methods
 * are normalised ({@link spanNameFor}: the known ones, else `HTTP`) and a framework's routes are
 * its templates, so the map stays small; past {@link ROUTE_NAME_LIMIT} routes a name is made per
 * request again.
 * @internal Exported for tests.
 */
export function routeSpanName(spanName: string, route: string): string {
  let byRoute = routeNames.get(spanName);
  if (byRoute === undefined) {
    byRoute = new Map();
    routeNames.set(spanName, byRoute);
  }
  let name = byRoute.get(route);
  if (name === undefined) {
    name = `${spanName} ${route}`;
    if (byRoute.size < ROUTE_NAME_LIMIT) byRoute.set(route, name);
  }
  return name;
}

/** @internal For tests: how many route names are remembered for `spanName`. */
export function rememberedRouteNames(spanName: string): number {
  return routeNames.get(spanName)?.size ?? 0;
}

interface TrackedResponse extends ServerResponse {
  [kServerRequest]?: ServerRequest;
}

/** One incoming request in flight: the server span's state, and the RPC metadata of its context. */
class ServerRequest extends ServerRequestInfo implements EmitObserver {
  ended = false;
  /** The context the request is handled in (its span and this metadata); set once it exists. */
  context: Context = EMPTY_CONTEXT;
  /** The response emitted 'finish' (seen when the response is bound with an observer). */
  private finished = false;
  /** The response emitted 'close'. */
  private closed = false;
  /** The route the span was given already (by {@link routeMatched}). */
  private namedRoute: string | undefined = undefined;
  /** Framework spans to end when the response closes (one, or several). */
  private pending: Endable | Endable[] | undefined = undefined;
  /** The measurement's status code and error type, once known. */
  private status: number | undefined = undefined;
  private errorType: string | undefined = undefined;

  constructor(
    readonly telemetry: HttpServerTelemetry,
    span: Span,
    response: ServerResponse,
    readonly spanName: string,
    /** The measurement's method, scheme and protocol version (its other attributes come at the end). */
    private readonly method: string,
    private readonly scheme: string,
    private readonly version: string | undefined,
    readonly startedAt: number,
  ) {
    super(span, response);
  }

  /** The response's events, before its listeners run (when bound with an observer). */
  emitted(event: string | symbol, arg: unknown): void {
    try {
      if (event === 'finish') this.finished = true;
      else if (event === 'close' && this.response !== undefined) this.close(this.response as ServerResponse);
      else if (event === 'error') this.fail(arg);
    } catch (e) {
      reportOnce('http server span end', e);
    }
  }

  routeMatched(route: string): void {
    if (this.route === route) return;
    this.route = route;
    // Not once the span has ended (the client went away before the route was reached).
    if (this.ended) return;
    this.namedRoute = route;
    // The name now; the http.route attribute at the end, with the status code (see `end`).
    this.span.updateName(routeSpanName(this.spanName, route));
  }

  endWithResponse(span: Endable): void {
    if (this.closed) {
      span.end();
      return;
    }
    const pending = this.pending;
    if (pending === undefined) this.pending = span;
    else if (Array.isArray(pending)) pending.push(span);
    else this.pending = [pending, span];
  }

  /** The response closed (after it finished, or because the connection went away first). */
  close(res: ServerResponse): void {
    if (this.closed) return;
    this.closed = true;
    // The request's context can outlive the response (a timer started by a handler): let it go.
    this.response = undefined;
    const pending = this.pending;
    if (pending !== undefined) {
      this.pending = undefined;
      if (Array.isArray(pending)) for (const p of pending) p.end();
      else pending.end();
    }
    if (this.ended) return;
    const span = this.span;
    let spanErrorType: string | undefined;
    // A response that never sent its headers has no status code to report.
    if (this.finished || res.headersSent || res.writableFinished) {
      const status = res.statusCode;
      this.status = status;
      if (status >= 500 && status < 600) {
        // Server spans: 5xx is an error, 4xx is the client's (semantic conventions).
        span.setStatus({ code: SpanStatusCode.ERROR });
        spanErrorType = String(status);
        this.errorType = spanErrorType;
      }
    }
    const route = this.route;
    if (typeof route === 'string' && route.length > 0 && route !== this.namedRoute) {
      span.updateName(routeSpanName(this.spanName, route));
    }
    this.end(spanErrorType);
  }

  /** The request listener threw, or the response emitted 'error'. */
  fail(error: unknown): void {
    if (this.ended) return;
    recordFailure(this.span, error, true);
    this.errorType = errorType(error);
    this.end(undefined);
  }

  /**
   * Ends the span with its status code, 5xx error type and route, one frozen object per
   * combination (see {@link HttpServerTelemetry.spanEndSets}), and records the duration.
   */
  private end(spanErrorType: string | undefined): void {
    this.ended = true;
    const status = this.status;
    const route = this.route;
    const span = this.span;
    const routeValue = typeof route === 'string' && route.length > 0 ? route : undefined;
    if (status !== undefined || spanErrorType !== undefined || routeValue !== undefined) {
      setAttributeSet(span, this.telemetry.spanEndSets.get(status, spanErrorType, routeValue, undefined, undefined, undefined));
    }
    span.end();
    // Attributes in the order they were always listed: method, scheme, version, status, error, route.
    const attributes = this.telemetry.metricSets.get(this.method, this.scheme, this.version, this.status, this.errorType, routeValue);
    this.telemetry.duration().record((performance.now() - this.startedAt) / 1000, attributes, this.context);
  }
}

/**
 * 'close' listener shared by every tracked response (`this` is the response), for when the
 * response could not be bound with an observer (the agent's context manager is not the global one).
 */
function onResponseClose(this: TrackedResponse): void {
  const state = this[kServerRequest];
  if (state === undefined) return;
  try {
    state.close(this);
  } catch (e) {
    reportOnce('http server span end', e);
  }
}

/** errorMonitor listener shared by every tracked response. */
function onResponseError(this: TrackedResponse, error: unknown): void {
  const state = this[kServerRequest];
  if (state === undefined) return;
  try {
    state.fail(error);
  } catch (e) {
    reportOnce('http server span failure', e);
  }
}

/**
 * Runs the original `emit('request', req, res)` for the request `this` is; a synchronous throw
 * fails the span, then propagates. (`this` and three arguments: called without an arguments array.)
 */
function emitRequest(this: ServerRequest, server: unknown, original: Emit, args: IArguments): boolean {
  try {
    return original.apply(server, args as unknown as [string, ...unknown[]]);
  } catch (error) {
    try {
      this.fail(error);
    } catch (e) {
      reportOnce('http server span failure', e);
    }
    throw error;
  }
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Records incoming requests through one tracer and one meter. */
export class HttpServerTelemetry extends HttpTelemetry {
  /** The duration measurement's attribute sets (frozen, reused: see {@link AttributeSets}); looked up by route. */
  readonly metricSets = new AttributeSets(
    [HTTP_REQUEST_METHOD, URL_SCHEME, NETWORK_PROTOCOL_VERSION, HTTP_RESPONSE_STATUS_CODE, ERROR_TYPE, HTTP_ROUTE],
    5,
  );
  /**
   * The server span's attributes set at its end (status code, 5xx error type, route), frozen and
   * reused in the same way, so that the recorder names them by their set; looked up by route.
   */
  readonly spanEndSets = new AttributeSets([HTTP_RESPONSE_STATUS_CODE, ERROR_TYPE, HTTP_ROUTE], 2);

  constructor(tracer: Tracer, meter: Meter, knownMethods: ReadonlySet<string>) {
    super(tracer, meter, knownMethods, METRIC_SERVER_DURATION, 'Duration of HTTP server requests.');
  }

  /**
   * Wraps `prototype.emit` of a server class; `scheme` is `http` or `https`. Wrapping twice is a
   * no-op.
   */
  patch(prototype: { emit: Emit }, scheme: 'http' | 'https'): void {
    const original = prototype.emit;
    if ((original as unknown as Record<symbol, unknown>)[kPatched] === true) return;
    const telemetry = this;
    const emit = function emit(this: unknown, event: string | symbol): boolean {
      if (event !== 'request') return original.apply(this, arguments as unknown as [string, ...unknown[]]);
      return telemetry.incoming(this, original, arguments, scheme);
    };
    Object.defineProperty(emit, kPatched, { value: true });
    Object.defineProperty(emit, 'name', { value: 'emit' });
    prototype.emit = emit as Emit;
  }

  private incoming(server: unknown, original: Emit, args: IArguments, scheme: 'http' | 'https'): boolean {
    let state: ServerRequest | undefined;
    try {
      state = this.start(args[1] as IncomingMessage, args[2] as TrackedResponse, scheme);
    } catch (e) {
      reportOnce('http server span start', e);
    }
    if (state === undefined) return original.apply(server, args as unknown as [string, ...unknown[]]);
    return call3InContext(state.context, emitRequest as (a: never, b: never, c: never) => unknown, state, server, original, args) as boolean;
  }

  private start(req: IncomingMessage, res: TrackedResponse, scheme: 'http' | 'https'): ServerRequest | undefined {
    if (req === null || typeof req !== 'object' || res === null || typeof res !== 'object') return undefined;
    const headers = req.headers;
    const rawMethod = req.method ?? 'GET';
    const method = normalizeMethod(rawMethod, this.knownMethods);
    // The request's own attributes; the rest come from the connection (below).
    const attributes: Attributes = { [HTTP_REQUEST_METHOD]: method };
    if (method !== rawMethod) attributes[HTTP_REQUEST_METHOD_ORIGINAL] = rawMethod;

    // url.path and url.query from the request target (origin-form "/p?q" nearly always).
    const target = req.url ?? '/';
    let path: string | undefined;
    let query = '';
    if (target.charCodeAt(0) === 0x2f /* / */ || target === '*') {
      const q = target.indexOf('?');
      path = q < 0 ? target : target.slice(0, q);
      if (q >= 0) query = target.slice(q + 1);
    } else {
      try {
        const url = new URL(target); // absolute-form, through a proxy
        path = url.pathname;
        query = url.search.slice(1);
      } catch {
        path = undefined;
      }
    }
    if (path !== undefined) attributes[URL_PATH] = path;
    if (query.length > 0) attributes[URL_QUERY] = redactQuery(query);

    const version = req.httpVersion;
    const connection = connectionAttributes(req, headers, version, scheme);
    const startedAt = performance.now();
    // A fresh context per request (not the active one), as cheap to derive from as possible.
    const parent = propagation.extract(EMPTY_CONTEXT, headers);
    const spanName = spanNameFor(method);
    const span = startSpanParts(this.tracer, spanName, SpanKind.SERVER, attributes, connection, parent);
    const state = new ServerRequest(this, span, res, spanName, method, scheme, version || undefined, startedAt);
    const ctx = setRPCMetadata(trace.setSpan(parent, span), state);
    state.context = ctx;
    // Listeners the app adds to req/res (body parsers, 'finish' hooks) run in the request's context.
    bindTo(ctx, req as EventEmitter);
    // The response's 'close' ends the span: seen from its bound emit when the agent's context
    // manager is in use (nothing added to the response), else through listeners.
    const fast = fastContext();
    if (fast === undefined || !fast.bindObserved(ctx, res as EventEmitter, state)) {
      bindTo(ctx, res as EventEmitter);
      res[kServerRequest] = state;
      res.on('close', onResponseClose);
      res.on(errorMonitor, onResponseError);
    }
    return state;
  }
}

const kConnection = Symbol('otlp-mmap.http.connection');

/**
 * A connection's part of its server spans' attributes, and the request values it was made from.
 * Keep-alive requests on a connection nearly always send the same Host, User-Agent and forwarding
 * headers: while they do, the requests share this object, frozen from the second request on, so
 * that the recorder encodes it once and names it by a registered set after that (it frees the set
 * when the object is collected with its socket). A request whose values differ makes a new one.
 */
class ConnectionAttributes {
  constructor(
    readonly forwarded: unknown,
    readonly forwardedHost: unknown,
    readonly host: unknown,
    readonly forwardedFor: unknown,
    readonly userAgent: unknown,
    readonly version: string,
    readonly scheme: string,
    /** Frozen at the second request that uses it. */
    readonly attributes: Attributes,
  ) {}
}

type TrackedSocket = NonNullable<IncomingMessage['socket']> & { [kConnection]?: ConnectionAttributes };

/**
 * The server span's attributes that come from the connection and the headers a keep-alive
 * connection repeats: url.scheme, server.address and server.port, client.address,
 * network.peer.address and network.peer.port, network.protocol.version, user_agent.original.
 * The same object (frozen) while a connection's requests send the same values.
 * @internal Exported for tests.
 */
export function connectionAttributes(req: IncomingMessage, headers: IncomingMessage['headers'], version: string, scheme: 'http' | 'https'): Attributes {
  const socket = req.socket as TrackedSocket | null | undefined;
  const forwardedHeader = headers.forwarded;
  const forwardedHost = headers['x-forwarded-host'];
  const host = headers.host;
  const forwardedFor = headers['x-forwarded-for'];
  const userAgent = headers['user-agent'];
  const known = socket != null ? socket[kConnection] : undefined;
  if (
    known !== undefined &&
    known.forwarded === forwardedHeader &&
    known.forwardedHost === forwardedHost &&
    known.host === host &&
    known.forwardedFor === forwardedFor &&
    known.userAgent === userAgent &&
    known.version === version &&
    known.scheme === scheme
  ) {
    const attributes = known.attributes;
    return Object.isFrozen(attributes) ? attributes : Object.freeze(attributes);
  }
  const attributes: Attributes = { [URL_SCHEME]: scheme };
  // server.address/port: Forwarded host=, X-Forwarded-Host, then Host.
  const forwarded = firstHeader(forwardedHeader);
  const hostValue = (forwarded !== undefined ? forwardedParam(forwarded, 'host') : undefined) ?? firstHeader(forwardedHost) ?? host;
  if (hostValue !== undefined) {
    const parsed = parseHost(hostValue);
    if (parsed !== undefined) {
      attributes[SERVER_ADDRESS] = parsed.host;
      attributes[SERVER_PORT] = parsed.port ?? (scheme === 'https' ? 443 : 80);
    }
  }
  // client.address: Forwarded for=, X-Forwarded-For (first), then the peer.
  const peer = socket != null ? socket.remoteAddress : undefined;
  let client: string | undefined = forwarded !== undefined ? forwardedParam(forwarded, 'for') : undefined;
  if (client === undefined) {
    const xff = firstHeader(forwardedFor);
    if (xff !== undefined) {
      const first = xff.split(',', 1)[0]!.trim();
      if (first.length > 0) client = first;
    }
  }
  if (client !== undefined) attributes[CLIENT_ADDRESS] = stripPort(client);
  else if (peer !== undefined) attributes[CLIENT_ADDRESS] = peer;
  if (peer !== undefined && socket != null) {
    attributes[NETWORK_PEER_ADDRESS] = peer;
    const port = socket.remotePort;
    if (port !== undefined) attributes[NETWORK_PEER_PORT] = port;
  }
  if (version) attributes[NETWORK_PROTOCOL_VERSION] = version;
  if (userAgent !== undefined) attributes[USER_AGENT_ORIGINAL] = userAgent;
  if (socket != null) {
    socket[kConnection] = new ConnectionAttributes(forwardedHeader, forwardedHost, host, forwardedFor, userAgent, version, scheme, attributes);
  }
  return attributes;
}
