#!/usr/bin/env node
'use strict';
// The `otlp-mmap` command. The TypeScript sources compile to dist/ (`npm run build`).
let cli;
try {
  cli = require('../dist/collector/cli.js');
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes('dist/collector/cli')) {
    process.stderr.write('otlp-mmap: the collector is not built; run `npm run build` in the otlp-mmap package\n');
    process.exit(1);
  }
  throw e;
}
cli.run();
