#!/usr/bin/env node
'use strict';
// CPU work per request counted in instructions, which the noise of a shared machine does not
// move: the bench 1 app and its client in one process (bench/apps/inprocess-app.js) under
// valgrind (cachegrind, no cache simulation), with V8 single-threaded (compiler and GC on the
// main thread, so the count does not depend on thread timing). Each variant runs twice, with a
// short and a long measured pass after the same warm-up; the difference divided by the
// difference in requests is the instructions per request, start-up and warm-up cancelled out.
// Variants: no agent, otlp-mmap (a collector drains its file, outside valgrind), and the
// OpenTelemetry auto-instrumentation exporting OTLP/HTTP protobuf to a local receiver.
// Instructions are not time (a cache miss or a runtime IC miss costs more than an add), so this
// complements bench 1's CPU µs rather than replacing it.
//   node bench/instructions.js [--quick] [--requests 1000,5000] [--warmup 2000] [--only none,otlp-mmap,otel] [--baseline DIR]
//     [--agent-env 'OTEL_NODE_ENABLED_INSTRUMENTATIONS=http OTEL_METRICS_EXPORTER=none']  (extra env for the otlp-mmap runs)
//     [--node-variants 'empty import=--import bench/apps/empty.mjs;api loaded=--require bench/apps/api-only.cjs']
//       (more variants without the agent: a name, '=', node arguments; paths relative to the package)
//     [--app FILE]  (another in-process app taking the request count as its argument; default bench/apps/inprocess-app.js)
//     [--pg]  (bench 2's work instead: a PostgreSQL server is started, the app's route runs one query per
//       request (INPROCESS_SCENARIO=pg) and every variant instruments pg too)
//     [--cache-sim]  (also cachegrind's simulated cache misses and branch mispredictions per request,
//       written to bench/results/instructions-cachesim.json: why one instruction costs more than another;
//       about twice as slow)
//     [--by-function [N]]  (callgrind instead, with V8's perf map naming the JavaScript: the N functions
//       (default 40) that add the most instructions per request over the first variant, and the added
//       instructions by part (agent JavaScript, the recorder's JavaScript and native code, Node's
//       JavaScript, V8 builtins, runtime, GC...); written to bench/results/instructions-by-function.json;
//       about twice as slow again)
// Needs valgrind (apt-get install valgrind); without it, says so and exits 0.
const fs = require('node:fs');
const path = require('node:path');
const c = require('./lib/common');
const { inprocessVariants } = require('./lib/variants');
const { startPostgres } = require('./lib/postgres');
const byFn = require('./lib/by-function');

/** A node argument naming a file of the package (`bench/apps/empty.mjs`) as an absolute path. */
function packagePath(arg) {
  return !arg.startsWith('-') && fs.existsSync(path.join(c.ROOT, arg)) ? path.join(c.ROOT, arg) : arg;
}

/** Instructions of one run of the in-process app with `requests` measured requests. */
function count(variant, requests, warmup, dir, app, cacheSim) {
  const env = { ...variant.env, OTLP_MMAP_DIR: dir, INPROCESS_WARMUP: String(warmup), INPROCESS_PASSES: '1' };
  return c.countEvents(`${variant.name} (${requests} requests)`, [...variant.nodeArgs, app, String(requests)], env, { cacheSim });
}

/** {total, functions} of one run of the in-process app under callgrind (`--by-function`). */
function countFunctions(variant, requests, warmup, dir, app, roots) {
  const env = { ...variant.env, OTLP_MMAP_DIR: dir, INPROCESS_WARMUP: String(warmup), INPROCESS_PASSES: '1' };
  return byFn.countByFunction(`${variant.name} (${requests} requests)`, [...variant.nodeArgs, app, String(requests)], env, roots);
}

/**
 * `--by-function`: the functions that add the most instructions per request in `row` over `base`
 * (top `top`, by added instructions), and the added instructions by part.
 */
function functionDiff(base, row, top) {
  const added = [];
  for (const k of new Set([...base.functions.keys(), ...row.functions.keys()])) {
    const a = base.functions.get(k) || 0;
    const b = row.functions.get(k) || 0;
    added.push({ name: k, part: byFn.partOf(k), base: a, variant: b, added: b - a });
  }
  const parts = new Map();
  for (const f of added) {
    const p = parts.get(f.part) || { part: f.part, base: 0, variant: 0, added: 0 };
    p.base += f.base;
    p.variant += f.variant;
    p.added += f.added;
    parts.set(f.part, p);
  }
  added.sort((x, y) => y.added - x.added);
  return { top: added.slice(0, top), parts: [...parts.values()].sort((x, y) => y.added - x.added) };
}

/** Above this share of a core taken by other processes during a variant, the report says so. */
const FOREIGN_CORES_WARNING = 0.05;

/** A warning under the table for each variant counted while other processes ran. */
function foreignWarning(rows) {
  const busy = rows.filter((r) => r.foreignCores > FOREIGN_CORES_WARNING);
  if (busy.length === 0) return [];
  const list = busy.map((r) => `${r.name} ${(r.foreignCores * 100).toFixed(0)}%`).join(', ');
  return [
    '',
    `**Other processes ran during this count** (share of a core, on average: ${list}). Counts taken beside other work move by several thousand instructions per request (the event loop batches I/O differently): run again on an idle machine before comparing builds.`,
  ];
}

