/**
 * The agent bundle (dist/agent/bundle.js, built by scripts/build.js) carries only the
 * @opentelemetry/semantic-conventions constants it reads, with the package's values: the whole
 * package is 30% of the bundle and ~5 ms of every start-up.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const BUNDLE = path.join(ROOT, 'dist', 'agent', 'bundle.js');

/** Runs the body of the bundle's stand-in module for the package and returns its exports. */
function standInExports(bundle: string): Record<string, unknown> {
  const match = /"dist\/\.bundle-inputs\/semantic-conventions\.js"\(exports2\) \{\n([\s\S]*?)\n {2}\}\n\}\);/.exec(bundle);
  if (!match) throw new Error('the bundle has no stand-in for @opentelemetry/semantic-conventions (scripts/build.js kept the whole package; see its warning)');
  const exports: Record<string, unknown> = {};
  new Function('exports2', match[1])(exports);
  return exports;
}

test('every semantic-conventions constant the bundle reads is there, with the package value, and nothing else', () => {
  const bundle = fs.readFileSync(BUNDLE, 'utf8');
  const semconv = require('@opentelemetry/semantic-conventions') as Record<string, unknown>;
  const read = new Set([...bundle.matchAll(/\bsemantic_conventions_\d+\.([A-Za-z_$][\w$]*)/g)].map((m) => m[1]));
  expect(read.size).toBeGreaterThan(10);
  const standIn = standInExports(bundle);
  expect(Object.keys(standIn).sort()).toEqual([...read].sort());
  for (const name of read) expect([name, standIn[name]]).toEqual([name, semconv[name]]);
  // The deprecated SEMATTRS_* constants (most of the package) are gone.
  expect(bundle).not.toContain('SEMATTRS_');
});

/** The package files the bundle carries (esbuild names each with a `// node_modules/...` line). */
function bundledFiles(bundle: string, pkg: string): string[] {
  const prefix = `// node_modules/${pkg}/`;
  return bundle.split('\n').filter((line) => line.startsWith(prefix)).map((line) => line.slice(prefix.length)).sort();
}

// What a bundled package's index loads stays alive for the process's life and is marked by every
// full GC (BENCHMARKS.md, fourteenth session): the agent takes @opentelemetry/core's and the
// context manager's parts from their own files, and one copy of @opentelemetry/api-logs.
test('the bundle carries only the parts of @opentelemetry/core and context-async-hooks the agent uses', () => {
  const bundle = fs.readFileSync(BUNDLE, 'utf8');
  expect(bundledFiles(bundle, '@opentelemetry/core')).toEqual([
    'build/src/baggage/constants.js',
    'build/src/baggage/propagation/W3CBaggagePropagator.js',
    'build/src/baggage/utils.js',
    'build/src/internal/validators.js',
    'build/src/propagation/composite.js',
    'build/src/trace/TraceState.js',
    'build/src/trace/W3CTraceContextPropagator.js',
    'build/src/trace/rpc-metadata.js',
    'build/src/trace/suppress-tracing.js',
  ]);
  expect(bundledFiles(bundle, '@opentelemetry/context-async-hooks')).toEqual([
    'build/src/AbstractAsyncHooksContextManager.js',
    'build/src/AsyncLocalStorageContextManager.js',
  ]);
  // One copy of each package: a nested copy (a package's own node_modules) would be a second
  // global API, or a second set of modules kept alive.
  expect(bundle.split('\n').filter((line) => /^\/\/ node_modules\/.*\/node_modules\//.test(line))).toEqual([]);
  expect(bundledFiles(bundle, '@opentelemetry/api-logs')).toContain('build/src/index.js');
});

// express and pg extend the agent's own PackageInstrumentation (fifteenth session), not
// @opentelemetry/instrumentation's InstrumentationBase, whose package was a tenth of the bundle's
// live closures.
test('the bundle carries nothing of @opentelemetry/instrumentation', () => {
  const bundle = fs.readFileSync(BUNDLE, 'utf8');
  expect(bundledFiles(bundle, '@opentelemetry/instrumentation')).toEqual([]);
  expect(bundle).toContain('// dist/instrumentations/common/packageInstrumentation.js');
});

// require-in-the-middle logs through `debug`, which brought `ms`, `supports-color` and `has-flag`
// along: ~37 closures kept alive for messages printed only under DEBUG=require-in-the-middle. The
// bundle gets a `debug` whose loggers are disabled no-ops (scripts/build.js).
test('the bundle carries a disabled `debug` for require-in-the-middle, and none of debug, ms, supports-color or has-flag', () => {
  const bundle = fs.readFileSync(BUNDLE, 'utf8');
  for (const pkg of ['debug', 'ms', 'supports-color', 'has-flag']) expect([pkg, bundledFiles(bundle, pkg)]).toEqual([pkg, []]);
  expect(bundledFiles(bundle, 'require-in-the-middle')).toEqual(['index.js']);
  const match = /"dist\/\.bundle-inputs\/debug\.js"\(exports2, module2\) \{\n([\s\S]*?)\n {2}\}\n\}\);/.exec(bundle);
  expect(match).not.toBeNull();
  const mod: { exports: unknown } = { exports: {} };
  new Function('exports2', 'module2', match![1])(mod.exports, mod);
  const createDebug = mod.exports as (namespace: string) => ((...args: unknown[]) => void) & { enabled: boolean };
  const log = createDebug('require-in-the-middle');
  expect(log.enabled).toBe(false);
  expect(log('processing %s', 'x')).toBeUndefined();
});
