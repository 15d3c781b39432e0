'use strict';
// The bench 1 app (express 5, two middleware, one route) and a raw keep-alive HTTP client in ONE
// process: 8 connections, one request in flight each. Prints {min, med} CPU µs per request
// (process.cpuUsage over 3 x N requests after a warm-up), RSS and heap, as JSON.
//   node [--import otlp-mmap/register] bench/apps/inprocess-app.js [N]
// INPROCESS_WARMUP (default 3000 requests) and INPROCESS_PASSES (default 3) change the warm-up
// and the number of measured passes (bench/instructions.js runs one pass under valgrind).
// INPROCESS_SMAPS=1 also prints, to stderr, the resident memory of each mapping at the end
// (/proc/self/smaps): the V8 heap is "[anon]", the otlp-mmap file is its own line.
// INPROCESS_HEAPSNAPSHOT=FILE writes a V8 heap snapshot there at the end, after a full GC when
// node runs with --expose-gc (summarise two with bench/lib/heapsnapshot.js).
// INPROCESS_GC=1 also prints the main thread's GC pauses over the measured passes: gcUsPerReq (µs
// per request) and gcPerKReq (collections per 1,000 requests), from perf_hooks' 'gc' entries. With
// node's --single-threaded the pauses hold all of the GC's work (no helper threads, no concurrent
// marking), so this is what collecting garbage costs the app.
// INPROCESS_THREADS=1 also prints the CPU ms of the whole run (start-up and warm-up included) by
// thread, from /proc/self/task: threadsCpuMs.main (the JS thread) and threadsCpuMs.others (V8's
// GC and compiler helpers, libuv's pool).
// INPROCESS_SCENARIO=pg makes the route run bench 2's query first (a pg Pool of 10, the server
// from PGHOST/PGPORT/PGUSER/PGDATABASE with bench 2's users table; `bench/instructions.js --pg`
// starts one), then send the same body: the request count is bench 2's, the client unchanged.
// The output then also has `queries`: how many of them answered.
const net = require('net');
const N = Number(process.argv[2] || 20000), C = 8;
const app = require('express')();
app.use((req, res, next) => { res.setHeader('x-request-id', '1'); next(); });
app.use((req, res, next) => { res.setHeader('cache-control', 'no-store'); next(); });
let queries;
if (process.env.INPROCESS_SCENARIO === 'pg') {
  const pool = new (require('pg').Pool)({ max: 10 });
  queries = 0;
  app.get('/users/:id', async (req, res, next) => {
    try {
      const r = await pool.query('SELECT id, name FROM users WHERE id = $1', [Number(req.params.id) || 1]);
      if (r.rows.length === 1) queries++;
      res.send('hello world');
    } catch (e) {
      next(e);
    }
  });
} else {
  app.get('/users/:id', (req, res) => res.send('hello world'));
}
let gcMs = 0;
let gcCount = 0;
let gcCounting = false;
if (process.env.INPROCESS_GC) {
  new (require('perf_hooks').PerformanceObserver)((list) => {
    if (!gcCounting) return;
    for (const e of list.getEntries()) {
      gcMs += e.duration;
      gcCount++;
    }
  }).observe({ entryTypes: ['gc'] });
}
const server = app.listen(0, '127.0.0.1', async () => {
  const port = server.address().port;
  const REQ = Buffer.from('GET /users/42 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  async function run(n) {
    let done = 0;
    const socks = [];
    await new Promise((resolve) => {
      let started = 0;
      for (let c = 0; c < C; c++) {
        const s = net.connect(port, '127.0.0.1');
        s.on('error', () => {});
        socks.push(s);
        let buf = '';
        s.on('data', (d) => {
          buf += d;
          let i;
          while ((i = buf.indexOf('hello world')) >= 0) {
            buf = buf.slice(i + 11); done++;
            if (started < n) { started++; s.write(REQ); } else if (done >= n) { resolve(); }
          }
        });
        s.on('connect', () => { started++; s.write(REQ); });
      }
    });
    for (const s of socks) s.destroy();
  }
  await run(Number(process.env.INPROCESS_WARMUP || 3000));
  const best = [];
  const passes = Number(process.env.INPROCESS_PASSES || 3);
  gcCounting = true;
  for (let r = 0; r < passes; r++) {
    const t = process.cpuUsage();
    await run(N);
    const d = process.cpuUsage(t);
    best.push((d.user + d.system) / N);
  }
  best.sort((a, b) => a - b);
  const st = require("fs").readFileSync("/proc/self/status", "utf8"); const rss = +st.match(/VmRSS:\s+(\d+)/)[1] / 1024;
  const mu = process.memoryUsage();
  if (process.env.INPROCESS_SMAPS) {
    const byMapping = new Map();
    let mapping = '';
    for (const line of require('fs').readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
      const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
      if (head) mapping = head[1] || '[anon]';
      const rss = /^Rss:\s+(\d+) kB/.exec(line);
      if (rss) byMapping.set(mapping, (byMapping.get(mapping) || 0) + Number(rss[1]));
    }
    const top = [...byMapping].sort((x, y) => y[1] - x[1]).slice(0, 8);
    for (const [name, kb] of top) process.stderr.write(`${(kb / 1024).toFixed(1)} MB ${name}\n`);
  }
  if (process.env.INPROCESS_HEAPSNAPSHOT) {
    if (typeof global.gc === 'function') global.gc();
    require('v8').writeHeapSnapshot(process.env.INPROCESS_HEAPSNAPSHOT);
  }
  const extra = queries === undefined ? {} : { queries };
  if (process.env.INPROCESS_GC) {
    await new Promise((resolve) => setTimeout(resolve, 20)); // the last passes' entries are delivered asynchronously
    extra.gcUsPerReq = +((gcMs * 1000) / (N * passes)).toFixed(2);
    extra.gcPerKReq = +((gcCount * 1000) / (N * passes)).toFixed(2);
  }
  if (process.env.INPROCESS_THREADS) {
    const { procStat } = require('../lib/common');
    const cpuMs = { main: 0, others: 0 };
    for (const tid of require('fs').readdirSync(`/proc/${process.pid}/task`)) {
      const t = procStat(`${process.pid}/task/${tid}`);
      if (t !== null) cpuMs[tid === String(process.pid) ? 'main' : 'others'] += Math.round((t.userUs + t.sysUs) / 1000);
    }
    extra.threadsCpuMs = cpuMs;
  }
  console.log(JSON.stringify({ min: +best[0].toFixed(1), med: +best[best.length >> 1].toFixed(1), rss: +rss.toFixed(1), heapTotal: +(mu.heapTotal/1048576).toFixed(1), heapUsed: +(mu.heapUsed/1048576).toFixed(1), ...extra }));
  process.exit(0);
});
