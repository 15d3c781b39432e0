/**
 * The base of the instrumentations of npm packages (express, pg), in place of
 * `@opentelemetry/instrumentation`'s `InstrumentationBase`.
 *
 * The agent's live heap is marked by every full GC, so each module it keeps costs every request a
 * little (BENCHMARKS.md, fourteenth and fifteenth sessions). `InstrumentationBase` brought in
 * @opentelemetry/instrumentation's other modules with it (~120 live closures, a tenth of the
 * agent bundle's). This base does the part the instrumentations use:
 * - a `require` of the package's main file (the {@link NamedRequireHooks} require-in-the-middle
 *   hook) and an ES-module import of it (an import-in-the-middle hook, which the agent's loader
 *   hook serves) hand its exports and its version, read from its package.json, to `patch`; a
 *   `patch` or `unpatch` that throws is reported through diag and leaves the module as it was;
 * - `enable` after `disable` patches the exports seen again, and `disable` unpatches them;
 * - the tracer and meter come from the providers set, under the instrumentation's name and version;
 * - {@link wrapMethod} / {@link unwrapMethod} / {@link isWrapped} mark wrappers as shimmer does
 *   (`__wrapped`, `__original`, `__unwrap`), so other tools see our wrappers as wrappers.
 */
import * as api from '@opentelemetry/api';
import type { Meter, MeterProvider, Tracer, TracerProvider } from '@opentelemetry/api';
import { readFileSync } from 'node:fs';
import path = require('node:path');
import { guardedPatch, guardedUnpatch } from './guard';
import { NamedRequireHooks } from './requireHooks';

// Read once (in the agent's bundle every read of an imported name is a getter call).
const { diag, metrics, trace } = api;

let requireHooks: NamedRequireHooks | undefined;

/** The one require hook the package instrumentations register with (made on first use). */
function packageRequireHooks(): NamedRequireHooks {
  return (requireHooks ??= new NamedRequireHooks());
}

/** The `version` in `baseDir`'s package.json, or undefined (with a diag warning) if it cannot be read. */
function packageVersion(baseDir: string): string | undefined {
  try {
    const version = (JSON.parse(readFileSync(path.join(baseDir, 'package.json'), 'utf8')) as { version?: unknown }).version;
    return typeof version === 'string' ? version : undefined;
  } catch {
    diag.warn(`otlp-mmap: could not read the version in ${path.join(baseDir, 'package.json')}`);
    return undefined;
  }
}

/**
 * Warns through diag when a CommonJS copy of the package is loaded already: the app may hold its
 * exports from before the hook, unpatched (an agent started by hand after the app's `require`s;
 * `--import otlp-mmap/register` runs before them). Looks only at the paths in `require.cache`, so
 * it costs no file-system calls; the agent's own start, which comes first, finds nothing there.
 */
function warnIfLoadedAlready(name: string): void {
  const segment = `${path.sep}node_modules${path.sep}${name.split('/').join(path.sep)}${path.sep}`;
  // No cache to look at when this file was bundled into something that is not CommonJS.
  const cache = typeof require === 'function' ? (require.cache as Record<string, unknown> | undefined) : undefined;
  if (cache === undefined || cache === null) return;
  for (const file of Object.keys(cache)) {
    if (file.includes(segment)) {
      diag.warn(
        `otlp-mmap: ${name} was loaded before the agent started (${file}), so what the app holds of it may not be instrumented. ` +
          'Start the agent first: node --import otlp-mmap/register (or --require otlp-mmap/register.cjs).',
      );
      return;
    }
  }
}

/** import-in-the-middle's `Hook` constructor, as far as it is used here. */
type ImportHookClass = new (
  modules: string[],
  options: { internals: boolean },
  hook: (exports: unknown, name: string, baseDir?: string) => unknown,
) => unknown;

/** import-in-the-middle's `Hook`, or undefined when the package cannot be loaded. */
function importHookClass(): ImportHookClass | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const iitm = require('import-in-the-middle') as { Hook?: unknown };
    return typeof iitm.Hook === 'function' ? (iitm.Hook as ImportHookClass) : undefined;
  } catch (err) {
    diag.debug('otlp-mmap: import-in-the-middle not loaded; ES-module imports of instrumented packages are not hooked', err);
    return undefined;
  }
}

/** An instrumentation of one npm package's main module. */
export abstract class PackageInstrumentation {
  private enabled = false;
  private hooked = false;
  private tracerInUse: Tracer;
  private meterInUse: Meter;
  /** Each distinct exports object patched (a module can be both required and imported), with its version. */
  private readonly seen: { exports: unknown; version: string | undefined }[] = [];

  constructor(
    /** The package name, as `require` and `import` name it. */
    readonly packageName: string,
    readonly instrumentationName: string,
    readonly instrumentationVersion: string,
  ) {
    this.tracerInUse = trace.getTracer(instrumentationName, instrumentationVersion);
    this.meterInUse = metrics.getMeter(instrumentationName, instrumentationVersion);
  }

