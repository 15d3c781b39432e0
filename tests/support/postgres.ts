/**
 * A real PostgreSQL server for tests.
 *
 * `startPostgres()` runs `initdb` on a fresh temporary directory, starts the
 * server with `pg_ctl` on 127.0.0.1 and a free port with `trust` authentication,
 * creates a test database and returns how to reach it. As root, the PostgreSQL
 * binaries refuse to run, so they are run through `runuser -u postgres --` and the
 * directory is handed to the `postgres` user.
 *
 * `sharedPostgres()` starts one server lazily and returns the same one to every
 * caller in the same module registry. Jest gives each test file its own module
 * registry, so in practice a test file starts at most one server; the server is
 * stopped by `stopSharedPostgres()` (call it in `afterAll`) and, as a safety net,
 * when the worker process exits.
 *
 * The binaries come from `/usr/lib/postgresql/<version>/bin` (Debian's
 * `postgresql` package: `apt-get install -y postgresql`), or from `PG_BIN_DIR`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
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

/** Starts a new PostgreSQL server on loopback; see the module comment. */
export async function startPostgres(): Promise<PostgresServer> {
  const binDir = findPostgresBinDir();
  const owner = postgresUser();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'otlp-mmap-pg-'));
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

  runPg(binDir, owner, 'createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', SUPERUSER, TEST_DATABASE]);

  let stopped = false;
  const stopSync = (): void => {
    if (stopped) return;
    stopped = true;
    try {
      runPg(binDir, owner, 'pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  };
  process.once('exit', () => {
    try {
      stopSync();
    } catch {
      // The process is exiting; nothing else can be done.
    }
  });
  return {
    host: '127.0.0.1',
    port,
    user: SUPERUSER,
    database: TEST_DATABASE,
    dataDir,
    stop: async () => stopSync(),
  };
}

let shared: Promise<PostgresServer> | undefined;

/** The server shared by this module registry (one per jest test file), started on first use. */
export function sharedPostgres(): Promise<PostgresServer> {
  shared ??= startPostgres();
  return shared;
}

/** Stops the shared server if one was started. Call it from `afterAll`. */
export async function stopSharedPostgres(): Promise<void> {
  const current = shared;
  shared = undefined;
  if (current) await (await current).stop();
}
