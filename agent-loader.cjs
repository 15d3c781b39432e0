'use strict';
// Loads the built agent for the entry points (register.mjs, register.cjs): the bundle
// (one file, faster to load) when the build made it, else dist/agent/index.js. Returns
// undefined, after one line on stderr, when the agent is not built.
module.exports = function loadAgent() {
  let entry = './dist/agent/bundle.js';
  try {
    require.resolve(entry);
  } catch {
    entry = './dist/agent/index.js';
  }
  try {
    return require(entry);
  } catch (e) {
    process.stderr.write(`otlp-mmap: the agent is not built (${e && e.message}); run \`npm run build\`. This process runs without telemetry.\n`);
    return undefined;
  }
};
