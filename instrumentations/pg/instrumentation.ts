/**
 * The pg hooks. `Client#query` is wrapped for its four forms (text or config with a
 * callback, returning a promise, or a submittable such as `new pg.Query(...)`);
 * `Pool#query` goes through `Client#query`, so it gives one span, not two.
 * `Client#connect` and `Pool#connect` callbacks are bound to the caller's context:
 * otherwise a pooled query would start in whatever context released the client.
 * `Pool#connect` also makes the pool known to the connection metrics (poolMetrics.ts).
 */
import * as api from '@opentelemetry/api';
import { isWrapped, PackageInstrumentation, unwrapMethod, wrapMethod } from '../common/packageInstrumentation';
import { activeContext, applyInContext, bindTo } from '../common/context';
import { moduleObject } from '../common/exports';
import { VersionRange } from '../common/versionRange';
import { INSTRUMENTATION_VERSION, SCOPE_PREFIX } from '../version';
import { PoolMetrics } from './poolMetrics';
import { PgTelemetry, QueryTarget, queryTarget, type ConnectionInfo, type QueryOperation } from './telemetry';

// Read once: in the agent's bundle every read of an imported name is a re-export getter call.
const { diag } = api;

/** The pg versions instrumented. */
export const PG_VERSIONS = new VersionRange('>=8.0.0 <9.0.0');

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

interface PgClientMethods {
  query: AnyFunction;
  connect: AnyFunction;
}

interface PgExports {
  Client: { prototype: PgClientMethods };
  Pool?: { prototype: { connect?: AnyFunction } };
}

/** A submittable: what `client.query` accepts besides text and config (`pg.Query`, `pg-cursor`). */
interface Submittable {
  submit: AnyFunction;
  text?: unknown;
  callback?: unknown;
  handleError?: AnyFunction;
  handleReadyForQuery?: AnyFunction;
}

function isPgExports(value: unknown): value is PgExports {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  const client: unknown = (value as { Client?: unknown }).Client;
  if (typeof client !== 'function') return false;
  return typeof (client as { prototype?: { query?: unknown } }).prototype?.query === 'function';
}

