/**
 * pg-pool's connection metrics, after the database client semantic conventions:
 * - `db.client.connection.count` (`{connection}`), by `db.client.connection.state` (`idle` or
 *   `used`) and `db.client.connection.pool.name`;
 * - `db.client.connection.pending_requests` (`{request}`): `connect` calls waiting for a client;
 * - `db.client.connection.limit` (`{connection}`): the pool's `max` (the conventions' new name
 *   for `db.client.connection.max`, which `@opentelemetry/instrumentation-pg` still reports).
 *
 * They are observable instruments: the pool's own counters (`totalCount`, `idleCount`,
 * `waitingCount`) are read when metrics are collected, so nothing is added to a query or to a
 * client's checkout and release. A pool is remembered, weakly, at its first `connect` (which
 * `Pool#query` also goes through); an ended or collected pool is forgotten. Pools with the same
 * name are added up.
 */
import type { BatchObservableResult, Meter, Observable } from '@opentelemetry/api';
import * as api from '@opentelemetry/api';

// Read once: in the agent's bundle every read of an imported name is a re-export getter call.
const { diag } = api;

// Experimental names: not taken from @opentelemetry/semantic-conventions' incubating entry
// point, which the agent bundle would have to carry whole.
export const METRIC_DB_CLIENT_CONNECTION_COUNT = 'db.client.connection.count';
export const METRIC_DB_CLIENT_CONNECTION_PENDING_REQUESTS = 'db.client.connection.pending_requests';
export const METRIC_DB_CLIENT_CONNECTION_LIMIT = 'db.client.connection.limit';
export const ATTR_DB_CLIENT_CONNECTION_POOL_NAME = 'db.client.connection.pool.name';
export const ATTR_DB_CLIENT_CONNECTION_STATE = 'db.client.connection.state';

/** What is read of a pg-pool `Pool`. */
interface PoolShape {
  totalCount?: unknown;
  idleCount?: unknown;
  waitingCount?: unknown;
  ended?: unknown;
  options?: PoolOptions;
}

interface PoolOptions {
  max?: unknown;
  host?: unknown;
  port?: unknown;
  database?: unknown;
  user?: unknown;
  connectionString?: unknown;
}

interface Tracked {
  readonly pool: WeakRef<PoolShape>;
  readonly name: string;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
}

/**
 * The pool's `db.client.connection.pool.name`. pg-pool has no pool names, so, as the conventions
 * ask: the database (`db.namespace`) the pool's clients connect to, else the server address with
 * its port, else `postgresql`. The database is resolved as pg resolves it: the options, the
 * connection string, `PGDATABASE`, then the user name (pg's default database).
 * @internal Exported for tests.
 */
export function poolName(options: PoolOptions | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const o = options ?? {};
  let url: URL | undefined;
  const connectionString = text(o.connectionString);
  if (connectionString !== undefined) {
    try {
      url = new URL(connectionString);
    } catch {
      url = undefined; // a socket path or key=value form: the other options still apply
    }
  }
  const fromUrl = (part: string | undefined): string | undefined => (part ? decodeURIComponent(part) : undefined);
  const database =
    text(o.database) ??
    fromUrl(url?.pathname.slice(1)) ??
    text(env.PGDATABASE) ??
    text(o.user) ??
    fromUrl(url?.username) ??
    text(env.PGUSER);
  if (database !== undefined) return database;
  const host = text(o.host) ?? (url?.hostname || undefined) ?? text(env.PGHOST);
  if (host !== undefined) {
    const port = o.port ?? (url?.port || undefined) ?? env.PGPORT;
    const address = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
    return port !== undefined && port !== '' ? `${address}:${String(port)}` : address;
  }
  return 'postgresql';
}

/** The pools seen, and the observable instruments that report them. */
export class PoolMetrics {
  private readonly seen = new WeakSet<object>();
  private readonly tracked = new Set<Tracked>();
  private meterInUse: Meter | undefined;
  private observables: Observable[] = [];
  private readonly callback = (result: BatchObservableResult): void => this.observe(result);

  constructor(
    private readonly meter: () => Meter,
    private readonly enabled: () => boolean,
  ) {}

  /** A pool's `connect` was called: remembers the pool (once), and reports through the meter in use. */
  track(pool: unknown): void {
    if (pool === null || typeof pool !== 'object') return;
    if (this.meter() !== this.meterInUse) this.install();
    if (this.seen.has(pool)) return;
    this.seen.add(pool);
    const shape = pool as PoolShape;
    this.tracked.add({ pool: new WeakRef(shape), name: poolName(shape.options) });
  }

  /** Creates the instruments on the current meter (and takes the callback off the previous one). */
  private install(): void {
    const previous = this.meterInUse;
    const meter = this.meter();
    this.meterInUse = meter;
    if (previous !== undefined && this.observables.length > 0) previous.removeBatchObservableCallback(this.callback, this.observables);
    const connections = meter.createObservableUpDownCounter(METRIC_DB_CLIENT_CONNECTION_COUNT, {
      description: 'The number of connections that are currently in state described by the state attribute.',
      unit: '{connection}',
    });
    const pending = meter.createObservableUpDownCounter(METRIC_DB_CLIENT_CONNECTION_PENDING_REQUESTS, {
      description: 'The number of current pending requests for an open connection.',
      unit: '{request}',
    });
    const limit = meter.createObservableUpDownCounter(METRIC_DB_CLIENT_CONNECTION_LIMIT, {
      description: 'The maximum number of open connections allowed.',
      unit: '{connection}',
    });
    this.observables = [connections, pending, limit];
    meter.addBatchObservableCallback(this.callback, this.observables);
  }

  /** Reads every live pool's counters, adds up pools of the same name, and reports them. */
  private observe(result: BatchObservableResult): void {
    if (!this.enabled()) return;
    const [connections, pending, limit] = this.observables;
    if (connections === undefined || pending === undefined || limit === undefined) return;
    const byName = new Map<string, { used: number; idle: number; pending: number; limit: number }>();
    for (const entry of this.tracked) {
      const pool = entry.pool.deref();
      if (pool === undefined || pool.ended === true) {
        this.tracked.delete(entry);
        continue;
      }
      try {
        const total = count(pool.totalCount);
        const idle = Math.min(count(pool.idleCount), total);
        let sums = byName.get(entry.name);
        if (sums === undefined) {
          sums = { used: 0, idle: 0, pending: 0, limit: 0 };
          byName.set(entry.name, sums);
        }
        sums.used += total - idle;
        sums.idle += idle;
        sums.pending += count(pool.waitingCount);
        sums.limit += count(pool.options?.max);
      } catch (err) {
        diag.debug('otlp-mmap: pg pool counters not read', err);
      }
    }
    for (const [name, sums] of byName) {
      result.observe(connections, sums.used, { [ATTR_DB_CLIENT_CONNECTION_STATE]: 'used', [ATTR_DB_CLIENT_CONNECTION_POOL_NAME]: name });
      result.observe(connections, sums.idle, { [ATTR_DB_CLIENT_CONNECTION_STATE]: 'idle', [ATTR_DB_CLIENT_CONNECTION_POOL_NAME]: name });
      result.observe(pending, sums.pending, { [ATTR_DB_CLIENT_CONNECTION_POOL_NAME]: name });
      if (sums.limit > 0) result.observe(limit, sums.limit, { [ATTR_DB_CLIENT_CONNECTION_POOL_NAME]: name });
    }
  }
}
