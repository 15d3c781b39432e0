/**
 * The agent bundle is compiled from the V8 code cache the build writes (agent-loader.cjs): the
 * cache is accepted by the Node that built it, a damaged or foreign cache is ignored by V8 and the
 * agent still starts and records, and no cache at all means a plain require.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assembleSpans, cleanup, readOnlyFile, ROOT, runNode, spanNamed, tempDir } from './fixtures/agent/harness';

afterAll(cleanup);

/** A copy of the package's entry points and bundle (binary and node_modules linked), so its cache can be damaged. */
function packageCopy(cache: 'keep' | 'garbage' | 'stale' | 'none'): string {
  const dir = tempDir('otlp-mmap-codecache-');
  for (const f of ['index.js', 'agent-loader.cjs', 'register.cjs']) fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
  for (const f of fs.readdirSync(ROOT).filter((n) => n.endsWith('.node'))) fs.symlinkSync(path.join(ROOT, f), path.join(dir, f));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  fs.mkdirSync(path.join(dir, 'dist', 'agent'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'dist', 'agent', 'bundle.js'), path.join(dir, 'dist', 'agent', 'bundle.js'));
  const cacheFile = path.join(dir, 'dist', 'agent', 'bundle.cache');
  const marker = path.join(dir, 'dist', 'agent', 'bundle.cache.json');
  if (cache !== 'none') fs.copyFileSync(path.join(ROOT, 'dist', 'agent', 'bundle.cache.json'), marker);
  if (cache === 'keep') fs.copyFileSync(path.join(ROOT, 'dist', 'agent', 'bundle.cache'), cacheFile);
  if (cache === 'garbage') fs.writeFileSync(cacheFile, Buffer.alloc(4096, 0x5a));
  if (cache === 'stale') {
    // The old cache and marker beside a rebuilt bundle of the same length (a new content hash on
    // its first line, one character changed): V8 would take the cache; the marker must not.
    fs.copyFileSync(path.join(ROOT, 'dist', 'agent', 'bundle.cache'), cacheFile);
    const bundle = path.join(dir, 'dist', 'agent', 'bundle.js');
    const text = fs.readFileSync(bundle, 'utf8');
    const nl = text.indexOf('\n');
    const rebuiltId = `${text.slice(0, nl - 1)}${text[nl - 1] === '0' ? '1' : '0'}`;
    const at = text.indexOf('"use strict"');
    fs.writeFileSync(bundle, `${rebuiltId}${text.slice(nl, at)}'use strict'${text.slice(at + 12)}`);
    expect(fs.statSync(bundle).size).toBe(text.length);
  }
  return dir;
}

const APP = `
const api = require(${JSON.stringify(path.join(ROOT, 'node_modules', '@opentelemetry', 'api'))});
api.trace.getTracer('code-cache').startSpan('after-load').end();
process.stdout.write('RESULT ' + JSON.stringify({ cache: globalThis[Symbol.for('otlp-mmap.codeCache')] }) + '\\n');
`;

async function runWith(pkg: string) {
  const dir = tempDir();
  const app = path.join(dir, 'app.cjs');
  fs.writeFileSync(app, APP);
  const r = await runNode(['--require', path.join(pkg, 'register.cjs'), app], { OTLP_MMAP_DIR: dir, OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'none' });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const spans = assembleSpans(readOnlyFile(dir));
  expect(spanNamed(spans, 'after-load').ended).toBe(true);
  return (r.result as { cache: string }).cache;
}

test('the build writes a code cache for this Node, and V8 accepts it', async () => {
  const marker = JSON.parse(fs.readFileSync(path.join(ROOT, 'dist', 'agent', 'bundle.cache.json'), 'utf8')) as { node: string };
  expect(marker.node).toBe(process.version);
  expect(await runWith(packageCopy('keep'))).toBe('accepted');
  // The package itself, as the entry points load it.
  expect(await runWith(ROOT)).toBe('accepted');
});

test('a damaged cache is rejected by V8 and the agent starts anyway', async () => {
  expect(await runWith(packageCopy('garbage'))).toBe('rejected');
});

test('a cache made for another bundle of the same length is not used', async () => {
  expect(await runWith(packageCopy('stale'))).toBe('none');
});

test('without a cache the bundle is required as usual', async () => {
  expect(await runWith(packageCopy('none'))).toBe('none');
});

test('agent-loader.cjs --make-code-cache writes a cache that the next start accepts', async () => {
  const pkg = packageCopy('none');
  const r = await runNode([path.join(pkg, 'agent-loader.cjs'), '--make-code-cache'], {});
  expect(r.code).toBe(0);
  expect(fs.statSync(path.join(pkg, 'dist', 'agent', 'bundle.cache')).size).toBeGreaterThan(10_000);
  expect(await runWith(pkg)).toBe('accepted');
});
