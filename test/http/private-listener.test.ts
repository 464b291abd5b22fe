/**
 * The private listener on its own: health, readiness, `/metrics`, `/drift`, HEAD, 404 and 405, with a
 * hand-built `Metrics`, drift holder and one operator token (no controller, no store).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Authenticator } from '../../src/http/authentication.js';
import type { HttpServer } from '../../src/http/listen.js';
import { startPrivateListener, type PrivateListenerOptions } from '../../src/http/private-listener.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { DriftReport } from '../../src/reconciler/drift.js';
import { DriftKind } from '../../src/reasons.js';
import { driftItem, driftReport, mixedReport } from '../metrics/fixtures.js';

let server: HttpServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

interface World {
  url: string;
  metrics: Metrics;
  reports: { latest: DriftReport | null };
  health: { last: Date | null };
}

const TOKEN = 'hs3c_0123456789ab_reader-token-for-this-test-only-000000000000000';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const authenticator: Authenticator = {
  fromBearerToken: async (token) => (token === TOKEN ? { kind: 'operator', tokenId: '0123456789ab', name: 'reader', scope: 'read' } : null),
};

async function start(overrides: Partial<PrivateListenerOptions> = {}): Promise<World> {
  const metrics = new Metrics({ processMetrics: false });
  const reports: { latest: DriftReport | null } = { latest: null };
  const health: { last: Date | null } = { last: null };
  server = await startPrivateListener(
    0,
    {
      health: { lastPassAt: () => health.last, maxPassAgeMs: 60_000 },
      metrics,
      drift: () => reports.latest,
      authenticator,
      ...overrides,
    },
    '127.0.0.1',
  );
  return { url: server.url, metrics, reports, health };
}

describe('health', () => {
  it('/healthz is always 200; /readyz is 503 until a recent pass, and 503 again when it is stale', async () => {
    const w = await start();
    expect((await fetch(`${w.url}/healthz`)).status).toBe(200);
    const notReady = await fetch(`${w.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ status: 'not ready', lastPassAt: null });
    w.health.last = new Date();
    const ready = await fetch(`${w.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', lastPassAt: w.health.last.toISOString() });
    w.health.last = new Date(Date.now() - 61_000);
    expect((await fetch(`${w.url}/readyz`)).status).toBe(503);
  });
});

describe('/metrics', () => {
  it('serves the Prometheus text with prom-client’s content type', async () => {
    const w = await start();
    w.metrics.recordPass({ result: 'success', durationSeconds: 2, herokuComplete: true, awsComplete: true, at: new Date() });
    const res = await fetch(`${w.url}/metrics?debug=1`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.text();
    expect(body).toContain('heroku_s3_controller_reconcile_total{result="success"} 1');
    expect(body).toBe((await w.metrics.render()).body);
  });

  it('answers 500 with a plain JSON error when rendering fails', async () => {
    const w = await start({ metrics: { render: () => Promise.reject(new Error('collector exploded: s3cr3t')) } });
    const res = await fetch(`${w.url}/metrics`);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('{"error":"internal error"}');
  });
});

describe('/drift', () => {
  it('is 503 with a JSON explanation before the first pass, then serves the latest report', async () => {
    const w = await start();
    const before = await fetch(`${w.url}/drift`, { headers: AUTH });
    expect(before.status).toBe(503);
    expect(before.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect((await before.json()) as unknown).toEqual({ error: expect.stringContaining('no reconcile pass has completed yet') });

    const first = mixedReport();
    w.reports.latest = first;
    const res = await fetch(`${w.url}/drift`, { headers: AUTH });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual(first);

    const second = driftReport([], '2025-01-01T00:05:00.000Z');
    w.reports.latest = second;
    const next = (await (await fetch(`${w.url}/drift`, { headers: AUTH })).json()) as DriftReport;
    expect(next).toEqual(second);
    expect(Object.keys(next)).toEqual(['generatedAt', 'summary', 'items']);
  });

  it('returns exactly the report it was given, and nothing observed elsewhere (canaries)', async () => {
    const w = await start();
    // Secrets and names the process has seen; none belongs on either endpoint.
    const canaries = ['CANARYSECRETwJalrXUtnFEMI/K7MDENG/bPxRfiCY', 'AKIACANARY0000000001', 'canary-team-name', 'canary-app-name'];
    w.metrics.observeHerokuRequest({ method: 'GET', path: `/teams/${canaries[2]}/addons`, status: 200 });
    w.metrics.observeHerokuRequest({ method: 'PATCH', path: `/apps/${canaries[3]}/config-vars`, status: 200 });
    w.metrics.observeAwsCall({ accountId: '111122223333', service: 'iam', operation: 'CreateAccessKey', outcome: 'ok' });
    // A report as the builder makes it: settings and names, quotes, unicode, nulls; no secret.
    const report = driftReport([
      driftItem(),
      driftItem({ kind: DriftKind.ConfigVarsMissing, resource: 'acme-web', field: 'config var BUCKET_AWS_SECRET_ACCESS_KEY', expected: 'set', actual: null }),
      driftItem({ kind: DriftKind.PolicyChanged, field: 'inline policy', expected: '{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}', actual: 'ünïcödé "quoted" \\ back\nslash' }),
      driftItem({ kind: DriftKind.TagsChanged, status: 'flapping', field: 'tags.heroku-s3-controller/instance', expected: 'prod', actual: '' }),
    ]);
    w.reports.latest = report;
    w.metrics.setDriftReport(report);
    const drift = await (await fetch(`${w.url}/drift`, { headers: AUTH })).text();
    expect(drift).toBe(JSON.stringify(report));
    const metrics = await (await fetch(`${w.url}/metrics`)).text();
    for (const canary of canaries) {
      expect(drift).not.toContain(canary);
      expect(metrics).not.toContain(canary);
    }
  });
});

describe('methods and paths', () => {
  it.each(['/healthz', '/readyz', '/metrics', '/drift'])('HEAD %s sends the headers of GET and no body', async (path) => {
    const w = await start();
    w.reports.latest = mixedReport();
    w.health.last = new Date();
    const get = await fetch(`${w.url}${path}`, { headers: AUTH });
    await get.arrayBuffer();
    const head = await fetch(`${w.url}${path}`, { method: 'HEAD', headers: AUTH });
    expect(head.status).toBe(get.status);
    expect(head.headers.get('content-type')).toBe(get.headers.get('content-type'));
    expect(await head.text()).toBe('');
  });

  it.each(['POST', 'PUT', 'DELETE', 'PATCH'])('%s is 405 with Allow: GET, HEAD', async (method) => {
    const w = await start();
    for (const path of ['/metrics', '/drift', '/healthz', '/readyz']) {
      const res = await fetch(`${w.url}${path}`, { method });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD');
      expect(await res.json()).toEqual({ error: 'method not allowed' });
    }
  });

  it('unknown paths are 404', async () => {
    const w = await start();
    for (const path of ['/', '/nope', '/metrics/x', '/drift.json', '/DRIFT']) {
      const res = await fetch(`${w.url}${path}`, { headers: AUTH });
      expect(res.status, path).toBe(404);
      expect(await res.json()).toEqual({ error: 'not found' });
    }
  });

  it('closes promptly with a keep-alive scraper connected', async () => {
    const w = await start();
    await (await fetch(`${w.url}/metrics`)).text();
    const t = Date.now();
    await server!.close();
    server = undefined;
    expect(Date.now() - t).toBeLessThan(2_000);
  });
});
