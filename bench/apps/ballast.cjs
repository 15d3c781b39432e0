'use strict';
// Preload: memory the app keeps, to see what a bigger live heap costs per request with no agent
// (bench/instructions.js --node-variants 'ballast=--require bench/apps/ballast.cjs').
// BALLAST_N (default 9000) times a string, an object and an array pointing at each other and a
// closure: ~3.6 MB in ~36k small objects, about the agent's own heap. BALLAST_FLAT=1 keeps the
// same bytes as 36 long strings instead, which a GC marks without tracing anything inside.
const keep = [];
if (process.env.BALLAST_FLAT === '1') {
  for (let i = 0; i < 36; i++) keep.push(String(i) + 'y'.repeat(100_000));
} else {
  const n = Number(process.env.BALLAST_N || 9000);
  for (let i = 0; i < n; i++) {
    const s = `str-${i}-${'x'.repeat(i % 50)}`;
    keep.push(s, { a: i, b: s, c: () => i }, [i, s]);
  }
}
globalThis.__otlpMmapBenchBallast = keep;
