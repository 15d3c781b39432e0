#!/usr/bin/env node
'use strict';
// Profiles the express hello-world app under load with --cpu-prof, once with
// otlp-mmap (collector beside it) and once with the OTel auto-instrumentation (and
// once with no agent, for reference), and summarises each profile by self time.
// Profiles are kept in bench/results/profiles/<scenario>-<variant>/ (not committed).
//   node bench/profile.js [--quick] [--duration S] [--only otlp-mmap,otel,none]
const fs = require('node:fs');
const path = require('node:path');
const c = require('./lib/common');
const { variants, prepare } = require('./lib/variants');
const { summarise, toMarkdown } = require('./lib/cpuprofile');

async function main(argv = process.argv.slice(2)) {
  const a = c.args(argv);
  const quick = a.has('--quick');
  const duration = a.num('--duration', quick ? 2 : 8);
  const only = a.get('--only', 'otlp-mmap,otel,none').split(',');
  const scenario = a.get('--scenario', 'hello');
  const outDir = path.join(c.RESULTS, 'profiles');
  fs.mkdirSync(outDir, { recursive: true });
  const sink = await c.startSink();
  const out = [];
  try {
    for (const v of variants(sink.url).filter((x) => only.includes(x.key))) {
      const prep = await prepare(v, sink.url);
      const name = `${scenario}-${v.key}`;
      // One directory per variant: --cpu-prof writes one profile per thread (the ESM
      // loader hooks of --import run in their own thread); the app's is the largest.
      const dir = path.join(outDir, name);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir, { recursive: true });
      let app;
      try {
        app = await c.start(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, ...v.nodeArgs, path.join(c.APPS, 'express-app.js')], {
          cpu: c.APP_CPU,
          env: { ...v.env, ...prep.env, BENCH_SCENARIO: scenario },
          waitFor: /listening (\d+)/,
        });
        const url = `http://127.0.0.1:${app.match[1]}/users/42`;
        await c.autocannon(url, { duration: 1 });
        const res = await c.autocannon(url, { duration });
        await c.stop(app, 'SIGTERM', 20000);
        const files = fs.readdirSync(dir).map((f) => path.join(dir, f)).sort((x, y) => fs.statSync(y).size - fs.statSync(x).size);
        if (!files.length) throw new Error(`${v.name}: no profile written`);
        const file = files[0];
        const s = summarise(file, { top: 15 });
        out.push({ variant: v.name, key: v.key, rps: res.rps, summary: s });
      } finally {
        if (app) await c.stop(app);
        await prep.cleanup();
      }
    }
  } finally {
    await c.stop(sink);
  }
  const md = ['### CPU profiles (express hello world under load, `--cpu-prof`)', '', ...out.map((o) => `${toMarkdown(o.summary, `${o.variant} (${Math.round(o.rps)} req/s while profiled)`)}\n`)].join('\n');
  const file = c.writeResult(`profile-${scenario}`, { duration, profiles: out });
  c.writeText(`profile-${scenario}.md`, `${md}\n`);
  return { md, out, file };
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
