'use strict';
// Summarises a V8 .cpuprofile (node --cpu-prof) by self time, per function and
// per category, and the inclusive time of samples whose stack passes through the
// agent. CLI: node bench/lib/cpuprofile.js FILE.cpuprofile [--top 20]
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');

function category(url, name) {
  if (!url) {
    if (name === '(garbage collector)') return 'GC';
    if (name === '(idle)') return 'idle';
    if (name === '(program)') return 'program (native, unattributed)';
    return 'native/builtin';
  }
  const u = url.replace(/^file:\/\//, '');
  if (u.startsWith(path.join(ROOT, 'dist', 'agent')) || u.startsWith(path.join(ROOT, 'agent'))) return 'otlp-mmap agent';
  if (u.startsWith(path.join(ROOT, 'dist', 'instrumentations'))) return 'otlp-mmap instrumentations';
  if (u.startsWith(path.join(ROOT, 'bench'))) return 'app';
  if (u.startsWith(ROOT) && !u.includes('node_modules')) return 'otlp-mmap (other)';
  if (/node_modules\/@opentelemetry\/(instrumentation-http|instrumentation-express|instrumentation-pg)\//.test(u)) return 'OTel instrumentations';
  if (/node_modules\/@opentelemetry\/(sdk-trace|sdk-metrics|otlp|exporter|resources|core|sdk-node)/.test(u)) return 'OTel SDK/exporter';
  if (/node_modules\/@opentelemetry\//.test(u)) return 'OTel other';
  if (/node_modules\/(protobufjs|@protobufjs)/.test(u)) return 'OTel SDK/exporter';
  if (/node_modules\/(express|router|body-parser|send|finalhandler|path-to-regexp|[^/]*)\//.test(u)) return u.includes('/pg') ? 'pg' : 'express & other deps';
  if (u.startsWith('node:') || !u.startsWith('/')) return 'node core';
  return 'other';
}

function summarise(file, { top = 20 } = {}) {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children || []) parent.set(c, n.id);
  const self = new Map();
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] || 0;
    self.set(prof.samples[i], (self.get(prof.samples[i]) || 0) + dt);
    total += dt;
  }
  const fns = new Map();
  const cats = new Map();
  let agentInclusive = 0;
  let idle = 0;
  const agentMemo = new Map();
  const throughAgent = (id) => {
    if (agentMemo.has(id)) return agentMemo.get(id);
    const n = byId.get(id);
    const c = category(n.callFrame.url, n.callFrame.functionName);
    const r = c.startsWith('otlp-mmap') || (parent.has(id) && throughAgent(parent.get(id)));
    agentMemo.set(id, r);
    return r;
  };
  for (const [id, us] of self) {
    const n = byId.get(id);
    const { functionName, url, lineNumber } = n.callFrame;
    const cat = category(url, functionName);
    if (cat === 'idle') idle += us;
    const key = `${functionName || '(anonymous)'} ${url ? `${url.replace(ROOT + '/', '').replace('file://', '')}:${lineNumber + 1}` : ''}`.trim();
    const f = fns.get(key) || { fn: key, category: cat, us: 0 };
    f.us += us;
    fns.set(key, f);
    cats.set(cat, (cats.get(cat) || 0) + us);
    if (throughAgent(id)) agentInclusive += us;
  }
  const busy = total - idle;
  // Telemetry cost: each sample is attributed to the telemetry function (ours or
  // OpenTelemetry's) nearest to the leaf, when only node core / native frames lie in
  // between (what the telemetry code itself executes, callees in node included); a
  // sample under app, express or pg code before any telemetry frame is not telemetry.
  const incl = new Map();
  let telemetryUs = 0;
  const keyOf = (n) => {
    const { functionName, url, lineNumber } = n.callFrame;
    return `${functionName || '(anonymous)'} ${url ? `${url.replace('file://', '').replace(ROOT + '/', '')}:${lineNumber + 1}` : ''}`.trim();
  };
  const passThrough = new Set(['node core', 'native/builtin', 'program (native, unattributed)']);
  for (const [id, us] of self) {
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      const cat = category(n.callFrame.url, n.callFrame.functionName);
      if (cat.startsWith('otlp-mmap') || cat.startsWith('OTel')) {
        const k = keyOf(n);
        const e = incl.get(k) || { fn: k, category: cat, us: 0 };
        e.us += us;
        incl.set(k, e);
        telemetryUs += us;
        break;
      }
      if (!passThrough.has(cat)) break;
    }
  }
  const inclusiveRows = [...incl.values()].sort((x, y) => y.us - x.us).slice(0, top).map((f) => ({ ...f, pct: f.us / busy }));
  const telemetrySelf = [...fns.values()].filter((f) => f.category.startsWith('otlp-mmap') || f.category.startsWith('OTel')).sort((x, y) => y.us - x.us).slice(0, top).map((f) => ({ ...f, pct: f.us / busy }));
  const fnRows = [...fns.values()].filter((f) => f.category !== 'idle').sort((a, b) => b.us - a.us).slice(0, top).map((f) => ({ ...f, pct: f.us / busy }));
  const catRows = [...cats.entries()].filter(([c]) => c !== 'idle').map(([c, us]) => ({ category: c, us, pct: us / busy })).sort((a, b) => b.us - a.us);
  return { file, totalMs: total / 1e3, busyMs: busy / 1e3, agentInclusivePct: agentInclusive / busy, functions: fnRows, categories: catRows, telemetrySelf, inclusive: inclusiveRows, telemetryPct: telemetryUs / busy };
}

function toMarkdown(s, title) {
  const lines = [`#### ${title}`, '', `busy (non-idle) time ${s.busyMs.toFixed(0)} ms; samples with an otlp-mmap frame anywhere on the stack: ${(s.agentInclusivePct * 100).toFixed(1)}%.`, ''];
  lines.push('| category (self time) | % of busy |', '|---|---:|');
  for (const c of s.categories) lines.push(`| ${c.category} | ${(c.pct * 100).toFixed(1)}% |`);
  lines.push('', '| top functions by self time | category | % of busy |', '|---|---|---:|');
  const row = (f) => `| \`${f.fn.replace(/\|/g, '\\|')}\` | ${f.category} | ${(f.pct * 100).toFixed(1)}% |`;
  for (const f of s.functions) lines.push(row(f));
  if (s.telemetrySelf && s.telemetrySelf.length) {
    lines.push('', '| telemetry functions (ours or OTel) by self time | category | % of busy |', '|---|---|---:|');
    for (const f of s.telemetrySelf.slice(0, 12)) lines.push(row(f));
    lines.push('', '| telemetry functions, with the node core/native work they call | category | % of busy |', '|---|---|---:|');
    for (const f of s.inclusive.slice(0, 12)) lines.push(row(f));
    lines.push('', `Telemetry code with its node core/native callees: ${(s.telemetryPct * 100).toFixed(1)}% of busy time (plus its share of GC).`);
  }
  return lines.join('\n');
}

module.exports = { summarise, toMarkdown, category };

if (require.main === module) {
  const file = process.argv[2];
  const i = process.argv.indexOf('--top');
  const top = i >= 0 ? Number(process.argv[i + 1]) : 20;
  console.log(toMarkdown(summarise(file, { top }), path.basename(file)));
}
