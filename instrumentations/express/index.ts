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
    const instrumentation = new ExpressInstrumentation();
    instrumentation.setTracerProvider(tracerProvider);
    instrumentation.setMeterProvider(meterProvider);
    instrumentation.enable();
  },
};
