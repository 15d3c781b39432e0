'use strict';
// Loads the built agent for the entry points (register.mjs, register.cjs): the bundle
// (one file, faster to load) when the build made it, else dist/agent/index.js. Returns
// undefined, after one line on stderr, when the agent is not built.
//
// The bundle is compiled with the V8 code cache in dist/agent/bundle.cache when there is one
// (written by `node agent-loader.cjs --make-code-cache`, which the build and the package's
// install script run): compiling the bundle is about a third of the agent's start-up otherwise.
// The cache is used only when its marker (dist/agent/bundle.cache.json) names this Node and this
// exact bundle (by the content hash on the bundle's first line); V8 then still checks its own
// version and flags and ignores a cache that does not match. Otherwise: a plain `require`.
const fs = require('node:fs');
const path = require('node:path');

const BUNDLE = path.join(__dirname, 'dist', 'agent', 'bundle.js');
const CACHE = path.join(__dirname, 'dist', 'agent', 'bundle.cache');
const STATUS = Symbol.for('otlp-mmap.codeCache');

const MARKER = path.join(__dirname, 'dist', 'agent', 'bundle.cache.json');

/**
 * The cache, when it was made by this Node for exactly this bundle (the marker written beside it
 * names both; V8 alone would accept a stale cache for a different bundle of the same length).
 */
function usableCache(source) {
  let marker;
  try {
    marker = JSON.parse(fs.readFileSync(MARKER, 'utf8'));
  } catch {
    return undefined;
  }
  if (!marker || marker.node !== process.version || marker.v8 !== process.versions.v8) return undefined;
  if (typeof marker.bundle !== 'string' || !marker.bundle.startsWith('// otlp-mmap agent bundle ')) return undefined;
  if (source.length <= marker.bundle.length || !source.startsWith(`${marker.bundle}\n`)) return undefined;
  try {
    return fs.readFileSync(CACHE);
  } catch {
    return undefined;
  }
}

/** Compiles and runs the bundle as a CommonJS module, with `cachedData` when given; returns the vm.Script. */
function runBundle(source, cachedData) {
  const vm = require('node:vm');
  const Module = require('node:module');
  const script = new vm.Script(Module.wrap(source), { filename: BUNDLE, cachedData });
  const mod = new Module(BUNDLE, module);
  mod.filename = BUNDLE;
  mod.paths = Module._nodeModulePaths(path.dirname(BUNDLE));
  // Registered first, as require() does, so a second load (another entry point) gets this copy.
  require.cache[BUNDLE] = mod;
  try {
    script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(BUNDLE), mod, BUNDLE, path.dirname(BUNDLE));
  } catch (e) {
    delete require.cache[BUNDLE];
    throw e;
  }
  mod.loaded = true;
  return { script, exports: mod.exports };
}

function loadBundle() {
  if (require.cache[BUNDLE]) return require.cache[BUNDLE].exports;
  const source = fs.readFileSync(BUNDLE, 'utf8');
  const cachedData = usableCache(source);
  if (cachedData === undefined) {
    globalThis[STATUS] = 'none';
    return require(BUNDLE);
  }
  const { script, exports } = runBundle(source, cachedData);
  globalThis[STATUS] = script.cachedDataRejected ? 'rejected' : 'accepted';
  return exports;
}

module.exports = function loadAgent() {
  try {
    if (fs.existsSync(BUNDLE)) return loadBundle();
    return require('./dist/agent/index.js');
  } catch (e) {
    process.stderr.write(`otlp-mmap: the agent is not built (${e && e.message}); run \`npm run build\`. This process runs without telemetry.\n`);
    return undefined;
  }
};

// `node agent-loader.cjs --make-code-cache`: evaluates the bundle (its modules' top-level code, not
// the agent) and writes the code V8 compiled for it, lazily compiled functions included.
if (require.main === module && process.argv.includes('--make-code-cache')) {
  if (!fs.existsSync(BUNDLE)) {
    console.warn('otlp-mmap: no dist/agent/bundle.js; no code cache written');
  } else {
    const source = fs.readFileSync(BUNDLE, 'utf8');
    const { script } = runBundle(source, undefined);
    const write = (file, data) => {
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, data);
      fs.renameSync(tmp, file);
    };
    write(CACHE, script.createCachedData());
    write(MARKER, JSON.stringify({ node: process.version, v8: process.versions.v8, bundle: source.split('\n', 1)[0] }));
  }
}
