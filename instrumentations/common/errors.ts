import { Span, SpanStatusCode } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';

/** An `Error` for `recordException` and a message for the status, from any thrown value. */
export function asErrorAndMessage(value: unknown): [Error | string, string] {
  if (value instanceof Error) return [value, value.message];
  const text = typeof value === 'string' ? value : safeString(value);
  return [text, text];
}

/**
 * The `error.type` of a failure: a string `code` when the error has one
 * (`ECONNREFUSED`, a PostgreSQL SQLSTATE such as `42P01`), else its class name.
 */
export function errorType(value: unknown): string {
  if (value !== null && typeof value === 'object') {
    const code = (value as { code?: unknown }).code;
    if (typeof code === 'string' && code.length > 0) return code;
    const name = (value as { name?: unknown }).name;
    if (typeof name === 'string' && name.length > 0) return name;
    const ctor = (value as { constructor?: { name?: unknown } }).constructor;
    if (ctor && typeof ctor.name === 'string' && ctor.name.length > 0) return ctor.name;
  }
  return '_OTHER';
}

/**
 * Marks a span failed: an `exception` event, status ERROR with the message and,
 * when `withErrorType` is set, the `error.type` attribute.
 */
export function recordFailure(span: Span, value: unknown, withErrorType: boolean): void {
  const [error, message] = asErrorAndMessage(value);
  span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
  if (withErrorType) span.setAttribute(ATTR_ERROR_TYPE, errorType(value));
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return 'unknown error';
  }
}
