#!/usr/bin/env node
'use strict';
// Where otlp-mmap's added CPU per request goes, by switching parts of the agent off one
// at a time (express hello world, same load as bench 1, interleaved rounds, medians):
//   no agent | agent, no instrumentation | http only | http + express recording nothing |
//   http + express without metrics | the full agent (http + express)
// "this part" is the difference to the configuration it builds on (`vs` below).
//   node bench/breakdown.js [--quick] [--rounds 3] [--duration 6] [--warmup 2] [--connections 10]
// --inprocess splits finer, on the in-process app (bench/apps/inprocess-app.js: the bench 1 app
// and its client in one process, one core, min of 3 passes per run, no load generator's noise):
// it adds Node's AsyncLocalStorage hooks alone (bench/apps/als-only.cjs, no agent) and the http
// instrumentation alone with and without recording, and reports what each configuration wrote
// per request (span messages and measurements, from the file's ring counters).
//   node bench/breakdown.js --inprocess [--quick] [--rounds 3] [--requests 15000]
const path = require('node:path');
const c = require('./lib/common');
const { prepare } = require('./lib/variants');
const inprocess = require('./inprocess');

function configs() {
  const base = { OTEL_SERVICE_NAME: 'bench-app' };
  const agent = ['--import', path.join(c.ROOT, 'register.mjs')];
  const on = (env) => ({ nodeArgs: agent, env: { ...base, ...env }, collector: true });
  // `vs`: the row whose difference to this one is "what this part costs".
  return [
    { name: 'no agent', key: 'none', nodeArgs: [], env: {}, vs: null, part: '' },
    { name: 'agent loaded, no instrumentation', key: 'bare', ...on({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'none' }), vs: 'none', part: 'loading the agent (providers, context manager, file)' },
    { name: 'http instrumentation only', key: 'http', ...on({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http' }), vs: 'bare', part: 'http: 1 server span + its histogram' },
    {
      name: 'http + express, nothing recorded (always_off sampler, metrics none)',
      key: 'off',
      ...on({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,express', OTEL_TRACES_SAMPLER: 'always_off', OTEL_METRICS_EXPORTER: 'none' }),
      vs: 'bare',
      part: 'the instrumentations\' own work (hooks, context, attributes), nothing written',
    },
    {
      name: 'http + express, metrics none',
      key: 'nometrics',
      ...on({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,express', OTEL_METRICS_EXPORTER: 'none' }),
      vs: 'off',
      part: 'recording 4 spans (sampling, span objects, recorder)',
    },
    { name: 'http + express (the full agent of bench 1)', key: 'full', ...on({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,express' }), vs: 'nometrics', part: 'the http.server.request.duration measurement' },
  ];
}

/**
 * One row per configuration: its median CPU per request (`cpuOfSample` of each sample), what it
 * adds over no agent and over the row it builds on (`vs`), and `more(samples)`.
 */
function rowsOf(list, samples, cpuOfSample, more) {
  const cpuOf = new Map(list.map((v) => [v.key, c.median(samples.get(v.key).map(cpuOfSample))]));
  return list.map((v) => {
    const cpu = cpuOf.get(v.key);
    return {
      name: v.name,
      key: v.key,
      cpu,
      added: cpu - cpuOf.get('none'),
      step: v.vs === null ? null : cpu - cpuOf.get(v.vs),
      part: v.part || '-',
      ...more(samples.get(v.key)),
    };
  });
}

/** The finer split of `--inprocess` (each `vs` names the row this one builds on). */
function inprocessConfigs() {
  const agent = ['--import', path.join(c.ROOT, 'register.mjs')];
  const off = { OTEL_TRACES_SAMPLER: 'always_off', OTEL_METRICS_EXPORTER: 'none' };
  const on = (env) => ({ nodeArgs: agent, env: { OTEL_SERVICE_NAME: 'bench-app', ...env } });
  const http = { OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http' };
  return [
    { name: 'no agent', key: 'none', nodeArgs: [], env: {}, vs: null, part: '' },
    {
      name: 'AsyncLocalStorage only (no agent: bench/apps/als-only.cjs)',
      key: 'als',
      nodeArgs: ['--require', path.join(c.APPS, 'als-only.cjs')],
      env: {},
      vs: 'none',
      part: "Node 20's async hooks, which any AsyncLocalStorage context manager turns on",
    },
    { name: 'agent loaded, no instrumentation', key: 'bare', ...on({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'none' }), vs: 'none', part: 'loading the agent' },
    { name: 'http only, nothing recorded', key: 'http-off', ...on({ ...http, ...off }), vs: 'als', part: "the http server instrumentation's own work (context, attributes, bindings; a non-recording span)" },
    { name: 'http only, metrics none', key: 'http-span', ...on({ ...http, OTEL_METRICS_EXPORTER: 'none' }), vs: 'http-off', part: 'recording the server span' },
    { name: 'http only', key: 'http', ...on(http), vs: 'http-span', part: 'the http.server.request.duration measurement' },
    { name: 'http + express, nothing recorded', key: 'off', ...on(off), vs: 'http-off', part: "express's hooks: three layers' contexts and non-recording spans" },
    { name: 'http + express, metrics none', key: 'nometrics', ...on({ OTEL_METRICS_EXPORTER: 'none' }), vs: 'off', part: 'recording the four spans' },
    { name: 'http + express (the full agent of bench 1)', key: 'full', ...on({}), vs: 'nometrics', part: 'the measurement' },
  ];
}

/** `--inprocess`: interleaved rounds of the in-process app; per configuration the median of the runs' minima. */
async function mainInprocess(a) {
  const quick = a.has('--quick');
  const rounds = a.num('--rounds', quick ? 1 : 3);
  const requests = a.num('--requests', quick ? 1000 : 15000);
  const list = inprocessConfigs();
  const samples = await c.interleave(list, rounds, (v) => inprocess.once(v.nodeArgs, requests, v.env), (m) => `${m.min.toFixed(1)} us/req`);
  const rows = rowsOf(list, samples, (x) => x.min, (sm) => ({
    spanMessages: c.median(sm.map((x) => x.spanMessages)),
    measurements: c.median(sm.map((x) => x.measurements)),
    rss: c.median(sm.map((x) => x.rss)),
  }));
  const md = c.table(rows, [
    ['name', 'configuration'],
    ['cpu', 'CPU µs/req (median of the runs\' min)', (x) => x.toFixed(1)],
    ['added', 'added µs/req', (x) => (x >= 0 ? '+' : '') + x.toFixed(1)],
    ['step', 'this part µs/req', (x) => (x >= 0 ? '+' : '') + x.toFixed(1)],
    ['part', 'the part (difference to the row named in the script)'],
    ['spanMessages', 'span messages/req', (x) => x.toFixed(2)],
    ['measurements', 'measurements/req', (x) => x.toFixed(2)],
    ['rss', 'RSS MB', (x) => x.toFixed(1)],
  ]);
  const file = c.writeResult('breakdown-inprocess', { machine: c.machine(), rounds, requests, rows, samples: Object.fromEntries(samples) });
  return { md, rows, file };
}

async function measure(v, sinkUrl, { duration, warmup, connections }) {
  const prep = await prepare(v, sinkUrl);
  let app;
  try {
    app = await c.start(process.execPath, [...v.nodeArgs, path.join(c.APPS, 'express-app.js')], {
      cpu: c.APP_CPU,
      env: { ...v.env, ...prep.env, BENCH_SCENARIO: 'hello' },
      waitFor: /listening (\d+)/,
    });
    const url = `http://127.0.0.1:${app.match[1]}/users/42`;
    await c.autocannon(url, { duration: warmup, connections });
    const cpu0 = c.cpuMicros(app.pid);
    const res = await c.autocannon(url, { duration, connections });
    const cpu1 = c.cpuMicros(app.pid);
    const requests = res.requests || res.rps * duration;
    return { rps: res.rps, cpuPerReq: (cpu1 - cpu0) / requests, rss: c.rssMB(app.pid).rss };
  } finally {
    if (app) await c.stop(app);
    await prep.cleanup();
  }
}

async function main(argv = process.argv.slice(2)) {
  const a = c.args(argv);
  if (a.has('--inprocess')) return mainInprocess(a);
  const quick = a.has('--quick');
  const rounds = a.num('--rounds', quick ? 1 : 3);
  const opts = { duration: a.num('--duration', quick ? 2 : 6), warmup: a.num('--warmup', quick ? 1 : 2), connections: a.num('--connections', 10) };
  const list = configs();
  const sink = await c.startSink();
  let samples;
  try {
    samples = await c.interleave(list, rounds, (v) => measure(v, sink.url, opts), (m) => `${m.cpuPerReq.toFixed(1)} us/req, ${Math.round(m.rps)} req/s`);
  } finally {
    await c.stop(sink);
  }
  const rows = rowsOf(list, samples, (x) => x.cpuPerReq, (sm) => ({
    rps: c.median(sm.map((x) => x.rps)),
    rss: c.median(sm.map((x) => x.rss)),
  }));
  const md = c.table(rows, [
    ['name', 'configuration'],
    ['cpu', 'app CPU µs/req', (x) => x.toFixed(1)],
    ['added', 'added µs/req', (x) => `+${x.toFixed(1)}`],
    ['step', 'this part µs/req', (x) => (x >= 0 ? '+' : '') + x.toFixed(1)],
    ['part', 'the part (difference to the row named in the script)'],
    ['rps', 'req/s', (x) => Math.round(x).toLocaleString('en-US')],
    ['rss', 'RSS MB', (x) => x.toFixed(1)],
  ]);
  const file = c.writeResult('breakdown', { machine: c.machine(), rounds, ...opts, rows, samples: Object.fromEntries(samples) });
  return { md, rows, file };
}

if (require.main === module) {
  main().then(
    ({ md, file }) => console.log(`${md}\n\n(results: ${file})`),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}

module.exports = { main };
