#!/usr/bin/env node
'use strict';
// The collector's native core alone, per span: a file of N spans (start + end, with 0, 8 or 32 of
// span-writer's attributes) is written by the recorder, then drained by openCollector().poll()
// until empty (bench/apps/collector-drain.js, pinned to the load core). Reported: CPU µs per span
// of the drain (the minimum over --files files) and, with valgrind, the instructions per span
// counted inside the native poll only (callgrind --toggle-collect), which do not depend on the
// host's noise. Bench 6 measures the whole collector process; this isolates decoding, span
// assembly and OTLP encoding. --baseline DIR runs the same against another built checkout.
//   node bench/collector-core.js [--quick] [--spans 20000] [--attrs 0,8,32] [--files 5] [--baseline DIR] [--no-instructions]
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const c = require('./lib/common');

const DRAIN = path.join(c.APPS, 'collector-drain.js');

function drainTime(root, spans, attrs, files) {
  const [cmd, argv] = c.pinned(c.LOAD_CPU, process.execPath, [DRAIN, '--root', root, '--spans', String(spans), '--attrs', String(attrs), '--files', String(files)]);
  const r = spawnSync(cmd, argv, { cwd: c.ROOT, encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`collector-drain (${root}, ${attrs} attributes) exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

function drainInstructions(root, spans, attrs) {
  return new Promise((resolve, reject) => {
    const args = [
      '--tool=callgrind', '--callgrind-out-file=/dev/null', '--toggle-collect=*col_poll*',
      process.execPath, '--single-threaded', DRAIN, '--root', root, '--spans', String(spans), '--attrs', String(attrs), '--files', '1',
    ];
    const child = spawn('valgrind', args, { cwd: c.ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.stdout.resume();
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /Collected\s*:\s*(\d+)/.exec(err);
      if (code !== 0 || !m) return reject(new Error(`callgrind of collector-drain (${root}) exited ${code}:\n${err.slice(-2000)}`));
      resolve(Number(m[1]) / spans);
    });
  });
}

async function main(argv = process.argv.slice(2)) {
  const a = c.args(argv);
  const quick = a.has('--quick');
  const spans = a.num('--spans', quick ? 2000 : 20000);
  const files = a.num('--files', quick ? 2 : 5);
  const attrList = a.get('--attrs', quick ? '8' : '0,8,32').split(',').map(Number);
  const baseline = a.get('--baseline', '');
  const withInstructions = !a.has('--no-instructions') && c.haveValgrind();
  const builds = [{ name: 'this build', root: c.ROOT }];
  if (baseline) builds.push({ name: baseline, root: path.resolve(baseline) });
  const rows = [];
  for (const attrs of attrList) {
    for (const b of builds) {
      const t = drainTime(b.root, spans, attrs, files);
      const instructions = withInstructions ? await drainInstructions(b.root, spans, attrs) : null;
      rows.push({ build: b.name, attrs, usPerSpan: t.usPerSpan, usPerSpanMedian: t.usPerSpanMedian, eventsPerCpuSecond: 2e6 / t.usPerSpan, instructionsPerSpan: instructions, bytesPerSpan: t.bytesPerSpan });
    }
  }
  const table = c.table(rows, [
    ['build', 'build'],
    ['attrs', 'attributes/span'],
    ['usPerSpan', 'CPU µs per span (min)', (x) => x.toFixed(2)],
    ['usPerSpanMedian', 'CPU µs per span (median)', (x) => x.toFixed(2)],
    ['eventsPerCpuSecond', 'span events per CPU-second (min)', c.fmt.int],
    ['instructionsPerSpan', 'instructions per span (native poll)', (x) => (x === null ? '-' : Math.round(x).toLocaleString('en-US'))],
    ['bytesPerSpan', 'OTLP bytes per span', c.fmt.int],
  ]);
  const md = [
    '### collector core (native poll alone)',
    '',
    `${spans.toLocaleString('en-US')} spans per file, ${files} files per cell, drained on CPU ${c.LOAD_CPU}; instructions ${withInstructions ? 'from one file under callgrind, counted inside the native poll only' : 'not counted (no valgrind, or --no-instructions)'}.`,
    '',
    table,
  ].join('\n');
  const file = c.writeResult('collector-core', { machine: c.machine(), spans, files, rows });
  return { md, rows, file };
}

if (require.main === module) {
  main()
    .then((r) => console.log(`${r.md}\n\n(results: ${r.file})`))
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
module.exports = { main };
