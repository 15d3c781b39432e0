/**
 * The otlp-mmap agent: configuration, resource, the trace/metrics/logs providers on the native
 * recorder, context and propagation, and the instrumentations.
 *
 * `start()` is idempotent across module copies (state on `globalThis` under
 * `Symbol.for('otlp-mmap.agent')`), honours `OTEL_SDK_DISABLED`, and never throws: when the agent
 * cannot start, the app runs uninstrumented and one warning goes to stderr. The agent never keeps
 * the process alive and installs no signal handlers.
 */
import fs = require('node:fs');
import path = require('node:path');
import { randomBytes } from 'node:crypto';
import { isMainThread } from 'node:worker_threads';
import {
  context as contextApi,
  diag,
  DiagConsoleLogger,
  DiagLogLevel,
  metrics as metricsApi,
  propagation as propagationApi,
  trace as traceApi,
} from '@opentelemetry/api';
import { logs as logsApi } from '@opentelemetry/api-logs';
import type { Recorder, RecorderOptions } from '../index';
import { fileNameFor, loadConfig, type AgentConfig, type Env, type LogLevel } from './config';
import { builtinsPreloadWanted, esmHookWanted, installEsmHook } from './esm-hooks';
import { hookCommonJsImports, loadBuiltinsThroughHooks } from './esm-imports';
import { IdGenerator } from './ids';
import { setDiagConfigured, setQuiet, warnStartup } from './log';
import { LoggerProvider } from './logs';
import { MeterProvider } from './metrics';
import { detectResource, serviceNameOf } from './resource';
import { createSampler } from './sampler';
import { eventNameInterner, TracerProvider } from './trace';
import { setFastContext } from '../instrumentations/common/context';

export { loadConfig, defaultDirectory, fileNameFor, FILE_EXTENSION } from './config';
export type { AgentConfig } from './config';
export { detectResource, containerIdFrom } from './resource';
export { TracerProvider, Tracer, RecordingSpan } from './trace';
export { MeterProvider, Meter } from './metrics';
export { LoggerProvider, Logger } from './logs';
export { IdGenerator } from './ids';
export { createSampler } from './sampler';

/** What `start()` did. */
export type AgentStatus = 'started' | 'disabled' | 'failed';

/** The running agent (one per process). */
export interface Agent {
  readonly status: AgentStatus;
  /** Why the agent is not running, when `status` is `'failed'`. */
  readonly reason: string | undefined;
  readonly config: AgentConfig | undefined;
  /** The mmap file this process writes. */
  readonly path: string | undefined;
  readonly recorder: Recorder | undefined;
  readonly tracerProvider: TracerProvider | undefined;
  readonly meterProvider: MeterProvider | undefined;
  readonly loggerProvider: LoggerProvider | undefined;
  /** Runs the observable instrument callbacks now and writes their results. */
  forceFlush(): Promise<void>;
}

interface GlobalState {
  agent?: Agent;
  esmHookInstalled?: boolean;
}

const STATE_KEY = Symbol.for('otlp-mmap.agent');

function globalState(): GlobalState {
  const g = globalThis as unknown as Record<symbol, GlobalState | undefined>;
  let s = g[STATE_KEY];
  if (s === undefined) {
    s = {};
    Object.defineProperty(globalThis, STATE_KEY, { value: s, enumerable: false, configurable: false, writable: false });
  }
  return s;
}

/** The agent started in this process (by any copy of this package), if any. */
export function getAgent(): Agent | undefined {
  return globalState().agent;
}

function inactive(status: AgentStatus, config: AgentConfig | undefined, reason?: string): Agent {
  return {
    status,
    reason,
    config,
    path: undefined,
    recorder: undefined,
    tracerProvider: undefined,
    meterProvider: undefined,
    loggerProvider: undefined,
    forceFlush: () => Promise.resolve(),
  };
}

const DIAG_LEVELS: Record<LogLevel, DiagLogLevel> = {
  none: DiagLogLevel.NONE,
  error: DiagLogLevel.ERROR,
  warn: DiagLogLevel.WARN,
  info: DiagLogLevel.INFO,
  debug: DiagLogLevel.DEBUG,
  verbose: DiagLogLevel.VERBOSE,
  all: DiagLogLevel.ALL,
};

function configureDiag(config: AgentConfig): void {
  if (config.logLevel === undefined) return;
  setQuiet(config.logLevel === 'none');
  diag.setLogger(new DiagConsoleLogger(), { logLevel: DIAG_LEVELS[config.logLevel], suppressOverrideMessage: true });
  setDiagConfigured(true);
}

