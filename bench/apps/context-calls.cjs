'use strict';
// Counts the agent's context-manager calls per request in the in-process bench 1 app: each
// active(), apply(), call3(), bind() and bindObserved() is one read of the store on the current
// async resource (apply and call3 also switch it). Preload it after the agent:
//   INPROCESS_WARMUP=0 INPROCESS_PASSES=1 node --import ./register.mjs \
//     --require ./bench/apps/context-calls.cjs bench/apps/inprocess-app.js 10000
// At exit it prints {"contextCallsPerRequest": {...}} to stderr; the request count is the app's
// (INPROCESS_WARMUP + INPROCESS_PASSES x N, with its defaults).
const API_KEY = Symbol.for('opentelemetry.js.api.1');
const METHODS = ['active', 'apply', 'call3', 'bind', 'bindObserved'];

// The agent registers its manager while --import loads, after this preload has run: wait for it.
const waiting = setInterval(() => {
  const manager = globalThis[API_KEY] && globalThis[API_KEY].context;
  if (!manager) return;
  clearInterval(waiting);
  const proto = Object.getPrototypeOf(manager);
  const counts = {};
  for (const name of METHODS) {
    const original = proto[name];
    if (typeof original !== 'function') continue;
    counts[name] = 0;
    proto[name] = function counted() {
      counts[name]++;
      return original.apply(this, arguments);
    };
  }
  process.on('exit', () => {
    const n = Number(process.argv[2] || 20000);
    const warmup = Number(process.env.INPROCESS_WARMUP || 3000);
    const passes = Number(process.env.INPROCESS_PASSES || 3);
    const requests = warmup + passes * n;
    const perRequest = {};
    for (const [name, c] of Object.entries(counts)) perRequest[name] = Math.round((c / requests) * 100) / 100;
    process.stderr.write(`${JSON.stringify({ contextCallsPerRequest: perRequest, requests })}\n`);
  });
}, 1);
waiting.unref();
