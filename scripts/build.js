#!/usr/bin/env node
'use strict';
// Builds what the package needs at run time:
//  1. the native addon (cargo, release) copied to otlp-mmap.<platform>.node (napi-rs naming);
//  2. the TypeScript under agent/, instrumentations/, collector/ into dist/, the agent bundle
//     and its V8 code cache.
// Runs on `npm install` (the package's install script), from the test setup, and by hand
// (`npm run build`). Skips work that is up to date unless --force.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const args = new Set(process.argv.slice(2));
const force = args.has('--force');
const nativeOnly = args.has('--native-only');
const tsOnly = args.has('--ts-only');

function newest(dir, exts) {
  let t = 0;
  if (!fs.existsSync(dir)) return t;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name === 'node_modules' || e.name === 'target' || e.name === 'dist') continue;
      t = Math.max(t, newest(p, exts));
    } else if (exts.some((x) => e.name.endsWith(x))) {
      t = Math.max(t, fs.statSync(p).mtimeMs);
    }
  }
  return t;
}

function mtime(p) {
  try {
    return fs.statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}

function run(cmd, argv) {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited with ${r.status}`);
}

function buildNative() {
  const { platformTriple } = require(path.join(root, 'index.js'));
  const out = path.join(root, `otlp-mmap.${platformTriple()}.node`);
  const srcTime = Math.max(newest(path.join(root, 'native', 'src'), ['.rs']), mtime(path.join(root, 'native', 'Cargo.toml')));
  if (!force && mtime(out) >= srcTime && srcTime > 0) return;
  if (!fs.existsSync(path.join(root, 'native', 'Cargo.toml'))) {
    if (fs.existsSync(out)) return;
    throw new Error(`no native sources and no prebuilt ${path.basename(out)}`);
  }
  const cargo = spawnSync('cargo', ['--version'], { encoding: 'utf8' });
  if (cargo.error || cargo.status !== 0) {
    if (fs.existsSync(out)) return;
    console.warn(
      `otlp-mmap: cargo (Rust) was not found, so the native addon for ${platformTriple()} was not built. ` +
        'Install Rust and run `npm run build:native`. Until then the agent starts uninstrumented.',
    );
    return;
  }
  run('cargo', ['build', '--release', '--manifest-path', path.join('native', 'Cargo.toml')]);
  const lib = { darwin: 'libotlp_mmap.dylib', win32: 'otlp_mmap.dll' }[process.platform] || 'libotlp_mmap.so';
  const built = path.join(root, 'native', 'target', 'release', lib);
  const tmp = `${out}.${process.pid}.tmp`;
  fs.copyFileSync(built, tmp);
  fs.renameSync(tmp, out); // atomic: a running process keeps its mapping of the old file
}

function buildTs() {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const srcTime = Math.max(
    newest(path.join(root, 'agent'), ['.ts']),
    newest(path.join(root, 'instrumentations'), ['.ts']),
    newest(path.join(root, 'collector'), ['.ts']),
    mtime(path.join(root, 'tsconfig.json')),
  );
  const stamp = path.join(root, 'dist', '.stamp');
  if (!force && mtime(stamp) >= srcTime) return;
  if (!fs.existsSync(tsc)) {
    if (fs.existsSync(stamp)) return; // an installed package ships dist/
    console.warn('otlp-mmap: TypeScript is not installed; dist/ was not built (run npm install in the package).');
    return;
  }
  // A source file that was removed or renamed must not leave its old output behind (a stale
  // dist/instrumentations/http.js would shadow dist/instrumentations/http/index.js).
  for (const dir of ['agent', 'instrumentations', 'collector']) fs.rmSync(path.join(root, 'dist', dir), { recursive: true, force: true });
  // Emit even when a file has type errors so one broken module never blocks the rest;
  // the type check itself is reported (and enforced by the tests' ts-jest run).
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) console.warn('otlp-mmap: tsc reported type errors (see above); output was emitted anyway.');
  fs.mkdirSync(path.join(root, 'dist'), { recursive: true });
  bundleAgent();
  fs.writeFileSync(stamp, new Date().toISOString());
}

// The agent and everything it loads at start-up (the OpenTelemetry packages, the
// instrumentations) as one file: resolving and reading ~150 small modules is a large
// part of start-up time, and the entry points load this bundle when it exists.
// Kept external: the native loader (it finds the binary next to itself) and
// import-in-the-middle (its loader hook runs from its own files in another thread and
// must share state with the copy the instrumentations use).
function bundleAgent() {
  let esbuild;
  try {
    esbuild = require('esbuild');
  } catch {
    return; // an installed package ships dist/ with the bundle already built
  }
  const entry = path.join(root, 'dist', 'agent', 'index.js');
  const out = path.join(root, 'dist', 'agent', 'bundle.js');
  if (!fs.existsSync(entry)) return;
  const options = {
    absWorkingDir: root,
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // No "module" condition (esbuild adds it unless told otherwise): packages such as
    // @opentelemetry/api would come in as their ES-module builds, and every CommonJS file that
    // requires one would get its own copy of the export object, one getter per export (~840
    // getters for the api alone), read through two getter calls on every access.
    conditions: [],
    external: ['../../index.js', '../index.js', 'import-in-the-middle', 'import-in-the-middle/*'],
    logLevel: 'error',
    legalComments: 'none',
  };
  const probe = esbuild.buildSync({ ...options, write: false, metafile: true });
  // A fixed place (not a random temporary directory): its path is written into the bundle.
  const shimDir = path.join(root, 'dist', '.bundle-inputs');
  fs.mkdirSync(shimDir, { recursive: true });
  try {
    const alias = { debug: debugStub(shimDir) };
    const shim = semconvShim(probe.metafile, shimDir);
    if (shim !== undefined) alias[SEMCONV] = shim;
    esbuild.buildSync({ ...options, alias });
  } finally {
    fs.rmSync(shimDir, { recursive: true, force: true });
  }
  // The first line names the bundle by its content: the code cache is used only with the bundle
  // it was made from (V8 itself checks little more than the source's length).
  const text = fs.readFileSync(out, 'utf8');
  const id = require('node:crypto').createHash('sha256').update(text).digest('hex').slice(0, 32);
  fs.writeFileSync(out, `// otlp-mmap agent bundle ${id}\n${text}`);
}

const SEMCONV = '@opentelemetry/semantic-conventions';

/**
 * require-in-the-middle logs through `debug` (with `ms`, `supports-color` and `has-flag`): four
 * modules and ~37 closures that stay alive, and are marked by every full GC, for messages printed
 * only under DEBUG=require-in-the-middle. The agent reports through the OpenTelemetry diag logger
 * instead, so the bundle gets a `debug` whose loggers are disabled no-ops. Writes it into `dir`
 * and returns its path.
 */
function debugStub(dir) {
  const file = path.join(dir, 'debug.js');
  fs.writeFileSync(
    file,
    [
      "'use strict';",
      '// `debug` in the agent bundle (scripts/build.js): every logger is disabled.',
      'function off() {}',
      'off.enabled = false;',
      'off.extend = function () { return off; };',
      'function createDebug() { return off; }',
      'createDebug.enabled = function () { return false; };',
      'createDebug.enable = function () {};',
      'createDebug.disable = function () { return \'\'; };',
      'module.exports = createDebug;',
      '',
    ].join('\n'),
  );
  return file;
}

/**
 * @opentelemetry/semantic-conventions is one CommonJS file of thousands of constants, 30% of
 * the bundle, and a bundler cannot drop unused exports from CommonJS; compiling and running
 * it was ~5 ms of every start-up. The bundle reads ~30 of them. Writes a module with those
 * names and their values (copied from the package) into `dir`, for esbuild to use instead of
 * the package, and returns its path. Returns undefined, and the whole package is bundled,
 * unless every importer is tsc-style CommonJS (`const x = require('<package>')`, then only
 * `x.NAME` reads), all importers resolve to one copy, and every value read is a string or a
 * number: then the names read are all there is to keep.
 */
function semconvShim(metafile, dir) {
  const names = new Set();
  const resolved = new Set();
  const requireRe = /require\((['"])@opentelemetry\/semantic-conventions\1\)/g;
  const bindingRe = /\b(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=\s*require\((['"])@opentelemetry\/semantic-conventions\2\)/g;
  for (const [input, info] of Object.entries(metafile.inputs)) {
    const imports = info.imports.filter((i) => i.original === SEMCONV || (i.original || '').startsWith(`${SEMCONV}/`));
    if (imports.length === 0) continue;
    if (imports.some((i) => i.original !== SEMCONV || i.kind !== 'require-call')) return keepAll(`${input} imports it other than by require('${SEMCONV}')`);
    for (const i of imports) resolved.add(i.path);
    const source = fs.readFileSync(path.resolve(root, input), 'utf8');
    const bindings = [...source.matchAll(bindingRe)].map((m) => m[1]);
    if (bindings.length === 0 || bindings.length !== (source.match(requireRe) || []).length) return keepAll(`${input} requires it other than as \`const x = require(...)\``);
    for (const binding of bindings) {
      const escaped = binding.replace(/\$/g, '\\$');
      let bare = 0;
      for (const m of source.matchAll(new RegExp(`(?<![\\w$.])${escaped}(?![\\w$])(\\.([A-Za-z_$][\\w$]*))?`, 'g'))) {
        if (m[2] === undefined) bare++;
        else names.add(m[2]);
      }
      // The declaration is the one use that is not `binding.NAME`.
      if (bare !== 1) return keepAll(`${input} uses ${binding} other than as ${binding}.NAME`);
    }
  }
  if (names.size === 0) return undefined;
  if (resolved.size !== 1) return keepAll(`its importers resolve to ${resolved.size} copies`);
  const semconv = require(path.resolve(root, [...resolved][0]));
  const lines = [];
  for (const name of [...names].sort()) {
    const value = semconv[name];
    if (typeof value !== 'string' && typeof value !== 'number') return keepAll(`${name} is not a string or a number`);
    lines.push(`exports.${name} = ${JSON.stringify(value)};`);
  }
  const file = path.join(dir, 'semantic-conventions.js');
  fs.writeFileSync(file, `'use strict';\n// The ${SEMCONV} constants the agent bundle reads (scripts/build.js).\n${lines.join('\n')}\n`);
  return file;
}

function keepAll(reason) {
  console.warn(`otlp-mmap: the agent bundle keeps all of ${SEMCONV}, because ${reason}; start-up is ~5 ms slower.`);
  return undefined;
}

// The V8 code cache of the bundle (see agent-loader.cjs): made for the Node that runs this build,
// again whenever the bundle is newer or the Node (V8) differs, so an installed package gets one for
// the Node it was installed with.
function codeCache() {
  const bundle = path.join(root, 'dist', 'agent', 'bundle.js');
  const cache = path.join(root, 'dist', 'agent', 'bundle.cache');
  const marker = path.join(root, 'dist', 'agent', 'bundle.cache.json');
  if (!fs.existsSync(bundle)) return;
  const firstLine = fs.readFileSync(bundle, 'utf8').split('\n', 1)[0];
  const wanted = JSON.stringify({ node: process.version, v8: process.versions.v8, bundle: firstLine });
  let current = '';
  try {
    current = fs.readFileSync(marker, 'utf8');
  } catch {
    // none yet
  }
  if (!force && current === wanted && mtime(cache) >= mtime(bundle)) return;
  const r = spawnSync(process.execPath, [path.join(root, 'agent-loader.cjs'), '--make-code-cache'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0 || !fs.existsSync(cache)) {
    console.warn('otlp-mmap: the code cache of the agent bundle was not written; the agent starts without it.');
  }
}

try {
  if (!tsOnly) buildNative();
  if (!nativeOnly) {
    buildTs();
    codeCache();
  }
} catch (e) {
  console.error(`otlp-mmap build failed: ${e.message}`);
  process.exit(1);
}
