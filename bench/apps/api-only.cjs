'use strict';
// Loads @opentelemetry/api and the AsyncLocalStorage context manager and uses neither: what
// their mere presence costs per request (bench/instructions.js --node-variants).
globalThis.__otlpMmapBenchApi = require('@opentelemetry/api');
globalThis.__otlpMmapBenchContext = require('@opentelemetry/context-async-hooks');
