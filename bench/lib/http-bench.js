'use strict';
// Benchmarks 1 and 2: an express app (hello world, or one pg query per request)
// under load, with no agent, with otlp-mmap (+ its collector) and with the OTel
// auto-instrumentation; variants interleaved in every round, medians reported.
const path = require('node:path');
const c = require('./common');
const { variants, prepare } = require('./variants');
const { startPostgres } = require('./postgres');

const APP = path.join(c.APPS, 'express-app.js');

async function measure(v, ctx) {
  const prep = await prepare(v, ctx.sink.url);
  const env = { ...v.env, ...prep.env, PORT: '0', BENCH_SCENARIO: ctx.scenario, ...ctx.appEnv };
  const nodeArgs = [...v.nodeArgs, ...(ctx.nodeArgs[v.key] || [])];
  let app;
  let served = 0;
  let result;
  try {
    app = await c.start(process.execPath, [...nodeArgs, APP], { cpu: c.APP_CPU, env, waitFor: /listening (\d+)/ });
    const url = `http://127.0.0.1:${app.match[1]}/users/42`;
    if (v.key !== 'none') await sinkGet(ctx.sink, '/reset');
    const warm = await c.autocannon(url, { duration: ctx.warmup, connections: ctx.connections });
    const s0 = c.procStat(app.pid);
    const k0 = prep.collector ? c.cpuMicros(prep.collector.pid) : null;
    const t0 = process.hrtime.bigint();
    const res = await c.autocannon(url, { duration: ctx.duration, connections: ctx.connections });
    const wallUs = Number(process.hrtime.bigint() - t0) / 1e3;
    const s1 = c.procStat(app.pid);
    const k1 = prep.collector ? c.cpuMicros(prep.collector.pid) : null;
    const mem = c.rssMB(app.pid);
    const cpuUs = s1.userUs + s1.sysUs - s0.userUs - s0.sysUs;
    if (res.errors || res.non2xx) throw new Error(`${v.name}: ${res.errors} errors, ${res.non2xx} non-2xx responses:\n${app.stderr}`);
    served = warm.requests + res.requests;
    result = {
      rps: res.rps,
      requests: res.requests,
      cpuUsPerReq: cpuUs / res.requests,
      // Where the CPU went: the kernel's share, and the events that cost kernel time.
      sysUsPerReq: (s1.sysUs - s0.sysUs) / res.requests,
      faultsPerReq: (s1.minflt - s0.minflt + s1.majflt - s0.majflt) / res.requests,
      switchesPerReq: (s1.voluntary - s0.voluntary + s1.involuntary - s0.involuntary) / res.requests,
      appCpuPct: cpuUs / wallUs,
      loadCpuPct: res.cpuUs / wallUs,
      p50: res.latencyMs.p50,
      p99: res.latencyMs.p99,
      curve: res.latencyMs && res.curve,
      rssMB: mem.rss,
      peakRssMB: mem.peak,
      collectorUsPerReq: prep.collector ? (k1 - k0) / res.requests : null,
      collectorCpuPct: prep.collector ? (k1 - k0) / wallUs : null,
      spansPerReq: null,
    };
    return result;
  } finally {
    if (app) await c.stop(app, 'SIGTERM', 10000);
    await prep.cleanup();
    // A check that the telemetry was there: the spans the sink received, per request served
    // (warm-up included). For otlp-mmap the collector has drained the file by now; the OTel SDK
    // may not have exported its last batch before the app exited.
    if (result && v.key !== 'none') result.spansPerReq = (await sinkGet(ctx.sink, '/stats')).distinctSpans / served;
  }
}

async function sinkGet(sink, pathname) {
  const r = await fetch(sink.url + pathname);
  return r.json();
}

/**
 * Runs the benchmark. opts: {scenario: 'hello'|'pg', quick, rounds, duration,
 * warmup, connections, only: [variant keys], nodeArgs: {key: [...]}, baseline: a checkout to compare
 * otlp-mmap with, as one more variant}.
 */
