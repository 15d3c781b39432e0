/**
 * `npm run demo` (the README's main job): the collector with the console
 * exporter, the example Express app under `--import otlp-mmap/register`, a few
 * requests, and the spans, metrics and log record printed, then a clean exit.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { OtlpReceiver } from './support/otlp-receiver';

const ROOT = path.join(__dirname, '..');

test('npm run demo prints the span trees, metrics and logs of the example app and exits 0', () => {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, TMPDIR: os.tmpdir(), HOME: process.env.HOME };
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'demo.js')], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
  const out = r.stdout;
  expect(r.stderr).not.toContain('demo failed');
  expect(r.status).toBe(0);
  // A server span, the express handler under it, and the app's own span under that.
  expect(out).toMatch(/GET \/users\/:id \[server\][^\n]*\n[^\n]*url\.path="\/users\/42"[^\n]*\n\s+└─ request handler - \/users\/:id \[internal\][^\n]*\n[^\n]*\n\s+└─ db\.find-user \[internal\][^\n]*\n\s+app\.user\.id="42" app\.user\.found=true/);
  // The fetch from /profile/7 is a client span in the same trace as the server span it caused.
  expect(out).toMatch(/└─ GET \[client\][^\n]*\n[^\n]*url\.full="http:\/\/127\.0\.0\.1:\d+\/users\/7"/);
  expect(out).toMatch(/GET \/error \[server\][^\n]*status=error/);
  expect(out).toMatch(/app\.user\.lookups sum cumulative monotonic \(\{lookup\}\)\n(\s+\{outcome="(found|missing)"\} \d[^\n]*\n){2}/);
  expect(out).toMatch(/\{outcome="found"\} 2/);
  expect(out).toMatch(/http\.server\.request\.duration histogram cumulative \(s\)/);
  expect(out).toMatch(/WARN "no user 1" app\.user\.id="1" trace=[0-9a-f]{32} span=[0-9a-f]{16}/);
  expect(r.stderr).toMatch(/removed [^\n]*demo_express_app-\d+-[0-9a-f]{8}\.otlp-mmap/);
});

test('with OTEL_EXPORTER_OTLP_ENDPOINT set, the demo sends the same telemetry to that OTLP endpoint', async () => {
  const receiver = await OtlpReceiver.start({ http: true });
  try {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, TMPDIR: os.tmpdir(), HOME: process.env.HOME, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.httpUrl };
    const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'demo.js')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(out).not.toContain('demo failed');
    expect(code).toBe(0);
    const spans = receiver.spans();
    const server = spans.find((s) => s.name === 'GET /users/:id' && s.attributes['url.path'] === '/users/42');
    expect(server).toMatchObject({ kind: 2, resource: expect.objectContaining({ 'service.name': 'demo-express-app' }) });
    const handler = spans.find((s) => s.parentSpanId === server?.spanId);
    const db = spans.find((s) => s.name === 'db.find-user' && s.parentSpanId === handler?.spanId);
    expect(db?.attributes).toEqual({ 'app.user.id': '42', 'app.user.found': true });
    const lookups = receiver.metrics().filter((m) => m.name === 'app.user.lookups').pop();
    expect(lookups?.type).toBe('sum');
    expect(receiver.logs().map((l) => l.body)).toContain('no user 1');
  } finally {
    await receiver.close();
  }
});
