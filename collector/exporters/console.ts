/**
 * The console exporter (`--exporter console`): prints each batch in a readable
 * form (spans as a tree per trace, metric points, log records). For the demo
 * and for debugging; it is not a stable output format.
 */
import type { Signal } from '../config';
import { formatLogs, formatMetrics, formatTraces, type ResourceMemory } from '../otlp/format';
import type { Exporter, ExportResult } from './exporter';

const FORMAT: Record<Signal, (b: Uint8Array, memory?: ResourceMemory) => string> = { traces: formatTraces, metrics: formatMetrics, logs: formatLogs };

/** Writes readable batches to a stream (stdout by default). A resource is printed in full the first time only. */
export class ConsoleExporter implements Exporter {
  private readonly resources: ResourceMemory = new Set();

  constructor(private readonly out: { write(s: string): unknown } = process.stdout) {}

  async export(signal: Signal, body: Buffer): Promise<ExportResult> {
    let text: string;
    try {
      text = FORMAT[signal](body, this.resources);
    } catch (e) {
      return { kind: 'failed', error: `malformed OTLP ${signal} batch (${body.length} bytes): ${(e as Error).message}` };
    }
    this.out.write(`── ${signal} (${body.length} bytes) ──\n${text}\n`);
    return { kind: 'success' };
  }

  async shutdown(): Promise<void> {}
}
