'use strict';
// A preload that does only what any AsyncLocalStorage-based context manager does on Node 20: it
// runs each incoming request in a store (so Node's async hooks are on and copy the store to every
// async resource). Measures that tax without the agent:
//   node bench/instructions.js --only none --node-variants 'als only=--require bench/apps/als-only.cjs'
//   INPROCESS_PASSES=3 taskset -c 0 node --require ./bench/apps/als-only.cjs bench/apps/inprocess-app.js 20000
const { AsyncLocalStorage } = require('node:async_hooks');
const http = require('node:http');

const als = new AsyncLocalStorage();
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, req) {
  if (event !== 'request') return emit.apply(this, arguments);
  return als.run({ req }, () => emit.apply(this, arguments));
};
