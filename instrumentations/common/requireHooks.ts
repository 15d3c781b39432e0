/**
 * One `require` hook for the instrumentations built on `InstrumentationBase` (express, pg), that
 * looks only at the packages they instrument.
 *
 * `InstrumentationBase` registers its module names with `@opentelemetry/instrumentation`'s
 * `RequireInTheMiddleSingleton`, whose one require-in-the-middle hook is made for every module
 * (`new Hook(null, ...)`): every `require` of every file of every package is resolved a second
 * time, its path parsed, and its package's main file resolved again (`require.resolve(name,
 * { paths })`, stat calls and package.json reads), only then to be matched against the names.
 * require-in-the-middle given the list of names stops once it has the package's name. Loading
 * express and pg, that was ~4.5 ms of the agent's start-up (BENCHMARKS.md, tenth session).
 *
 * {@link useNamedRequireHooks} puts a {@link NamedRequireHooks} in the singleton's place before the
 * first instrumentation is made; `InstrumentationBase` only calls its `register`.
 */
import path = require('node:path');
import { Hook } from 'require-in-the-middle';

/** What `InstrumentationBase` hands the singleton for a module name. */
type OnRequire = (exports: unknown, name: string, basedir?: string) => unknown;

/** A registration, as `RequireInTheMiddleSingleton#register` returns it. */
export interface Hooked {
  moduleName: string;
  onRequire: OnRequire;
}

/**
 * Module names and their `onRequire` functions behind one require-in-the-middle hook limited to
 * those names. A name registered after the hook was made is seen from the next `require` on
 * (require-in-the-middle reads the list it was given at each call).
 */
export class NamedRequireHooks {
  private readonly names: string[] = [];
  private readonly hooked: Hooked[] = [];
  private hook: Hook | undefined;

  register(moduleName: string, onRequire: OnRequire): Hooked {
    const hooked: Hooked = { moduleName, onRequire };
    this.hooked.push(hooked);
    if (!this.names.includes(moduleName)) this.names.push(moduleName);
    this.hook ??= new Hook(this.names, { internals: true }, <T>(exports: T, name: string, basedir?: string): T =>
      this.required(exports, name, basedir) as T);
    return hooked;
  }

  /**
   * A registered package (`name` is its name) or a file inside one (`name` is the package name, a
   * path separator and the file's path in the package) was required: every registration of that
   * package runs, in the order made, each given what the one before returned.
   */
  private required(exports: unknown, name: string, basedir: string | undefined): unknown {
    const normalized = path.sep === '/' ? name : name.split(path.sep).join('/');
    for (const { moduleName, onRequire } of this.hooked) {
      // A builtin (no basedir) matches only by its whole name.
      if (normalized === moduleName || (basedir !== undefined && normalized.startsWith(`${moduleName}/`))) {
        exports = onRequire(exports, name, basedir);
      }
    }
    return exports;
  }
}

/** `RequireInTheMiddleSingleton`'s static side, as far as it is used here. */
interface SingletonClass {
  _instance?: unknown;
  getInstance?: unknown;
}

/**
 * Makes `InstrumentationBase` register with a {@link NamedRequireHooks} instead of its catch-all
 * singleton. Does nothing when the singleton exists already (an instrumentation was made before)
 * or does not have the expected shape, so the instrumentations keep working either way.
 * @returns whether the named hooks are in place
 */
export function useNamedRequireHooks(): boolean {
  let singleton: SingletonClass | undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    singleton = (require('@opentelemetry/instrumentation/build/src/platform/node/RequireInTheMiddleSingleton') as {
      RequireInTheMiddleSingleton?: SingletonClass;
    }).RequireInTheMiddleSingleton;
  } catch {
    return false;
  }
  if (singleton === undefined || typeof singleton.getInstance !== 'function') return false;
  if (singleton._instance instanceof NamedRequireHooks) return true;
  if (singleton._instance !== undefined) return false;
  singleton._instance = new NamedRequireHooks();
  return true;
}
