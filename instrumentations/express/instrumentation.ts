/**
 * The express hooks: `Router#use` and `Router#route` are wrapped so that every
 * layer they add gets its `handle` wrapped; the wrapped handle asks
 * `ExpressTelemetry` for a span, runs the layer in that span's context, and ends
 * the span when the layer calls `next`, throws, rejects (express 5) or the response
 * closes. Works for `require('express')` and `import express from 'express'`
 * (PackageInstrumentation hooks require-in-the-middle, which the agent also runs over CommonJS
 * files that ES modules import, and import-in-the-middle, which the agent's loader hook serves).
 */
import * as api from '@opentelemetry/api';
import * as core from '../common/otelCore';
import type { Context } from '@opentelemetry/api';
import { isWrapped, PackageInstrumentation, unwrapMethod, wrapMethod } from '../common/packageInstrumentation';
import { activeContext, applyInContext, call3InContext } from '../common/context';
import { moduleObject } from '../common/exports';
import { serverRequestInfo } from '../common/request';
import { VersionRange } from '../common/versionRange';
import { INSTRUMENTATION_VERSION, SCOPE_PREFIX } from '../version';
import { layerPathOf, RequestRoute, requestRouteOf, type RouteNode } from './routePath';
import { describeLayer, ExpressTelemetry, LayerOptions, type LayerDescription, type LayerShape, type LayerSpan } from './telemetry';

// Read once, not at each use: in the agent's bundle every access to an imported name
// goes through re-export getters, which showed in per-request profiles.
const { diag } = api;
const { getRPCMetadata } = core;

/** The express versions instrumented. */
export const EXPRESS_VERSIONS = new VersionRange('>=4.0.0 <6.0.0');

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

interface ExpressLayer extends LayerShape {
  handle: AnyFunction;
  [kLayerPatched]?: true;
}

interface RouterMethods {
  stack?: ExpressLayer[];
  use: AnyFunction;
  route: AnyFunction;
}

interface ExpressExports {
  Router: RouterMethods & { prototype?: Partial<RouterMethods> };
  application: object;
}

interface ExpressRequest {
  method?: string;
  originalUrl?: string;
  route?: unknown;
}

interface ClosableResponse {
  /** Set once the response has emitted 'close' (node's `OutgoingMessage#closed`). */
  closed?: boolean;
  on?: (event: 'close', listener: () => void) => unknown;
  removeListener?: (event: 'close', listener: () => void) => unknown;
}

const kLayerPatched = Symbol('otlp-mmap.express.layer');

function isExpressExports(value: unknown): value is ExpressExports {
  if (typeof value !== 'function') return false;
  const { Router, application } = value as { Router?: unknown; application?: unknown };
  return typeof Router === 'function' && typeof application === 'object' && application !== null;
}

