'use strict';
// A throwaway PostgreSQL server for the express + pg benchmark: initdb in a new
// temporary directory, pg_ctl start on 127.0.0.1 and a free port (trust auth, no
// fsync), a `bench` database with a 1000-row `users` table. As root the binaries
// run through `runuser -u postgres`. Binaries: PG_BIN_DIR or /usr/lib/postgresql/<newest>/bin.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { procStat } = require('./common');

function binDir() {
  if (process.env.PG_BIN_DIR) return process.env.PG_BIN_DIR;
  const root = '/usr/lib/postgresql';
  const v = fs.existsSync(root) ? fs.readdirSync(root).filter((x) => /^\d+$/.test(x)).sort((a, b) => b - a) : [];
  for (const x of v) if (fs.existsSync(path.join(root, x, 'bin', 'pg_ctl'))) return path.join(root, x, 'bin');
  throw new Error('PostgreSQL binaries not found (apt-get install -y postgresql, or set PG_BIN_DIR)');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function run(bin, tool, argv, cpu) {
  const exe = path.join(bin, tool);
  let cmd = asRoot ? 'runuser' : exe;
  let a = asRoot ? ['-u', 'postgres', '--', exe, ...argv] : argv;
  if (cpu !== undefined && spawnSync('taskset', ['-c', '0', 'true']).status === 0) {
    a = ['-c', String(cpu), cmd, ...a];
    cmd = 'taskset';
  }
  const r = spawnSync(cmd, a, { encoding: 'utf8', cwd: os.tmpdir(), timeout: 120000 });
  if (r.status !== 0) throw new Error(`${tool} ${argv.join(' ')} failed: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/**
 * The CPU the server has used since it started, in microseconds: the postmaster's own and its
 * reaped backends', and its live children's (`/proc`). For `foreignCpu`, so that a count beside
 * the server does not take its queries for other work.
 */
function serverCpuMicros(data) {
  let pm;
  try {
    pm = Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n', 1)[0]);
  } catch {
    return 0;
  }
  const own = procStat(pm);
  if (own === null) return 0;
  let us = own.userUs + own.sysUs + own.reapedUs;
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = procStat(name);
    if (s !== null && s.ppid === pm) us += s.userUs + s.sysUs;
  }
  return us;
}

/**
 * Starts the server (its processes pinned to `cpu`), returns {host, port, user, database, stop(),
 * cpuMicros()} (cpuMicros: the server's CPU so far, see `serverCpuMicros`).
 */
async function startPostgres({ cpu } = {}) {
  const bin = binDir();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'otlp-mmap-bench-pg-'));
  fs.chmodSync(root, 0o755);
  if (asRoot) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout);
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout);
    fs.chownSync(root, uid, gid);
  }
  const data = path.join(root, 'data');
  run(bin, 'initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  const port = await freePort();
  run(bin, 'pg_ctl', ['-D', data, '-l', path.join(root, 'log'), '-w', '-t', '60', '-o', `-h 127.0.0.1 -p ${port} -k ${root} -F -c max_connections=50`, 'start'], cpu);
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    try {
      run(bin, 'pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  };
  process.on('exit', stop);
  run(bin, 'createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'bench']);
  const { Client } = require('pg');
  const c = new Client({ host: '127.0.0.1', port, user: 'postgres', database: 'bench' });
  await c.connect();
  await c.query('CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL)');
  await c.query("INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 1000) g");
  await c.end();
  return { host: '127.0.0.1', port, user: 'postgres', database: 'bench', stop, cpuMicros: () => serverCpuMicros(data) };
}

module.exports = { startPostgres };
