import type { MeterProvider, TracerProvider } from '@opentelemetry/api';

/** The providers an instrumentation records into. */
export interface Providers {
  tracerProvider: TracerProvider;
  meterProvider: MeterProvider;
}

/** The names accepted in `OTEL_NODE_ENABLED_INSTRUMENTATIONS` / `..._DISABLED_...`. */
export type InstrumentationName = 'http' | 'express' | 'pg' | 'fetch';

/**
 * One instrumented library: what it hooks and which versions it supports. Hooking
 * and recording live in the library's own folder; this is only the declaration.
 */
export interface InstrumentationModule {
  /** The name used to enable or disable it. */
  readonly name: InstrumentationName;
  /** Other accepted names (`undici` for `fetch`). */
  readonly aliases: readonly string[];
  /** The module that is hooked (`express`, `pg`, `http`/`https`, or Node's bundled undici). */
  readonly moduleName: string;
  /** The supported versions, as a range (`>=4.0.0 <6.0.0`). */
  readonly supportedVersions: string;
  /**
   * The Node builtins it patches when they are first required (`http`, `https`). An ES
   * module's `import ... from 'node:http'` does not go through `require`, so the agent
   * requires these up front for ES-module apps that run without a loader hook.
   */
  readonly builtins: readonly string[];
  /** Installs the hooks; called at most once per process. */
  enable(providers: Providers): void;
}
