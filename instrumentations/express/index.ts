import { useNamedRequireHooks } from '../common/requireHooks';
import type { InstrumentationModule } from '../types';
import { EXPRESS_VERSIONS, ExpressInstrumentation } from './instrumentation';

export { ExpressInstrumentation, EXPRESS_VERSIONS } from './instrumentation';

export const expressModule: InstrumentationModule = {
  name: 'express',
  aliases: [],
  moduleName: 'express',
  supportedVersions: EXPRESS_VERSIONS.text,
  builtins: [],
  enable({ tracerProvider, meterProvider }) {
    // Before the instrumentation is made: it registers its module name with the hooks it finds.
    useNamedRequireHooks();
    const instrumentation = new ExpressInstrumentation({ enabled: false });
    instrumentation.setTracerProvider(tracerProvider);
    instrumentation.setMeterProvider(meterProvider);
    instrumentation.enable();
  },
};
