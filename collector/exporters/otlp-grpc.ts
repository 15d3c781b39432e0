/**
 * OTLP/gRPC: calls `opentelemetry.proto.collector.<signal>.v1.<Signal>Service/Export`
 * with the already-encoded request bytes (a passthrough serializer: nothing is
 * re-encoded in JavaScript). Status codes are classified as the OTLP
 * specification says; `RESOURCE_EXHAUSTED` is retried only when the server
 * sends `google.rpc.RetryInfo`, whose delay is then honoured.
 */
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { Signal, SignalExportConfig } from '../config';
import { decodePartialSuccess } from '../otlp/decode';
import { ProtoReader } from '../otlp/wire';
import { MAX_RETRY_AFTER_MS } from '../retry';
import type { Exporter, ExportResult } from './exporter';

const METHOD: Record<Signal, string> = {
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
};

/** gRPC codes the OTLP specification lists as retryable. */
const RETRYABLE = new Set<number>([
  grpc.status.CANCELLED,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.ABORTED,
  grpc.status.OUT_OF_RANGE,
  grpc.status.UNAVAILABLE,
  grpc.status.DATA_LOSS,
]);

const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo';

/** Reads the retry delay from a `grpc-status-details-bin` (`google.rpc.Status` with a `RetryInfo` detail). */
export function retryDelayFromStatusDetails(details: Buffer): number | undefined {
  try {
    const status = new ProtoReader(details);
    while (status.more()) {
      const { field, wire } = status.tag();
      if (field !== 3 || wire !== 2) {
        status.skip(wire);
        continue;
      }
      const any = status.message();
      let typeUrl = '';
      let value: Uint8Array | undefined;
      while (any.more()) {
        const t = any.tag();
        if (t.field === 1 && t.wire === 2) typeUrl = any.string();
        else if (t.field === 2 && t.wire === 2) value = any.bytes();
        else any.skip(t.wire);
      }
      if (typeUrl !== RETRY_INFO_TYPE || !value) continue;
      const info = new ProtoReader(value);
      while (info.more()) {
        const t = info.tag();
        if (t.field !== 1 || t.wire !== 2) {
          info.skip(t.wire);
          continue;
        }
        const d = info.message();
        let seconds = 0;
        let nanos = 0;
        while (d.more()) {
          const dt = d.tag();
          if (dt.field === 1 && dt.wire === 0) seconds = Number(BigInt.asIntN(64, d.varint()));
          else if (dt.field === 2 && dt.wire === 0) nanos = d.int32();
          else d.skip(dt.wire);
        }
        return Math.min(Math.max(0, seconds * 1000 + Math.round(nanos / 1e6)), MAX_RETRY_AFTER_MS);
      }
    }
  } catch {
    // unreadable details: no delay
  }
  return undefined;
}

/** Exports over gRPC, one client per distinct endpoint. */
export class OtlpGrpcExporter implements Exporter {
  private readonly clients = new Map<string, grpc.Client>();

  constructor(private readonly config: Record<Signal, SignalExportConfig>) {}

  private clientFor(c: SignalExportConfig): grpc.Client {
    const key = `${c.url}|${c.compression}`;
    let client = this.clients.get(key);
    if (client) return client;
    let target: string;
    let secure: boolean;
    const m = /^(https?):\/\/([^/]+)/i.exec(c.url);
    if (m) {
      target = m[2];
      secure = m[1].toLowerCase() === 'https';
    } else {
      target = c.url;
      secure = !c.insecure;
    }
    const credentials = secure
      ? grpc.credentials.createSsl(
          c.certificate ? fs.readFileSync(c.certificate) : null,
          c.clientKey ? fs.readFileSync(c.clientKey) : null,
          c.clientCertificate ? fs.readFileSync(c.clientCertificate) : null,
        )
      : grpc.credentials.createInsecure();
    const options: grpc.ChannelOptions = { 'grpc.primary_user_agent': 'otlp-mmap-collector' };
    if (c.compression === 'gzip') options['grpc.default_compression_algorithm'] = 2; // CompressionAlgorithms.gzip
    client = new grpc.Client(target, credentials, options);
    this.clients.set(key, client);
    return client;
  }

  async export(signal: Signal, body: Buffer): Promise<ExportResult> {
    const c = this.config[signal];
    let client: grpc.Client;
    try {
      client = this.clientFor(c);
    } catch (e) {
      return { kind: 'failed', error: `cannot export to ${c.url}: ${(e as Error).message}` };
    }
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(c.headers)) metadata.set(k, v);
    return new Promise<ExportResult>((resolve) => {
      client.makeUnaryRequest<Buffer, Buffer>(
        METHOD[signal],
        (b) => b,
        (b) => b,
        body,
        metadata,
        { deadline: Date.now() + c.timeoutMs },
        (err, response) => {
          if (!err) {
            const ps = response ? decodePartialSuccess(response) : null;
            resolve(ps ? { kind: 'success', partialSuccess: ps } : { kind: 'success' });
            return;
          }
          const code = err.code ?? grpc.status.UNKNOWN;
          const detailsBin = err.metadata?.get('grpc-status-details-bin')[0];
          const retryAfterMs = Buffer.isBuffer(detailsBin) ? retryDelayFromStatusDetails(detailsBin) : undefined;
          const error = `gRPC ${grpc.status[code] ?? code} from ${c.url}: ${err.details || err.message}`;
          if (RETRYABLE.has(code) || (code === grpc.status.RESOURCE_EXHAUSTED && retryAfterMs !== undefined)) {
            resolve({ kind: 'retryable', error, retryAfterMs });
          } else {
            resolve({ kind: 'failed', error });
          }
        },
      );
    });
  }

  async shutdown(): Promise<void> {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
