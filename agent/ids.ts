/**
 * Trace and span ids from a fast pseudo-random generator (xoshiro128**), seeded once from
 * `crypto`. No `crypto` call per span; ids are lowercase hex, the form `@opentelemetry/api` and
 * the recorder both take, and never all zero.
 */
import { randomFillSync } from 'node:crypto';

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push((i < 16 ? '0' : '') + i.toString(16));

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

  private word(): string {
    const w = this.next();
    return HEX[w >>> 24] + HEX[(w >>> 16) & 255] + HEX[(w >>> 8) & 255] + HEX[w & 255];
  }

  /** A new 32-hex-character trace id, never all zero. */
  traceId(): string {
    for (;;) {
      const id = this.word() + this.word() + this.word() + this.word();
      if (id !== '00000000000000000000000000000000') return id;
    }
  }

  /** A new 16-hex-character span id, never all zero. */
  spanId(): string {
    for (;;) {
      const id = this.word() + this.word();
      if (id !== '0000000000000000') return id;
    }
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
