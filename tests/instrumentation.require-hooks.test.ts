/**
 * The package instrumentations' base (instrumentations/common/packageInstrumentation.ts, which
 * express and pg extend) and its require hook: one require-in-the-middle hook limited to their
 * package names (instrumentations/common/requireHooks.ts), not @opentelemetry/instrumentation's
 * catch-all singleton. Each case runs in a child Node process (the hooks patch
 * `Module.prototype.require` for good) over packages written to a temporary node_modules.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..');
const HOOKS = path.join(ROOT, 'dist', 'instrumentations', 'common', 'requireHooks.js');
const BASE = path.join(ROOT, 'dist', 'instrumentations', 'common', 'packageInstrumentation.js');
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otlp-mmap-require-hooks-'));
  const pkg = (name: string, files: Record<string, string>): void => {
    const base = path.join(dir, 'node_modules', name);
    fs.mkdirSync(path.join(base, 'lib'), { recursive: true });
    fs.writeFileSync(path.join(base, 'package.json'), JSON.stringify({ name, version: '2.3.4', main: 'index.js' }));
    for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(base, file), text);
  };
  pkg('hooked', { 'index.js': "exports.inner = require('./lib/inner.js'); exports.name = 'hooked';", 'lib/inner.js': "exports.name = 'inner';" });
  pkg('other', { 'index.js': "exports.part = require('./lib/part.js');", 'lib/part.js': "exports.name = 'part';" });
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs `body` in a child process in `dir`, with `Module._resolveFilename` calls that pass `paths` counted; returns its JSON. */
function child(body: string): Record<string, unknown> {
  const script = `
    const Module = require('node:module');
    const resolve = Module._resolveFilename;
    const searched = [];
    Module._resolveFilename = function (request, parent, isMain, options) {
      if (options && options.paths) searched.push(request);
      return resolve.apply(this, arguments);
    };
    const { InstrumentationBase, InstrumentationNodeModuleDefinition } = require(${JSON.stringify(require.resolve('@opentelemetry/instrumentation'))});
    const hooks = require(${JSON.stringify(HOOKS)});
    const base = require(${JSON.stringify(BASE)});
    const result = {};
    ${body}
    result.searched = searched;
    process.stdout.write(JSON.stringify(result));
  `;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8' })) as Record<string, unknown>;
}

/** An instrumentation of the package 'hooked' that marks its exports and records what it was given. */
const INSTRUMENTATION = `
  const calls = [];
  class Hooked extends base.PackageInstrumentation {
    constructor() { super('hooked', 'test-hooked', '1.0.0'); }
    patch(exports, version) { calls.push('patch ' + version); exports.patchedWith = version; return exports; }
    unpatch(exports) { calls.push('unpatch'); delete exports.patchedWith; }
  }
`;

