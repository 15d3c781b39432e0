import { diag } from '@opentelemetry/api';

const reported = new Set<string>();

/**
 * Reports an internal failure of the http instrumentation once per `what` through the diag
 * logger; the app's request goes on untouched.
 */
export function reportOnce(what: string, error: unknown): void {
  if (reported.has(what)) return;
  reported.add(what);
  diag.error(`otlp-mmap: http instrumentation: ${what} failed; the request is not traced fully`, error);
}
