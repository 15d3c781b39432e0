/**
 * http and https, server and client, through `@opentelemetry/instrumentation-http`.
 * Its 0.223 line emits current (stable) HTTP semantic conventions only, so there
 * is no `OTEL_SEMCONV_STABILITY_OPT_IN` to set, and it records the
 * `http.server.request.duration` / `http.client.request.duration` histograms.
 * The express instrumentation puts the matched route into the request's RPC
 * metadata; this one then names the server span `GET /users/:id` and adds `http.route`.
 */
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import type { InstrumentationModule } from './types';

export const httpModule: InstrumentationModule = {
  name: 'http',
  aliases: [],
  moduleName: 'http, https (Node core)',
  supportedVersions: 'the running Node.js',
  builtins: ['http', 'https'],
  enable({ tracerProvider, meterProvider }) {
    const instrumentation = new HttpInstrumentation({ enabled: false });
    instrumentation.setTracerProvider(tracerProvider);
    instrumentation.setMeterProvider(meterProvider);
    instrumentation.enable();
  },
};
