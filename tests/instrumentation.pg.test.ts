/**
 * The pg instrumentation against a real PostgreSQL, every query form, in a child
 * Node process with the official in-memory SDK.
 */
import { sharedPostgres, stopSharedPostgres, type PostgresServer } from './support/postgres';
import { buildInstrumentations, pgEnv, runUnderHarness, SPAN_KIND, SpanTree, type Recording } from './fixtures/instr/run';

let server: PostgresServer;
let recording: Recording;
let tree: SpanTree;

const FORMS = [
  'callback',
  'promise',
  'config',
  'config-callback',
  'query-object',
  'query-object-callback',
  'pool-promise',
  'pool-callback',
  'pool-connect',
  'pool-connect-callback',
  'contention-a',
  'contention-b',
  'syntax-error',
  'error-callback',
  'same-text-fail',
  'same-text-ok',
];

beforeAll(async () => {
  buildInstrumentations();
  server = await sharedPostgres();
});

afterAll(async () => {
  await stopSharedPostgres();
});

function queriesOf(form: string) {
  const parent = tree.one((s) => s.name === `form:${form}`);
  return tree.childrenOf(parent);
}

// Under the stock context manager (the public-API paths) and the agent's (its cheaper function
// binding and context switches).
describe.each(['stock', 'agent'] as const)('pg instrumentation, %s context manager', (context) => {
  beforeAll(() => {
    recording = runUnderHarness({ entry: 'pg-forms.cjs', impl: 'ours', env: pgEnv(server), context });
    tree = new SpanTree(recording.spans);
  });

  it.each(FORMS)('gives the %s form exactly one CLIENT span, under the caller', (form) => {
    const queries = queriesOf(form);
    expect(queries).toHaveLength(1);
    expect(queries[0].kind).toBe(SPAN_KIND.CLIENT);
    expect(queries[0].scope).toBe('otlp-mmap/instrumentation-pg');
  });

  it('creates no query span outside the forms, and no connect spans', () => {
    const pgSpans = recording.spans.filter((s) => s.scope === 'otlp-mmap/instrumentation-pg');
    expect(pgSpans).toHaveLength(FORMS.length);
    expect(pgSpans.every((s) => tree.parentOf(s)?.name.startsWith('form:'))).toBe(true);
  });

  it.each(FORMS.filter((f) => f !== 'query-object' && f !== 'syntax-error' && f !== 'same-text-fail'))(
    'runs the %s callback or continuation in the caller\'s context',
    (form) => {
      expect((recording.facts[form] as { active?: string }).active).toBe(`form:${form}`);
    },
  );

  it('calls a Pool#connect callback in the caller\'s context', () => {
    expect((recording.facts['pool-connect-callback'] as { inConnect?: string }).inConnect).toBe(
      'form:pool-connect-callback',
    );
  });

  it('returns the query results unchanged', () => {
    const values = Object.fromEntries(FORMS.map((f) => [f, (recording.facts[f] as { value?: unknown }).value]));
    expect(values).toMatchObject({
      callback: 41,
      promise: 'hunter2',
      config: 7,
      'config-callback': 8,
      'query-object': 3,
      'query-object-callback': 9,
      'pool-promise': 10,
      'pool-callback': 11,
      'pool-connect': 12,
      'pool-connect-callback': 13,
      'contention-a': 14,
      'contention-b': 15,
      'same-text-ok': 1,
    });
  });

  it('names and attributes spans after the current database semantic conventions', () => {
    const [span] = queriesOf('promise');
    expect(span.name).toBe(`SELECT ${server.database}`);
    expect(span.attributes).toEqual({
      'db.system.name': 'postgresql',
      'db.namespace': server.database,
      'db.operation.name': 'SELECT',
      'db.query.text': 'SELECT $1::text AS secret',
      'server.address': server.host,
      'server.port': server.port,
    });
    const [table] = queriesOf('error-callback');
    expect(table.name).toBe('SELECT no_such_table');
    expect(table.attributes['db.collection.name']).toBe('no_such_table');
    // A function in FROM is not a collection.
    const [series] = queriesOf('query-object');
    expect(series.name).toBe(`SELECT ${server.database}`);
    expect(series.attributes['db.collection.name']).toBeUndefined();
  });

  it('gives a statement run again the same attributes, none of an earlier run\'s failure', () => {
    const [failed] = queriesOf('same-text-fail');
    const [ok] = queriesOf('same-text-ok');
    const expected = {
      'db.system.name': 'postgresql',
      'db.namespace': server.database,
      'db.operation.name': 'SELECT',
      'db.query.text': 'SELECT 1 / $1::int AS v',
      'server.address': server.host,
      'server.port': server.port,
    };
    expect(failed.attributes).toEqual({ ...expected, 'error.type': '22012', 'db.response.status_code': '22012' });
    expect(ok.attributes).toEqual(expected);
    expect(ok.status.code).toBe(0);
    expect(ok.name).toBe(failed.name);
  });

  it('never records parameter values', () => {
    const text = JSON.stringify(recording.spans);
    expect(text).not.toContain('hunter2');
    expect(recording.facts.promise).toMatchObject({ value: 'hunter2' });
  });

  it.each([
    ['syntax-error', '42601', 'syntax error at or near "SELEC"'],
    ['error-callback', '42P01', 'relation "no_such_table" does not exist'],
    ['same-text-fail', '22012', 'division by zero'],
  ])('records the %s failure: status, error.type, exception event', (form, sqlstate, message) => {
    const [span] = queriesOf(form);
    expect(span.status).toEqual({ code: 2, message });
    expect(span.attributes['error.type']).toBe(sqlstate);
    expect(span.attributes['db.response.status_code']).toBe(sqlstate);
    expect(span.events).toEqual([
      { name: 'exception', attributes: expect.objectContaining({ 'exception.message': message }) },
    ]);
    // The application still sees the error.
    expect(recording.facts[form]).toMatchObject({ code: sqlstate });
  });

  it('records db.client.operation.duration for every query, with the error type of failures', () => {
    const metric = recording.metrics.find((m) => m.name === 'db.client.operation.duration');
    expect(metric?.unit).toBe('s');
    expect(metric?.scope).toBe('otlp-mmap/instrumentation-pg');
    const total = metric?.points.reduce((n, p) => n + (p.count ?? 0), 0);
    expect(total).toBe(FORMS.length);
    const failed = metric?.points.filter((p) => p.attributes['error.type'] !== undefined);
    expect(failed?.map((p) => p.attributes['error.type']).sort()).toEqual(['22012', '42601', '42P01']);
    for (const point of metric?.points ?? []) {
      expect(point.attributes).toMatchObject({
        'db.system.name': 'postgresql',
        'db.namespace': server.database,
        'server.address': server.host,
        'server.port': server.port,
      });
      expect(point.attributes['db.operation.name']).toMatch(/^SELECT?$/);
    }
  });
});

