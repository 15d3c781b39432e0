import type { InstrumentationModule } from '../types';
import { PG_VERSIONS, PgInstrumentation } from './instrumentation';

export { PgInstrumentation, PG_VERSIONS } from './instrumentation';

export const pgModule: InstrumentationModule = {
  name: 'pg',
  aliases: [],
  moduleName: 'pg',
  supportedVersions: PG_VERSIONS.text,
  builtins: [],
  enable({ tracerProvider, meterProvider }) {
    const instrumentation = new PgInstrumentation();
    instrumentation.setTracerProvider(tracerProvider);
    instrumentation.setMeterProvider(meterProvider);
    instrumentation.enable();
  },
};
