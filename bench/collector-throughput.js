#!/usr/bin/env node
'use strict';
// Benchmark 6 (issue 4, "Speed"): the collector.
//  a) drain throughput: a writer fills a file's span ring (N spans = 2N span ring
//     messages: start + end, with 0 / 8 / 32 attributes) and only then gives it the
//     name the collector follows; the collector (one process, pinned to its own core)
//     reads, assembles, encodes and exports it, to a null sink (--exporter none) or
//     to a local OTLP/HTTP receiver. Reported: span events (ring messages) per second
//     of wall time and per CPU-second, spans/s, CPU per 100k spans.
//  b) idle CPU: the collector with no file, and with one live but idle writer.
//  c) the largest steady write rate (spans/s, 8 attributes) that one Node process
//     sustains with zero drops, writer at the agent's default ring sizes, collector
//     at its defaults. The writer starts 2.5 s after creating its file, so the
//     collector (which lists its directory every second) follows it by then.
//   node bench/collector-throughput.js [--quick] [--spans N] [--idle S] [--trial S]
//        [--rates 10000,20000 (fixed trial rates, no search)] [--start-delay S]
const fs = require('node:fs');
const path = require('node:path');
const c = require('./lib/common');

const BIN = path.join(c.ROOT, 'collector', 'bin.js');
const WRITER = path.join(c.APPS, 'span-writer.js');
const WRITER_CPU = c.APP_CPU;
const COLLECTOR_CPU = c.LOAD_CPU;

/** Starts a collector following `dir`; keeps its summary lines as samples. */
async function startCollector(dir, extra) {
  const samples = [];
  let buf = '';
  let col;
  col = await c.start(process.execPath, [BIN, 'collect', '--dir', dir, ...extra], {
    cpu: COLLECTOR_CPU,
    onStderr: (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const m = line.match(/read events=(\d+) spans=(\d+) measurements=(\d+) \| exported batches traces=(\d+).*queue=\S+\/(\d+) dropped=(\d+)/);
        if (m) samples.push({ t: Date.now(), cpu: c.cpuMicros(col.pid), read: Number(m[2]), exported: Number(m[4]), queued: Number(m[5]), queueDropped: Number(m[6]) });
      }
    },
  });
  col.samples = samples;
  return col;
}

async function waitFor(cond, maxMs, what) {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > maxMs) throw new Error(`timed out waiting for ${what}`);
    await c.sleep(20);
  }
}

