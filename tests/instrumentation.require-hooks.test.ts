/**
 * The require hook of the instrumentations built on `InstrumentationBase` (express, pg): one
 * require-in-the-middle hook limited to their package names (instrumentations/common/requireHooks.ts)
 * in place of @opentelemetry/instrumentation's catch-all singleton. Each case runs in a child
 * Node process (the hooks patch `Module.prototype.require` for good) over packages written to a
 * temporary node_modules.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..');
const HOOKS = path.join(ROOT, 'dist', 'instrumentations', 'common', 'requireHooks.js');
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
    const result = {};
    ${body}
    result.searched = searched;
    process.stdout.write(JSON.stringify(result));
  `;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8' })) as Record<string, unknown>;
}

/** An instrumentation of the package 'hooked' that marks its exports and records the version it was given. */
const INSTRUMENTATION = `
  class Hooked extends InstrumentationBase {
    constructor() { super('test-hooked', '1.0.0', { enabled: false }); }
    init() {
      return new InstrumentationNodeModuleDefinition('hooked', ['*'], (exports, version) => {
        exports.patchedWith = version;
        return exports;
      });
    }
  }
`;

describe('named require hooks', () => {
  it('patch a registered package through InstrumentationBase, and see its own files but nothing of other packages', () => {
    const out = child(`
      result.installed = hooks.useNamedRequireHooks();
      result.again = hooks.useNamedRequireHooks();
      ${INSTRUMENTATION}
      const instrumentation = new Hooked();
      result.singleton = instrumentation._requireInTheMiddleSingleton.constructor.name;
      const seen = [];
      instrumentation._requireInTheMiddleSingleton.register('hooked', (exports, name) => { seen.push(name); return exports; });
      instrumentation.enable();
      const hooked = require('hooked');
      result.patchedWith = hooked.patchedWith;
      result.inner = hooked.inner.name;
      require('other');
      result.seen = seen;
    `);
    expect(out.installed).toBe(true);
    expect(out.again).toBe(true);
    expect(out.singleton).toBe('NamedRequireHooks');
    // The instrumentation got the exports and the version from the package's package.json.
    expect(out.patchedWith).toBe('2.3.4');
    expect(out.inner).toBe('inner');
    // The package's own file is reported by its path in the package, the main file by its name.
    expect(out.seen).toEqual([`hooked${path.sep}lib${path.sep}inner.js`, 'hooked']);
    // Only the registered package's main file was looked up again; 'other' and its file were not.
    expect(out.searched).toEqual(['hooked']);
  });

  it('the catch-all singleton it replaces looks up every package required (what the named hooks save)', () => {
    const out = child(`
      ${INSTRUMENTATION}
      const instrumentation = new Hooked();
      result.singleton = instrumentation._requireInTheMiddleSingleton.constructor.name;
      instrumentation.enable();
      result.patchedWith = require('hooked').patchedWith;
      require('other');
      // Made already: left as it is.
      result.installed = hooks.useNamedRequireHooks();
    `);
    expect(out.singleton).toBe('RequireInTheMiddleSingleton');
    expect(out.patchedWith).toBe('2.3.4');
    expect(out.searched).toEqual(expect.arrayContaining(['hooked', 'other']));
    expect(out.installed).toBe(false);
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