describe('pg-pool connection metrics', () => {
  type Metrics = Recording['metrics'];
  /** name -> "state/pool" (or "pool") -> value, of the pool metrics in one collection. */
  function poolPoints(metrics: Metrics): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const m of metrics.filter((x) => x.name.startsWith('db.client.connection.'))) {
      expect(m.scope).toBe('otlp-mmap/instrumentation-pg');
      const points: Record<string, number> = {};
      for (const p of m.points) {
        const state = p.attributes['db.client.connection.state'];
        points[`${state === undefined ? '' : `${String(state)}/`}${String(p.attributes['db.client.connection.pool.name'])}`] = p.sum!;
      }
      out[`${m.name} ${m.unit}`] = points;
    }
    return out;
  }

  it.each(['stock', 'agent'] as const)(
    'reports used and idle connections, waiting callers and the limit of the live pools, added up by pool name (%s context manager)',
    (context) => {
      const run = runUnderHarness({ entry: 'pg-pool-metrics.cjs', impl: 'ours', env: pgEnv(server), context });
      const db = server.database;
      const facts = run.facts as Record<string, Metrics>;
      // No pool has connected yet.
      expect(poolPoints(facts.before!)).toEqual({});
      // `pool` (max 3): three clients held, two callers waiting. `other` (max 2, a connection
      // string to the same database, so the same pool name): one idle client after its query.
      expect(poolPoints(facts.busy!)).toEqual({
        'db.client.connection.count {connection}': { [`used/${db}`]: 3, [`idle/${db}`]: 1 },
        'db.client.connection.pending_requests {request}': { [db]: 2 },
        'db.client.connection.limit {connection}': { [db]: 5 },
      });
      expect(poolPoints(facts.idle!)).toEqual({
        'db.client.connection.count {connection}': { [`used/${db}`]: 0, [`idle/${db}`]: 4 },
        'db.client.connection.pending_requests {request}': { [db]: 0 },
        'db.client.connection.limit {connection}': { [db]: 5 },
      });
    },
  );

  it('forgets ended pools, reports nothing while disabled, and moves to a new meter', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { PoolMetrics } = require('../instrumentations/pg/poolMetrics') as typeof import('../instrumentations/pg/poolMetrics');
    /** A meter that keeps its batch callbacks and runs them on `collect`. */
    function fakeMeter() {
      const callbacks = new Set<(result: { observe(o: unknown, v: number, a: Record<string, unknown>): void }) => void>();
      const meter = {
        createObservableUpDownCounter: (name: string) => ({ name }),
        addBatchObservableCallback: (cb: never) => callbacks.add(cb),
        removeBatchObservableCallback: (cb: never) => callbacks.delete(cb),
        callbacks,
        collect(): string[] {
          const seen: string[] = [];
          for (const cb of callbacks) {
            cb({ observe: (o, v, a) => seen.push(`${(o as { name: string }).name} ${String(a['db.client.connection.state'] ?? '')} ${String(a['db.client.connection.pool.name'])}=${v}`) });
          }
          return seen.sort();
        },
      };
      return meter;
    }
    let meter = fakeMeter();
    let enabled = true;
    const metrics = new PoolMetrics(() => meter as never, () => enabled);
    const pool = { totalCount: 3, idleCount: 1, waitingCount: 2, ended: false, options: { max: 4, database: 'orders' } };
    metrics.track(pool);
    metrics.track(pool);
    expect(meter.collect()).toEqual([
      'db.client.connection.count idle orders=1',
      'db.client.connection.count used orders=2',
      'db.client.connection.limit  orders=4',
      'db.client.connection.pending_requests  orders=2',
    ]);
    enabled = false;
    expect(meter.collect()).toEqual([]);
    enabled = true;
    // A new meter (a provider set later): the instruments move at the next connect.
    const first = meter;
    meter = fakeMeter();
    metrics.track(pool);
    expect(first.callbacks.size).toBe(0);
    expect(meter.collect()).toHaveLength(4);
    pool.ended = true;
    expect(meter.collect()).toEqual([]);
  });

  it('names a pool after its database, else its server address and port, else postgresql', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { poolName } = require('../instrumentations/pg/poolMetrics') as typeof import('../instrumentations/pg/poolMetrics');
    const noEnv = {};
    expect(poolName({ database: 'orders', host: 'db', port: 5433 }, noEnv)).toBe('orders');
    expect(poolName({ connectionString: 'postgresql://app:secret@db.internal:6432/sales%20eu?ssl=true' }, noEnv)).toBe('sales eu');
    // No database given: pg's default is the user name.
    expect(poolName({ connectionString: 'postgres://reporter@db.internal:6432' }, noEnv)).toBe('reporter');
    expect(poolName({ user: 'app' }, { PGDATABASE: 'fromenv' })).toBe('fromenv');
    expect(poolName({}, { PGUSER: 'envuser' })).toBe('envuser');
    // Nothing names a database: the address, with the port (an IPv6 address in brackets).
    expect(poolName({ host: 'db.internal', port: 5433 }, noEnv)).toBe('db.internal:5433');
    expect(poolName({ host: '::1' }, { PGPORT: '5432' })).toBe('[::1]:5432');
    expect(poolName({ connectionString: 'not a url' }, { PGHOST: '/var/run/postgresql' })).toBe('/var/run/postgresql');
    expect(poolName(undefined, noEnv)).toBe('postgresql');
  });
});

