// otlp-mmap/register: `node --import otlp-mmap/register app.js`.
// Installs the ESM loader hook before the app's first import, starts the agent, and waits
// until the loader knows every module the instrumentations hooked. All logic is in dist/agent.
import { createRequire } from 'node:module';

let agent;
try {
  const require = createRequire(import.meta.url);
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
if (agent) await agent.register('import');
