/**
 * The /autoinstrumentation tree (what the `agent` image ships) is built by
 * scripts/build-autoinstrumentation.js and is self-contained: copied elsewhere
 * as an init container would (`cp -r /autoinstrumentation/. <emptyDir>`), it
 * instruments a CommonJS and an ESM app that live outside the repository and
 * are started with nothing but NODE_OPTIONS="--require <copy>/autoinstrumentation.js"
 * and OTLP_MMAP_DIR, and its own collector (`node <copy>/collector/bin.js collect`)
 * exports what they recorded to a real OTLP/HTTP receiver.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as protobuf from 'protobufjs';

const root = path.join(__dirname, '..');
const script = path.join(root, 'scripts', 'build-autoinstrumentation.js');
const pkg: { version: string; dependencies: Record<string, string>; devDependencies: Record<string, string> } = JSON.parse(
  fs.readFileSync(path.join(root, 'package.json'), 'utf8'),
);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { platformTriple } = require(path.join(root, 'index.js')) as { platformTriple: () => string };

let work = '';
/** The copy the app loads, as the init container leaves it. */
let tree = '';
let apps = '';
let mmapDir = '';

/** The environment of a child: the test's own, minus anything that could point at the repository or configure the agent. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_PATH' || k === 'NODE_OPTIONS' || k === 'SDK_MMAP_EXPORTER_FILE') continue;
    if (k.startsWith('OTEL_') || k.startsWith('OTLP_MMAP_') || k.startsWith('npm_') || k.startsWith('JEST_')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** True when `p` or one of its ancestors holds a node_modules directory. */
function nodeModulesAbove(p: string): string | null {
  for (let d = p; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'node_modules'))) return path.join(d, 'node_modules');
    if (path.dirname(d) === d) return null;
  }
}

beforeAll(() => {
  work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'otlp-mmap-deploy-')));
  const built = path.join(work, 'image', 'autoinstrumentation');
  execFileSync(process.execPath, [script, built], { cwd: root, stdio: 'pipe', timeout: 540_000, env: cleanEnv({}) });
  // The init container's step, then the image is gone: nothing may refer back to it.
  tree = path.join(work, 'pod', 'otel-auto-instrumentation-nodejs');
  fs.mkdirSync(tree, { recursive: true });
  execFileSync('cp', ['-r', `${built}/.`, tree]);
  fs.rmSync(path.join(work, 'image'), { recursive: true, force: true });
  apps = path.join(work, 'apps');
  mmapDir = path.join(work, 'mmap');
  fs.mkdirSync(apps);
  fs.mkdirSync(mmapDir);
}, 600_000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('the /autoinstrumentation tree', () => {
  test('holds the package, this platform’s native binary and the production dependencies only', () => {
    for (const f of [
      'autoinstrumentation.js',
      'register.cjs',
      'register.mjs',
      'index.js',
      'index.mjs',
      'index.d.ts',
      'collector/bin.js',
      'package.json',
      `otlp-mmap.${platformTriple()}.node`,
    ]) {
      expect(fs.statSync(path.join(tree, f)).isFile()).toBe(true);
    }
    expect(fs.readdirSync(path.join(tree, 'dist')).sort()).toEqual(expect.arrayContaining(['agent', 'collector', 'instrumentations']));
    for (const dep of Object.keys(pkg.dependencies)) {
      const depPkg = JSON.parse(fs.readFileSync(path.join(tree, 'node_modules', ...dep.split('/'), 'package.json'), 'utf8'));
      expect(`${dep}@${depPkg.version}`).toBe(`${dep}@${pkg.dependencies[dep]}`);
    }
    // Dev-only packages (not needed by any production dependency) are absent. The agent's
    // instrumentations have their own base class, so @opentelemetry/instrumentation is one of them.
    for (const dev of ['typescript', 'jest', 'ts-jest', 'express', 'pg', '@napi-rs/cli', '@opentelemetry/instrumentation']) {
      expect(fs.existsSync(path.join(tree, 'node_modules', ...dev.split('/')))).toBe(false);
    }
    const treePkg = JSON.parse(fs.readFileSync(path.join(tree, 'package.json'), 'utf8'));
    expect(treePkg.name).toBe('otlp-mmap');
    expect(treePkg.version).toBe(pkg.version);
    expect(treePkg.scripts).toBeUndefined();
    expect(treePkg.devDependencies).toBeUndefined();
  });

  test('refuses to overwrite a directory that is not an earlier tree', () => {
    const precious = path.join(work, 'precious');
    fs.mkdirSync(precious);
    fs.writeFileSync(path.join(precious, 'keep.txt'), 'x');
    const r = spawnSync(process.execPath, [script, precious], { cwd: root, encoding: 'utf8', env: cleanEnv({}) });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('refusing');
    expect(fs.readFileSync(path.join(precious, 'keep.txt'), 'utf8')).toBe('x');
  });
});

