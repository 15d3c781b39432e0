// otlp-mmap/register: `node --import otlp-mmap/register app.js`.
// Installs the ESM loader hook before the app's first import, starts the agent, and waits
// until the loader knows every module the instrumentations hooked. All logic is in dist/agent.
import { createRequire } from 'node:module';

const agent = createRequire(import.meta.url)('./agent-loader.cjs')();
if (agent) await agent.register('import');
