/**
 * http and https, server and client: our own instrumentation (it replaced
 * `@opentelemetry/instrumentation-http`, whose per-request cost was the largest part of what the
 * agent added to a request; see BENCHMARKS.md). It emits the stable HTTP semantic conventions —
 * the same span attributes and duration histograms as the official instrumentation's 0.223 line,
 * plus `error.type` on 5xx server spans as the conventions ask — and reads the route that a
 * framework instrumentation (express) stores in `@opentelemetry/core`'s RPC metadata.
 *
 * Core modules are singletons, so the patch is applied once at enable time: `Server.prototype.emit`
 * of `http` and `https`, and `request`/`get` of both modules. ES modules that import `node:http`
 * after the agent started see the patched functions too.
 */
import http = require('node:http');
import https = require('node:https');
import type { InstrumentationModule } from '../types';
import { INSTRUMENTATION_VERSION, SCOPE_PREFIX } from '../version';
import { HttpClientTelemetry } from './client';
import { knownMethods } from './semconv';
import { HttpServerTelemetry } from './server';

export { HttpClientTelemetry } from './client';
export { HttpServerTelemetry } from './server';

/** The instrumentation scope of the http spans and histograms. */
export const HTTP_SCOPE = `${SCOPE_PREFIX}http`;

type Patchable = { request: (this: unknown, ...args: unknown[]) => http.ClientRequest; get: (this: unknown, ...args: unknown[]) => http.ClientRequest };

export const httpModule: InstrumentationModule = {
  name: 'http',
  aliases: [],
  moduleName: 'http, https (Node core)',
  supportedVersions: 'the running Node.js',
  // Patched at enable time (core modules are singletons); listed so ES-module apps load them early.
  builtins: ['http', 'https'],
  enable({ tracerProvider, meterProvider }) {
    const tracer = tracerProvider.getTracer(HTTP_SCOPE, INSTRUMENTATION_VERSION);
    const meter = meterProvider.getMeter(HTTP_SCOPE, INSTRUMENTATION_VERSION);
    const methods = knownMethods();
    const server = new HttpServerTelemetry(tracer, meter, methods);
    server.patch(http.Server.prototype as unknown as { emit: (this: unknown, event: string | symbol, ...args: unknown[]) => boolean }, 'http');
    server.patch(https.Server.prototype as unknown as { emit: (this: unknown, event: string | symbol, ...args: unknown[]) => boolean }, 'https');
    const client = new HttpClientTelemetry(tracer, meter, methods);
    client.patch(http as unknown as Patchable, 'http');
    client.patch(https as unknown as Patchable, 'https');
  },
};
