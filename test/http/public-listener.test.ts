/**
 * The public listener on its own: it answers only Heroku's two routes (the webhook receiver and
 * the Partner API), hands their handlers the exact bytes sent, and limits requests per client,
 * unknown paths included.
 */
import { createHash } from 'node:crypto';
import type http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { HttpServer } from '../../src/http/listen.js';
import { startPublicListener, type MountedRoute } from '../../src/http/public-listener.js';
import { readBody } from '../../src/http/read-body.js';

let server: HttpServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Answers with what it was sent: method, path and the sha256 of the raw body. */
function echo(prefix: string): MountedRoute {
  return {
    prefix,
    handle: async (req: http.IncomingMessage, res: http.ServerResponse) => {
      const body = await readBody(req, 1024 * 1024, 5_000);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, url: req.url, sha256: body.kind === 'ok' ? createHash('sha256').update(body.body).digest('hex') : body.kind }));
    },
  };
}

async function start(requestsPerMinute = 1000): Promise<string> {
  server = await startPublicListener(0, { routes: [echo('/webhooks/heroku'), echo('/heroku/resources')], requestsPerMinute }, '127.0.0.1');
  return server.url;
}

describe('the public listener', () => {
  it('hands the mounted handlers the exact bytes, whatever the content type, or none', async () => {
    const url = await start();
    const raw = Buffer.from('{"a": 1,   "b":"ünïcödé"}\n');
    const digest = createHash('sha256').update(raw).digest('hex');
    for (const headers of [{ 'content-type': 'application/json' }, { 'content-type': 'text/plain' }, {} as Record<string, string>, { 'content-type': 'application/json; charset=utf-8' }]) {
      const res = await fetch(`${url}/webhooks/heroku`, { method: 'POST', headers, body: raw });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ method: 'POST', url: '/webhooks/heroku', sha256: digest });
    }
    const partner = await fetch(`${url}/heroku/resources/0b1c6a9e-9c3f-4a43-a0a9-2f5c8a5d6e7f?x=1`, { method: 'PUT', body: raw });
    expect(await partner.json()).toEqual({ method: 'PUT', url: '/heroku/resources/0b1c6a9e-9c3f-4a43-a0a9-2f5c8a5d6e7f?x=1', sha256: digest });
  });

  it('serves nothing else: health, metrics, drift, the admin API and the console are 404 here', async () => {
    const url = await start();
    for (const path of ['/healthz', '/readyz', '/metrics', '/drift', '/api/v1/links', '/api/v1/openapi.json', '/', '/login', '/webhooks', '/heroku', '/heroku/resourcesX']) {
      for (const method of ['GET', 'POST']) {
        const res = await fetch(`${url}${path}`, { method });
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(await res.json()).toEqual({ error: 'not found' });
      }
    }
  });

  it('refuses to mount a route outside its two prefixes', async () => {
    await expect(startPublicListener(0, { routes: [echo('/metrics')], requestsPerMinute: 10 }, '127.0.0.1')).rejects.toThrow(/only \/webhooks\/heroku and \/heroku\/resources, not \/metrics/);
  });

  it('limits requests per client and minute, unknown paths included, with Retry-After', async () => {
    const url = await start(5);
    const statuses: number[] = [];
    for (const path of ['/webhooks/heroku', '/nope', '/heroku/resources', '/nope', '/webhooks/heroku', '/webhooks/heroku', '/nope']) {
      statuses.push((await fetch(`${url}${path}`, { method: 'POST', body: '{}' })).status);
    }
    expect(statuses).toEqual([200, 404, 200, 404, 200, 429, 429]);
    const limited = await fetch(`${url}/webhooks/heroku`, { method: 'POST', body: '{}' });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await limited.json()) as { error: string }).error).toMatch(/^too many requests: retry in \d+s$/);
  });
});
