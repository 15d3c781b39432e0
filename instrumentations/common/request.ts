/**
 * What the http server instrumentation shares with framework instrumentations (express) about
 * the request being served. The server puts it in the request's context as the RPC metadata
 * (`@opentelemetry/core`'s `setRPCMetadata`), where frameworks already look for it to report the
 * route; this class adds what lets a framework keep its per-request work off `req` and `res`:
 * express 5 gives every request and response a hidden class of its own, so each property
 * read or listener added there misses V8's caches.
 */
import type { Span } from '@opentelemetry/api';
import * as core from './otelCore';

// Read once: in the agent's bundle every read of an imported name is a getter call.
const HTTP: core.RPCType.HTTP = core.RPCType.HTTP;

/** Something that ends when the response closes. */
export interface Endable {
  end(): void;
}

/** The request a server span is recording; the RPC metadata of its context. */
export abstract class ServerRequestInfo {
  readonly type: core.RPCType.HTTP = HTTP;
  /** The matched route, once a framework has reported it. */
  route: string | undefined = undefined;
  /** One slot for a framework's own per-request state (express: the mount paths entered). */
  frameworkState: unknown = undefined;

  protected constructor(
    /** The server span. */
    readonly span: Span,
    /**
     * The response the server is writing (a framework checks it is handling the same one);
     * `undefined` once it has closed, so a context kept alive by a timer does not keep it.
     */
    public response: object | undefined,
  ) {}

  /**
   * A framework matched `route`: the server span gets `http.route` and is renamed
   * `METHOD route` (at once, so a child span started later sees the final name).
   */
  abstract routeMatched(route: string): void;

  /** Ends `span` when the response closes, or now if it has closed. */
  abstract endWithResponse(span: Endable): void;
}

/** `rpc` when it is a {@link ServerRequestInfo}. */
export function serverRequestInfo(rpc: unknown): ServerRequestInfo | undefined {
  return rpc instanceof ServerRequestInfo ? rpc : undefined;
}
