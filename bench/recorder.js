#!/usr/bin/env node
'use strict';
// Recorder microbenchmark (issue 2, benchmark 4 of the suite).
//
// Reports ns per operation for span start+end with 0, 8 and 32 attributes and as the agent's
// express layer spans make them, a measurement and an event through the otlp-mmap recorder, and
// the same span work
// through the official OpenTelemetry SDK (@opentelemetry/sdk-trace-base with a
// BatchSpanProcessor feeding an exporter that serialises to OTLP protobuf and
// discards). Variants are interleaved and repeated; medians and ratios are printed.
//
//   node bench/recorder.js [--rounds 7] [--ops 100000] [--json out.json] [--quick]

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { openRecorder, openReader } = require('..');
require('./lib/common').helpRequested();

const argv = process.argv.slice(2);
const flag = (name, def) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : def;
};
const quick = argv.includes('--quick');
const ROUNDS = Number(flag('--rounds', quick ? 2 : 7));
const OPS = Number(flag('--ops', quick ? 5000 : 40000));
const JSON_OUT = flag('--json', null);

function attrs(n) {
  const base = {
    'http.request.method': 'GET',
    'url.path': '/users/123',
    'http.route': '/users/:id',
    'http.response.status_code': 200,
    'server.address': 'localhost',
    'server.port': 8080,
    'network.protocol.version': '1.1',
    'user_agent.original': 'autocannon/8.0.0',
  };
  const out = {};
  const keys = Object.keys(base);
  for (let i = 0; i < n; i++) {
    if (i < keys.length) out[keys[i]] = base[keys[i]];
    else out[`app.attribute.${i}`] = i % 2 ? i * 3 : `value-${i}`;
  }
  return out;
}

// ------------------------------------------------------------ otlp-mmap

const dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'otlp-mmap-bench-'));
// Rings large enough that one measured batch never fills them; a reader drains
// them between batches (as the collector does), so the loop measures the steady
// state: ring pages resident, never the drop path.
const file = path.join(dir, 'bench.otlp-mmap');
const rec = openRecorder(file, {
  spans: { slots: 1 << 18, slotSize: 512 },
  events: { slots: 1 << 17, slotSize: 512 },
  measurements: { slots: 1 << 17, slotSize: 256 },
});
const drain = openReader(file);
const drainAll = () => {
  for (const ring of ['events', 'spans', 'measurements']) drain.discard(ring);
};
const resource = rec.createResource({ 'service.name': 'bench' });
const scope = rec.createInstrumentationScope(resource, 'bench', '1.0.0');
const metric = rec.createMetricStream(scope, 'http.server.request.duration', 'duration', 's', {
  type: 'histogram',
  temporality: 'cumulative',
  boundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
});
const eventName = rec.recordString('exception');

// Ids as an instrumented app has them: every span has a fresh span id, and four
// consecutive spans share a trace (an express request). Pre-generated, so the loop
// measures the recorder, not id generation.
const ID_COUNT = 1 << 17;
const rnd = () => Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, '0');
const spanIds = Array.from({ length: ID_COUNT }, () => rnd() + rnd());
const traceIds = Array.from({ length: ID_COUNT / 4 }, () => rnd() + rnd() + rnd() + rnd());

function mmapSpans(n, a, traces = traceIds, spans = spanIds) {
  for (let i = 0; i < n; i++) {
    const t = traces[(i >> 2) & (ID_COUNT / 4 - 1)];
    const s = spans[i & (ID_COUNT - 1)];
    rec.recordSpanStart(scope, t, s, null, 1, 'GET /users/:id', 2, undefined, a);
    rec.recordSpanEnd(scope, t, s, undefined, null);
  }
}

// The same ids as bytes, as the agent hands them over (its id generator's bytes; hex ids are
// decoded by the recorder): these calls take the recorder's hot path.
const fromHex = (h) => Uint8Array.from(h.match(/../g), (b) => parseInt(b, 16));
const spanIdBytes = spanIds.map(fromHex);
const traceIdBytes = traceIds.map(fromHex);
const mmapSpansBytes = (n, a) => mmapSpans(n, a, traceIdBytes, spanIdBytes);

// The agent's express layer spans: id bytes, a frozen attributes object (the same one for every
// request through a layer, which the recorder registers once), and names longer than 20
// characters, which the recorder encodes once and then copies.
const layerAttrs = Object.freeze({ 'express.name': '<anonymous>', 'express.type': 'middleware' });
const layerNames = ['middleware - <anonymous>', 'request handler - /users/:id'];
function mmapLayerSpans(n) {
  for (let i = 0; i < n; i++) {
    const t = traceIdBytes[(i >> 2) & (ID_COUNT / 4 - 1)];
    const s = spanIdBytes[i & (ID_COUNT - 1)];
    rec.recordSpanStart(scope, t, s, s, 1, layerNames[i & 1], 1, undefined, layerAttrs);
    rec.recordSpanEnd(scope, t, s, undefined, null);
  }
}

const mAttrs = { 'http.request.method': 'GET', 'http.route': '/users/:id', 'http.response.status_code': 200 };
function mmapMeasurements(n) {
  for (let i = 0; i < n; i++) rec.recordMeasurement(metric, mAttrs, undefined, 0.0123);
}
const evAttrs = { 'exception.type': 'Error', 'exception.message': 'boom' };
function mmapEvents(n) {
  for (let i = 0; i < n; i++) {
    rec.recordEvent(scope, { traceId: traceIds[(i >> 2) & (ID_COUNT / 4 - 1)], spanId: spanIds[i & (ID_COUNT - 1)], traceFlags: 1 }, eventName, undefined, evAttrs, null);
  }
}

