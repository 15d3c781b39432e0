'use strict';
// A local OTLP/HTTP receiver that accepts every request and discards it.
// POST /v1/traces|/v1/metrics|/v1/logs (protobuf, optionally gzip) -> 200, empty
// ExportServiceResponse. With --count it also walks the trace protobuf and counts
// the spans it holds (distinct span ids, so a retried batch counts once).
// GET /stats -> {"requests":..,"bytes":..,"spans":..,"distinctSpans":..,"byName":{..}}
// GET /reset clears the counters. Prints "listening <port>" on stdout.
//   node bench/apps/otlp-sink.js [--port 0] [--count]
const http = require('node:http');
const zlib = require('node:zlib');

const argv = process.argv.slice(2);
const portArg = argv.indexOf('--port');
const PORT = portArg >= 0 ? Number(argv[portArg + 1]) : 0;
const COUNT = argv.includes('--count');

let stats;
const seen = new Set();
function reset() {
  stats = { requests: 0, bytes: 0, spans: 0, distinctSpans: 0, metricRequests: 0, logRequests: 0, byName: {} };
  seen.clear();
}
reset();

function varint(buf, pos) {
  let result = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos.i++];
    result += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return result;
    shift += 7;
  }
}
// Calls fn(field, start, end) for every length-delimited field of the message in buf[start, end).
function fields(buf, start, end, fn) {
  const pos = { i: start };
  while (pos.i < end) {
    const tag = varint(buf, pos);
    const field = Math.floor(tag / 8);
    const wt = tag & 7;
    if (wt === 0) varint(buf, pos);
    else if (wt === 1) pos.i += 8;
    else if (wt === 5) pos.i += 4;
    else if (wt === 2) {
      const len = varint(buf, pos);
      fn(field, pos.i, pos.i + len);
      pos.i += len;
    } else throw new Error(`wire type ${wt}`);
  }
}
function countSpans(buf) {
  fields(buf, 0, buf.length, (f, s, e) => {
    if (f !== 1) return; // ResourceSpans
    fields(buf, s, e, (f2, s2, e2) => {
      if (f2 !== 2) return; // ScopeSpans
      fields(buf, s2, e2, (f3, s3, e3) => {
        if (f3 !== 2) return; // Span
        stats.spans++;
        let id = '';
        let name = '';
        fields(buf, s3, e3, (f4, s4, e4) => {
          if (f4 === 2) id = buf.toString('hex', s4, e4);
          else if (f4 === 5) name = buf.toString('utf8', s4, e4);
        });
        if (!seen.has(id)) {
          seen.add(id);
          stats.distinctSpans++;
          stats.byName[name] = (stats.byName[name] || 0) + 1;
        }
      });
    });
  });
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET') {
    if (req.url === '/reset') reset();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(stats));
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body = Buffer.concat(chunks);
    stats.requests++;
    stats.bytes += body.length;
    if (req.url.endsWith('/v1/metrics')) stats.metricRequests++;
    if (req.url.endsWith('/v1/logs')) stats.logRequests++;
    if (COUNT && req.url.endsWith('/v1/traces')) {
      try {
        if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
        countSpans(body);
      } catch (e) {
        process.stderr.write(`sink: undecodable request: ${e.message}\n`);
      }
    }
    res.setHeader('content-type', 'application/x-protobuf');
    res.end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(PORT, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
