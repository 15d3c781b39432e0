import { useNamedRequireHooks } from '../common/requireHooks';
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
    // Before the instrumentation is made: it registers its module name with the hooks it finds.
    useNamedRequireHooks();
    const instrumentation = new PgInstrumentation({ enabled: false });
    instrumentation.setTracerProvider(tracerProvider);
    instrumentation.setMeterProvider(meterProvider);
    instrumentation.enable();
  },
};
