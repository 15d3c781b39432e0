// An ordinary Express app with no telemetry code of its own except one custom span,
// one counter and one log record (through @opentelemetry/api, which the agent backs).
// Run it with the agent:  node --import otlp-mmap/register examples/express-app/app.mjs
import express from 'express';
import { metrics, trace, SpanStatusCode } from '@opentelemetry/api';
import { logs, SeverityNumber } from '@opentelemetry/api-logs';

const tracer = trace.getTracer('express-app', '1.0.0');
const meter = metrics.getMeter('express-app', '1.0.0');
const logger = logs.getLogger('express-app', '1.0.0');
const lookups = meter.createCounter('app.user.lookups', { description: 'User lookups by outcome', unit: '{lookup}' });

const users = new Map([
  ['42', { id: '42', name: 'Ada' }],
  ['7', { id: '7', name: 'Grace' }],
]);

/** Pretends to query a database: a child span with an attribute. */
async function findUser(id) {
  return tracer.startActiveSpan('db.find-user', { attributes: { 'app.user.id': id } }, async (span) => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    const user = users.get(id);
    span.setAttribute('app.user.found', Boolean(user));
    span.end();
    return user;
  });
}

const app = express();

app.get('/', (_req, res) => {
  res.json({ hello: 'world' });
});

app.get('/users/:id', async (req, res) => {
  const user = await findUser(req.params.id);
  lookups.add(1, { outcome: user ? 'found' : 'missing' });
  if (!user) {
    logger.emit({ severityNumber: SeverityNumber.WARN, severityText: 'WARN', body: `no user ${req.params.id}`, attributes: { 'app.user.id': req.params.id } });
    res.status(404).json({ error: 'not found' });
    return;
  }
  res.json(user);
});

// Calls the app itself over HTTP, so the trace holds a client span and the server span it caused.
app.get('/profile/:id', async (req, res) => {
  const port = server.address().port;
  const r = await fetch(`http://127.0.0.1:${port}/users/${encodeURIComponent(req.params.id)}`);
  res.status(r.status).json({ profile: await r.json() });
});

app.get('/error', () => {
  const span = trace.getActiveSpan();
  span?.setStatus({ code: SpanStatusCode.ERROR, message: 'on purpose' });
  throw new Error('something broke (on purpose)');
});

// Errors become a 500 answer (the instrumentation has already recorded the exception on the span).
app.use((err, _req, res, _next) => {
  res.status(500).json({ error: err.message });
});

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  process.stdout.write(`express-app listening on http://127.0.0.1:${server.address().port}\n`);
});

// A clean exit on SIGTERM/SIGINT lets the agent flush its metrics and release the file.
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
  });
}
