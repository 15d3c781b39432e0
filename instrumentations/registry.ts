import { diag } from '@opentelemetry/api';
import { expressModule } from './express';
import { fetchModule } from './fetch';
import { httpModule } from './http';
import { pgModule } from './pg';
import type { InstrumentationModule } from './types';

/** Every instrumentation this package has, in the order they are enabled. */
export const INSTRUMENTATIONS: readonly InstrumentationModule[] = [httpModule, expressModule, pgModule, fetchModule];

/** Which instrumentations to run: `enabled === null` means all of them, minus `disabled`. */
export interface InstrumentationSelection {
  enabled: Set<string> | null;
  disabled: Set<string>;
}

function matches(module: InstrumentationModule, names: Set<string>): boolean {
  return names.has(module.name) || module.aliases.some((alias) => names.has(alias));
}

/**
 * The instrumentations a selection turns on. Unknown names give one diag warning
 * each and are otherwise ignored.
 */
export function selectInstrumentations(selection: InstrumentationSelection): InstrumentationModule[] {
  const known = new Set<string>();
  for (const module of INSTRUMENTATIONS) {
    known.add(module.name);
    for (const alias of module.aliases) known.add(alias);
  }
  for (const name of [...(selection.enabled ?? []), ...selection.disabled]) {
    if (!known.has(name)) {
      diag.warn(`otlp-mmap: unknown instrumentation "${name}" ignored; known names: ${[...known].join(', ')}`);
    }
  }
  return INSTRUMENTATIONS.filter(
    (module) =>
      (selection.enabled === null || matches(module, selection.enabled)) && !matches(module, selection.disabled),
  );
}
