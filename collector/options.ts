/**
 * Command-line options of `otlp-mmap collect`, `inspect` and `health`: one
 * table drives parsing and `--help`.
 */
import { ConfigError, defaultDirectory, type CollectorFlags } from './config';

type FlagKey = keyof CollectorFlags;

interface OptionSpec {
  flag: string;
  key: FlagKey;
  /** Placeholder of the value; absent for switches. */
  arg?: string;
  /** Switch value when given. */
  value?: boolean;
  repeatable?: boolean;
  env?: string;
  def?: string;
  help: string;
  group: string;
}

const O = (group: string, flag: string, key: FlagKey, arg: string | undefined, help: string, extra: Partial<OptionSpec> = {}): OptionSpec => ({ group, flag, key, arg, help, ...extra });

/** Every option of `collect`. */
export const COLLECT_OPTIONS: OptionSpec[] = [
  O('Input', '--dir', 'dir', 'DIR', 'Follow every otlp-mmap file in DIR (new files are picked up as they appear).', { env: 'OTLP_MMAP_DIR', def: '$TMPDIR/otlp-mmap' }),
  O('Input', '--file', 'file', 'FILE', 'Follow one file instead (it may appear later and be replaced).', { env: 'OTLP_MMAP_FILE or SDK_MMAP_EXPORTER_FILE' }),
  O('Input', '--suffix', 'suffix', 'SUFFIX', 'In --dir, follow only names ending with SUFFIX ("" for every file; hidden names never).', { def: '.otlp-mmap' }),
  O('Input', '--poll-interval', 'pollInterval', 'DURATION', 'How often the rings are drained (at once again while they hold more).', { env: 'OTLP_MMAP_POLL_INTERVAL', def: '20ms' }),
  O('Input', '--scan-interval', 'scanInterval', 'DURATION', 'How often the directory is listed and writers are probed.', { def: '1s' }),
  O('Input', '--keep-files', 'keepFiles', undefined, 'Do not remove a file after its writer exited and its data was exported.', { value: true }),
  O('Input', '--max-open-spans', 'maxOpenSpans', 'N', 'Spans being assembled per file; more are dropped and counted.', { def: '65536' }),
  O('Input', '--max-pending-events', 'maxPendingEvents', 'N', 'Span events waiting one poll for their span, per file.', { def: '4096' }),
  O('Input', '--cardinality-limit', 'cardinalityLimit', 'N', 'Attribute sets per metric stream before otel.metric.overflow=true.', { env: 'OTEL_METRICS_CARDINALITY_LIMIT', def: '2000' }),
  O('Input', '--max-messages-per-poll', 'maxMessagesPerPoll', 'N', 'Messages read per ring per file per poll.', { def: '65536' }),

  O('Export', '--exporter', 'exporter', 'otlp|console|none', 'Where telemetry goes: an OTLP endpoint, readable text on stdout, or nowhere.', { env: 'OTLP_MMAP_EXPORTER', def: 'otlp' }),
  O('Export', '--endpoint', 'endpoint', 'URL', 'Base OTLP endpoint; http/protobuf appends /v1/traces, /v1/metrics, /v1/logs.', { env: 'OTEL_EXPORTER_OTLP_ENDPOINT', def: 'http://localhost:4318 (grpc: http://localhost:4317)' }),
  O('Export', '--traces-endpoint', 'tracesEndpoint', 'URL', 'Full URL for traces, used as-is.', { env: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' }),
  O('Export', '--metrics-endpoint', 'metricsEndpoint', 'URL', 'Full URL for metrics, used as-is.', { env: 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT' }),
  O('Export', '--logs-endpoint', 'logsEndpoint', 'URL', 'Full URL for logs, used as-is.', { env: 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT' }),
  O('Export', '--protocol', 'protocol', 'http/protobuf|grpc', 'OTLP transport.', { env: 'OTEL_EXPORTER_OTLP_PROTOCOL (+ _TRACES_/_METRICS_/_LOGS_)', def: 'http/protobuf' }),
  O('Export', '--header', 'headers', 'KEY=VALUE', 'Adds a header (repeatable; comma-separated lists accepted).', { repeatable: true, env: 'OTEL_EXPORTER_OTLP_HEADERS (+ per signal)' }),
  O('Export', '--compression', 'compression', 'gzip|none', 'Request compression.', { env: 'OTEL_EXPORTER_OTLP_COMPRESSION (+ per signal)', def: 'none' }),
  O('Export', '--timeout', 'timeout', 'DURATION', 'Time limit of one export request.', { env: 'OTEL_EXPORTER_OTLP_TIMEOUT (+ per signal)', def: '10s' }),
  O('Export', '--metric-interval', 'metricInterval', 'DURATION', 'How often metrics are collected and exported.', { env: 'OTEL_METRIC_EXPORT_INTERVAL', def: '60s' }),
  O('Export', '--batch-delay', 'batchDelay', 'DURATION', 'How long polled batches are held to be merged before export (0: no merging).', { env: 'OTEL_BSP_SCHEDULE_DELAY', def: '1s' }),
  O('Export', '--max-batch-size', 'maxBatchSize', 'N', 'Most spans / log records in one export request (merged ones too).', { env: 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', def: '8192' }),
  O('Export', '--max-batch-bytes', 'maxBatchBytes', 'SIZE', 'An encoded batch (native or merged) stops growing at this size.', { def: '1MiB' }),
  O('Export', '--queue-bytes', 'queueBytes', 'SIZE', 'Memory for batches waiting to be exported; when full the oldest are dropped and counted.', { env: 'OTLP_MMAP_QUEUE_BYTES', def: '64MiB' }),
  O('Export', '--retry-initial-delay', 'retryInitialDelay', 'DURATION', 'First backoff after a retryable failure (doubles, with jitter; Retry-After wins).', { def: '1s' }),
  O('Export', '--retry-max-delay', 'retryMaxDelay', 'DURATION', 'Longest backoff. Retries go on while the batch is queued.', { def: '30s' }),
  O('Export', '--concurrency', 'concurrency', 'N', 'Export requests in flight per signal.', { def: '2' }),

  O('Operation', '--health-port', 'healthPort', 'PORT', 'Serve GET /healthz on this port (0: any free port).', { env: 'OTLP_MMAP_HEALTH_PORT' }),
  O('Operation', '--health-host', 'healthHost', 'HOST', 'Address the health endpoint binds.', { def: '0.0.0.0' }),
  O('Operation', '--summary-interval', 'summaryInterval', 'DURATION', 'How often a one-line summary is logged (0: never).', { def: '60s' }),
  O('Operation', '--no-self-metrics', 'selfMetrics', undefined, 'Do not export the otlp_mmap.* metrics about the collector itself.', { value: false }),
  O('Operation', '--nice', 'nice', 'N', 'Lower this process\'s scheduling priority by N (0-19) so that on a shared CPU the application runs first; 0 keeps it.', { env: 'OTLP_MMAP_COLLECTOR_NICE', def: '10' }),
  O('Operation', '--shutdown-timeout', 'shutdownTimeout', 'DURATION', 'On SIGINT/SIGTERM, how long to keep exporting what is queued.', { def: '10s' }),
  O('Operation', '--log-level', 'logLevel', 'error|warn|info|debug', 'Diagnostics on stderr.', { env: 'OTLP_MMAP_LOG_LEVEL', def: 'info' }),
];

/** Parses `collect` arguments. @throws ConfigError for an unknown option, a missing value or a stray argument. */
export function parseCollectArgs(argv: string[]): CollectorFlags {
  const flags: CollectorFlags = {};
  const set = flags as Record<string, unknown>;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new ConfigError(`unexpected argument ${JSON.stringify(a)} (collect takes only options; see otlp-mmap collect --help)`);
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(0, eq) : a;
    const spec = COLLECT_OPTIONS.find((o) => o.flag === name);
    if (!spec) throw new ConfigError(`unknown option ${name} (see otlp-mmap collect --help)`);
    if (spec.arg === undefined) {
      if (eq >= 0) throw new ConfigError(`${name} takes no value, got ${JSON.stringify(a.slice(eq + 1))}`);
      set[spec.key] = spec.value;
      continue;
    }
    let value: string;
    if (eq >= 0) value = a.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new ConfigError(`${name} needs a value (${spec.arg})`);
      value = argv[++i];
    }
    if (spec.repeatable) ((set[spec.key] as string[] | undefined) ?? (set[spec.key] = [] as string[]) as string[]).push(value);
    else if (set[spec.key] !== undefined) throw new ConfigError(`${name} given twice`);
    else set[spec.key] = value;
  }
  return flags;
}

function wrap(text: string, width: number, indent: string): string {
  const words = text.split(' ');
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.join(`\n${indent}`);
}

/** `otlp-mmap collect --help`. */
export function collectHelp(): string {
  const out: string[] = [
    'Usage: otlp-mmap collect [options]',
    '',
    'Follows otlp-mmap files written by instrumented processes and exports their',
    'spans, metrics and logs as OTLP. Files whose writer exited are exported to the',
    'end (open spans marked otlp_mmap.span.incomplete=true) and removed.',
    '',
    `Default directory here: ${defaultDirectory()}`,
    'DURATION: 500, 500ms, 2s, 1m.  SIZE: 1048576, 512KiB, 64MiB.  Flags override variables.',
  ];
  let group = '';
  for (const o of COLLECT_OPTIONS) {
    if (o.group !== group) {
      group = o.group;
      out.push('', `${group}:`);
    }
    const head = `  ${o.flag}${o.arg ? ` ${o.arg}` : ''}`;
    const notes = [o.env ? `env ${o.env}` : '', o.def ? `default ${o.def}` : ''].filter(Boolean).join('; ');
    const text = `${o.help}${notes ? ` [${notes}]` : ''}`;
    out.push(head.length < 30 ? `${head.padEnd(30)}${wrap(text, 60, ' '.repeat(30))}` : `${head}\n${' '.repeat(30)}${wrap(text, 60, ' '.repeat(30))}`);
  }
  out.push(
    '',
    'Also honoured: OTEL_EXPORTER_OTLP_[<SIGNAL>_]CERTIFICATE, _CLIENT_KEY, _CLIENT_CERTIFICATE (PEM files)',
    'and OTEL_EXPORTER_OTLP_[<SIGNAL>_]INSECURE (gRPC endpoints without a scheme).',
    '',
    'Exit status: 0 after SIGINT/SIGTERM and a clean shutdown, 1 on a runtime error, 2 on a bad option or value.',
    '',
  );
  return out.join('\n');
}

/** `otlp-mmap --help`. */
export function mainHelp(): string {
  return [
    'Usage: otlp-mmap <command> [options]',
    '',
    'Commands:',
    '  collect            Follow otlp-mmap files and export OTLP (see otlp-mmap collect --help).',
    '  inspect FILE       Print a file\'s header, ring sizes and fill, drop counters and dictionary size.',
    '                     --follow prints decoded messages as they arrive (see otlp-mmap inspect --help).',
    '  health             Probe a collector\'s /healthz; exit 0 when healthy (see otlp-mmap health --help).',
    '  help               This text.',
    '',
    'Options: -h, --help   -v, --version',
    '',
  ].join('\n');
}

export function inspectHelp(): string {
  return [
    'Usage: otlp-mmap inspect FILE [--follow] [--interval DURATION]',
    '',
    'Prints the header of an otlp-mmap v1 file: version, start time, size, whether the',
    'writer is alive, each ring (slots, slot size, reader/writer index, messages waiting,',
    'fill), the drop counters and the dictionary size.',
    '',
    '  --follow               Then print every message as it arrives, one JSON object per line,',
    '                         until the writer exits (or Ctrl-C). This CONSUMES the messages',
    '                         (each ring has a single reader): do not use it on a file that a',
    '                         collector is following.',
    '  --interval DURATION    Poll interval with --follow [default 200ms].',
    '',
    'Exit status: 0 on success, 1 when the file cannot be read, 2 on a bad option.',
    '',
  ].join('\n');
}

export function healthHelp(): string {
  return [
    'Usage: otlp-mmap health [--port PORT] [--host HOST] [--timeout DURATION]',
    '',
    'Asks a collector started with --health-port for GET /healthz and exits 0 when it',
    'answers 200, 1 otherwise (not running, stopping, no answer). Prints the answer.',
    '',
    '  --port PORT            [env OTLP_MMAP_HEALTH_PORT; required]',
    '  --host HOST            [default 127.0.0.1]',
    '  --timeout DURATION     [default 2s]',
    '',
  ].join('\n');
}

/** Parses simple `--name value` / `--name=value` / switch options for `inspect` and `health`. */
export function parseSimpleArgs(argv: string[], valued: string[], switches: string[], command: string): { options: Record<string, string | boolean>; positional: string[] } {
  const options: Record<string, string | boolean> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--') || a === '--') {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(0, eq) : a;
    if (switches.includes(name)) {
      if (eq >= 0) throw new ConfigError(`${name} takes no value`);
      options[name] = true;
    } else if (valued.includes(name)) {
      if (eq >= 0) options[name] = a.slice(eq + 1);
      else if (i + 1 < argv.length) options[name] = argv[++i];
      else throw new ConfigError(`${name} needs a value`);
    } else {
      throw new ConfigError(`unknown option ${name} (see otlp-mmap ${command} --help)`);
    }
  }
  return { options, positional };
}
