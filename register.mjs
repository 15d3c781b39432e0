// otlp-mmap/register: `node --import otlp-mmap/register app.js`.
// Installs the ESM loader hook before the app's first import, starts the agent, and waits
// until the loader knows every module the instrumentations hooked. All logic is in dist/agent.
import { createRequire } from 'node:module';

let agent;
try {
  agent = createRequire(import.meta.url)('./dist/agent/index.js');
} catch (e) {
  process.stderr.write(`otlp-mmap: the agent is not built (${e && e.message}); run \`npm run build\`. This process runs without telemetry.\n`);
}
if (agent) await agent.register('import');
