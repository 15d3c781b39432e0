#!/usr/bin/env node
'use strict';
// Bytes the JavaScript heap allocates per request, garbage included: the bench 1 app and its
// client in one process (bench/apps/inprocess-app.js) with V8's sampling heap profiler
// (bench/apps/alloc-sampler.cjs) over the requests after a warm-up. No agent, otlp-mmap and,
// unless left out, the OpenTelemetry auto-instrumentation (exporting to a local receiver); then
// the allocation sites where otlp-mmap allocates more than the bare app, per request. What
// a request allocates sets how often the young generation is collected, and what it keeps
// alive a little longer is promoted and marked. Sampled (every 256 bytes on average), so sites
// under ~50 bytes a request move between runs; the totals agree within a few per cent.
//   node bench/allocations.js [--quick] [--requests 20000] [--warmup 5000] [--only none,otlp-mmap,otel] [--baseline DIR] [--sites 15]
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const c = require('./lib/common');
const { inprocessVariants } = require('./lib/variants');

const SAMPLER = path.join(c.APPS, 'alloc-sampler.cjs');

function once(variant, requests, warmup, dir) {
  const out = path.join(dir, `${variant.key}.json`);
  const [cmd, argv] = c.pinned(c.APP_CPU, process.execPath, ['--require', SAMPLER, ...variant.nodeArgs, path.join(c.APPS, 'inprocess-app.js'), String(requests)]);
  const r = spawnSync(cmd, argv, {
    cwd: c.ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...variant.env, OTLP_MMAP_DIR: dir, INPROCESS_WARMUP: String(warmup), INPROCESS_PASSES: '1', ALLOC_FROM: String(warmup + 1), ALLOC_OUT: out },
    timeout: 600_000,
  });
  if (r.status !== 0 || !fs.existsSync(out)) throw new Error(`${variant.name}: inprocess-app exited ${r.status}: ${r.stderr}`);
  return JSON.parse(fs.readFileSync(out, 'utf8'));
}

async function main(argv = process.argv.slice(2)) {
  const a = c.args(argv);
  const quick = a.has('--quick');
  const requests = a.num('--requests', quick ? 1500 : 20000);
  const warmup = a.num('--warmup', quick ? 500 : 5000);
  const only = a.get('--only', 'none,otlp-mmap,otel').split(',');
  const baseline = a.get('--baseline', '');
  const siteCount = a.num('--sites', 15);
  const sink = only.includes('otel') ? await c.startSink() : null;
  const dir = c.tmpDir('otlp-mmap-allocations-');
  const variants = inprocessVariants({ only, sinkUrl: sink?.url, baseline });
  const rows = [];
  try {
    for (const v of variants) {
      // No collector: the rings fill and drop, which costs the app the same to write.
      const r = once(v, requests, warmup, dir);
      rows.push({ key: v.key, name: v.name, requests: r.requests, perRequest: r.bytes / r.requests, sites: r.sites });
      process.stderr.write(`  allocations: ${v.name}: ${Math.round(r.bytes / r.requests).toLocaleString('en-US')} bytes per request\n`);
    }
  } finally {
    await c.stop(sink, 'SIGTERM', 5000);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const none = rows.find((r) => r.key === 'none');
  const otel = rows.find((r) => r.key === 'otel');
  for (const r of rows) r.added = none ? r.perRequest - none.perRequest : null;
  for (const r of rows) r.ofOtel = none && otel && r.key !== 'none' && otel.added > 0 ? r.added / otel.added : null;
  const table = c.table(rows, [
    ['name', 'variant'],
    ['perRequest', 'bytes allocated per request', c.fmt.int],
    ['added', 'added per request', c.fmt.signedInt],
    ['ofOtel', "share of OpenTelemetry's added", c.fmt.pct],
  ]);
  // Where otlp-mmap allocates more than the bare app: per site, its bytes per request minus the
  // bare app's at the same site.
  const mmap = rows.find((r) => r.key === 'otlp-mmap');
  let sitesMd = '';
  let sites = [];
  if (none && mmap) {
    const bare = new Map(none.sites.map(([s, b]) => [s, b / none.requests]));
    sites = mmap.sites
      .map(([site, b]) => ({ site, perRequest: b / mmap.requests - (bare.get(site) || 0) }))
      .filter((s) => s.perRequest > 0)
      .sort((x, y) => y.perRequest - x.perRequest)
      .slice(0, siteCount);
    sitesMd = ['', `Where otlp-mmap allocates more than the bare app (top ${sites.length} sites, bytes per request). The profiler charges an inlined function's allocations to its caller, and the agent's wrappers change what V8 inlines, so the app's own sites (express's router here) can move between rows; the agent's own sites (\`dist/agent\`) are its allocations:`, '', c.table(sites, [['site', 'function and file'], ['perRequest', 'added bytes per request', c.fmt.int]])].join('\n');
  }
  const md = [
    '### bytes allocated per request (express hello world, in one process)',
    '',
    `${requests.toLocaleString('en-US')} requests sampled after ${warmup.toLocaleString('en-US')} warm-up requests; V8's sampling heap profiler, garbage included; the app pinned to CPU ${c.APP_CPU}.`,
    '',
    table,
    sitesMd,
  ].join('\n');
  const file = c.writeResult('allocations', { requests, warmup, rows: rows.map(({ sites: s, ...r }) => ({ ...r, topSites: s.sort((x, y) => y[1] - x[1]).slice(0, 40) })), agentSites: sites });
  return { md, rows, file };
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
