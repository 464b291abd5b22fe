/**
 * The controller's HTTP server: `/healthz` (the process is alive), `/readyz` (a pass has completed
 * recently, so the loop is not stuck), `/metrics` (Prometheus text) and `/drift` (the latest drift
 * report as JSON). It reads everything through small interfaces, so it is tested without a
 * controller. Nothing it serves can hold a secret: metrics carry bounded labels only, and drift
 * reports are built without secret values.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DriftReport } from '../reconciler/drift.js';

export interface HealthSource {
  /** When the last pass finished, successfully or not; null before the first. */
  lastPassAt(): Date | null;
  /** How stale the last pass may be before the controller is reported not ready. */
  readonly maxPassAgeMs: number;
  /** True on a replica standing by for the leader: it runs no pass, and is ready all the same. */
  standby?(): boolean;
}

export interface MetricsSource {
  render(): Promise<{ contentType: string; body: string }>;
}

/** A handler mounted on a path prefix (webhooks, the add-on Partner API); it answers every method itself. */
export interface MountedRoute {
  /** `/webhooks/heroku` matches that path and `/webhooks/heroku/…` below it. */
  prefix: string;
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
}

export interface HttpServerDeps {
  health: HealthSource;
  metrics: MetricsSource;
  /** The latest drift report; null before the first pass has produced one. */
  drift: () => DriftReport | null;
  /** Further handlers, tried before the built-in read-only routes. */
  routes?: MountedRoute[];
}

export interface HttpServer {
  url: string;
  close(): Promise<void>;
}

export async function startHttpServer(port: number, deps: HttpServerDeps, host = '0.0.0.0'): Promise<HttpServer> {
  const server = http.createServer((req, res) => {
    handle(deps, req, res).catch(() => {
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        // Keep-alive sockets of a scraper would otherwise hold close() open until they time out.
        server.closeIdleConnections();
      }),
  };
}

async function handle(deps: HttpServerDeps, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  const mounted = deps.routes?.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`));
  if (mounted) return mounted.handle(req, res);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, 405, { error: 'method not allowed' });
  }
  switch (path) {
    case '/healthz':
      return send(res, 200, { status: 'ok' });
    case '/readyz': {
      if (deps.health.standby?.()) return send(res, 200, { status: 'standby' });
      const last = deps.health.lastPassAt();
      const ready = last !== null && Date.now() - last.getTime() <= deps.health.maxPassAgeMs;
      return send(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', lastPassAt: last?.toISOString() ?? null });
    }
    case '/metrics': {
      const { contentType, body } = await deps.metrics.render();
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    case '/drift': {
      const report = deps.drift();
      if (!report) return send(res, 503, { error: 'no reconcile pass has completed yet: the drift report appears after the first pass' });
      return send(res, 200, report);
    }
    default:
      return send(res, 404, { error: 'not found' });
  }
}

/** JSON answer; for HEAD, Node sends the headers and drops the body. */
function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
