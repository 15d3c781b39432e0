/**
 * ES-module apps under the real agent with the default `OTLP_MMAP_ESM_HOOK=auto`: express 4 and 5
 * and pg imported by ES modules (`.mjs`, and `.js` under `"type": "module"`, default and named
 * imports), loaded with `--import`, `NODE_OPTIONS` and `--require`, are fully instrumented
 * without a loader hooks thread, and give the same spans as under import-in-the-middle's loader
 * hook (`OTLP_MMAP_ESM_HOOK=always`, what `auto` did before). A real PostgreSQL; the spans are
 * read back from the mmap files.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { FIXTURES, pgEnv } from './fixtures/instr/run';
import {
  cleanEnv,
  loaderArgs,
  readDir,
  tempDir,
  useAppsWithPostgres,
  type FileContents,
  type FileSpan,
  type Loader,
} from './fixtures/instr/agent';

const KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;
const PATHS = ['/users/1', '/api/items/2', '/fail', '/db-error'];
const WORKER_PROBE = path.join(FIXTURES, 'worker-probe.cjs');

type EsmHookMode = 'auto' | 'always' | 'never';

interface AppRun {
  code: number | null;
  stderr: string;
  /** Worker threads at exit (the loader hooks thread is one), from worker-probe.cjs. */
  workerThreads: number;
  /** What the app printed after `RESULT `, if anything. */
  result: unknown;
  contents: FileContents;
}

const pgServer = useAppsWithPostgres();

/** Runs a fixture app to its end under the agent and reads back what it wrote. */
function runApp(entry: string, loader: Loader, mode: EsmHookMode, env: Record<string, string> = {}): Promise<AppRun> {
  const dir = tempDir('otlp-mmap-esm-app-');
  const { args, env: loaderEnv } = loaderArgs(loader);
  const child = spawn(process.execPath, ['--require', WORKER_PROBE, ...args, path.join(FIXTURES, entry)], {
    cwd: path.dirname(path.join(FIXTURES, entry)),
    env: cleanEnv({ ...env, ...loaderEnv, OTLP_MMAP_DIR: dir, OTLP_MMAP_ESM_HOOK: mode, OTEL_SERVICE_NAME: 'esm-app' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const workers = /^WORKER_THREADS (\d+)$/m.exec(stdout);
      const result = /^RESULT (.*)$/m.exec(stdout);
      if (!workers) {
        reject(new Error(`${entry} printed no worker count (exit ${code}):\n${stdout}\n${stderr}`));
        return;
      }
      resolve({
        code,
        stderr,
        workerThreads: Number(workers[1]),
        result: result ? (JSON.parse(result[1]) as unknown) : undefined,
        contents: readDir(dir),
      });
    });
  });
}

function one(spans: FileSpan[], predicate: (s: FileSpan) => boolean): FileSpan {
  const found = spans.filter(predicate);
  if (found.length !== 1) {
    throw new Error(`expected one span, found ${found.length} among ${spans.map((s) => s.name).join(', ')}`);
  }
  return found[0];
}

/** Every span as `parent name > name (kind)`, sorted: the shape of what was recorded. */
function treeOf(spans: FileSpan[]): string[] {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  return spans
    .map((s) => `${(s.parentSpanId && byId.get(s.parentSpanId)?.name) ?? '(root)'} > ${s.name} (${s.kind})`)
    .sort();
}

/** The express and pg spans the app must produce; fails when they are lost. */
function expectExpressAndPgSpans(spans: FileSpan[], major: number): void {
  const server = one(spans, (s) => s.kind === KIND.SERVER && s.attributes['url.path'] === '/users/1');
  expect(server.name).toBe('GET /users/:id');
  expect(server.attributes['http.route']).toBe('/users/:id');
  const children = spans.filter((s) => s.parentSpanId === server.spanId).map((s) => s.name);
  const builtIn = major === 4 ? ['middleware - expressInit', 'middleware - query'] : [];
  expect(children.sort()).toEqual(
    [...builtIn, 'middleware - jsonParser', 'middleware - tagRequest', 'request handler - /users/:id'].sort(),
  );
  const handler = one(spans, (s) => s.name === 'request handler - /users/:id');
  const manual = one(spans, (s) => s.name === 'load-user');
  expect(manual.parentSpanId).toBe(handler.spanId);
  const query = one(spans, (s) => s.parentSpanId === manual.spanId);
  expect(query).toMatchObject({ name: 'SELECT users', kind: KIND.CLIENT, ended: true });
  expect(query.attributes).toMatchObject({ 'db.system.name': 'postgresql', 'db.namespace': pgServer().database });

  const items = one(spans, (s) => s.kind === KIND.SERVER && s.attributes['url.path'] === '/api/items/2');
  expect(items.name).toBe('GET /api/items/:id');
  const itemsHandler = one(spans, (s) => s.name === 'request handler - /api/items/:id');
  expect(one(spans, (s) => s.parentSpanId === itemsHandler.spanId).name).toBe('SELECT users');
  expect(one(spans, (s) => s.name === 'request handler - /fail').status).toEqual({ code: 2, message: 'failed through next' });
  expect(one(spans, (s) => s.name === 'SELECT no_such_table').attributes['error.type']).toBe('42P01');
}

