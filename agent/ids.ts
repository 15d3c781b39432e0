/**
 * Trace and span ids from a fast pseudo-random generator (xoshiro128**), seeded once from
 * `crypto`. No `crypto` call per span; ids are never all zero.
 *
 * An id comes both as lowercase hex (what `@opentelemetry/api` carries) and, for the agent's own
 * spans, as bytes (what the recorder writes): handing the recorder bytes spares it decoding a
 * fresh hex string per span, which showed as the agent's largest single cost in per-request
 * profiles. A span id's hex is built with one `String.fromCharCode` call, so it is a flat string
 * (a concatenation of that length is a rope that the first character read has to flatten).
 */
import { randomFillSync } from 'node:crypto';

/** The two lowercase hex character codes of every byte value: byte b at [2b] and [2b + 1]. */
const HEX_CODES = new Uint8Array(512);
for (let i = 0; i < 256; i++) {
  const h = (i < 16 ? '0' : '') + i.toString(16);
  HEX_CODES[2 * i] = h.charCodeAt(0);
  HEX_CODES[2 * i + 1] = h.charCodeAt(1);
}
const fromCharCode = String.fromCharCode;

/** 16 hex characters of two words, one flat string. */
function hex16(a: number, b: number): string {
  const c = HEX_CODES;
  const a0 = (a >>> 23) & 510;
  const a1 = (a >>> 15) & 510;
  const a2 = (a >>> 7) & 510;
  const a3 = (a & 255) << 1;
  const b0 = (b >>> 23) & 510;
  const b1 = (b >>> 15) & 510;
  const b2 = (b >>> 7) & 510;
  const b3 = (b & 255) << 1;
  return fromCharCode(
    c[a0], c[a0 + 1], c[a1], c[a1 + 1], c[a2], c[a2 + 1], c[a3], c[a3 + 1],
    c[b0], c[b0 + 1], c[b1], c[b1 + 1], c[b2], c[b2 + 1], c[b3], c[b3 + 1],
  );
}

/** Writes the big-endian bytes of `w` into `out` at `at`. */
function putWord(out: Uint8Array, at: number, w: number): void {
  out[at] = w >>> 24;
  out[at + 1] = w >>> 16;
  out[at + 2] = w >>> 8;
  out[at + 3] = w;
}

/** A seeded xoshiro128** generator producing 32-bit words. */
export class IdGenerator {
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;

  constructor(seed?: Uint32Array) {
    this.reseed(seed);
  }

  /** Reseeds from `seed` (four words) or from `crypto`. An all-zero seed is replaced. */
  reseed(seed?: Uint32Array): void {
    const s = seed ?? randomFillSync(new Uint32Array(4));
    this.a = s[0] >>> 0;
    this.b = s[1] >>> 0;
    this.c = s[2] >>> 0;
    this.d = s[3] >>> 0;
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 0x9e3779b9;
  }

  /** The next 32-bit word. */
  next(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** A new 32-hex-character trace id, never all zero. */
  traceId(): string {
    const bytes = new Uint8Array(16);
    this.traceIdBytes(bytes);
    return hexOf(bytes);
  }

  /** A new 16-hex-character span id, never all zero. */
  spanId(): string {
    const bytes = new Uint8Array(8);
    this.spanIdBytes(bytes);
    return hexOf(bytes);
  }

  /** A new trace id, never all zero: its 16 bytes into `out` (no hex made: see {@link hexOf}). */
  traceIdBytes(out: Uint8Array): void {
    let a: number, b: number, c: number, d: number;
    do {
      a = this.next();
      b = this.next();
      c = this.next();
      d = this.next();
    } while ((a | b | c | d) === 0);
    putWord(out, 0, a);
    putWord(out, 4, b);
    putWord(out, 8, c);
    putWord(out, 12, d);
  }

  /** A new span id, never all zero: its 8 bytes into `out` (no hex made). */
  spanIdBytes(out: Uint8Array): void {
    let a: number, b: number;
    do {
      a = this.next();
      b = this.next();
    } while ((a | b) === 0);
    putWord(out, 0, a);
    putWord(out, 4, b);
  }
}

/** Lower-case hex of 8 or 16 id bytes (big-endian words, as the generator writes them). */
export function hexOf(bytes: Uint8Array): string {
  const first = hex16(wordAt(bytes, 0), wordAt(bytes, 4));
  return bytes.length === 16 ? first + hex16(wordAt(bytes, 8), wordAt(bytes, 12)) : first;
}

function wordAt(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
