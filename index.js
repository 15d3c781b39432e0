'use strict';
// otlp-mmap: the JS half of the native recorder and reader.
//
// The native addon (Rust, Node-API) does the writing. This file:
//  - picks the binary for this platform (napi-rs naming) and explains how to build
//    one when none fits;
//  - validates every argument (TypeError/RangeError naming the argument and value);
//  - writes the arguments into one reused call buffer, so each telemetry call
//    crosses into native code exactly once with a single handle argument
//    (see native/src/recorder/args.rs for the layout).

const fs = require('node:fs');
const path = require('node:path');

// ------------------------------------------------------------------ loading

/** The napi-rs platform triple of this process, e.g. `linux-x64-gnu`. */
function platformTriple() {
  const { platform, arch } = process;
  if (platform === 'linux') {
    // musl systems have the musl dynamic loader; checking for it is far cheaper than
    // process.report.getReport() (~10 ms), which is only the fallback.
    let libc = 'gnu';
    const muslLoader = { x64: '/lib/ld-musl-x86_64.so.1', arm64: '/lib/ld-musl-aarch64.so.1', arm: '/lib/ld-musl-armhf.so.1' }[arch];
    if (muslLoader && fs.existsSync(muslLoader)) {
      libc = 'musl';
    } else if (!muslLoader) {
      try {
        const report = process.report && process.report.getReport();
        const header = report && (typeof report === 'string' ? JSON.parse(report).header : report.header);
        if (header && !header.glibcVersionRuntime) libc = 'musl';
      } catch {
        libc = fs.existsSync('/etc/alpine-release') ? 'musl' : 'gnu';
      }
    }
    const armAbi = arch === 'arm' ? 'eabihf' : libc;
    return `linux-${arch}-${armAbi}`;
  }
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

let nativeBinding = null;
let nativeError = null;

/** Loads (once) and returns the native binding, or throws an Error naming the platform. */
function loadNative() {
  if (nativeBinding) return nativeBinding;
  if (nativeError) throw nativeError;
  const triple = platformTriple();
  const candidates = [];
  if (process.env.OTLP_MMAP_NATIVE_PATH) candidates.push(process.env.OTLP_MMAP_NATIVE_PATH);
  candidates.push(path.join(__dirname, `otlp-mmap.${triple}.node`));
  const failures = [];
  for (const file of candidates) {
    if (!fs.existsSync(file)) {
      failures.push(`${file} (missing)`);
      continue;
    }
    try {
      nativeBinding = require(file);
      return nativeBinding;
    } catch (e) {
      failures.push(`${file} (${e && e.message})`);
    }
  }
  nativeError = new Error(
    `otlp-mmap: no native binary for this platform (${triple}, Node ${process.version}). ` +
      `Looked for: ${failures.join('; ')}. ` +
      'Build it from the package directory with `npm run build:native` (needs Rust and cargo), ' +
      'or install a package built for this platform.',
  );
  nativeError.code = 'OTLP_MMAP_NO_NATIVE';
  throw nativeError;
}

// ------------------------------------------------------------------ helpers

/** `arg.key` for error messages (`key` may be undefined). */
function argPath(arg, key) {
  return key === undefined ? arg : `${arg}.${key}`;
}

function describe(v) {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 60) + '…' : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return `function ${v.name || '(anonymous)'}`;
  if (v instanceof Uint8Array) return `${v.constructor.name} of ${v.length} bytes`;
  if (Array.isArray(v)) return `array of ${v.length}`;
  if (typeof v === 'object') return `object ${Object.prototype.toString.call(v)}`;
  return `${typeof v} ${String(v)}`;
}

const MAX_U64 = (1n << 64n) - 1n;
const REF_STRING = 1;
const REF_RESOURCE = 2;
const REF_SCOPE = 3;
const REF_METRIC = 4;

const TAG_STRING = 1;
const TAG_BOOL = 2;
const TAG_INT_NUMBER = 3;
const TAG_DOUBLE = 4;
const TAG_BIGINT = 5;
const TAG_BYTES = 6;
const TAG_ARRAY = 7;
const TAG_KVLIST = 8;
const TAG_EMPTY = 9;

const AGG_GAUGE = 1;
const AGG_SUM = 2;
const AGG_HISTOGRAM = 3;
const AGG_EXP = 4;

const defaultRecorderOptions = Object.freeze({
  events: Object.freeze({ slots: 1024, slotSize: 2048 }),
  spans: Object.freeze({ slots: 4096, slotSize: 1280 }),
  measurements: Object.freeze({ slots: 2048, slotSize: 256 }),
  dictionaryBytes: 1 << 20,
  maxDictionaryBytes: 64 << 20,
  mode: 0o600,
});

