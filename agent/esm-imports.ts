/**
 * Instruments what ES modules import without a loader hooks thread.
 *
 * Everything the agent instruments is CommonJS (express, pg) or a Node builtin (http, https;
 * fetch is observed through `diagnostics_channel`). Two things keep such modules away from the
 * `require` hooks (require-in-the-middle's `Module.prototype.require`) when an ES module
 * imports them:
 *
 * - Node loads a CommonJS file that an ES module imports with `Module._load(filename, undefined,
 *   isMain)` from its `commonjs` translator (`null` instead of `undefined` when `require()` of an
 *   ES module imports it), never through `require`. {@link hookCommonJsImports} wraps
 *   `Module._load`: once such a file has loaded, it is required again through the hooks (from
 *   the cache, so it does not run twice) and the hooks patch its exports in place, before the
 *   ES module namespace copies them.
 * - `import ... from 'node:http'` takes the builtin's exports without `require`.
 *   {@link loadBuiltinsThroughHooks} requires the builtins the instrumentations patch before
 *   the app's first import, so the namespace the app gets is made from the patched exports.
 *
 * Packages that are real ES modules still need import-in-the-middle's loader
 * (`OTLP_MMAP_ESM_HOOK=always`).
 */
import path = require('node:path');
import { diag } from '@opentelemetry/api';
import { reportOnce } from './log';

/** The parts of Node's CommonJS loader (`require('node:module')`) used here. */
interface CommonJsLoader {
  new (id: string, parent: unknown): object;
  _load(this: unknown, request: string, parent: unknown, isMain: boolean, ...rest: unknown[]): unknown;
  _cache: Record<string, { exports: unknown; loaded: boolean } | undefined>;
  prototype: { require(this: object, id: string): unknown };
  syncBuiltinESMExports?: () => void;
}

/** Marks our `Module._load` wrapper, so a second copy of the agent does not wrap it again. */
const kHooked = Symbol.for('otlp-mmap.esm-imports.load');

function commonJsLoader(): CommonJsLoader {
  return require('node:module') as CommonJsLoader;
}

let requester: object | undefined;

/**
 * The module the hooks see as the requiring module. It is never loaded; it only gives
 * `require` a `this` (a real module as parent would gain the requested module as a child).
 */
function hookRequester(loader: CommonJsLoader): object {
  requester ??= new loader(path.join(process.cwd(), '[otlp-mmap: imported by an ES module]'), null);
  return requester;
}

/**
 * Runs the require hooks over a CommonJS file that an ES module has just loaded. Returns what
 * the hooks return (the same exports when they patch in place).
 */
function runRequireHooks(loader: CommonJsLoader, filename: string, exports: unknown): unknown {
  const record = loader._cache[filename];
  // Not cached, or only partly evaluated (an import cycle): leave it to a later require.
  if (record === undefined || record.loaded !== true) return exports;
  try {
    const hooked = loader.prototype.require.call(hookRequester(loader), filename);
    // A hook that replaced the exports: the ES module namespace is built from `module.exports`.
    if (hooked !== record.exports) record.exports = hooked;
    return hooked;
  } catch (e) {
    reportOnce('instrumenting a CommonJS module imported by an ES module', e);
    return exports;
  }
}

/**
 * Makes the `require` hooks also see the CommonJS files that ES modules import (and that
 * `require()` of an ES module pulls in). Idempotent across copies of the agent; never throws.
 *
 * @returns whether the hook is in place.
 */
export function hookCommonJsImports(): boolean {
  try {
    const loader = commonJsLoader();
    const original = loader._load;
    if (typeof original !== 'function' || typeof loader.prototype.require !== 'function') {
      diag.debug('otlp-mmap: Module._load or Module.prototype.require is missing; CommonJS modules imported by ES modules are not instrumented');
      return false;
    }
    if ((original as unknown as Record<symbol, unknown>)[kHooked] === true) return true;
    const load = function (this: unknown, request: string, parent: unknown, isMain: boolean, ...rest: unknown[]): unknown {
      const exports = original.call(this, request, parent, isMain, ...rest);
      // `require` always passes the requiring module; the ESM translators pass none.
      if (parent == null && isMain !== true && typeof request === 'string' && path.isAbsolute(request)) {
        return runRequireHooks(loader, request, exports);
      }
      return exports;
    };
    Object.defineProperty(load, kHooked, { value: true });
    loader._load = load;
    return true;
  } catch (e) {
    reportOnce('hooking CommonJS modules imported by ES modules', e);
    return false;
  }
}

/**
 * Requires `builtins` through the require hooks, so the instrumentations patch them, and
 * refreshes the ES module namespaces of builtins already imported. Call it before the app's
 * first import. Never throws.
 *
 * @param builtins - builtin module names, such as `http`.
 */
export function loadBuiltinsThroughHooks(builtins: readonly string[]): void {
  if (builtins.length === 0) return;
  try {
    const loader = commonJsLoader();
    for (const name of builtins) loader.prototype.require.call(hookRequester(loader), name);
    loader.syncBuiltinESMExports?.();
    diag.debug(`otlp-mmap: loaded ${builtins.join(', ')} through the require hooks for the ES-module app`);
  } catch (e) {
    reportOnce('loading builtins for an ES-module app', e);
  }
}
