/**
 * A minimal protobuf wire-format reader and writer for OTLP *messages* (not the
 * mmap file: that is decoded in Rust). The collector uses it to read export
 * responses (`partial_success`), to print batches with the console exporter,
 * and to encode its own `otlp_mmap.*` metrics.
 *
 * Every read is bounds-checked: a malformed buffer throws a `WireError`.
 */

/** Protobuf wire types. */
export const WireType = {
  Varint: 0,
  Fixed64: 1,
  LengthDelimited: 2,
  Fixed32: 5,
} as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

/** A malformed protobuf buffer. */
export class WireError extends Error {
  override name = 'WireError';
}

/** Reads fields from one protobuf message. */
export class ProtoReader {
  private pos: number;

  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.pos = start;
  }

  /** True while fields remain. */
  more(): boolean {
    return this.pos < this.end;
  }

  /** Reads a field tag; returns the field number and wire type. */
  tag(): { field: number; wire: number } {
    const t = this.varint();
    const field = Number(t >> 3n);
    if (field === 0) throw new WireError(`field number 0 at byte ${this.pos}`);
    return { field, wire: Number(t & 7n) };
  }

  /** Reads a varint as a bigint (at most 10 bytes). */
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError('truncated varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return BigInt.asUintN(64, result);
      shift += 7n;
    }
    throw new WireError('varint longer than 10 bytes');
  }

  /** Reads a varint that must fit a JS number (lengths, enums, uint32). */
  uint(): number {
    return Number(BigInt.asUintN(32, this.varint()));
  }

  /** Reads an int32 (negative values are sign-extended to 64 bits on the wire). */
  int32(): number {
    return Number(BigInt.asIntN(32, this.varint()));
  }

  /** Reads a zig-zag sint32. */
  sint32(): number {
    const v = this.uint();
    return (v >>> 1) ^ -(v & 1);
  }

  fixed64(): bigint {
    this.need(8);
    const v = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, 8).readBigUInt64LE(0);
    this.pos += 8;
    return v;
  }

  sfixed64(): bigint {
    return BigInt.asIntN(64, this.fixed64());
  }

  fixed32(): number {
    this.need(4);
    const v = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, 4).readUInt32LE(0);
    this.pos += 4;
    return v;
  }

  double(): number {
    this.need(8);
    const v = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, 8).readDoubleLE(0);
    this.pos += 8;
    return v;
  }

  /** Reads a length-delimited field and returns its bounds in the buffer. */
  span(): { start: number; end: number } {
    const len = this.uint();
    this.need(len);
    const start = this.pos;
    this.pos += len;
    return { start, end: this.pos };
  }

  bytes(): Uint8Array {
    const { start, end } = this.span();
    return this.buf.subarray(start, end);
  }

  string(): string {
    return Buffer.from(this.bytes()).toString('utf8');
  }

  /** A reader over an embedded message. */
  message(): ProtoReader {
    const { start, end } = this.span();
    return new ProtoReader(this.buf, start, end);
  }

  /** Skips a field of the given wire type. */
  skip(wire: number): void {
    switch (wire) {
      case WireType.Varint:
        this.varint();
        return;
      case WireType.Fixed64:
        this.need(8);
        this.pos += 8;
        return;
      case WireType.LengthDelimited:
        this.span();
        return;
      case WireType.Fixed32:
        this.need(4);
        this.pos += 4;
        return;
      default:
        throw new WireError(`unsupported wire type ${wire}`);
    }
  }

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw new WireError(`truncated field: need ${n} bytes at ${this.pos}, message ends at ${this.end}`);
  }
}

/**
 * Builds a protobuf message. Nested messages are built with their own writer
 * and added with `message()`, so lengths are always known.
 */
export class ProtoWriter {
  private readonly parts: Buffer[] = [];
  private size = 0;

  get length(): number {
    return this.size;
  }

  private push(b: Buffer): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }

  private rawVarint(v: bigint): this {
    let x = BigInt.asUintN(64, v);
    const out: number[] = [];
    while (x >= 0x80n) {
      out.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    out.push(Number(x));
    return this.push(Buffer.from(out));
  }

  private key(field: number, wire: WireType): this {
    return this.rawVarint(BigInt(field) * 8n + BigInt(wire));
  }

  varint(field: number, v: number | bigint | boolean): this {
    const n = typeof v === 'boolean' ? (v ? 1n : 0n) : BigInt(v);
    return this.key(field, WireType.Varint).rawVarint(n);
  }

  fixed64(field: number, v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, v));
    return this.key(field, WireType.Fixed64).push(b);
  }

  sfixed64(field: number, v: bigint): this {
    return this.fixed64(field, BigInt.asUintN(64, v));
  }

  double(field: number, v: number): this {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    return this.key(field, WireType.Fixed64).push(b);
  }

  bytes(field: number, v: Uint8Array): this {
    return this.key(field, WireType.LengthDelimited).rawVarint(BigInt(v.length)).push(Buffer.from(v.buffer, v.byteOffset, v.length));
  }

  string(field: number, v: string): this {
    return this.bytes(field, Buffer.from(v, 'utf8'));
  }

  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.finish());
  }

  finish(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}