// ------------------------------------------------------------ the apps

const CJS_APP = `'use strict';
const http = require('node:http');
const canResolveApi = (() => { try { require.resolve('@opentelemetry/api'); return true; } catch { return false; } })();
const server = http.createServer((req, res) => { res.setHeader('content-type', 'text/plain'); res.end('ok'); });
server.listen(0, '127.0.0.1', () => {
  http.get({ host: '127.0.0.1', port: server.address().port, path: '/cjs' }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c) => { body += c; });
    res.on('end', () => {
      server.close();
      process.stdout.write(JSON.stringify({ body, canResolveApi, loaded: Object.keys(require.cache) }) + '\\n');
    });
  });
});
`;

const ESM_APP = `import http from 'node:http';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const canResolveApi = (() => { try { require.resolve('@opentelemetry/api'); return true; } catch { return false; } })();
const server = http.createServer((req, res) => { res.setHeader('content-type', 'text/plain'); res.end('ok'); });
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const body = await new Promise((resolve, reject) => {
  http.get({ host: '127.0.0.1', port: server.address().port, path: '/esm' }, (res) => {
    let b = '';
    res.setEncoding('utf8');
    res.on('data', (c) => { b += c; });
    res.on('end', () => resolve(b));
  }).on('error', reject);
});
server.close();
process.stdout.write(JSON.stringify({ body, canResolveApi, loaded: Object.keys(require.cache) }) + '\\n');
`;

/** Reads every span message of a file with the tree's own reader, in a separate process. */
const READ_SPANS = `'use strict';
const { openReader } = require(process.argv[2]);
const reader = openReader(process.argv[3]);
const out = [];
for (;;) { const batch = reader.read('spans', 1000); if (batch.length === 0) break; out.push(...batch); }
reader.close();
process.stdout.write(JSON.stringify(out, (k, v) => (typeof v === 'bigint' ? v.toString() : v)));
`;

interface SpanMessage {
  type: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string | null;
  kind?: number;
  name?: string;
}

interface AppRun {
  service: string;
  file: string;
  spans: SpanMessage[];
}

const runs = new Map<string, AppRun>();