function ringOption(options, name, field, fallback) {
  const ring = options[name];
  if (ring !== undefined && (ring === null || typeof ring !== 'object')) {
    throw new TypeError(`options.${name} must be an object like { slots, slotSize }, got ${describe(ring)}`);
  }
  let v = ring && ring[field] !== undefined ? ring[field] : options[field];
  const arg = ring && ring[field] !== undefined ? `options.${name}.${field}` : `options.${field}`;
  if (v === undefined) v = fallback;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${arg} must be an integer, got ${describe(v)}`);
  if (field === 'slots' && (v < 2 || v > 1 << 24 || (v & (v - 1)) !== 0)) {
    throw new RangeError(`${arg} must be a power of two from 2 to 16777216, got ${v}`);
  }
  if (field === 'slotSize' && (v < 64 || v > 1 << 20 || v % 8 !== 0)) {
    throw new RangeError(`${arg} must be a multiple of 8 from 64 to 1048576, got ${v}`);
  }
  return v;
}

function intOption(options, name, fallback, min, max) {
  const v = options[name] === undefined ? fallback : options[name];
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`options.${name} must be an integer, got ${describe(v)}`);
  if (v < min || v > max) throw new RangeError(`options.${name} must be from ${min} to ${max}, got ${v}`);
  return v;
}

function temporalityCode(t, arg) {
  if (t === 'delta' || t === 1 || t === 'AGGREGATION_TEMPORALITY_DELTA') return 1;
  if (t === 'cumulative' || t === 2 || t === 'AGGREGATION_TEMPORALITY_CUMULATIVE') return 2;
  throw new TypeError(`${arg} must be 'delta' or 'cumulative', got ${describe(t)}`);
}

/** Normalises every accepted aggregation spelling to [kind, temporality, monotonic, bounds, maxBuckets, maxScale]. */
function parseAggregation(agg) {
  const arg = 'aggregation';
  if (agg === 'gauge') return [AGG_GAUGE, 0, false, null, 0, 0];
  if (agg === null || typeof agg !== 'object' || Array.isArray(agg)) {
    throw new TypeError(`${arg} must be 'gauge' or an object such as { type: 'sum', temporality, isMonotonic }, got ${describe(agg)}`);
  }
  let type = agg.type;
  let body = agg;
  if (type === undefined) {
    // The seed's snake_case dictionary form: { sum: { aggregation_temporality, is_monotonic } } etc.
    const keys = Object.keys(agg);
    if (keys.length !== 1) throw new TypeError(`${arg} must have a 'type' or exactly one of gauge, sum, histogram, exp_hist; got keys ${JSON.stringify(keys)}`);
    type = keys[0];
    body = agg[type] || {};
  }
  const temporality = (b) => b.temporality !== undefined ? b.temporality : b.aggregation_temporality;
  switch (type) {
    case 'gauge':
      return [AGG_GAUGE, 0, false, null, 0, 0];
    case 'sum': {
      const mono = body.isMonotonic !== undefined ? body.isMonotonic : body.is_monotonic;
      if (typeof mono !== 'boolean') throw new TypeError(`${arg}.isMonotonic must be a boolean, got ${describe(mono)}`);
      return [AGG_SUM, temporalityCode(temporality(body), `${arg}.temporality`), mono, null, 0, 0];
    }
    case 'histogram': {
      const bounds = body.boundaries !== undefined ? body.boundaries : body.bucket_boundaries;
      if (!Array.isArray(bounds)) throw new TypeError(`${arg}.boundaries must be an array of numbers, got ${describe(bounds)}`);
      for (let i = 0; i < bounds.length; i++) {
        if (typeof bounds[i] !== 'number' || !Number.isFinite(bounds[i])) throw new TypeError(`${arg}.boundaries[${i}] must be a finite number, got ${describe(bounds[i])}`);
        if (i > 0 && !(bounds[i] > bounds[i - 1])) throw new RangeError(`${arg}.boundaries must be strictly increasing, got ${bounds[i - 1]} then ${bounds[i]}`);
      }
      return [AGG_HISTOGRAM, temporalityCode(temporality(body), `${arg}.temporality`), false, bounds, 0, 0];
    }
    case 'exponentialHistogram':
    case 'exponential_histogram':
    case 'exp_hist': {
      const mb = body.maxBuckets !== undefined ? body.maxBuckets : body.max_buckets !== undefined ? body.max_buckets : 160;
      const ms = body.maxScale !== undefined ? body.maxScale : body.max_scale !== undefined ? body.max_scale : 20;
      if (!Number.isInteger(mb) || mb < 1 || mb > 16384) throw new RangeError(`${arg}.maxBuckets must be an integer from 1 to 16384, got ${describe(mb)}`);
      if (!Number.isInteger(ms) || ms < -10 || ms > 20) throw new RangeError(`${arg}.maxScale must be an integer from -10 to 20, got ${describe(ms)}`);
      return [AGG_EXP, temporalityCode(temporality(body), `${arg}.temporality`), false, null, mb, ms];
    }
    default:
      throw new TypeError(`${arg} type must be gauge, sum, histogram or exponentialHistogram, got ${describe(type)}`);
  }
}

// ------------------------------------------------------------------ the recorder

// Byte value of every pair of hex characters, indexed by (first << 7 | second)
// for 7-bit char codes; -1 for anything that is not two hex digits.
const HEX_PAIRS = new Int16Array(1 << 14).fill(-1);
{
  const digits = '0123456789abcdefABCDEF';
  const value = (c) => parseInt(c, 16);
  for (const a of digits) for (const b of digits) HEX_PAIRS[(a.charCodeAt(0) << 7) | b.charCodeAt(0)] = (value(a) << 4) | value(b);
}

/** Decoded hex ids remembered per recorder (a power of two). */
const ID_CACHE_SLOTS = 1024;

/** Decodes `bytes` bytes of hex from `s` into `buf` at `pos`; false on a non-hex character. */
function hexInto(buf, pos, s, bytes) {
  let bad = 0;
  for (let i = 0; i < bytes; i++) {
    const hi = s.charCodeAt(2 * i);
    const lo = s.charCodeAt(2 * i + 1);
    const v = HEX_PAIRS[((hi << 7) | lo) & 0x3fff];
    bad |= v | ((hi | lo) & 0xff80);
    buf[pos + i] = v;
  }
  return bad >= 0;
}

/**
 * Strings up to this many UTF-16 units are copied by a JS loop when they are ASCII; longer ones by
 * `Buffer#utf8Write`. The loop costs ~37 instructions a character, the call ~750 and then little
 * per character (valgrind, Node 20), so the two meet at about 20 characters.
 */
const SHORT_STRING = 20;

/**
 * Span names of {@link NAME_CACHE_MIN_CHARS} to this many UTF-16 units have their UTF-8 bytes
 * remembered (see `_name`), up to {@link NAME_CACHE_LIMIT} names.
 */
const NAME_CACHE_MAX_CHARS = 256;
/**
 * Shorter names are copied by `_str`'s loop: below this length it costs less than the look-up
 * (a `Map#get`, ~100 instructions).
 */
const NAME_CACHE_MIN_CHARS = 8;
const NAME_CACHE_LIMIT = 1024;

/**
 * A remembered span name (see `Recorder#_name`): the byte length of `buf[start..end)`, then those
 * bytes as little-endian 32-bit words, the last one padded with zeros.
 */
function nameWords(buf, start, end) {
  const n = end - start;
  const words = new Int32Array(1 + ((n + 3) >> 2));
  words[0] = n;
  for (let i = 0; i < n; i++) words[1 + (i >> 2)] |= buf[start + i] << ((i & 3) * 8);
  return words;
}

/** In an attribute list's count slot: "registered set", its u32 id follows (see `_attributes`). */
const SET_MARKER = 0xffffffff;
// In place of a count: two lists follow (each a count or a set marker), written as one.
const PARTS_MARKER = 0xfffffffe;

/** The call buffer's first size; it only grows, so a call's first 64 bytes never need `_ensure`. */
const INITIAL_CALL_BUFFER = 64 * 1024;

/** True when `v` is `n` id bytes, which the hot paths copy as they are. */
function isIdBytes(v, n) {
  return v instanceof Uint8Array && v.length === n;
}

/** Copies the 8 bytes of `id` into `buf` at `at` (unrolled: cheaper than a loop or `set` for 8 bytes). */
function put8(buf, at, id) {
  buf[at] = id[0];
  buf[at + 1] = id[1];
  buf[at + 2] = id[2];
  buf[at + 3] = id[3];
  buf[at + 4] = id[4];
  buf[at + 5] = id[5];
  buf[at + 6] = id[6];
  buf[at + 7] = id[7];
}

/** Copies the 16 bytes of `id` into `buf` at `at`. */
function put16(buf, at, id) {
  put8(buf, at, id);
  buf[at + 8] = id[8];
  buf[at + 9] = id[9];
  buf[at + 10] = id[10];
  buf[at + 11] = id[11];
  buf[at + 12] = id[12];
  buf[at + 13] = id[13];
  buf[at + 14] = id[14];
  buf[at + 15] = id[15];
}

/**
 * True when `sc` is absent or a span context with id bytes and valid flags: what the hot path of
 * `recordMeasurement` writes without the general checks.
 */
function isPlainSpanContext(sc) {
  if (sc === undefined || sc === null) return true;
  if (typeof sc !== 'object' || !isIdBytes(sc.traceId, 16) || !isIdBytes(sc.spanId, 8)) return false;
  const f = sc.traceFlags;
  return f === undefined || (f & 0xff) === f;
}

/**
 * True when frozen `o` always reads the same: a plain object (so no inherited enumerable keys)
 * and no getters. Checked once per object, before its encoding is remembered.
 */
function readsTheSame(o) {
  const proto = Object.getPrototypeOf(o);
  if (proto !== Object.prototype && proto !== null) return false;
  const descriptors = Object.getOwnPropertyDescriptors(o);
  for (const k in descriptors) if (!('value' in descriptors[k])) return false;
  return true;
}

class RecorderImpl {
  constructor(file, options) {
    const native = loadNative();
    if (typeof file !== 'string' || file.length === 0) throw new TypeError(`path must be a non-empty string, got ${describe(file)}`);
    if (options === undefined || options === null) options = {};
    if (typeof options !== 'object') throw new TypeError(`options must be an object, got ${describe(options)}`);
    const d = defaultRecorderOptions;
    const ev = [ringOption(options, 'events', 'slots', d.events.slots), ringOption(options, 'events', 'slotSize', d.events.slotSize)];
    const sp = [ringOption(options, 'spans', 'slots', d.spans.slots), ringOption(options, 'spans', 'slotSize', d.spans.slotSize)];
    const me = [ringOption(options, 'measurements', 'slots', d.measurements.slots), ringOption(options, 'measurements', 'slotSize', d.measurements.slotSize)];
    const dict = intOption(options, 'dictionaryBytes', d.dictionaryBytes, 4096, 2 ** 40);
    const maxDict = intOption(options, 'maxDictionaryBytes', Math.max(d.maxDictionaryBytes, dict), dict, 2 ** 40);
    const mode = intOption(options, 'mode', d.mode, 0, 0o777);
    const attach = options.attach === undefined ? false : options.attach;
    if (typeof attach !== 'boolean') throw new TypeError(`options.attach must be a boolean, got ${describe(attach)}`);

    this._n = native;
    this._buf = Buffer.allocUnsafeSlow(INITIAL_CALL_BUFFER);
    this._dv = new DataView(this._buf.buffer, this._buf.byteOffset, this._buf.byteLength);
    this._pos = 0;
    // The native side returns the handle and the hot-path calls bound to it.
    const bound = native.recOpen(path.resolve(file), this._buf, ev[0], ev[1], sp[0], sp[1], me[0], me[1], dict, maxDict, mode, attach);
    this._h = bound.h;
    this._b = bound;
    this.path = path.resolve(file);
    this.closed = false;
    // Longest string (in UTF-16 units) worth sending: longer ones are truncated natively anyway.
    this._maxChars = Math.max(ev[1], sp[1], me[1]);
    this._keys = new Map();
    this._refs = new Map();
    // Keys met during encoding that still need interning: [position, key, ...] and its length.
    this._pending = [];
    this._npending = 0;
    // Recently decoded hex ids: a span's ids recur (its end, its children's parent
    // and trace ids), and decoding 32 hex characters costs far more than a lookup.
    // Direct-mapped: the slot comes from the id's last hex characters (random in
    // generated ids), so a lookup is a few char reads and one string comparison.
    this._idKeys = new Array(ID_CACHE_SLOTS).fill('');
    this._idBytes = new Uint8Array(ID_CACHE_SLOTS * 16);
    // True while encoding a dictionary entry: those are never truncated to a slot.
    this._whole = false;
    // Frozen attribute objects (an instrumentation's per-route attributes, made once and reused
    // for every request) -> the id of the set the native side registered for them: a frozen
    // object's keys and values cannot change, so it is encoded once (in JS and natively) and
    // named by its id after that; null for objects that are encoded every time.
    this._frozen = new WeakMap();
    // When a registered object is collected, its set's place is freed for another (the native
    // side holds at most 4096). The callback keeps the native binding and handle, not the
    // recorder; after close() the sets are gone and freeing one does nothing.
    const handle = this._h;
    this._setsOwned = new FinalizationRegistry((id) => {
      try {
        native.recAttrSetFree(handle, id);
      } catch {
        // Nothing to report: the set is freed, or went with the recorder.
      }
    });
    // Span names -> their UTF-8 bytes as 32-bit words (see `_name`).
    this._names = new Map();
    // The scope and metric refs that passed their check last: a hot-path call naming the same one
    // again (most do) skips the look-up. Refs stay valid for the recorder's life.
    // NaN until then: equal to no ref, so nothing passes unchecked.
    this._lastScope = NaN;
    this._lastMetric = NaN;
  }

  // ---- call buffer

  _ensure(n) {
    if (this._pos + n <= this._buf.length) return;
    let size = this._buf.length * 2;
    while (size < this._pos + n) size *= 2;
    const next = Buffer.allocUnsafeSlow(size);
    this._buf.copy(next, 0, 0, this._pos);
    this._buf = next;
    this._dv = new DataView(next.buffer, next.byteOffset, next.byteLength);
    this._n.recSetScratch(this._h, next);
  }
  _u8(v) {
    this._ensure(1);
    this._buf[this._pos++] = v;
  }
  _u32(v) {
    this._ensure(4);
    this._dv.setUint32(this._pos, v, true);
    this._pos += 4;
  }
  _f64(v) {
    this._ensure(8);
    this._dv.setFloat64(this._pos, v, true);
    this._pos += 8;
  }
  _i64(v) {
    this._ensure(8);
    this._dv.setBigInt64(this._pos, BigInt.asIntN(64, v), true);
    this._pos += 8;
  }
  _str(s) {
    let len = s.length;
    if (len > this._maxChars && !this._whole) {
      s = s.slice(0, this._maxChars);
      len = s.length;
    }
    this._ensure(4 + len * 3);
    const buf = this._buf;
    const start = this._pos + 4;
    if (len <= SHORT_STRING) {
      // Short strings: a plain loop beats a call into C++; bail out on non-ASCII.
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + i] = c;
      }
      if (i === len) {
        this._dv.setUint32(this._pos, len, true);
        this._pos = start + len;
        return;
      }
    }
    const n = buf.utf8Write(s, start, len * 3);
    this._dv.setUint32(this._pos, n, true);
    this._pos = start + n;
  }
  /**
   * A span name, as `_str` writes it. Names recur (an instrumentation names its spans after a few
   * routes and layers: "middleware - query", "request handler - /users/:id"), so the UTF-8 bytes
   * of a name of {@link NAME_CACHE_MIN_CHARS} to {@link NAME_CACHE_MAX_CHARS} units are remembered
   * the first time, in a bounded map, as 32-bit words: after that the name is written four bytes
   * a store, not one byte (or one character read and one byte) a loop step, and a name longer than
   * {@link SHORT_STRING} skips `_str`'s call into C++ (~750 instructions, and that code's cache
   * misses).
   */
  _name(s) {
    const len = s.length;
    if (len < NAME_CACHE_MIN_CHARS || len > NAME_CACHE_MAX_CHARS || this._whole) {
      this._str(s);
      return;
    }
    const words = this._names.get(s);
    if (words === undefined) {
      const start = this._pos + 4;
      this._str(s);
      if (this._names.size < NAME_CACHE_LIMIT) this._names.set(s, nameWords(this._buf, start, this._pos));
      return;
    }
    // words[0] is the byte length; the last word's bytes past it are zeros, written past the
    // name and overwritten by what follows (room for them is ensured).
    const n = words[0];
    const count = words.length;
    this._ensure(4 + 4 * count);
    const dv = this._dv;
    const pos = this._pos;
    dv.setUint32(pos, n, true);
    for (let i = 1; i < count; i++) dv.setInt32(pos + 4 * i, words[i], true);
    this._pos = pos + 4 + n;
  }
  _bytes(b) {
    this._ensure(4 + b.length);
    this._dv.setUint32(this._pos, b.length, true);
    this._buf.set(b, this._pos + 4);
    this._pos += 4 + b.length;
  }
  _id(v, bytes, arg) {
    this._ensure(bytes);
    if (typeof v === 'string') {
      const buf = this._buf;
      const pos = this._pos;
      const n = v.length;
      if (n !== bytes * 2) throw new TypeError(`${arg} must be ${bytes} bytes or ${bytes * 2} hex characters, got ${describe(v)}`);
      const slot = ((v.charCodeAt(n - 1) << 6) ^ (v.charCodeAt(n - 2) << 3) ^ v.charCodeAt(n - 3) ^ (v.charCodeAt(n - 4) << 9)) & (ID_CACHE_SLOTS - 1);
      const at = slot * 16;
      if (this._idKeys[slot] === v) {
        const src = this._idBytes;
        for (let i = 0; i < bytes; i++) buf[pos + i] = src[at + i];
      } else if (!hexInto(buf, pos, v, bytes)) {
        throw new TypeError(`${arg} must be ${bytes} bytes or ${bytes * 2} hex characters, got ${describe(v)}`);
      } else {
        this._idKeys[slot] = v;
        const dst = this._idBytes;
        for (let i = 0; i < bytes; i++) dst[at + i] = buf[pos + i];
      }
    } else if (v instanceof Uint8Array) {
      if (v.length !== bytes) throw new RangeError(`${arg} must be ${bytes} bytes or ${bytes * 2} hex characters, got ${v.length} bytes`);
      // 8 or 16 bytes: a plain loop beats a call into TypedArray#set.
      const buf = this._buf;
      const pos = this._pos;
      for (let i = 0; i < bytes; i++) buf[pos + i] = v[i];
    } else {
      throw new TypeError(`${arg} must be a Uint8Array of ${bytes} bytes or a ${bytes * 2}-character hex string, got ${describe(v)}`);
    }
    this._pos += bytes;
  }
  _time(t, arg) {
    this._ensure(9);
    if (t === undefined) {
      this._buf[this._pos] = 0;
      this._dv.setFloat64(this._pos + 1, 0, true); // eight zero bytes, no BigInt
    } else if (typeof t === 'bigint') {
      if (t < 0n || t > MAX_U64) throw new RangeError(`${arg} must be nanoseconds since the epoch from 0 to 2^64-1, got ${t}n`);
      this._buf[this._pos] = 1;
      this._dv.setBigUint64(this._pos + 1, t, true);
    } else if (typeof t === 'number') {
      if (!Number.isFinite(t) || t < 0) throw new RangeError(`${arg} must be a finite, non-negative number of nanoseconds (prefer a bigint), got ${t}`);
      this._buf[this._pos] = 1;
      this._dv.setBigUint64(this._pos + 1, BigInt(Math.trunc(t)), true);
    } else {
      throw new TypeError(`${arg} must be a bigint of nanoseconds since the epoch or undefined for now, got ${describe(t)}`);
    }
    this._pos += 9;
  }
  _spanContext(sc, arg) {
    if (sc === null || sc === undefined) {
      this._u8(0);
      return;
    }
    if (typeof sc !== 'object') throw new TypeError(`${arg} must be { traceId, spanId, traceFlags } or null, got ${describe(sc)}`);
    this._u8(1);
    this._id(sc.traceId, 16, `${arg}.traceId`);
    this._id(sc.spanId, 8, `${arg}.spanId`);
    const f = sc.traceFlags === undefined ? 0 : sc.traceFlags;
    if (!Number.isInteger(f) || f < 0 || f > 0xff) throw new RangeError(`${arg}.traceFlags must be an integer from 0 to 255, got ${describe(f)}`);
    this._u32(f);
  }
  /** Writes a key ref; unknown keys are interned only once the whole call has validated. */
  _key(k) {
    const r = this._keys.get(k);
    if (r !== undefined) {
      this._f64(r);
      return;
    }
    this._pending[this._npending++] = this._pos;
    this._pending[this._npending++] = k;
    this._f64(0);
  }
  /**
   * Writes one value. `arg` names it in error messages; with `key` given, the name is
   * `${arg}.${key}` (built only when an error is thrown, never on the hot path).
   */
  _value(v, arg, depth, allowMaps, key) {
    switch (typeof v) {
      case 'string':
        this._u8(TAG_STRING);
        this._str(v);
        return;
      case 'number':
        // Integers that int64 can hold are ints; anything else (fractions, NaN,
        // integral values beyond int64) is a double rather than a clamped int.
        this._u8(Number.isInteger(v) && v >= -9223372036854775808 && v < 9223372036854775808 ? TAG_INT_NUMBER : TAG_DOUBLE);
        this._f64(v);
        return;
      case 'boolean':
        this._u8(TAG_BOOL);
        this._u8(v ? 1 : 0);
        return;
      case 'bigint':
        if (v < -9223372036854775808n || v > 9223372036854775807n) {
          throw new RangeError(`${argPath(arg, key)} must fit in a signed 64-bit integer, got ${v}n`);
        }
        this._u8(TAG_BIGINT);
        this._i64(v);
        return;
      case 'undefined':
        this._u8(TAG_EMPTY);
        return;
      case 'object':
        if (v === null) {
          this._u8(TAG_EMPTY);
          return;
        }
        if (v instanceof Uint8Array) {
          this._u8(TAG_BYTES);
          this._bytes(v);
          return;
        }
        if (depth < 16 && Array.isArray(v)) {
          arg = argPath(arg, key);
          this._u8(TAG_ARRAY);
          this._u32(v.length);
          for (let i = 0; i < v.length; i++) {
            const e = v[i];
            if (!allowMaps && (Array.isArray(e) || (typeof e === 'object' && e !== null && !(e instanceof Uint8Array)))) {
              throw new TypeError(`${arg}[${i}] must be a string, number, boolean, bigint or Uint8Array, got ${describe(e)}`);
            }
            this._value(e, `${arg}[${i}]`, depth + 1, allowMaps);
          }
          return;
        }
        const proto = Object.getPrototypeOf(v);
        if (allowMaps && depth < 16 && (proto === Object.prototype || proto === null)) {
          arg = argPath(arg, key);
          this._u8(TAG_KVLIST);
          const at = this._pos;
          this._u32(0);
          let n = 0;
          for (const k in v) {
            this._key(k);
            this._value(v[k], arg, depth + 1, true, k);
            n++;
          }
          this._dv.setUint32(at, n, true);
          return;
        }
      // fall through
      default:
        throw new TypeError(
          `${argPath(arg, key)} must be a string, number, boolean, bigint, Uint8Array or an array of these${allowMaps ? ' or a plain object' : ''}, got ${describe(v)}`,
        );
    }
  }
  _attributes(attrs, arg) {
    this._ensure(4);
    const at = this._pos;
    let pos = at + 4;
    this._pos = pos;
    if (attrs === null || attrs === undefined) {
      this._dv.setUint32(at, 0, true);
      return;
    }
    if (typeof attrs !== 'object' || Array.isArray(attrs)) throw new TypeError(`${arg} must be a plain object of attributes, got ${describe(attrs)}`);
    const cached = this._frozen.get(attrs);
    if (typeof cached === 'number' && !this._whole) {
      // A registered set: its id in place of the list (the native side keeps the list and its
      // encodings). The count slot holds the marker; 8 bytes in all.
      this._ensure(4);
      this._dv.setUint32(at, SET_MARKER, true);
      this._dv.setUint32(at + 4, cached, true);
      this._pos = at + 8;
      return;
    }
    const pendingBefore = this._npending;
    let shallow = true;
    // The hot loop keeps the write position in a local and inlines the common
    // cases (short strings, small integers); everything else goes through _value.
    const keys = this._keys;
    let n = 0;
    for (const k in attrs) {
      const v = attrs[k];
      if (v === undefined || v === null) continue;
      const len = typeof v === 'string' ? v.length : 0;
      if (pos + 17 + len * 3 > this._buf.length) {
        this._pos = pos;
        this._ensure(17 + len * 3);
      }
      const buf = this._buf;
      const dv = this._dv;
      const ref = keys.get(k);
      if (ref === undefined) {
        this._pending[this._npending++] = pos;
        this._pending[this._npending++] = k;
        dv.setFloat64(pos, 0, true);
      } else {
        dv.setFloat64(pos, ref, true);
      }
      pos += 8;
      if (typeof v === 'string' && len <= this._maxChars) {
        buf[pos] = TAG_STRING;
        const start = pos + 5;
        let i = 0;
        if (len <= SHORT_STRING) {
          for (; i < len; i++) {
            const c = v.charCodeAt(i);
            if (c >= 0x80) break;
            buf[start + i] = c;
          }
        }
        const written = i === len ? len : buf.utf8Write(v, start, len * 3);
        dv.setUint32(pos + 1, written, true);
        pos = start + written;
      } else if (typeof v === 'number' && (v | 0) === v) {
        buf[pos] = TAG_INT_NUMBER;
        dv.setFloat64(pos + 1, v, true);
        pos += 9;
      } else if (typeof v === 'boolean') {
        buf[pos] = TAG_BOOL;
        buf[pos + 1] = v ? 1 : 0;
        pos += 2;
      } else {
        // An array or bytes can change inside a frozen object: such attributes are not remembered.
        if (typeof v === 'object') shallow = false;
        this._pos = pos;
        this._value(v, arg, 0, false, k);
        pos = this._pos;
      }
      n++;
    }
    this._dv.setUint32(at, n, true);
    this._pos = pos;
    // Registered only once every key has a ref (no key waits for interning) and when strings
    // were cut to a slot as usual (not a dictionary entry's whole strings). A frozen object that
    // can still read differently (getters, inherited keys) is remembered as null, so that the
    // check, which reads every property descriptor, runs once per object and not per call; so is
    // one the native side has no room for (it keeps at most 4096 sets).
    if (shallow && this._npending === pendingBefore && !this._whole && cached === undefined && Object.isFrozen(attrs)) {
      const id = readsTheSame(attrs) ? this._n.recAttrSet(this._h, at, pos) : -1;
      this._frozen.set(attrs, id >= 0 ? id : null);
      if (id >= 0) this._setsOwned.register(attrs, id);
    }
  }
  _ref(r, kind, arg, what) {
    if (this._refs.get(r) !== kind) {
      throw new RangeError(`${arg} must be ${what} returned by this recorder, got ${describe(r)}`);
    }
    this._f64(r);
  }
  /** Starts a call. `whole`: the call writes a dictionary entry, whose strings are never cut to a slot. */
  _begin(whole) {
    if (this.closed) throw new TypeError('recorder is closed: open a new one with openRecorder()');
    this._pos = 0;
    this._npending = 0;
    this._whole = whole === true;
  }
  /** Interns keys met during encoding (only now that the call is known to be valid) and patches their refs. */
  _resolvePending() {
    const p = this._pending;
    const n = this._npending;
    for (let i = 0; i < n; i += 2) {
      const k = p[i + 1];
      let r = this._keys.get(k);
      if (r === undefined) {
        r = this._n.recString(this._h, k);
        this._refs.set(r, REF_STRING);
        if (this._keys.size < 65536) this._keys.set(k, r);
      }
      this._dv.setFloat64(p[i], r, true);
    }
    this._npending = 0;
  }

  // ---- dictionary

  recordString(s) {
    if (this.closed) throw new TypeError('recorder is closed: open a new one with openRecorder()');
    if (typeof s !== 'string') throw new TypeError(`s must be a string, got ${describe(s)}`);
    let r = this._keys.get(s);
    if (r !== undefined) return r;
    r = this._n.recString(this._h, s);
    this._refs.set(r, REF_STRING);
    if (this._keys.size < 65536) this._keys.set(s, r);
    return r;
  }

  createResource(attributes, schemaUrl) {
    this._begin(true);
    if (schemaUrl !== undefined && typeof schemaUrl !== 'string') throw new TypeError(`schemaUrl must be a string, got ${describe(schemaUrl)}`);
    this._attributes(attributes, 'attributes');
    this._str(schemaUrl || '');
    this._resolvePending();
    const r = this._n.recResource(this._h);
    this._refs.set(r, REF_RESOURCE);
    return r;
  }

  createInstrumentationScope(resourceRef, name, version, attributes) {
    this._begin(true);
    this._ref(resourceRef, REF_RESOURCE, 'resourceRef', 'a resource ref (createResource)');
    if (typeof name !== 'string') throw new TypeError(`name must be a string, got ${describe(name)}`);
    if (version !== undefined && version !== null && typeof version !== 'string') throw new TypeError(`version must be a string, got ${describe(version)}`);
    this._str(name);
    this._u8(version ? 1 : 0);
    this._str(version || '');
    this._attributes(attributes, 'attributes');
    this._resolvePending();
    const r = this._n.recScope(this._h);
    this._refs.set(r, REF_SCOPE);
    return r;
  }

  createMetricStream(scopeRef, name, description, unit, aggregation, options) {
    this._begin(true);
    this._ref(scopeRef, REF_SCOPE, 'scopeRef', 'an instrumentation scope ref (createInstrumentationScope)');
    if (typeof name !== 'string' || name.length === 0) throw new TypeError(`name must be a non-empty string, got ${describe(name)}`);
    if (description !== undefined && typeof description !== 'string') throw new TypeError(`description must be a string, got ${describe(description)}`);
    if (unit !== undefined && typeof unit !== 'string') throw new TypeError(`unit must be a string, got ${describe(unit)}`);
    const [kind, temporality, mono, bounds, maxBuckets, maxScale] = parseAggregation(aggregation);
    let valueType = 'double';
    if (options !== undefined && options !== null) {
      if (typeof options !== 'object') throw new TypeError(`options must be an object, got ${describe(options)}`);
      if (options.valueType !== undefined) valueType = options.valueType;
      if (valueType !== 'int' && valueType !== 'double') throw new TypeError(`options.valueType must be 'int' or 'double', got ${describe(valueType)}`);
    }
    this._str(name);
    this._str(description || '');
    this._str(unit || '');
    this._u8(kind);
    this._u8(temporality);
    this._u8(mono ? 1 : 0);
    this._u32(bounds ? bounds.length : 0);
    if (bounds) for (const b of bounds) this._f64(b);
    this._i64(BigInt(maxBuckets));
    this._i64(BigInt(maxScale));
    this._u8(valueType === 'int' ? 1 : 0);
    const r = this._n.recMetric(this._h);
    this._refs.set(r, REF_METRIC);
    return r;
  }

  // ---- telemetry

  recordMeasurement(metricRef, attributes, timeUnixNano, value, spanContext) {
    this._begin();
    if ((metricRef === this._lastMetric || this._isMetric(metricRef)) && timeUnixNano === undefined && typeof value === 'number' && Number.isFinite(value) && isPlainSpanContext(spanContext)) {
      // The usual call (a metric ref of this recorder, now as the time, a finite number, id bytes
      // for the exemplar), written without the general path's per-field calls; the same bytes.
      this._dv.setFloat64(0, metricRef, true);
      this._pos = 8;
      this._attributes(attributes, 'attributes');
      this._ensure(47);
      const buf = this._buf;
      const dv = this._dv;
      let pos = this._pos;
      buf[pos] = 0;
      dv.setFloat64(pos + 1, 0, true);
      buf[pos + 9] = 1;
      dv.setFloat64(pos + 10, value, true);
      pos += 18;
      if (spanContext === undefined || spanContext === null) {
        buf[pos++] = 0;
      } else {
        buf[pos] = 1;
        put16(buf, pos + 1, spanContext.traceId);
        put8(buf, pos + 17, spanContext.spanId);
        const f = spanContext.traceFlags;
        dv.setUint32(pos + 25, f === undefined ? 0 : f, true);
        pos += 29;
      }
      this._pos = pos;
      this._resolvePending();
      this._b.measurement();
      return;
    }
    this._ref(metricRef, REF_METRIC, 'metricRef', 'a metric stream ref (createMetricStream)');
    this._lastMetric = metricRef;
    this._attributes(attributes, 'attributes');
    this._time(timeUnixNano, 'timeUnixNano');
    this._ensure(9);
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new RangeError(`value must be a finite number or a bigint, got ${value}`);
      this._buf[this._pos] = 1;
      this._dv.setFloat64(this._pos + 1, value, true);
    } else if (typeof value === 'bigint') {
      if (value < -9223372036854775808n || value > 9223372036854775807n) throw new RangeError(`value must fit in a signed 64-bit integer, got ${value}n`);
      this._buf[this._pos] = 2;
      this._dv.setBigInt64(this._pos + 1, BigInt.asIntN(64, value), true);
    } else {
      throw new TypeError(`value must be a number or a bigint, got ${describe(value)}`);
    }
    this._pos += 9;
    this._spanContext(spanContext, 'spanContext');
    this._resolvePending();
    this._b.measurement();
  }

  recordEvent(scopeRef, spanContext, eventNameRef, timeUnixNano, attributes, extra) {
    this._begin();
    this._ref(scopeRef, REF_SCOPE, 'scopeRef', 'an instrumentation scope ref (createInstrumentationScope)');
    this._spanContext(spanContext, 'spanContext');
    if (eventNameRef === undefined || eventNameRef === null || eventNameRef === 0) this._f64(0);
    else this._ref(eventNameRef, REF_STRING, 'eventNameRef', '0 or a string ref (recordString)');
    this._time(timeUnixNano, 'timeUnixNano');
    this._attributes(attributes, 'attributes');
    let sev = 0;
    let sevText = '';
    let hasBody = false;
    let body;
    if (extra !== undefined && extra !== null) {
      if (typeof extra !== 'object') throw new TypeError(`extra must be { severityNumber, severityText, body }, got ${describe(extra)}`);
      if (extra.severityNumber !== undefined) {
        sev = extra.severityNumber;
        if (!Number.isInteger(sev) || sev < 0 || sev > 24) throw new RangeError(`extra.severityNumber must be an integer from 0 to 24, got ${describe(sev)}`);
      }
      if (extra.severityText !== undefined) {
        sevText = extra.severityText;
        if (typeof sevText !== 'string') throw new TypeError(`extra.severityText must be a string, got ${describe(sevText)}`);
      }
      if (extra.body !== undefined) {
        hasBody = true;
        body = extra.body;
      }
    }
    this._u8(sev);
    this._str(sevText);
    this._u8(hasBody ? 1 : 0);
    if (hasBody) this._value(body, 'extra.body', 0, true);
    this._resolvePending();
    this._b.event();
  }

  /** Whether `r` is a metric stream ref of this recorder (remembered as the last one if so). */
  _isMetric(r) {
    if (this._refs.get(r) !== REF_METRIC) return false;
    this._lastMetric = r;
    return true;
  }

  _spanIds(scopeRef, traceId, spanId) {
    this._ref(scopeRef, REF_SCOPE, 'scopeRef', 'an instrumentation scope ref (createInstrumentationScope)');
    this._lastScope = scopeRef;
    this._id(traceId, 16, 'traceId');
    this._id(spanId, 8, 'spanId');
  }

  /**
   * Whether a span call can take its hot path: a scope ref of this recorder and the ids as bytes
   * (what the agent passes). If so, the scope and ids (32 bytes) are written here.
   */
  _plainSpanIds(scopeRef, traceId, spanId) {
    if (!isIdBytes(traceId, 16) || !isIdBytes(spanId, 8)) return false;
    if (scopeRef !== this._lastScope) {
      // Another scope (a request's spans come from two or three instrumentations): checked here,
      // without throwing; a bad ref takes the general path, which says what is wrong with it.
      if (this._refs.get(scopeRef) !== REF_SCOPE) return false;
      this._lastScope = scopeRef;
    }
    const buf = this._buf;
    this._dv.setFloat64(0, scopeRef, true);
    put16(buf, 8, traceId);
    put8(buf, 24, spanId);
    return true;
  }

  /** A span start's attributes: one object, or two written as one list (see index.d.ts). */
  _startAttributes(attributes, moreAttributes) {
    if (moreAttributes === undefined || moreAttributes === null) {
      this._attributes(attributes, 'attributes');
      return;
    }
    this._ensure(4);
    this._dv.setUint32(this._pos, PARTS_MARKER, true);
    this._pos += 4;
    this._attributes(attributes, 'attributes');
    this._attributes(moreAttributes, 'moreAttributes');
  }

  recordSpanStart(scopeRef, traceId, spanId, parentSpanId, flags, name, kind, startTimeUnixNano, attributes, moreAttributes) {
    this._begin();
    const noParent = parentSpanId === null || parentSpanId === undefined;
    if (
      startTimeUnixNano === undefined &&
      typeof name === 'string' &&
      (flags & 0x3ff) === flags &&
      (kind & 7) === kind &&
      kind <= 5 &&
      (noParent || isIdBytes(parentSpanId, 8)) &&
      this._plainSpanIds(scopeRef, traceId, spanId)
    ) {
      // The usual call (see `_plainSpanIds`; now as the start time), written without the general
      // path's per-field calls: the same bytes, at fixed offsets up to the name.
      const buf = this._buf;
      const dv = this._dv;
      if (noParent) {
        buf[32] = 0;
      } else {
        buf[32] = 1;
        put8(buf, 33, parentSpanId);
      }
      dv.setUint32(41, flags, true);
      buf[45] = kind;
      buf[46] = 0;
      dv.setFloat64(47, 0, true);
      this._pos = 55;
      this._name(name);
      this._startAttributes(attributes, moreAttributes);
      this._resolvePending();
      this._b.spanStart();
      return;
    }
    this._spanIds(scopeRef, traceId, spanId);
    if (parentSpanId === null || parentSpanId === undefined || parentSpanId === '') {
      this._u8(0);
      this._ensure(8);
      this._pos += 8;
    } else {
      this._u8(1);
      this._id(parentSpanId, 8, 'parentSpanId');
    }
    if (!Number.isInteger(flags) || flags < 0 || flags > 0x3ff) throw new RangeError(`flags must be an integer from 0 to 1023 (W3C flags in bits 0-7, parent-is-remote in bits 8-9), got ${describe(flags)}`);
    this._u32(flags);
    if (!Number.isInteger(kind) || kind < 0 || kind > 5) throw new RangeError(`kind must be an OTLP span kind from 0 to 5, got ${describe(kind)}`);
    this._u8(kind);
    this._time(startTimeUnixNano, 'startTimeUnixNano');
    if (typeof name !== 'string') throw new TypeError(`name must be a string, got ${describe(name)}`);
    this._name(name);
    this._startAttributes(attributes, moreAttributes);
    this._resolvePending();
    this._b.spanStart();
  }

  recordSpanEnd(scopeRef, traceId, spanId, endTimeUnixNano, status, name, attributes) {
    this._begin();
    const noName = name === undefined || name === null;
    if (
      endTimeUnixNano === undefined &&
      (status === undefined || status === null) &&
      (noName || typeof name === 'string') &&
      this._plainSpanIds(scopeRef, traceId, spanId)
    ) {
      // The usual end (now, no status; see `_plainSpanIds`), written at fixed offsets.
      const buf = this._buf;
      const dv = this._dv;
      buf[32] = 0;
      dv.setFloat64(33, 0, true);
      buf[41] = 0;
      buf[42] = 0;
      dv.setUint32(43, 0, true);
      if (noName) {
        buf[47] = 0;
        dv.setUint32(48, 0, true);
        this._pos = 52;
      } else {
        buf[47] = 1;
        this._pos = 48;
        this._name(name);
      }
      this._attributes(attributes, 'attributes');
      this._resolvePending();
      this._b.spanEnd();
      return;
    }
    this._spanIds(scopeRef, traceId, spanId);
    this._time(endTimeUnixNano, 'endTimeUnixNano');
    if (status === undefined || status === null) {
      this._u8(0);
      this._u8(0);
      this._u32(0);
    } else {
      if (typeof status !== 'object') throw new TypeError(`status must be { code, message }, got ${describe(status)}`);
      const code = status.code;
      if (code !== 0 && code !== 1 && code !== 2) throw new RangeError(`status.code must be 0 (unset), 1 (ok) or 2 (error), got ${describe(code)}`);
      if (status.message !== undefined && typeof status.message !== 'string') throw new TypeError(`status.message must be a string, got ${describe(status.message)}`);
      this._u8(1);
      this._u8(code);
      this._str(status.message || '');
    }
    if (name === undefined || name === null) {
      this._u8(0);
      this._u32(0);
    } else {
      if (typeof name !== 'string') throw new TypeError(`name must be a string, got ${describe(name)}`);
      this._u8(1);
      this._name(name);
    }
    this._attributes(attributes, 'attributes');
    this._resolvePending();
    this._b.spanEnd();
  }

  recordSpanName(scopeRef, traceId, spanId, name) {
    this._begin();
    this._spanIds(scopeRef, traceId, spanId);
    if (typeof name !== 'string') throw new TypeError(`name must be a string, got ${describe(name)}`);
    this._name(name);
    this._b.spanName();
  }

  recordSpanAttributes(scopeRef, traceId, spanId, attributes) {
    this._begin();
    this._spanIds(scopeRef, traceId, spanId);
    this._attributes(attributes, 'attributes');
    this._resolvePending();
    this._b.spanAttributes();
  }

  recordSpanLinks(scopeRef, traceId, spanId, links) {
    this._begin();
    this._spanIds(scopeRef, traceId, spanId);
    if (!Array.isArray(links)) throw new TypeError(`links must be an array of { traceId, spanId, attributes? }, got ${describe(links)}`);
    this._u32(links.length);
    for (let i = 0; i < links.length; i++) {
      const l = links[i];
      const arg = `links[${i}]`;
      if (l === null || typeof l !== 'object') throw new TypeError(`${arg} must be { traceId, spanId, ... }, got ${describe(l)}`);
      this._id(l.traceId, 16, `${arg}.traceId`);
      this._id(l.spanId, 8, `${arg}.spanId`);
      if (l.traceState !== undefined && typeof l.traceState !== 'string') throw new TypeError(`${arg}.traceState must be a string, got ${describe(l.traceState)}`);
      this._str(l.traceState || '');
      const f = l.traceFlags === undefined ? (l.flags === undefined ? 0 : l.flags) : l.traceFlags;
      if (!Number.isInteger(f) || f < 0 || f > 0x3ff) throw new RangeError(`${arg}.traceFlags must be an integer from 0 to 1023, got ${describe(f)}`);
      this._u32(f);
      const dropped = l.droppedAttributesCount === undefined ? 0 : l.droppedAttributesCount;
      if (!Number.isInteger(dropped) || dropped < 0) throw new RangeError(`${arg}.droppedAttributesCount must be a non-negative integer, got ${describe(dropped)}`);
      this._u32(dropped);
      this._attributes(l.attributes, `${arg}.attributes`);
    }
    this._resolvePending();
    this._b.spanLinks();
  }

  stats() {
    if (this.closed) throw new TypeError('recorder is closed: open a new one with openRecorder()');
    const s = this._n.recStats(this._h);
    return {
      events: { written: s[0], dropped: s[3] },
      spans: { written: s[1], dropped: s[4] },
      measurements: { written: s[2], dropped: s[5] },
      dictionary: { bytes: s[6], entries: s[7] },
      truncated: s[8],
      startTimeUnixNano: BigInt(s[9]),
      attributeSets: s[10],
    };
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this._n.recClose(this._h);
  }
}

