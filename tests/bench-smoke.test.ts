/**
 * Smoke runs of the benchmark suite (bench/): every benchmark runs once in a very
 * short form, as a child process like `npm run bench` runs it, so that the scripts
 * keep working. Results go to a temporary BENCH_RESULTS_DIR. No timing is asserted:
 * only that each benchmark ran its real components (agent, collector, OTel SDK,
 * PostgreSQL, OTLP receiver) and produced complete, consistent results.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..');
let resultsDir: string;

interface Run {
  stdout: string;
  stderr: string;
}

function bench(script: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'bench', script), ...args],
      { cwd: ROOT, env: { ...process.env, BENCH_RESULTS_DIR: resultsDir }, timeout: 240_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${script} failed: ${err.message}\n${stdout}\n${stderr}`));
        else resolve({ stdout, stderr });
      },
    );
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function result(name: string): any {
  return JSON.parse(fs.readFileSync(path.join(resultsDir, `${name}.json`), 'utf8'));
}

beforeAll(() => {
  resultsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'otlp-mmap-bench-smoke-'));
});
afterAll(() => {
  fs.rmSync(resultsDir, { recursive: true, force: true });
});

jest.setTimeout(300_000);

describe('benchmark suite (smoke)', () => {
  test('--help prints each script\'s usage and runs nothing (no result written)', async () => {
    const helpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'otlp-mmap-bench-help-'));
    try {
      const scripts = fs.readdirSync(path.join(ROOT, 'bench')).filter((f) => f.endsWith('.js'));
      expect(scripts.length).toBeGreaterThanOrEqual(11);
      for (const script of scripts) {
        const out = await new Promise<string>((resolve, reject) => {
          execFile(
            process.execPath,
            [path.join(ROOT, 'bench', script), '--help'],
            { cwd: ROOT, env: { ...process.env, BENCH_RESULTS_DIR: helpDir }, timeout: 20_000 },
            (err, stdout) => (err ? reject(new Error(`${script} --help: ${err.message}`)) : resolve(stdout)),
          );
        });
        // The script's own header comment, without its comment markers.
        const header = fs.readFileSync(path.join(ROOT, 'bench', script), 'utf8').split('\n').find((l) => l.startsWith('// '))!;
        expect({ script, first: out.split('\n')[0] }).toEqual({ script, first: header.slice(3) });
      }
      expect(fs.readdirSync(helpDir)).toEqual([]);
    } finally {
      fs.rmSync(helpDir, { recursive: true, force: true });
    }
  });

  test('run-all runs the recorder microbenchmark and writes a summary with its table', async () => {
    const r = await bench('run-all.js', ['--quick', '--only', 'recorder']);
    expect(r.stdout).toMatch(/\| span start\+end, 8 attributes \| \d+ \| \d+ \| [\d.]+x \|/);
    const summary = fs.readFileSync(path.join(resultsDir, 'summary-quick.md'), 'utf8');
    expect(summary).toContain('### 4. recorder microbenchmark');
    const rec = result('recorder');
    expect(rec.rows.length).toBe(7);
    for (const row of rec.rows) expect(row.otlpMmapNs).toBeGreaterThan(0);
  });

  test('startup: every variant starts and exits cleanly; the agent prints nothing', async () => {
    const r = await bench('startup.js', ['--runs', '1']);
    expect(r.stdout).toContain('| empty ESM | otlp-mmap (--import register.mjs) |');
    const s = result('startup');
    expect(s.rows.length).toBe(14);
    for (const row of s.rows) {
      expect(row.ms).toBeGreaterThan(0);
      if (row.key === 'otlp-mmap') expect(row.stderr).toBeUndefined();
    }
    expect(fs.existsSync(path.join(resultsDir, 'startup.svg'))).toBe(true);
  });

  test.each([
    ['express-hello.js', 'express-hello'],
    ['express-pg.js', 'express-pg'],
  ])('%s: all three variants serve requests without errors; the collector runs beside otlp-mmap', async (script, name) => {
    const r = await bench(script, ['--rounds', '1', '--duration', '1', '--warmup', '0.5']);
    expect(r.stdout).toMatch(/\| otlp-mmap \| [\d,]+ \|/);
    const s = result(name);
    expect(s.rows.map((x: { key: string }) => x.key)).toEqual(['none', 'otlp-mmap', 'otel']);
    for (const row of s.rows) {
      expect(row.rps).toBeGreaterThan(0);
      expect(row.cpuUsPerReq).toBeGreaterThan(0);
      // The kernel's share is part of the CPU per request; faults and switches are counts.
      expect(row.sysUsPerReq).toBeGreaterThanOrEqual(0);
      expect(row.sysUsPerReq).toBeLessThanOrEqual(row.cpuUsPerReq);
      expect(row.faultsPerReq).toBeGreaterThanOrEqual(0);
      expect(row.switchesPerReq).toBeGreaterThanOrEqual(0);
      expect(row.rssMB).toBeGreaterThan(0);
      expect(row.curve.length).toBeGreaterThan(5);
    }
    const mmap = s.rows.find((x: { key: string }) => x.key === 'otlp-mmap');
    expect(mmap.collectorCpuPct).not.toBeNull();
    // With one round the paired ratio is that round's ratio; the bare app has none.
    expect(mmap.capacityRatioPaired).toBeCloseTo(s.samples.none[0].cpuUsPerReq / s.samples['otlp-mmap'][0].cpuUsPerReq, 9);
    expect(s.rows[0].capacityRatioPaired).toBeNull();
    const svg = fs.readFileSync(path.join(resultsDir, `${name}-latency.svg`), 'utf8');
    expect(svg).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
  });

  test('procStat splits a process CPU time into user and kernel time and counts its faults and sleeps', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const c = require(path.join(ROOT, 'bench', 'lib', 'common.js'));
    const s0 = c.procStat(process.pid);
    for (let i = 0; i < 40_000; i++) fs.statSync('/'); // system calls: kernel time
    const s1 = c.procStat(process.pid);
    const big = Buffer.alloc(64 << 20);
    big.fill(1); // 16k fresh pages touched: minor faults
    const s2 = c.procStat(process.pid);
    const until = Date.now() + 100;
    let spins = 0;
    while (Date.now() < until) spins++; // user time, no system calls to speak of
    const s3 = c.procStat(process.pid);
    // The main thread sleeps: a futex wait blocks every time (a timer's epoll_wait can return at
    // once when other I/O is ready, and then counts no switch; seen as 3 of 5 on a loaded host).
    const cell = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < 5; i++) Atomics.wait(cell, 0, 0, 10);
    const s4 = c.procStat(process.pid);
    expect(s1.sysUs - s0.sysUs).toBeGreaterThan(0);
    expect(s2.minflt - s1.minflt).toBeGreaterThan(8_000);
    expect(s3.userUs - s2.userUs).toBeGreaterThan(s3.sysUs - s2.sysUs);
    expect(s4.voluntary - s3.voluntary).toBeGreaterThanOrEqual(5);
    expect(spins).toBeGreaterThan(0);
    // Its parent, and the CPU of a child it waited for.
    expect(s4.ppid).toBe(process.ppid);
    await new Promise((resolve) => execFile(process.execPath, ['-e', 'const u = Date.now() + 200; while (Date.now() < u);'], resolve));
    const s5 = c.procStat('self');
    expect(s5.reapedUs - s4.reapedUs).toBeGreaterThan(100_000);
    expect(c.procStat(2 ** 22 + 12345)).toBeNull();
  });

  test('foreignCpu counts the CPU other processes take, not this one, its reaped children or the pids it is given', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const c = require(path.join(ROOT, 'bench', 'lib', 'common.js'));
    const burner = (ms: number) => `const until = Date.now() + ${ms}; while (Date.now() < until);`;
    const spin = (ms: number): void => {
      const until = Date.now() + ms;
      while (Date.now() < until);
    };
    // Our own work, and a child that has exited (and was waited for): not foreign.
    const mine = c.foreignCpu();
    spin(300);
    await new Promise((resolve) => execFile(process.execPath, ['-e', burner(300)], resolve));
    expect(mine.stop().foreignCores).toBeLessThan(0.35);
    // A process still running when the meter stops, not among its pids: foreign. The same
    // process named in its pids: not.
    const other = spawn(process.execPath, ['-e', burner(60_000)], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300)); // let it start
      const foreign = c.foreignCpu();
      const named = c.foreignCpu([other.pid]);
      await new Promise((r) => setTimeout(r, 700));
      const [f, n] = [foreign.stop().foreignCores, named.stop().foreignCores];
      expect(f).toBeGreaterThan(0.6);
      expect(n).toBeLessThan(f - 0.5);
    } finally {
      other.kill('SIGKILL');
    }
  });

  test('crash-loss: after SIGKILL the collector still exports every ended span of otlp-mmap', async () => {
    await bench('crash-loss.js', ['--requests', '100', '--rounds', '1']);
    const s = result('crash-loss');
    const mmap = s.samples['otlp-mmap'][0];
    expect(mmap.requests).toBe(100);
    expect(mmap.expected).toBe(400);
    expect(mmap.received).toBe(400);
    expect(mmap.byName).toEqual({
      'GET /users/:id': 100,
      'middleware - requestId': 100,
      'middleware - noCache': 100,
      'request handler - /users/:id': 100,
    });
    const otel = s.samples.otel[0];
    expect(otel.requests).toBe(100);
    expect(otel.received).toBeLessThanOrEqual(400);
  });

  test('collector-throughput: drains every fill, measures idle CPU and runs rate trials', async () => {
    await bench('collector-throughput.js', ['--quick', '--spans', '3000', '--idle', '1', '--trial', '0.5', '--rates', '2000', '--start-delay', '1.5']);
    const s = result('collector-throughput');
    expect(s.drainRows.length).toBe(6);
    for (const row of s.drainRows) expect(row.eventsPerCpuSec).toBeGreaterThan(0);
    expect(s.idle.length).toBe(2);
    expect(s.maxRate.trials.length).toBe(1);
    expect(s.maxRate.trials[0].achieved).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(resultsDir, 'collector-throughput.svg'))).toBe(true);
  });

  test('breakdown: measures every configuration, from no agent to the full agent', async () => {
    await bench('breakdown.js', ['--quick', '--duration', '1', '--warmup', '0.5']);
    const s = result('breakdown');
    expect(s.rows.map((r: { key: string }) => r.key)).toEqual(['none', 'bare', 'http', 'off', 'nometrics', 'full']);
    for (const row of s.rows) {
      expect(row.cpu).toBeGreaterThan(0);
      expect(row.rps).toBeGreaterThan(0);
    }
  });

  test('breakdown --inprocess: each configuration is what it says it is, as written to the file', async () => {
    await bench('breakdown.js', ['--inprocess', '--quick', '--requests', '300']);
    const s = result('breakdown-inprocess');
    type Row = { key: string; cpu: number; spanMessages: number; measurements: number };
    const rows = new Map<string, Row>(s.rows.map((r: Row) => [r.key, r]));
    expect([...rows.keys()]).toEqual(['none', 'als', 'bare', 'http-off', 'http-span', 'http', 'off', 'nometrics', 'full']);
    for (const r of rows.values()) expect(r.cpu).toBeGreaterThan(0);
    // Nothing is written without an instrumentation, or with the sampler and metrics off.
    for (const k of ['none', 'als', 'bare', 'http-off', 'off']) {
      expect(rows.get(k)!.spanMessages).toBe(0);
      expect(rows.get(k)!.measurements).toBe(0);
    }
    // One server span (a start and an end, at least) and no measurement without metrics...
    expect(rows.get('http-span')!.spanMessages).toBeGreaterThanOrEqual(2);
    expect(rows.get('http-span')!.measurements).toBe(0);
    // ...and one duration measurement per request with them.
    expect(rows.get('http')!.measurements).toBeCloseTo(1, 2);
    // express adds three layer spans: six more messages per request at least.
    expect(rows.get('nometrics')!.spanMessages).toBeGreaterThanOrEqual(rows.get('http-span')!.spanMessages + 6);
    expect(rows.get('full')!.spanMessages).toBeCloseTo(rows.get('nometrics')!.spanMessages, 2);
    expect(rows.get('full')!.measurements).toBeCloseTo(1, 2);
  });

  test('inprocess: the app and its client in one process, with and without the agent, and with a collector draining the file', async () => {
    await bench('inprocess.js', ['--quick', '--requests', '500', '--drain']);
    const s = result('inprocess');
    type Row = { name: string; cpu: number; spanMessages: number; spanMessagesDropped: number };
    const rows: Row[] = s.rows;
    expect(rows.map((r) => r.name)).toEqual(['no agent', 'otlp-mmap (this build)', 'otlp-mmap (this build, drained by a collector)']);
    for (const row of rows) expect(row.cpu).toBeGreaterThan(0);
    const [none, undrained, drained] = rows;
    expect(none.spanMessages).toBe(0);
    // http + express: four spans per request, ten messages at least (starts, ends, the rename).
    expect(undrained.spanMessages).toBeGreaterThanOrEqual(10);
    expect(drained.spanMessages).toBeCloseTo(undrained.spanMessages, 1);
    // Left alone, the span ring (4,096 slots) fills early in the warm-up and most messages drop;
    // the collector reads them as they come.
    expect(undrained.spanMessagesDropped).toBeGreaterThan(undrained.spanMessages / 2);
    expect(drained.spanMessagesDropped).toBeLessThan(drained.spanMessages / 10);
  });

  test('collector-core: drains files through the native poll alone, timed and (with valgrind) counted', async () => {
    await bench('collector-core.js', ['--quick', '--attrs', '0,8']);
    const s = result('collector-core');
    expect(s.rows.map((r: { attrs: number }) => r.attrs)).toEqual([0, 8]);
    for (const r of s.rows) {
      expect(r.usPerSpan).toBeGreaterThan(0);
      // Every span is exported: OTLP bytes carry ids, name and times (and the attributes).
      expect(r.bytesPerSpan).toBeGreaterThan(60);
    }
    const [none, eight] = s.rows;
    expect(eight.bytesPerSpan).toBeGreaterThan(none.bytesPerSpan + 8 * 20);
    if (none.instructionsPerSpan !== null) {
      // Counted inside the native poll only: thousands per span, more with attributes.
      expect(none.instructionsPerSpan).toBeGreaterThan(1000);
      expect(eight.instructionsPerSpan).toBeGreaterThan(none.instructionsPerSpan + 8 * 200);
    }
  });

  test('attribute-instructions: counts what the recorder spends per call and per attribute under valgrind', async () => {
    await bench('attribute-instructions.js', ['--quick']);
    const s = result('attribute-instructions');
    const perCall = Object.fromEntries(s.rows.map((r: { mode: string; perCall: number | null }) => [r.mode, r.perCall]));
    expect(Object.keys(perCall)).toEqual(['loop', 'none', 'attrs', 'attrs+span']);
    // Real work is counted: a call with attributes and a span context costs thousands of
    // instructions, and attributes add to a bare call. (A quick count moves by about ±500 per
    // call between runs, so the margins are wide: about 6.7k, 3.6k and 5.1k are typical.)
    expect(perCall['attrs+span']).toBeGreaterThan(3000);
    expect(perCall.attrs - perCall.none).toBeGreaterThan(1000);
    expect(perCall['attrs+span'] - perCall.none).toBeGreaterThan(2000);
    expect(s.perAttribute).toBeCloseTo((perCall.attrs - perCall.none) / 5, 6);
  });

  test('instructions: counts instructions per request under valgrind, with and without the agent', async () => {
    await bench('instructions.js', ['--quick', '--only', 'none,otlp-mmap']);
    const s = result('instructions');
    expect(s.rows.map((r: { key: string }) => r.key)).toEqual(['none', 'otlp-mmap']);
    const [none, agent] = s.rows;
    expect(none.perRequest).toBeGreaterThan(10_000);
    // Recording spans is real work: the agent's requests cost more instructions than bare ones.
    expect(agent.perRequest).toBeGreaterThan(none.perRequest);
    expect(agent.added).toBeCloseTo(agent.perRequest - none.perRequest, 3);
    // Each count says how much other processes ran beside it (a share of a core).
    for (const r of s.rows) expect(Number.isFinite(r.foreignCores) && r.foreignCores >= 0).toBe(true);
  });

  test('instructions --pg: counts bench 2\'s work (a real PostgreSQL server, one query per request)', async () => {
    const run = await bench('instructions.js', ['--pg', '--requests', '100,300', '--warmup', '200', '--only', 'none,otlp-mmap']);
    expect(run.stdout + run.stderr).toContain('express + pg, one query per request');
    const s = result('instructions-pg');
    expect(s.agentEnv.OTEL_NODE_ENABLED_INSTRUMENTATIONS).toBe('http,express,pg');
    expect(s.rows.map((r: { key: string }) => r.key)).toEqual(['none', 'otlp-mmap']);
    const [none, agent] = s.rows;
    expect(none.perRequest).toBeGreaterThan(10_000);
    expect(agent.perRequest).toBeGreaterThan(none.perRequest);
    for (const r of s.rows) expect(Number.isFinite(r.foreignCores) && r.foreignCores >= 0).toBe(true);
  });

  test('the pg scenario: the in-process app queries a real server per request, whose CPU the meter knows as the benchmark\'s', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const c = require(path.join(ROOT, 'bench', 'lib', 'common.js'));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { startPostgres } = require(path.join(ROOT, 'bench', 'lib', 'postgres.js'));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Client } = require('pg');
    const pg = await startPostgres();
    try {
      const env = { ...process.env, PGHOST: pg.host, PGPORT: String(pg.port), PGUSER: pg.user, PGDATABASE: pg.database };
      const out = await new Promise<string>((resolve, reject) =>
        execFile(
          process.execPath,
          [path.join(ROOT, 'bench', 'apps', 'inprocess-app.js'), '200'],
          { env: { ...env, INPROCESS_SCENARIO: 'pg', INPROCESS_WARMUP: '50', INPROCESS_PASSES: '1' }, timeout: 60_000 },
          (err, stdout) => (err ? reject(err) : resolve(stdout)),
        ),
      );
      // Every request (warm-up and pass) ran the query and got its row.
      expect(JSON.parse(out.trim().split('\n').pop()!).queries).toBe(250);

      // The server works for this process's queries: foreign to a plain meter, not to one told
      // the server's CPU.
      const client = new Client({ host: pg.host, port: pg.port, user: pg.user, database: pg.database });
      await client.connect();
      try {
        const plain = c.foreignCpu();
        const told = c.foreignCpu([], pg.cpuMicros);
        const until = Date.now() + 1500;
        let n = 0;
        while (Date.now() < until) await client.query('SELECT id, name FROM users WHERE id = $1', [(n++ % 1000) + 1]);
        const [p, t] = [plain.stop().foreignCores, told.stop().foreignCores];
        expect(p).toBeGreaterThan(0.15);
        expect(t).toBeLessThan(p - 0.1);
      } finally {
        await client.end();
      }
    } finally {
      pg.stop();
    }
  });

  test('instructions --cache-sim: also counts simulated cache misses and branch mispredictions per request', async () => {
    // 800 requests apart: with 200 (100 and 300) the last-level misses, a few hundred per request
    // against thousands at start-up, once came out negative.
    await bench('instructions.js', ['--requests', '200,1000', '--warmup', '300', '--only', 'none', '--cache-sim']);
    const s = result('instructions-cachesim');
    expect(s.cacheSim).toBe(true);
    const [none] = s.rows;
    expect(none.perRequest).toBeGreaterThan(10_000);
    // Every request misses some cache line and mispredicts some branch, and each event is far
    // rarer than the instructions it is counted among.
    for (const k of ['i1Misses', 'd1Misses', 'llMisses', 'mispredicts']) {
      expect(none[k]).toBeGreaterThan(0);
      expect(none[k]).toBeLessThan(none.perRequest / 10);
    }
  });

  test('instructions --by-function: names the JavaScript and native functions the agent adds, and totals them by part', async () => {
    const run = await bench('instructions.js', ['--requests', '100,300', '--warmup', '200', '--only', 'none,otlp-mmap', '--by-function', '15']);
    const s = result('instructions-by-function');
    expect(s.rows.map((r: { key: string }) => r.key)).toEqual(['none', 'otlp-mmap']);
    const [none, agent] = s.rows;
    const names = (row: { functions: Record<string, number> }) => Object.keys(row.functions);
    // JIT code is named from V8's perf map: the agent's bundle, the recorder's JS (its hot path
    // runs every span) and the native recorder's symbols, none of them in the bare app.
    const agentJs = names(agent).filter((n) => /^JS \S+ dist\/agent\/bundle\.js:\d+:\d+$/.test(n));
    expect(agentJs.length).toBeGreaterThan(3);
    expect(names(agent)).toEqual(expect.arrayContaining([expect.stringMatching(/^JS recordSpanStart index\.js:\d+:\d+$/)]));
    expect(names(agent).some((n) => /^otlp_mmap::recorder::\S+ \[otlp-mmap\.[^\]]+\.node\]$/.test(n) && agent.functions[n] > 0)).toBe(true);
    expect(names(none).some((n) => n.includes('dist/agent/') || n.includes('otlp_mmap::'))).toBe(false);
    // The diff against no agent: the parts add up to the added total, and name our own code.
    const [d] = s.diffs;
    expect(d).toMatchObject({ key: 'otlp-mmap', vs: 'none' });
    const partsAdded = d.parts.reduce((sum: number, p: { added: number }) => sum + p.added, 0);
    expect(partsAdded).toBeCloseTo(agent.perRequest - none.perRequest, 0);
    const part = (name: string) => d.parts.find((p: { part: string }) => p.part === name);
    for (const ours of ['agent JavaScript', "recorder's JavaScript", 'native recorder']) {
      expect(part(ours).base).toBe(0);
      expect(part(ours).added).toBeGreaterThan(500);
    }
    expect(d.top).toHaveLength(15);
    expect(run.stdout).toContain('otlp-mmap against no agent');
  });

  test('allocations: samples the bytes each request allocates, and names where the agent allocates more', async () => {
    await bench('allocations.js', ['--quick', '--only', 'none,otlp-mmap']);
    const s = result('allocations');
    expect(s.rows.map((r: { key: string }) => r.key)).toEqual(['none', 'otlp-mmap']);
    const [none, agent] = s.rows;
    // Express alone allocates kilobytes per request; spans and contexts add to it.
    expect(none.perRequest).toBeGreaterThan(5_000);
    expect(agent.perRequest).toBeGreaterThan(none.perRequest);
    // The agent's own span objects are among the sites it adds.
    expect(s.agentSites.some((x: { site: string }) => /dist\/agent\//.test(x.site))).toBe(true);
  });

  test('context calls: the preload counts the agent context manager\'s calls per request', async () => {
    const stderr = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--import', path.join(ROOT, 'register.mjs'), '--require', path.join(ROOT, 'bench', 'apps', 'context-calls.cjs'), path.join(ROOT, 'bench', 'apps', 'inprocess-app.js'), '200'],
        {
          cwd: ROOT,
          env: { ...process.env, INPROCESS_WARMUP: '100', INPROCESS_PASSES: '1', OTLP_MMAP_DIR: path.join(resultsDir, 'mmap'), OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,express' },
          timeout: 120_000,
        },
        (err, _stdout, errOut) => (err ? reject(err) : resolve(errOut)),
      );
    });
    const line = stderr.split('\n').find((l) => l.startsWith('{"contextCallsPerRequest"'));
    expect(line).toBeDefined();
    const { contextCallsPerRequest: calls, requests } = JSON.parse(line!) as { contextCallsPerRequest: Record<string, number>; requests: number };
    expect(requests).toBe(300);
    // Every request binds its request and response, and its express layers run through call3.
    expect(calls.bind).toBeGreaterThanOrEqual(0.9);
    expect(calls.bindObserved).toBeGreaterThanOrEqual(0.9);
    expect(calls.call3).toBeGreaterThanOrEqual(1);
    expect(calls.active).toBeGreaterThan(0);
  });

  test('heap snapshots: the in-process app writes one on request, and the summary counts what the agent keeps', async () => {
    const snap = (name: string, nodeArgs: string[]): Promise<string> =>
      new Promise((resolve, reject) => {
        const file = path.join(resultsDir, `${name}.heapsnapshot`);
        execFile(
          process.execPath,
          ['--expose-gc', ...nodeArgs, path.join(ROOT, 'bench', 'apps', 'inprocess-app.js'), '200'],
          {
            cwd: ROOT,
            env: { ...process.env, INPROCESS_WARMUP: '100', INPROCESS_PASSES: '1', INPROCESS_HEAPSNAPSHOT: file, OTLP_MMAP_DIR: path.join(resultsDir, 'mmap'), OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,express' },
            timeout: 120_000,
          },
          (err) => (err ? reject(err) : resolve(file)),
        );
      });
    const none = await snap('none', []);
    const agent = await snap('agent', ['--import', path.join(ROOT, 'register.mjs')]);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { summarise } = require(path.join(ROOT, 'bench', 'lib', 'heapsnapshot.js'));
    const [a, b] = [summarise(none), summarise(agent)];
    expect(a.objects).toBeGreaterThan(10_000);
    expect(a.groups.get('code').objects).toBeGreaterThan(0);
    // The agent's own code and objects stay alive: thousands of objects more than the bare app.
    expect(b.objects - a.objects).toBeGreaterThan(5_000);
    // Its live closures, by the bundled module they come from: the API, the agent's own modules
    // and the http instrumentation's among them, and nothing of @opentelemetry/instrumentation.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { closuresByModule } = require(path.join(ROOT, 'bench', 'lib', 'heapsnapshot.js'));
    const closures = closuresByModule(agent, path.join(ROOT, 'dist', 'agent', 'bundle.js'));
    expect(closures.total).toBeGreaterThan(300);
    for (const module of ['@opentelemetry/api', 'dist/agent', 'dist/instrumentations/http']) {
      expect(closures.modules.get(module)).toBeGreaterThan(0);
    }
    expect(closures.modules.has('@opentelemetry/instrumentation')).toBe(false);
    expect(closuresByModule(none, path.join(ROOT, 'dist', 'agent', 'bundle.js')).total).toBe(0);
  });

  test('the in-process app reports its GC pauses per request and its CPU by thread on request, and only then', async () => {
    const run = (env: Record<string, string>): Promise<Record<string, number>> =>
      new Promise((resolve, reject) => {
        execFile(
          process.execPath,
          ['--single-threaded', path.join(ROOT, 'bench', 'apps', 'inprocess-app.js'), '2000'],
          { cwd: ROOT, env: { ...process.env, INPROCESS_WARMUP: '100', INPROCESS_PASSES: '1', ...env }, timeout: 60_000 },
          (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout.trim().split('\n').pop() as string))),
        );
      });
    const counted = await run({ INPROCESS_GC: '1' });
    // 2,000 requests allocate tens of MB: several scavenges, each a pause of some µs.
    expect(counted.gcPerKReq).toBeGreaterThan(0.5);
    expect(counted.gcUsPerReq).toBeGreaterThan(0);
    expect(counted.gcUsPerReq).toBeLessThan(counted.min);
    const plain = await run({});
    expect(plain.gcUsPerReq).toBeUndefined();
    expect(plain.threadsCpuMs).toBeUndefined();
    expect(plain.min).toBeGreaterThan(0);
    // CPU by thread: 2,100 requests keep the JS thread busy for well over 100 ms; with
    // --single-threaded the helpers have next to nothing to do.
    const threads = (await run({ INPROCESS_THREADS: '1' })).threadsCpuMs as unknown as { main: number; others: number };
    expect(threads.main).toBeGreaterThan(100);
    expect(threads.others).toBeGreaterThanOrEqual(0);
    expect(threads.others).toBeLessThan(threads.main);
  });

  test('emit-binding preload: each mode binds requests and responses its own way, and the app serves them all', async () => {
    const run = (mode: string): Promise<{ app: { min: number }; report: Record<string, unknown> }> =>
      new Promise((resolve, reject) => {
        execFile(
          process.execPath,
          ['--require', path.join(ROOT, 'bench', 'apps', 'emit-binding.cjs'), path.join(ROOT, 'bench', 'apps', 'inprocess-app.js'), '200'],
          { cwd: ROOT, env: { ...process.env, INPROCESS_WARMUP: '50', INPROCESS_PASSES: '1', EMIT_BINDING: mode, EMIT_BINDING_REPORT: '1' }, timeout: 60_000 },
          (err, stdout, stderr) => {
            if (err) return reject(new Error(`${mode}: ${err.message}\n${stderr}`));
            resolve({ app: JSON.parse(stdout.trim().split('\n').pop() as string), report: JSON.parse(stderr.trim().split('\n').pop() as string) });
          },
        );
      });
    const none = { ownEmit: false, symbol: false, weakMap: false };
    const expected: Record<string, [object, object]> = {
      own: [{ ...none, ownEmit: true }, { ...none, ownEmit: true }],
      'own-one': [{ ...none, ownEmit: true }, { ...none, ownEmit: true }],
      'own-req': [{ ...none, ownEmit: true }, none],
      'own-res': [none, { ...none, ownEmit: true }],
      proto: [none, none],
      symbol: [{ ...none, symbol: true }, { ...none, symbol: true }],
      weakmap: [{ ...none, weakMap: true }, { ...none, weakMap: true }],
    };
    for (const [mode, [req, res]] of Object.entries(expected)) {
      const { app, report } = await run(mode);
      expect(app.min).toBeGreaterThan(0);
      // The 50 warm-up requests and the 200 measured: every one seen.
      expect(report).toEqual({ mode, requests: 250, req, res });
    }
    await expect(run('bogus')).rejects.toThrow('EMIT_BINDING must be one of own, own-one, own-req, own-res, proto, symbol, weakmap, got bogus');
  });

  test('profile: writes a CPU profile of the app under the agent and names telemetry frames in it', async () => {
    const r = await bench('profile.js', ['--duration', '1', '--only', 'otlp-mmap']);
    expect(r.stdout).toContain('telemetry functions');
    const s = result('profile-hello');
    const p = s.profiles[0].summary;
    expect(p.busyMs).toBeGreaterThan(0);
    expect(p.categories.some((c: { category: string }) => c.category.startsWith('otlp-mmap'))).toBe(true);
  });
});
