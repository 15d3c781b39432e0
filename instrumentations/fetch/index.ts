import type { InstrumentationModule } from '../types';
import { enableFetchInstrumentation, UNDICI_VERSIONS } from './instrumentation';

export { enableFetchInstrumentation, UNDICI_VERSIONS } from './instrumentation';

export const fetchModule: InstrumentationModule = {
  name: 'fetch',
  aliases: ['undici'],
  moduleName: 'undici (Node.js global fetch)',
  supportedVersions: UNDICI_VERSIONS.text,
  builtins: [],
  enable({ tracerProvider, meterProvider }) {
    enableFetchInstrumentation(tracerProvider, meterProvider);
  },
};
