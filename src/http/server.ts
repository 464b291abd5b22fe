/**
 * The controller's HTTP server. For now: `/healthz` (the process is alive) and `/readyz` (a pass
 * has completed recently, so the loop is not stuck). Metrics and the drift report join it later.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HealthSource {
  /** When the last pass finished, successfully or not; null before the first. */
  lastPassAt(): Date | null;
  /** How stale the last pass may be before the controller is reported not ready. */
  readonly maxPassAgeMs: number;
}

export interface HttpServer {
  url: string;
  close(): Promise<void>;
}

export async function startHttpServer(port: number, health: HealthSource, host = '0.0.0.0'): Promise<HttpServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'method not allowed' });
    if (path === '/healthz') return send(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const last = health.lastPassAt();
      const ready = last !== null && Date.now() - last.getTime() <= health.maxPassAgeMs;
      return send(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', lastPassAt: last?.toISOString() ?? null });
    }
    return send(res, 404, { error: 'not found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
