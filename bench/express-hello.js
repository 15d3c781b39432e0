#!/usr/bin/env node
'use strict';
// Benchmark 1: express hello world (about 4 spans per request).
//   node bench/express-hello.js [--quick] [--rounds N] [--duration S] [--warmup S] [--connections N] [--only none,otlp-mmap,otel] [--baseline DIR]
const c = require('./lib/common');
const { runHttpBench } = require('./lib/http-bench');

async function main(argv = process.argv.slice(2)) {
  const a = c.args(argv);
  const r = await runHttpBench({
    scenario: 'hello',
    quick: a.has('--quick'),
    rounds: a.num('--rounds', undefined),
    duration: a.num('--duration', undefined),
    warmup: a.num('--warmup', undefined),
    connections: a.num('--connections', undefined),
    only: a.get('--only', null)?.split(','),
    baseline: a.get('--baseline', '') || undefined,
  });
  console.log(r.md);
  console.log(`\n(results: ${r.file}, plot: ${r.svgFile})`);
  return r;
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
module.exports = { main };
