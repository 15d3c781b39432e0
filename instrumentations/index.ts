/**
 * The instrumentations: http, express, pg and fetch. The agent calls
 * `enableInstrumentations` once, after its providers exist; nothing here knows
 * about the recorder, only the `@opentelemetry/api` providers it is given.
 */
import { diag, type MeterProvider, type TracerProvider } from '@opentelemetry/api';
import { selectInstrumentations, type InstrumentationSelection } from './registry';
import type { InstrumentationModule } from './types';

export { INSTRUMENTATIONS, selectInstrumentations } from './registry';
export type { InstrumentationSelection } from './registry';
export type { InstrumentationModule, InstrumentationName, Providers } from './types';

const enabledNames = new Set<string>();
const failedNames = new Set<string>();

/**
 * Hooks the selected libraries so their work is recorded through the given providers.
 *
 * Names are `http`, `express`, `pg` and `fetch` (alias `undici`); `enabled === null`
 * means all of them, and `disabled` wins over `enabled`. An instrumentation already
 * enabled in this process is not enabled again. Never throws: a failing
 * instrumentation is reported through `diag` and the others still run.
 *
 * @param config which instrumentations to enable
 * @param tracerProvider where spans go
 * @param meterProvider where duration histograms go
 * @returns the selected instrumentations that are running (enabled now or before)
 */
export function enableInstrumentations(
  config: InstrumentationSelection,
  tracerProvider: TracerProvider,
  meterProvider: MeterProvider,
): InstrumentationModule[] {
  let selected;
  try {
    selected = selectInstrumentations(config);
  } catch (err) {
    diag.error('otlp-mmap: could not select instrumentations', err);
    return [];
  }
  const running: InstrumentationModule[] = [];
  for (const module of selected) {
    if (enabledNames.has(module.name)) {
      diag.debug(`otlp-mmap: instrumentation ${module.name} already enabled`);
      if (!failedNames.has(module.name)) running.push(module);
      continue;
    }
    enabledNames.add(module.name);
    try {
      module.enable({ tracerProvider, meterProvider });
      running.push(module);
      diag.debug(`otlp-mmap: instrumentation ${module.name} enabled for ${module.moduleName} ${module.supportedVersions}`);
    } catch (err) {
      failedNames.add(module.name);
      diag.error(`otlp-mmap: instrumentation ${module.name} failed to start; ${module.moduleName} is not instrumented`, err);
    }
  }
  return running;
}