describe('statement summaries (span names)', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { summarizeStatement } = require('../instrumentations/pg/sql') as typeof import('../instrumentations/pg/sql');

  it.each([
    ['SELECT id, name FROM users WHERE id = $1', { operation: 'SELECT', collection: 'users' }],
    ['  /* c */ -- x\n (select * from only "My ""T""" where a = $1)', { operation: 'SELECT', collection: 'My "T"' }],
    ['SELECT * FROM a JOIN b ON a.id = b.id', { operation: 'SELECT' }],
    ['SELECT * FROM generate_series(1, 3)', { operation: 'SELECT' }],
    ['SELECT 1', { operation: 'SELECT' }],
    ['DELETE FROM public.sessions WHERE expired', { operation: 'DELETE', collection: 'public.sessions' }],
    ['INSERT INTO orders (id) VALUES ($1)', { operation: 'INSERT', collection: 'orders' }],
    ['update only accounts set x = 1', { operation: 'UPDATE', collection: 'accounts' }],
    ['TRUNCATE TABLE logs', { operation: 'TRUNCATE', collection: 'logs' }],
    ['CREATE TEMP TABLE IF NOT EXISTS scratch (id int)', { operation: 'CREATE', collection: 'scratch' }],
    ['DROP TABLE a, b', { operation: 'DROP' }],
    ['BEGIN', { operation: 'BEGIN' }],
    ['', {}],
  ])('%j', (text, expected) => {
    expect(summarizeStatement(text)).toEqual(expected);
  });
});

