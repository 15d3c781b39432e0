/**
 * The context manager: `@opentelemetry/context-async-hooks`' AsyncLocalStorage manager, with a
 * cheaper way of binding an EventEmitter to a context.
 *
 * The http instrumentation binds every incoming request and response (`context.bind(ctx, req)`)
 * so that listeners run in the request's context. The stock manager does that by patching
 * `on`/`addListener`/`once`/`prependListener`/... and wrapping every listener added afterwards
 * (a closure and map bookkeeping per listener, and per removal); under load that was the largest
 * single telemetry cost in the profiles (BENCHMARKS.md, "Where the time goes"). Here the emitter's
 * `emit` is wrapped once instead: every listener runs in the bound context, listeners stay the
 * functions the app added (so `removeListener` and `listeners()` behave as without the agent), and
 * nothing is allocated per listener. As with the stock manager, the first binding of an emitter wins.
 *
 * The manager is also the instrumentations' {@link FastContext} while it is the global one: `apply`
 * (a `with` taking the arguments as they are), `call3` (the same for exactly three arguments,
 * with no array) and `bindObserved` (a binding that also tells the http server instrumentation of
 * the response's events, so it adds no listeners of its own).
 */
import { ROOT_CONTEXT, type Context } from '@opentelemetry/api';
// Its own file: the package's index also loads the older async_hooks manager, unused here.
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks/build/src/AsyncLocalStorageContextManager';
import { executionAsyncId, executionAsyncResource, type AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import { fastContext, setFastContext, type EmitObserver, type FastContext } from '../instrumentations/common/context';

const kBound = Symbol('otlp-mmap.contextBoundEmit');

/**
 * `AsyncLocalStorageContextManager` with EventEmitters bound through one wrapped `emit`, and a
 * `with` that neither binds `fn` to `thisArg` (a new function per call in the stock manager)
 * nor switches contexts when `context` is already the active one (a layer calling the next
 * one, say): `AsyncLocalStorage#run` with the store it already has would change nothing.
 */
export class ContextManager extends AsyncLocalStorageContextManager implements FastContext {
  /**
   * The property under which Node's AsyncLocalStorage (the async_hooks implementation, Node 16
   * to 22) keeps its store on each async resource, when this manager's storage is one; else
   * undefined, and every switch goes through `AsyncLocalStorage#run`.
   */
  private readonly storeKey: symbol | undefined;

  constructor() {
    super();
    const storage = (this as unknown as Partial<StorageOwner>)._asyncLocalStorage as Partial<AlsInternals> | undefined;
    const key = storage?.kResourceStore;
    this.storeKey = typeof key === 'symbol' && typeof storage?.enabled === 'boolean' && typeof executionAsyncResource === 'function' ? key : undefined;
  }

  override active(): Context {
    const key = this.storeKey;
    if (key !== undefined && this.storageEnabled()) return (currentResource()[key] as Context | undefined) ?? ROOT_CONTEXT;
    return super.active();
  }

  override with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.apply(context, fn as unknown as (...a: never[]) => unknown, thisArg, args) as ReturnType<F>;
  }

  /** `with` for instrumentations holding the arguments already (no rest array, no spread). */
  apply(context: Context, fn: (...args: never[]) => unknown, thisArg: unknown, args: ArrayLike<unknown>): unknown {
    const key = this.storeKey;
    if (key !== undefined && this.storageEnabled()) {
      // What AsyncLocalStorage#run does, without its second store look-up, its rest array and
      // its extra calls: the store of the current async resource is set for the call and put back.
      const resource = currentResource();
      const previous = resource[key];
      if (previous === context) return fn.apply(thisArg, args as never[]);
      resource[key] = context;
      try {
        return fn.apply(thisArg, args as never[]);
      } finally {
        resource[key] = previous;
      }
    }
    const storage = (this as unknown as Partial<StorageOwner>)._asyncLocalStorage;
    if (storage === undefined || typeof storage.run !== 'function') {
      return super.with(context, fn as (...a: unknown[]) => unknown, thisArg, ...Array.from(args));
    }
    if (storage.getStore() === context) return fn.apply(thisArg, args as never[]);
    return storage.run(context, applyWith, fn as (...a: unknown[]) => unknown, thisArg, args);
  }

  call3(context: Context, fn: (a: never, b: never, c: never) => unknown, thisArg: unknown, a: unknown, b: unknown, c: unknown): unknown {
    const key = this.storeKey;
    if (key === undefined || !this.storageEnabled()) return this.apply(context, fn as (...args: never[]) => unknown, thisArg, [a, b, c]);
    // As `apply`, with the three arguments passed as they are.
    const resource = currentResource();
    const previous = resource[key];
    const call = fn as (this: unknown, a: unknown, b: unknown, c: unknown) => unknown;
    if (previous === context) return call.call(thisArg, a, b, c);
    resource[key] = context;
    try {
      return call.call(thisArg, a, b, c);
    } finally {
      resource[key] = previous;
    }
  }

  override bind<T>(context: Context, target: T): T {
    if (typeof target === 'function') return bindFunction(this, context, target as unknown as (...args: never[]) => unknown) as T;
    if (target instanceof EventEmitter) {
      bindEmitter(this, context, target, undefined);
      return target;
    }
    return super.bind(context, target);
  }

  bindObserved(context: Context, emitter: EventEmitter, observer: EmitObserver): boolean {
    return bindEmitter(this, context, emitter, observer);
  }

  override disable(): this {
    if (fastContext() === this) setFastContext(undefined);
    return super.disable();
  }

  /** Whether the storage is enabled (its hook copies stores to new resources): after its first `run`. */
  private storageEnabled(): boolean {
    return ((this as unknown as StorageOwner)._asyncLocalStorage as unknown as AlsInternals).enabled === true;
  }
}

