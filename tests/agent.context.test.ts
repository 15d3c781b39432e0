/**
 * Context through EventEmitters: listeners an app adds to an incoming request and its response
 * run in the request's context (the http instrumentation binds both), so spans started there
 * are children of the server span. The agent binds an emitter by wrapping its `emit` once, so
 * removing a listener and `listeners()` behave as without the agent.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assembleSpans, cleanup, readOnlyFile, REGISTER_MJS, runNode, spanNamed, tempDir } from './fixtures/agent/harness';

afterAll(cleanup);

const APP = `
const http = require('node:http');
const { trace } = require(${JSON.stringify(require.resolve('@opentelemetry/api'))});
const tracer = trace.getTracer('listener-app');
const server = http.createServer((req, res) => {
  // Emitted later, from the socket: without binding these would run in no span context.
  req.on('data', () => {});
  req.on('end', () => {
    tracer.startSpan('in-req-end').end();
    res.end('ok');
  });
  res.on('finish', () => tracer.startSpan('in-res-finish').end());
  // A removed listener is not called, and listeners() lists what the app added.
  const never = () => tracer.startSpan('removed-listener').end();
  res.on('finish', never);
  res.removeListener('finish', never);
  res.setHeader('x-listeners-ok', String(res.listeners('finish').includes(never) === false));
});
server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  const req = http.request({ port, method: 'POST', path: '/upload', agent: false }, (res) => {
    res.resume();
    res.on('end', () => {
      process.stdout.write('RESULT ' + JSON.stringify({ listenersOk: res.headers['x-listeners-ok'] }) + '\\n');
      setTimeout(() => server.close(), 50);
    });
  });
  req.end('payload');
});
`;

test('spans started in req/res listeners are children of the server span; removeListener still works', async () => {
  const dir = tempDir();
  const app = path.join(dir, 'app.cjs');
  fs.writeFileSync(app, APP);
  const r = await runNode(['--import', REGISTER_MJS, app], { OTLP_MMAP_DIR: dir, OTEL_SERVICE_NAME: 'listener-app' });
  expect(r.code).toBe(0);
  expect(r.result).toEqual({ listenersOk: 'true' });
  const spans = assembleSpans(readOnlyFile(dir));
  const server = [...spans.values()].find((s) => s.kind === 2);
  if (!server) throw new Error('no server span');
  for (const name of ['in-req-end', 'in-res-finish']) {
    const s = spanNamed(spans, name);
    expect({ name, traceId: s.traceId, parent: s.parentSpanId }).toEqual({ name, traceId: server.traceId, parent: server.spanId });
  }
  expect([...spans.values()].some((s) => s.name === 'removed-listener')).toBe(false);
});
