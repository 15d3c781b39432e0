/**
 * What the fetch (undici) instrumentation records: a CLIENT span per request with
 * current HTTP client semantic conventions, the `traceparent` (and whatever else
 * the global propagator writes) injected into the request, and the
 * `http.client.request.duration` histogram.
 */
import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  ValueType,
  type Attributes,
  type Context,
  type Histogram,
  type Meter,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  ATTR_URL_SCHEME,
  METRIC_HTTP_CLIENT_REQUEST_DURATION,
} from '@opentelemetry/semantic-conventions';
import { errorType, recordFailure } from '../common/errors';

/** What a request looks like when it is created. */
export interface OutgoingRequest {
  method: string;
  /** `http://host:port` */
  origin: string;
  /** Path and query. */
  path: string;
}

const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE', 'QUERY']);
const REDACTED_QUERY_KEYS = new Set(['AWSAccessKeyId', 'Signature', 'sig', 'X-Goog-Signature']);
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** The URL with credentials removed and signature query values replaced by `REDACTED`. */
export function redactedUrl(url: URL): string {
  const copy = new URL(url.href);
  if (copy.username) copy.username = 'REDACTED';
  if (copy.password) copy.password = 'REDACTED';
  let changed = false;
  for (const key of [...copy.searchParams.keys()]) {
    if (REDACTED_QUERY_KEYS.has(key)) {
      copy.searchParams.set(key, 'REDACTED');
      changed = true;
    }
  }
  return changed || copy.username || copy.password ? copy.href : url.href;
}

/** One request in flight. */
export class FetchOperation {
  private ended = false;

  constructor(
    private readonly span: Span,
    private readonly metricAttributes: Attributes,
    private readonly startedAt: number,
    private readonly histogram: Histogram,
    private readonly parentContext: Context,
  ) {}

  /** The response headers arrived. */
  responded(statusCode: number): void {
    if (this.ended) return;
    this.span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, statusCode);
    this.metricAttributes[ATTR_HTTP_RESPONSE_STATUS_CODE] = statusCode;
    if (statusCode >= 400) {
      // For a client span, 4xx and 5xx are errors; error.type is the status code.
      this.span.setStatus({ code: SpanStatusCode.ERROR });
      this.span.setAttribute(ATTR_ERROR_TYPE, String(statusCode));
      this.metricAttributes[ATTR_ERROR_TYPE] = String(statusCode);
    }
  }

  /** The request failed (connection refused, aborted, ...). */
  failed(error: unknown): void {
    if (this.ended) return;
    recordFailure(this.span, error, true);
    this.metricAttributes[ATTR_ERROR_TYPE] = errorType(error);
    this.end();
  }

  /** The response is complete. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.span.end();
    const seconds = (performance.now() - this.startedAt) / 1000;
    this.histogram.record(seconds, this.metricAttributes, trace.setSpan(this.parentContext, this.span));
  }
}

/** Records fetch requests through one tracer and one meter. */
export class FetchTelemetry {
  private histogram: Histogram | undefined;

  constructor(
    private readonly tracer: Tracer,
    private readonly meter: Meter,
  ) {}

  private durationHistogram(): Histogram {
    this.histogram ??= this.meter.createHistogram(METRIC_HTTP_CLIENT_REQUEST_DURATION, {
      description: 'Duration of HTTP client requests.',
      unit: 's',
      valueType: ValueType.DOUBLE,
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    return this.histogram;
  }

  /**
   * Starts the span of a request as a child of the active context and returns it
   * with the headers to add to the request (from the global propagator).
   */
  startRequest(request: OutgoingRequest): { operation: FetchOperation; headers: Record<string, string> } {
    const parentContext = context.active();
    const url = new URL(request.path, request.origin);
    const upper = request.method.toUpperCase();
    const method = KNOWN_METHODS.has(upper) ? upper : '_OTHER';
    const scheme = url.protocol.replace(/:$/, '');
    const port = url.port ? Number(url.port) : scheme === 'https' ? 443 : 80;

    const metricAttributes: Attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: method,
      [ATTR_SERVER_ADDRESS]: url.hostname,
      [ATTR_SERVER_PORT]: port,
      [ATTR_URL_SCHEME]: scheme,
    };
    const spanAttributes: Attributes = { ...metricAttributes, [ATTR_URL_FULL]: redactedUrl(url) };
    delete spanAttributes[ATTR_URL_SCHEME];
    if (method !== request.method) spanAttributes[ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = request.method;

    const span = this.tracer.startSpan(
      method === '_OTHER' ? 'HTTP' : method,
      { kind: SpanKind.CLIENT, attributes: spanAttributes },
      parentContext,
    );
    const headers: Record<string, string> = {};
    propagation.inject(trace.setSpan(parentContext, span), headers);
    const operation = new FetchOperation(span, metricAttributes, performance.now(), this.durationHistogram(), parentContext);
    return { operation, headers };
  }
}
