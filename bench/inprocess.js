#!/usr/bin/env node
'use strict';
// Same-run A/B of the agent's CPU per request without a load generator process: the bench 1 app
// and its client in one process (bench/apps/inprocess-app.js), pinned to one core; no agent, this
// build, and optionally another build (--baseline DIR: a built checkout of another commit),
// interleaved. No collector runs: the rings fill and drop. --drain adds this build with a collector
// on the load core draining its file (exporting nowhere), as in bench 1, so the app writes into
// slots another core reads: the twentieth session measured the two the same.
//   node bench/inprocess.js [--rounds 3] [--requests 20000] [--baseline DIR] [--drain]
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const c = require('./lib/common');

/** The warm-up requests of each run (the app's default), before the measured passes; `env` may change it. */
const WARMUP = 3000;
/** The measured passes of each run (the app's default): the figure is their minimum; `env` may change it. */
const PASSES = 3;

/**
 * What the agent wrote in a run, per request of the run (warm-up included): span messages
 * (starts, ends, renames...) and measurements, from each ring's published count and its drops,
 * and the span messages dropped because the ring was full (most of them when no collector
 * drains the file). Zero when no file was made (no agent).
 */
function writtenPerRequest(dir, requestsInRun) {
  const { openReader } = require('../index.js');
  let spans = 0;
  let measurements = 0;
  let dropped = 0;
  for (const f of fs.readdirSync(dir)) {
    if (!f.endsWith('.otlp-mmap')) continue;
    const reader = openReader(path.join(dir, f));
    try {
      const h = reader.header();
      spans += h.rings.spans.writerIndex + 1 + h.dropped.spans;
      measurements += h.rings.measurements.writerIndex + 1 + h.dropped.measurements;
      dropped += h.dropped.spans;
    } finally {
      reader.close();
    }
  }
  return { spanMessages: spans / requestsInRun, measurements: measurements / requestsInRun, spanMessagesDropped: dropped / requestsInRun };
}

/**
 * A collector on the load core following `dir` and exporting nowhere, as bench 1's drains the
 * app's file; it keeps the file for `writtenPerRequest`, and lists the directory every 50 ms so
 * that it finds the file early in the warm-up.
 */
function drainingCollector(dir) {
  const [cmd, argv] = c.pinned(c.LOAD_CPU, process.execPath, [
    path.join(c.ROOT, 'collector', 'bin.js'), 'collect', '--dir', dir, '--exporter', 'none', '--keep-files', '--scan-interval', '50ms',
  ]);
  return spawn(cmd, argv, { cwd: c.ROOT, stdio: 'ignore' });
}

/**
 * One run of the in-process app: {min, med} CPU µs per request over the measured passes, RSS,
 * and what the agent wrote per request. `env` is added to the environment (by default the agent
 * instruments http and express, as in bench 1). With `drain`, a collector drains the file during
 * the run (see `drainingCollector`).
 */
function once(nodeArgs, requests, env = {}, { drain = false } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otlp-mmap-inprocess-'));
  const collector = drain ? drainingCollector(dir) : undefined;
  try {
    const [cmd, argv] = c.pinned(c.APP_CPU, process.execPath, [...nodeArgs, path.join(c.APPS, 'inprocess-app.js'), String(requests)]);
    const runEnv = {
      ...process.env,
      OTLP_MMAP_DIR: dir,
      OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,express',
      INPROCESS_WARMUP: String(WARMUP),
      INPROCESS_PASSES: String(PASSES),
      ...env,
    };
    const r = spawnSync(cmd, argv, { cwd: c.ROOT, encoding: 'utf8', env: runEnv, timeout: 300_000 });
    if (r.status !== 0) throw new Error(`inprocess-app exited ${r.status}: ${r.stderr}`);
    const m = JSON.parse(r.stdout.trim().split('\n').pop());
    // Every request of the run writes, the warm-up's included.
    const requestsInRun = Number(runEnv.INPROCESS_WARMUP) + Number(runEnv.INPROCESS_PASSES) * requests;
    return { ...m, ...writtenPerRequest(dir, requestsInRun) };
  } finally {
    if (collector !== undefined) collector.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(argv = process.argv.slice(2)) {
  const a = c.args(argv);
  const rounds = a.num('--rounds', a.has('--quick') ? 1 : 3);
  const requests = a.num('--requests', a.has('--quick') ? 2000 : 20000);
  const baseline = a.get('--baseline', '');
  const thisBuild = ['--import', path.join(c.ROOT, 'register.mjs')];
  const variants = [
    { key: 'none', name: 'no agent', args: [] },
    { key: 'this', name: 'otlp-mmap (this build)', args: thisBuild },
  ];
  if (baseline) variants.push({ key: 'baseline', name: `otlp-mmap (${baseline})`, args: ['--import', path.join(path.resolve(baseline), 'register.mjs')] });
  if (a.has('--drain')) variants.push({ key: 'drained', name: 'otlp-mmap (this build, drained by a collector)', args: thisBuild, drain: true });
  const byKey = await c.interleave(variants, rounds, (v) => once(v.args, requests, {}, { drain: v.drain === true }), (m) => `${m.min} µs/request`);
  const samples = variants.map((v) => byKey.get(v.key));
  const none = c.median(samples[0].map((m) => m.min));
  const rows = variants.map((v, i) => {
    const cpu = c.median(samples[i].map((m) => m.min));
    return {
      name: v.name,
      rounds: samples[i].map((m) => m.min.toFixed(1)).join(', '),
      cpu,
      added: cpu - none,
      rss: c.median(samples[i].map((m) => m.rss)),
      spanMessages: c.median(samples[i].map((m) => m.spanMessages)),
      spanMessagesDropped: c.median(samples[i].map((m) => m.spanMessagesDropped)),
    };
  });
  const md = c.table(rows, [
    ['name', 'variant'],
    ['rounds', 'CPU µs/request per round (min of 3 passes)'],
    ['cpu', 'median', (x) => x.toFixed(1)],
    ['added', 'added µs/request', (x) => `+${x.toFixed(1)}`],
    ['rss', 'RSS MB', (x) => x.toFixed(1)],
    ['spanMessages', 'span messages/request', (x) => x.toFixed(2)],
    ['spanMessagesDropped', 'of them dropped (ring full)', (x) => x.toFixed(2)],
  ]);
  const file = c.writeResult('inprocess', { machine: c.machine(), rounds, requests, baseline, rows, samples });
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

module.exports = { main, once };