/** Loads the native recorder module from the package root (works from `dist/agent/` and from `agent/`). */
function loadRecorderModule(): { openRecorder(path: string, options?: RecorderOptions): Recorder } {
  for (const candidate of [path.join(__dirname, '..', '..', 'index.js'), path.join(__dirname, '..', 'index.js')]) {
    if (fs.existsSync(candidate)) return require(candidate) as { openRecorder(path: string, options?: RecorderOptions): Recorder };
  }
  throw new Error(`the otlp-mmap package root (index.js) was not found above ${__dirname}`);
}

function recorderOptions(config: AgentConfig): RecorderOptions {
  const f = config.file;
  const options: RecorderOptions = {};
  if (f.slots !== undefined) options.slots = f.slots;
  if (f.slotSize !== undefined) options.slotSize = f.slotSize;
  for (const ring of ['events', 'spans', 'measurements'] as const) {
    const r = f[ring];
    if (r.slots !== undefined || r.slotSize !== undefined) options[ring] = { ...r };
  }
  if (f.dictionaryBytes !== undefined) options.dictionaryBytes = f.dictionaryBytes;
  if (f.maxDictionaryBytes !== undefined) options.maxDictionaryBytes = f.maxDictionaryBytes;
  if (f.mode !== undefined) options.mode = f.mode;
  return options;
}

/** The file path for this process: the explicit one, or `<dir>/<service>-<pid>-<random>.otlp-mmap`. */
function filePathFor(config: AgentConfig): string {
  if (config.file.explicitPath !== undefined) {
    const p = path.resolve(config.file.explicitPath);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    return p;
  }
  fs.mkdirSync(config.file.directory, { recursive: true });
  return path.join(config.file.directory, fileNameFor(serviceNameOf(config), process.pid, randomBytes(4).toString('hex')));
}

interface InstrumentationsModule {
  enableInstrumentations(
    config: { enabled: Set<string> | null; disabled: Set<string> },
    tracerProvider: TracerProvider,
    meterProvider: MeterProvider,
  ): readonly { builtins?: readonly string[] }[] | void;
}

/** Enables the selected instrumentations; returns the builtins the running ones patch. */
function enableInstrumentations(config: AgentConfig, tracerProvider: TracerProvider, meterProvider: MeterProvider): string[] {
  let mod: InstrumentationsModule;
  try {
    mod = require('../instrumentations') as InstrumentationsModule;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'MODULE_NOT_FOUND' && String((e as Error).message).includes("'../instrumentations'")) {
      diag.debug('otlp-mmap: no instrumentations module; only manual telemetry is recorded');
      return [];
    }
    warnStartup(`the instrumentations could not be loaded (${e instanceof Error ? e.message : String(e)}); only manual telemetry is recorded`);
    return [];
  }
  try {
    const running = mod.enableInstrumentations(
      { enabled: config.enabledInstrumentations, disabled: config.disabledInstrumentations },
      tracerProvider,
      meterProvider,
    );
    return Array.isArray(running) ? running.flatMap((m) => m.builtins ?? []) : [];
  } catch (e) {
    warnStartup(`the instrumentations could not be enabled (${e instanceof Error ? e.message : String(e)}); only manual telemetry is recorded`);
    return [];
  }
}

/** How the entry point that starts the agent wants it started. */
interface StartOptions {
  /** Require the builtins the instrumentations patch now (an ES-module app without a loader hook). */
  loadBuiltins: boolean;
}

