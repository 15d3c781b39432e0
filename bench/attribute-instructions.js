#!/usr/bin/env node
'use strict';
// What an attribute costs the recorder, in instructions: recordMeasurement called in a loop
// (bench/apps/recorder-loop.js) under valgrind, with no attributes, with the 5 attributes of an
// http server's duration measurement, and with those and a span context. Each mode runs twice
// (a short and a long loop); the difference divided by the difference in calls is the
// instructions per call, start-up cancelled out; the loop alone (building the attributes object)
// is subtracted. Two runs of one node process differ by up to ~10M instructions (start-up), so
// the count needs many calls: about ±250 per call at the default 40,000, ±500 with --quick.
// A bench 1 request encodes about 19 attributes (BENCHMARKS.md).
//   node bench/attribute-instructions.js [--quick] [--calls 5000,45000]
// Needs valgrind (apt-get install valgrind); without it, says so and exits 0.
const path = require('node:path');
const c = require('./lib/common');

const MODES = [
  ['loop', 'the loop alone (the attributes object, no call)'],
  ['none', 'recordMeasurement, no attributes'],
  ['attrs', 'recordMeasurement, 5 attributes'],
  ['attrs+span', 'recordMeasurement, 5 attributes and a span context'],
];

async function main(argv = process.argv.slice(2)) {
  const a = c.args(argv);
  if (!c.haveValgrind()) return { md: '### instructions per attribute\n\nvalgrind is not installed (`apt-get install valgrind`): not measured.', skipped: true };
  const [n1, n2] = a.get('--calls', a.has('--quick') ? '2000,22000' : '5000,45000').split(',').map(Number);
  const loop = path.join(c.APPS, 'recorder-loop.js');
  const rows = [];
  for (const [mode, name] of MODES) {
    const [i1, i2] = await Promise.all([n1, n2].map((n) => c.countInstructions(`${mode} (${n} calls)`, [loop, String(n), mode])));
    rows.push({ mode, name, perIteration: (i2 - i1) / (n2 - n1) });
  }
  const base = rows[0].perIteration;
  for (const r of rows) r.perCall = r.mode === 'loop' ? null : r.perIteration - base;
  const none = rows.find((r) => r.mode === 'none').perCall;
  const attrs = rows.find((r) => r.mode === 'attrs').perCall;
  const perAttribute = (attrs - none) / 5;
  const table = c.table(rows, [
    ['name', 'what'],
    ['perIteration', 'instructions per iteration', c.fmt.int],
    ['perCall', 'instructions per call (loop subtracted)', (x) => (x === null ? '-' : Math.round(x).toLocaleString('en-US'))],
  ]);
  const md = [
    '### instructions per attribute (the recorder, under valgrind)',
    '',
    `${(n2 - n1).toLocaleString('en-US')} calls counted (a ${n2.toLocaleString('en-US')}-call run minus a ${n1.toLocaleString('en-US')}-call run); V8 single-threaded.`,
    '',
    table,
    '',
    `Per attribute: **${Math.round(perAttribute).toLocaleString('en-US')} instructions** ((5 attributes - none) / 5).`,
  ].join('\n');
  const file = c.writeResult('attribute-instructions', { machine: c.machine(), n1, n2, rows, perAttribute });
  return { md, rows, perAttribute, file };
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
