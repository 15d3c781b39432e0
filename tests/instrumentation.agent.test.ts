/**
 * The instrumentations under the real agent, read back from the mmap files: an
 * express + pg server process and a fetch client process, each started with the
 * agent (`--import`, `NODE_OPTIONS`, `--require`), CommonJS and ESM, express 4 and 5,
 * against a real PostgreSQL. One trace crosses the two processes.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { pgEnv } from './fixtures/instr/run';
import {
  cleanEnv,
  loaderArgs,
  readDir,
  runClient,
  startServer,
  tempDir,
  useAppsWithPostgres,
  type FileContents,
  type FileSpan,
  type Loader,
} from './fixtures/instr/agent';

const FIXTURES = path.join(__dirname, 'fixtures', 'instr');

const KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;
const PATHS = ['/users/1', '/api/items/2', '/fail', '/db-error'];

const pgServer = useAppsWithPostgres();

const shapes: { entry: string; loader: Loader; major: number }[] = [
  { entry: 'express4/app.cjs', loader: '--require', major: 4 },
  { entry: 'express4/app.mjs', loader: '--import', major: 4 },
  { entry: 'express5/app.cjs', loader: 'NODE_OPTIONS=--import', major: 5 },
  { entry: 'express5/app.mjs', loader: 'NODE_OPTIONS=--import', major: 5 },
];

function one(spans: FileSpan[], predicate: (s: FileSpan) => boolean): FileSpan {
  const found = spans.filter(predicate);
  if (found.length !== 1) {
    throw new Error(`expected one span, found ${found.length} among ${spans.map((s) => s.name).join(', ')}`);
  }
  return found[0];
}

describe.each(shapes)('$entry with $loader, called by a fetch client process', ({ entry, loader, major }) => {
  let server: FileContents;
  let client: FileContents;
  let clientStatuses: Record<string, number>;

  beforeAll(async () => {
    const serverDir = tempDir('otlp-mmap-instr-server-');
    const clientDir = tempDir('otlp-mmap-instr-client-');
    const started = startServer(entry, loader, { ...pgEnv(pgServer()), OTLP_MMAP_DIR: serverDir, OTEL_SERVICE_NAME: 'server' });
    const port = await started.port;
    const called = await runClient(port, PATHS, loader, { OTLP_MMAP_DIR: clientDir, OTEL_SERVICE_NAME: 'client' });
    if (called.code !== 0) throw new Error(`client failed (${called.code}):\n${called.stderr}`);
    clientStatuses = JSON.parse(called.stdout) as Record<string, number>;
    const exited = await started.exited;
    if (exited.code !== 0) throw new Error(`server failed (${exited.code}):\n${exited.stderr}`);
    expect(exited.stderr).toBe('');
    server = readDir(serverDir);
    client = readDir(clientDir);
  });

  it('writes one file per process and serves every request', () => {
    expect(server.files).toHaveLength(1);
    expect(client.files).toHaveLength(1);
    expect(clientStatuses).toEqual({ '/users/1': 200, '/api/items/2': 200, '/fail': 500, '/db-error': 500 });
  });

  it('links the trace across the processes: client span > server span > express and pg spans', () => {
    const clientSpan = one(client.spans, (s) => s.kind === KIND.CLIENT && String(s.attributes['url.full']).endsWith('/users/1'));
    const root = one(client.spans, (s) => s.name === 'client-root');
    expect(clientSpan.parentSpanId).toBe(root.spanId);

    const serverSpan = one(server.spans, (s) => s.kind === KIND.SERVER && s.attributes['url.path'] === '/users/1');
    expect(serverSpan.traceId).toBe(clientSpan.traceId);
    expect(serverSpan.parentSpanId).toBe(clientSpan.spanId);
    expect(serverSpan.name).toBe('GET /users/:id');
    expect(serverSpan.attributes['http.route']).toBe('/users/:id');
    expect(serverSpan.ended).toBe(true);

    const children = server.spans.filter((s) => s.parentSpanId === serverSpan.spanId);
    const builtIn = major === 4 ? ['middleware - expressInit', 'middleware - query'] : [];
    expect(children.map((s) => s.name).sort()).toEqual(
      [...builtIn, 'middleware - jsonParser', 'middleware - tagRequest', 'request handler - /users/:id'].sort(),
    );
    const handler = one(children, (s) => s.name === 'request handler - /users/:id');
    expect(handler.attributes).toMatchObject({ 'express.type': 'request_handler', 'http.route': '/users/:id' });

    // The app's own @opentelemetry/api span is a child of the auto span it runs in.
    const manual = one(server.spans, (s) => s.name === 'load-user' && s.traceId === serverSpan.traceId);
    expect(manual.parentSpanId).toBe(handler.spanId);
    const query = one(server.spans, (s) => s.parentSpanId === manual.spanId);
    expect(query).toMatchObject({ name: 'SELECT users', kind: KIND.CLIENT, ended: true });
    expect(query.attributes).toMatchObject({
      'db.system.name': 'postgresql',
      'db.namespace': pgServer().database,
      'db.operation.name': 'SELECT',
      'db.query.text': 'SELECT id, name FROM users WHERE id = $1',
      'server.address': pgServer().host,
      'server.port': pgServer().port,
    });
  });

  it('records the router and a pg query in a callback under the handler', () => {
    const serverSpan = one(server.spans, (s) => s.kind === KIND.SERVER && s.attributes['url.path'] === '/api/items/2');
    expect(serverSpan.name).toBe('GET /api/items/:id');
    const children = server.spans.filter((s) => s.parentSpanId === serverSpan.spanId);
    expect(children.map((s) => s.name)).toEqual(expect.arrayContaining(['router - /api', 'request handler - /api/items/:id']));
    const handler = one(children, (s) => s.name === 'request handler - /api/items/:id');
    expect(one(server.spans, (s) => s.parentSpanId === handler.spanId).name).toBe('SELECT users');
  });

  it('records errors: next(err) on the handler, a failed query on the pg span', () => {
    const failed = one(server.spans, (s) => s.name === 'request handler - /fail');
    expect(failed.status).toEqual({ code: 2, message: 'failed through next' });
    expect(failed.events).toEqual([
      { name: 'exception', attributes: expect.objectContaining({ 'exception.message': 'failed through next' }) },
    ]);
    expect(one(server.spans, (s) => s.name === 'GET /fail').status?.code).toBe(2);

    const query = one(server.spans, (s) => s.name === 'SELECT no_such_table');
    expect(query.status).toEqual({ code: 2, message: 'relation "no_such_table" does not exist' });
    expect(query.attributes['error.type']).toBe('42P01');
    expect(query.events.map((e) => e.name)).toEqual(['exception']);
  });

  it('records the duration histograms with their attributes', () => {
    const dbDurations = server.measurements.filter((m) => m.metric === 'db.client.operation.duration');
    expect(dbDurations).toHaveLength(3);
    expect(dbDurations.every((m) => m.value >= 0 && m.attributes['db.system.name'] === 'postgresql')).toBe(true);
    expect(dbDurations.filter((m) => m.attributes['error.type'] === '42P01')).toHaveLength(1);
    const routes = server.measurements
      .filter((m) => m.metric === 'http.server.request.duration')
      .map((m) => m.attributes['http.route'])
      .sort();
    expect(routes).toEqual(['/api/items/:id', '/db-error', '/fail', '/shutdown', '/users/:id']);
    const fetchDurations = client.measurements.filter((m) => m.metric === 'http.client.request.duration');
    expect(fetchDurations).toHaveLength(PATHS.length + 1);
  });
});

describe('pg-pool connection metrics under the agent', () => {
  it('writes the pool counts observed at a collection into the file', async () => {
    const dir = tempDir('otlp-mmap-instr-pool-');
    const { args, env } = loaderArgs('--import');
    const child = spawnSync(process.execPath, [...args, path.join(FIXTURES, 'pg-pool-agent.cjs')], {
      cwd: FIXTURES,
      env: cleanEnv({ ...pgEnv(pgServer()), ...env, OTLP_MMAP_DIR: dir, OTEL_SERVICE_NAME: 'pool-app' }),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect([child.status, child.stderr]).toEqual([0, '']);
    const db = pgServer().database;
    const seen = readDir(dir)
      .measurements.filter((m) => m.metric.startsWith('db.client.connection.'))
      .map((m) => `${m.metric} ${String(m.attributes['db.client.connection.state'] ?? '-')} ${String(m.attributes['db.client.connection.pool.name'])}=${m.value}`);
    // Two clients held, none idle, one caller waiting, max 2: as observed at the forced collection.
    expect(seen).toEqual(
      expect.arrayContaining([
        `db.client.connection.count used ${db}=2`,
        `db.client.connection.count idle ${db}=0`,
        `db.client.connection.pending_requests - ${db}=1`,
        `db.client.connection.limit - ${db}=2`,
      ]),
    );
  });
});

describe("http server spans' connection attributes under the agent (keep-alive connections)", () => {
  it('gives each request the attributes of its own headers and connection, reused or changed', () => {
    const dir = tempDir('otlp-mmap-instr-conn-');
    const { args, env } = loaderArgs('--import');
    const child = spawnSync(process.execPath, [...args, path.join(FIXTURES, 'http-connections-agent.cjs')], {
      cwd: FIXTURES,
      env: cleanEnv({ ...env, OTLP_MMAP_DIR: dir, OTEL_SERVICE_NAME: 'conn-app' }),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect([child.status, child.stderr]).toEqual([0, '']);
    const { port, a, b } = JSON.parse(child.stdout) as { port: number; a: number; b: number };
    const byPath = new Map(readDir(dir).spans.filter((s) => s.kind === KIND.SERVER).map((s) => [String(s.attributes['url.path']), s.attributes]));
    const peer = (p: number): Record<string, unknown> => ({ 'network.peer.address': '127.0.0.1', 'network.peer.port': p, 'network.protocol.version': '1.1', 'url.scheme': 'http' });
    const local = { 'server.address': 'localhost', 'server.port': port, 'client.address': '127.0.0.1' };
    const expected: Record<string, Record<string, unknown>> = {
      '/a/1': { ...peer(a), ...local, 'user_agent.original': 'ua-1', 'http.request.method': 'GET' },
      '/a/2': { ...peer(a), ...local, 'user_agent.original': 'ua-1', 'http.request.method': 'GET' },
      '/a/3': { ...peer(a), ...local, 'user_agent.original': 'ua-1', 'http.request.method': 'POST' },
      '/a/4': { ...peer(a), ...local, 'user_agent.original': 'ua-1', 'http.request.method': 'GET' },
      '/a/5': { ...peer(a), ...local, 'user_agent.original': 'ua-2', 'http.request.method': 'GET' },
      '/a/6': { ...peer(a), ...local, 'client.address': '10.0.0.7', 'user_agent.original': 'ua-2', 'http.request.method': 'GET' },
      '/a/7': { ...peer(a), ...local, 'client.address': '10.0.0.7', 'user_agent.original': 'ua-2', 'http.request.method': 'GET', 'url.query': 'q=1' },
      '/a/8': { ...peer(a), 'server.address': 'example.com', 'server.port': 81, 'client.address': '127.0.0.1', 'user_agent.original': 'ua-2', 'http.request.method': 'GET' },
      '/a/9': { ...peer(a), 'server.address': 'shop.example', 'server.port': 80, 'client.address': '192.0.2.60', 'user_agent.original': 'ua-2', 'http.request.method': 'GET' },
      '/a/10': { ...peer(a), 'server.address': 'example.com', 'server.port': 81, 'client.address': '127.0.0.1', 'http.request.method': 'GET' },
      '/b/1': { ...peer(b), ...local, 'user_agent.original': 'ua-1', 'http.request.method': 'GET' },
      '/b/2': { ...peer(b), ...local, 'user_agent.original': 'ua-1', 'http.request.method': 'GET' },
      '/b/3': { ...peer(b), ...local, 'user_agent.original': 'ua-1', 'http.request.method': 'GET' },
    };
    expect([...byPath.keys()].sort()).toEqual(Object.keys(expected).sort());
    for (const [p, want] of Object.entries(expected)) {
      expect([p, byPath.get(p)]).toEqual([p, { ...want, 'url.path': p, 'http.response.status_code': 200 }]);
    }
  });
});
