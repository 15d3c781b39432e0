#!/usr/bin/env node
'use strict';
// Benchmark 3: time added to the start (and exit) of a script by the agent, for an
// empty CommonJS script, an empty ES module, a CommonJS script that loads express and
// pg, and an ES module that imports them. Wall time from spawn to exit, pinned to the
// app core, variants interleaved, medians.
//   node bench/startup.js [--quick] [--runs N] [--baseline DIR]
// --baseline DIR adds every otlp-mmap variant again, loaded from the package in DIR (a
// built copy of another commit), so a change is measured against it in the same run.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const c = require('./lib/common');
const { INSTRUMENTATIONS } = require('./lib/variants');

const REGISTER_MJS = path.join(c.ROOT, 'register.mjs');
const REGISTER_CJS = path.join(c.ROOT, 'register.cjs');
const OTEL_REGISTER = '@opentelemetry/auto-instrumentations-node/register';
const OTEL_HOOK = '@opentelemetry/instrumentation/hook.mjs';

function cases(dir, sinkUrl, baseline) {
  const mmapEnv = { OTLP_MMAP_DIR: dir, OTEL_NODE_ENABLED_INSTRUMENTATIONS: INSTRUMENTATIONS };
  const otelEnv = {
    OTEL_NODE_ENABLED_INSTRUMENTATIONS: INSTRUMENTATIONS,
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl,
  };
  const cjs = path.join(c.APPS, 'empty.cjs');
  const mjs = path.join(c.APPS, 'empty.mjs');
  const exp = path.join(c.APPS, 'require-express-pg.cjs');
  const expEsm = path.join(c.APPS, 'import-express-pg.mjs');
  // What OTLP_MMAP_ESM_HOOK=auto did for ES modules before it stopped starting a loader thread.
  const loaderEnv = { ...mmapEnv, OTLP_MMAP_ESM_HOOK: 'always' };
  const all = [
    { script: 'empty CJS', variant: 'no agent', base: true, argv: [cjs], env: {} },
    { script: 'empty CJS', variant: 'otlp-mmap (--import register.mjs)', argv: ['--import', REGISTER_MJS, cjs], env: mmapEnv, mmap: true },
    { script: 'empty CJS', variant: 'otlp-mmap (--require register.cjs)', argv: ['--require', REGISTER_CJS, cjs], env: mmapEnv, mmap: true },
    { script: 'empty CJS', variant: 'OTel (--require register)', argv: ['--require', OTEL_REGISTER, cjs], env: otelEnv, otel: true },
    { script: 'empty ESM', variant: 'no agent', base: true, argv: [mjs], env: {} },
    { script: 'empty ESM', variant: 'otlp-mmap (--import register.mjs)', argv: ['--import', REGISTER_MJS, mjs], env: mmapEnv, mmap: true },
    { script: 'empty ESM', variant: 'otlp-mmap (--import register.mjs, OTLP_MMAP_ESM_HOOK=always)', argv: ['--import', REGISTER_MJS, mjs], env: loaderEnv, mmap: true },
    { script: 'empty ESM', variant: 'OTel (--experimental-loader hook.mjs --import register)', argv: [`--experimental-loader=${OTEL_HOOK}`, '--import', OTEL_REGISTER, mjs], env: otelEnv, otel: true },
    { script: 'CJS loading express + pg', variant: 'no agent', base: true, argv: [exp], env: {} },
    { script: 'CJS loading express + pg', variant: 'otlp-mmap (--import register.mjs)', argv: ['--import', REGISTER_MJS, exp], env: mmapEnv, mmap: true },
    { script: 'CJS loading express + pg', variant: 'OTel (--require register)', argv: ['--require', OTEL_REGISTER, exp], env: otelEnv, otel: true },
    { script: 'ESM importing express + pg', variant: 'no agent', base: true, argv: [expEsm], env: {} },
    { script: 'ESM importing express + pg', variant: 'otlp-mmap (--import register.mjs)', argv: ['--import', REGISTER_MJS, expEsm], env: mmapEnv, mmap: true },
    { script: 'ESM importing express + pg', variant: 'otlp-mmap (--import register.mjs, OTLP_MMAP_ESM_HOOK=always)', argv: ['--import', REGISTER_MJS, expEsm], env: loaderEnv, mmap: true },
  ];
  if (baseline === undefined) return all;
  const fromBaseline = (arg) => (arg === REGISTER_MJS || arg === REGISTER_CJS ? path.join(baseline, path.basename(arg)) : arg);
  return all.flatMap((k) =>
    k.mmap ? [k, { ...k, variant: `${k.variant} [baseline]`, argv: k.argv.map(fromBaseline), mmap: false, baseline: true }] : [k],
  );
}

