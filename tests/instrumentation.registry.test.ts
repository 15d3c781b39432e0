/**
 * The registry: which instrumentations run for a given selection, what happens
 * with names it does not know, and how an unsupported library version is skipped.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { INSTRUMENTATIONS, selectInstrumentations } from '../instrumentations';
import { sharedPostgres, stopSharedPostgres, type PostgresServer } from './support/postgres';
import { buildInstrumentations, FIXTURES, pgEnv, runUnderHarness, seedUsers } from './fixtures/instr/run';

function names(selection: { enabled: Set<string> | null; disabled: Set<string> }): string[] {
  return selectInstrumentations(selection).map((m) => m.name);
}

describe('selecting instrumentations', () => {
  let warnings: string[];
  beforeEach(() => {
    warnings = [];
    const logger: DiagLogger = {
      error: () => {},
      warn: (message: string) => warnings.push(message),
      info: () => {},
      debug: () => {},
      verbose: () => {},
    };
    diag.setLogger(logger, DiagLogLevel.WARN);
  });
  afterEach(() => diag.disable());

  it('declares one module per library with its supported versions', () => {
    expect(INSTRUMENTATIONS.map((m) => [m.name, m.moduleName, m.supportedVersions])).toEqual([
      ['http', 'http, https (Node core)', 'the running Node.js'],
      ['express', 'express', '>=4.0.0 <6.0.0'],
      ['pg', 'pg', '>=8.0.0 <9.0.0'],
      ['fetch', 'undici (Node.js global fetch)', '>=5.0.0 <8.0.0'],
    ]);
  });

  it('enables everything when enabled is null', () => {
    expect(names({ enabled: null, disabled: new Set() })).toEqual(['http', 'express', 'pg', 'fetch']);
  });

  it('enables only the listed ones, and disabled wins', () => {
    expect(names({ enabled: new Set(['http', 'pg']), disabled: new Set() })).toEqual(['http', 'pg']);
    expect(names({ enabled: new Set(['http', 'pg']), disabled: new Set(['pg']) })).toEqual(['http']);
    expect(names({ enabled: null, disabled: new Set(['express', 'http']) })).toEqual(['pg', 'fetch']);
  });

  it('accepts undici as another name for fetch', () => {
    expect(names({ enabled: new Set(['undici']), disabled: new Set() })).toEqual(['fetch']);
    expect(names({ enabled: null, disabled: new Set(['undici']) })).toEqual(['http', 'express', 'pg']);
  });

  it('warns once per unknown name and otherwise ignores it', () => {
    expect(names({ enabled: new Set(['http', 'mysql']), disabled: new Set(['redis']) })).toEqual(['http']);
    expect(warnings).toEqual([
      expect.stringContaining('unknown instrumentation "mysql"'),
      expect.stringContaining('unknown instrumentation "redis"'),
    ]);
  });
});

describe('in a real process', () => {
  let server: PostgresServer;

  beforeAll(async () => {
    buildInstrumentations();
    server = await sharedPostgres();
    await seedUsers(server);
  });
  afterAll(async () => {
    await stopSharedPostgres();
  });

  it('records nothing from disabled instrumentations, and the app behaves the same', () => {
    const recording = runUnderHarness({
      entry: 'express5/app.cjs',
      impl: 'ours',
      env: { ...pgEnv(server), INSTR_DISABLED: 'express,pg', APP_PATHS: '/users/1' },
    });
    expect(recording.facts.statuses).toEqual({ '/users/1': 200 });
    const scopes = new Set(recording.spans.map((s) => s.scope));
    expect([...scopes].sort()).toEqual(['fixture-app', 'otlp-mmap/instrumentation-http']);
    // Without express, nothing tells the http span the route.
    const serverSpan = recording.spans.find((s) => s.kind === 1);
    expect(serverSpan?.name).toBe('GET');
    expect(recording.metrics.map((m) => m.name)).not.toContain('db.client.operation.duration');
  });

  it('skips an unsupported express version with a diag warning, and the app still works', () => {
    const fake = path.join(FIXTURES, 'unsupported', 'node_modules', 'express');
    fs.mkdirSync(fake, { recursive: true });
    fs.writeFileSync(path.join(fake, 'package.json'), JSON.stringify({ name: 'express', version: '3.21.2', main: 'index.js' }));
    fs.writeFileSync(
      path.join(fake, 'index.js'),
      'function express() { return { answer: 42 }; }\nexpress.Router = function Router() {};\nexpress.application = {};\nmodule.exports = express;\n',
    );
    const recording = runUnderHarness({ entry: 'unsupported/app.cjs', impl: 'ours' });
    expect(recording.facts).toMatchObject({ expressVersion: '3.21.2', answer: 42 });
    expect(recording.diag).toContainEqual([
      'warn',
      'otlp-mmap: express 3.21.2 is not supported (supported: >=4.0.0 <6.0.0); it is not instrumented',
    ]);
  });
});
