'use strict';
// Shared helpers of the benchmark suite: arguments, statistics, child processes
// pinned to a core, /proc readings, autocannon, markdown tables, JSON results, SVG plots.
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');

const ROOT = path.resolve(__dirname, '..', '..');
// BENCH_RESULTS_DIR: write results elsewhere (the smoke test does, to keep bench/results intact).
const RESULTS = process.env.BENCH_RESULTS_DIR || path.join(ROOT, 'bench', 'results');
const APPS = path.join(ROOT, 'bench', 'apps');
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const HAVE_TASKSET = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const NCPU = os.cpus().length;
/** The app's core and the load generator's (plus sink and collector) core. */
const APP_CPU = '0';
const LOAD_CPU = NCPU > 1 ? '1' : '0';

/** Whether valgrind can run here (`apt-get install valgrind`). */
function haveValgrind() {
  return spawnSync('valgrind', ['--version'], { encoding: 'utf8' }).status === 0;
}

/**
 * Instructions executed by `node nodeArgs...` under valgrind (cachegrind, no cache simulation),
 * V8 single-threaded (compiler and GC on the main thread, so the count does not depend on thread
 * timing). `name` labels the error when the run fails.
 */
function countInstructions(name, nodeArgs, env = {}) {
  return countEvents(name, nodeArgs, env).then((e) => e.instructions);
}

/** The events `countEvents` reports, with cachegrind's summary label for each. */
const CACHEGRIND_EVENTS = [
  ['instructions', /I\s+refs:\s+([\d,]+)/],
  ['i1Misses', /I1\s+misses:\s+([\d,]+)/],
  ['d1Misses', /D1\s+misses:\s+([\d,]+)/],
  ['llMisses', /LL misses:\s+([\d,]+)/],
  ['branches', /Branches:\s+([\d,]+)/],
  ['mispredicts', /Mispredicts:\s+([\d,]+)/],
];

/**
 * Like `countInstructions`, and with `cacheSim` also cachegrind's simulated cache and branch
 * predictor: {instructions, i1Misses, d1Misses, llMisses, branches, mispredicts} (the last five
 * only with `cacheSim`). The simulation models this machine's caches as cachegrind sees them and
 * a simple branch predictor: a guide to where time goes that instructions do not show, not a
 * measurement of this CPU.
 */
function countEvents(name, nodeArgs, env = {}, { cacheSim = false } = {}) {
  return new Promise((resolve, reject) => {
    const args = [
      '--tool=cachegrind', `--cache-sim=${cacheSim ? 'yes' : 'no'}`, ...(cacheSim ? ['--branch-sim=yes'] : []), '--cachegrind-out-file=/dev/null',
      process.execPath, '--single-threaded', '--predictable-gc-schedule', ...nodeArgs,
    ];
    const child = spawn('valgrind', args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const events = {};
      for (const [key, re] of CACHEGRIND_EVENTS) {
        const m = re.exec(err);
        if (m) events[key] = Number(m[1].replace(/,/g, ''));
      }
      const missing = CACHEGRIND_EVENTS.filter(([key], i) => (i === 0 || cacheSim) && events[key] === undefined);
      if (code !== 0 || missing.length > 0) return reject(new Error(`${name} exited ${code}:\n${err.slice(-2000)}\n${out}`));
      resolve(events);
    });
  });
}

/**
 * The comment block at the top of `file` (after a shebang and `'use strict'`): each script's
 * description and usage line.
 */
function usageOf(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  let i = 0;
  while (i < lines.length && (lines[i].startsWith('#!') || lines[i].trim() === "'use strict';" || lines[i].trim() === '')) i++;
  const out = [];
  for (; i < lines.length && lines[i].startsWith('//'); i++) out.push(lines[i].replace(/^\/\/ ?/, ''));
  return out.join('\n');
}

/**
 * Exits after printing the running script's usage when `argv` asks for help (`--help`, `-h`):
 * a benchmark run takes minutes, and rewrites bench/results.
 */
