'use strict';
// The loop bench/attribute-instructions.js counts under valgrind: N calls of the recorder's
// recordMeasurement with the attributes of an http server's duration measurement, as an
// instrumented request makes them (a fresh object per call), after WARMUP calls of the same kind
// (default 5000: the compiler has optimised the loop before the calls that count).
//   [WARMUP=5000] node bench/apps/recorder-loop.js N MODE
// MODE: loop (the object only, no call), none (no attributes, no span context), attrs (5
// attributes), attrs+span (5 attributes and a span context of id bytes); frozen+span (the same 5
// attributes as one frozen object, as the agent's http server passes them); and, for spans as the
// agent records an express layer (id bytes, no time, 2 frozen attributes): start, end, start+end.
// OTLP_MMAP_PACKAGE=DIR loads the recorder from another built checkout (a same-run comparison).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { openRecorder } = require(process.env.OTLP_MMAP_PACKAGE ? path.resolve(process.env.OTLP_MMAP_PACKAGE) : '../..');

const N = Number(process.argv[2]);
const WARMUP = Number(process.env.WARMUP ?? 5000);
const mode = process.argv[3];
const MODES = ['loop', 'none', 'attrs', 'attrs+span', 'frozen+span', 'start', 'end', 'start+end'];
if (!Number.isInteger(N) || N <= 0 || !MODES.includes(mode)) {
  console.error(`usage: node bench/apps/recorder-loop.js N ${MODES.join('|')}`);
  process.exit(2);
}
const dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'otlp-mmap-loop-'));
try {
  // A ring larger than N: no call takes the drop path.
  const rec = openRecorder(path.join(dir, 'loop.otlp-mmap'), { measurements: { slots: 1 << 17, slotSize: 256 }, spans: { slots: 1 << 18, slotSize: 256 } });
  const resource = rec.createResource({ 'service.name': 'loop' });
  const scope = rec.createInstrumentationScope(resource, 'loop', '1.0.0');
  const metric = rec.createMetricStream(scope, 'http.server.request.duration', 'duration', 's', {
    type: 'histogram',
    temporality: 'cumulative',
    boundaries: [0.005, 0.01, 0.025, 0.05, 0.1],
  });
  const span = { traceId: new Uint8Array(16).fill(1), spanId: new Uint8Array(8).fill(2), traceFlags: 1 };
  const frozen = Object.freeze({
    'http.request.method': 'GET',
    'url.scheme': 'http',
    'network.protocol.version': '1.1',
    'http.response.status_code': 200,
    'http.route': '/users/:id',
  });
  const layer = Object.freeze({ 'express.name': 'requestId', 'express.type': 'middleware' });
  const parent = new Uint8Array(8).fill(3);
  // Span ids as the agent makes them, 8 bytes per span (made before the loop: the loop measures
  // the recorder, not id generation).
  const ids = Array.from({ length: 4096 }, (_, i) => Uint8Array.from([1, 2, 3, 4, 5, 6, i >> 8, i & 255]));
  let sink = 0;
  for (let i = 0; i < WARMUP + N; i++) {
    if (mode === 'start' || mode === 'end' || mode === 'start+end') {
      const id = ids[i & 4095];
      if (mode !== 'end') rec.recordSpanStart(scope, span.traceId, id, parent, 0x101, 'middleware - requestId', 1, undefined, layer);
      if (mode !== 'start') rec.recordSpanEnd(scope, span.traceId, id, undefined, undefined, undefined, undefined);
      continue;
    }
    const a = { 'http.request.method': 'GET', 'url.scheme': 'http', 'network.protocol.version': '1.1' };
    a['http.response.status_code'] = 200;
    a['http.route'] = '/users/:id';
    const value = 0.001 * (i & 63);
    if (mode === 'loop') sink += a['http.route'].length;
    else if (mode === 'none') rec.recordMeasurement(metric, undefined, undefined, value, undefined);
    else if (mode === 'attrs') rec.recordMeasurement(metric, a, undefined, value, undefined);
    else if (mode === 'attrs+span') rec.recordMeasurement(metric, a, undefined, value, span);
    else rec.recordMeasurement(metric, frozen, undefined, value, span);
  }
  rec.close();
  if (sink < 0) console.log(sink);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
