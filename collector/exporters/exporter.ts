/**
 * The exporter contract: send one encoded OTLP batch, and say whether it was
 * delivered, may be retried, or failed for good. Exporters never throw.
 */
import type { Signal } from '../config';
import type { PartialSuccess } from '../otlp/decode';

/** The outcome of one export attempt. */
export type ExportResult =
  | { kind: 'success'; partialSuccess?: PartialSuccess }
  | { kind: 'retryable'; error: string; retryAfterMs?: number }
  | { kind: 'failed'; error: string };

/** Sends encoded OTLP `Export*ServiceRequest` bytes somewhere. */
export interface Exporter {
  /** Exports one batch. Resolves (never rejects) with the outcome. */
  export(signal: Signal, body: Buffer): Promise<ExportResult>;
  /** Releases connections. */
  shutdown(): Promise<void>;
}

/** Discards everything (`--exporter none`): useful to measure reading alone. */
export class NoneExporter implements Exporter {
  async export(): Promise<ExportResult> {
    return { kind: 'success' };
  }
  async shutdown(): Promise<void> {}
}
