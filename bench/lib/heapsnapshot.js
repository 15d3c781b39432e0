'use strict';
// Summarises V8 heap snapshots (v8.writeHeapSnapshot; bench/apps/inprocess-app.js writes one
// with INPROCESS_HEAPSNAPSHOT=FILE): objects and bytes by kind, and with a second snapshot the
// difference, largest first. Strings, code and numbers are counted by kind, other objects by
// kind and constructor name. What a GC marks grows with the objects, not the bytes: a long
// string is one object with nothing inside to trace.
// CLI: node bench/lib/heapsnapshot.js BASE.heapsnapshot [OTHER.heapsnapshot] [--top 25]
//   --closures dist/agent/bundle.js: instead, the live closures of the agent's bundle by the
//   bundled module they come from (one snapshot, or two side by side).
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

/** The module an esbuild `// path` line names: a package (`@scope/name`), or a folder of ours. */
function moduleOf(file) {
  const parts = file.split('/');
  if (parts[0] === 'node_modules') return parts[1].startsWith('@') ? `${parts[1]}/${parts[2]}` : parts[1];
  return parts.length > 3 ? parts.slice(0, 3).join('/') : parts.slice(0, 2).join('/');
}

/**
 * The live closures whose code is in `bundleFile` (the agent's esbuild bundle), by the bundled
 * module they come from: {total, modules: Map(module -> closures)}. esbuild starts each module
 * with a `// node_modules/...` or `// dist/...` line; a closure's place is in the snapshot's
 * locations. The bundle's script is the one whose named closures are named on their lines of
 * `bundleFile` (at least half of them); with no such script, there are none.
 */
function closuresByModule(file, bundleFile) {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8'));
  const lines = fs.readFileSync(bundleFile, 'utf8').split('\n');
  const starts = [];
  lines.forEach((line, i) => {
    // A bundle built in a worktree whose node_modules is a symbolic link names the packages by
    // their real path (`// ../../../work/main/node_modules/...`): what follows it is the module.
    const m = /^\/\/ (?:(?:\.\.\/)+\S*?\/)?((?:node_modules|dist)\/\S+)$/.exec(line);
    if (m) starts.push([i, moduleOf(m[1])]);
  });
  const fields = snap.snapshot.meta.location_fields || ['object_index', 'script_id', 'line', 'column'];
  const stride = fields.length;
  const scriptAt = fields.indexOf('script_id');
  const lineAt = fields.indexOf('line');
  const locations = snap.locations || [];
  const objectAt = fields.indexOf('object_index');
  const nameAt = snap.snapshot.meta.node_fields.indexOf('name');
  // Per script: closures with a name, and how many of those names are on their line of the bundle.
  const named = new Map();
  for (let i = 0; i < locations.length; i += stride) {
    const id = locations[i + scriptAt];
    const line = locations[i + lineAt];
    const name = snap.strings[snap.nodes[locations[i + objectAt] + nameAt]];
    if (!name || !/^[\w$]+$/.test(name)) continue;
    const n = named.get(id) || { named: 0, found: 0 };
    n.named++;
    if (line < lines.length && lines[line].includes(name)) n.found++;
    named.set(id, n);
  }
  let script;
  let best = 0.5;
  for (const [id, n] of named) {
    if (n.named >= 10 && n.found / n.named > best) {
      best = n.found / n.named;
      script = id;
    }
  }
  const modules = new Map();
  let total = 0;
  for (let i = 0; i < locations.length; i += stride) {
    if (locations[i + scriptAt] !== script) continue;
    const line = locations[i + lineAt];
    let name = '(bundle entry, esbuild runtime)';
    for (const [start, module] of starts) {
      if (start > line) break;
      name = module;
    }
    modules.set(name, (modules.get(name) || 0) + 1);
    total++;
  }
  return { total, modules };
}

function closuresMain(files, bundleFile) {
  const [a, b] = files.map((f) => closuresByModule(f, bundleFile));
  const names = [...new Set([...a.modules.keys(), ...(b ? b.modules.keys() : [])])];
  const lines = [`live closures of ${bundleFile}: ${files.map((f, i) => `${[a, b][i].total.toLocaleString('en-US')} (${f})`).join(', ')}`];
  lines.push(b ? '| closures | other | difference | module |' : '| closures | module |', b ? '|---:|---:|---:|---|' : '|---:|---|');
  const count = (r, n) => (r ? r.modules.get(n) || 0 : 0);
  names.sort((p, q) => count(a, q) + count(b, q) - count(a, p) - count(b, p));
  for (const n of names) {
    const [x, y] = [count(a, n), count(b, n)];
    lines.push(b ? `| ${x} | ${y} | ${y - x >= 0 ? '+' : ''}${y - x} | ${n} |` : `| ${x} | ${n} |`);
  }
  console.log(lines.join('\n'));
  return 0;
}

function main(argv = process.argv.slice(2)) {
  const valued = new Set(['--top', '--closures']);
  const files = argv.filter((a, i) => !a.startsWith('--') && !valued.has(argv[i - 1]));
  const top = Number(argv[argv.indexOf('--top') + 1]) || 25;
  if (files.length < 1 || files.length > 2) {
    console.error('usage: node bench/lib/heapsnapshot.js BASE.heapsnapshot [OTHER.heapsnapshot] [--top 25] [--closures dist/agent/bundle.js]');
    return 2;
  }
  if (argv.includes('--closures')) return closuresMain(files, argv[argv.indexOf('--closures') + 1]);
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
module.exports = { summarise, closuresByModule };
