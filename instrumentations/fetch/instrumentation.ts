/**
 * The fetch hooks: Node's global `fetch` is undici, which publishes every request
 * on `diagnostics_channel`. `undici:request:create` starts the span and adds the
 * propagation headers; `undici:request:headers` gives the status;
 * `undici:request:trailers` (the body is done) and `undici:request:error` end it.
 * fetch does not use the `http` module, so the http instrumentation never sees
 * these requests: nothing is recorded twice.
 */
import { diag, type MeterProvider, type TracerProvider } from '@opentelemetry/api';
import diagnosticsChannel = require('node:diagnostics_channel');
import { VersionRange } from '../common/versionRange';
import { INSTRUMENTATION_VERSION, SCOPE_PREFIX } from '../version';
import { FetchTelemetry, type FetchOperation } from './telemetry';

/** The undici versions (as bundled with Node, `process.versions.undici`) instrumented. */
export const UNDICI_VERSIONS = new VersionRange('>=5.0.0 <8.0.0');

/** The part of undici's request object the hooks use. */
interface UndiciRequest {
  method?: unknown;
  origin?: unknown;
  path?: unknown;
  addHeader?: (name: string, value: string) => unknown;
}

interface CreateMessage {
  request: UndiciRequest;
}
interface HeadersMessage {
  request: UndiciRequest;
  response: { statusCode?: unknown };
}
interface ErrorMessage {
  request: UndiciRequest;
  error: unknown;
}

let installed = false;

/**
 * Subscribes to undici's channels. Returns false (with a diag message) when the
 * running Node's undici is outside the supported range.
 */
export function enableFetchInstrumentation(tracerProvider: TracerProvider, meterProvider: MeterProvider): boolean {
  if (installed) return true;
  const version = process.versions.undici;
  if (!UNDICI_VERSIONS.includes(version)) {
    diag.warn(
      `otlp-mmap: undici ${version ?? '(not bundled)'} is not supported (supported: ${UNDICI_VERSIONS.text}); fetch is not instrumented`,
    );
    return false;
  }
  installed = true;
  const telemetry = new FetchTelemetry(
    tracerProvider.getTracer(`${SCOPE_PREFIX}fetch`, INSTRUMENTATION_VERSION),
    meterProvider.getMeter(`${SCOPE_PREFIX}fetch`, INSTRUMENTATION_VERSION),
  );
  const inFlight = new WeakMap<object, FetchOperation>();

  diagnosticsChannel.subscribe('undici:request:create', (message) => {
    try {
      const { request } = message as CreateMessage;
      if (typeof request.method !== 'string' || typeof request.origin !== 'string') return;
      const path = typeof request.path === 'string' ? request.path : '/';
      const { operation, headers } = telemetry.startRequest({ method: request.method, origin: request.origin, path });
      inFlight.set(request, operation);
      if (typeof request.addHeader === 'function') {
        for (const [name, value] of Object.entries(headers)) request.addHeader(name, value);
      }
    } catch (err) {
      diag.debug('otlp-mmap: fetch span not started', err);
    }
  });
  diagnosticsChannel.subscribe('undici:request:headers', (message) => {
    try {
      const { request, response } = message as HeadersMessage;
      const statusCode = Number(response.statusCode);
      if (Number.isInteger(statusCode)) inFlight.get(request)?.responded(statusCode);
    } catch (err) {
      diag.debug('otlp-mmap: fetch response not recorded', err);
    }
  });
  diagnosticsChannel.subscribe('undici:request:trailers', (message) => {
    try {
      const { request } = message as CreateMessage;
      inFlight.get(request)?.end();
      inFlight.delete(request);
    } catch (err) {
      diag.debug('otlp-mmap: fetch span not ended', err);
    }
  });
  diagnosticsChannel.subscribe('undici:request:error', (message) => {
    try {
      const { request, error } = message as ErrorMessage;
      inFlight.get(request)?.failed(error);
      inFlight.delete(request);
    } catch (err) {
      diag.debug('otlp-mmap: fetch error not recorded', err);
    }
  });
  return true;
}
