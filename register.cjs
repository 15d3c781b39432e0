'use strict';
// otlp-mmap/register.cjs: `node --require otlp-mmap/register.cjs app.js`, for injectors that only
// know `--require`. Same result as register.mjs, ESM loader hook included. All logic is in dist/agent.
// Node runs --require preloads again in its module-hooks thread and in worker threads; the agent
// belongs to the main thread only, so nothing is loaded there.
if (require('node:worker_threads').isMainThread) {
  const agent = require('./agent-loader.cjs')();
  if (agent) agent.register('require');
}
