#!/usr/bin/env node
'use strict';
// npm run bench: every benchmark of the suite in turn, one markdown summary.
//   node bench/run-all.js [--quick] [--only recorder,startup,express-hello,express-pg,crash-loss,collector-throughput,collector-core,profile,breakdown,breakdown-inprocess,instructions,attribute-instructions,allocations]
// Writes bench/results/<name>.json (+ .svg plots) and bench/results/summary.md.
const path = require('node:path');
const c = require('./lib/common');

/**
 * Each benchmark's runner, in the order they run: `quick` -> { md, file }. Most are a module's
 * `main` in this process; the recorder microbenchmark runs pinned in a process of its own.
 */
const RUNNERS = {
  recorder,
  startup: plain('startup'),
  'express-hello': plain('express-hello'),
  'express-pg': plain('express-pg'),
  'crash-loss': plain('crash-loss'),
  'collector-throughput': plain('collector-throughput'),
  'collector-core': plain('collector-core'),
  profile: plain('profile'),
  breakdown: plain('breakdown'),
  'breakdown-inprocess': (quick) => require('./breakdown').main(['--inprocess', ...(quick ? ['--quick'] : [])]),
  instructions: plain('instructions'),
  'attribute-instructions': plain('attribute-instructions'),
  allocations: plain('allocations'),
};
const ALL = Object.keys(RUNNERS);

/** The runner of `bench/<name>.js`: its `main`, with `--quick` when asked. */
function plain(name) {
  return (quick) => require(`./${name}`).main(quick ? ['--quick'] : []);
}

async function recorder(quick) {
  const json = path.join(c.RESULTS, 'recorder.json');
  const p = await c.start(process.execPath, [path.join(__dirname, 'recorder.js'), '--json', json, ...(quick ? ['--quick'] : [])], { cpu: c.APP_CPU });
  await p.exitedPromise;
  if (p.code !== 0) throw new Error(`bench/recorder.js failed (${p.code}):\n${p.stderr}`);
  return { md: `### 4. recorder microbenchmark (\`node bench/recorder.js\`, pinned to CPU ${c.APP_CPU})\n\n${p.stdout.trim()}`, file: json };
}

async function main(argv = process.argv.slice(2)) {
  const a = c.args(argv);
  const quick = a.has('--quick');
  const only = a.get('--only', ALL.join(',')).split(',');
  const t0 = Date.now();
  const m = c.machine();
  const parts = [
    `# otlp-mmap benchmark run (${quick ? 'quick' : 'full'})`,
    '',
    `${new Date().toISOString()}; node ${m.node}; ${m.cpu}, ${m.cpus} CPUs, ${m.memGB} GB; kernel ${m.kernel}; taskset ${m.taskset ? 'yes' : 'no'}; load average at start ${m.loadavgAtStart.join(' ')}.`,
    '',
  ];
  const failures = [];
  for (const name of ALL.filter((n) => only.includes(n))) {
    const started = Date.now();
    process.stderr.write(`== ${name}\n`);
    try {
      const r = await RUNNERS[name](quick);
      parts.push(r.md, '', `(${((Date.now() - started) / 1000).toFixed(0)} s; load average after: ${c.loadavg().join(' ')})`, '');
      console.log(`${r.md}\n`);
    } catch (e) {
      failures.push(name);
      parts.push(`### ${name}: FAILED`, '', '```', String(e.stack || e), '```', '');
      console.error(`${name} failed: ${e.stack || e}`);
    }
  }
  parts.push(`Total: ${((Date.now() - t0) / 1000).toFixed(0)} s.`);
  const file = c.writeText(quick ? 'summary-quick.md' : 'summary.md', `${parts.join('\n')}\n`);
  console.log(`\n(summary: ${file}; total ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  if (failures.length) {
    console.error(`failed: ${failures.join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
