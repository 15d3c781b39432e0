'use strict';
// Preload for bench/allocations.js: V8's sampling heap profiler (garbage included) over the
// http server's requests ALLOC_FROM+1 .. process exit, then {requests, bytes, sites} as JSON to
// ALLOC_OUT. Requests are counted at the server's 'request' event; a site is a function and its
// file (node_modules and the package root shortened) with the bytes it allocated.
//   node --require bench/apps/alloc-sampler.cjs [--import .../register.mjs] bench/apps/inprocess-app.js N
const fs = require('node:fs');
const http = require('node:http');
const inspector = require('node:inspector');

const from = Number(process.env.ALLOC_FROM || 5000);
const out = process.env.ALLOC_OUT;
const session = new inspector.Session();
session.connect();
let requests = 0;
let started = -1;
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, ...rest) {
  if (event === 'request' && ++requests === from) {
    started = requests;
    // Every 256 bytes on average; objects a GC has freed since are kept in the profile.
    session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  }
  return emit.call(this, event, ...rest);
};

const exit = process.exit;
process.exit = function (code) {
  if (started < 0 || !out) return exit.call(process, code);
  session.post('HeapProfiler.stopSampling', (err, result) => {
    if (err) {
      process.stderr.write(`alloc-sampler: ${err.message}\n`);
      return exit.call(process, 1);
    }
    const sites = new Map();
    let bytes = 0;
    const root = require('node:path').resolve(__dirname, '..', '..') + '/';
    const walk = (node) => {
      const f = node.callFrame;
      const file = f.url.replace(/^file:\/\//, '').replace(/.*\/node_modules\//, '').replace(root, '');
      const site = `${f.functionName || '(anonymous)'} ${file || '(native)'}:${f.lineNumber + 1}`;
      bytes += node.selfSize;
      if (node.selfSize > 0) sites.set(site, (sites.get(site) || 0) + node.selfSize);
      for (const child of node.children) walk(child);
    };
    walk(result.profile.head);
    fs.writeFileSync(out, JSON.stringify({ requests: requests - started + 1, bytes, sites: [...sites] }));
    exit.call(process, code);
  });
};
