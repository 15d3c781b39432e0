#!/usr/bin/env node
'use strict';
// Benchmark 5: crash loss. The express hello-world app (4 spans per request) serves
// N requests at a steady rate; as soon as the last response arrives the app is
// killed with SIGKILL. Then we count the distinct spans that reach the OTLP
// receiver: for OpenTelemetry straight from the app's exporter, for otlp-mmap from
// the collector (at its defaults), which finds the file of the dead writer and
// exports it to the end.
//   node bench/crash-loss.js [--quick] [--requests N] [--rate R] [--rounds N]
const path = require('node:path');
const c = require('./lib/common');
const { variants, prepare } = require('./lib/variants');

const SPANS_PER_REQUEST = 4; // http server span, 2 middleware spans, request handler span
const APP = path.join(c.APPS, 'express-app.js');

async function settle(sink, { quietMs, maxMs }) {
  const t0 = Date.now();
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const s = await c.getJson(`${sink.url}/stats`);
    if (s.distinctSpans !== last) {
      last = s.distinctSpans;
      lastChange = Date.now();
    }
    if (Date.now() - lastChange >= quietMs || Date.now() - t0 >= maxMs) return s;
    await c.sleep(250);
  }
}

async function once(v, sink, n, rate) {
  await c.getJson(`${sink.url}/reset`);
  const ringDrops = { value: null };
  let result;
  // A summary line every 250 ms (logging only; everything else at defaults) shows the
  // ring drop counters while the app's file is still followed.
  const prep = await prepare(v, sink.url, { collectorArgs: ['--summary-interval', '250ms'] });
  let app;
  try {
    app = await c.start(process.execPath, [...v.nodeArgs, APP], { cpu: c.APP_CPU, env: { ...v.env, ...prep.env, BENCH_SCENARIO: 'hello' }, waitFor: /listening (\d+)/ });
    const res = await c.autocannon(`http://127.0.0.1:${app.match[1]}/users/42`, { amount: n, rate, connections: 10 });
    app.child.kill('SIGKILL');
    await app.exitedPromise;
    // otlp-mmap: the collector notices the dead writer within its scan interval (1 s) and exports
    // what is left after its batch delay (1 s); wait until nothing more arrives for 4 s.
    const s = await settle(sink, { quietMs: 4000, maxMs: 30000 });
    const expected = res.ok * SPANS_PER_REQUEST;
    const received = s.distinctSpans;
    result = { requests: res.ok, expected, received, lost: Math.max(0, expected - received), lostPct: Math.max(0, expected - received) / expected, byName: s.byName, duplicates: s.spans - s.distinctSpans };
  } finally {
    if (app && !app.exited) await c.stop(app, 'SIGKILL');
    await prep.cleanup();
    if (prep.collector) {
      // The summary lines count what the app's recorder could not write because a ring was full.
      const all = [...prep.collector.stderr.matchAll(/file drops events=(\d+) spans=(\d+) measurements=(\d+)/g)];
      ringDrops.value = { events: 0, spans: 0, measurements: 0 };
      for (const m of all) {
        ringDrops.value.events = Math.max(ringDrops.value.events, Number(m[1]));
        ringDrops.value.spans = Math.max(ringDrops.value.spans, Number(m[2]));
        ringDrops.value.measurements = Math.max(ringDrops.value.measurements, Number(m[3]));
      }
    }
  }
  result.ringDrops = ringDrops.value;
  return result;
}

async function main(argv = process.argv.slice(2)) {
  const a = c.args(argv);
  const quick = a.has('--quick');
  const n = a.num('--requests', quick ? 300 : 3000);
  const rate = a.num('--rate', 1000);
  const rounds = a.num('--rounds', quick ? 1 : 3);
  const loadStart = c.loadavg();
  const sink = await c.startSink({ count: true });
  try {
    const vs = variants(sink.url).filter((v) => v.key !== 'none');
    const samples = Object.fromEntries(vs.map((v) => [v.key, []]));
    for (let r = 0; r < rounds; r++) {
      for (const v of r % 2 ? [...vs].reverse() : vs) {
        const s = await once(v, sink, n, rate);
        if (s.ringDrops && (s.ringDrops.spans || s.ringDrops.events)) process.stderr.write(`  (otlp-mmap ring drops: ${JSON.stringify(s.ringDrops)})\n`);
        samples[v.key].push(s);
        process.stderr.write(`  crash-loss round ${r + 1}/${rounds} ${v.name}: ${s.received}/${s.expected} spans received\n`);
      }
    }
    const rows = vs.map((v) => ({
      variant: v.name,
      key: v.key,
      expected: c.median(samples[v.key].map((s) => s.expected)),
      received: c.median(samples[v.key].map((s) => s.received)),
      lost: c.median(samples[v.key].map((s) => s.lost)),
      lostPct: c.median(samples[v.key].map((s) => s.lostPct)),
      worstLostPct: Math.max(...samples[v.key].map((s) => s.lostPct)),
      ringDrops: v.collector ? samples[v.key].reduce((n, s) => n + (s.ringDrops ? s.ringDrops.spans : 0), 0) : null,
    }));
    const md = [
      '### 5. crash loss (SIGKILL)',
      '',
      `${n} requests at ${rate} req/s (10 connections) to the express hello-world app (${SPANS_PER_REQUEST} spans per request), SIGKILL right after the last response; distinct spans received by the OTLP receiver. Median of ${rounds} rounds. Load average at start: ${loadStart.join(' ')}.`,
      '',
      c.table(rows, [
        ['variant', 'variant'],
        ['expected', 'ended spans', c.fmt.int],
        ['received', 'received', c.fmt.int],
        ['lost', 'lost', c.fmt.int],
        ['lostPct', 'lost %', c.fmt.pct],
        ['worstLostPct', 'worst round lost %', c.fmt.pct],
        ['ringDrops', 'span messages dropped by a full ring (all rounds)', c.fmt.int],
      ]),
    ].join('\n');
    const file = c.writeResult('crash-loss', { requests: n, rate, rounds, rows, samples, loadavgEnd: c.loadavg() });
    return { md, rows, file };
  } finally {
    await c.stop(sink);
  }
}

if (require.main === module) {
  main()
    .then((r) => {
      console.log(r.md);
      console.log(`\n(results: ${r.file})`);
    })
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
module.exports = { main };
