/**
 * `otlp-mmap/collector`: follow otlp-mmap files and export them as OTLP.
 *
 * ```ts
 * import { startCollector } from 'otlp-mmap/collector';
 * const collector = await startCollector({ flags: { dir: '/var/run/otlp-mmap', exporter: 'console' } });
 * // ...
 * await collector.stop();
 * ```
 */
import { Collector, type CollectorDeps } from './collector';
import { resolveConfig, type CollectorConfig, type CollectorFlags } from './config';

export { Collector, createExporter } from './collector';
export type { CollectorDeps, CollectorStats } from './collector';
export { ConfigError, defaultDirectory, resolveConfig } from './config';
export type { CollectorConfig, CollectorFlags, Compression, ExporterKind, LogLevel, NativeCollectorOptions, Protocol, Signal, SignalExportConfig } from './config';
export type { Exporter, ExportResult } from './exporters/exporter';
export { ConsoleExporter } from './exporters/console';
export { OtlpHttpExporter } from './exporters/otlp-http';
export { OtlpGrpcExporter } from './exporters/otlp-grpc';
export { createLogger } from './log';
export type { Logger } from './log';
export type { FileCollector, FileCollectorStatus, FinishResult, OpenCollector, PollResult } from './native';
export { formatLogs, formatMetrics, formatTraces } from './otlp/format';

/** Options of `startCollector`. */
export interface StartCollectorOptions extends CollectorDeps {
  /** Settings as on the command line (e.g. `{ dir: '/tmp/x', batchDelay: '200ms' }`), resolved together with `env`. */
  flags?: CollectorFlags;
  /** Where the `OTEL_*` / `OTLP_MMAP_*` variables are read (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** A complete configuration; when given, `flags` and `env` are ignored. */
  config?: CollectorConfig;
}

/**
 * Creates and starts a collector.
 * @throws ConfigError for a bad setting; Error when the native addon is missing or the health port is taken.
 */
export async function startCollector(options: StartCollectorOptions = {}): Promise<Collector> {
  const config = options.config ?? resolveConfig(options.flags ?? {}, options.env ?? process.env);
  const collector = new Collector(config, options);
  await collector.start();
  return collector;
}
