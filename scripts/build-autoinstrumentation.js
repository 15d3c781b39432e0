#!/usr/bin/env node
'use strict';
/**
 * Builds the `/autoinstrumentation` tree: a self-contained copy of the
 * otlp-mmap package (runtime files, the native binary for this platform and
 * the production node_modules) with `autoinstrumentation.js` at its top level.
 *
 * This is the exact tree the Dockerfile's `agent` image ships (the
 * OpenTelemetry Operator and our init-container example copy
 * `/autoinstrumentation/.` into an emptyDir and add
 * `--require <mount>/autoinstrumentation.js` to NODE_OPTIONS), and the tree
 * the `collector` image runs `collector/bin.js` from.
 *
 * Usage:
 *   node scripts/build-autoinstrumentation.js [OUT_DIR]
 *   npm run build:autoinstrumentation -- [OUT_DIR]
 *
 * OUT_DIR defaults to ./build/autoinstrumentation. It is emptied first.
 * Requires a built package: `npm run build` (native addon + TypeScript).
 * Production dependencies are installed with
 * `npm install --omit=dev --ignore-scripts` from the repository's package-lock.json
 * (offline when the npm cache already has them, from the registry otherwise).
 */
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');

/** Files copied verbatim from the package root (all required). */
const ROOT_FILES = [
  'package.json',
  'index.js',
  'index.mjs',
  'index.d.ts',
  'register.mjs',
  'register.cjs',
  'agent-loader.cjs',
  'autoinstrumentation.js',
  'collector/bin.js',
];

/** Copied when present. */
const OPTIONAL_FILES = ['README.md', 'LICENSE', 'NOTICE'];

/** Directories copied recursively (all required). */
const ROOT_DIRS = ['dist'];

/**
 * The napi-rs platform triple of the running Node, e.g. `linux-x64-gnu`,
 * `linux-x64-musl`, `darwin-arm64`.
 * @returns {string}
 */
