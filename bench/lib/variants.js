'use strict';
// How each compared variant runs an app: node arguments, environment, and whether
// an otlp-mmap collector runs beside it.
const path = require('node:path');
const { ROOT, LOAD_CPU, start, stop, tmpDir } = require('./common');
const fs = require('node:fs');

const INSTRUMENTATIONS = 'http,express,pg';

/**
 * The three variants, and with `baseline` (another checkout of this package, built) a fourth:
 * otlp-mmap from that checkout, with its own collector, for a same-run A/B of two builds.
 * `sinkUrl` is the local OTLP/HTTP receiver both telemetry paths export to.
 */
function variants(sinkUrl, baseline) {
  const extra = [];
  if (baseline) {
    const dir = path.resolve(baseline);
    extra.push({
      name: `otlp-mmap (${baseline})`,
      key: 'baseline',
      nodeArgs: ['--import', path.join(dir, 'register.mjs')],
      env: { OTEL_SERVICE_NAME: 'bench-app', OTEL_NODE_ENABLED_INSTRUMENTATIONS: INSTRUMENTATIONS },
      collector: true,
      root: dir,
    });
  }
  return [
    { name: 'no agent', key: 'none', nodeArgs: [], env: {} },
    {
      name: 'otlp-mmap',
      key: 'otlp-mmap',
      // As the README tells users: node --import otlp-mmap/register app.js
      nodeArgs: ['--import', path.join(ROOT, 'register.mjs')],
      env: { OTEL_SERVICE_NAME: 'bench-app', OTEL_NODE_ENABLED_INSTRUMENTATIONS: INSTRUMENTATIONS },
      collector: true,
    },
    {
      name: 'OTel auto-instrumentation',
      key: 'otel',
      nodeArgs: ['--require', '@opentelemetry/auto-instrumentations-node/register'],
      env: {
        OTEL_SERVICE_NAME: 'bench-app',
        OTEL_NODE_ENABLED_INSTRUMENTATIONS: INSTRUMENTATIONS,
        OTEL_TRACES_EXPORTER: 'otlp',
        // The agent records http/pg duration histograms too; the SDK exports its metrics the same way.
        OTEL_METRICS_EXPORTER: 'otlp',
        OTEL_LOGS_EXPORTER: 'none',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl,
      },
    },
    ...extra,
  ];
}

/**
 * Starts what a variant needs beside the app (the collector for otlp-mmap, on the
 * load core, at its defaults apart from the directory and endpoint). Returns
 * {env, collector, dir, cleanup()}.
 */
async function prepare(variant, sinkUrl, { collectorArgs = [] } = {}) {
  if (!variant.collector) return { env: {}, collector: null, dir: null, cleanup: async () => {} };
  const dir = tmpDir('otlp-mmap-bench-');
  const collector = await start(
    process.execPath,
    [path.join(variant.root || ROOT, 'collector', 'bin.js'), 'collect', '--dir', dir, '--endpoint', sinkUrl, ...collectorArgs],
    { cpu: LOAD_CPU },
  );
  return {
    env: { OTLP_MMAP_DIR: dir },
    collector,
    dir,
    cleanup: async () => {
      await stop(collector, 'SIGTERM', 15000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The variants of the in-process app (bench/apps/inprocess-app.js: express without pg, so
 * http and express only): no agent, otlp-mmap (`agentEnv` added to its environment), the
 * OpenTelemetry auto-instrumentation exporting to `sinkUrl`, and with `baseline` otlp-mmap from
 * another built checkout. Filtered to the keys in `only` (the baseline is kept when given).
 */
function inprocessVariants({ only, sinkUrl, baseline, agentEnv = {}, instrumentations = 'http,express' }) {
  const common = { OTEL_SERVICE_NAME: 'bench-app', OTEL_NODE_ENABLED_INSTRUMENTATIONS: instrumentations };
  const mmapEnv = { ...common, ...agentEnv };
  const list = [
    { key: 'none', name: 'no agent', nodeArgs: [], env: {} },
    { key: 'otlp-mmap', name: 'otlp-mmap', nodeArgs: ['--import', path.join(ROOT, 'register.mjs')], env: mmapEnv },
    {
      key: 'otel',
      name: 'OTel auto-instrumentation',
      nodeArgs: ['--require', '@opentelemetry/auto-instrumentations-node/register'],
      env: {
        ...common,
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_METRICS_EXPORTER: 'otlp',
        OTEL_LOGS_EXPORTER: 'none',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl || '',
      },
    },
  ].filter((v) => only.includes(v.key));
  if (baseline) list.push({ key: 'baseline', name: `otlp-mmap (${baseline})`, nodeArgs: ['--import', path.join(path.resolve(baseline), 'register.mjs')], env: mmapEnv });
  return list;
}

module.exports = { variants, prepare, inprocessVariants, INSTRUMENTATIONS };
