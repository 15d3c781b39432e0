/**
 * Health: an HTTP endpoint (`GET /healthz`) serving the collector's state as
 * JSON, and the client side used by `otlp-mmap health` (exit code 0 when healthy).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What `/healthz` reports. */
export interface HealthReport {
  status: 'ok' | 'stopping';
  uptimeSeconds: number;
  files: number;
  queueBytes: number;
  queueBatches: number;
  droppedBatches: number;
  /** ISO time since which exports keep failing, if they do. */
  exportFailingSince?: string;
}

/** Serves `GET /healthz` (200 while running, 503 while stopping). */
export async function startHealthServer(host: string, port: number, report: () => HealthReport): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || (url !== '/healthz' && url !== '/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    let body: HealthReport;
    try {
      body = report();
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`);
      return;
    }
    res.writeHead(body.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** The port a started server listens on. */
export function serverPort(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}

/** Probes a health endpoint. Resolves with the HTTP status and body, or rejects on a network error or timeout. */
export function probeHealth(host: string, port: number, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/healthz', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 65536) body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.on('error', reject);
  });
}