/** The simulated events (`--cache-sim`), per request, and the column titles. */
const SIM_EVENTS = [
  ['i1Misses', 'L1 instruction misses'],
  ['d1Misses', 'L1 data misses'],
  ['llMisses', 'last-level misses'],
  ['mispredicts', 'branch mispredictions'],
];

async function main(argv = process.argv.slice(2)) {
  const a = c.args(argv);
  const quick = a.has('--quick');
  if (!c.haveValgrind()) {
    const md = '### instructions per request\n\nvalgrind is not installed (`apt-get install valgrind`): not measured.';
    return { md, skipped: true };
  }
  const [n1, n2] = a.get('--requests', quick ? '200,600' : '1000,5000').split(',').map(Number);
  const warmup = a.num('--warmup', quick ? 500 : 2000);
  const only = a.get('--only', 'none,otlp-mmap,otel').split(',');
  const baseline = a.get('--baseline', '');
  const app = path.resolve(a.get('--app', path.join(c.APPS, 'inprocess-app.js')));
  const cacheSim = a.has('--cache-sim');
  const byFunction = a.has('--by-function');
  const top = byFunction ? Number(a.get('--by-function', '40')) || 40 : 0;
  if (byFunction && cacheSim) throw new Error('--by-function and --cache-sim are separate runs: give one of them');
  if (byFunction && !byFn.haveCallgrindAnnotate()) {
    return { md: '### instructions by function\n\ncallgrind_annotate (part of valgrind) is not installed: not measured.', skipped: true };
  }
  // The receiver and the collector run only when a measured variant exports (nothing else
  // may share the load core with them, and a run of the bare app needs neither).
  const needsCollector = only.includes('otlp-mmap') || baseline !== '';
  const sink = needsCollector || only.includes('otel') ? await c.startSink() : null;
  const dir = c.tmpDir('otlp-mmap-instructions-');
  const collector = needsCollector
    ? await c.start(process.execPath, [path.join(c.ROOT, 'collector', 'bin.js'), 'collect', '--dir', dir, '--endpoint', sink.url], { cpu: c.LOAD_CPU })
    : null;
  const pg = a.has('--pg') ? await startPostgres({ cpu: c.LOAD_CPU }) : null;
  if (pg) {
    // Inherited by every variant's process (with the pg route, and pg instrumented by both agents).
    Object.assign(process.env, {
      PGHOST: pg.host,
      PGPORT: String(pg.port),
      PGUSER: pg.user,
      PGDATABASE: pg.database,
      INPROCESS_SCENARIO: 'pg',
    });
  }
  const instrumentations = pg ? 'http,express,pg' : 'http,express';
  const extraEnv = {};
  for (const kv of a.get('--agent-env', '').split(/\s+/).filter(Boolean)) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`--agent-env takes NAME=value pairs, got ${kv}`);
    extraEnv[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const variants = inprocessVariants({ only, sinkUrl: sink?.url, agentEnv: extraEnv, instrumentations });
  // More variants without the agent (before the baseline, which comes last).
  for (const spec of a.get('--node-variants', '').split(';').map((x) => x.trim()).filter(Boolean)) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new Error(`--node-variants takes name=node arguments, separated by ';', got ${spec}`);
    const name = spec.slice(0, eq).trim();
    variants.push({ key: `node:${name}`, name: `no agent, ${name}`, nodeArgs: spec.slice(eq + 1).trim().split(/\s+/).map(packagePath), env: {} });
  }
  if (baseline) variants.push(...inprocessVariants({ only: [], baseline, agentEnv: extraEnv, instrumentations }));
  // What the agent ran with, for the result file.
  const mmapEnv = inprocessVariants({ only: ['otlp-mmap'], agentEnv: extraEnv, instrumentations })[0].env;
  const rows = [];
  try {
    for (const v of variants) {
      // The two runs of a variant side by side (one per core); counts do not depend on timing.
      const roots = [c.ROOT, ...(baseline ? [path.resolve(baseline)] : [])];
      const others = c.foreignCpu([collector?.pid, sink?.pid].filter((pid) => pid !== undefined), pg ? pg.cpuMicros : undefined);
      const [e1, e2] = byFunction
        ? await Promise.all([countFunctions(v, n1, warmup, dir, app, roots), countFunctions(v, n2, warmup, dir, app, roots)])
        : await Promise.all([count(v, n1, warmup, dir, app, cacheSim), count(v, n2, warmup, dir, app, cacheSim)]);
      const [i1, i2] = byFunction ? [e1.total, e2.total] : [e1.instructions, e2.instructions];
      const perRequest = (i2 - i1) / (n2 - n1);
      const row = { key: v.key, name: v.name, i1, i2, perRequest, foreignCores: others.stop().foreignCores };
      if (byFunction) row.functions = byFn.perRequest(e1, e2, n2 - n1);
      if (cacheSim) for (const [k] of SIM_EVENTS) row[k] = (e2[k] - e1[k]) / (n2 - n1);
      rows.push(row);
      process.stderr.write(`  instructions: ${v.name}: ${Math.round(perRequest).toLocaleString('en-US')} per request\n`);
    }
  } finally {
    await c.stop(collector, 'SIGTERM', 15000);
    await c.stop(sink, 'SIGTERM', 5000);
    fs.rmSync(dir, { recursive: true, force: true });
    pg?.stop();
  }
  const none = rows.find((r) => r.key === 'none');
  const otel = rows.find((r) => r.key === 'otel');
  for (const r of rows) r.added = none ? r.perRequest - none.perRequest : null;
  for (const r of rows) r.ofOtel = none && otel && r.key !== 'none' ? r.added / otel.added : null;
  // With --cache-sim: each event per request, and how much it grew over no agent (x1.25 = +25%),
  // to set beside the instructions' growth.
  const growth = (k) => (r) => (none && r.key !== 'none' && none[k] > 0 ? `${Math.round(r[k]).toLocaleString('en-US')} (x${(r[k] / none[k]).toFixed(2)})` : Math.round(r[k]).toLocaleString('en-US'));
  for (const r of rows) r.instructionsCell = growth('perRequest')(r);
  const table = c.table(rows, [
    ['name', 'variant'],
    cacheSim ? ['instructionsCell', 'instructions per request (x no agent)'] : ['perRequest', 'instructions per request', c.fmt.int],
    ['added', 'added per request', c.fmt.signedInt],
    ['ofOtel', "share of OpenTelemetry's added", c.fmt.pct],
    ...(cacheSim ? SIM_EVENTS.map(([k, title]) => [k, `${title} per request (x no agent)`, (_x, r) => growth(k)(r)]) : []),
  ]);
  const md = [
    `### instructions per request (${pg ? 'express + pg, one query per request' : 'express hello world'}, in one process, under valgrind)`,
    '',
    `${(n2 - n1).toLocaleString('en-US')} requests counted (a ${n2.toLocaleString('en-US')}-request run minus a ${n1.toLocaleString('en-US')}-request run, both after ${warmup.toLocaleString('en-US')} warm-up requests); V8 single-threaded; a collector drains otlp-mmap's file outside valgrind. Repeat runs of one build agree within about 1% on an otherwise idle machine (other load changes how the event loop batches I/O).` +
      (cacheSim ? " Cache misses and branch mispredictions are cachegrind's simulation (its model of this machine's caches, a simple predictor): they show where an instruction costs more than another, not this CPU's own counts." : ''),
    '',
    table,
    ...foreignWarning(rows),
  ].join('\n');
  if (byFunction) return byFunctionReport({ md, rows, n1, n2, warmup, mmapEnv, top, file: `instructions${pg ? '-pg' : ''}-by-function` });
  const file = c.writeResult(`instructions${pg ? '-pg' : ''}${cacheSim ? '-cachesim' : ''}`, { machine: c.machine(), n1, n2, warmup, agentEnv: mmapEnv, cacheSim, rows });
  return { md, rows, file };
}

