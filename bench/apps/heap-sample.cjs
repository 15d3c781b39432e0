'use strict';
// A preload that samples every allocation (objects the GC collected included) after HEAP_DELAY
// ms and writes the V8 sampling heap profile to HEAP_OUT when the app calls process.exit, e.g.:
//   HEAP_OUT=/tmp/agent.heapprofile INPROCESS_PASSES=1 node --require ./bench/apps/heap-sample.cjs \
//     --import ./register.mjs bench/apps/inprocess-app.js 20000
// then sum `selfSize` by function (Chrome DevTools opens the file too).
const inspector = require('node:inspector');
const fs = require('node:fs');

const session = new inspector.Session();
session.connect();
setTimeout(() => {
  session.post('HeapProfiler.startSampling', {
    samplingInterval: 512,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
}, Number(process.env.HEAP_DELAY || 100)).unref();
const exit = process.exit;
process.exit = function (code) {
  session.post('HeapProfiler.stopSampling', (err, result) => {
    if (!err && process.env.HEAP_OUT) fs.writeFileSync(process.env.HEAP_OUT, JSON.stringify(result.profile));
    exit.call(process, code);
  });
};
