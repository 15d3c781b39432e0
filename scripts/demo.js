#!/usr/bin/env node
'use strict';
// `npm run demo`: the whole chain on one machine, with nothing else to install.
//
//   1. starts `otlp-mmap collect` on a fresh temporary directory, with the console exporter;
//   2. runs examples/express-app under `node --import otlp-mmap/register`, writing into it;
//   3. sends the app a few requests;
//   4. stops the app: the collector prints the spans, metrics and logs, then removes the file;
//   5. stops the collector and exits.
//
// To send the same data to a real OpenTelemetry backend instead of the console:
//   OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 npm run demo
//   OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 OTEL_EXPORTER_OTLP_PROTOCOL=grpc npm run demo
// (any OTEL_EXPORTER_OTLP_* variable is passed to the collector; `npm run demo -- --console`
// keeps the console output even then).
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const bin = path.join(root, 'collector', 'bin.js');
const register = path.join(root, 'register.mjs');
const appFile = path.join(root, 'examples', 'express-app', 'app.mjs');

const args = new Set(process.argv.slice(2));
const toBackend = Boolean(process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) && !args.has('--console');

const say = (msg) => process.stdout.write(`\n\x1b[1m== demo: ${msg}\x1b[0m\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function ensureBuilt() {
  const missing = [path.join(root, 'dist', 'collector', 'cli.js'), path.join(root, 'dist', 'agent', 'index.js')].filter((p) => !fs.existsSync(p));
  if (missing.length > 0) {
    process.stderr.write(`demo: ${missing.join(', ')} missing; run \`npm run build\` first\n`);
    process.exit(1);
  }
}

function get(port, p) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${p} timed out`)));
    req.on('error', reject);
  });
}

function exited(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

async function waitUntil(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function main() {
  ensureBuilt();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otlp-mmap-demo-'));
  const children = [];
  const cleanup = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });

  try {
    say(`starting the collector on ${dir} (${toBackend ? 'exporting OTLP to the configured endpoint' : 'console exporter'})`);
    const collectorArgs = ['collect', '--dir', dir, '--exporter', toBackend ? 'otlp' : 'console', '--scan-interval', '200ms', '--batch-delay', '200ms', '--metric-interval', '2s', '--summary-interval', '0', '--no-self-metrics'];
    const collector = spawn(process.execPath, [bin, ...collectorArgs], { stdio: ['ignore', 'inherit', 'inherit'], env: process.env });
    children.push(collector);

    say('starting examples/express-app under --import otlp-mmap/register');
    const app = spawn(process.execPath, ['--import', register, appFile], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, OTLP_MMAP_DIR: dir, OTEL_SERVICE_NAME: 'demo-express-app', PORT: '0', OTEL_METRIC_EXPORT_INTERVAL: '1000' },
    });
    children.push(app);
    const port = await new Promise((resolve, reject) => {
      let out = '';
      app.stdout.on('data', (c) => {
        out += c;
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      app.once('exit', (code) => reject(new Error(`the app exited early (code ${code})`)));
    });

    say(`sending requests to http://127.0.0.1:${port}`);
    for (const p of ['/', '/users/42', '/users/1', '/profile/7', '/error']) {
      const r = await get(port, p);
      process.stdout.write(`  GET ${p} -> ${r.status}\n`);
    }

    say('the collector prints what the app recorded (batched for 200ms)');
    await sleep(1500);

    say('stopping the app: its metrics are flushed, and the collector finishes, exports and removes its file');
    app.kill('SIGTERM');
    await exited(app);
    await waitUntil('the collector to finish the app file', () => fs.readdirSync(dir).filter((n) => n.endsWith('.otlp-mmap')).length === 0, 20_000);

    say('stopping the collector');
    collector.kill('SIGTERM');
    const code = await exited(collector);
    if (code !== 0) throw new Error(`the collector exited with code ${code}`);
    say(
      toBackend
        ? 'done: the telemetry was sent to your OTLP endpoint'
        : 'done. To send this to a backend: OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 npm run demo (add OTEL_EXPORTER_OTLP_PROTOCOL=grpc for port 4317)',
    );
  } finally {
    cleanup();
  }
}

main().catch((e) => {
  process.stderr.write(`demo failed: ${e && e.message}\n`);
  process.exit(1);
});