function runOnce(k, dir) {
  const [cmd, a] = c.pinned(c.APP_CPU, process.execPath, ['--no-warnings', ...k.argv]);
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, a, { cwd: c.ROOT, env: { ...process.env, ...k.env }, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${k.script} / ${k.variant} failed (${r.status}): ${r.stderr}`);
  if (r.stderr.trim()) k.stderr = r.stderr.trim().slice(0, 500);
  for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f), { force: true });
  return ms;
}

async function main(argv = process.argv.slice(2)) {
  const a = c.args(argv);
  const quick = a.has('--quick');
  const runs = a.num('--runs', quick ? 3 : 15);
  const baselineArg = a.get('--baseline', undefined);
  const baseline = baselineArg === undefined ? undefined : path.resolve(baselineArg);
  if (baseline !== undefined && !fs.existsSync(path.join(baseline, 'register.mjs'))) {
    throw new Error(`--baseline ${baselineArg}: no register.mjs there; give the directory of a built otlp-mmap package`);
  }
  const dir = c.tmpDir('otlp-mmap-bench-startup-');
  const sink = await c.startSink();
  const loadStart = c.loadavg();
  try {
    const ks = cases(dir, sink.url, baseline);
    for (const k of ks) runOnce(k, dir); // warm the file cache
    const times = ks.map(() => []);
    for (let r = 0; r < runs; r++) {
      ks.forEach((k, i) => {
        const j = (i + r) % ks.length; // rotate the order
        times[j].push(runOnce(ks[j], dir));
      });
    }
    const rows = ks.map((k, i) => ({ script: k.script, variant: k.variant, ms: c.median(times[i]), min: Math.min(...times[i]), key: k.mmap ? 'otlp-mmap' : k.baseline ? 'baseline' : k.otel ? 'otel' : 'none', stderr: k.stderr }));
    for (const r of rows) {
      const base = rows.find((b) => b.script === r.script && b.key === 'none');
      r.addedMs = r.ms - base.ms;
    }
    const md = [
      '### 3. startup',
      '',
      `Wall time from spawn to exit, median of ${runs} interleaved runs each, pinned to CPU ${c.APP_CPU}. Load average at start: ${loadStart.join(' ')}.` +
        (baseline === undefined ? '' : ` Rows marked [baseline] load the agent from ${baseline}.`),
      '',
      c.table(rows, [
        ['script', 'script'],
        ['variant', 'variant'],
        ['ms', 'median ms', c.fmt.f1],
        ['min', 'min ms', c.fmt.f1],
        ['addedMs', 'added ms (median)', c.fmt.signed],
      ]),
    ].join('\n');
    const svg = c.barChart(
      [...new Set(rows.map((r) => r.script))].map((s) => ({
        name: s,
        bars: rows.filter((r) => r.script === s).map((r) => ({ name: r.key === 'none' ? 'no agent' : r.key === 'otel' ? 'OTel auto-instrumentation' : r.key === 'baseline' ? 'otlp-mmap (baseline)' : 'otlp-mmap', value: r.addedMs })).filter((b, i, arr) => arr.findIndex((x) => x.name === b.name) === i),
      })),
      { title: 'Startup time added (ms, median)', format: (v) => `${v.toFixed(0)} ms`, unit: 'ms added' },
    );
    const svgFile = c.writeText('startup.svg', svg);
    const file = c.writeResult('startup', { runs, baseline, rows, times, loadavgEnd: c.loadavg() });
    return { md, rows, file, svgFile };
  } finally {
    await c.stop(sink);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main()
    .then((r) => {
      console.log(r.md);
      console.log(`\n(results: ${r.file}, plot: ${r.svgFile})`);
    })
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
module.exports = { main };
