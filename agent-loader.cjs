'use strict';
// Loads the built agent for the entry points (register.mjs, register.cjs): the bundle
// (one file, faster to load) when the build made it, else dist/agent/index.js. Returns
// undefined, after one line on stderr, when the agent is not built.
//
// The bundle is compiled with the V8 code cache in dist/agent/bundle.cache when there is one
// (written by `node agent-loader.cjs --make-code-cache`, which the build and the package's
// install script run): compiling the ~600 KB bundle is a third of the agent's start-up
// otherwise. V8 checks the cache against its own version, flags and the source, and ignores a
// cache that does not match; any problem on this path falls back to a plain `require`.
const fs = require('node:fs');
const path = require('node:path');

const BUNDLE = path.join(__dirname, 'dist', 'agent', 'bundle.js');
const CACHE = path.join(__dirname, 'dist', 'agent', 'bundle.cache');
const STATUS = Symbol.for('otlp-mmap.codeCache');

/** Compiles and runs the bundle as a CommonJS module, with `cachedData` when given; returns the vm.Script. */
function runBundle(cachedData) {
  const vm = require('node:vm');
  const Module = require('node:module');
  const source = fs.readFileSync(BUNDLE, 'utf8');
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
  let cachedData;
  try {
    cachedData = fs.readFileSync(CACHE);
  } catch {
    cachedData = undefined;
  }
  if (cachedData === undefined) {
    globalThis[STATUS] = 'none';
    return require(BUNDLE);
  }
  const { script, exports } = runBundle(cachedData);
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
    const { script } = runBundle(undefined);
    const tmp = `${CACHE}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, script.createCachedData());
    fs.renameSync(tmp, CACHE);
  }
}
