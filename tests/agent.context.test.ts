/**
 * Context through EventEmitters: listeners an app adds to an incoming request and its response
 * run in the request's context (the http instrumentation binds both), so spans started there
 * are children of the server span. The agent binds an emitter by wrapping its `emit` once, so
 * removing a listener and `listeners()` behave as without the agent.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assembleSpans, cleanup, readOnlyFile, REGISTER_MJS, runNode, spanNamed, tempDir } from './fixtures/agent/harness';

afterAll(cleanup);

const APP = `
const http = require('node:http');
const { trace } = require(${JSON.stringify(require.resolve('@opentelemetry/api'))});
const tracer = trace.getTracer('listener-app');
const server = http.createServer((req, res) => {
  // Emitted later, from the socket: without binding these would run in no span context.
  req.on('data', () => {});
  req.on('end', () => {
    tracer.startSpan('in-req-end').end();
    res.end('ok');
  });
  res.on('finish', () => tracer.startSpan('in-res-finish').end());
  // A removed listener is not called, and listeners() lists what the app added.
  const never = () => tracer.startSpan('removed-listener').end();
  res.on('finish', never);
  res.removeListener('finish', never);
  res.setHeader('x-listeners-ok', String(res.listeners('finish').includes(never) === false));
});
server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  const req = http.request({ port, method: 'POST', path: '/upload', agent: false }, (res) => {
    res.resume();
    res.on('end', () => {
      process.stdout.write('RESULT ' + JSON.stringify({ listenersOk: res.headers['x-listeners-ok'] }) + '\\n');
      setTimeout(() => server.close(), 50);
    });
  });
  req.end('payload');
});
`;

test('spans started in req/res listeners are children of the server span; removeListener still works', async () => {
  const dir = tempDir();
  const app = path.join(dir, 'app.cjs');
  fs.writeFileSync(app, APP);
  const r = await runNode(['--import', REGISTER_MJS, app], { OTLP_MMAP_DIR: dir, OTEL_SERVICE_NAME: 'listener-app' });
  expect(r.code).toBe(0);
  expect(r.result).toEqual({ listenersOk: 'true' });
  const spans = assembleSpans(readOnlyFile(dir));
  const server = [...spans.values()].find((s) => s.kind === 2);
  if (!server) throw new Error('no server span');
  for (const name of ['in-req-end', 'in-res-finish']) {
    const s = spanNamed(spans, name);
    expect({ name, traceId: s.traceId, parent: s.parentSpanId }).toEqual({ name, traceId: server.traceId, parent: server.spanId });
  }
  expect([...spans.values()].some((s) => s.name === 'removed-listener')).toBe(false);
});

describe('EMPTY_CONTEXT: the chained contexts a request starts from', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { EMPTY_CONTEXT, MAX_CHAIN } = require('../instrumentations/common/context') as typeof import('../instrumentations/common/context');
  const a = api.createContextKey('a');
  const b = api.createContextKey('b');

  test('set, get and delete are immutable and the newest value wins', () => {
    const c1 = EMPTY_CONTEXT.setValue(a, 1);
    const c2 = c1.setValue(b, 2).setValue(a, 3);
    const c3 = c2.deleteValue(a);
    expect(EMPTY_CONTEXT.getValue(a)).toBeUndefined();
    expect(c1.getValue(a)).toBe(1);
    expect(c1.getValue(b)).toBeUndefined();
    expect([c2.getValue(a), c2.getValue(b)]).toEqual([3, 2]);
    expect([c3.getValue(a), c3.getValue(b)]).toEqual([undefined, 2]);
    expect(c3.setValue(a, 4).getValue(a)).toBe(4);
  });

  test('a long chain is folded and keeps every value, deletion included', () => {
    const keys = Array.from({ length: 5 * MAX_CHAIN }, (_, i) => api.createContextKey(`k${i}`));
    let ctx = EMPTY_CONTEXT;
    const chain = [ctx];
    keys.forEach((k, i) => {
      ctx = ctx.setValue(k, i);
      if (i % 7 === 0) ctx = ctx.deleteValue(keys[Math.floor(i / 2)]!);
      chain.push(ctx);
    });
    const expected = new Map<symbol, unknown>();
    keys.forEach((k, i) => {
      expected.set(k, i);
      if (i % 7 === 0) expected.delete(keys[Math.floor(i / 2)]!);
    });
    for (const [i, k] of keys.entries()) expect(ctx.getValue(k)).toBe(expected.has(k) ? i : undefined);
    // Earlier contexts are untouched by what was derived from them.
    expect(chain[1]!.getValue(keys[0]!)).toBeUndefined(); // k0 was set and deleted at once (i = 0)
    expect(chain[2]!.getValue(keys[1]!)).toBe(1);
    expect(chain[2]!.getValue(keys[2]!)).toBeUndefined();
  });

  test('works with the API: spans, suppression and W3C extraction', () => {
    const w3c = new (require('@opentelemetry/core').W3CTraceContextPropagator)();
    const parent = w3c.extract(EMPTY_CONTEXT, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }, api.defaultTextMapGetter);
    const sc = api.trace.getSpanContext(parent);
    expect(sc).toMatchObject({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', isRemote: true });
    const span = api.trace.wrapSpanContext({ traceId: '1'.repeat(32), spanId: '2'.repeat(16), traceFlags: 1 });
    const child = api.trace.setSpan(parent, span);
    expect(api.trace.getSpan(child)).toBe(span);
    expect(api.trace.getSpan(parent)).not.toBe(span);
    expect(api.trace.getSpan(api.trace.deleteSpan(child))).toBeUndefined();
    expect(require('@opentelemetry/core').isTracingSuppressed(require('@opentelemetry/core').suppressTracing(child))).toBe(true);
  });
});

describe("the agent's context manager as the instrumentations' FastContext", () => {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  const { EventEmitter } = require('node:events') as typeof import('node:events');
  const { ContextManager } = require('../agent/context') as typeof import('../agent/context');
  const common = require('../instrumentations/common/context') as typeof import('../instrumentations/common/context');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const key = api.createContextKey('request');
  let manager: InstanceType<typeof ContextManager>;

  beforeEach(() => {
    manager = new ContextManager().enable();
  });
  afterEach(() => {
    manager.disable();
    common.setFastContext(undefined);
  });

  test('bindObserved: the observer hears each event before the listeners, which run in the bound context', () => {
    const ctx = api.ROOT_CONTEXT.setValue(key, 'req-1');
    const ee = new EventEmitter();
    const heard: string[] = [];
    ee.on('close', () => heard.push(`listener in ${String(manager.active().getValue(key))}`));
    expect(
      manager.bindObserved(ctx, ee, { emitted: (event, arg) => heard.push(`observer ${String(event)} ${String(arg)} in ${String(manager.active().getValue(key))}`) }),
    ).toBe(true);
    ee.emit('close', 7);
    ee.emit('finish');
    // Events nobody listens to are observed too, and emit still reports whether there were listeners.
    expect(ee.emit('close')).toBe(true);
    expect(heard).toEqual([
      'observer close 7 in undefined',
      'listener in req-1',
      'observer finish undefined in undefined',
      'observer close undefined in undefined',
      'listener in req-1',
    ]);
    // Nothing is added to the emitter but its emit; listeners() is what the app added.
    expect(Object.getOwnPropertySymbols(ee).map(String).filter((s) => s.includes('otlp-mmap'))).toEqual([]);
    expect(ee.listeners('close')).toHaveLength(1);
  });

  test('a bound emit keeps what EventEmitter#emit returns and throws, with or without listeners', () => {
    const ctx = api.ROOT_CONTEXT.setValue(key, 'ctx');
    const ee = new EventEmitter();
    manager.bind(ctx, ee);
    expect(ee.emit('nobody')).toBe(false);
    // 'error' without a listener still throws, and errorMonitor listeners still hear it first.
    const monitored: unknown[] = [];
    ee.on(require('node:events').errorMonitor, (e: Error) => monitored.push([e.message, manager.active().getValue(key)]));
    expect(() => ee.emit('error', new Error('unhandled'))).toThrow('unhandled');
    expect(monitored).toEqual([['unhandled', 'ctx']]);
    ee.on('x', () => undefined);
    expect(ee.emit('x')).toBe(true);
    // An emitter whose class overrides emit (it may forward events) runs its override even with
    // no listener, in the bound context.
    class Forwarding extends EventEmitter {
      forwarded: unknown[] = [];
      override emit(event: string | symbol, ...args: unknown[]): boolean {
        this.forwarded.push([event, manager.active().getValue(key)]);
        return super.emit(event, ...args);
      }
    }
    const fwd = new Forwarding();
    manager.bind(ctx, fwd);
    expect(fwd.emit('nobody')).toBe(false);
    expect(fwd.forwarded).toEqual([['nobody', 'ctx']]);
  });

  test('the first binding wins, observed or not', () => {
    const first = api.ROOT_CONTEXT.setValue(key, 'first');
    const second = api.ROOT_CONTEXT.setValue(key, 'second');
    const seen: unknown[] = [];
    const observed = new EventEmitter();
    expect(manager.bindObserved(first, observed, { emitted: () => seen.push('observed') })).toBe(true);
    manager.bind(second, observed);
    expect(manager.bindObserved(second, observed, { emitted: () => seen.push('second observer') })).toBe(false);
    observed.on('x', () => seen.push(manager.active().getValue(key)));
    observed.emit('x');

    const plain = new EventEmitter();
    manager.bind(first, plain);
    expect(manager.bindObserved(second, plain, { emitted: () => seen.push('late observer') })).toBe(false);
    plain.on('x', () => seen.push(manager.active().getValue(key)));
    plain.emit('x');
    expect(seen).toEqual(['observed', 'first', 'first']);
  });

  test('apply runs fn with the context active, this and the arguments as given', () => {
    const ctx = api.ROOT_CONTEXT.setValue(key, 'applied');
    const self = { name: 'self' };
    const result = manager.apply(
      ctx,
      function (this: { name: string }, ...args: never[]) {
        return [this.name, manager.active().getValue(key), ...args];
      },
      self,
      [1, 2] as unknown as ArrayLike<unknown>,
    );
    expect(result).toEqual(['self', 'applied', 1, 2]);
    expect(manager.active().getValue(key)).toBeUndefined();
  });

  test('apply switches stores like AsyncLocalStorage#run: async work started inside keeps the context, the previous one comes back, also after a throw', async () => {
    const a = api.ROOT_CONTEXT.setValue(key, 'a');
    const b = api.ROOT_CONTEXT.setValue(key, 'b');
    const at = (): unknown => manager.active().getValue(key);
    // The first switch enables the storage through AsyncLocalStorage#run; later ones take the fast path.
    manager.apply(a, () => undefined, undefined, []);
    expect((manager as unknown as { _asyncLocalStorage: { enabled: boolean } })._asyncLocalStorage.enabled).toBe(true);
    const seen: Record<string, unknown> = {};
    const done = new Promise<void>((resolve) => {
      manager.apply(
        a,
        () => {
          seen.sync = at();
          manager.apply(b, () => (seen.nested = at()), undefined, []);
          seen.afterNested = at();
          // Same context again: nothing switches, nothing breaks.
          manager.apply(a, () => (seen.same = at()), undefined, []);
          process.nextTick(() => (seen.tick = at()));
          void Promise.resolve().then(() => (seen.promise = at()));
          setTimeout(() => {
            seen.timer = at();
            resolve();
          }, 1);
        },
        undefined,
        [],
      );
    });
    seen.outside = at();
    expect(() =>
      manager.apply(
        b,
        () => {
          throw new Error('boom');
        },
        undefined,
        [],
      ),
    ).toThrow('boom');
    seen.afterThrow = at();
    await done;
    expect(seen).toEqual({ sync: 'a', nested: 'b', afterNested: 'a', same: 'a', outside: undefined, afterThrow: undefined, tick: 'a', promise: 'a', timer: 'a' });
    // The public with() is the same switch.
    expect(manager.with(b, (x: number) => [at(), x], undefined, 5)).toEqual(['b', 5]);
  });

  test('switches in interleaved callbacks of different async resources keep each its own context', async () => {
    manager.apply(api.ROOT_CONTEXT, () => undefined, undefined, []); // enable the storage
    const at = (): unknown => manager.active().getValue(key);
    const seen: string[] = [];
    const work = (name: string) =>
      new Promise<void>((resolve) =>
        setImmediate(() => {
          seen.push(`${name} before: ${String(at())}`);
          manager.apply(
            api.ROOT_CONTEXT.setValue(key, name),
            () => {
              setTimeout(() => {
                seen.push(`${name} later: ${String(at())}`);
                resolve();
              }, 2);
              process.nextTick(() => seen.push(`${name} tick: ${String(at())}`));
            },
            undefined,
            [],
          );
          seen.push(`${name} after: ${String(at())}`);
        }),
      );
    await Promise.all([work('one'), work('two'), work('three')]);
    for (const name of ['one', 'two', 'three']) {
      expect(seen.filter((x) => x.startsWith(`${name} `)).sort()).toEqual(
        [`${name} after: undefined`, `${name} before: undefined`, `${name} later: ${name}`, `${name} tick: ${name}`].sort(),
      );
    }
  });

  test('bind(context, fn): each call runs fn in the context with its this and arguments; length is kept', () => {
    const ctx = api.ROOT_CONTEXT.setValue(key, 'bound');
    const self = { tag: 'self' };
    const fns = [
      function (this: unknown) { return [manager.active().getValue(key), this, [...arguments]]; },
      function (this: unknown, a: unknown) { return [manager.active().getValue(key), this, [a, ...[...arguments].slice(1)]]; },
      function (this: unknown, a: unknown, b: unknown) { return [manager.active().getValue(key), this, [a, b]]; },
      function (this: unknown, a: unknown, b: unknown, c: unknown) { return [manager.active().getValue(key), this, [a, b, c]]; },
      function (this: unknown, a: unknown, b: unknown, c: unknown, d: unknown, e: unknown) { return [manager.active().getValue(key), this, [a, b, c, d, e]]; },
    ];
    for (const fn of fns) {
      const bound = manager.bind(ctx, fn) as (...a: unknown[]) => unknown;
      expect(bound.length).toBe(fn.length);
      const args = [1, 2, 3, 4, 5].slice(0, Math.max(fn.length, 1));
      expect(bound.apply(self, args)).toEqual(['bound', self, args]);
      expect(manager.active().getValue(key)).toBeUndefined();
    }
    // Called later from another context, it still runs in the bound one.
    const other = api.ROOT_CONTEXT.setValue(key, 'other');
    const later = manager.bind(ctx, () => manager.active().getValue(key));
    expect(manager.with(other, later)).toBe('bound');
  });

  test('call3InContext runs fn with its this and three arguments in the context, puts the previous one back (after a throw too), either way', () => {
    api.context.setGlobalContextManager(manager);
    try {
      const ctx = api.ROOT_CONTEXT.setValue(key, 'inside');
      const outer = api.ROOT_CONTEXT.setValue(key, 'outer');
      const self = { me: true };
      const fn = function (this: unknown, a: unknown, b: unknown, c: unknown): unknown {
        return [api.context.active().getValue(key), this, a, b, c, arguments.length];
      };
      const boom = (): never => {
        throw new Error('boom');
      };
      const check = (): void => {
        api.context.with(outer, () => {
          expect(common.call3InContext(ctx, fn as never, self, 1, 'two', undefined)).toEqual(['inside', self, 1, 'two', undefined, 3]);
          expect(api.context.active().getValue(key)).toBe('outer');
          // Already active: runs as it is.
          expect(common.call3InContext(outer, fn as never, self, 1, 2, 3)).toEqual(['outer', self, 1, 2, 3, 3]);
          expect(() => common.call3InContext(ctx, boom as never, self, 1, 2, 3)).toThrow('boom');
          expect(api.context.active().getValue(key)).toBe('outer');
        });
      };
      check();
      const spy = jest.spyOn(manager, 'call3');
      common.setFastContext(manager);
      check();
      expect(spy).toHaveBeenCalledTimes(3);
    } finally {
      api.context.disable();
    }
  });

  test('applyInContext goes through the fast path only while one is set, and disable() clears it', () => {
    api.context.setGlobalContextManager(manager);
    try {
      const ctx = api.ROOT_CONTEXT.setValue(key, 'either way');
      const fn = (a: unknown): unknown => [api.context.active().getValue(key), a];
      expect(common.applyInContext(ctx, fn as never, undefined, ['public'])).toEqual(['either way', 'public']);
      const spy = jest.spyOn(manager, 'apply');
      common.setFastContext(manager);
      expect(common.applyInContext(ctx, fn as never, undefined, ['fast'])).toEqual(['either way', 'fast']);
      expect(spy).toHaveBeenCalledTimes(1);
      manager.disable();
      expect(common.fastContext()).toBeUndefined();
    } finally {
      api.context.disable();
    }
  });
});