function isSubmittable(value: unknown): value is Submittable {
  return value !== null && typeof value === 'object' && typeof (value as Submittable).submit === 'function';
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** The statement text of a query's first argument, whichever form it has. */
function statementText(first: unknown): string | undefined {
  if (typeof first === 'string') return first;
  if (first !== null && typeof first === 'object') {
    const text = (first as { text?: unknown }).text;
    if (typeof text === 'string') return text;
  }
  return undefined;
}

const kTarget = Symbol('otlp-mmap.pg.target');

interface TargetedClient {
  connectionParameters?: Record<string, unknown>;
  [kTarget]?: { readonly params: object; readonly target: QueryTarget };
}

function connectionOf(params: Record<string, unknown>): ConnectionInfo {
  const port = Number(params.port);
  return {
    database: typeof params.database === 'string' ? params.database : undefined,
    host: typeof params.host === 'string' ? params.host : undefined,
    port: Number.isInteger(port) ? port : undefined,
  };
}

/** Where no connection parameters are known. */
const UNKNOWN_TARGET = new QueryTarget({});

/**
 * The client's {@link QueryTarget}, remembered on the client for as long as its
 * `connectionParameters` object (made once, in pg's constructor) is the same one.
 */
function targetOf(client: unknown): QueryTarget {
  if (client === null || typeof client !== 'object') return UNKNOWN_TARGET;
  const c = client as TargetedClient;
  const params = c.connectionParameters;
  if (params === null || typeof params !== 'object') return UNKNOWN_TARGET;
  const known = c[kTarget];
  if (known !== undefined && known.params === params) return known.target;
  const target = queryTarget(connectionOf(params));
  c[kTarget] = { params, target };
  return target;
}

/** Binds the last argument, when it is a callback, to the active context. */
function bindCallbackArg(args: unknown[]): void {
  const last = args.length - 1;
  if (last >= 0 && typeof args[last] === 'function') {
    args[last] = bindTo(activeContext(), args[last] as AnyFunction);
  }
}

/** Hooks pg 8. */
export class PgInstrumentation extends PackageInstrumentation {
  private readonly telemetry = new PgTelemetry(
    () => this.tracer,
    () => this.meter,
  );

  /** The pools' connection metrics, read at each collection (see poolMetrics.ts). */
  private readonly poolMetrics = new PoolMetrics(
    () => this.meter,
    () => this.isEnabled(),
  );

  constructor() {
    super('pg', `${SCOPE_PREFIX}pg`, INSTRUMENTATION_VERSION);
  }

  protected override patch(moduleExports: unknown, version: string | undefined): unknown {
    if (!PG_VERSIONS.includes(version)) {
      diag.warn(
        `otlp-mmap: pg ${version ?? '(unknown version)'} is not supported (supported: ${PG_VERSIONS.text}); it is not instrumented`,
      );
      return moduleExports;
    }
    const pg = moduleObject(moduleExports, isPgExports);
    if (!pg) {
      diag.warn(`otlp-mmap: pg ${version} does not export Client as expected; not instrumented`);
      return moduleExports;
    }
    const client = pg.Client.prototype;
    // The same classes can reach us twice (require hook and import hook).
    if (isWrapped(client.query)) return moduleExports;
    wrapMethod(client, 'query', (original) => this.tracedQuery(original));
    if (typeof client.connect === 'function') {
      wrapMethod(client, 'connect', (original) => this.contextKeepingConnect(original));
    }
    const pool = pg.Pool?.prototype;
    if (pool && typeof pool.connect === 'function' && !isWrapped(pool.connect)) {
      wrapMethod(pool as { connect: AnyFunction }, 'connect', (original) => this.contextKeepingConnect(original, this.poolMetrics));
    }
    return moduleExports;
  }

  protected override unpatch(moduleExports: unknown): void {
    const pg = moduleObject(moduleExports, isPgExports);
    if (!pg) return;
    unwrapMethod(pg.Client.prototype, 'query');
    unwrapMethod(pg.Client.prototype, 'connect');
    const pool = pg.Pool?.prototype as { connect: AnyFunction } | undefined;
    if (pool) unwrapMethod(pool, 'connect');
  }

  /**
   * `connect(callback)` calls back in the caller's context; the promise form already does. With
   * `poolMetrics` (`Pool#connect`, which `Pool#query` goes through too), the pool is also
   * remembered for its connection metrics.
   */
  private contextKeepingConnect(original: AnyFunction, poolMetrics?: PoolMetrics): AnyFunction {
    const instrumentation = this;
    return function connect(this: unknown, ...args: unknown[]): unknown {
      if (instrumentation.isEnabled()) {
        try {
          bindCallbackArg(args);
          poolMetrics?.track(this);
        } catch (err) {
          diag.debug('otlp-mmap: pg connect not instrumented', err);
        }
      }
      return original.apply(this, args);
    };
  }

  private tracedQuery(original: AnyFunction): AnyFunction {
    const instrumentation = this;
    const telemetry = this.telemetry;
    return function query(this: unknown, ...args: unknown[]): unknown {
      if (!instrumentation.isEnabled()) return original.apply(this, args);
      let operation: QueryOperation | undefined;
      try {
        operation = telemetry.startQuery(statementText(args[0]), targetOf(this));
      } catch (err) {
        diag.debug('otlp-mmap: pg span not started', err);
      }
      if (operation === undefined) return original.apply(this, args);
      const op = operation;
      const first = args[0];

      if (isSubmittable(first)) return submitTraced(this, original, args, first, op);

      // Callback forms: query(text, cb), query(text, values, cb), query(config, cb),
      // or a config object carrying its own `callback`.
      let hasCallback = false;
      const lastIndex = args.length - 1;
      const wrapCallback = (callback: AnyFunction): AnyFunction =>
        function queryCallback(this: unknown, ...cbArgs: unknown[]): unknown {
          op.end(cbArgs[0]);
          return applyInContext(op.parentContext, callback, this, cbArgs);
        };
      if (lastIndex > 0 && typeof args[lastIndex] === 'function') {
        args[lastIndex] = wrapCallback(args[lastIndex] as AnyFunction);
        hasCallback = true;
      } else if (first !== null && typeof first === 'object' && typeof (first as Submittable).callback === 'function') {
        args[0] = { ...(first as object), callback: wrapCallback((first as Submittable).callback as AnyFunction) };
        hasCallback = true;
      }

      let result: unknown;
      try {
        result = original.apply(this, args);
      } catch (err) {
        op.end(err);
        throw err;
      }
      if (!hasCallback && isThenable(result)) {
        return result.then(
          (value) => {
            op.end();
            return value;
          },
          (err: unknown) => {
            op.end(err);
            throw err;
          },
        );
      }
      return result;
    };
  }
}

/**
 * Runs a submittable query and ends its span at the first of `handleError` /
 * `handleReadyForQuery`, which pg calls on every submittable; its callback, if it
 * has one, runs in the caller's context.
 */
function submitTraced(
  client: unknown,
  original: AnyFunction,
  args: unknown[],
  submittable: Submittable,
  op: QueryOperation,
): unknown {
  const { handleError, handleReadyForQuery } = submittable;
  if (typeof handleError === 'function') {
    submittable.handleError = function tracedHandleError(this: unknown, ...a: unknown[]): unknown {
      op.end(a[0] ?? new Error('query failed'));
      return handleError.apply(this, a);
    };
  }
  if (typeof handleReadyForQuery === 'function') {
    submittable.handleReadyForQuery = function tracedReady(this: unknown, ...a: unknown[]): unknown {
      op.end();
      return handleReadyForQuery.apply(this, a);
    };
  }
  let result: unknown;
  try {
    result = original.apply(client, args);
  } catch (err) {
    op.end(err);
    throw err;
  }
  try {
    if (typeof submittable.callback === 'function') {
      submittable.callback = bindTo(op.parentContext, submittable.callback as AnyFunction);
    }
  } catch (err) {
    diag.debug('otlp-mmap: pg submittable callback not bound', err);
  }
  return result;
}