function runApp(kind: 'cjs' | 'esm'): AppRun {
  const file = path.join(apps, kind === 'cjs' ? 'app.cjs' : 'app.mjs');
  fs.writeFileSync(file, kind === 'cjs' ? CJS_APP : ESM_APP);
  const service = `deploy-${kind}-app`;
  const before = new Set(fs.readdirSync(mmapDir));
  const r = spawnSync(process.execPath, [file], {
    cwd: apps,
    encoding: 'utf8',
    timeout: 60_000,
    env: cleanEnv({
      NODE_OPTIONS: `--require ${path.join(tree, 'autoinstrumentation.js')}`,
      OTLP_MMAP_DIR: mmapDir,
      OTEL_SERVICE_NAME: service,
    }),
  });
  const diag = `exit ${r.status} signal ${r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  if (r.status !== 0) throw new Error(`${kind} app failed: ${diag}`);
  const report = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { body: string; canResolveApi: boolean; loaded: string[] };
  expect(report.body).toBe('ok');
  // The app itself cannot see any OpenTelemetry package (no node_modules above it, no NODE_PATH) ...
  expect(report.canResolveApi).toBe(false);
  // ... and the agent was loaded from the copy, never from the repository.
  expect(report.loaded.filter((p) => p.startsWith(root + path.sep))).toEqual([]);
  expect(report.loaded).toContain(path.join(tree, 'autoinstrumentation.js'));
  // The agent's code (the bundle, or its OpenTelemetry dependencies) came from the tree.
  expect(
    report.loaded.some(
      (p) => p === path.join(tree, 'dist', 'agent', 'bundle.js') || p.startsWith(path.join(tree, 'node_modules', '@opentelemetry') + path.sep),
    ),
  ).toBe(true);

  const created = fs.readdirSync(mmapDir).filter((f) => !before.has(f));
  if (created.length !== 1) throw new Error(`expected one new file in ${mmapDir}, found ${JSON.stringify(created)}; ${diag}`);
  // Read a snapshot, so the collector below still finds everything unread in the original.
  const snapshot = path.join(work, `${kind}.snapshot`);
  fs.copyFileSync(path.join(mmapDir, created[0]), snapshot);
  const readerScript = path.join(work, 'read-spans.cjs');
  fs.writeFileSync(readerScript, READ_SPANS);
  const read = spawnSync(process.execPath, [readerScript, path.join(tree, 'index.js'), snapshot], {
    cwd: apps,
    encoding: 'utf8',
    timeout: 60_000,
    env: cleanEnv({}),
  });
  if (read.status !== 0) throw new Error(`reading ${snapshot} failed: ${read.stderr}`);
  const spans = (JSON.parse(read.stdout) as SpanMessage[]).filter((m) => typeof m.type === 'string');
  return { service, file: created[0], spans };
}

/** The client span (kind 3) and the server span (kind 2) it caused, from the start messages. */
function clientServerPair(spans: SpanMessage[]): { client: SpanMessage; server: SpanMessage } {
  const starts = spans.filter((s) => s.type === 'start');
  const server = starts.filter((s) => s.kind === 2);
  const client = starts.filter((s) => s.kind === 3);
  expect(server).toHaveLength(1);
  expect(client).toHaveLength(1);
  return { client: client[0], server: server[0] };
}

describe('apps outside the repository, instrumented by the copied tree alone', () => {
  beforeAll(() => {
    const above = nodeModulesAbove(apps);
    if (above) throw new Error(`the test apps must not see any node_modules, but ${above} exists`);
    expect(path.relative(root, apps).startsWith('..')).toBe(true);
  });

  test.each(['cjs', 'esm'] as const)('a %s app writes its HTTP client and server spans into the file', (kind) => {
    const run = runApp(kind);
    runs.set(kind, run);
    const { client, server } = clientServerPair(run.spans);
    // The request went from the client span to the server span: context crossed HTTP.
    expect(server.traceId).toBe(client.traceId);
    expect(server.parentSpanId).toBe(client.spanId);
    // Both ended.
    const ended = new Set(run.spans.filter((s) => s.type === 'end').map((s) => s.spanId));
    expect(ended.has(client.spanId)).toBe(true);
    expect(ended.has(server.spanId)).toBe(true);
  });
});

describe('an ESM app with its own node_modules (express), the agent in the copied tree', () => {
  test('express, resolved from the app’s node_modules, is instrumented: the server span is named by its route', () => {
    const appDir = path.join(work, 'express-app');
    const dir = path.join(work, 'mmap-express');
    fs.mkdirSync(appDir);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(appDir, 'package.json'), JSON.stringify({ name: 'express-app', version: '1.0.0', private: true, type: 'module' }));
    const devExpress = JSON.parse(fs.readFileSync(path.join(root, 'node_modules', 'express', 'package.json'), 'utf8')).version as string;
    const install = spawnSync('npm', ['install', `express@${devExpress}`, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], {
      cwd: appDir,
      encoding: 'utf8',
      env: cleanEnv({}),
      timeout: 180_000,
    });
    if (install.status !== 0) throw new Error(`npm install express failed: ${install.stderr}`);
    // The app's dependencies hold no OpenTelemetry package: the agent's come from the tree only.
    expect(fs.existsSync(path.join(appDir, 'node_modules', '@opentelemetry'))).toBe(false);
    fs.writeFileSync(
      path.join(appDir, 'server.mjs'),
      `import express from 'express';
import http from 'node:http';
const app = express();
app.get('/users/:id', (req, res) => res.send('user ' + req.params.id));
const server = app.listen(0, '127.0.0.1', () => {
  http.get({ host: '127.0.0.1', port: server.address().port, path: '/users/42' }, (res) => {
    let b = '';
    res.on('data', (c) => { b += c; });
    res.on('end', () => { process.stdout.write(b + '\\n'); server.close(); });
  });
});
`,
    );
    const r = spawnSync(process.execPath, ['server.mjs'], {
      cwd: appDir,
      encoding: 'utf8',
      timeout: 60_000,
      env: cleanEnv({ NODE_OPTIONS: `--require ${path.join(tree, 'autoinstrumentation.js')}`, OTLP_MMAP_DIR: dir }),
    });
    if (r.status !== 0) throw new Error(`express app failed (${r.status}): ${r.stderr}`);
    expect(r.stdout).toBe('user 42\n');
    const files = fs.readdirSync(dir);
    expect(files).toHaveLength(1);
    const readerScript = path.join(work, 'read-spans.cjs');
    fs.writeFileSync(readerScript, READ_SPANS);
    const read = spawnSync(process.execPath, [readerScript, path.join(tree, 'index.js'), path.join(dir, files[0])], {
      cwd: appDir,
      encoding: 'utf8',
      env: cleanEnv({}),
    });
    if (read.status !== 0) throw new Error(read.stderr);
    const spans = JSON.parse(read.stdout) as SpanMessage[];
    const { server } = clientServerPair(spans);
    // The express instrumentation renames the server span after the route ...
    const finalName = spans.filter((s) => s.spanId === server.spanId && typeof s.name === 'string').map((s) => s.name).pop();
    expect(finalName).toBe('GET /users/:id');
    // ... and records the route handler as a child of the server span.
    const handler = spans.filter((s) => s.type === 'start' && s.parentSpanId === server.spanId && s.kind === 1);
    expect(handler.map((s) => s.name)).toContain('request handler - /users/:id');
  });
});

describe('a tree without a binary for the platform (a glibc tree in an Alpine app)', () => {
  test('the app runs uninstrumented, with one warning that names the platform', () => {
    const copy = path.join(work, 'pod-other-platform');
    fs.mkdirSync(copy);
    execFileSync('cp', ['-r', `${tree}/.`, copy]);
    const binary = `otlp-mmap.${platformTriple()}.node`;
    fs.rmSync(path.join(copy, binary));
    const dir = path.join(work, 'mmap-other-platform');
    fs.mkdirSync(dir);
    const app = path.join(apps, 'plain.cjs');
    fs.writeFileSync(app, "require('node:http'); process.stdout.write('app ran\\n');\n");
    const r = spawnSync(process.execPath, [app], {
      cwd: apps,
      encoding: 'utf8',
      timeout: 60_000,
      env: cleanEnv({ NODE_OPTIONS: `--require ${path.join(copy, 'autoinstrumentation.js')}`, OTLP_MMAP_DIR: dir }),
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('app ran\n');
    const lines = r.stderr.split('\n').filter((l) => l.includes('otlp-mmap'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(platformTriple());
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

// ------------------------------------------------------------ the collector

interface ExportedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  kind: number;
  name: string;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function loadTraceRequestType(): protobuf.Type {
  const protoDir = path.join(root, 'tests', 'support', 'proto');
  const pbRoot = new protobuf.Root();
  pbRoot.resolvePath = (_origin: string, target: string) => (path.isAbsolute(target) ? target : path.join(protoDir, target));
  pbRoot.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
  return pbRoot.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
}

interface PbAnyValue {
  stringValue?: string;
}
interface PbRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: Array<{ key: string; value?: PbAnyValue }> };
    scopeSpans?: Array<{ spans?: Array<{ traceId: Uint8Array; spanId: Uint8Array; parentSpanId?: Uint8Array; kind?: number; name: string }> }>;
  }>;
}

/** A real OTLP/HTTP receiver: decodes trace exports with the OTLP .proto files. */
async function startReceiver(): Promise<{ port: number; spans: ExportedSpan[]; close: () => Promise<void> }> {
  const Req = loadTraceRequestType();
  const spans: ExportedSpan[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Buffer = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
      if (req.url === '/v1/traces') {
        const msg = Req.toObject(Req.decode(body), { defaults: true, enums: Number }) as PbRequest;
        for (const rs of msg.resourceSpans ?? []) {
          const service = (rs.resource?.attributes ?? []).find((a) => a.key === 'service.name')?.value?.stringValue ?? '';
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              spans.push({
                service,
                traceId: Buffer.from(s.traceId).toString('hex'),
                spanId: Buffer.from(s.spanId).toString('hex'),
                parentSpanId: Buffer.from(s.parentSpanId ?? new Uint8Array()).toString('hex'),
                kind: Number(s.kind ?? 0),
                name: s.name,
              });
            }
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { port, spans, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('the collector run from its own copy', () => {
  let collector: ChildProcess | null = null;
  let output = '';

  afterAll(async () => {
    if (collector && collector.exitCode === null) {
      collector.kill('SIGKILL');
      await new Promise((resolve) => collector?.once('exit', resolve));
    }
  });

  test('exports both apps’ spans to an OTLP/HTTP receiver', async () => {
    expect(runs.size).toBe(2); // the app tests above ran
    const receiver = await startReceiver();
    const healthPort = await freePort();
    try {
      const bin = path.join(tree, 'collector', 'bin.js');
      collector = spawn(process.execPath, [bin, 'collect', '--dir', mmapDir, '--health-port', String(healthPort), '--health-host', '127.0.0.1'], {
        cwd: apps,
        env: cleanEnv({
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`,
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      collector.stdout?.on('data', (c: Buffer) => (output += c.toString()));
      collector.stderr?.on('data', (c: Buffer) => (output += c.toString()));

      const expected = [...runs.values()].map((r) => ({ run: r, pair: clientServerPair(r.spans) }));
      const done = (): boolean =>
        expected.every(({ pair }) =>
          [pair.client.spanId, pair.server.spanId].every((id) => receiver.spans.some((s) => s.spanId === id)),
        );
      // Bounded wait for delivery (not a timing assertion: the check below is on content).
      const deadline = Date.now() + 45_000;
      while (!done() && Date.now() < deadline && collector.exitCode === null) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      if (!done()) {
        throw new Error(`collector did not export the spans; exit ${collector.exitCode}; received ${JSON.stringify(receiver.spans)}\n${output}`);
      }
      // What the image's HEALTHCHECK runs and what the Kubernetes probes ask.
      const health = spawnSync(process.execPath, [bin, 'health', '--port', String(healthPort)], { cwd: apps, encoding: 'utf8', env: cleanEnv({}) });
      expect({ status: health.status, stderr: health.stderr }).toEqual({ status: 0, stderr: '' });
      const healthz = await fetch(`http://127.0.0.1:${healthPort}/healthz`);
      expect(healthz.status).toBe(200);
      await healthz.arrayBuffer();
      for (const { run, pair } of expected) {
        const server = receiver.spans.find((s) => s.spanId === pair.server.spanId)!;
        const client = receiver.spans.find((s) => s.spanId === pair.client.spanId)!;
        expect(server.service).toBe(run.service);
        expect(client.service).toBe(run.service);
        expect(server.traceId).toBe(pair.server.traceId);
        expect(server.parentSpanId).toBe(client.spanId);
        expect(server.kind).toBe(2);
        expect(client.kind).toBe(3);
      }
    } finally {
      if (collector && collector.exitCode === null) {
        collector.kill('SIGTERM');
        await new Promise((resolve) => collector?.once('exit', resolve));
      }
      await receiver.close();
    }
  });
});
