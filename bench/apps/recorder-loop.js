'use strict';
// The loop bench/attribute-instructions.js counts under valgrind: N calls of the recorder's
// recordMeasurement with the attributes of an http server's duration measurement, as an
// instrumented request makes them (a fresh object per call), after WARMUP calls of the same kind
// (default 5000: the compiler has optimised the loop before the calls that count).
//   [WARMUP=5000] node bench/apps/recorder-loop.js N MODE
// MODE: loop (the object only, no call), none (no attributes, no span context), attrs (5
// attributes), attrs+span (5 attributes and a span context of id bytes).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { openRecorder } = require('../..');

const N = Number(process.argv[2]);
const WARMUP = Number(process.env.WARMUP ?? 5000);
const mode = process.argv[3];
if (!Number.isInteger(N) || N <= 0 || !['loop', 'none', 'attrs', 'attrs+span'].includes(mode)) {
  console.error('usage: node bench/apps/recorder-loop.js N loop|none|attrs|attrs+span');
  process.exit(2);
}
const dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'otlp-mmap-loop-'));
try {
  // A ring larger than N: no call takes the drop path.
  const rec = openRecorder(path.join(dir, 'loop.otlp-mmap'), { measurements: { slots: 1 << 17, slotSize: 256 } });
  const resource = rec.createResource({ 'service.name': 'loop' });
  const scope = rec.createInstrumentationScope(resource, 'loop', '1.0.0');
  const metric = rec.createMetricStream(scope, 'http.server.request.duration', 'duration', 's', {
    type: 'histogram',
    temporality: 'cumulative',
    boundaries: [0.005, 0.01, 0.025, 0.05, 0.1],
  });
  const span = { traceId: new Uint8Array(16).fill(1), spanId: new Uint8Array(8).fill(2), traceFlags: 1 };
  let sink = 0;
  for (let i = 0; i < WARMUP + N; i++) {
    const a = { 'http.request.method': 'GET', 'url.scheme': 'http', 'network.protocol.version': '1.1' };
    a['http.response.status_code'] = 200;
    a['http.route'] = '/users/:id';
    const value = 0.001 * (i & 63);
    if (mode === 'loop') sink += a['http.route'].length;
    else if (mode === 'none') rec.recordMeasurement(metric, undefined, undefined, value, undefined);
    else if (mode === 'attrs') rec.recordMeasurement(metric, a, undefined, value, undefined);
    else rec.recordMeasurement(metric, a, undefined, value, span);
  }
  rec.close();
  if (sink < 0) console.log(sink);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
