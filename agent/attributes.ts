/**
 * Attribute validation and limits. The fast path returns the caller's object untouched when
 * every value is valid and no limit bites; only then is nothing allocated.
 */
import type { Attributes } from '../index';

type Primitive = string | number | boolean | bigint | Uint8Array;

function isPrimitive(v: unknown): v is Primitive {
  const t = typeof v;
  return t === 'string' || t === 'number' || t === 'boolean' || t === 'bigint' || v instanceof Uint8Array;
}

/** True when `v` is a value the recorder takes: a primitive, or an array of primitives of one type (nulls allowed). */
export function isValidAttributeValue(v: unknown): boolean {
  if (isPrimitive(v)) return true;
  if (!Array.isArray(v)) return false;
  let type: string | undefined;
  for (const e of v) {
    if (e === null || e === undefined) continue;
    if (!isPrimitive(e)) return false;
    const t = e instanceof Uint8Array ? 'bytes' : typeof e;
    if (type === undefined) type = t;
    else if (t !== type) return false;
  }
  return true;
}

/** Truncates strings (and strings inside arrays) to `limit` characters. */
export function truncateValue(v: unknown, limit: number): unknown {
  if (typeof v === 'string') return v.length > limit ? v.slice(0, limit) : v;
  if (Array.isArray(v)) {
    let changed = false;
    const out = v.map((e) => {
      if (typeof e === 'string' && e.length > limit) {
        changed = true;
        return e.slice(0, limit);
      }
      return e;
    });
    return changed ? out : v;
  }
  return v;
}

/** Whether `v` (a string, or an array with strings) has a string longer than `limit`. */
export function needsTruncation(v: unknown, limit: number): boolean {
  if (typeof v === 'string') return v.length > limit;
  if (Array.isArray(v)) {
    for (const e of v) if (typeof e === 'string' && e.length > limit) return true;
  }
  return false;
}

/** The result of {@link applyLimits}. */
export interface Limited {
  attributes: Attributes | undefined;
  /** Keys kept. */
  count: number;
  /** Attributes dropped by the count limit or for an invalid value. */
  dropped: number;
}

const NONE: Limited = Object.freeze({ attributes: undefined, count: 0, dropped: 0 });

/**
 * Applies a count limit and a value length limit to `attrs`, dropping invalid values
 * (`undefined`/`null` values are skipped without counting as dropped).
 *
 * @param attrs - the caller's attributes (not modified).
 * @param countLimit - the most keys to keep.
 * @param lengthLimit - the longest string value; `Infinity` for no limit.
 */
export function applyLimits(attrs: object | undefined | null, countLimit: number, lengthLimit: number): Limited {
  if (attrs === undefined || attrs === null) return NONE;
  const src = attrs as Record<string, unknown>;
  let count = 0;
  let clean = true;
  for (const key in src) {
    const v = src[key];
    if (v === undefined || v === null) continue;
    if (!isValidAttributeValue(v) || (lengthLimit !== Infinity && needsTruncation(v, lengthLimit))) {
      clean = false;
      break;
    }
    count++;
  }
  if (clean && count <= countLimit) return { attributes: src as Attributes, count, dropped: 0 };
  const out: Attributes = {};
  count = 0;
  let dropped = 0;
  for (const key in src) {
    const v = src[key];
    if (v === undefined || v === null) continue;
    if (!isValidAttributeValue(v) || count >= countLimit) {
      dropped++;
      continue;
    }
    out[key] = (lengthLimit === Infinity ? v : truncateValue(v, lengthLimit)) as Attributes[string];
    count++;
  }
  return { attributes: out, count, dropped };
}
