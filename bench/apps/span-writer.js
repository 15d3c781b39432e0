'use strict';
// One Node process writing spans (start + end, N attributes) through the
// recorder into a file that a collector follows, at a target rate or as fast as
// it can. Prints "ready" once the file exists, and at the end one JSON line:
// {spans, seconds, spansPerSec, messages, dropped}.
//   node bench/apps/span-writer.js --file F [--attrs 8] [--rate R (spans/s, 0 = max)]
//        [--duration S] [--slots N --slot-size B (span ring; default: recorder defaults)]
//        [--idle S (stay open without writing; for idle CPU)] [--linger S (stay open after)]
//        [--start-delay S (wait before writing)] [--count N (stop after N spans)] [--rename-to PATH (then rename the file there: fill mode)]
const { openRecorder } = require('../..');

const argv = process.argv.slice(2);
const get = (n, d) => {
  const i = argv.indexOf(n);
  return i >= 0 ? argv[i + 1] : d;
};
const file = get('--file');
const nAttrs = Number(get('--attrs', 8));
const rate = Number(get('--rate', 0));
const duration = Number(get('--duration', 3));
const idle = Number(get('--idle', 0));
const linger = Number(get('--linger', 0.5));
const count = Number(get('--count', Infinity));
const renameTo = get('--rename-to', null);
const startDelay = Number(get('--start-delay', 0));
const opts = {};
if (get('--slots')) opts.spans = { slots: Number(get('--slots')), slotSize: Number(get('--slot-size', 2048)) };

const rec = openRecorder(file, opts);
const resource = rec.createResource({ 'service.name': 'span-writer', 'process.pid': process.pid });
const scope = rec.createInstrumentationScope(resource, 'bench', '1.0.0');
const base = [
  ['http.request.method', 'GET'], ['url.path', '/users/123'], ['http.route', '/users/:id'], ['http.response.status_code', 200],
  ['server.address', 'localhost'], ['server.port', 8080], ['network.protocol.version', '1.1'], ['user_agent.original', 'autocannon/8.0.0'],
];
const attrs = nAttrs ? {} : null;
for (let i = 0; i < nAttrs; i++) {
  if (i < base.length) attrs[base[i][0]] = base[i][1];
  else attrs[`app.attribute.${i}`] = i % 2 ? i * 3 : `value-${i}`;
}
// Unique ids for every span, as a real tracer makes (a collector may key spans by id).
const idBase = (process.pid % 65536) * 2 ** 32;
const tracePrefix = `${process.pid.toString(16).padStart(8, '0')}0000000000000000`.slice(0, 16);
process.stdout.write('ready\n');

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleepMs = (ms) => Atomics.wait(sleeper, 0, 0, ms);

if (idle > 0) sleepMs(idle * 1000);
// Give the collector time to find the new file (it lists its directory every second).
if (startDelay > 0) sleepMs(startDelay * 1000);
let done = 0;
const t0 = process.hrtime.bigint();
const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e9;
if (idle <= 0) {
  for (;;) {
    const e = elapsed();
    if (e >= duration || done >= count) break;
    const target = Math.min(count, rate > 0 ? Math.min(Math.floor(rate * e) + 1, done + 5000) : done + 1000);
    if (done >= target) {
      sleepMs(1);
      continue;
    }
    while (done < target) {
      const spanId = (idBase + done).toString(16).padStart(16, '0');
      const traceId = tracePrefix + spanId;
      rec.recordSpanStart(scope, traceId, spanId, null, 1, 'GET /users/:id', 2, undefined, attrs);
      rec.recordSpanEnd(scope, traceId, spanId, undefined, null);
      done++;
    }
  }
}
const seconds = idle > 0 ? idle : elapsed();
const st = rec.stats();
if (renameTo) {
  // Fill mode: the file appears under the name the collector follows only now, full.
  require('node:fs').renameSync(file, renameTo);
  process.stdout.write(`filled ${JSON.stringify({ spans: done, messages: st.spans.written, dropped: st.spans.dropped })}\n`);
}
sleepMs(linger * 1000);
process.stdout.write(`${JSON.stringify({ spans: done, seconds, spansPerSec: done / seconds, messages: st.spans.written, dropped: st.spans.dropped })}\n`);
rec.close();
