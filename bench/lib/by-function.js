'use strict';
// Instructions by function, JavaScript included: a node run under valgrind's callgrind with V8
// writing a perf map of the code it generates (--perf-basic-prof, code space never compacted, so
// an address names one function for the whole run). callgrind knows native functions by their
// symbols; JIT code it knows only by address, which the map turns into the JavaScript function
// (`JS:*traced /…/bundle.js:8960:32`: `*` optimised, `^` baseline, `~` interpreted). Counts are
// self instructions (not including callees), so they add up to the run's total.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');

/** Whether `callgrind_annotate` (part of valgrind's package) can run here. */
function haveCallgrindAnnotate() {
  // (`--version` prints it and exits 255: only a failure to start says it is missing.)
  return spawnSync('callgrind_annotate', ['--version'], { encoding: 'utf8' }).error === undefined;
}

/** The entries of a perf map (`/tmp/perf-<pid>.map`), sorted by address. */
function readPerfMap(file) {
  const entries = [];
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return entries;
  }
  for (const line of text.split('\n')) {
    const a = line.indexOf(' ');
    const b = line.indexOf(' ', a + 1);
    if (a <= 0 || b <= a) continue;
    const start = parseInt(line.slice(0, a), 16);
    const size = parseInt(line.slice(a + 1, b), 16);
    if (Number.isFinite(start) && Number.isFinite(size)) entries.push({ start, end: start + size, name: line.slice(b + 1) });
  }
  entries.sort((x, y) => x.start - y.start);
  return entries;
}

/** The perf map entry holding `address`, or undefined. */
function lookup(entries, address) {
  let lo = 0;
  let hi = entries.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (entries[mid].start <= address) lo = mid + 1;
    else hi = mid - 1;
  }
  const e = entries[hi];
  return e !== undefined && address < e.end ? e : undefined;
}

/**
 * A function's name as this file reports it: JIT code as `JS <function> <file:line:col>` (from the
 * perf map, with the package directories in `roots` cut from the file; `JIT (unnamed)` when the
 * map has no entry), native code as its symbol without the parameter list, with its object file's
 * base name in brackets.
 */
function functionName(fn, object, perfMap, roots = [ROOT]) {
  // callgrind marks a function's recursion depth ("'2"): one name for every depth.
  fn = fn.replace(/'\d+$/, '');
  const hex = /^0x([0-9a-f]+)$/.exec(fn);
  if (hex) {
    const e = lookup(perfMap, parseInt(hex[1], 16));
    if (e === undefined) return 'JIT (unnamed)';
    // "JS:*traced /work/main/dist/agent/bundle.js:8960:32": the tier mark (* ^ ~) is dropped.
    let name = e.name.replace(/^JS:[*^~+-]?/, 'JS ');
    for (const root of roots) name = name.split(`${root}/`).join('');
    return name;
  }
  const symbol = fn.replace(/\(anonymous namespace\)/g, '{anon}').replace(/\(.*$/, '');
  return object ? `${symbol} [${path.basename(object)}]` : symbol;
}

/**
 * Self instructions by function from `callgrind_annotate` of `outFile`, named through `perfMap`.
 * Returns {total, functions: Map(name -> instructions)}.
 */
function annotate(outFile, perfMap, roots) {
  const r = spawnSync('callgrind_annotate', ['--threshold=100', '--inclusive=no', outFile], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`callgrind_annotate ${outFile} exited ${r.status}: ${r.stderr}`);
  const functions = new Map();
  let total = 0;
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$/.exec(line);
    if (!m) continue;
    const count = Number(m[1].replace(/,/g, ''));
    let rest = m[2];
    if (rest.startsWith('PROGRAM TOTALS')) {
      total = count;
      continue;
    }
    // "file:function [object]"; file is "???" when unknown.
    let object = '';
    const bracket = rest.lastIndexOf(' [');
    if (bracket >= 0 && rest.endsWith(']')) {
      object = rest.slice(bracket + 2, -1);
      rest = rest.slice(0, bracket);
    }
    const file = /^(\?\?\?|[^\s:]+):(?!:)/.exec(rest);
    const fn = file ? rest.slice(file[0].length) : rest;
    const name = functionName(fn, object === '???' ? '' : object, perfMap, roots);
    functions.set(name, (functions.get(name) || 0) + count);
  }
  return { total, functions };
}

/**
 * Runs `node nodeArgs...` under callgrind (V8 single-threaded, its GC schedule fixed, a perf map
 * written) and returns {total, functions} (see {@link annotate}; `roots`: the package
 * directories cut from JavaScript file names, so that two builds name the same function alike).
 * `name` labels the error when the run fails.
 */
function countByFunction(name, nodeArgs, env = {}, roots = [ROOT]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otlp-mmap-callgrind-'));
  const out = path.join(dir, 'callgrind.out');
  return new Promise((resolve, reject) => {
    const args = [
      '--tool=callgrind', `--callgrind-out-file=${out}`,
      process.execPath, '--single-threaded', '--predictable-gc-schedule', '--perf-basic-prof', '--no-compact-code-space',
      ...nodeArgs,
    ];
    const child = spawn('valgrind', args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stdout.resume();
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      // valgrind runs node in its own process: the perf map is named after valgrind's pid.
      const perfMapFile = `/tmp/perf-${child.pid}.map`;
      try {
        if (code !== 0) throw new Error(`${name} exited ${code}:\n${err.slice(-2000)}`);
        resolve(annotate(out, readPerfMap(perfMapFile), roots));
      } catch (e) {
        reject(e);
      } finally {
        fs.rmSync(perfMapFile, { force: true });
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

/** Per request: (long run - short run) / (requests difference), by function. */
function perRequest(short, long, requests) {
  const out = new Map();
  for (const [k, v] of long.functions) out.set(k, (v - (short.functions.get(k) || 0)) / requests);
  for (const [k, v] of short.functions) if (!long.functions.has(k)) out.set(k, -v / requests);
  return out;
}

/** Where a function belongs, for the totals by part. */
function partOf(name) {
  if (name.startsWith('JS ')) {
    const file = name.slice(name.lastIndexOf(' ') + 1);
    if (/^dist\/(agent|instrumentations)\//.test(file)) return 'agent JavaScript';
    if (/^index\.js:/.test(file)) return "recorder's JavaScript";
    if (file.startsWith('node:')) return "Node's JavaScript";
    if (file.includes('node_modules/')) return 'app and its packages (JavaScript)';
    return 'other JavaScript';
  }
  if (name === 'JIT (unnamed)') return 'other JavaScript';
  if (/\[otlp-mmap\.[^\]]*\.node\]$/.test(name)) return 'native recorder';
  if (/\[(libc|libm|libpthread|ld-linux)[^\]]*\]$/.test(name)) return 'libc';
  if (name.startsWith('Builtins_')) return 'V8 builtins';
  if (/Heap|Mark|Scaveng|Sweep|Evacuat|RememberedSet|Compact|Slot|Page|GC/.test(name)) return 'V8 GC';
  if (/compiler::|Turbofan|Maglev|Baseline|Compil/.test(name)) return 'V8 compilers';
  if (/^node::|^napi_/.test(name)) return 'Node C++ and Node-API';
  return 'V8 runtime, other C++';
}

module.exports = { haveCallgrindAnnotate, countByFunction, perRequest, partOf, readPerfMap, lookup, functionName, annotate };
