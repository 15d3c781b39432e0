/**
 * A real PostgreSQL server for tests.
 *
 * `startPostgres()` runs `initdb` on a fresh temporary directory, starts the
 * server with `pg_ctl` on 127.0.0.1 and a free port with `trust` authentication,
 * creates a test database and returns how to reach it. As root, the PostgreSQL
 * binaries refuse to run, so they are run through `runuser -u postgres --` and the
 * directory is handed to the `postgres` user.
 *
 * `sharedPostgres()` gives every test file run by the same process (a jest worker)
 * the same server, started by the first one. Jest gives each test file its own
 * module registry, so the server is found again through its directory, named after
 * the process id. Every server is stopped, and its directory removed, by a small
 * detached watcher once the process that started it has exited (even if killed);
 * `startPostgres()` servers can also be stopped at once with `stop()`.
 *
 * The binaries come from `/usr/lib/postgresql/<version>/bin` (Debian's
 * `postgresql` package: `apt-get install -y postgresql`), or from `PG_BIN_DIR`.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** How to reach a running test server. */
export interface PostgresServer {
  host: string;
  port: number;
  /** A superuser that needs no password (trust authentication on loopback). */
  user: string;
  /** A database created for the tests. */
  database: string;
  /** The data directory (for logs when a test fails). */
  dataDir: string;
  /** Stops the server and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

const SUPERUSER = 'postgres';
const TEST_DATABASE = 'otlp_mmap_test';

/** Finds the directory holding `initdb` and `pg_ctl`, newest major version first. */
export function findPostgresBinDir(): string {
  const fromEnv = process.env.PG_BIN_DIR;
  if (fromEnv && fs.existsSync(path.join(fromEnv, 'initdb'))) return fromEnv;
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root)
    ? fs.readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
    : [];
  for (const version of versions) {
    const dir = path.join(root, version, 'bin');
    if (fs.existsSync(path.join(dir, 'initdb')) && fs.existsSync(path.join(dir, 'pg_ctl'))) return dir;
  }
  throw new Error(
    `PostgreSQL server binaries not found under ${root}/*/bin (nor PG_BIN_DIR); ` +
      'install them with: apt-get update && apt-get install -y postgresql',
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

interface PostgresUser {
  uid: number;
  gid: number;
}

function postgresUser(): PostgresUser | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  const uid = Number(execFileSync('id', ['-u', SUPERUSER], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', SUPERUSER], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** Runs a PostgreSQL binary, as the `postgres` user when we are root. */
function runPg(binDir: string, owner: PostgresUser | null, tool: string, args: string[]): string {
  const exe = path.join(binDir, tool);
  const [cmd, argv] = owner ? ['runuser', ['-u', SUPERUSER, '--', exe, ...args]] : [exe, args];
  const result = spawnSync(cmd, argv, { encoding: 'utf8', cwd: os.tmpdir(), timeout: 60_000 });
  if (result.status !== 0) {
    throw new Error(
      `${tool} ${args.join(' ')} failed (status ${result.status}, signal ${result.signal}):\n` +
        `${result.stdout ?? ''}\n${result.stderr ?? ''}`,
    );
  }
  return result.stdout;
}

/**
 * A small detached process that stops the server and removes its directory once
 * `ownerPid` (this test process) is gone, however it ended: a killed jest worker
 * leaves no PostgreSQL behind.
 */
function startReaper(ownerPid: number, binDir: string, owner: PostgresUser | null, dataDir: string, root: string): ChildProcess {
  const script = `
    const { spawnSync } = require('node:child_process');
    const fs = require('node:fs');
    const [ownerPid, pgCtl, asPostgres, dataDir, root] = process.argv.slice(1);
    const alive = () => { try { process.kill(Number(ownerPid), 0); return true; } catch (e) { return e.code === 'EPERM'; } };
    process.on('SIGTERM', () => process.exit(0));
    const timer = setInterval(() => {
      if (alive()) return;
      clearInterval(timer);
      const args = ['-D', dataDir, '-m', 'immediate', '-w', 'stop'];
      if (asPostgres === '1') spawnSync('runuser', ['-u', 'postgres', '--', pgCtl, ...args], { stdio: 'ignore' });
      else spawnSync(pgCtl, args, { stdio: 'ignore' });
      fs.rmSync(root, { recursive: true, force: true });
    }, 500);
  `;
  const reaper = spawn(
    process.execPath,
    ['-e', script, String(ownerPid), path.join(binDir, 'pg_ctl'), owner ? '1' : '0', dataDir, root],
    { detached: true, stdio: 'ignore' },
  );
  reaper.unref();
  return reaper;
}

function serverAt(port: number, dataDir: string, stop: () => Promise<void>): PostgresServer {
  return { host: '127.0.0.1', port, user: SUPERUSER, database: TEST_DATABASE, dataDir, stop };
}

/**
 * Starts a new PostgreSQL server on loopback in `root` (a new temporary directory
 * when not given); see the module comment.
 */
export async function startPostgres(root: string = fs.mkdtempSync(path.join(os.tmpdir(), 'otlp-mmap-pg-'))): Promise<PostgresServer> {
  const binDir = findPostgresBinDir();
  const owner = postgresUser();
  fs.mkdirSync(root, { recursive: true });
  fs.chmodSync(root, 0o755);
  if (owner) fs.chownSync(root, owner.uid, owner.gid);
  const dataDir = path.join(root, 'data');
  const logFile = path.join(root, 'server.log');

  runPg(binDir, owner, 'initdb', [
    '-D', dataDir, '-U', SUPERUSER, '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync',
  ]);

  let port = 0;
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    port = await freePort();
    try {
      runPg(binDir, owner, 'pg_ctl', [
        '-D', dataDir, '-l', logFile, '-w', '-t', '60',
        // Loopback TCP only, the socket in our own directory, no fsync: a throwaway server.
        '-o', `-h 127.0.0.1 -p ${port} -k ${root} -F -c max_connections=50`,
        'start',
      ]);
      lastError = undefined;
      break;
    } catch (err) {
      lastError = err;
    }
  }
  if (lastError !== undefined) {
    const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '(no log)';
    fs.rmSync(root, { recursive: true, force: true });
    throw new Error(`${(lastError as Error).message}\nserver log:\n${log}`);
  }
  const reaper = startReaper(process.pid, binDir, owner, dataDir, root);

  runPg(binDir, owner, 'createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', SUPERUSER, TEST_DATABASE]);
  fs.writeFileSync(path.join(root, 'server.json'), JSON.stringify({ port }));

  let stopped = false;
  return serverAt(port, dataDir, async () => {
    if (stopped) return;
    stopped = true;
    if (reaper.pid !== undefined) {
      try {
        process.kill(reaper.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
    try {
      runPg(binDir, owner, 'pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
}

/** The directory of the server shared by this process. */
function sharedRoot(): string {
  return path.join(os.tmpdir(), `otlp-mmap-pg-worker-${process.pid}`);
}

/** The shared server of this process if it is already running (started by an earlier test file). */
function runningSharedServer(): PostgresServer | undefined {
  const root = sharedRoot();
  const stateFile = path.join(root, 'server.json');
  if (!fs.existsSync(stateFile)) return undefined;
  const { port } = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { port: number };
  const ready = spawnSync(path.join(findPostgresBinDir(), 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-U', SUPERUSER], {
    stdio: 'ignore',
    timeout: 10_000,
  });
  if (ready.status !== 0) {
    fs.rmSync(root, { recursive: true, force: true });
    return undefined;
  }
  // Shared: stopped when this process exits, not by one test file.
  return serverAt(port, path.join(root, 'data'), async () => {});
}

let shared: Promise<PostgresServer> | undefined;

/**
 * The server shared by every test file that this process (a jest worker, or jest
 * itself with `--runInBand`) runs: started by the first caller, found again by the
 * next ones through its directory `otlp-mmap-pg-worker-<pid>`, stopped when the
 * process exits. Its `stop()` does nothing; use `startPostgres()` for a private server.
 */
export function sharedPostgres(): Promise<PostgresServer> {
  shared ??= (async () => {
    const running = runningSharedServer();
    if (running) return running;
    fs.rmSync(sharedRoot(), { recursive: true, force: true }); // leftovers of an earlier process with this pid
    const server = await startPostgres(sharedRoot());
    return serverAt(server.port, server.dataDir, async () => {});
  })();
  return shared;
}

/** Forgets this test file's handle on the shared server (the server keeps running for the next file). */
export async function stopSharedPostgres(): Promise<void> {
  shared = undefined;
}
