/**
 * The matched route of a request (`/api/users/:id`), rebuilt from the mount paths of
 * the express layers it is passing through.
 *
 * A chain of mount paths is a {@link RouteNode}; nodes are shared by every request
 * that passes through the same layers, so the route text and how it is matched are
 * worked out once per chain, not per request. A request only keeps a stack of nodes
 * (its {@link RequestRoute}).
 */

function isCatchAll(path: string): boolean {
  // '/', '/*' and express 5 wildcards such as '/{*splat}' add nothing to a route.
  return path === '/' || path === '/*' || /^\/\{\*+[^}]*\}$/.test(path);
}

/**
 * How a node's route is compared with the URL to decide whether the request matched it:
 * `none`, no route (only catch-all paths, or none); `root-only`, only '/' paths, matched
 * when the URL is '/'; `always`, a pattern, a regular expression or an array of paths;
 * `prefix`, matched when the URL starts with the route.
 */
type Match = 'none' | 'root-only' | 'always' | 'prefix';

/**
 * Most chains a node keeps. Mount paths come from the app's code, so this is never
 * reached unless an app mounts layers on paths made per request; past it, chains are
 * still built, just not kept.
 */
const MAX_CHILDREN = 1000;

/** A chain of mount paths, from the application's router down, and the route it makes. */
export class RouteNode {
  private readonly children = new Map<string, RouteNode>();
  /** The paths joined into one route, without catch-all segments (`''` when none). */
  readonly route: string;
  private readonly match: Match;
  /** The route reported as `http.route` when matched (`''` for `none`). */
  private readonly reported: string = '';

  /** The empty chain, where every request starts. */
  static readonly ROOT = new RouteNode(undefined, '');

  private constructor(parent: RouteNode | undefined, path: string) {
    if (parent === undefined) {
      this.route = '';
      this.match = 'none';
      return;
    }
    // Joining one more path to an already collapsed route and collapsing again gives
    // what joining every path and collapsing once gives.
    const joined = isCatchAll(path) ? parent.route : parent.route + path;
    this.route = joined.includes('//') ? joined.replace(/\/{2,}/g, '/') : joined;
    if ((parent === RouteNode.ROOT || parent.match === 'root-only') && path === '/') {
      this.match = 'root-only';
      this.reported = '/';
    } else if (this.route === '') {
      this.match = 'none';
    } else if (this.route === '*' || /[,\\*[]/.test(this.route)) {
      // Regular-expression and array routes are reported as written.
      this.match = 'always';
      this.reported = this.route;
    } else {
      const normalized = this.route.startsWith('/') ? this.route : `/${this.route}`;
      this.match = /[:*]/.test(normalized) ? 'always' : 'prefix';
      this.reported = normalized;
    }
  }

  /** This chain with `path` mounted below it. */
  child(path: string): RouteNode {
    let node = this.children.get(path);
    if (node === undefined) {
      node = new RouteNode(this, path);
      if (this.children.size < MAX_CHILDREN) this.children.set(path, node);
    }
    return node;
  }

  /**
   * The route to report as `http.route`, or `undefined` when the request matched none
   * (only catch-all middleware ran, or the paths do not fit the URL).
   */
  matchedRoute(request: RequestRoute, req: { originalUrl?: string }): string | undefined {
    switch (this.match) {
      case 'none':
        return undefined;
      case 'root-only':
        return request.originalUrl(req) === '/' ? '/' : undefined;
      case 'always':
        return this.reported;
      case 'prefix':
        return (request.originalUrl(req) ?? '').startsWith(this.reported) ? this.reported : undefined;
    }
  }
}

/** The layers with a mount path that a request is inside of. */
export class RequestRoute {
  private readonly nodes: RouteNode[] = [];
  private url: string | undefined = undefined;

  /**
   * `req.originalUrl`, read once per request: express sets it before the first layer and
   * never changes it, and every read of a property of `req` misses V8's caches (express 5
   * gives each request a hidden class of its own).
   */
  originalUrl(req: { originalUrl?: string }): string | undefined {
    return (this.url ??= req.originalUrl);
  }

  /** The chain of the innermost layer. */
  current(): RouteNode {
    const nodes = this.nodes;
    return nodes.length === 0 ? RouteNode.ROOT : nodes[nodes.length - 1];
  }

  /** A layer mounted on `path` starts handling the request; returns the chain it makes. */
  enter(path: string): RouteNode {
    const node = this.current().child(path);
    this.nodes.push(node);
    return node;
  }

  /** The innermost layer passed the request on. */
  leave(): void {
    this.nodes.pop();
  }
}

/**
 * Each request's route state. Not a property of the request: a property added to `req`
 * gives it another hidden class, and the property accesses of express and the app on
 * that request got slower (measured: about 4 µs a request with three layers, far more
 * than this lookup costs).
 */
const requestRoutes = new WeakMap<object, RequestRoute>();

/** The route state of `req`, created on first use. */
export function requestRouteOf(req: object): RequestRoute {
  let route = requestRoutes.get(req);
  if (route === undefined) {
    route = new RequestRoute();
    requestRoutes.set(req, route);
  }
  return route;
}

/** The layer path given to `use`/`route` as its first argument, as text. */
export function layerPathOf(args: readonly unknown[]): string | undefined {
  const first = args[0];
  if (Array.isArray(first)) return first.map((item) => pathSegment(item) ?? '').join(',');
  return pathSegment(first);
}

function pathSegment(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value instanceof RegExp || typeof value === 'number') return value.toString();
  return undefined;
}