/** `--by-function`: each variant against the first (no agent, unless --only leaves it out). */
function byFunctionReport({ md, rows, n1, n2, warmup, mmapEnv, top, file: fileName }) {
  const base = rows[0];
  const sections = [md];
  const diffs = [];
  for (const row of rows.slice(1)) {
    const d = functionDiff(base, row, top);
    diffs.push({ key: row.key, name: row.name, vs: base.key, ...d });
    const added = row.perRequest - base.perRequest;
    sections.push(
      '',
      `#### ${row.name} against ${base.name}: ${c.fmt.signedInt(added)} instructions per request, by part`,
      '',
      c.table(d.parts, [
        ['part', 'part'],
        ['base', `${base.name}`, c.fmt.int],
        ['variant', `${row.name}`, c.fmt.int],
        ['added', 'added', c.fmt.signedInt],
      ]),
      '',
      `#### the ${d.top.length} functions that add the most (self instructions per request; JS functions named from V8's perf map)`,
      '',
      c.table(d.top, [
        ['name', 'function'],
        ['part', 'part'],
        ['base', `${base.name}`, c.fmt.int],
        ['variant', `${row.name}`, c.fmt.int],
        ['added', 'added', c.fmt.signedInt],
      ]),
    );
  }
  // The result keeps every function's count per request (functions under 10 instructions dropped).
  const kept = rows.map(({ functions, ...r }) => ({
    ...r,
    functions: Object.fromEntries([...functions].filter(([, v]) => Math.abs(v) >= 10).sort((x, y) => y[1] - x[1]).map(([k, v]) => [k, Math.round(v)])),
  }));
  const file = c.writeResult(fileName, { machine: c.machine(), n1, n2, warmup, agentEnv: mmapEnv, rows: kept, diffs });
  return { md: sections.join('\n'), rows, diffs, file };
}

if (require.main === module) {
  main()
    .then((r) => console.log(`${r.md}${r.file ? `\n\n(results: ${r.file})` : ''}`))
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
module.exports = { main };
