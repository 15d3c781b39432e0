'use strict';
// Writes FILES files of SPANS spans each (start + end, ATTRS of span-writer's attributes, hex ids
// as span-writer makes them) with the recorder, then drains each with openCollector(file).poll()
// until its rings are empty, timing only the drain (process.cpuUsage). Prints one JSON line:
// {spans, usPerSpan (min over the files), usPerSpanMedian, bytesPerSpan (OTLP out)}.
//   node bench/apps/collector-drain.js --spans 20000 --attrs 8 --files 5 [--root DIR (the package to load)]
// Under `valgrind --tool=callgrind --toggle-collect=*col_poll*` it counts only the drain.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const argv = process.argv.slice(2);
const get = (n, d) => {
  const i = argv.indexOf(n);
  return i >= 0 ? argv[i + 1] : d;
};
const root = path.resolve(get('--root', path.join(__dirname, '..', '..')));
const spans = Number(get('--spans', 20000));
const nAttrs = Number(get('--attrs', 8));
const files = Number(get('--files', 5));
const { openRecorder, openCollector } = require(root);

const base = [
  ['http.request.method', 'GET'], ['url.path', '/users/123'], ['http.route', '/users/:id'], ['http.response.status_code', 200],
  ['server.address', 'localhost'], ['server.port', 8080], ['network.protocol.version', '1.1'], ['user_agent.original', 'autocannon/8.0.0'],
];
const attrs = nAttrs > 0 ? {} : null;
for (let i = 0; i < nAttrs; i++) {
  if (i < base.length) attrs[base[i][0]] = base[i][1];
  else attrs[`app.attribute.${i}`] = i % 2 ? i * 3 : `value-${i}`;
}

const dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'otlp-mmap-drain-'));
try {
  // Every span and its end fit the span ring at once (two messages per span).
  let slots = 1024;
  while (slots < spans * 2) slots *= 2;
  const paths = [];
  for (let f = 0; f < files; f++) {
    const file = path.join(dir, `${f}.otlp-mmap`);
    const rec = openRecorder(file, { spans: { slots, slotSize: nAttrs > 16 ? 2048 : 1280 } });
    const resource = rec.createResource({ 'service.name': 'collector-drain' });
    const scope = rec.createInstrumentationScope(resource, 'bench', '1.0.0');
    const tracePrefix = `${process.pid.toString(16).padStart(8, '0')}${f.toString(16).padStart(8, '0')}`;
    for (let i = 0; i < spans; i++) {
      const spanId = (i + 1).toString(16).padStart(16, '0');
      const traceId = tracePrefix + (i >> 2).toString(16).padStart(16, '0');
      rec.recordSpanStart(scope, traceId, spanId, null, 1, 'GET /users/:id', 2, undefined, attrs);
      rec.recordSpanEnd(scope, traceId, spanId, undefined, null);
    }
    rec.close();
    paths.push(file);
  }
  const perSpan = [];
  let exported = 0;
  let bytes = 0;
  for (const file of paths) {
    const col = openCollector(file);
    let n = 0;
    const t0 = process.cpuUsage();
    for (;;) {
      const r = col.poll();
      for (const k of r.traceItems) n += k;
      for (const b of r.traces) bytes += b.length;
      if (r.read.spans === 0) break;
    }
    const t = process.cpuUsage(t0);
    col.close();
    if (n !== spans) throw new Error(`${file}: ${n} spans exported, ${spans} written`);
    exported += n;
    perSpan.push((t.user + t.system) / n);
  }
  perSpan.sort((a, b) => a - b);
  console.log(JSON.stringify({ spans: exported, usPerSpan: perSpan[0], usPerSpanMedian: perSpan[perSpan.length >> 1], bytesPerSpan: bytes / exported }));
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
