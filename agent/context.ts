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
 * (a `with` taking the arguments as they are) and `bindObserved` (a binding that also tells the
 * http server instrumentation of the response's events, so it adds no listeners of its own).
 */
import type { Context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import type { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import { fastContext, setFastContext, type EmitObserver, type FastContext } from '../instrumentations/common/context';

const kBound = Symbol('otlp-mmap.contextBoundEmit');

type Emit = (this: EventEmitter, event: string | symbol, ...args: unknown[]) => boolean;

/**
 * `AsyncLocalStorageContextManager` with EventEmitters bound through one wrapped `emit`, and a
 * `with` that neither binds `fn` to `thisArg` (a new function per call in the stock manager)
 * nor switches contexts when `context` is already the active one (a layer calling the next
 * one, say): `AsyncLocalStorage#run` with the store it already has would change nothing.
 */
export class ContextManager extends AsyncLocalStorageContextManager implements FastContext {
  override with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const storage = (this as unknown as Partial<StorageOwner>)._asyncLocalStorage;
    if (storage === undefined || typeof storage.run !== 'function') return super.with(context, fn, thisArg, ...args);
    if (storage.getStore() === context) return fn.apply(thisArg, args);
    return storage.run(context, applyWith, fn as unknown as (...a: unknown[]) => unknown, thisArg, args) as ReturnType<F>;
  }

  /** `with` for instrumentations holding the arguments already (no rest array, no spread). */
  apply(context: Context, fn: (...args: never[]) => unknown, thisArg: unknown, args: ArrayLike<unknown>): unknown {
    const storage = (this as unknown as Partial<StorageOwner>)._asyncLocalStorage;
    if (storage === undefined || typeof storage.run !== 'function') {
      return super.with(context, fn as (...a: unknown[]) => unknown, thisArg, ...Array.from(args));
    }
    if (storage.getStore() === context) return fn.apply(thisArg, args as never[]);
    return storage.run(context, applyWith, fn as (...a: unknown[]) => unknown, thisArg, args);
  }

  override bind<T>(context: Context, target: T): T {
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
}

interface StorageOwner {
  _asyncLocalStorage: AsyncLocalStorage<Context>;
}

/** `fn.apply(thisArg, args)`: what `with` runs inside the context. */
function applyWith(fn: (...args: unknown[]) => unknown, thisArg: unknown, args: ArrayLike<unknown>): unknown {
  return fn.apply(thisArg, args as unknown[]);
}

/** `original.apply(self, args)`: what a bound emit runs inside the emitter's context. */
function applyEmit(original: Emit, self: EventEmitter, args: IArguments): boolean {
  return original.apply(self, args as unknown as [string | symbol, ...unknown[]]);
}

/** True when `ee`'s `emit` is one of our bound emits (the emitter is bound already). */
function isBound(ee: EventEmitter): boolean {
  const emit = ee.emit as unknown;
  return typeof emit === 'function' && (emit as unknown as Record<symbol, unknown>)[kBound] === true;
}

function bindEmitter(manager: ContextManager, context: Context, ee: EventEmitter, observer: EmitObserver | undefined): boolean {
  if (isBound(ee)) return false;
  const original = ee.emit as Emit;
  const storage = (manager as unknown as Partial<StorageOwner>)._asyncLocalStorage;
  let bound: Emit;
  if (storage === undefined || typeof storage.run !== 'function') {
    // Not the manager this was written against: the public (slower) way.
    bound = function boundEmit(this: EventEmitter, ...args: [string | symbol, ...unknown[]]): boolean {
      if (observer !== undefined) observer.emitted(args[0], args[1]);
      return manager.with(context, original, this, ...args);
    };
  } else if (observer === undefined) {
    bound = function boundEmit(this: EventEmitter): boolean {
      // Most events of a request (its response's 'finish', say) are emitted from code that already
      // runs in the request's context: no context switch is needed for those.
      if (storage.getStore() === context) return original.apply(this, arguments as unknown as [string | symbol, ...unknown[]]);
      return storage.run(context, applyEmit, original, this, arguments);
    };
  } else {
    bound = function observedEmit(this: EventEmitter, event: string | symbol, arg: unknown): boolean {
      observer.emitted(event, arg);
      if (storage.getStore() === context) return original.apply(this, arguments as unknown as [string | symbol, ...unknown[]]);
      return storage.run(context, applyEmit, original, this, arguments);
    };
  }
  // The mark is on the function, not the emitter: a property added to a request or response
  // gives it another hidden class, which express's own property accesses then pay for.
  (bound as unknown as Record<symbol, unknown>)[kBound] = true;
  ee.emit = bound as EventEmitter['emit'];
  return true;
}
