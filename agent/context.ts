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
 */
import type { Context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { EventEmitter } from 'node:events';

const kBound = Symbol('otlp-mmap.contextBoundEmit');

type Emit = (this: EventEmitter, event: string | symbol, ...args: unknown[]) => boolean;

/** `AsyncLocalStorageContextManager` with EventEmitters bound through one wrapped `emit`. */
export class ContextManager extends AsyncLocalStorageContextManager {
  override bind<T>(context: Context, target: T): T {
    if (target instanceof EventEmitter) {
      bindEmitter(this, context, target);
      return target;
    }
    return super.bind(context, target);
  }
}

function bindEmitter(manager: ContextManager, context: Context, ee: EventEmitter): void {
  const holder = ee as unknown as Record<symbol, unknown>;
  if (holder[kBound] !== undefined) return;
  Object.defineProperty(ee, kBound, { value: true, enumerable: false });
  const original = ee.emit as Emit;
  ee.emit = function boundEmit(this: EventEmitter, event: string | symbol, ...args: unknown[]): boolean {
    return manager.with(context, original, this, event, ...args);
  } as EventEmitter['emit'];
}
