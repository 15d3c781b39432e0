/** Conversion of `@opentelemetry/api` `TimeInput` values to the recorder's nanosecond times. */
import type { HrTime, TimeInput } from '@opentelemetry/api';

const timeOrigin = performance.timeOrigin;

function isHrTime(t: unknown): t is HrTime {
  return Array.isArray(t) && t.length === 2 && typeof t[0] === 'number' && typeof t[1] === 'number';
}

/** Milliseconds since the epoch (fractional allowed) to bigint nanoseconds without losing the fraction. */
function millisToNanos(ms: number): bigint {
  const whole = Math.floor(ms);
  return BigInt(whole) * 1000000n + BigInt(Math.round((ms - whole) * 1e6));
}

/**
 * Converts a `TimeInput` (epoch milliseconds, `performance.now()`-relative milliseconds, a
 * `Date` or an `HrTime`) to bigint nanoseconds since the epoch, as `@opentelemetry/core` reads
 * them. `undefined` and invalid inputs give `undefined`, which the recorder reads as "now".
 *
 * @param t - the time, or `undefined`.
 */
export function toNanos(t: TimeInput | undefined): bigint | undefined {
  if (t === undefined || t === null) return undefined;
  if (typeof t === 'number') {
    if (!Number.isFinite(t) || t < 0) return undefined;
    return millisToNanos(t < timeOrigin ? timeOrigin + t : t);
  }
  if (t instanceof Date) {
    const ms = t.getTime();
    return Number.isFinite(ms) && ms >= 0 ? millisToNanos(ms) : undefined;
  }
  if (isHrTime(t)) {
    if (!Number.isFinite(t[0]) || !Number.isFinite(t[1]) || t[0] < 0 || t[1] < 0) return undefined;
    return BigInt(Math.trunc(t[0])) * 1000000000n + BigInt(Math.trunc(t[1]));
  }
  return undefined;
}
