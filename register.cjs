'use strict';
// otlp-mmap/register.cjs: `node --require otlp-mmap/register.cjs app.js`, for injectors that only
// know `--require`. Same result as register.mjs, ESM loader hook included. All logic is in dist/agent.
// Node runs --require preloads again in its module-hooks thread and in worker threads; the agent
// belongs to the main thread only, so nothing is loaded there.
if (require('node:worker_threads').isMainThread) {
  let agent;
  try {
    // The bundled agent (one file, faster to load) when the build made it.
    let entry = './dist/agent/bundle.js';
    try {
      require.resolve(entry);
    } catch {
      entry = './dist/agent/index.js';
    }
    agent = require(entry);
  } catch (e) {
    process.stderr.write(`otlp-mmap: the agent is not built (${e && e.message}); run \`npm run build\`. This process runs without telemetry.\n`);
  }
  if (agent) agent.register('require');
}
