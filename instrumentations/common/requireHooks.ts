/**
 * One `require` hook for the package instrumentations (express, pg: see
 * `packageInstrumentation.ts`), that looks only at the packages they instrument.
 *
 * `@opentelemetry/instrumentation`'s `RequireInTheMiddleSingleton`, which its `InstrumentationBase`
 * registers with, makes its one require-in-the-middle hook for every module (`new Hook(null,
 * ...)`): every `require` of every file of every package is resolved a second time, its path
 * parsed, and its package's main file resolved again (`require.resolve(name, { paths })`, stat
 * calls and package.json reads), only then to be matched against the names. require-in-the-middle
 * given the list of names stops once it has the package's name. Loading express and pg, that was
 * ~4.5 ms of the agent's start-up (BENCHMARKS.md, tenth session).
 */
import path = require('node:path');
import { Hook } from 'require-in-the-middle';

/** What a registration is called with: the exports, the name required and the package's directory. */
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
