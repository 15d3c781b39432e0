/**
 * What the express instrumentation records: span names and attributes for layers
 * (named as `@opentelemetry/instrumentation-express` names them), errors, and the
 * matched route handed to the http server span. The hooks in `instrumentation.ts`
 * decide when; this file decides what.
 */
import * as api from '@opentelemetry/api';
import type { Context, Span, SpanOptions, Tracer } from '@opentelemetry/api';
import * as core from '../common/otelCore';
import type { RPCMetadata } from '../common/otelCore';
import { ATTR_HTTP_ROUTE } from '@opentelemetry/semantic-conventions';
import { activeContext } from '../common/context';
import { recordFailure } from '../common/errors';
import { serverRequestInfo } from '../common/request';

// Read once, not at each use: in the agent's bundle every access to an imported name
// goes through re-export getters, which showed in per-request profiles.
const { trace } = api;
const { RPCType } = core;

/** `express.type` values. */
export type LayerType = 'router' | 'middleware' | 'request_handler';

export const ATTR_EXPRESS_NAME = 'express.name';
export const ATTR_EXPRESS_TYPE = 'express.type';

/** The parts of an express `Layer` that describe it. */
export interface LayerShape {
  name?: string;
  route?: unknown;
  handle?: unknown;
}

/** How a layer is reported. */
export interface LayerDescription {
  readonly type: LayerType;
  /** `express.name`. */
  readonly name: string;
  readonly spanName: string;
}

/**
 * A layer's span options (its attributes), made once per description and route: a layer is
 * described once per chain of mount paths and nearly always reports one route, so the same
 * frozen options serve every request.
 */
export class LayerOptions {
  private plain: SpanOptions | undefined = undefined;
  private routedFor: string | undefined = undefined;
  private routed: SpanOptions | undefined = undefined;

  constructor(private readonly description: LayerDescription) {}

  for(httpRoute: string | undefined): SpanOptions {
    const d = this.description;
    if (httpRoute === undefined) {
      // Literal keys (ATTR_EXPRESS_NAME, ATTR_EXPRESS_TYPE): V8 builds such an object from a template.
      return (this.plain ??= Object.freeze({ attributes: Object.freeze({ 'express.name': d.name, 'express.type': d.type }) }));
    }
    if (this.routed === undefined || this.routedFor !== httpRoute) {
      this.routedFor = httpRoute;
      this.routed = Object.freeze({
        attributes: Object.freeze({ 'http.route': httpRoute, 'express.name': d.name, 'express.type': d.type }),
      });
    }
    return this.routed;
  }
}

function isRouter(layer: LayerShape): boolean {
  if (layer.name === 'router') return true;
  if (typeof layer.handle !== 'function') return false;
  const { stack, handle } = layer.handle as { stack?: unknown; handle?: unknown };
  return Array.isArray(stack) && typeof handle === 'function';
}

/**
 * Describes a layer.
 * @param layer the express layer
 * @param route the route built from the mount paths so far, including this layer's
 * @param layerPath the path this layer was mounted on, if it was given one
 */
export function describeLayer(layer: LayerShape, route: string, layerPath: string | undefined): LayerDescription {
  if (isRouter(layer)) {
    // Named after where the router is mounted. (The official instrumentation names a
    // router after the first route found inside it; see tests/instrumentation-comparison.)
    const path = layerPath || route || '/';
    return { type: 'router', name: path, spanName: `router - ${path}` };
  }
  if (layer.route !== undefined) {
    const path = route || layerPath;
    return {
      type: 'request_handler',
      name: path ?? 'request handler',
      spanName: path ? `request handler - ${path}` : 'request handler',
    };
  }
  const name = layer.name || '<anonymous>';
  return { type: 'middleware', name, spanName: `middleware - ${name}` };
}

/** A layer's span. `end` and `fail` are safe to call in any order, any number of times. */
export interface LayerSpan {
  /** The context the layer's own code runs in. */
  readonly context: Context;
  /** The context the layer was entered from. */
  readonly parentContext: Context;
  readonly ended: boolean;
  end(): void;
  /**
   * A function that ends the span, for the response's 'close'. It holds only this span:
   * the response keeps it, and with it whatever it holds, until the response is collected.
   */
  endListener(): () => void;
  /** Records an error (exception event, status ERROR); the span stays open. */
  fail(error: unknown): void;
  /**
   * The context the next layer runs in when this one calls `next` while `active` is
   * the active context: `active` (baggage a middleware set stays) with the span this
   * layer was entered with, not this layer's, as the next layer is a sibling.
   */
  siblingContext(active: Context): Context;
}

class RecordingLayerSpan implements LayerSpan {
  ended = false;
  constructor(
    private readonly span: Span,
    readonly context: Context,
    readonly parentContext: Context,
    private readonly parentSpan: Span,
  ) {}

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.span.end();
  }

  endListener(): () => void {
    return () => this.end();
  }

  fail(error: unknown): void {
    if (this.ended) return;
    recordFailure(this.span, error, false);
  }

  siblingContext(active: Context): Context {
    // Mostly `next` is called from the layer's own context: that is the parent context
    // with this layer's span set, so the parent context is the answer, as it is.
    if (active === this.context) return this.parentContext;
    if (trace.getSpan(active) === this.parentSpan) return active;
    return trace.setSpan(active, this.parentSpan);
  }
}

/** Records express layers through one tracer. */
export class ExpressTelemetry {
  constructor(private readonly tracer: () => Tracer) {}

  /**
   * The request matched `route`: the http server span learns it (through the RPC
   * metadata the http instrumentation reads when the response finishes) and is
   * renamed `GET /users/:id` at once.
   * @param rpc the RPC metadata of the request's context
   * @param req the request (its method is read only for a server span from another http instrumentation)
   */
  routeMatched(rpc: RPCMetadata | undefined, req: { method?: string }, route: string | undefined): void {
    if (route === undefined || rpc?.type !== RPCType.HTTP) return;
    const ours = serverRequestInfo(rpc);
    if (ours !== undefined) {
      ours.routeMatched(route);
      return;
    }
    // Every later layer of the same route reports it again: the span has it already.
    if (rpc.route === route) return;
    rpc.route = route;
    // Not once the server span has ended (the client went away before the route was
    // reached): an SDK span warns through diag about every change to an ended span.
    if (!rpc.span.isRecording()) return;
    rpc.span.setAttribute(ATTR_HTTP_ROUTE, route);
    rpc.span.updateName(`${req.method || 'GET'} ${route}`);
  }

  /**
   * The active context when the request being handled is traced (it has an active span
   * for layers to be children of), else `undefined`.
   */
  tracedContext(): Context | undefined {
    const active = activeContext();
    return trace.getSpan(active) === undefined ? undefined : active;
  }

  /**
   * Starts the span of a layer, as a child of the span of `parentContext` (a context
   * {@link tracedContext} returned). Returns `undefined` when that context has no span.
   * A router's span is ended at once and its layers stay children of the request's span.
   */
  startLayer(parentContext: Context, description: LayerDescription, options: SpanOptions): LayerSpan | undefined {
    const parentSpan = trace.getSpan(parentContext);
    if (parentSpan === undefined) return undefined;
    const span = this.tracer().startSpan(description.spanName, options, parentContext);
    if (description.type === 'router') {
      const marker = new RecordingLayerSpan(span, parentContext, parentContext, parentSpan);
      marker.end();
      return marker;
    }
    return new RecordingLayerSpan(span, trace.setSpan(parentContext, span), parentContext, parentSpan);
  }
}
