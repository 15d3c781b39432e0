/**
 * The `otlp-mmap` command as a user runs it (the package `bin`, in a child
 * process), and the configuration rules of the OpenTelemetry exporter
 * variables.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, resolveConfig } from '../collector';
import { COLLECT_OPTIONS } from '../collector/options';

const ROOT = path.join(__dirname, '..');
const BIN = path.join(ROOT, 'collector', 'bin.js');

/** Runs the bin with a clean environment (no OTEL_* from the test runner). */
function run(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, TMPDIR: os.tmpdir(), ...env }, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('otlp-mmap CLI', () => {
  test('collect --help documents every option and the exporter variables, and exits 0', () => {
    const r = run(['collect', '--help']);
    expect(r.code).toBe(0);
    for (const o of COLLECT_OPTIONS) expect(r.stdout).toContain(o.flag);
    for (const v of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TIMEOUT', 'OTEL_EXPORTER_OTLP_COMPRESSION', 'OTEL_METRIC_EXPORT_INTERVAL', 'SDK_MMAP_EXPORTER_FILE', 'OTLP_MMAP_DIR']) {
      expect(r.stdout).toContain(v);
    }
  });

  test('--help lists the commands; no command is a usage error (2)', () => {
    const help = run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/collect[\s\S]*inspect[\s\S]*health/);
    expect(run([]).code).toBe(2);
  });

  test.each([
    [['collect', '--frobnicate'], 'unknown option --frobnicate'],
    [['collect', '--exporter', 'kafka'], '--exporter must be otlp, console or none, got "kafka"'],
    [['collect', '--poll-interval', 'soon'], '--poll-interval must be a duration such as 500, 500ms, 2s or 1m, got "soon"'],
    [['collect', '--queue-bytes', 'lots'], '--queue-bytes must be a size such as 1048576, 512KiB or 64MiB, got "lots"'],
    [['collect', '--protocol', 'http/json'], 'http/json is not supported'],
    [['collect', '--compression', 'zstd'], '--compression must be gzip or none, got "zstd"'],
    [['collect', '--dir', '/a', '--file', '/b'], '--dir and --file cannot be used together'],
    [['collect', '--endpoint', 'localhost'], '--endpoint must be a URL such as http://localhost:4318, got "localhost"'],
    [['collect', '--max-batch-size', '0'], '--max-batch-size must be between 1 and'],
    [['collect', '--health-port', '70000'], '--health-port must be between 0 and 65535, got 70000'],
    [['collect', '--timeout'], '--timeout needs a value'],
    [['collect', 'extra'], 'unexpected argument "extra"'],
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['inspect'], 'inspect needs a FILE'],
    [['health'], 'health needs --port'],
  ])('%j exits with code 2 and says what is wrong', (args, message) => {
    const r = run(args);
    expect(r.stderr).toContain(message);
    expect(r.code).toBe(2);
  });

  test.each([
    ['OTEL_EXPORTER_OTLP_TIMEOUT', 'ten', 'OTEL_EXPORTER_OTLP_TIMEOUT must be a duration'],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'smoke-signals', 'OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or grpc, got "smoke-signals"'],
    ['OTEL_EXPORTER_OTLP_HEADERS', 'novalue', 'OTEL_EXPORTER_OTLP_HEADERS must be key=value pairs'],
    ['OTEL_EXPORTER_OTLP_TRACES_COMPRESSION', 'brotli', 'OTEL_EXPORTER_OTLP_TRACES_COMPRESSION must be gzip or none'],
    ['OTEL_METRIC_EXPORT_INTERVAL', '-5', 'OTEL_METRIC_EXPORT_INTERVAL must be a duration'],
  ])('a bad %s=%s exits with code 2 naming the variable', (name, value, message) => {
    const r = run(['collect'], { [name]: value });
    expect(r.stderr).toContain(message);
    expect(r.code).toBe(2);
  });

  test('inspect of a file that does not exist exits 1 with the path', () => {
    const r = run(['inspect', '/nonexistent/x.otlp-mmap']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot read /nonexistent/x.otlp-mmap');
  });

  test('inspect prints the header, rings, fill and drop counters; --follow prints messages until the writer exits', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const native = require('..') as typeof import('..');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'collector-inspect-'));
    const file = path.join(dir, 'inspected.otlp-mmap');
    const rec = native.openRecorder(file, { events: { slots: 64, slotSize: 256 }, spans: { slots: 128, slotSize: 256 }, measurements: { slots: 256, slotSize: 128 } });
    const scope = rec.createInstrumentationScope(rec.createResource({ 'service.name': 'inspected' }), 'inspect-scope', '1');
    for (let i = 0; i < 3; i++) rec.recordSpanStart(scope, 'ab'.repeat(16), `${i}`.padStart(16, '0'), null, 1, `span-${i}`, 1, undefined, { i });

    const once = run(['inspect', file]);
    expect(once.code).toBe(0);
    expect(once.stdout).toContain(`file        ${file}`);
    expect(once.stdout).toContain('version     1');
    expect(once.stdout).toMatch(/writer\s+alive/);
    expect(once.stdout).toMatch(/^events\s+\d+\s+64\s+256\s+-1\s+-1\s+0\s+0\.0%\s+0$/m);
    expect(once.stdout).toMatch(/^spans\s+\d+\s+128\s+256\s+-1\s+2\s+3\s+2\.3%\s+0$/m);
    expect(once.stdout).toMatch(/^measurements\s+\d+\s+256\s+128\s+/m);
    expect(once.stdout).toMatch(/dictionary\s+offset \d+, \d+ bytes used, \d+ entries/);

    const child = spawn(process.execPath, [BIN, 'inspect', file, '--follow', '--interval', '20ms'], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // The three spans, then one more written while following.
    await new Promise<void>((resolve) => {
      const check = (): void => (out.includes('span-2') ? resolve() : void setTimeout(check, 20));
      check();
    });
    rec.recordSpanStart(scope, 'ab'.repeat(16), '9'.padStart(16, '0'), null, 1, 'span-late', 1, undefined, undefined);
    await new Promise<void>((resolve) => {
      const check = (): void => (out.includes('span-late') ? resolve() : void setTimeout(check, 20));
      check();
    });
    rec.close(); // the writer exits: --follow ends
    expect(await exited).toBe(0);
    const messages = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { ring: string });
    expect(messages).toHaveLength(4);
    expect(messages.every((m) => m.ring === 'spans')).toBe(true);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('collect runs, serves /healthz (probed by `otlp-mmap health`), and exits 0 on SIGTERM', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'collector-cli-'));
    const child = spawn(process.execPath, [BIN, 'collect', '--dir', dir, '--exporter', 'none', '--health-port', '0', '--health-host', '127.0.0.1'], {
      env: { PATH: process.env.PATH, TMPDIR: os.tmpdir() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        const m = /health check on http:\/\/127\.0\.0\.1:(\d+)\/healthz/.exec(stderr);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', (code) => reject(new Error(`collector exited with ${code}: ${stderr}`)));
    });
    const probe = spawnSync(process.execPath, [BIN, 'health', '--port', String(port)], { encoding: 'utf8', timeout: 30_000 });
    expect(probe.status).toBe(0);
    expect(JSON.parse(probe.stdout.slice(4))).toMatchObject({ status: 'ok', files: 0, queueBytes: 0 });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    // Nobody listens any more: the probe fails.
    const after = spawnSync(process.execPath, [BIN, 'health', '--port', String(port)], { encoding: 'utf8', timeout: 30_000 });
    expect(after.status).toBe(1);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('the collector yields the CPU to the application', () => {
  /** The nice value of process `pid` (field 19 of /proc/<pid>/stat). */
  function niceOf(pid: number): number {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  }

  async function niceOfRunningCollector(extraArgs: string[], env: Record<string, string> = {}): Promise<number> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'collector-nice-'));
    const child = spawn(process.execPath, [BIN, 'collect', '--dir', dir, '--exporter', 'none', '--health-port', '0', '--health-host', '127.0.0.1', ...extraArgs], {
      env: { PATH: process.env.PATH, TMPDIR: os.tmpdir(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let stderr = '';
      await new Promise<void>((resolve, reject) => {
        child.stderr.on('data', (c: Buffer) => {
          stderr += c.toString();
          if (/health check on/.test(stderr)) resolve();
        });
        child.on('exit', (code) => reject(new Error(`collector exited with ${code}: ${stderr}`)));
      });
      return niceOf(child.pid!);
    } finally {
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  const mine = niceOf(process.pid);

  test('collect lowers its priority by 10 by default, by --nice N or OTLP_MMAP_COLLECTOR_NICE, and not with 0', async () => {
    expect(await niceOfRunningCollector([])).toBe(Math.min(19, mine + 10));
    expect(await niceOfRunningCollector(['--nice', '3'])).toBe(Math.min(19, mine + 3));
    expect(await niceOfRunningCollector([], { OTLP_MMAP_COLLECTOR_NICE: '5' })).toBe(Math.min(19, mine + 5));
    expect(await niceOfRunningCollector(['--nice', '0'])).toBe(mine);
  });

  test('--nice outside 0-19 is a usage error naming the flag and the value', () => {
    const r = run(['collect', '--nice', '25']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--nice must be between 0 and 19, got 25/);
    expect(resolveConfig({}, {}).nice).toBe(10);
    expect(() => resolveConfig({}, { OTLP_MMAP_COLLECTOR_NICE: 'low' })).toThrow(/OTLP_MMAP_COLLECTOR_NICE must be an integer, got "low"/);
  });
});

describe('exporter configuration from the environment', () => {
  test('defaults: http/protobuf to localhost:4318 with /v1/<signal>, 10s timeout, no compression', () => {
    const c = resolveConfig({}, {});
    expect(c.otlp.traces).toMatchObject({ url: 'http://localhost:4318/v1/traces', protocol: 'http/protobuf', timeoutMs: 10_000, compression: 'none', headers: {} });
    expect(c.otlp.metrics.url).toBe('http://localhost:4318/v1/metrics');
    expect(c.otlp.logs.url).toBe('http://localhost:4318/v1/logs');
    expect(c.metricIntervalMs).toBe(60_000);
    expect(c.source).toEqual({ kind: 'dir', dir: path.join(os.tmpdir(), 'otlp-mmap') });
  });

  test('a base endpoint gets /v1/<signal> appended (trailing slash or not); a per-signal endpoint is used as-is', () => {
    const c = resolveConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector:4318/prefix/', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://metrics:9000/custom' });
    expect(c.otlp.traces.url).toBe('https://collector:4318/prefix/v1/traces');
    expect(c.otlp.logs.url).toBe('https://collector:4318/prefix/v1/logs');
    expect(c.otlp.metrics.url).toBe('http://metrics:9000/custom');
  });

  test('grpc uses the endpoint as host:port with the default 4317', () => {
    expect(resolveConfig({}, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }).otlp.traces.url).toBe('http://localhost:4317');
    const c = resolveConfig({}, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4317', OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://otel:4318/v1/logs' });
    expect(c.otlp.traces).toMatchObject({ url: 'http://otel:4317', protocol: 'grpc' });
    expect(c.otlp.logs).toMatchObject({ url: 'http://otel:4318/v1/logs', protocol: 'http/protobuf' });
  });

  test('headers: percent-decoded, per-signal ones override, --header overrides both', () => {
    const env = { OTEL_EXPORTER_OTLP_HEADERS: 'Api-Key=a%2Cb,tenant=x', OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'tenant=logs' };
    const c = resolveConfig({ headers: ['extra=1'] }, env);
    expect(c.otlp.traces.headers).toEqual({ 'api-key': 'a,b', tenant: 'x', extra: '1' });
    expect(c.otlp.logs.headers).toEqual({ 'api-key': 'a,b', tenant: 'logs', extra: '1' });
  });

  test('timeout, compression and the metric interval; flags win over variables', () => {
    const env = { OTEL_EXPORTER_OTLP_TIMEOUT: '2500', OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '700', OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip', OTEL_METRIC_EXPORT_INTERVAL: '5000' };
    const c = resolveConfig({}, env);
    expect(c.otlp.traces.timeoutMs).toBe(700);
    expect(c.otlp.metrics.timeoutMs).toBe(2500);
    expect(c.otlp.logs.compression).toBe('gzip');
    expect(c.metricIntervalMs).toBe(5000);
    const f = resolveConfig({ timeout: '1s', compression: 'none', metricInterval: '2s' }, env);
    expect(f.otlp.traces.timeoutMs).toBe(1000);
    expect(f.otlp.traces.compression).toBe('none');
    expect(f.metricIntervalMs).toBe(2000);
  });

  test('SDK_MMAP_EXPORTER_FILE selects one file; OTLP_MMAP_DIR the directory', () => {
    expect(resolveConfig({}, { SDK_MMAP_EXPORTER_FILE: '/run/app.otlp-mmap' }).source).toEqual({ kind: 'file', file: '/run/app.otlp-mmap' });
    expect(resolveConfig({}, { OTLP_MMAP_DIR: '/run/otlp' }).source).toEqual({ kind: 'dir', dir: '/run/otlp' });
  });

  test('batch size reaches the native options; sizes and durations accept units', () => {
    const c = resolveConfig({ maxBatchSize: '100', queueBytes: '8MiB', batchDelay: '250ms', retryMaxDelay: '1m' }, {});
    expect(c.native).toMatchObject({ maxSpansPerBatch: 100, maxLogsPerBatch: 100 });
    expect(c.queueBytes).toBe(8 * 1024 * 1024);
    expect(c.batchDelayMs).toBe(250);
    expect(c.retry.maxDelayMs).toBe(60_000);
    expect(() => resolveConfig({ retryInitialDelay: '10s', retryMaxDelay: '1s' }, {})).toThrow(ConfigError);
  });
});