function helpRequested(argv = process.argv.slice(2)) {
  if (!argv.includes('--help') && !argv.includes('-h')) return;
  process.stdout.write(`${usageOf(process.argv[1])}\n`);
  process.exit(0);
}

/** `--name value` / `--flag` parsing (`--help` prints the script's usage and exits). */
function args(argv = process.argv.slice(2)) {
  helpRequested(argv);
  return {
    has: (name) => argv.includes(name),
    get: (name, def) => {
      const i = argv.indexOf(name);
      return i >= 0 && i + 1 < argv.length ? argv[i + 1] : def;
    },
    num: (name, def) => {
      const i = argv.indexOf(name);
      return i >= 0 ? Number(argv[i + 1]) : def;
    },
  };
}

function median(xs) {
  const s = xs.filter((x) => x !== null && x !== undefined && !Number.isNaN(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Command prefix pinning to a core (nothing when taskset is missing). */
function pinned(cpu, cmd, argv) {
  return HAVE_TASKSET && cpu !== null && cpu !== undefined ? ['taskset', ['-c', String(cpu), cmd, ...argv]] : [cmd, argv];
}

/**
 * Starts a process pinned to `cpu`. With `waitFor` (a RegExp), resolves once a
 * stdout line matches it and returns the match. stderr is kept (last 64 KiB).
 */
function start(cmd, argv, { cpu, env, cwd = ROOT, waitFor, timeoutMs = 30000, onStderr } = {}) {
  const [c, a] = pinned(cpu, cmd, argv);
  const child = spawn(c, a, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = { child, pid: child.pid, stdout: '', stderr: '', match: null, exited: false, code: null, signal: null };
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    proc.stderr = (proc.stderr + d).slice(-65536);
    if (onStderr) onStderr(d);
  });
  child.stdout.setEncoding('utf8');
  const exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      proc.exited = true;
      proc.code = code;
      proc.signal = signal;
      resolve();
    }),
  );
  proc.exitedPromise = exited;
  let resolveMatch;
  const matched = new Promise((r) => (resolveMatch = r));
  child.stdout.on('data', (d) => {
    proc.stdout = (proc.stdout + d).slice(-65536);
    if (waitFor && !proc.match) {
      const m = proc.stdout.match(waitFor);
      if (m) {
        proc.match = m;
        resolveMatch(m);
      }
    }
  });
  if (!waitFor) return Promise.resolve(proc);
  let timer;
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => {
      if (proc.match) return resolve(proc);
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${argv.join(' ')} not ready after ${timeoutMs} ms:\n${proc.stderr}`));
    }, timeoutMs);
  });
  return Promise.race([
    matched.then(() => proc),
    exited.then(() => {
      if (proc.match) return proc;
      throw new Error(`${cmd} ${argv.join(' ')} exited (${proc.code ?? proc.signal}) before ready:\n${proc.stderr}`);
    }),
    timeout,
  ]).finally(() => clearTimeout(timer));
}

/**
 * Runs every variant once per round, interleaved; the order rotates every round so that
 * drift hits every variant alike. `measure(v)` gives one sample; `describe(sample)` the
 * progress line. Returns the samples by variant key (`v.key`).
 */
async function interleave(list, rounds, measure, describe) {
  const samples = new Map(list.map((v) => [v.key, []]));
  for (let r = 0; r < rounds; r++) {
    const order = list.map((_, i) => list[(i + r) % list.length]);
    for (const v of order) {
      const m = await measure(v);
      samples.get(v.key).push(m);
      process.stderr.write(`round ${r + 1}: ${v.name}: ${describe(m)}\n`);
    }
  }
  return samples;
}

/** Stops a started process (signal, then SIGKILL after `graceMs`). */
async function stop(proc, signal = 'SIGTERM', graceMs = 5000) {
  if (!proc || proc.exited) return;
  try {
    proc.child.kill(signal);
  } catch {}
  let t;
  await Promise.race([proc.exitedPromise, new Promise((r) => (t = setTimeout(r, graceMs)))]);
  clearTimeout(t);
  if (!proc.exited) {
    try {
      proc.child.kill('SIGKILL');
    } catch {}
    await proc.exitedPromise;
  }
}

/** CPU time (user + system, all threads) of a process in microseconds. */
function cpuMicros(pid) {
  const s = procStat(pid);
  return s === null ? null : s.userUs + s.sysUs;
}

/**
 * A process's CPU split and page faults (all threads, since start), the CPU of its children that
 * have exited and were waited for (reapedUs), its parent, and its main thread's context switches:
 * {userUs, sysUs, reapedUs, ppid, minflt, majflt, voluntary, involuntary}, or null when it is gone.
 * `pid` may also be `<pid>/task/<tid>`: then the figures are that one thread's, or `self`.
 */
function procStat(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const num = (k) => Number((status.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm')) || [0, 0])[1]);
    // After the ")": ppid is field 4 of stat (index 1), minflt 10 (7), majflt 12 (9), utime 14 (11),
    // stime 15 (12), cutime 16 (13), cstime 17 (14).
    return {
      userUs: (Number(f[11]) * 1e6) / CLK_TCK,
      sysUs: (Number(f[12]) * 1e6) / CLK_TCK,
      reapedUs: ((Number(f[13]) + Number(f[14])) * 1e6) / CLK_TCK,
      ppid: Number(f[1]),
      minflt: Number(f[7]),
      majflt: Number(f[9]),
      voluntary: num('voluntary_ctxt_switches'),
      involuntary: num('nonvoluntary_ctxt_switches'),
    };
  } catch {
    return null;
  }
}

/** Resident set size and its peak (VmHWM) in MB. */
function rssMB(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number((s.match(new RegExp(`${k}:\\s+(\\d+)`)) || [0, 0])[1]);
    return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
  } catch {
    return { rss: null, peak: null };
  }
}

/** Busy CPU time of the whole machine (all CPUs: user, nice, system, irq, softirq), in microseconds. */
function machineBusyMicros() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  return ((f[0] + f[1] + f[2] + f[5] + f[6]) * 1e6) / CLK_TCK;
}

/** CPU time of this process and of its children that have exited (and were waited for), in microseconds. */
function selfAndReapedMicros() {
  const s = procStat('self');
  return s.userUs + s.sysUs + s.reapedUs;
}

/**
 * Measures the CPU that processes other than this one, its exited children and `ownPids` take
 * (and beyond them, what `moreOwnMicros()`, a running total in µs, counts: a database server's
 * processes) from now until `stop()`, which returns it as cores (1 = one core busy all along). Instruction
 * counts move by thousands per request when something else runs (the event loop batches I/O
 * differently), so a count taken beside other work says so.
 */
function foreignCpu(ownPids = [], moreOwnMicros = () => 0) {
  const own = () => selfAndReapedMicros() + ownPids.reduce((sum, pid) => sum + (cpuMicros(pid) ?? 0), 0) + moreOwnMicros();
  const t0 = process.hrtime.bigint();
  const busy0 = machineBusyMicros();
  const own0 = own();
  return {
    stop() {
      const wallUs = Number(process.hrtime.bigint() - t0) / 1e3;
      const foreign = machineBusyMicros() - busy0 - (own() - own0);
      return { foreignCores: wallUs > 0 ? Math.max(0, foreign) / wallUs : 0 };
    },
  };
}

/** Machine load averages. */
function loadavg() {
  return os.loadavg().map((x) => +x.toFixed(2));
}

/**
 * Runs autocannon (through bench/apps/load.js, which also records latency at
 * sub-millisecond precision) pinned to the load core; returns its JSON summary.
 */
async function autocannon(url, { connections = 10, duration = 10, amount, rate } = {}) {
  const a = [path.join(APPS, 'load.js'), url, '--connections', String(connections)];
  if (amount) a.push('--amount', String(amount));
  else a.push('--duration', String(duration));
  if (rate) a.push('--rate', String(rate));
  const p = await start(process.execPath, a, { cpu: LOAD_CPU });
  await p.exitedPromise;
  const text = p.stdout.trim();
  try {
    return JSON.parse(text.slice(text.lastIndexOf('\n{') + 1));
  } catch {
    throw new Error(`load generator output not JSON (exit ${p.code}):\n${text}\n${p.stderr}`);
  }
}

/** GET a URL, parse JSON. */
function getJson(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let b = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (b += d));
        res.on('end', () => {
          try {
            resolve(JSON.parse(b));
          } catch (e) {
            reject(e);
          }
        });
      })
      .on('error', reject);
  });
}

/** Starts the discarding OTLP/HTTP sink on the load core. */
async function startSink({ count = false } = {}) {
  const p = await start(process.execPath, [path.join(APPS, 'otlp-sink.js'), ...(count ? ['--count'] : [])], {
    cpu: LOAD_CPU,
    waitFor: /listening (\d+)/,
  });
  // The sink stands in for a remote backend: at the lowest priority it never delays the load
  // generator it shares a core with (its bursts of decoding followed each variant's exports).
  try {
    os.setPriority(p.pid, 19);
  } catch {
    // Not fatal: the figures are then as before.
  }
  p.port = Number(p.match[1]);
  p.url = `http://127.0.0.1:${p.port}`;
  return p;
}

