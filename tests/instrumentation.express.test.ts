/**
 * The express instrumentation against real express 4 and 5 apps, CommonJS and ESM,
 * in child Node processes with the official in-memory SDK, a real PostgreSQL and
 * real HTTP requests. (The agent-level tests read the same from the mmap file.)
 */
import { sharedPostgres, stopSharedPostgres, type PostgresServer } from './support/postgres';
import {
  buildInstrumentations,
  installExpress4,
  pgEnv,
  runUnderHarness,
  seedUsers,
  SPAN_KIND,
  SpanTree,
  type Recording,
} from './fixtures/instr/run';

let server: PostgresServer;
let express4Version: string;

beforeAll(async () => {
  buildInstrumentations();
  express4Version = installExpress4();
  server = await sharedPostgres();
  await seedUsers(server);
});

afterAll(async () => {
  await stopSharedPostgres();
});

// Each app under the stock context manager (the instrumentations' public-API paths: route state
// in a WeakMap, listeners on the response) and under the agent's (the fast paths: route state and
// layer ends kept with the http server's request, nothing added to the response).
const shapes = [
  { entry: 'express4/app.cjs', major: 4, context: 'stock' },
  { entry: 'express4/app.mjs', major: 4, context: 'stock' },
  { entry: 'express5/app.cjs', major: 5, context: 'stock' },
  { entry: 'express5/app.mjs', major: 5, context: 'stock' },
  { entry: 'express4/app.cjs', major: 4, context: 'agent' },
  { entry: 'express5/app.cjs', major: 5, context: 'agent' },
  { entry: 'express5/app.mjs', major: 5, context: 'agent' },
] as const;

