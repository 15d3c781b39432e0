/**
 * OTLP/HTTP with binary protobuf (`http/protobuf`): POSTs the encoded request
 * to the signal's URL, optionally gzip-compressed, and classifies the answer
 * as the OTLP specification says (2xx delivered, 429/502/503/504 and network
 * errors retryable with `Retry-After`, everything else a failure).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import type { Signal, SignalExportConfig } from '../config';
import { decodePartialSuccess } from '../otlp/decode';
import { ProtoReader } from '../otlp/wire';
import { parseRetryAfter, RETRYABLE_HTTP_STATUS } from '../retry';
import type { Exporter, ExportResult } from './exporter';

const gzip = promisify(zlib.gzip);

/** Responses are read up to this size; OTLP responses are tiny. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** Best-effort text from an error response: a `google.rpc.Status` message, else the body as text. */
function errorText(body: Buffer, contentType: string | undefined): string {
  if (body.length === 0) return '';
  if (contentType?.includes('protobuf')) {
    try {
      const r = new ProtoReader(body);
      while (r.more()) {
        const { field, wire } = r.tag();
        if (field === 2 && wire === 2) return r.string();
        r.skip(wire);
      }
    } catch {
      // fall through to text
    }
  }
  return body.subarray(0, 200).toString('utf8').replace(/\s+/g, ' ').trim();
}

/** Exports each signal to its own URL over HTTP(S). */
export class OtlpHttpExporter implements Exporter {
  private readonly agents = new Map<string, http.Agent>();

  constructor(private readonly config: Record<Signal, SignalExportConfig>) {}

  private agentFor(url: URL, c: SignalExportConfig): http.Agent {
    const key = `${url.protocol}//${url.host}`;
    let agent = this.agents.get(key);
    if (!agent) {
      if (url.protocol === 'https:') {
        agent = new https.Agent({
          keepAlive: true,
          ca: c.certificate ? fs.readFileSync(c.certificate) : undefined,
          key: c.clientKey ? fs.readFileSync(c.clientKey) : undefined,
          cert: c.clientCertificate ? fs.readFileSync(c.clientCertificate) : undefined,
        });
      } else {
        agent = new http.Agent({ keepAlive: true });
      }
      this.agents.set(key, agent);
    }
    return agent;
  }

  async export(signal: Signal, body: Buffer): Promise<ExportResult> {
    const c = this.config[signal];
    let url: URL;
    let agent: http.Agent;
    let payload = body;
    try {
      url = new URL(c.url);
      agent = this.agentFor(url, c);
      if (c.compression === 'gzip') payload = await gzip(body);
    } catch (e) {
      return { kind: 'failed', error: `cannot export to ${c.url}: ${(e as Error).message}` };
    }
    const headers: http.OutgoingHttpHeaders = {
      ...c.headers,
      'content-type': 'application/x-protobuf',
      'content-length': payload.length,
      'user-agent': 'otlp-mmap-collector',
    };
    if (c.compression === 'gzip') headers['content-encoding'] = 'gzip';
    const transport = url.protocol === 'https:' ? https : http;

    return new Promise<ExportResult>((resolve) => {
      let settled = false;
      const done = (r: ExportResult): void => {
        if (!settled) {
          settled = true;
          resolve(r);
        }
      };
      const req = transport.request(url, { method: 'POST', headers, agent, timeout: c.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_RESPONSE_BYTES) chunks.push(chunk);
        });
        res.on('error', (e) => done({ kind: 'retryable', error: `reading the response from ${c.url}: ${e.message}` }));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          let text: Buffer = Buffer.concat(chunks);
          if (res.headers['content-encoding'] === 'gzip') {
            try {
              text = zlib.gunzipSync(text, { maxOutputLength: MAX_RESPONSE_BYTES });
            } catch {
              text = Buffer.alloc(0);
            }
          }
          if (status >= 200 && status < 300) {
            const ps = decodePartialSuccess(text);
            done(ps ? { kind: 'success', partialSuccess: ps } : { kind: 'success' });
          } else if (RETRYABLE_HTTP_STATUS.has(status)) {
            const msg = errorText(text, res.headers['content-type']);
            done({ kind: 'retryable', error: `HTTP ${status} from ${c.url}${msg ? `: ${msg}` : ''}`, retryAfterMs: parseRetryAfter(res.headers['retry-after']) });
          } else {
            const msg = errorText(text, res.headers['content-type']);
            done({ kind: 'failed', error: `HTTP ${status} from ${c.url}${msg ? `: ${msg}` : ''}` });
          }
        });
      });
      req.on('timeout', () => {
        req.destroy(new Error(`no answer within ${c.timeoutMs}ms`));
      });
      req.on('error', (e: NodeJS.ErrnoException) => done({ kind: 'retryable', error: `cannot reach ${c.url}: ${e.code ? `${e.code} ` : ''}${e.message}` }));
      req.end(payload);
    });
  }

  async shutdown(): Promise<void> {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}