/** Node's AsyncLocalStorage internals used by {@link ContextManager}'s fast path. */
interface AlsInternals {
  kResourceStore: symbol;
  enabled: boolean;
}

let lastAsyncId = -1;
let lastResource: Record<symbol, unknown> = {};

/**
 * `executionAsyncResource()`, remembered for the current async id. Within one callback (a request
 * being handled: the http server, every express layer, the response's events) the manager asks
 * for the resource dozens of times, and for a resource created in C++ (a socket's, a parser's)
 * each ask is a call into Node's C++. An async id names one resource for good, so while the id
 * is the same the resource is too (ids 0 and 1, "unknown" and the top level, are not
 * remembered). The last resource stays referenced until the next id comes along.
 */
function currentResource(): Record<symbol, unknown> {
  const id = executionAsyncId();
  if (id === lastAsyncId && id > 1) return lastResource;
  const resource = executionAsyncResource() as Record<symbol, unknown>;
  lastAsyncId = id;
  lastResource = resource;
  return resource;
}

interface StorageOwner {
  _asyncLocalStorage: AsyncLocalStorage<Context>;
}

/** `fn.apply(thisArg, args)`: what `with` runs inside the context. */
function applyWith(fn: (...args: unknown[]) => unknown, thisArg: unknown, args: ArrayLike<unknown>): unknown {
  return fn.apply(thisArg, args as unknown[]);
}

/**
 * `fn` bound to `context`: each call runs it in that context, with its `this` and arguments. The
 * wrapper declares as many parameters as `fn` (its `length` is the same, which some callers
 * read), so no property is redefined on it for the common arities. The stock manager allocated a
 * closure and a rest array per call and redefined `length` per binding.
 */
function bindFunction(manager: ContextManager, context: Context, fn: (...args: never[]) => unknown): (...args: never[]) => unknown {
  switch (fn.length) {
    case 0:
      return function bound(this: unknown): unknown {
        return manager.apply(context, fn, this, arguments);
      };
    case 1:
      return function bound(this: unknown, _a: unknown): unknown {
        return manager.apply(context, fn, this, arguments);
      };
    case 2:
      return function bound(this: unknown, _a: unknown, _b: unknown): unknown {
        return manager.apply(context, fn, this, arguments);
      };
    case 3:
      return function bound(this: unknown, _a: unknown, _b: unknown, _c: unknown): unknown {
        return manager.apply(context, fn, this, arguments);
      };
    default: {
      const bound = function bound(this: unknown): unknown {
        return manager.apply(context, fn, this, arguments);
      };
      Object.defineProperty(bound, 'length', { value: fn.length, configurable: true });
      return bound;
    }
  }
}

/** True when `ee`'s `emit` is one of our bound emits (the emitter is bound already). */
function isBound(ee: EventEmitter): boolean {
  const emit = ee.emit as unknown;
  return typeof emit === 'function' && (emit as unknown as Record<symbol, unknown>)[kBound] === true;
}

function bindEmitter(manager: ContextManager, context: Context, ee: EventEmitter, observer: EmitObserver | undefined): boolean {
  if (isBound(ee)) return false;
  const original = ee.emit as (...args: never[]) => unknown;
  // Most events of a request (its response's 'finish', say) are emitted from code that already
  // runs in the request's context: `apply` switches nothing for those.
  const bound =
    observer === undefined
      ? function boundEmit(this: EventEmitter): boolean {
          return manager.apply(context, original, this, arguments) as boolean;
        }
      : function observedEmit(this: EventEmitter, event: string | symbol, arg: unknown): boolean {
          observer.emitted(event, arg);
          return manager.apply(context, original, this, arguments) as boolean;
        };
  // The mark is on the function, not the emitter: a property added to a request or response
  // gives it another hidden class, which express's own property accesses then pay for.
  (bound as unknown as Record<symbol, unknown>)[kBound] = true;
  ee.emit = bound as EventEmitter['emit'];
  return true;
}