function platformTriple() {
  const { platform, arch } = process;
  if (platform === 'linux') {
    let abi = 'gnu';
    const report = process.report && typeof process.report.getReport === 'function' ? process.report.getReport() : null;
    const header = report && typeof report === 'object' ? report.header : null;
    if (!header || !header.glibcVersionRuntime) abi = 'musl';
    if (arch === 'arm') return `linux-arm-${abi}eabihf`;
    return `linux-${arch}-${abi}`;
  }
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

/**
 * @param {string[]} argv
 * @returns {{ out: string }}
 */
function parseArgs(argv) {
  let out = path.join(root, 'build', 'autoinstrumentation');
  const rest = [...argv];
  while (rest.length) {
    const a = rest.shift();
    if (a === '-h' || a === '--help') {
      process.stdout.write(
        'usage: node scripts/build-autoinstrumentation.js [--out DIR | DIR]\n' +
          'Builds the self-contained /autoinstrumentation tree (default ./build/autoinstrumentation).\n',
      );
      process.exit(0);
    } else if (a === '--out' || a === '-o') {
      const v = rest.shift();
      if (!v) fail('--out needs a directory');
      out = path.resolve(v);
    } else if (a.startsWith('--out=')) {
      out = path.resolve(a.slice('--out='.length));
    } else if (a.startsWith('-')) {
      fail(`unknown option ${JSON.stringify(a)} (try --help)`, 2);
    } else {
      out = path.resolve(a);
    }
  }
  return { out };
}

/**
 * @param {string} msg
 * @param {number} [code]
 * @returns {never}
 */
function fail(msg, code = 1) {
  process.stderr.write(`build-autoinstrumentation: ${msg}\n`);
  process.exit(code);
}

function copyFile(rel, out) {
  const dest = path.join(out, rel);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.copyFileSync(path.join(root, rel), dest);
}

function main() {
  const { out } = parseArgs(process.argv.slice(2));
  const up = path.relative(out, root);
  if (up === '' || !up.startsWith('..')) fail(`refusing to use ${out} as output: it contains the sources`);
  if (fs.existsSync(out) && fs.readdirSync(out).length && !fs.existsSync(path.join(out, 'autoinstrumentation.js'))) {
    fail(`refusing to empty ${out}: it is not empty and holds no earlier tree (no autoinstrumentation.js)`);
  }

  const binary = `otlp-mmap.${platformTriple()}.node`;
  const missing = [];
  for (const f of [...ROOT_FILES, binary]) if (!fs.existsSync(path.join(root, f))) missing.push(f);
  for (const d of ROOT_DIRS) if (!fs.existsSync(path.join(root, d))) missing.push(`${d}/`);
  if (!fs.existsSync(path.join(root, 'package-lock.json'))) missing.push('package-lock.json');
  if (missing.length) {
    fail(
      `missing from ${root}: ${missing.join(', ')}\n` +
        `Build the package first (\`npm run build\`: the native addon for ${platformTriple()} and dist/).`,
    );
  }

  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });

  for (const f of ROOT_FILES) copyFile(f, out);
  for (const f of OPTIONAL_FILES) if (fs.existsSync(path.join(root, f))) copyFile(f, out);
  copyFile(binary, out);
  for (const d of ROOT_DIRS) {
    fs.cpSync(path.join(root, d), path.join(out, d), {
      recursive: true,
      filter: (src) => !src.endsWith('.tsbuildinfo') && !src.endsWith('.map'),
    });
  }
  fs.chmodSync(path.join(out, 'collector', 'bin.js'), 0o755);

  // The tree is not a development checkout: drop the build scripts (their
  // files are not here; `install` would try to compile the addon) and the
  // dev dependency list before installing.
  const pkgPath = path.join(out, 'package.json');
  const pkg = JSON.parse(fs.readFileSync(pkgPath, 'utf8'));
  delete pkg.scripts;
  delete pkg.devDependencies;
  fs.writeFileSync(pkgPath, JSON.stringify(pkg, null, 2) + '\n');

  // Production dependencies at the versions of the repository's lock file
  // (npm prunes the dev entries from the copied lock; nothing is re-resolved
  // for the production ones).
  copyFile('package-lock.json', out);
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    // Settings that `npm run` passes down would change what gets installed.
    if (/^npm_config_(omit|include|production|only|also|global|prefix|workspaces?|dry_run|save|package_lock)$/i.test(k)) delete env[k];
  }
  execFileSync(
    'npm',
    ['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'],
    { cwd: out, env, stdio: ['ignore', 'inherit', 'inherit'] },
  );

  // Check: every production dependency is inside the tree, and no symlink
  // points outside it (the init container copies the tree elsewhere).
  const absent = Object.keys(pkg.dependencies || {}).filter(
    (dep) => !fs.existsSync(path.join(out, 'node_modules', ...dep.split('/'), 'package.json')),
  );
  if (absent.length) fail(`production dependencies missing from ${out}/node_modules: ${absent.join(', ')}`);
  checkLinks(out, out);

  let files = 0;
  let bytes = 0;
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        files += 1;
        bytes += fs.statSync(p).size;
      }
    }
  };
  walk(out);
  process.stdout.write(
    `build-autoinstrumentation: ${out} (${files} files, ${(bytes / 1048576).toFixed(1)} MiB, native ${binary})\n`,
  );
}

/**
 * Fails if a symlink under `dir` is absolute or resolves outside `top`.
 * @param {string} dir
 * @param {string} top
 */
function checkLinks(dir, top) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isSymbolicLink()) {
      const target = fs.readlinkSync(p);
      const resolved = path.resolve(path.dirname(p), target);
      if (path.isAbsolute(target) || path.relative(top, resolved).startsWith('..')) {
        fail(`symlink ${p} -> ${target} would break when the tree is copied`);
      }
    } else if (e.isDirectory()) {
      checkLinks(p, top);
    }
  }
}

main();
