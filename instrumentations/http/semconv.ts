/**
 * The HTTP semantic conventions (stable, v1.23+) as the http instrumentation uses them: the
 * attribute and metric names, method normalisation (`OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`),
 * `Host`/`Forwarded` parsing and query redaction. Names are plain string constants here rather
 * than imports from `@opentelemetry/semantic-conventions`: these run on every request, and in the
 * agent's bundle an imported constant is a getter call.
 */

export const HTTP_REQUEST_METHOD = 'http.request.method';
export const HTTP_REQUEST_METHOD_ORIGINAL = 'http.request.method_original';
export const HTTP_RESPONSE_STATUS_CODE = 'http.response.status_code';
export const HTTP_ROUTE = 'http.route';
export const URL_SCHEME = 'url.scheme';
export const URL_PATH = 'url.path';
export const URL_QUERY = 'url.query';
export const URL_FULL = 'url.full';
export const SERVER_ADDRESS = 'server.address';
export const SERVER_PORT = 'server.port';
export const CLIENT_ADDRESS = 'client.address';
export const NETWORK_PEER_ADDRESS = 'network.peer.address';
export const NETWORK_PEER_PORT = 'network.peer.port';
export const NETWORK_PROTOCOL_VERSION = 'network.protocol.version';
export const USER_AGENT_ORIGINAL = 'user_agent.original';
export const ERROR_TYPE = 'error.type';

export const METRIC_SERVER_DURATION = 'http.server.request.duration';
export const METRIC_CLIENT_DURATION = 'http.client.request.duration';
/** The semantic conventions' advised buckets for both duration histograms, in seconds. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** RFC 9110 methods, PATCH (RFC 5789) and QUERY: the default known methods of the semantic conventions. */
const DEFAULT_KNOWN_METHODS = ['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE', 'QUERY'];

/**
 * The known HTTP methods: `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS` (comma-separated, case-sensitive,
 * replacing the default list) when set and not empty, else the semantic conventions' list.
 *
 * @param env - the environment to read.
 */
export function knownMethods(env: NodeJS.ProcessEnv = process.env): ReadonlySet<string> {
  const raw = env.OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS;
  if (raw !== undefined) {
    const list = raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    if (list.length > 0) return new Set(list);
  }
  return new Set(DEFAULT_KNOWN_METHODS);
}

/**
 * `http.request.method`: the method when it is known (case-sensitively, as the conventions ask),
 * else its upper-case form when that is known, else `_OTHER`.
 */
export function normalizeMethod(method: string, known: ReadonlySet<string>): string {
  if (known.has(method)) return method;
  const upper = method.toUpperCase();
  return known.has(upper) ? upper : '_OTHER';
}

/** The span name for a method: the normalised method, or `HTTP` for an unknown one. */
export function spanNameFor(normalized: string): string {
  return normalized === '_OTHER' ? 'HTTP' : normalized;
}

/** A `Host` value taken apart (shared between calls: do not modify). */
export interface HostAndPort {
  readonly host: string;
  readonly port: number | undefined;
}

let lastHostValue: string | undefined;
let lastHost: HostAndPort | undefined;

/**
 * Host and optional port from a `Host` value (`example.com`, `example.com:8080`, `[::1]:8080`).
 * A server sees the same few values over and over: the last one is remembered.
 */
export function parseHost(value: string): HostAndPort | undefined {
  if (value === lastHostValue) return lastHost;
  const parsed = parseHostValue(value);
  lastHostValue = value;
  lastHost = parsed === undefined ? undefined : Object.freeze(parsed);
  return lastHost;
}

function parseHostValue(value: string): HostAndPort | undefined {
  if (value.length === 0) return undefined;
  let host: string;
  let rest: string;
  if (value.charCodeAt(0) === 0x5b /* [ */) {
    const close = value.indexOf(']');
    if (close < 0) return undefined;
    host = value.slice(1, close);
    rest = value.slice(close + 1);
  } else {
    const colon = value.indexOf(':');
    if (colon < 0) return { host: value, port: undefined };
    if (value.indexOf(':', colon + 1) >= 0) return { host: value, port: undefined }; // bare IPv6
    host = value.slice(0, colon);
    rest = value.slice(colon);
  }
  if (rest.length === 0) return { host, port: undefined };
  if (rest.charCodeAt(0) !== 0x3a /* : */) return undefined;
  const port = Number(rest.slice(1));
  return { host, port: Number.isInteger(port) && port > 0 && port <= 65535 ? port : undefined };
}

/**
 * One parameter of the first element of a `Forwarded` header (RFC 7239), unquoted, e.g.
 * `forwardedParam('for=192.0.2.60;proto=http, for=198.51.100.17', 'for')` is `192.0.2.60`.
 */
export function forwardedParam(header: string, name: string): string | undefined {
  const first = header.split(',', 1)[0]!;
  for (const pair of first.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    if (pair.slice(0, eq).trim().toLowerCase() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.charCodeAt(0) === 0x22 && value.charCodeAt(value.length - 1) === 0x22) {
      value = value.slice(1, -1);
    }
    return value.length > 0 ? value : undefined;
  }
  return undefined;
}

/** An address without its port: `203.0.113.9:4711` -> `203.0.113.9`, `[2001:db8::1]:80` -> `2001:db8::1`. */
export function stripPort(address: string): string {
  if (address.charCodeAt(0) === 0x5b) {
    const close = address.indexOf(']');
    return close > 0 ? address.slice(1, close) : address;
  }
  const colon = address.indexOf(':');
  if (colon >= 0 && address.indexOf(':', colon + 1) < 0) return address.slice(0, colon);
  return address;
}

/** Query keys whose values are replaced by `REDACTED` (signatures and keys in pre-signed URLs). */
const REDACTED_QUERY_KEYS = ['AWSAccessKeyId', 'Signature', 'sig', 'X-Goog-Signature'];

/**
 * A query string (without `?`) with the values of signature parameters replaced by `REDACTED`;
 * the string itself when it holds none of them (the common case costs two substring searches).
 */
export function redactQuery(query: string): string {
  if (!query.includes('sig') && !query.includes('Sig') && !query.includes('AWSAccessKeyId')) return query;
  let changed = false;
  const parts = query.split('&');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    let decoded = key;
    try {
      decoded = decodeURIComponent(key.replace(/\+/g, ' '));
    } catch {
      // keep the raw key
    }
    if (REDACTED_QUERY_KEYS.includes(decoded)) {
      parts[i] = `${key}=REDACTED`;
      changed = true;
    }
  }
  return changed ? parts.join('&') : query;
}