async function runHttpBench(opts) {
  const scenario = opts.scenario;
  const name = scenario === 'pg' ? 'express-pg' : 'express-hello';
  const ctx = {
    scenario,
    rounds: opts.rounds ?? (opts.quick ? 1 : 3),
    duration: opts.duration ?? (opts.quick ? 2 : 8),
    warmup: opts.warmup ?? (opts.quick ? 1 : 3),
    connections: opts.connections ?? 10,
    nodeArgs: opts.nodeArgs || {},
    appEnv: {},
  };
  const loadStart = c.loadavg();
  // The sink counts the spans it receives (a check that each variant recorded what it should).
  const sink = await c.startSink({ count: true });
  ctx.sink = sink;
  let pg = null;
  try {
    if (scenario === 'pg') {
      pg = await startPostgres({ cpu: c.LOAD_CPU });
      ctx.appEnv = { PGHOST: pg.host, PGPORT: String(pg.port), PGUSER: pg.user, PGDATABASE: pg.database };
    }
    const vs = variants(sink.url, opts.baseline).filter((v) => !opts.only || opts.only.includes(v.key) || v.key === 'baseline');
    const samples = Object.fromEntries(vs.map((v) => [v.key, []]));
    for (let r = 0; r < ctx.rounds; r++) {
      // Rotate the order each round so no variant always runs first or last.
      const order = vs.map((_, i) => vs[(i + r) % vs.length]);
      for (const v of order) {
        const s = await measure(v, ctx);
        samples[v.key].push(s);
        if (!opts.silent) process.stderr.write(`  ${name} round ${r + 1}/${ctx.rounds} ${v.name}: ${Math.round(s.rps)} req/s, ${s.cpuUsPerReq.toFixed(0)} us CPU/req\n`);
      }
    }
    const med = (key, f) => c.median(samples[key].map(f));
    const base = samples.none ? { rps: med('none', (s) => s.rps), cpu: med('none', (s) => s.cpuUsPerReq), rss: med('none', (s) => s.rssMB) } : null;
    const rows = vs.map((v) => {
      const m = (f) => med(v.key, f);
      const rps = m((s) => s.rps);
      const cpu = m((s) => s.cpuUsPerReq);
      const rss = m((s) => s.rssMB);
      return {
        capacity: 1e6 / cpu,
        capacityRatio: base ? base.cpu / cpu : null,
        // The same ratio taken within each round (the no-agent run of that round, minutes
        // apart at most), then the median: less moved by a host whose speed drifts over the run.
        capacityRatioPaired: base && v.key !== 'none' ? c.median(samples[v.key].map((s, r) => samples.none[r].cpuUsPerReq / s.cpuUsPerReq)) : null,
        appCpuPct: m((s) => s.appCpuPct),
        loadCpuPct: m((s) => s.loadCpuPct),
        variant: v.name,
        key: v.key,
        rps,
        rpsRatio: base ? rps / base.rps : null,
        cpuUsPerReq: cpu,
        cpuAddedUs: base ? cpu - base.cpu : null,
        sysUsPerReq: m((s) => s.sysUsPerReq),
        faultsPerReq: m((s) => s.faultsPerReq),
        switchesPerReq: m((s) => s.switchesPerReq),
        p50: m((s) => s.p50),
        p99: m((s) => s.p99),
        rssMB: rss,
        rssAddedMB: base ? rss - base.rss : null,
        peakRssMB: m((s) => s.peakRssMB),
        collectorUsPerReq: v.collector ? m((s) => s.collectorUsPerReq) : null,
        collectorCpuPct: v.collector ? m((s) => s.collectorCpuPct) : null,
        spansPerReq: samples[v.key][0].spansPerReq === null ? null : m((s) => s.spansPerReq),
        curve: samples[v.key][0].curve.map(([p], i) => [p, c.median(samples[v.key].map((s) => s.curve[i][1]))]),
      };
    });
    const mmap = rows.find((r) => r.key === 'otlp-mmap');
    const otel = rows.find((r) => r.key === 'otel');
    const cpuAddedRatio = mmap && otel && otel.cpuAddedUs > 0 ? mmap.cpuAddedUs / otel.cpuAddedUs : null;
    const md = [
      `### ${scenario === 'pg' ? '2. express + pg (one query per request)' : '1. express hello world'}`,
      '',
      `${ctx.rounds} rounds x ${ctx.duration} s (after ${ctx.warmup} s warm-up), ${ctx.connections} connections, app on CPU ${c.APP_CPU}, load generator + sink + collector${pg ? ' + PostgreSQL' : ''} on CPU ${c.LOAD_CPU}; medians. Load average at start: ${loadStart.join(' ')}.`,
      '',
      c.table(rows, [
        ['variant', 'variant'],
        ['rps', 'req/s', c.fmt.int],
        ['rpsRatio', 'vs no agent', c.fmt.pct],
        ['appCpuPct', 'app CPU %', c.fmt.pct],
        ['loadCpuPct', 'load gen CPU %', c.fmt.pct],
        ['capacity', 'CPU-bound req/s (1/CPU per req)', c.fmt.int],
        ['capacityRatio', 'CPU-bound vs no agent', c.fmt.pct],
        ['capacityRatioPaired', 'same, median of per-round ratios', c.fmt.pct],
        ['cpuUsPerReq', 'app CPU µs/req', c.fmt.f1],
        ['cpuAddedUs', 'added µs/req', c.fmt.signed],
        ['sysUsPerReq', 'of which kernel µs/req', c.fmt.f1],
        ['faultsPerReq', 'page faults/req', c.fmt.f2],
        ['switchesPerReq', 'main thread context switches/req', c.fmt.f2],
        ['p50', 'p50 ms', c.fmt.f2],
        ['p99', 'p99 ms', c.fmt.f2],
        ['rssMB', 'RSS MB', c.fmt.f1],
        ['rssAddedMB', 'added RSS MB', c.fmt.signed],
        ['collectorUsPerReq', 'collector CPU µs/req', c.fmt.f1],
        ['collectorCpuPct', 'collector CPU (% of a core)', c.fmt.pct],
        ['spansPerReq', 'spans exported per request', c.fmt.f2],
      ]),
      '',
      '"spans exported per request" is what the OTLP sink received divided by the requests served (warm-up included): a check that the telemetry was there. For OpenTelemetry it misses what its batch processor had not exported when the app exited. ' +
        '"median of per-round ratios" divides each round\'s no-agent CPU per request by the variant\'s in the same round, then takes the median. ' +
        'req/s is what the load generator got; when neither the app (app CPU % below 100%) nor anything else is saturated it is not the app\'s capacity. "CPU-bound req/s" is 1 s divided by the app\'s CPU time per request: what the app\'s core could serve if it were the bottleneck.',
      '',
      cpuAddedRatio !== null ? `otlp-mmap adds ${(cpuAddedRatio * 100).toFixed(0)}% of the CPU per request that OpenTelemetry adds (goal: at most 25%).` : '',
    ].join('\n');
    const svg = c.lineChart(
      rows.map((r) => ({ name: r.variant, points: r.curve.map(([p, ms]) => [100 / (100 - p), ms]) })),
      {
        title: `${name}: latency by percentile (${ctx.connections} connections, medians of ${ctx.rounds} rounds)`,
        xLabel: 'percentile',
        yLabel: 'latency (ms)',
        xLog: true,
        xTicks: [[100 / 99, 'p1'], [2, 'p50'], [10, 'p90'], [100, 'p99'], [1000, 'p99.9']],
      },
    );
    const svgFile = c.writeText(`${name}-latency.svg`, svg);
    const file = c.writeResult(name, { settings: { ...ctx, sink: undefined, appEnv: undefined }, loadavgEnd: c.loadavg(), rows, cpuAddedRatio, samples });
    return { name, md, rows, cpuAddedRatio, file, svgFile };
  } finally {
    await c.stop(sink);
    if (pg) pg.stop();
  }
}

module.exports = { runHttpBench };
