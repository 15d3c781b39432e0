/**
 * An empty {@link Context} whose derived contexts cost one small object per `setValue`.
 *
 * `@opentelemetry/api`'s contexts (`ROOT_CONTEXT` and everything derived from it) copy a `Map`
 * on every `setValue`: a request's context is derived four or five times (its span, the RPC
 * metadata, a span per express layer), so the copies showed in per-request profiles. A request
 * whose context starts from {@link EMPTY_CONTEXT} instead gets contexts that are a chain of
 * (key, value) links: `setValue` and `deleteValue` add a link, `getValue` walks back to the
 * first link with its key (a handful of links for a request). A chain longer than
 * {@link MAX_CHAIN} is folded into one flat link, so a context derived over and over never
 * makes look-ups slow. Like every context, these are immutable.
 */
import { context as contextApi, type Context } from '@opentelemetry/api';
import type { EventEmitter } from 'node:events';

/** Links walked at most before a chain is folded into a flat link. */
export const MAX_CHAIN = 16;

const DELETED: unique symbol = Symbol('otlp-mmap.context.deleted');

class LinkedContext implements Context {
  constructor(
    private readonly parent: LinkedContext | undefined,
    private readonly key: symbol | undefined,
    private readonly value: unknown,
    /** Links from here to the root (a flat link counts as one). */
    private readonly depth: number,
    /** Every value, for a flat link (a folded chain); undefined for an ordinary link. */
    private readonly flat: ReadonlyMap<symbol, unknown> | undefined,
  ) {}

  getValue(key: symbol): unknown {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    let link: LinkedContext | undefined = this;
    while (link !== undefined) {
      if (link.flat !== undefined) return link.flat.get(key);
      if (link.key === key) return link.value === DELETED ? undefined : link.value;
      link = link.parent;
    }
    return undefined;
  }

  setValue(key: symbol, value: unknown): Context {
    return this.link(key, value);
  }

  deleteValue(key: symbol): Context {
    return this.link(key, DELETED);
  }

  private link(key: symbol, value: unknown): LinkedContext {
    if (this.depth < MAX_CHAIN) return new LinkedContext(this, key, value, this.depth + 1, undefined);
    const all = new Map<symbol, unknown>();
    this.collect(all);
    if (value === DELETED) all.delete(key);
    else all.set(key, value);
    return new LinkedContext(undefined, undefined, undefined, 1, all);
  }

  /** Every live (key, value) of this chain into `into`, the newest value of each key winning. */
  private collect(into: Map<symbol, unknown>): void {
    const seen = new Set<symbol>();
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    let link: LinkedContext | undefined = this;
    while (link !== undefined) {
      if (link.flat !== undefined) {
        for (const [k, v] of link.flat) if (!seen.has(k)) into.set(k, v);
        return;
      }
      if (link.key !== undefined && !seen.has(link.key)) {
        seen.add(link.key);
        if (link.value !== DELETED) into.set(link.key, link.value);
      }
      link = link.parent;
    }
  }
}

/** A context with no values, the start of a request's chain of contexts. */
export const EMPTY_CONTEXT: Context = new LinkedContext(undefined, undefined, undefined, 0, undefined);

/**
 * Told, before an emitter's listeners run, of each event that emitter emits (see
 * {@link FastContext.bindObserved}). Must not throw.
 */
export interface EmitObserver {
  emitted(event: string | symbol, arg: unknown): void;
}

/**
 * What the agent's own context manager offers the instrumentations beyond the
 * `@opentelemetry/api` calls, to keep per-request work small. It is set only while that
 * manager is the global one; otherwise the instrumentations use the public API.
 */
export interface FastContext {
  /** The active context (`context.active()` without the API's look-up of its global). */
  active(): Context;
  /** `context.bind(context, target)` for an emitter (see {@link bindObserved}) or a function. */
  bind<T>(context: Context, target: T): T;
  /** `fn.apply(thisArg, args)` with `context` active: `context.with` without copying `args` twice. */
  apply(context: Context, fn: (...args: never[]) => unknown, thisArg: unknown, args: ArrayLike<unknown>): unknown;
  /** `fn.call(thisArg, a, b, c)` with `context` active: {@link apply} without an arguments array. */
  call3(context: Context, fn: (a: never, b: never, c: never) => unknown, thisArg: unknown, a: unknown, b: unknown, c: unknown): unknown;
  /**
   * `context.bind(context, emitter)`, and `observer` is told of every event `emitter` emits,
   * before its listeners run (in place of listeners of our own on the emitter). Returns false,
   * and does nothing, when the emitter is bound already (the first binding wins).
   */
  bindObserved(context: Context, emitter: EventEmitter, observer: EmitObserver): boolean;
}

let fast: FastContext | undefined;

/** Sets (or, with `undefined`, clears) the agent's {@link FastContext}. */
export function setFastContext(value: FastContext | undefined): void {
  fast = value;
}

/** The agent's {@link FastContext} while its context manager is the global one. */
export function fastContext(): FastContext | undefined {
  return fast;
}

/**
 * The active context. Each call of the API's `context.active()` first looks its global up (a
 * keyed load on `globalThis` and a version check); the fast path skips that.
 */
export function activeContext(): Context {
  return fast !== undefined ? fast.active() : contextApi.active();
}

/** `context.bind(context, target)` (an emitter or a function), through the fast path when there is one. */
export function bindTo<T>(context: Context, target: T): T {
  return fast !== undefined ? fast.bind(context, target) : contextApi.bind(context, target);
}

/**
 * `fn.call(thisArg, a, b, c)` with `context` active, through the fast path when there is one
 * (an express layer's `(req, res, next)`, say, without an array for them).
 */
export function call3InContext(
  context: Context,
  fn: (a: never, b: never, c: never) => unknown,
  thisArg: unknown,
  a: unknown,
  b: unknown,
  c: unknown,
): unknown {
  if (fast !== undefined) return fast.call3(context, fn, thisArg, a, b, c);
  return contextApi.with(context, fn as (a: unknown, b: unknown, c: unknown) => unknown, thisArg, a, b, c);
}

/** `fn.apply(thisArg, args)` with `context` active, through the fast path when there is one. */
export function applyInContext(context: Context, fn: (...args: never[]) => unknown, thisArg: unknown, args: ArrayLike<unknown>): unknown {
  if (fast !== undefined) return fast.apply(context, fn, thisArg, args);
  return contextApi.with(context, fn as (...a: unknown[]) => unknown, thisArg, ...Array.from(args));
}
