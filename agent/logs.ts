/**
 * The `@opentelemetry/api-logs` LoggerProvider on the native recorder: every emitted record is
 * one `Event` in the events ring, with severity, body, attributes, event name and the trace
 * context of the record's context (or the active one).
 */
import { context as contextApi, isSpanContextValid, trace as traceApi, type SpanContext } from '@opentelemetry/api';
import type {
  AnyValue as LogAnyValue,
  Logger as ApiLogger,
  LoggerOptions,
  LoggerProvider as ApiLoggerProvider,
  LogRecord,
} from '@opentelemetry/api-logs';
import { createNoopLogger } from '@opentelemetry/api-logs';
import type { AnyValue, Attributes, Recorder } from '../index';
import { applyLimits } from './attributes';
import type { LogRecordLimits } from './config';
import { reportOnce } from './log';
import { toNanos } from './time';

/** What every logger of one provider shares. */
export interface LogsShared {
  recorder: Recorder;
  resourceRef: number;
  limits: LogRecordLimits;
  /** False with `OTEL_LOGS_EXPORTER=none`: every logger is a no-op. */
  record?: boolean;
  /** Interns an event name, through a bounded cache. */
  eventNameRef(name: string): number;
}

/** Converts values the recorder cannot write (functions, symbols, Dates, class instances...) to strings. */
function sanitizeAnyValue(v: unknown, depth = 0): AnyValue {
  if (v === null || v === undefined) return v;
  const t = typeof v;
  if (t === 'string' || t === 'number' || t === 'boolean' || t === 'bigint' || v instanceof Uint8Array) return v as AnyValue;
  if (depth > 8) return String(v);
  if (Array.isArray(v)) return v.map((e) => sanitizeAnyValue(e, depth + 1));
  if (t === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, AnyValue> = {};
    for (const k of Object.keys(v as object)) out[k] = sanitizeAnyValue((v as Record<string, unknown>)[k], depth + 1);
    return out;
  }
  if (v instanceof Date) return v.toISOString();
  return String(v);
}

function exceptionAttributes(exception: unknown, into: Record<string, unknown>): void {
  if (typeof exception === 'string') {
    into['exception.message'] = exception;
    return;
  }
  if (exception === null || typeof exception !== 'object') return;
  const e = exception as { name?: unknown; code?: unknown; message?: unknown; stack?: unknown };
  if (e.code !== undefined && e.code !== null) into['exception.type'] = String(e.code);
  else if (typeof e.name === 'string') into['exception.type'] = e.name;
  if (typeof e.message === 'string') into['exception.message'] = e.message;
  if (typeof e.stack === 'string') into['exception.stacktrace'] = e.stack;
}

/** One logger: one instrumentation scope. */
export class Logger implements ApiLogger {
  /** @internal */
  constructor(
    private readonly shared: LogsShared,
    private readonly scopeRef: number,
  ) {}

  emit(record: LogRecord): void {
    try {
      if (record === null || typeof record !== 'object') return;
      const shared = this.shared;
      let spanContext: SpanContext | undefined;
      const span = traceApi.getSpan(record.context ?? contextApi.active());
      if (span !== undefined) {
        const sc = span.spanContext();
        if (isSpanContextValid(sc)) spanContext = sc;
      }
      let attrs: object | undefined = record.attributes;
      if (record.exception !== undefined && record.exception !== null) {
        const withException: Record<string, unknown> = { ...(record.attributes ?? {}) };
        exceptionAttributes(record.exception, withException);
        attrs = withException;
      }
      const limited = applyLimits(attrs, shared.limits.attributeCountLimit, shared.limits.attributeValueLengthLimit);
      const eventNameRef = typeof record.eventName === 'string' && record.eventName !== '' ? shared.eventNameRef(record.eventName) : 0;
      const extra: { severityNumber?: number; severityText?: string; body?: AnyValue } = {};
      if (typeof record.severityNumber === 'number' && record.severityNumber >= 0 && record.severityNumber <= 24) {
        extra.severityNumber = record.severityNumber;
      }
      if (typeof record.severityText === 'string') extra.severityText = record.severityText;
      if (record.body !== undefined) extra.body = record.body as AnyValue;
      const time = toNanos(record.timestamp);
      try {
        shared.recorder.recordEvent(this.scopeRef, spanContext, eventNameRef, time, limited.attributes, extra);
      } catch {
        // An unsupported body value: write it with such values turned into strings.
        if (extra.body !== undefined) extra.body = sanitizeAnyValue(record.body as LogAnyValue);
        shared.recorder.recordEvent(this.scopeRef, spanContext, eventNameRef, time, limited.attributes as Attributes, extra);
      }
    } catch (e) {
      reportOnce('logger.emit', e);
    }
  }

  enabled(): boolean {
    return true;
  }
}

/** The global logger provider: one {@link Logger} (one scope) per name, version and schema URL. */
export class LoggerProvider implements ApiLoggerProvider {
  private readonly loggers = new Map<string, Logger>();

  /** @internal */
  constructor(private readonly shared: LogsShared) {}

  getLogger(name: string, version?: string, options?: LoggerOptions): ApiLogger {
    if (this.shared.record === false) return createNoopLogger();
    const n = typeof name === 'string' ? name : '';
    const key = `${n}\0${version ?? ''}\0${options?.schemaUrl ?? ''}`;
    let logger = this.loggers.get(key);
    if (logger === undefined) {
      let scopeRef = 0;
      try {
        const attributes = options?.attributes as Attributes | undefined;
        scopeRef = this.shared.recorder.createInstrumentationScope(this.shared.resourceRef, n, version, attributes);
      } catch (e) {
        reportOnce('getLogger', e);
      }
      logger = new Logger(this.shared, scopeRef);
      this.loggers.set(key, logger);
    }
    return logger;
  }

  /** Nothing is buffered: resolves at once. */
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing to release: resolves at once. */
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
