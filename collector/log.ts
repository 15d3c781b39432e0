/**
 * The collector's diagnostic log: one line per message on stderr (or a given
 * stream), with a level filter and per-key rate limiting so that a failing
 * receiver or a corrupt file cannot flood the log.
 */
import type { LogLevel } from './config';

const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** A line-oriented logger. */
export interface Logger {
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
  /** Logs at `level` at most once per `intervalMs` for the same `key`; returns whether it logged. Suppressed repeats are counted and reported with the next line. */
  limited(level: LogLevel, key: string, intervalMs: number, msg: string): boolean;
}

/** Creates a logger writing `<ISO time> otlp-mmap <level>: <message>` lines. */
export function createLogger(level: LogLevel = 'info', out: { write(s: string): unknown } = process.stderr): Logger {
  const last = new Map<string, { at: number; suppressed: number }>();
  const write = (l: LogLevel, msg: string): void => {
    if (ORDER[l] > ORDER[level]) return;
    out.write(`${new Date().toISOString()} otlp-mmap ${l}: ${msg}\n`);
  };
  return {
    error: (m) => write('error', m),
    warn: (m) => write('warn', m),
    info: (m) => write('info', m),
    debug: (m) => write('debug', m),
    limited(l, key, intervalMs, msg) {
      const now = Date.now();
      const prev = last.get(key);
      if (prev && now - prev.at < intervalMs) {
        prev.suppressed++;
        return false;
      }
      if (last.size > 10_000) last.clear();
      last.set(key, { at: now, suppressed: 0 });
      write(l, prev && prev.suppressed > 0 ? `${msg} (${prev.suppressed} similar message(s) suppressed)` : msg);
      return true;
    },
  };
}

/** A logger that discards everything. */
export const silentLogger: Logger = { error() {}, warn() {}, info() {}, debug() {}, limited: () => false };
