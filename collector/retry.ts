/**
 * Retry policy for exports: which failures are worth retrying, exponential
 * backoff with full jitter, and the `Retry-After` header.
 */

/** HTTP statuses the OTLP specification says to retry. */
export const RETRYABLE_HTTP_STATUS: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/** Longest wait honoured from a server's `Retry-After` (10 minutes). */
export const MAX_RETRY_AFTER_MS = 600_000;

/**
 * Backoff before attempt `attempt + 1` (attempt counts from 1): a random delay in
 * `[d/2, d]` where `d = min(max, initial * 2^(attempt-1))`.
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, initialMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.round(exp / 2 + (random() * exp) / 2);
}

/**
 * Parses a `Retry-After` header: delay-seconds or an HTTP-date. Returns
 * milliseconds (capped at `MAX_RETRY_AFTER_MS`), or `undefined` when absent or unreadable.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const trimmed = v.trim();
  if (/^\d+$/.test(trimmed)) return Math.min(Number(trimmed) * 1000, MAX_RETRY_AFTER_MS);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.min(Math.max(0, date - now), MAX_RETRY_AFTER_MS);
}
