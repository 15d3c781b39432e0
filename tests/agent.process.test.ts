/**
 * Starting the agent in real child processes: every entry point (--import, NODE_OPTIONS,
 * --require, the Operator's autoinstrumentation.js), CommonJS and ESM apps, loading twice,
 * OTEL_SDK_DISABLED, and failures that must leave the app running.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { attributesObject, readMmapFile } from './support/mmap-reader';
import {
  APP_CJS,
  APP_MJS,
  AUTOINSTRUMENTATION,
  REGISTER_CJS,
  REGISTER_MJS,
  ROOT,
  agentWarnings,
  assembleSpans,
  cleanup,
  mmapFiles,
  readOnlyFile,
  runNode,
  spanNamed,
  tempDir,
  type RunResult,
} from './fixtures/agent/harness';

afterAll(cleanup);

/** A copy of the package (its runtime files, node_modules linked), with or without the native binary. */
function copyPackage(withBinary: boolean): string {
  const pkg = tempDir();
  const files = ['package.json', 'index.js', 'register.mjs', 'register.cjs', 'agent-loader.cjs'];
  if (withBinary) files.push(...fs.readdirSync(ROOT).filter((f) => f.endsWith('.node')));
  for (const f of files) fs.copyFileSync(path.join(ROOT, f), path.join(pkg, f));
  fs.cpSync(path.join(ROOT, 'dist'), path.join(pkg, 'dist'), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
  return pkg;
}

interface Probe {
  agentStatus: string | null;
  httpPatched: boolean;
  iitmLoaded: boolean;
  instrumentationLoaded: boolean;
  tracerProviderIsNoop: boolean;
}

function expectManualTrace(dirOrFile: string): void {
  const spans = assembleSpans(dirOrFile.endsWith('.mmap') ? readMmapFile(dirOrFile) : readOnlyFile(dirOrFile));
  const parent = spanNamed(spans, 'parent');
  expect(spanNamed(spans, 'child-renamed').parentSpanId).toBe(parent.spanId);
  expect(spanNamed(spans, 'grandchild').parentSpanId).toBe(spanNamed(spans, 'active-child').spanId);
}

function expectEsmTrace(dir: string, r: RunResult): void {
  expect(r.result).toEqual({ namedGetPatched: true });
  const spans = assembleSpans(readOnlyFile(dir));
  expect(spanNamed(spans, 'esm-child').parentSpanId).toBe(spanNamed(spans, 'esm-parent').spanId);
}

describe('entry points', () => {
  test.each([
    ['--import otlp-mmap/register', (dir: string) => ({ args: ['--import', REGISTER_MJS], env: { OTLP_MMAP_DIR: dir } })],
    ['NODE_OPTIONS=--import', (dir: string) => ({ args: [], env: { OTLP_MMAP_DIR: dir, NODE_OPTIONS: `--import ${REGISTER_MJS}` } })],
    ['--require register.cjs', (dir: string) => ({ args: ['--require', REGISTER_CJS], env: { OTLP_MMAP_DIR: dir } })],
    ['NODE_OPTIONS=--require autoinstrumentation.js', (dir: string) => ({ args: [], env: { OTLP_MMAP_DIR: dir, NODE_OPTIONS: `--require ${AUTOINSTRUMENTATION}` } })],
  ])('%s instruments a CommonJS app and an ES module app', async (_name, setup) => {
    const cjsDir = tempDir();
    const cjs = setup(cjsDir);
    const probe = await runNode([...cjs.args, APP_CJS, 'probe'], cjs.env);
    expect(probe.stderr).toBe('');
    expect(probe.result).toMatchObject({ agentStatus: 'started', httpPatched: true, tracerProviderIsNoop: false });
    fs.rmSync(cjsDir, { recursive: true });
    const manual = await runNode([...cjs.args, APP_CJS, 'manual'], cjs.env);
    expect(manual.stderr).toBe('');
    expect(manual.code).toBe(0);
    expectManualTrace(cjsDir);

    const esmDir = tempDir();
    const esm = setup(esmDir);
    const r = await runNode([...esm.args, APP_MJS], esm.env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expectEsmTrace(esmDir, r);
  });

  test('without the agent nothing is patched and nothing is written (the control for the tests above)', async () => {
    const dir = tempDir();
    const r = await runNode([APP_MJS], { OTLP_MMAP_DIR: dir });
    expect(r.result).toEqual({ namedGetPatched: false });
    expect(mmapFiles(dir)).toEqual([]);
  });

  test('loading the agent twice, through two entry points, starts it once', async () => {
    const dir = tempDir();
    const r = await runNode(['--import', REGISTER_MJS, '--require', REGISTER_CJS, APP_CJS, 'manual'], {
      OTLP_MMAP_DIR: dir,
      NODE_OPTIONS: `--import ${REGISTER_MJS}`,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(mmapFiles(dir)).toHaveLength(1);
    // spanNamed fails on duplicates: each span was recorded once.
    expectManualTrace(dir);
    const file = readOnlyFile(dir);
    expect(file.spans.messages.filter((m) => m.message.event.type === 'start')).toHaveLength(5);
  });

  test('two copies of the package loaded into one process start one agent', async () => {
    const copy = copyPackage(true);
    const dir = tempDir();
    const r = await runNode(['--import', path.join(copy, 'register.mjs'), '--require', REGISTER_CJS, APP_CJS, 'manual'], { OTLP_MMAP_DIR: dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(mmapFiles(dir)).toHaveLength(1);
    expectManualTrace(dir);
  });
});

describe('OTEL_SDK_DISABLED=true', () => {
  test('creates no file and patches nothing', async () => {
    const dir = path.join(tempDir(), 'not-created');
    for (const args of [['--import', REGISTER_MJS], ['--require', REGISTER_CJS]]) {
      const r = await runNode([...args, APP_CJS, 'probe'], { OTLP_MMAP_DIR: dir, OTEL_SDK_DISABLED: 'true' });
      expect(r.stderr).toBe('');
      expect(r.result as Probe).toEqual({
        agentStatus: 'disabled',
        httpPatched: false,
        iitmLoaded: false,
        instrumentationLoaded: false,
        tracerProviderIsNoop: true,
      });
      const esm = await runNode([...args, APP_MJS], { OTLP_MMAP_DIR: dir, OTEL_SDK_DISABLED: 'true' });
      expect(esm.result).toEqual({ namedGetPatched: false });
    }
    expect(fs.existsSync(dir)).toBe(false);
  });
});

describe('failures never stop the app', () => {
  function serveOnce(env: Record<string, string>, args: string[] = ['--import', REGISTER_MJS]) {
    let requested = false;
    let body = '';
    return runNode([...args, APP_CJS, 'serve'], env, (out) => {
      const m = /PORT (\d+)/.exec(out);
      if (!m || requested) return;
      requested = true;
      http.get(`http://127.0.0.1:${m[1]}/`, (res) => {
        res.on('data', (d: Buffer) => (body += d.toString()));
      });
    }).then((r) => ({ ...r, body }));
  }

  test('an unwritable directory gives one warning on stderr, and the app serves normally', async () => {
    const base = tempDir();
    fs.writeFileSync(path.join(base, 'a-file'), '');
    const dir = path.join(base, 'a-file', 'otlp');
    const r = await serveOnce({ OTLP_MMAP_DIR: dir });
    expect(r.code).toBe(0);
    expect(r.body).toBe('served');
    const warnings = agentWarnings(r.stderr);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/could not start.*without telemetry.*ENOTDIR/);
    expect(r.stderr.trim()).toBe(warnings[0]);
  });

  test('a missing native addon gives one warning on stderr, and the app serves normally', async () => {
    const pkg = copyPackage(false);
    const dir = tempDir();
    const r = await serveOnce({ OTLP_MMAP_DIR: dir }, ['--import', path.join(pkg, 'register.mjs')]);
    expect(r.code).toBe(0);
    expect(r.body).toBe('served');
    const warnings = agentWarnings(r.stderr);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/could not start.*no native binary for this platform/);
    expect(mmapFiles(dir)).toEqual([]);
  });

  test('a bad configuration value gives one warning and the default; the agent still runs', async () => {
    const dir = tempDir();
    const r = await runNode(['--import', REGISTER_MJS, APP_CJS, 'manual'], { OTLP_MMAP_DIR: dir, OTEL_TRACES_SAMPLER: 'sometimes' });
    expect(r.code).toBe(0);
    expect(agentWarnings(r.stderr)).toEqual([
      'otlp-mmap: OTEL_TRACES_SAMPLER="sometimes" is not valid (expected one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio); using parentbased_always_on',
    ]);
    expectManualTrace(dir);
  });
});

describe('the file and the resource', () => {
  test('one file per process named after service and pid, with the resource attributes', async () => {
    const dir = tempDir();
    const r = await runNode(['--import', REGISTER_MJS, APP_CJS, 'manual'], {
      OTLP_MMAP_DIR: dir,
      OTEL_SERVICE_NAME: 'checkout',
      OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=checkout-7d9f%2Fx,deployment.environment.name=test',
      npm_package_version: '4.5.6',
    });
    expect(r.code).toBe(0);
    const file = readOnlyFile(dir);
    const m = /^checkout-(\d+)-[0-9a-f]{8}\.otlp-mmap$/.exec(path.basename(file.path));
    expect(m).not.toBeNull();
    expect((fs.statSync(file.path).mode & 0o777).toString(8)).toBe('600');
    const scope = file.resolveScope(file.spans.messages[0].message.scopeRef);
    const resource = attributesObject(file.resolveResource(scope.resourceRef).attributes);
    expect(resource).toMatchObject({
      'service.name': 'checkout',
      'service.version': '4.5.6',
      'k8s.pod.name': 'checkout-7d9f/x',
      'deployment.environment.name': 'test',
      'telemetry.sdk.name': 'otlp-mmap',
      'telemetry.sdk.language': 'nodejs',
      'process.pid': BigInt(m![1]),
      'process.executable.path': process.execPath,
      'process.command': APP_CJS,
      'process.runtime.name': 'nodejs',
      'process.runtime.version': process.versions.node,
      'host.name': require('node:os').hostname(),
      'host.arch': process.arch === 'x64' ? 'amd64' : process.arch,
      'os.type': 'linux',
    });
    expect(resource['process.command_args']).toEqual([process.execPath, '--import', REGISTER_MJS, APP_CJS, 'manual']);
  });

  test('ring sizes and the file mode come from OTLP_MMAP_*', async () => {
    const dir = tempDir();
    const r = await runNode(['--import', REGISTER_MJS, APP_CJS, 'manual'], {
      OTLP_MMAP_DIR: dir,
      OTLP_MMAP_SLOTS: '64',
      OTLP_MMAP_SPAN_SLOTS: '128',
      OTLP_MMAP_SPAN_SLOT_SIZE: '1024',
      OTLP_MMAP_EVENT_SLOT_SIZE: '2048',
      OTLP_MMAP_FILE_MODE: '0640',
    });
    expect(r.stderr).toBe('');
    const file = readOnlyFile(dir);
    expect([file.events.header.numBuffers, file.events.header.bufferSize]).toEqual([64, 2048]);
    expect([file.spans.header.numBuffers, file.spans.header.bufferSize]).toEqual([128, 1024]);
    expect(file.measurements.header.numBuffers).toBe(64);
    expect((fs.statSync(file.path).mode & 0o777).toString(8)).toBe('640');
    expectManualTrace(dir);
  });

  test('OTLP_MMAP_FILE (and its alias SDK_MMAP_EXPORTER_FILE) names one explicit path', async () => {
    for (const name of ['OTLP_MMAP_FILE', 'SDK_MMAP_EXPORTER_FILE']) {
      const file = path.join(tempDir(), 'nested', 'app.mmap');
      const r = await runNode(['--import', REGISTER_MJS, APP_CJS, 'manual'], { [name]: file });
      expect(r.code).toBe(0);
      expect(fs.existsSync(file)).toBe(true);
      expectManualTrace(file);
    }
  });
});