describe('package instrumentations and their require hook', () => {
  it('patch the package when required, with its version, and see nothing of other packages', () => {
    const out = child(`
      ${INSTRUMENTATION}
      const instrumentation = new Hooked();
      result.before = require.cache[require.resolve('hooked')] === undefined;
      instrumentation.enable();
      instrumentation.enable();
      const hooked = require('hooked');
      result.patchedWith = hooked.patchedWith;
      result.inner = hooked.inner.name;
      require('other');
      result.enabled = instrumentation.isEnabled();
      instrumentation.disable();
      result.afterDisable = 'patchedWith' in hooked;
      instrumentation.enable();
      result.afterEnable = hooked.patchedWith;
      result.calls = calls;
      result.tracer = typeof instrumentation.tracer.startSpan;
    `);
    expect(out.before).toBe(true);
    // The version comes from the package's package.json; its own file is not given to patch.
    expect(out.patchedWith).toBe('2.3.4');
    expect(out.inner).toBe('inner');
    expect(out.enabled).toBe(true);
    // disable unpatches what was patched; enable patches the same exports again.
    expect(out.afterDisable).toBe(false);
    expect(out.afterEnable).toBe('2.3.4');
    expect(out.calls).toEqual(['patch 2.3.4', 'unpatch', 'patch 2.3.4']);
    expect(out.tracer).toBe('function');
    // Only the registered package's main file was looked up again; 'other' and its file were not.
    expect(out.searched).toEqual(['hooked']);
  });

  it('a patch that throws is reported through diag and the app gets the module as it was', () => {
    const out = child(`
      const api = require(${JSON.stringify(require.resolve('@opentelemetry/api'))});
      const logged = [];
      api.diag.setLogger({ error: (m) => logged.push(m), warn() {}, info() {}, debug() {}, verbose() {} }, api.DiagLogLevel.ERROR);
      class Failing extends base.PackageInstrumentation {
        constructor() { super('hooked', 'test-failing', '1.0.0'); }
        patch() { throw new Error('boom'); }
        unpatch() {}
      }
      new Failing().enable();
      const hooked = require('hooked');
      result.name = hooked.name;
      result.logged = logged;
    `);
    expect(out.name).toBe('hooked');
    expect(out.logged).toEqual(['otlp-mmap: could not instrument hooked; it runs uninstrumented']);
  });

  it('a package loaded before its instrumentation is enabled gets one diag warning naming it; one loaded after gets none', () => {
    const out = child(`
      const api = require(${JSON.stringify(require.resolve('@opentelemetry/api'))});
      const warned = [];
      api.diag.setLogger({ error() {}, warn: (m) => warned.push(m), info() {}, debug() {}, verbose() {} }, api.DiagLogLevel.WARN);
      class Other extends base.PackageInstrumentation {
        constructor() { super('other', 'test-other', '1.0.0'); }
        patch(exports) { return exports; }
        unpatch() {}
      }
      ${INSTRUMENTATION}
      const early = require('hooked');
      new Other().enable();
      const instrumentation = new Hooked();
      instrumentation.enable();
      instrumentation.disable();
      instrumentation.enable();
      require('other');
      result.warned = warned;
      // require-in-the-middle patches the cached exports at the next require.
      result.patchedLater = require('hooked').patchedWith;
      result.same = early === require('hooked');
    `);
    expect(out.warned).toEqual([expect.stringMatching(/^otlp-mmap: hooked was loaded before the agent started \(.*node_modules.hooked.index\.js\), so what the app holds of it may not be instrumented\. Start the agent first: node --import otlp-mmap\/register/)]);
    expect(out.patchedLater).toBe('2.3.4');
    expect(out.same).toBe(true);
  });

  it("the catch-all singleton of @opentelemetry/instrumentation's InstrumentationBase looks up every package required (what the named hook saves)", () => {
    const out = child(`
      class Official extends InstrumentationBase {
        constructor() { super('test-official', '1.0.0', { enabled: false }); }
        init() {
          return new InstrumentationNodeModuleDefinition('hooked', ['*'], (exports, version) => {
            exports.patchedWith = version;
            return exports;
          });
        }
      }
      const instrumentation = new Official();
      result.singleton = instrumentation._requireInTheMiddleSingleton.constructor.name;
      instrumentation.enable();
      result.patchedWith = require('hooked').patchedWith;
      require('other');
    `);
    expect(out.singleton).toBe('RequireInTheMiddleSingleton');
    expect(out.patchedWith).toBe('2.3.4');
    expect(out.searched).toEqual(expect.arrayContaining(['hooked', 'other']));
  });

  it('wrapMethod marks its wrapper as shimmer does, keeps enumerability, and unwrapMethod puts the original back', () => {
    const out = child(`
      const target = { visible() { return 'v'; } };
      Object.defineProperty(target, 'hidden', { value: function hidden() { return 'h'; }, enumerable: false, writable: true, configurable: true });
      const original = target.visible;
      base.wrapMethod(target, 'visible', (orig) => function wrapped() { return 'w' + orig.call(this); });
      base.wrapMethod(target, 'hidden', (orig) => function wrapped() { return 'w' + orig.call(this); });
      base.wrapMethod(target, 'missing', (orig) => orig);
      result.calls = [target.visible(), target.hidden()];
      result.marks = [base.isWrapped(target.visible), target.visible.__original === original, Object.keys(target.visible)];
      result.keys = Object.keys(target);
      base.unwrapMethod(target, 'visible');
      base.unwrapMethod(target, 'hidden');
      result.after = [target.visible === original, target.hidden(), base.isWrapped(target.visible), Object.keys(target)];
      // Unwrapping what is not a wrapper leaves it.
      base.unwrapMethod(target, 'visible');
      result.again = target.visible === original;
      result.missing = 'missing' in target;
    `);
    expect(out.calls).toEqual(['wv', 'wh']);
    expect(out.marks).toEqual([true, true, []]);
    expect(out.keys).toEqual(['visible']);
    expect(out.after).toEqual([true, 'h', false, ['visible']]);
    expect(out.again).toBe(true);
    expect(out.missing).toBe(false);
  });

  it('a package registered after the first require is hooked from its next require on, and a builtin only by its whole name', () => {
    const out = child(`
      const named = new hooks.NamedRequireHooks();
      const seen = [];
      named.register('other', (exports, name) => { seen.push(name); return exports; });
      require('other');
      named.register('hooked', (exports, name) => { seen.push(name); return { replaced: true }; });
      result.replaced = require('hooked').replaced === true;
      named.register('fs', (exports, name) => { seen.push(name); return exports; });
      require('fs/promises');
      require('fs');
      result.seen = seen;
    `);
    expect(out.replaced).toBe(true);
    expect(out.seen).toEqual([`other${path.sep}lib${path.sep}part.js`, 'other', `hooked${path.sep}lib${path.sep}inner.js`, 'hooked', 'fs']);
  });
});