// ------------------------------------------------------------ OpenTelemetry SDK

let otel = null;
try {
  const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
  const { ProtobufTraceSerializer } = require('@opentelemetry/otlp-transformer');
  let bytes = 0;
  const exporter = {
    export(spans, done) {
      bytes += ProtobufTraceSerializer.serializeRequest(spans).length;
      done({ code: 0 });
    },
    shutdown: async () => {},
    forceFlush: async () => {},
  };
  const provider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 1 << 16, maxExportBatchSize: 512, scheduledDelayMillis: 50 })],
  });
  const tracer = provider.getTracer('bench', '1.0.0');
  otel = {
    provider,
    bytes: () => bytes,
    spans(n, a, names = ['GET /users/:id']) {
      for (let i = 0; i < n; i++) {
        const span = tracer.startSpan(names[i % names.length], { kind: 1, attributes: a });
        span.end();
      }
    },
  };
} catch (e) {
  console.error(`(OpenTelemetry SDK baseline unavailable: ${e.message})`);
}

// ------------------------------------------------------------ harness

// CPU time (user + system) of this thread's work, in ns per op: on a shared, noisy
// machine it is steadier than wall time, and both sides are measured the same way.
const cpuNs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};
function timeNs(fn, n) {
  drainAll();
  const t0 = cpuNs();
  fn(n);
  return (cpuNs() - t0) / n;
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

async function main() {
  const a0 = null;
  const a8 = attrs(8);
  const a32 = attrs(32);
  const cases = [
    ['span start+end, 0 attributes', (n) => mmapSpans(n, a0), otel && ((n) => otel.spans(n, a0))],
    ['span start+end, 8 attributes', (n) => mmapSpans(n, a8), otel && ((n) => otel.spans(n, a8))],
    ['span start+end, 32 attributes', (n) => mmapSpans(n, a32), otel && ((n) => otel.spans(n, a32))],
    ['span start+end, 8 attributes, id bytes (the agent\'s calls)', (n) => mmapSpansBytes(n, a8), otel && ((n) => otel.spans(n, a8))],
    ['span start+end, an express layer\'s (id bytes, frozen attributes, a 24-28 character name)', mmapLayerSpans, otel && ((n) => otel.spans(n, layerAttrs, layerNames))],
    ['measurement (3 attributes)', mmapMeasurements, null],
    ['event (2 attributes, span context)', mmapEvents, null],
  ];
  // Warm up every path so both sides run optimised code, and touch every ring page once.
  for (let i = 0; i < 3; i++) {
    mmapSpans(60000, a8);
    mmapSpansBytes(60000, a8);
    mmapLayerSpans(60000);
    mmapMeasurements(120000);
    mmapEvents(120000);
    drainAll();
  }
  for (const [, m, o] of cases) {
    m(Math.min(OPS, 20000));
    drainAll();
    if (o) {
      o(Math.min(OPS, 20000));
      await otel.provider.forceFlush();
    }
  }
  const results = cases.map(([name]) => ({ name, mmap: [], otel: [] }));
  for (let r = 0; r < ROUNDS; r++) {
    for (let c = 0; c < cases.length; c++) {
      const [, m, o] = cases[c];
      // Alternate which side goes first to spread noise evenly.
      if (r % 2 === 0) results[c].mmap.push(timeNs(m, OPS));
      if (o) {
        // Include the SDK's export work (serialisation happens on flush).
        const t0 = cpuNs();
        o(OPS);
        await otel.provider.forceFlush();
        results[c].otel.push((cpuNs() - t0) / OPS);
      }
      if (r % 2 === 1) results[c].mmap.push(timeNs(m, OPS));
    }
  }
  const rows = results.map((r) => {
    const m = median(r.mmap);
    const o = r.otel.length ? median(r.otel) : null;
    return { benchmark: r.name, otlpMmapNs: Math.round(m), otelSdkNs: o === null ? null : Math.round(o), ratio: o === null ? null : +(o / m).toFixed(1) };
  });
  const st = rec.stats();
  console.log(`recorder microbenchmark: ${ROUNDS} rounds x ${OPS} ops, median CPU ns/op (node ${process.version}, ${os.cpus()[0].model}, ${os.cpus().length} cpus)`);
  console.log('| benchmark | otlp-mmap ns/op | OTel SDK (BatchSpanProcessor + OTLP protobuf) ns/op | SDK / otlp-mmap |');
  console.log('|---|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.benchmark} | ${r.otlpMmapNs} | ${r.otelSdkNs ?? '-'} | ${r.ratio ? r.ratio + 'x' : '-'} |`);
  console.log(`(recorder: ${st.spans.written} span messages written, ${st.spans.dropped} dropped; SDK serialised ${otel ? otel.bytes() : 0} bytes)`);
  if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify({ rounds: ROUNDS, ops: OPS, rows }, null, 2));
  drain.close();
  rec.close();
  fs.rmSync(dir, { recursive: true, force: true });
  if (otel) await otel.provider.shutdown();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