/**
 * Creates a new otlp-mmap v1 file at `path` (or attaches to one with `{ attach: true }`)
 * and returns its recorder. See index.d.ts.
 */
function openRecorder(file, options) {
  return new RecorderImpl(file, options);
}

// ------------------------------------------------------------------ the reader

const RING_NAMES = ['events', 'spans', 'measurements'];

function reviveDecoded(_key, value) {
  // Native JSON marks 64-bit integers as {"$big":"123"} to keep full precision.
  if (value !== null && typeof value === 'object' && typeof value.$big === 'string') return BigInt(value.$big);
  if (value !== null && typeof value === 'object' && typeof value.$bytes === 'string') return new Uint8Array(Buffer.from(value.$bytes, 'base64'));
  return value;
}

class ReaderImpl {
  constructor(file) {
    const native = loadNative();
    if (typeof file !== 'string' || file.length === 0) throw new TypeError(`path must be a non-empty string, got ${describe(file)}`);
    this._n = native;
    this.path = path.resolve(file);
    this._h = native.readerOpen(this.path);
    this.closed = false;
  }
  _check() {
    if (this.closed) throw new TypeError('reader is closed');
  }
  header() {
    this._check();
    return JSON.parse(this._n.readerHeader(this._h), reviveDecoded);
  }
  read(ring, max) {
    this._check();
    const idx = RING_NAMES.indexOf(ring);
    if (idx < 0) throw new TypeError(`ring must be one of ${RING_NAMES.join(', ')}, got ${describe(ring)}`);
    if (max === undefined) max = 1024;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, got ${describe(max)}`);
    return JSON.parse(this._n.readerRead(this._h, idx, max), reviveDecoded);
  }
  discard(ring) {
    this._check();
    const idx = RING_NAMES.indexOf(ring);
    if (idx < 0) throw new TypeError(`ring must be one of ${RING_NAMES.join(', ')}, got ${describe(ring)}`);
    return this._n.readerDiscard(this._h, idx);
  }
  writerAlive() {
    this._check();
    return this._n.readerWriterAlive(this._h);
  }
  close() {
    if (this.closed) return;
    this.closed = true;
    this._n.readerClose(this._h);
  }
}

/** Opens an existing otlp-mmap v1 file for reading. See index.d.ts. */
function openReader(file) {
  return new ReaderImpl(file);
}

// ------------------------------------------------------------------ the collector core

function collectorOption(options, name) {
  const v = options[name];
  if (v === undefined) return 0; // 0 = the native default
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`options.${name} must be a positive integer, got ${describe(v)}`);
  return v;
}

class FileCollectorImpl {
  constructor(file, options) {
    const native = loadNative();
    if (typeof file !== 'string' || file.length === 0) throw new TypeError(`path must be a non-empty string, got ${describe(file)}`);
    options = options || {};
    this._n = native;
    this.path = path.resolve(file);
    this._h = native.colOpen(
      this.path,
      collectorOption(options, 'maxOpenSpans'),
      collectorOption(options, 'maxPendingEvents'),
      collectorOption(options, 'maxSpansPerBatch'),
      collectorOption(options, 'maxLogsPerBatch'),
      collectorOption(options, 'cardinalityLimit'),
      collectorOption(options, 'maxMessagesPerPoll'),
      collectorOption(options, 'maxBatchBytes'),
    );
    this.closed = false;
  }
  _check() {
    if (this.closed) throw new TypeError('collector is closed');
  }
  static _result(r) {
    return {
      traces: r[0],
      logs: r[1],
      read: { events: r[2], spans: r[3], measurements: r[4] },
      errors: r[5],
      metrics: r[6],
      traceItems: r[7],
      logItems: r[8],
      backlog: { events: r[9], spans: r[10], measurements: r[11] },
    };
  }
  poll() {
    this._check();
    const r = FileCollectorImpl._result(this._n.colPoll(this._h));
    delete r.metrics;
    return r;
  }
  collectMetrics() {
    this._check();
    return this._n.colMetrics(this._h);
  }
  writerAlive() {
    this._check();
    return this._n.colWriterAlive(this._h);
  }
  finish() {
    this._check();
    return FileCollectorImpl._result(this._n.colFinish(this._h));
  }
  status() {
    this._check();
    const s = JSON.parse(this._n.colStatus(this._h), reviveDecoded);
    const h = s.header;
    const ring = (name) => ({
      slots: h.rings[name].slots,
      slotSize: h.rings[name].slotSize,
      used: s.backlog[name],
    });
    return {
      startTimeUnixNano: h.startTimeUnixNano,
      dev: s.dev,
      ino: s.ino,
      dropped: h.dropped,
      rings: { events: ring('events'), spans: ring('spans'), measurements: ring('measurements') },
      dictionaryBytes: h.dictionary.end - h.dictionary.offset,
      fileBytes: h.fileBytes,
      openSpans: s.pipeline.open_spans,
      read: s.read,
      skipped: s.skipped,
      badRecords: s.badRecords,
      pipeline: s.pipeline,
    };
  }
  close() {
    if (this.closed) return;
    this.closed = true;
    this._n.colClose(this._h);
  }
}

/** Opens one otlp-mmap file for collection (the collector's native core). See index.d.ts. */
function openCollector(file, options) {
  return new FileCollectorImpl(file, options);
}

module.exports = {
  openRecorder,
  openReader,
  openCollector,
  defaultRecorderOptions,
  loadNative,
  platformTriple,
};
