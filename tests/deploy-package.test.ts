/**
 * The distributable package (`npm pack`, documented in README.md (Running in containers and Kubernetes) and
 * made by the Dockerfile's `package` target) carries the native binary for
 * this platform and everything the package needs at run time, and works when
 * installed into an app outside the repository: the first way in,
 * NODE_OPTIONS="--import otlp-mmap/register" in the app's own image.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..');
const pkg: { name: string; version: string } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { platformTriple } = require(path.join(root, 'index.js')) as { platformTriple: () => string };

let work = '';
let tarball = '';
let packed: string[] = [];
let project = '';
let installError = '';

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_PATH' || k === 'NODE_OPTIONS' || k === 'SDK_MMAP_EXPORTER_FILE') continue;
    if (k.startsWith('OTEL_') || k.startsWith('OTLP_MMAP_') || k.startsWith('npm_') || k.startsWith('JEST_')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

beforeAll(() => {
  work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'otlp-mmap-package-')));
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work, '--loglevel=error'], {
    cwd: root,
    encoding: 'utf8',
    env: cleanEnv(),
    timeout: 120_000,
  });
  const info = JSON.parse(out) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = path.join(work, info[0].filename);
  packed = info[0].files.map((f) => f.path);

  project = path.join(work, 'app');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer-app', version: '1.0.0', private: true }));
  const r = spawnSync('npm', ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], {
    cwd: project,
    encoding: 'utf8',
    env: cleanEnv(),
    timeout: 300_000,
  });
  if (r.status !== 0) installError = `npm install ${tarball} failed (${r.status}):\n${r.stdout}\n${r.stderr}`;
}, 420_000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** Every file package.json points at: main, types, bin, exports targets, and the scripts npm runs on install. */
function filesPackageJsonNeeds(): string[] {
  const full = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    main?: string;
    types?: string;
    bin?: string | Record<string, string>;
    exports?: unknown;
    scripts?: Record<string, string>;
  };
  const out = new Set<string>(['package.json']);
  const add = (p: string | undefined): void => {
    if (p) out.add(path.posix.normalize(p).replace(/^\.\//, ''));
  };
  add(full.main);
  add(full.types);
  if (typeof full.bin === 'string') add(full.bin);
  else for (const v of Object.values(full.bin ?? {})) add(v);
  const walk = (v: unknown): void => {
    if (typeof v === 'string') add(v);
    else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
  };
  walk(full.exports);
  for (const hook of ['preinstall', 'install', 'postinstall']) {
    for (const m of (full.scripts?.[hook] ?? '').matchAll(/\bnode\s+(\S+\.[cm]?js)\b/g)) add(m[1]);
  }
  return [...out].sort();
}

test('npm pack includes the native binary for this platform and every file package.json points at', () => {
  expect(path.basename(tarball)).toBe(`${pkg.name}-${pkg.version}.tgz`);
  const needed = [...filesPackageJsonNeeds(), `otlp-mmap.${platformTriple()}.node`];
  // The entry points the deployment docs use are among them.
  expect(needed).toEqual(expect.arrayContaining(['register.mjs', 'register.cjs', 'autoinstrumentation.js', 'collector/bin.js', 'index.js']));
  expect(needed.filter((f) => !packed.includes(f))).toEqual([]);
  expect(packed.some((f) => f.startsWith('dist/agent/'))).toBe(true);
  expect(packed.some((f) => f.startsWith('dist/instrumentations/'))).toBe(true);
  expect(packed.some((f) => f.startsWith('dist/collector/'))).toBe(true);
  // Not the development tree.
  for (const prefix of ['tests/', 'bench/', 'native/target/', 'node_modules/', 'build/', 'deploy/']) {
    expect(packed.filter((f) => f.startsWith(prefix))).toEqual([]);
  }
});

describe('installed from the tarball into an app outside the repository', () => {
  beforeAll(() => {
    if (installError) throw new Error(installError);
  });

  test('the package loads its own native binary', () => {
    const installed = path.join(project, 'node_modules', 'otlp-mmap');
    expect(fs.existsSync(path.join(installed, `otlp-mmap.${platformTriple()}.node`))).toBe(true);
    const file = path.join(work, 'direct.mmap');
    const script = `
      const { openRecorder, openReader } = require('otlp-mmap');
      const rec = openRecorder(${JSON.stringify(file)});
      const res = rec.createResource({ 'service.name': 'packaged' });
      const scope = rec.createInstrumentationScope(res, 'deploy-test');
      rec.recordSpanStart(scope, '0123456789abcdef0123456789abcdef', '0123456789abcdef', null, 1, 'packaged-span', 1, undefined, {});
      rec.close();
      const rd = openReader(${JSON.stringify(file)});
      const spans = rd.read('spans', 10);
      console.log(JSON.stringify({ version: rd.header().version, names: spans.map((s) => s.name), loaded: Object.keys(require.cache) }));
    `;
    const r = spawnSync(process.execPath, ['-e', script], { cwd: project, encoding: 'utf8', env: cleanEnv() });
    if (r.status !== 0) throw new Error(r.stderr);
    const out = JSON.parse(r.stdout) as { version: number; names: string[]; loaded: string[] };
    expect(out.version).toBe(1);
    expect(out.names).toEqual(['packaged-span']);
    expect(out.loaded.filter((p) => p.startsWith(root + path.sep))).toEqual([]);
  });

  test('NODE_OPTIONS="--import otlp-mmap/register" instruments an ESM app', () => {
    const dir = path.join(work, 'mmap');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      path.join(project, 'server.mjs'),
      `import http from 'node:http';
const server = http.createServer((req, res) => res.end('ok'));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
await new Promise((resolve, reject) => {
  http.get({ host: '127.0.0.1', port: server.address().port, path: '/' }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
});
server.close();
`,
    );
    const r = spawnSync(process.execPath, ['server.mjs'], {
      cwd: project,
      encoding: 'utf8',
      timeout: 60_000,
      env: cleanEnv({ NODE_OPTIONS: '--import otlp-mmap/register', OTLP_MMAP_DIR: dir, OTEL_SERVICE_NAME: 'packaged-app' }),
    });
    if (r.status !== 0) throw new Error(`app failed (${r.status}): ${r.stderr}`);
    const files = fs.readdirSync(dir);
    expect(files).toHaveLength(1);
    const read = spawnSync(
      process.execPath,
      [
        '-e',
        `const { openReader } = require('otlp-mmap');
         const rd = openReader(process.argv[1]);
         const out = [];
         for (;;) { const b = rd.read('spans', 1000); if (!b.length) break; out.push(...b); }
         console.log(JSON.stringify(out.filter((m) => m.type === 'start').map((m) => ({ kind: m.kind, traceId: m.traceId, spanId: m.spanId, parentSpanId: m.parentSpanId }))));`,
        path.join(dir, files[0]),
      ],
      { cwd: project, encoding: 'utf8', env: cleanEnv() },
    );
    if (read.status !== 0) throw new Error(read.stderr);
    const starts = JSON.parse(read.stdout) as Array<{ kind: number; traceId: string; spanId: string; parentSpanId: string | null }>;
    const server = starts.filter((s) => s.kind === 2);
    const client = starts.filter((s) => s.kind === 3);
    expect(server).toHaveLength(1);
    expect(client).toHaveLength(1);
    expect(server[0].parentSpanId).toBe(client[0].spanId);
    expect(server[0].traceId).toBe(client[0].traceId);
  });
});