function startWith(config: AgentConfig, options: StartOptions): Agent {
  let recorder: Recorder | undefined;
  let filePath: string | undefined;
  try {
    filePath = filePathFor(config);
    recorder = loadRecorderModule().openRecorder(filePath, recorderOptions(config));
    const resourceRef = recorder.createResource(detectResource(config));
    const eventNameRef = eventNameInterner(recorder);
    const tracerProvider = new TracerProvider({
      recorder,
      resourceRef,
      sampler: createSampler(config.sampler, config.samplerRatio),
      limits: config.spanLimits,
      ids: new IdGenerator(),
      eventNameRef,
      record: config.signals.traces,
    });
    const meterProvider = new MeterProvider({
      recorder,
      resourceRef,
      temporalityPreference: config.temporalityPreference,
      histogramAggregation: config.histogramAggregation,
      intervalMs: config.metricExportIntervalMs,
      record: config.signals.metrics,
    });
    const loggerProvider = new LoggerProvider({
      recorder,
      resourceRef,
      limits: config.logRecordLimits,
      eventNameRef,
      record: config.signals.logs,
    });
    const { AgentPropagator } = require('./propagator') as typeof import('./propagator');
    const propagator = new AgentPropagator(config.propagators);
    const { ContextManager } = require('./context') as typeof import('./context');

    const contextManager = new ContextManager().enable();
    const registered = [
      contextApi.setGlobalContextManager(contextManager),
      propagationApi.setGlobalPropagator(propagator),
      traceApi.setGlobalTracerProvider(tracerProvider),
      metricsApi.setGlobalMeterProvider(meterProvider),
    ];
    logsApi.setGlobalLoggerProvider(loggerProvider);
    // The instrumentations' fast paths, only while our manager is the one the API uses.
    if (registered[0]) setFastContext(contextManager);
    if (registered.includes(false)) {
      warnStartup('another OpenTelemetry SDK registered global providers first; some telemetry goes there instead of the mmap file');
    }
    const agent: Agent = {
      status: 'started',
      reason: undefined,
      config,
      path: filePath,
      recorder,
      tracerProvider,
      meterProvider,
      loggerProvider,
      forceFlush: () => meterProvider.forceFlush(),
    };
    globalState().agent = agent;
    const builtins = enableInstrumentations(config, tracerProvider, meterProvider);
    // CommonJS packages that ES modules import reach the require hooks through Module._load.
    hookCommonJsImports();
    if (options.loadBuiltins) loadBuiltinsThroughHooks(builtins);
    // Last observable values at a normal exit; an 'exit' listener never keeps the process alive.
    process.once('exit', () => meterProvider.collectSync());
    return agent;
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    warnStartup(`the agent could not start, so this process runs without telemetry: ${reason}`);
    try {
      recorder?.close();
      if (filePath !== undefined && recorder !== undefined) fs.rmSync(filePath, { force: true });
    } catch {
      // best effort
    }
    return inactive('failed', config, reason);
  }
}

/**
 * Starts the agent once per process. Later calls (from any entry point or any copy of this
 * package) return the first agent. Never throws.
 *
 * @param env - the environment to configure from (default `process.env`).
 * @returns the agent; its `status` says whether it started, is disabled, or failed.
 */
export function start(env: Env = process.env): Agent {
  return startOnce(env, { loadBuiltins: false });
}

function startOnce(env: Env, options: StartOptions): Agent {
  const state = globalState();
  if (state.agent !== undefined) return state.agent;
  let agent: Agent;
  try {
    const config = loadConfig(env);
    configureDiag(config);
    for (const w of config.warnings) warnStartup(w);
    agent = config.disabled ? inactive('disabled', config) : startWith(config, options);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    warnStartup(`the agent could not start, so this process runs without telemetry: ${reason}`);
    agent = inactive('failed', undefined, reason);
  }
  state.agent = agent;
  return agent;
}

/**
 * What the entry points (`register.mjs`, `register.cjs`) call: installs the ESM loader hook when
 * `OTLP_MMAP_ESM_HOOK=always` (unless `OTEL_SDK_DISABLED` or already installed), starts the
 * agent, then makes sure the loader knows every module the instrumentations hooked. Without the
 * loader hook, an ES-module app gets the builtins the instrumentations patch loaded up front.
 * Does nothing outside the main thread (preloads also run in Node's module-hooks thread and in
 * worker threads). Never throws or rejects.
 *
 * @param entry - `'import'` (returns a promise to await before the app's first import) or
 *   `'require'` (completes synchronously).
 */
export function register(entry: 'import' | 'require'): Promise<void> | void {
  // Preloads also run inside Node's module-hooks thread and inside the app's worker threads:
  // the agent belongs to the main thread only.
  if (!isMainThread) return;
  try {
    const state = globalState();
    if (state.agent !== undefined) return;
    const config = loadConfig();
    let complete: (() => Promise<void> | void) | undefined;
    if (!config.disabled && !state.esmHookInstalled && esmHookWanted(config.esmHook)) {
      state.esmHookInstalled = true;
      complete = installEsmHook(entry === 'import' ? 'await' : 'block');
    }
    const loadBuiltins = complete === undefined && !config.disabled && builtinsPreloadWanted(config.esmHook);
    const agent = startOnce(process.env, { loadBuiltins });
    if (agent.status === 'started') {
      diag.debug(
        complete === undefined
          ? `otlp-mmap: no ESM loader hook (OTLP_MMAP_ESM_HOOK=${config.esmHook}); modules imported by ES modules are patched through the require hooks`
          : 'otlp-mmap: ESM loader hook installed (OTLP_MMAP_ESM_HOOK=always)',
      );
    }
    if (complete === undefined) return;
    if (agent.status !== 'started') {
      // Nothing hooked: release an awaiting entry at once.
      return entry === 'import' ? Promise.resolve() : undefined;
    }
    const done = complete();
    if (done !== undefined) return done.catch(() => undefined);
  } catch (e) {
    warnStartup(`the agent could not start, so this process runs without telemetry: ${e instanceof Error ? e.message : String(e)}`);
  }
  return undefined;
}