  /**
   * Instruments the package's exports (every version reaches it: it says in diag why it skips
   * one); returns what the importer gets, usually the same object.
   */
  protected abstract patch(exports: unknown, version: string | undefined): unknown;

  /** Takes the instrumentation out of exports `patch` was given. */
  protected abstract unpatch(exports: unknown): void;

  private patchGuarded(exports: unknown, version: string | undefined): unknown {
    return guardedPatch(this.packageName, exports, () => this.patch(exports, version));
  }

  /** The tracer of the provider set last (else of the global one). */
  get tracer(): Tracer {
    return this.tracerInUse;
  }

  /** The meter of the provider set last (else of the global one). */
  get meter(): Meter {
    return this.meterInUse;
  }

  setTracerProvider(provider: TracerProvider): void {
    this.tracerInUse = provider.getTracer(this.instrumentationName, this.instrumentationVersion);
  }

  setMeterProvider(provider: MeterProvider): void {
    this.meterInUse = provider.getMeter(this.instrumentationName, this.instrumentationVersion);
  }

  isEnabled(): boolean {
    return this.enabled;
  }

  /**
   * Hooks the package's `require` and `import` (the first time), so that its main module is
   * patched when it loads; after a `disable`, patches again the exports seen before.
   */
  enable(): void {
    if (this.enabled) return;
    this.enabled = true;
    if (this.hooked) {
      for (const { exports, version } of this.seen) this.patchGuarded(exports, version);
      return;
    }
    this.hooked = true;
    const name = this.packageName;
    warnIfLoadedAlready(name);
    packageRequireHooks().register(name, (exports, required, baseDir) => this.loaded(exports, required, baseDir));
    const ImportHook = importHookClass();
    if (ImportHook !== undefined) {
      // import-in-the-middle names a file by its absolute path where require-in-the-middle gives
      // the package name and its directory: made the same here, as InstrumentationBase does.
      new ImportHook([name], { internals: true }, (exports, imported, baseDir) => {
        if (baseDir === undefined && path.isAbsolute(imported)) {
          const parsed = path.parse(imported);
          return this.loaded(exports, parsed.name, parsed.dir);
        }
        return this.loaded(exports, imported, baseDir);
      });
    }
  }

  /** Unpatches every exports object patched; `enable` patches them again. */
  disable(): void {
    if (!this.enabled) return;
    this.enabled = false;
    for (const { exports } of this.seen) guardedUnpatch(this.packageName, () => this.unpatch(exports));
  }

  /** A file of the package loaded: the main module's exports go to `patch` (files inside the package are left alone). */
  private loaded(exports: unknown, name: string, baseDir: string | undefined): unknown {
    if (name !== this.packageName || baseDir === undefined) return exports;
    const version = packageVersion(baseDir);
    if (!this.seen.some((s) => s.exports === exports)) this.seen.push({ exports, version });
    return this.enabled ? this.patchGuarded(exports, version) : exports;
  }
}

/** A function marked as a wrapper by {@link wrapMethod} (or by shimmer, which uses the same marks). */
interface Wrapper {
  __wrapped?: boolean;
  __original?: unknown;
  __unwrap?: () => void;
}

/** True when `fn` is a wrapper made by {@link wrapMethod} or by shimmer. */
export function isWrapped(fn: unknown): boolean {
  return typeof fn === 'function' && (fn as Wrapper).__wrapped === true;
}

function defineHidden(target: object, name: string, value: unknown): void {
  Object.defineProperty(target, name, { configurable: true, enumerable: false, writable: true, value });
}

/**
 * Replaces `target[name]` with `wrapper(original)`, keeping the property's enumerability, and
 * marks the wrapper as shimmer does. Does nothing (with a diag message) when there is no function
 * to wrap.
 */
export function wrapMethod<T extends object, K extends keyof T & string>(
  target: T,
  name: K,
  wrapper: (original: T[K]) => T[K],
): void {
  const original = target[name];
  if (typeof original !== 'function') {
    diag.debug(`otlp-mmap: no function ${name} to wrap`);
    return;
  }
  const wrapped = wrapper(original);
  if (typeof wrapped !== 'function') return;
  const enumerable = Object.prototype.propertyIsEnumerable.call(target, name);
  defineHidden(wrapped, '__original', original);
  defineHidden(wrapped, '__unwrap', () => {
    if (target[name] === wrapped) Object.defineProperty(target, name, { configurable: true, enumerable, writable: true, value: original });
  });
  defineHidden(wrapped, '__wrapped', true);
  Object.defineProperty(target, name, { configurable: true, enumerable, writable: true, value: wrapped });
}

/** Puts back what {@link wrapMethod} (or shimmer) replaced, if `target[name]` is a wrapper; else nothing. */
export function unwrapMethod<T extends object>(target: T, name: keyof T & string): void {
  const wrapped = target[name] as unknown as Wrapper | undefined;
  if (isWrapped(wrapped) && typeof wrapped!.__unwrap === 'function') wrapped!.__unwrap();
}