describe('query shapes (a statement\'s name and attributes, made once per connection target)', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { queryTarget, QueryTarget, QUERY_SHAPES_PER_TARGET } = require('../instrumentations/pg/telemetry') as typeof import('../instrumentations/pg/telemetry');

  it('shares one target per database, host and port, and a different one otherwise', () => {
    const a = queryTarget({ database: 'shop', host: 'db1', port: 5432 });
    expect(queryTarget({ database: 'shop', host: 'db1', port: 5432 })).toBe(a);
    expect(queryTarget({ database: 'shop', host: 'db1', port: 5433 })).not.toBe(a);
    expect(queryTarget({ database: 'shop', host: 'db2', port: 5432 })).not.toBe(a);
    expect(queryTarget({ database: 'other', host: 'db1', port: 5432 })).not.toBe(a);
    expect(queryTarget({ database: 'shop', host: 'db1' })).not.toBe(a);
  });

  it('gives the same frozen name and attributes for the same text, and its own for each text', () => {
    const target = queryTarget({ database: 'shop', host: 'db1', port: 5432 });
    const shape = target.shape('SELECT * FROM users WHERE id = $1');
    expect(target.shape('SELECT * FROM users WHERE id = $1')).toBe(shape);
    expect(shape.name).toBe('SELECT users');
    expect(Object.isFrozen(shape.spanAttributes)).toBe(true);
    expect(Object.isFrozen(shape.metricAttributes)).toBe(true);
    const metric = {
      'db.system.name': 'postgresql',
      'db.namespace': 'shop',
      'db.operation.name': 'SELECT',
      'db.collection.name': 'users',
      'server.address': 'db1',
      'server.port': 5432,
    };
    expect(shape.metricAttributes).toEqual(metric);
    expect(shape.spanAttributes).toEqual({ ...metric, 'db.query.text': 'SELECT * FROM users WHERE id = $1' });
    const other = target.shape('DELETE FROM sessions');
    expect(other).not.toBe(shape);
    expect(other.name).toBe('DELETE sessions');
    // No text (a submittable without one): the namespace names it, and no db.query.text.
    const none = target.shape(undefined);
    expect(target.shape(undefined)).toBe(none);
    expect(none.name).toBe('shop');
    expect(none.spanAttributes).toEqual({ 'db.system.name': 'postgresql', 'db.namespace': 'shop', 'server.address': 'db1', 'server.port': 5432 });
  });

  it('starts over past its bound, and stays right', () => {
    const target = new QueryTarget({ database: 'bounded' });
    const first = target.shape('SELECT * FROM kept');
    for (let i = 0; i < QUERY_SHAPES_PER_TARGET + 10; i++) {
      const shape = target.shape(`SELECT * FROM t${i} WHERE id = ${i}`);
      expect(shape.name).toBe(`SELECT t${i}`);
      expect(shape.spanAttributes['db.query.text']).toBe(`SELECT * FROM t${i} WHERE id = ${i}`);
    }
    const again = target.shape('SELECT * FROM kept');
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });
});