describe.each(shapes)('$entry, $context context manager', ({ entry, major, context }) => {
  let recording: Recording;
  let tree: SpanTree;

  beforeAll(() => {
    recording = runUnderHarness({ entry, impl: 'ours', env: pgEnv(server), context });
    tree = new SpanTree(recording.spans);
  });

  it(`runs express ${major} loaded as "express", and every request gets its response`, () => {
    const version = recording.facts.expressVersion as string;
    expect(version.split('.')[0]).toBe(String(major));
    if (major === 4) expect(version).toBe(express4Version);
    expect(recording.facts.statuses).toEqual({
      '/users/1': 200,
      '/api/items/2': 200,
      '/fail': 500,
      '/throw': 500,
      '/db-error': 500,
      ...(major === 5 ? { '/reject': 500, '/mw-reject': 500 } : {}),
    });
    expect(recording.facts.edgeStatuses).toEqual({
      '/next-route/3': 200,
      '/nested/v1/things/4': 200,
      '/ctx/seen': 200,
      '/direct/extra': 200,
      '/direct/no-next': 200,
    });
    expect(recording.diag.filter(([level]) => level !== 'info')).toEqual([]);
  });

  it(context === 'agent'
    ? 'adds no listener and no property to the response or request: the http server state ends the spans'
    : 'ends the spans from listeners on the response (the public-API path)', () => {
    const footprint = recording.facts.footprint as { responseCloseListeners: number; responseErrorMonitors: number; symbols: string[] };
    if (context === 'agent') {
      expect(footprint).toEqual({ responseCloseListeners: 0, responseErrorMonitors: 0, symbols: [] });
    } else {
      // The http server's 'close' and errorMonitor listeners; the handler's own span ends with
      // the response through a listener added after this handler returns.
      expect(footprint.responseCloseListeners).toBe(1);
      expect(footprint.responseErrorMonitors).toBe(1);
      expect(footprint.symbols).toEqual(['Symbol(otlp-mmap.http.serverRequest)']);
    }
  });

  it("traces a layer whose handle is called other than as express calls it (req, res, next)", () => {
    // With a fourth and fifth argument: `next` is found (the first function), the others reach the
    // layer, and `next` runs in the context the layer was entered from (the route handler's span).
    const extraHandler = tree.one((s) => s.name === 'request handler - /direct/extra');
    const target = tree.one((s) => s.name === 'middleware - directTarget');
    expect(tree.parentOf(target)).toBe(extraHandler);
    // It runs inside the matched route, so it reports that route too.
    expect(target.attributes).toEqual({ 'express.name': 'directTarget', 'express.type': 'middleware', 'http.route': '/direct/extra' });
    expect(recording.facts.directNext).toEqual({ args: ['extra', 4], active: 'request handler - /direct/extra', argsToNext: 0 });
    // With no `next`: the span ends when the response does.
    const noNextHandler = tree.one((s) => s.name === 'request handler - /direct/no-next');
    const responder = tree.one((s) => s.name === 'middleware - directResponder');
    expect(tree.parentOf(responder)).toBe(noNextHandler);
    expect(tree.serverSpan('/direct/no-next').name).toBe('GET /direct/no-next');
  });

  it('lets the response go once it has closed, though the request context lives on', () => {
    expect(recording.facts.responseReleased).toEqual({ heldBefore: true, heldAfter: false });
  });

  it('renames the server span after the route and sets http.route', () => {
    const serverSpan = tree.serverSpan('/users/1');
    expect(serverSpan.name).toBe('GET /users/:id');
    expect(serverSpan.attributes['http.route']).toBe('/users/:id');
    expect(tree.serverSpan('/api/items/2').name).toBe('GET /api/items/:id');
    // The client span that called it is its parent: the trace crosses the HTTP hop.
    const client = tree.parentOf(serverSpan);
    expect(client?.kind).toBe(SPAN_KIND.CLIENT);
    expect(client?.attributes['url.full']).toMatch(/\/users\/1$/);
  });

  it('records middleware and the request handler as children of the server span', () => {
    const serverSpan = tree.serverSpan('/users/1');
    const children = tree.childrenOf(serverSpan);
    const builtIn = major === 4 ? ['middleware - query', 'middleware - expressInit'] : [];
    expect(children.map((s) => s.name).sort()).toEqual(
      [...builtIn, 'middleware - jsonParser', 'middleware - tagRequest', 'request handler - /users/:id'].sort(),
    );
    const tag = tree.one((s) => s.name === 'middleware - tagRequest', children);
    expect(tag.kind).toBe(SPAN_KIND.INTERNAL);
    expect(tag.attributes).toEqual({ 'express.name': 'tagRequest', 'express.type': 'middleware' });
    const handler = tree.one((s) => s.name === 'request handler - /users/:id', children);
    expect(handler.attributes).toEqual({
      'http.route': '/users/:id',
      'express.name': '/users/:id',
      'express.type': 'request_handler',
    });
  });

  it('makes manual @opentelemetry/api spans children of the handler, and pg spans children of those', () => {
    const serverSpan = tree.serverSpan('/users/1');
    const trace = tree.traceOf(serverSpan);
    const manual = tree.one((s) => s.name === 'load-user', trace);
    expect(tree.parentOf(manual)?.name).toBe('request handler - /users/:id');
    const query = tree.one((s) => s.attributes['db.system.name'] === 'postgresql', trace);
    expect(tree.parentOf(query)).toBe(manual);
    expect(query.name).toBe('SELECT users');
    expect(query.kind).toBe(SPAN_KIND.CLIENT);
    // After `await pool.query(...)` the app is back in its own span.
    expect(recording.facts.activeAfterQuery).toBe('load-user');
  });

  it('names a router after its mount path and keeps the handler under the server span', () => {
    const serverSpan = tree.serverSpan('/api/items/2');
    const router = tree.one((s) => s.attributes['express.type'] === 'router', tree.traceOf(serverSpan));
    expect(router.name).toBe('router - /api');
    expect(router.attributes['express.name']).toBe('/api');
    expect(tree.parentOf(router)).toBe(serverSpan);
    const handler = tree.one((s) => s.name === 'request handler - /api/items/:id', tree.traceOf(serverSpan));
    expect(tree.parentOf(handler)).toBe(serverSpan);
    const query = tree.one((s) => s.kind === SPAN_KIND.CLIENT && s.name === 'SELECT users', tree.traceOf(serverSpan));
    expect(tree.parentOf(query)).toBe(handler);
    // The pg callback ran in the handler's context.
    expect(recording.facts.activeInQueryCallback).toBe('request handler - /api/items/:id');
  });

  it('follows next("route") to the next route for the path, and neither handler span is an error', () => {
    const serverSpan = tree.serverSpan('/next-route/3');
    expect(serverSpan.name).toBe('GET /next-route/:id');
    const handlers = tree.childrenOf(serverSpan).filter((s) => s.attributes['express.type'] === 'request_handler');
    expect(handlers.map((s) => s.name)).toEqual(['request handler - /next-route/:id', 'request handler - /next-route/:id']);
    for (const handler of handlers) {
      expect(handler.attributes['http.route']).toBe('/next-route/:id');
      expect(handler.status.code).toBe(0);
      expect(handler.events).toEqual([]);
    }
  });

  it('joins the mount paths of a router inside a router into the route', () => {
    const serverSpan = tree.serverSpan('/nested/v1/things/4');
    expect(serverSpan.name).toBe('GET /nested/v1/things/:id');
    expect(serverSpan.attributes['http.route']).toBe('/nested/v1/things/:id');
    const trace = tree.traceOf(serverSpan);
    const routers = trace.filter((s) => s.attributes['express.type'] === 'router');
    expect(routers.map((s) => [s.name, s.attributes['http.route']]).sort()).toEqual([
      ['router - /nested', '/nested'],
      ['router - /v1', '/nested/v1'],
    ]);
    for (const router of routers) expect(tree.parentOf(router)).toBe(serverSpan);
    const handler = tree.one((s) => s.name === 'request handler - /nested/v1/things/:id', trace);
    expect(tree.parentOf(handler)).toBe(serverSpan);
  });

  it('runs the next layer in the context a middleware passed to next (baggage kept), as its sibling', () => {
    expect(recording.facts.ctxSeen).toEqual({ baggage: 'kept', activeSpan: 'request handler - /ctx/seen' });
    const serverSpan = tree.serverSpan('/ctx/seen');
    const children = tree.childrenOf(serverSpan).map((s) => s.name);
    expect(children).toEqual(expect.arrayContaining(['middleware - setsBaggage', 'request handler - /ctx/seen']));
  });

  it('ends a middleware span when the response closes before the middleware calls next', () => {
    // Read 20 ms after the close, just before the middleware calls next.
    expect(recording.facts.lateNextSpanRecording).toBe(false);
    const middleware = tree.one((s) => s.name === 'middleware - nextAfterClose');
    expect(middleware.status.code).toBe(0);
    // The handler after it still ran (its route reached no ended span: diag stayed quiet, see above).
    expect(tree.traceOf(middleware).map((s) => s.name)).toContain('request handler - /late-next');
  });

  it.each([
    ['/fail', 'failed through next'],
    ['/throw', 'thrown in handler'],
  ])('records the error of %s on the handler span and the server span', (path, message) => {
    const serverSpan = tree.serverSpan(path);
    expect(serverSpan.status.code).toBe(2);
    expect(serverSpan.attributes['http.response.status_code']).toBe(500);
    const handler = tree.one((s) => s.name === `request handler - ${path}`, tree.childrenOf(serverSpan));
    expect(handler.status).toEqual({ code: 2, message });
    expect(handler.events).toEqual([
      {
        name: 'exception',
        attributes: expect.objectContaining({ 'exception.type': 'Error', 'exception.message': message }),
      },
    ]);
  });

  if (major === 5) {
    it('records a rejected async handler or middleware (express 5 handles promises)', () => {
      const handler = tree.one((s) => s.name === 'request handler - /reject', tree.childrenOf(tree.serverSpan('/reject')));
      expect(handler.status).toEqual({ code: 2, message: 'rejected in handler' });
      expect(handler.events.map((e) => e.name)).toEqual(['exception']);
      const middleware = tree.one(
        (s) => s.name === 'middleware - rejectingMiddleware',
        tree.childrenOf(tree.serverSpan('/mw-reject')),
      );
      expect(middleware.status).toEqual({ code: 2, message: 'rejected in middleware' });
      expect(middleware.events.map((e) => e.name)).toEqual(['exception']);
    });
  }

  it('records a failed query on the pg span with the SQLSTATE', () => {
    const serverSpan = tree.serverSpan('/db-error');
    const query = tree.one((s) => s.attributes['db.system.name'] === 'postgresql', tree.traceOf(serverSpan));
    expect(query.name).toBe('SELECT no_such_table');
    expect(query.status.code).toBe(2);
    expect(query.attributes['error.type']).toBe('42P01');
    expect(query.events[0].name).toBe('exception');
    expect(query.events[0].attributes?.['exception.message']).toBe('relation "no_such_table" does not exist');
  });

  it('gives the http duration histograms the route', () => {
    const serverDuration = recording.metrics.find((m) => m.name === 'http.server.request.duration');
    expect(serverDuration?.unit).toBe('s');
    const routes = serverDuration?.points.map((p) => p.attributes['http.route']).sort();
    const express5Only = major === 5 ? ['/mw-reject', '/reject'] : [];
    // One request each, '/late-next' abandoned by the client (a client duration all the same).
    const edge = ['/next-route/:id', '/nested/v1/things/:id', '/ctx/seen', '/direct/extra', '/direct/no-next', '/late-next'];
    expect(routes).toEqual(['/api/items/:id', '/db-error', '/fail', '/throw', '/users/:id', ...express5Only, ...edge].sort());
    const clientDuration = recording.metrics.find((m) => m.name === 'http.client.request.duration');
    expect(clientDuration?.points.reduce((n, p) => n + (p.count ?? 0), 0)).toBe(5 + express5Only.length + edge.length);
  });
});

describe('LayerOptions (a layer span\'s attributes, made once per description and route)', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { LayerOptions } = require('../instrumentations/express/telemetry') as typeof import('../instrumentations/express/telemetry');
  const options = new LayerOptions({ type: 'request_handler', name: '/users/:id', spanName: 'request handler - /users/:id' });

  it('gives the same frozen options again for the same route, and new ones when the route changes', () => {
    const plain = options.for(undefined);
    expect(plain).toEqual({ attributes: { 'express.name': '/users/:id', 'express.type': 'request_handler' } });
    expect(options.for(undefined)).toBe(plain);
    const a = options.for('/users/:id');
    expect(a.attributes).toEqual({ 'http.route': '/users/:id', 'express.name': '/users/:id', 'express.type': 'request_handler' });
    expect(options.for('/users/:id')).toBe(a);
    expect(options.for('/v2/users/:id').attributes?.['http.route']).toBe('/v2/users/:id');
    expect(options.for('/users/:id').attributes?.['http.route']).toBe('/users/:id');
    expect([Object.isFrozen(plain), Object.isFrozen(plain.attributes), Object.isFrozen(a.attributes)]).toEqual([true, true, true]);
  });
});
