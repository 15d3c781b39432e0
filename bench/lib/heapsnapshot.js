'use strict';
// Summarises V8 heap snapshots (v8.writeHeapSnapshot; bench/apps/inprocess-app.js writes one
// with INPROCESS_HEAPSNAPSHOT=FILE): objects and bytes by kind, and with a second snapshot the
// difference, largest first. Strings, code and numbers are counted by kind, other objects by
// kind and constructor name. What a GC marks grows with the objects, not the bytes: a long
// string is one object with nothing inside to trace.
// CLI: node bench/lib/heapsnapshot.js BASE.heapsnapshot [OTHER.heapsnapshot] [--top 25]
const fs = require('node:fs');

const BY_KIND = new Set(['string', 'concatenated string', 'sliced string', 'code', 'number', 'hidden']);

/** {objects, bytes, groups: Map(group -> {objects, bytes})} of one snapshot file. */
function summarise(file) {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8'));
  const meta = snap.snapshot.meta;
  const stride = meta.node_fields.length;
  const kinds = meta.node_types[0];
  const typeAt = meta.node_fields.indexOf('type');
  const nameAt = meta.node_fields.indexOf('name');
  const sizeAt = meta.node_fields.indexOf('self_size');
  const groups = new Map();
  let objects = 0;
  let bytes = 0;
  for (let i = 0; i < snap.nodes.length; i += stride) {
    const kind = kinds[snap.nodes[i + typeAt]];
    if (kind === 'synthetic') continue;
    const group = BY_KIND.has(kind) ? kind : `${kind}: ${snap.strings[snap.nodes[i + nameAt]].slice(0, 60)}`;
    const size = snap.nodes[i + sizeAt];
    const g = groups.get(group) || { objects: 0, bytes: 0 };
    g.objects++;
    g.bytes += size;
    groups.set(group, g);
    objects++;
    bytes += size;
  }
  return { objects, bytes, groups };
}

function main(argv = process.argv.slice(2)) {
  const files = argv.filter((a, i) => !a.startsWith('--') && argv[i - 1] !== '--top');
  const top = Number(argv[argv.indexOf('--top') + 1]) || 25;
  if (files.length < 1 || files.length > 2) {
    console.error('usage: node bench/lib/heapsnapshot.js BASE.heapsnapshot [OTHER.heapsnapshot] [--top 25]');
    return 2;
  }
  const [a, b] = files.map(summarise);
  const empty = { objects: 0, bytes: 0, groups: new Map() };
  const other = b || empty;
  const title = b ? `${files[1]} minus ${files[0]}` : files[0];
  const lines = [`${title}: ${b ? `${(b.objects - a.objects).toLocaleString('en-US')} objects, ${((b.bytes - a.bytes) / 1024).toFixed(0)} KB` : `${a.objects.toLocaleString('en-US')} objects, ${(a.bytes / 1024).toFixed(0)} KB`}`];
  const rows = [...new Set([...a.groups.keys(), ...other.groups.keys()])].map((group) => {
    const x = a.groups.get(group) || { objects: 0, bytes: 0 };
    const y = other.groups.get(group) || { objects: 0, bytes: 0 };
    return b ? { group, objects: y.objects - x.objects, bytes: y.bytes - x.bytes } : { group, ...x };
  });
  rows.sort((p, q) => Math.abs(q.objects) - Math.abs(p.objects));
  lines.push('| objects | KB | kind |', '|---:|---:|---|');
  for (const r of rows.slice(0, top)) lines.push(`| ${r.objects.toLocaleString('en-US')} | ${(r.bytes / 1024).toFixed(1)} | ${r.group.replace(/\|/g, '\\|')} |`);
  console.log(lines.join('\n'));
  return 0;
}

if (require.main === module) process.exitCode = main();
module.exports = { summarise };
