/**
 * The mount paths of the express layers a request is passing through, kept on the
 * request so the matched route (`/api/users/:id`) can be rebuilt from them.
 */

const kPaths = Symbol('otlp-mmap.express.paths');

interface WithPaths {
  [kPaths]?: string[];
}

/** Remembers the path of a layer that starts handling `req`; returns whether one was stored. */
export function pushLayerPath(req: object, layerPath: string | undefined): boolean {
  const holder = req as WithPaths;
  if (!holder[kPaths]) {
    Object.defineProperty(holder, kPaths, { value: [], enumerable: false, writable: true });
  }
  if (layerPath === undefined) return false;
  holder[kPaths]!.push(layerPath);
  return true;
}

/** Forgets the last stored path (the layer passed the request on). */
export function popLayerPath(req: object): void {
  (req as WithPaths)[kPaths]?.pop();
}

function isCatchAll(path: string): boolean {
  // '/', '/*' and express 5 wildcards such as '/{*splat}' add nothing to a route.
  return path === '/' || path === '/*' || /^\/\{\*+[^}]*\}$/.test(path);
}

/** The stored paths joined into one route, without catch-all segments (`''` when none). */
export function constructedRoute(req: object): string {
  const paths = ((req as WithPaths)[kPaths] ?? []).filter((path) => !isCatchAll(path));
  if (paths.length === 1 && paths[0] === '*') return '*';
  return paths.join('').replace(/\/{2,}/g, '/');
}

/**
 * The route to report as `http.route`, or `undefined` when the request matched none
 * (only catch-all middleware ran, or the stored paths do not fit the URL).
 */
export function matchedRoute(req: object, originalUrl: string | undefined): string | undefined {
  const paths = (req as WithPaths)[kPaths] ?? [];
  if (paths.length === 0) return undefined;
  if (paths.every((path) => path === '/')) return originalUrl === '/' ? '/' : undefined;
  const route = constructedRoute(req);
  if (route === '*' || route === '') return route === '*' ? route : undefined;
  // Regular-expression and array routes are reported as written.
  if (/[,\\*[]/.test(route)) return route;
  const normalized = route.startsWith('/') ? route : `/${route}`;
  const url = originalUrl ?? '';
  return url.startsWith(normalized) || /[:*]/.test(normalized) ? normalized : undefined;
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
