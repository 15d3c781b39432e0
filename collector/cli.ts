/**
 * The `otlp-mmap` command: `collect`, `inspect`, `health`. `main` returns the
 * exit code (2 for a bad option or value) instead of exiting, so it can be
 * called from code and tests.
 */
import * as os from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Collector } from './collector';
import { ConfigError, parseDuration, parseInteger, resolveConfig } from './config';
import { probeHealth } from './health';
import { follow, formatHeader } from './inspect';
import { loadNative, packageRoot } from './native';
import { collectHelp, healthHelp, inspectHelp, mainHelp, parseCollectArgs, parseSimpleArgs } from './options';

/** Where the CLI writes. */
export interface CliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: NodeJS.ProcessEnv;
}

const defaultIo: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env };

function usageError(io: CliIo, e: unknown): number {
  if (e instanceof ConfigError) {
    io.stderr.write(`otlp-mmap: ${e.message}\n`);
    return 2;
  }
  throw e;
}

/**
 * Adds `by` to this process's nice value (capped at 19), so that an application sharing the CPU
 * is scheduled before the collector: its rings absorb the delay, and the application never waits
 * for telemetry. A failure is reported and changes nothing else.
 */
function lowerPriority(by: number, io: CliIo): void {
  if (by <= 0) return;
  try {
    const current = os.getPriority(0);
    const target = Math.min(19, current + by);
    if (target > current) os.setPriority(0, target);
  } catch (e) {
    io.stderr.write(`otlp-mmap: could not lower the collector's priority (--nice ${by}): ${(e as Error).message}\n`);
  }
}

const wantsHelp = (argv: string[]): boolean => argv.includes('--help') || argv.includes('-h');

async function collect(argv: string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout.write(collectHelp());
    return 0;
  }
  let config;
  try {
    config = resolveConfig(parseCollectArgs(argv), io.env);
  } catch (e) {
    return usageError(io, e);
  }
  lowerPriority(config.nice, io);
  const collector = new Collector(config);
  try {
    await collector.start();
  } catch (e) {
    io.stderr.write(`otlp-mmap: ${(e as Error).message}\n`);
    await collector.stop().catch(() => undefined);
    return 1;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (stopping) {
        io.stderr.write(`otlp-mmap: ${sig} again, exiting without waiting for the queue\n`);
        resolve(130);
        return;
      }
      stopping = true;
      collector.stop().then(
        () => resolve(0),
        (e: unknown) => {
          io.stderr.write(`otlp-mmap: shutdown failed: ${(e as Error).message}\n`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

async function inspect(argv: string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout.write(inspectHelp());
    return 0;
  }
  let file: string;
  let followMode: boolean;
  let interval = 200;
  try {
    const { options, positional } = parseSimpleArgs(argv, ['--interval'], ['--follow'], 'inspect');
    if (positional.length !== 1) throw new ConfigError(positional.length === 0 ? 'inspect needs a FILE (see otlp-mmap inspect --help)' : `inspect takes one FILE, got ${positional.length}: ${positional.join(' ')}`);
    file = path.resolve(positional[0]);
    followMode = options['--follow'] === true;
    if (typeof options['--interval'] === 'string') interval = parseDuration('--interval', options['--interval']);
  } catch (e) {
    return usageError(io, e);
  }
  let reader;
  try {
    if (!fs.statSync(file).isFile()) throw new Error('not a regular file');
    const native = loadNative();
    if (typeof native.openReader !== 'function') throw new Error('the native addon has no openReader(): rebuild it with `npm run build`');
    reader = native.openReader(file);
  } catch (e) {
    io.stderr.write(`otlp-mmap: cannot read ${file}: ${(e as Error).message}\n`);
    return 1;
  }
  try {
    io.stdout.write(`${formatHeader(file, reader)}\n`);
    if (followMode) {
      io.stderr.write('otlp-mmap: following (this consumes the messages; Ctrl-C to stop)\n');
      const ac = new AbortController();
      const stop = (): void => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await follow(reader, interval, (s) => io.stdout.write(s), ac.signal);
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    }
    return 0;
  } catch (e) {
    io.stderr.write(`otlp-mmap: ${file}: ${(e as Error).message}\n`);
    return 1;
  } finally {
    try {
      reader.close();
    } catch {
      // already closed
    }
  }
}

async function health(argv: string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout.write(healthHelp());
    return 0;
  }
  let port: number;
  let host = '127.0.0.1';
  let timeout = 2000;
  try {
    const { options, positional } = parseSimpleArgs(argv, ['--port', '--host', '--timeout'], [], 'health');
    if (positional.length > 0) throw new ConfigError(`unexpected argument ${JSON.stringify(positional[0])}`);
    const p = typeof options['--port'] === 'string' ? { what: '--port', v: options['--port'] } : io.env.OTLP_MMAP_HEALTH_PORT ? { what: 'OTLP_MMAP_HEALTH_PORT', v: io.env.OTLP_MMAP_HEALTH_PORT } : undefined;
    if (!p) throw new ConfigError('health needs --port (or OTLP_MMAP_HEALTH_PORT)');
    port = parseInteger(p.what, p.v, 1, 65535);
    if (typeof options['--host'] === 'string') host = options['--host'];
    if (typeof options['--timeout'] === 'string') timeout = parseDuration('--timeout', options['--timeout']);
  } catch (e) {
    return usageError(io, e);
  }
  try {
    const r = await probeHealth(host, port, timeout);
    io.stdout.write(`${r.status} ${r.body.trim()}\n`);
    return r.status === 200 ? 0 : 1;
  } catch (e) {
    io.stderr.write(`otlp-mmap: no collector answered on ${host}:${port}: ${(e as Error).message}\n`);
    return 1;
  }
}

/** Runs the CLI with `argv` (without `node` and the script). Resolves with the exit code. */
export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'collect':
      return collect(rest, io);
    case 'inspect':
      return inspect(rest, io);
    case 'health':
      return health(rest, io);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      io.stdout.write(mainHelp());
      return command === undefined ? 2 : 0;
    case '--version':
    case '-v': {
      const pj = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version?: string };
      io.stdout.write(`${pj.version ?? 'unknown'}\n`);
      return 0;
    }
    default:
      io.stderr.write(`otlp-mmap: unknown command ${JSON.stringify(command)} (commands: collect, inspect, health; see otlp-mmap --help)\n`);
      return 2;
  }
}

/** Entry point for `bin.js`: runs `main` and exits with its code. */
export function run(): void {
  // `otlp-mmap collect --exporter console | head`: a closed stdout ends the command quietly.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // Timers, sockets and servers are closed by now; exit promptly anyway.
      setImmediate(() => process.exit(code));
    },
    (e: unknown) => {
      process.stderr.write(`otlp-mmap: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
