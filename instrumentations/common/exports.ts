/**
 * The object to patch in what a module hook receives. require-in-the-middle gives
 * `module.exports`; import-in-the-middle gives a namespace where a CommonJS
 * module's `module.exports` is under `default` when its names could not be detected.
 */
export function moduleObject<T>(moduleExports: unknown, looksRight: (candidate: unknown) => candidate is T): T | undefined {
  if (looksRight(moduleExports)) return moduleExports;
  if (moduleExports !== null && (typeof moduleExports === 'object' || typeof moduleExports === 'function')) {
    const fallback = (moduleExports as { default?: unknown }).default;
    if (looksRight(fallback)) return fallback;
  }
  return undefined;
}
