/**
 * The private listener (`PORT`), never exposed outside the cluster: `/healthz` (the process is
 * alive), `/readyz` (a pass has completed recently, so the loop is not stuck), `/metrics`
 * (Prometheus text), `/drift` (the latest drift report) and the admin API. Only health and
 * readiness, and metrics unless METRICS_REQUIRE_TOKEN is set, answer without authentication.
 * It reads everything through small interfaces, so it is tested without a controller.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { DriftReport } from '../reconciler/drift.js';
import { FailureCounter, requireAuthentication, type Authenticator } from './authentication.js';
import { answerNotFound, createApp, listen, type HttpServer, type ListenerOptions } from './listen.js';

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

export interface PrivateListenerOptions extends ListenerOptions {
  health: HealthSource;
  metrics: MetricsSource;
  /** The latest drift report (with what `serve` adds to it); null before the first pass has produced one. */
  drift: () => DriftReport | null;
  authenticator: Authenticator;
  /** False (the default) lets a scraper read /metrics without a token; its labels hold no secret. */
  metricsRequireToken?: boolean;
  /**
   * Failed authentications per client and minute before 429 (default 20 a minute); share it with
   * the console, so its sign-in forms count against the same allowance.
   */
  failures?: FailureCounter;
  /** Further routes (the admin API, the console), registered behind the same authentication. */
  plugins?: FastifyPluginAsync[];
}

export async function startPrivateListener(port: number, options: PrivateListenerOptions, host = '0.0.0.0'): Promise<HttpServer> {
  const app = createApp(options);
  answerNotFound(app);
  requireAuthentication(app, options.authenticator, options.failures ?? new FailureCounter({ perMinute: 20 }));
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('cache-control', 'no-store');
    return payload;
  });

  app.get('/healthz', { config: { access: 'anonymous' } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { access: 'anonymous' } }, async (_request, reply) => {
    if (options.health.standby?.()) return { status: 'standby' };
    const last = options.health.lastPassAt();
    const ready = last !== null && Date.now() - last.getTime() <= options.health.maxPassAgeMs;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', lastPassAt: last?.toISOString() ?? null });
  });
  app.get('/metrics', { config: { access: options.metricsRequireToken ? 'read' : 'anonymous' } }, async (_request, reply) => {
    const { contentType, body } = await options.metrics.render();
    return reply.type(contentType).send(body);
  });
  app.get('/drift', async (_request, reply) => {
    const report = options.drift();
    if (!report) return reply.code(503).send({ error: 'no reconcile pass has completed yet: the drift report appears after the first pass' });
    return report;
  });
  // The fixed paths answer other methods 405 as they always have, before any authentication.
  for (const url of ['/healthz', '/readyz', '/metrics', '/drift']) {
    app.route({
      method: ['POST', 'PUT', 'DELETE', 'PATCH'],
      url,
      config: { access: 'anonymous' },
      handler: async (_request, reply) => reply.code(405).header('allow', 'GET, HEAD').send({ error: 'method not allowed' }),
    });
  }
  for (const plugin of options.plugins ?? []) await app.register(plugin);
  return listen(app, port, host);
}
