'use strict';
// The OpenTelemetry Operator's Node.js layout: it injects
// `--require /otel-auto-instrumentation-nodejs/autoinstrumentation.js` into NODE_OPTIONS.
require('./register.cjs');
