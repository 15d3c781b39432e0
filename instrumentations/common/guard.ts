import { diag } from '@opentelemetry/api';

/**
 * Runs a module patch; if it throws, says so through diag and hands back the module
 * untouched, so a failing instrumentation never breaks the app's `require`/`import`.
 */
export function guardedPatch(library: string, moduleExports: unknown, patch: () => unknown): unknown {
  try {
    return patch();
  } catch (err) {
    diag.error(`otlp-mmap: could not instrument ${library}; it runs uninstrumented`, err);
    return moduleExports;
  }
}

/** Runs a module unpatch; a failure is only reported through diag. */
export function guardedUnpatch(library: string, unpatch: () => void): void {
  try {
    unpatch();
  } catch (err) {
    diag.debug(`otlp-mmap: could not remove the ${library} instrumentation`, err);
  }
}