/** A markdown table from rows of objects (columns: [[key, title, fmt]]). */
function table(rows, columns) {
  const head = `| ${columns.map((c) => c[1]).join(' | ')} |`;
  const sep = `|${columns.map((c, i) => (i === 0 ? '---' : '---:')).join('|')}|`;
  const body = rows.map((r) => `| ${columns.map(([k, , f]) => (r[k] === null || r[k] === undefined ? '-' : f ? f(r[k], r) : String(r[k]))).join(' | ')} |`);
  return [head, sep, ...body].join('\n');
}

const fmt = {
  int: (x) => Math.round(x).toLocaleString('en-US'),
  f1: (x) => x.toFixed(1),
  f2: (x) => x.toFixed(2),
  pct: (x) => `${(x * 100).toFixed(1)}%`,
  ratio: (x) => `${x.toFixed(2)}x`,
  signed: (x) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`,
  signedInt: (x) => `${x >= 0 ? '+' : ''}${Math.round(x).toLocaleString('en-US')}`,
};

function machine() {
  return {
    node: process.version,
    cpu: os.cpus()[0].model,
    cpus: NCPU,
    memGB: +(os.totalmem() / 2 ** 30).toFixed(1),
    kernel: os.release(),
    taskset: HAVE_TASKSET,
    loadavgAtStart: loadavg(),
  };
}

function writeResult(name, data) {
  fs.mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, `${name}.json`);
  fs.writeFileSync(file, `${JSON.stringify({ benchmark: name, date: new Date().toISOString(), machine: machine(), ...data }, null, 2)}\n`);
  return file;
}

function writeText(name, text) {
  fs.mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, name);
  fs.writeFileSync(file, text);
  return file;
}

// ------------------------------------------------------------------ SVG plots

const PALETTE = ['#7f7f7f', '#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceTicks(min, max, n = 5) {
  const span = max - min || 1;
  const step0 = span / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0) || mag * 10;
  const ticks = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(+v.toPrecision(10));
  return ticks;
}

/**
 * A line chart. series: [{name, points: [[x, y], ...]}]. opts: {title, xLabel,
 * yLabel, xTicks: [[x, label]], xLog, yMin}.
 */
function lineChart(series, opts) {
  const W = 720;
  const H = 420;
  const L = 70;
  const R = 180;
  const T = 40;
  const B = 55;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const tx = opts.xLog ? (x) => Math.log10(x) : (x) => x;
  const xmin = Math.min(...xs.map(tx));
  const xmax = Math.max(...xs.map(tx));
  const ymin = opts.yMin ?? 0;
  const yticks = niceTicks(ymin, Math.max(...ys) * 1.05);
  const ymax = yticks[yticks.length - 1];
  const X = (x) => L + ((tx(x) - xmin) / (xmax - xmin || 1)) * (W - L - R);
  const Y = (y) => H - B - ((y - ymin) / (ymax - ymin || 1)) * (H - T - B);
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(opts.title)}</text>`);
  for (const t of yticks) {
    out.push(`<line x1="${L}" x2="${W - R}" y1="${Y(t)}" y2="${Y(t)}" stroke="#ddd"/>`);
    out.push(`<text x="${L - 6}" y="${Y(t) + 4}" text-anchor="end">${t}</text>`);
  }
  const xt = opts.xTicks || niceTicks(xmin, xmax).map((x) => [x, String(x)]);
  for (const [x, label] of xt) {
    out.push(`<line x1="${X(x)}" x2="${X(x)}" y1="${T}" y2="${H - B}" stroke="#eee"/>`);
    out.push(`<text x="${X(x)}" y="${H - B + 16}" text-anchor="middle">${esc(label)}</text>`);
  }
  out.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="black"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="black"/>`);
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`);
  series.forEach((s, i) => {
    const color = s.color || PALETTE[i % PALETTE.length];
    const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dash ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const p of s.points) out.push(`<circle cx="${X(p[0]).toFixed(1)}" cy="${Y(p[1]).toFixed(1)}" r="3" fill="${color}"/>`);
    out.push(`<line x1="${W - R + 12}" x2="${W - R + 36}" y1="${T + 10 + i * 20}" y2="${T + 10 + i * 20}" stroke="${color}" stroke-width="2"${s.dash ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${W - R + 42}" y="${T + 14 + i * 20}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** A grouped horizontal bar chart. groups: [{name, bars: [{name, value}]}]. */
function barChart(groups, opts) {
  const names = [...new Set(groups.flatMap((g) => g.bars.map((b) => b.name)))];
  const W = 720;
  const rowH = 18;
  const L = 190;
  const R = 90;
  const T = 40;
  const gap = 14;
  const H = T + groups.length * (names.length * rowH + gap) + 40;
  const max = Math.max(...groups.flatMap((g) => g.bars.map((b) => b.value)), 1e-9);
  const X = (v) => (v / max) * (W - L - R);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(opts.title)}</text>`);
  let y = T;
  for (const g of groups) {
    out.push(`<text x="${L - 8}" y="${y + (names.length * rowH) / 2 + 4}" text-anchor="end" font-weight="bold">${esc(g.name)}</text>`);
    for (const b of g.bars) {
      const i = names.indexOf(b.name);
      const color = PALETTE[i % PALETTE.length];
      out.push(`<rect x="${L}" y="${y + i * rowH + 2}" width="${X(b.value).toFixed(1)}" height="${rowH - 4}" fill="${color}"/>`);
      out.push(`<text x="${L + X(b.value) + 4}" y="${y + i * rowH + 13}">${esc(opts.format ? opts.format(b.value) : b.value)}</text>`);
    }
    y += names.length * rowH + gap;
  }
  names.forEach((n, i) => {
    out.push(`<rect x="${L + i * 150}" y="${H - 24}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/><text x="${L + i * 150 + 16}" y="${H - 14}">${esc(n)}</text>`);
  });
  out.push(`<text x="12" y="${H - 14}">${esc(opts.unit || '')}</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** A temporary directory (on /dev/shm when available, like a tmpfs volume). */
function tmpDir(prefix) {
  return fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), prefix));
}

module.exports = {
  helpRequested, haveValgrind, countInstructions, countEvents,
  ROOT, RESULTS, APPS, CLK_TCK, HAVE_TASKSET, APP_CPU, LOAD_CPU, NCPU,
  args, median, sleep, interleave, pinned, start, stop, cpuMicros, procStat, rssMB, loadavg, foreignCpu, autocannon, getJson, startSink,
  table, fmt, machine, writeResult, writeText, lineChart, barChart, tmpDir, execFileSync,
};
