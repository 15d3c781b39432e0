/**
 * The object to patch in what a module hook receives. require-in-the-middle gives
 * `module.exports`; import-in-the-middle gives a namespace where a CommonJS
 * module's `module.exports` is under `default` when its names could not be detected.
 */
export function moduleObject<T>(exports: unknown, looksRight: (candidate: unknown) => candidate is T): T | undefined {
  if (looksRight(exports)) return exports;
  if (exports !== null && (typeof exports === 'object' || typeof exports === 'function')) {
    const fallback = (exports as { default?: unknown }).default;
    if (looksRight(fallback)) return fallback;
  }
  return undefined;
}