/** Express 5 keeps router methods on `Router.prototype`; express 4 on `Router` itself. */
function routerMethods(express: ExpressExports): RouterMethods {
  const proto = express.Router.prototype;
  if (proto && typeof proto.route === 'function' && typeof proto.use === 'function') return proto as RouterMethods;
  return express.Router;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function majorOf(version: string | undefined): number {
  return Number((version ?? '0').split('.')[0]) || 0;
}

/** Hooks express 4 and 5. */
export class ExpressInstrumentation extends PackageInstrumentation {
  private readonly telemetry = new ExpressTelemetry(() => this.tracer);

  constructor() {
    super('express', `${SCOPE_PREFIX}express`, INSTRUMENTATION_VERSION);
  }

  protected override patch(moduleExports: unknown, version: string | undefined): unknown {
    if (!EXPRESS_VERSIONS.includes(version)) {
      diag.warn(
        `otlp-mmap: express ${version ?? '(unknown version)'} is not supported ` +
          `(supported: ${EXPRESS_VERSIONS.text}); it is not instrumented`,
      );
      return moduleExports;
    }
    const express = moduleObject(moduleExports, isExpressExports);
    if (!express) {
      diag.warn(`otlp-mmap: express ${version} does not export Router/application as expected; not instrumented`);
      return moduleExports;
    }
    const router = routerMethods(express);
    // The same module can reach us twice (require hook and import hook).
    if (isWrapped(router.use) || isWrapped(router.route)) return moduleExports;
    const handlesPromises = majorOf(version) >= 5;
    wrapMethod(router, 'route', (original) => this.wrapLayerFactory(original, handlesPromises));
    wrapMethod(router, 'use', (original) => this.wrapLayerFactory(original, handlesPromises));
    return moduleExports;
  }

  protected override unpatch(moduleExports: unknown): void {
    const express = moduleObject(moduleExports, isExpressExports);
    if (!express) return;
    const router = routerMethods(express);
    unwrapMethod(router, 'route');
    unwrapMethod(router, 'use');
  }

  /** Wraps `Router#use`/`Router#route`: the layers the call adds get traced. */
  private wrapLayerFactory(original: AnyFunction, handlesPromises: boolean): AnyFunction {
    const instrumentation = this;
    return function layerFactory(this: unknown, ...args: unknown[]): unknown {
      const stack = (this as { stack?: unknown }).stack;
      const before = Array.isArray(stack) ? stack.length : 0;
      const result = original.apply(this, args);
      try {
        const after = (this as { stack?: unknown }).stack;
        if (Array.isArray(after)) {
          const layerPath = layerPathOf(args);
          for (let i = before; i < after.length; i++) {
            instrumentation.patchLayer(after[i] as ExpressLayer, layerPath, handlesPromises);
          }
        }
      } catch (err) {
        diag.debug('otlp-mmap: express layer not instrumented', err);
      }
      return result;
    };
  }

  private patchLayer(layer: ExpressLayer, layerPath: string | undefined, handlesPromises: boolean): void {
    if (!layer || layer[kLayerPatched] || typeof layer.handle !== 'function') return;
    layer[kLayerPatched] = true;
    const original = layer.handle;
    // Error-handling middleware (four parameters) is not traced, as in the official instrumentation.
    if (original.length === 4) return;
    const instrumentation = this;
    const telemetry = this.telemetry;
    // The layer's description depends only on the chain of mount paths the request came
    // through; it is kept for the last chain seen (nearly always the only one).
    let describedChain: RouteNode | undefined;
    let description: LayerDescription | undefined;
    let options: LayerOptions | undefined;

    // Declared with express's three parameters, read through `arguments` only when a call
    // does not pass exactly those: the usual call allocates no array for its arguments.
    const traced = function (this: unknown, reqArg: unknown, resArg: unknown, nextArg: unknown): unknown {
      const req = reqArg as ExpressRequest | undefined;
      if (!instrumentation.isEnabled() || req === null || typeof req !== 'object') return original.apply(this, arguments as unknown as unknown[]);
      // An untraced request (no active span) is left alone, route bookkeeping included.
      const parentContext = telemetry.tracedContext();
      if (parentContext === undefined) return original.apply(this, arguments as unknown as unknown[]);
      const res = resArg as ClosableResponse | undefined;
      const rpc = getRPCMetadata(parentContext);
      // The http server instrumentation's record of this request, when this layer is writing the
      // response that server is serving (nearly always): the route state and the spans to end
      // with the response live there, and nothing is read from or added to `req`/`res`.
      const info = serverRequestInfo(rpc);
      const serving = info !== undefined && info.response === res ? info : undefined;
      let span: LayerSpan | undefined;
      // The request's route state, when this layer's path was stored in it (to take out on `next`).
      let stored: RequestRoute | undefined;
      try {
        let requestRoute: RequestRoute;
        if (serving === undefined) {
          requestRoute = requestRouteOf(req);
        } else if (serving.frameworkState instanceof RequestRoute) {
          requestRoute = serving.frameworkState;
        } else {
          requestRoute = new RequestRoute();
          serving.frameworkState = requestRoute;
        }
        let chain: RouteNode;
        if (layerPath === undefined) {
          chain = requestRoute.current();
        } else {
          chain = requestRoute.enter(layerPath);
          stored = requestRoute;
        }
        const httpRoute = chain.matchedRoute(requestRoute, req);
        telemetry.routeMatched(rpc, req, httpRoute);
        if (chain !== describedChain || description === undefined || options === undefined) {
          description = describeLayer(layer, chain.route, layerPath);
          options = new LayerOptions(description);
          describedChain = chain;
        }
        span = telemetry.startLayer(parentContext, description, options.for(httpRoute));
      } catch (err) {
        diag.debug('otlp-mmap: express span not started', err);
      }
      if (span === undefined) return original.apply(this, arguments as unknown as unknown[]);
      const layerSpan = span;
      let onClose: (() => void) | undefined;

      // `next` is the first function argument: the third in express's calls.
      const usual = arguments.length === 3 && typeof nextArg === 'function';
      const args = usual ? undefined : Array.prototype.slice.call(arguments) as unknown[];
      let nextIndex = usual ? 2 : -1;
      for (let i = 0; args !== undefined && i < args.length; i++) {
        if (typeof args[i] === 'function') {
          nextIndex = i;
          break;
        }
      }
      let tracedNext: AnyFunction | undefined;
      if (nextIndex >= 0) {
        const next = (args === undefined ? nextArg : args[nextIndex]) as AnyFunction;
        tracedNext = function tracedNext(this: unknown, value?: unknown): unknown {
          // express treats anything but nothing, 'route' and 'router' as an error.
          const isError = !(value === undefined || value === null || value === 'route' || value === 'router');
          let nextContext: Context | undefined;
          let active: Context | undefined;
          try {
            if (isError) layerSpan.fail(value);
            layerSpan.end();
            if (onClose !== undefined) res?.removeListener?.('close', onClose);
            if (stored !== undefined && !(isError && req.route)) stored.leave();
            active = activeContext();
            nextContext = layerSpan.siblingContext(active);
          } catch (err) {
            diag.debug('otlp-mmap: express span not ended', err);
          }
          if (nextContext === undefined || nextContext === active) return next.apply(this, arguments as unknown as unknown[]);
          return applyInContext(nextContext, next, this, arguments);
        };
        if (args !== undefined) args[nextIndex] = tracedNext;
      }

      try {
        const result =
          args === undefined
            ? call3InContext(layerSpan.context, original, this, reqArg, resArg, tracedNext)
            : applyInContext(layerSpan.context, original, this, args);
        // Express 5 turns a rejected promise into next(err) with its own `next`; see it here.
        // (Express 4 ignores promises, and so do we: a handler would change unhandled-rejection behaviour.)
        if (handlesPromises && isThenable(result)) {
          result.then(undefined, (err: unknown) => {
            layerSpan.fail(err);
            layerSpan.end();
          });
        }
        return result;
      } catch (err) {
        layerSpan.fail(err);
        throw err;
      } finally {
        // A layer that responds without calling next ends with the response (at once
        // when the response has closed already: the client went away before this layer ran).
        if (!layerSpan.ended && res !== null && typeof res === 'object') {
          try {
            if (serving !== undefined) {
              serving.endWithResponse(layerSpan);
            } else if (res.closed === true) {
              layerSpan.end();
            } else if (typeof res.on === 'function') {
              onClose = layerSpan.endListener();
              res.on('close', onClose);
            }
          } catch (err) {
            diag.debug('otlp-mmap: express span not tied to the response', err);
          }
        }
      }
    };

    // `handle` can carry properties (a router's `stack`, `params`...): keep them reachable.
    for (const key in original) {
      Object.defineProperty(traced, key, {
        get: () => (original as unknown as Record<string, unknown>)[key],
        set: (value: unknown) => {
          (original as unknown as Record<string, unknown>)[key] = value;
        },
        enumerable: true,
        configurable: true,
      });
    }
    layer.handle = traced;
  }
}
