'use strict';
// Load generator: autocannon (programmatic), plus latency recorded from its
// 'response' events at sub-millisecond precision (autocannon's own histogram
// keeps whole milliseconds). Prints one JSON line:
// {requests, rps, ok, non2xx, errors, timeouts, latencyMs: {p50, p90, p99, p999, mean, max}, curve: [[pct, ms]]}
//   node bench/apps/load.js URL [--connections 10] [--duration 10 | --amount N] [--rate R]
const autocannon = require('autocannon');

const argv = process.argv.slice(2);
const get = (n, d) => {
  const i = argv.indexOf(n);
  return i >= 0 ? Number(argv[i + 1]) : d;
};
const url = argv[0];
const opts = { url, connections: get('--connections', 10), pipelining: 1 };
if (argv.includes('--amount')) opts.amount = get('--amount');
else opts.duration = get('--duration', 10);
if (argv.includes('--rate')) opts.overallRate = get('--rate');

let lat = new Float64Array(1 << 16);
let n = 0;
const inst = autocannon(opts, (err, res) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  const s = lat.subarray(0, n).sort();
  const q = (p) => (n ? s[Math.min(n - 1, Math.floor((p / 100) * n))] : null);
  const pcts = [1, 10, 25, 50, 75, 90, 95, 97.5, 99, 99.5, 99.9];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i];
  process.stdout.write(
    `${JSON.stringify({
      requests: res.requests.total,
      rps: res.requests.average,
      durationS: res.duration,
      ok: res['2xx'],
      non2xx: res.non2xx,
      errors: res.errors,
      timeouts: res.timeouts,
      latencyMs: { p50: q(50), p90: q(90), p99: q(99), p999: q(99.9), mean: n ? sum / n : null, max: n ? s[n - 1] : null },
      curve: pcts.map((p) => [p, q(p)]),
      // CPU time of this load generator process (start-up included), to tell whether it was the bottleneck.
      cpuUs: (() => {
        const u = process.cpuUsage();
        return u.user + u.system;
      })(),
    })}\n`,
  );
});
inst.on('response', (client, statusCode, bytes, responseTime) => {
  if (n === lat.length) {
    const b = new Float64Array(lat.length * 2);
    b.set(lat);
    lat = b;
  }
  lat[n++] = responseTime;
});