const apps: { entry: string; loader: Loader; major: number }[] = [
  { entry: 'express4/app.mjs', loader: '--import', major: 4 },
  { entry: 'express5/app.mjs', loader: '--require', major: 5 },
  { entry: 'express4/module/app.js', loader: 'NODE_OPTIONS=--import', major: 4 },
  { entry: 'express5/module/app.js', loader: '--import', major: 5 },
];

describe.each(apps)('$entry with $loader and OTLP_MMAP_ESM_HOOK=auto', ({ entry, loader, major }) => {
  let run: AppRun;

  beforeAll(async () => {
    run = await runApp(entry, loader, 'auto', { ...pgEnv(pgServer()), APP_PATHS: PATHS.join(',') });
  });

  it('runs without a warning', () => {
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  });

  it('records the express and pg spans of modules imported by ES modules', () => {
    expectExpressAndPgSpans(run.contents.spans, major);
  });

  it('starts no loader hooks thread', () => {
    expect(run.workerThreads).toBe(0);
  });
});

describe.each([
  { entry: 'express4/app.mjs', major: 4 },
  { entry: 'express5/module/app.js', major: 5 },
])('$entry: auto gives what the loader hook gives', ({ entry, major }) => {
  let auto: AppRun;
  let always: AppRun;

  beforeAll(async () => {
    const env = { ...pgEnv(pgServer()), APP_PATHS: PATHS.join(',') };
    auto = await runApp(entry, '--import', 'auto', env);
    always = await runApp(entry, '--import', 'always', env);
  });

  it('OTLP_MMAP_ESM_HOOK=always still starts the loader hooks thread and records the same spans', () => {
    // The probe sees the loader thread when there is one: the 0 above is not for want of looking.
    expect(always.workerThreads).toBe(1);
    expect(always.stderr).toBe('');
    expectExpressAndPgSpans(always.contents.spans, major);
  });

  it('the same span tree, each span once, with and without the loader hook', () => {
    expect(auto.workerThreads).toBe(0);
    expect(treeOf(auto.contents.spans)).toEqual(treeOf(always.contents.spans));
  });
});

describe('node:http imported by an ES module (nothing require()s it)', () => {
  it('records the server and client spans with OTLP_MMAP_ESM_HOOK=auto, no loader thread', async () => {
    const run = await runApp('../agent/http.mjs', '--import', 'auto');
    expect(run.stderr).toBe('');
    expect(run.result).toEqual({ status: 200 });
    expect(run.workerThreads).toBe(0);
    const spans = run.contents.spans;
    const client = one(spans, (s) => s.kind === KIND.CLIENT);
    const server = one(spans, (s) => s.kind === KIND.SERVER);
    expect(server.attributes['url.path']).toBe('/from-esm');
    expect(server.parentSpanId).toBe(client.spanId);
    expect(server.traceId).toBe(client.traceId);
  });

  it('OTLP_MMAP_ESM_HOOK=never: no loader, and http is still traced (the http instrumentation patches the core modules when it starts)', async () => {
    const run = await runApp('../agent/http.mjs', '--import', 'never');
    expect(run.stderr).toBe('');
    expect(run.result).toEqual({ status: 200 });
    expect(run.workerThreads).toBe(0);
    const client = run.contents.spans.find((s) => s.kind === 3);
    const server = run.contents.spans.find((s) => s.kind === 2);
    expect(client?.attributes['url.full']).toMatch(/\/from-esm$/);
    expect(server?.parentSpanId).toBe(client?.spanId);
  });
});