async function drain(sinkKind, attrs, spans, sink) {
  const dir = c.tmpDir('otlp-mmap-bench-col-');
  const exportArgs = sinkKind === 'null' ? ['--exporter', 'none'] : ['--endpoint', sink.url];
  const col = await startCollector(dir, [...exportArgs, '--summary-interval', '100ms', '--no-self-metrics']);
  let writer;
  try {
    await waitFor(() => col.samples.length > 0, 20000, 'the collector to start');
    const messages = 2 * spans;
    let slots = 1;
    while (slots < messages + 1) slots *= 2;
    const slotSize = attrs > 8 ? 1024 : 512;
    writer = await c.start(
      process.execPath,
      [WRITER, '--file', path.join(dir, 'fill.tmp'), '--rename-to', path.join(dir, 'fill.otlp-mmap'), '--attrs', String(attrs), '--count', String(spans), '--duration', '600', '--slots', String(slots), '--slot-size', String(slotSize), '--linger', '600'],
      { cpu: WRITER_CPU, waitFor: /filled (\{.*\})/, timeoutMs: 120000 },
    );
    const filled = JSON.parse(writer.match[1]);
    if (filled.dropped) throw new Error(`the writer dropped ${filled.dropped} messages while filling`);
    const t0 = Date.now();
    const cpu0 = c.cpuMicros(col.pid);
    const n0 = col.samples.length;
    // Done once everything is read, exported and nothing is queued, for 15 summary lines in a row
    await waitFor(() => {
      const s = col.samples.slice(n0);
      // (longer than the default 1 s batch delay, so the export's CPU is counted too)
      if (s.length < 16) return false;
      const last = s[s.length - 1];
      return last.exported > 0 && s.slice(-15).every((x) => x.read >= messages && x.queued === 0 && x.exported === last.exported);
    }, 120000, 'the collector to drain');
    const s = col.samples.slice(n0);
    const lastZero = [...s].reverse().find((x) => x.read === 0) || { t: t0 };
    const firstDone = s.find((x) => x.read >= messages);
    const readSeconds = (firstDone.t - lastZero.t) / 1e3;
    const cpuUs = s[s.length - 1].cpu - cpu0;
    return {
      sink: sinkKind,
      attrs,
      spans,
      messages,
      readSeconds,
      eventsPerSec: messages / readSeconds,
      eventsPerCpuSec: messages / (cpuUs / 1e6),
      spansPerCpuSec: spans / (cpuUs / 1e6),
      cpuMsPer100kSpans: (cpuUs / 1e3 / spans) * 1e5,
      exportedBatches: s[s.length - 1].exported,
      queueDropped: s[s.length - 1].queueDropped,
    };
  } finally {
    if (writer) await c.stop(writer, 'SIGKILL');
    await c.stop(col, 'SIGTERM', 15000);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function idleCpu(seconds, withWriter) {
  const dir = c.tmpDir('otlp-mmap-bench-idle-');
  const col = await startCollector(dir, ['--exporter', 'none']);
  let writer;
  try {
    await c.sleep(1500);
    if (withWriter) {
      writer = await c.start(process.execPath, [WRITER, '--file', path.join(dir, 'idle.otlp-mmap'), '--idle', String(seconds + 5)], { cpu: WRITER_CPU, waitFor: /ready/ });
      await c.sleep(1500); // found by the next directory scan
    }
    const cpu0 = c.cpuMicros(col.pid);
    const t0 = Date.now();
    await c.sleep(seconds * 1000);
    return { withWriter, seconds, cpuPct: (c.cpuMicros(col.pid) - cpu0) / 1e3 / (Date.now() - t0) };
  } finally {
    if (writer) await c.stop(writer, 'SIGKILL');
    await c.stop(col, 'SIGTERM', 15000);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function maxRate(sink, trialSeconds, startDelay, rates, writerArgs = []) {
  const dir = c.tmpDir('otlp-mmap-bench-rate-');
  const col = await startCollector(dir, ['--endpoint', sink.url]); // defaults otherwise
  const trials = [];
  try {
    await c.sleep(1000);
    const trial = async (rate) => {
      const w = await c.start(process.execPath, [WRITER, '--file', path.join(dir, `w-${rate}.otlp-mmap`), '--attrs', '8', '--rate', String(rate), '--duration', String(trialSeconds), '--linger', '0.3', '--start-delay', String(startDelay), ...writerArgs], {
        cpu: WRITER_CPU,
        waitFor: /ready/,
      });
      await w.exitedPromise;
      const out = JSON.parse(w.stdout.trim().split('\n').pop());
      const t = { rate, achieved: out.spansPerSec, dropped: out.dropped, ok: out.dropped === 0 && out.spansPerSec >= rate * 0.95 };
      trials.push(t);
      process.stderr.write(`  max-rate (start delay ${startDelay} s${writerArgs.length ? ', ' + writerArgs.join(' ') : ''}): ${rate} spans/s -> achieved ${Math.round(out.spansPerSec)}, dropped ${out.dropped}\n`);
      await c.sleep(300);
      return t;
    };
    let good = 0;
    let bad = null;
    if (rates) {
      for (const r of rates) {
        const t = await trial(r);
        if (t.ok) good = Math.max(good, r);
        else if (bad === null || r < bad) bad = r;
      }
      return { maxSpansPerSec: good, maxEventsPerSec: good * 2, firstFailingRate: bad, limitedByWriter: trials.some((t) => t.dropped === 0 && t.achieved < t.rate * 0.95), trials };
    }
    for (let r = 10000; r <= 1280000; r *= 2) {
      const t = await trial(r);
      if (t.ok) good = r;
      else {
        bad = r;
        break;
      }
    }
    if (bad) {
      for (let i = 0; i < 3; i++) {
        const mid = Math.round((good + bad) / 2 / 1000) * 1000;
        if ((await trial(mid)).ok) good = mid;
        else bad = mid;
      }
    }
    const limitedByWriter = trials.some((t) => t.dropped === 0 && t.achieved < t.rate * 0.95);
    return { maxSpansPerSec: good, maxEventsPerSec: good * 2, firstFailingRate: bad, limitedByWriter, trials };
  } finally {
    await c.stop(col, 'SIGTERM', 15000);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(argv = process.argv.slice(2)) {
  const a = c.args(argv);
  const quick = a.has('--quick');
  const spans = a.num('--spans', quick ? 20000 : 250000);
  const idleS = a.num('--idle', quick ? 2 : 10);
  const trialS = a.num('--trial', quick ? 1 : 3);
  const rates = a.get('--rates', null)?.split(',').map(Number); // fixed trial rates instead of the search
  const startDelay = a.num('--start-delay', 2.5);
  const loadStart = c.loadavg();
  const sink = await c.start(process.execPath, [path.join(c.APPS, 'otlp-sink.js')], { cpu: WRITER_CPU, waitFor: /listening (\d+)/ });
  sink.url = `http://127.0.0.1:${sink.match[1]}`;
  try {
    const drains = [];
    const rounds = quick ? 1 : 2;
    for (let r = 0; r < rounds; r++) {
      for (const attrs of [0, 8, 32]) {
        for (const kind of r % 2 ? ['otlp', 'null'] : ['null', 'otlp']) {
          const d = await drain(kind, attrs, spans, sink);
          drains.push(d);
          process.stderr.write(`  drain ${kind} ${attrs} attrs: ${Math.round(d.eventsPerSec)} events/s wall, ${Math.round(d.eventsPerCpuSec)} per CPU-s\n`);
        }
      }
    }
    const drainRows = [];
    for (const attrs of [0, 8, 32]) {
      for (const kind of ['null', 'otlp']) {
        const ds = drains.filter((d) => d.attrs === attrs && d.sink === kind);
        const m = (f) => c.median(ds.map(f));
        drainRows.push({
          sink: kind === 'null' ? 'null sink (--exporter none)' : 'local OTLP/HTTP receiver',
          kind,
          attrs,
          eventsPerSec: m((d) => d.eventsPerSec),
          eventsPerCpuSec: m((d) => d.eventsPerCpuSec),
          spansPerCpuSec: m((d) => d.spansPerCpuSec),
          cpuMsPer100kSpans: m((d) => d.cpuMsPer100kSpans),
          exportedBatches: m((d) => d.exportedBatches),
        });
      }
    }
    const idle = [await idleCpu(idleS, false), await idleCpu(idleS, true)];
    const rate = await maxRate(sink, trialS, startDelay, rates);
    // The same with a writer that starts at once: until the collector notices the new file
    // (directory watch, or its listing every second), only the ring holds what is written.
    const rateFast = await maxRate(sink, trialS, 0, rates);
    // A span ring of 16384 x 512 B (8 MiB; the default is 4096 x 1280 B = 5 MiB): four times the
    // messages of headroom while the collector is busy elsewhere, in smaller slots.
    const rateRing = await maxRate(sink, trialS, startDelay, rates, ['--slots', '16384', '--slot-size', '512']);
    const md = [
      '### 6. collector throughput',
      '',
      `Drain: a writer fills one file's span ring with ${spans.toLocaleString('en-US')} spans (${(2 * spans).toLocaleString('en-US')} span events: start + end messages) and then renames it into the followed directory; the collector (CPU ${COLLECTOR_CPU}; writer and receiver on CPU ${WRITER_CPU}) reads, assembles, encodes and exports it. Wall rate = events / time from the last summary line (every 100 ms) with nothing read to the first with everything read (so a lower bound); CPU figures include the export. Median of ${rounds} round(s). Load average at start: ${loadStart.join(' ')}.`,
      '',
      c.table(drainRows, [
        ['sink', 'sink'],
        ['attrs', 'attributes/span'],
        ['eventsPerSec', 'span events/s (wall)', c.fmt.int],
        ['eventsPerCpuSec', 'span events per CPU-second', c.fmt.int],
        ['spansPerCpuSec', 'spans per CPU-second', c.fmt.int],
        ['cpuMsPer100kSpans', 'CPU ms per 100k spans', c.fmt.int],
        ['exportedBatches', 'batches exported', c.fmt.int],
      ]),
      '',
      'Idle CPU (collector at its defaults):',
      '',
      c.table(idle.map((i) => ({ what: i.withWriter ? 'one live, idle writer' : 'no file', seconds: i.seconds, cpuPct: i.cpuPct })), [
        ['what', 'followed'],
        ['seconds', 'seconds measured'],
        ['cpuPct', 'CPU (% of a core)', (x) => `${(x * 100).toFixed(2)}%`],
      ]),
      '',
      `Largest steady write rate with zero drops (one Node process writing spans with 8 attributes at the agent's default ring sizes, starting ${startDelay} s after creating its file; collector at its defaults exporting to the local receiver; ${trialS} s per trial): **${rate.maxSpansPerSec.toLocaleString('en-US')} spans/s** (${rate.maxEventsPerSec.toLocaleString('en-US')} span events/s)${rate.firstFailingRate ? `; ${rate.firstFailingRate.toLocaleString('en-US')} spans/s dropped` : ''}${rate.limitedByWriter ? ' (the writer itself could not go faster)' : ''}.`,
      '',
      c.table(rate.trials, [
        ['rate', 'target spans/s', c.fmt.int],
        ['achieved', 'achieved spans/s', c.fmt.int],
        ['dropped', 'messages dropped', c.fmt.int],
      ]),
      '',
      `The same with the span ring resized to 16384 slots x 512 B (8 MiB, against the default 4096 x 1280 B; \`OTLP_MMAP_SPAN_SLOTS=16384 OTLP_MMAP_SPAN_SLOT_SIZE=512\`): **${rateRing.maxSpansPerSec.toLocaleString('en-US')} spans/s** with zero drops${rateRing.firstFailingRate ? `; ${rateRing.firstFailingRate.toLocaleString('en-US')} spans/s dropped` : ''}${rateRing.limitedByWriter ? ' (the writer itself could not go faster)' : ''}.`,
      '',
      `The same with a writer that writes from the moment its file exists (until the collector notices the new file, only the ring holds what is written: 4096 span slots by default): **${rateFast.maxSpansPerSec.toLocaleString('en-US')} spans/s** with zero drops${rateFast.firstFailingRate ? `; ${rateFast.firstFailingRate.toLocaleString('en-US')} spans/s dropped` : ''}${rateFast.limitedByWriter ? ' (the writer itself could not go faster)' : ''}.`,
    ].join('\n');
    const svg = c.lineChart(
      ['null', 'otlp'].flatMap((kind) => [
        { name: `${kind === 'null' ? 'null sink' : 'OTLP receiver'}, per CPU-s`, points: drainRows.filter((r) => r.kind === kind).map((r) => [r.attrs, r.eventsPerCpuSec / 1000]) },
        { name: `${kind === 'null' ? 'null sink' : 'OTLP receiver'}, wall`, dash: true, points: drainRows.filter((r) => r.kind === kind).map((r) => [r.attrs, r.eventsPerSec / 1000]) },
      ]),
      { title: 'Collector throughput vs attributes per span', xLabel: 'attributes per span', yLabel: 'thousand span events per second', xTicks: [[0, '0'], [8, '8'], [32, '32']] },
    );
    const svgFile = c.writeText('collector-throughput.svg', svg);
    const file = c.writeResult('collector-throughput', { spans, drains, drainRows, idle, maxRate: rate, maxRateImmediateStart: rateFast, maxRateRing16k: rateRing, loadavgEnd: c.loadavg() });
    return { md, drainRows, idle, rate, rateFast, rateRing, file, svgFile };
  } finally {
    await c.stop(sink);
  }
}

if (require.main === module) {
  main()
    .then((r) => {
      console.log(r.md);
      console.log(`\n(results: ${r.file}, plot: ${r.svgFile})`);
    })
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
module.exports = { main };
