/**
 * The agent's own messages. Startup problems go straight to stderr (one line each, so a user
 * sees them whatever `OTEL_LOG_LEVEL` says); runtime errors inside the providers go through
 * `diag`, once per kind, so a broken call site cannot flood the log.
 */
import { diag } from '@opentelemetry/api';

const PREFIX = 'otlp-mmap: ';
const reported = new Set<string>();

let quiet = false;
let diagConfigured = false;

/** Records that the agent installed a diag logger (`OTEL_LOG_LEVEL` set): runtime errors then go through `diag`. */
export function setDiagConfigured(value: boolean): void {
  diagConfigured = value;
}

/** Silences {@link warnStartup} (used for `OTEL_LOG_LEVEL=none`). */
export function setQuiet(value: boolean): void {
  quiet = value;
}

/** Writes one warning line to stderr. Never throws. */
export function warnStartup(message: string): void {
  if (quiet) return;
  try {
    process.stderr.write(`${PREFIX}${message}\n`);
  } catch {
    // stderr closed: nothing we can do.
  }
}

/**
 * Reports a runtime error once per `key`: through `diag.error` when `OTEL_LOG_LEVEL` configured
 * a logger, else as one stderr line. Never throws.
 *
 * @param key - what failed (for example `span.end`); later errors with the same key are counted silently.
 * @param error - the error caught.
 */
export function reportOnce(key: string, error: unknown): void {
  if (reported.has(key)) return;
  reported.add(key);
  try {
    const text = error instanceof Error ? error.message : String(error);
    if (diagConfigured) diag.error(`${PREFIX}${key} failed (reported once): ${text}`);
    else warnStartup(`${key} failed (reported once): ${text}`);
  } catch {
    // a broken diag logger must not escape either.
  }
}
