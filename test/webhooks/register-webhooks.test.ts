/**
 * Registering app webhooks against the Heroku fake (real heroku-client over HTTP, answers checked
 * against the official schema): create where missing, leave alone when up to date, update in
 * place when the entities or level differ, rotate the secret on request, report per-app failures.
 */
import Heroku from 'heroku-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HerokuApi } from '../../src/heroku/heroku-api.js';
import { UserError } from '../../src/util/errors.js';
import {
  formatRegisterSummary,
  registerWebhooks,
  registerWebhooksCommand,
  registerWebhooksForTeams,
  type WebhookApi,
} from '../../src/webhooks/register-webhooks.js';
import { HerokuFake } from '../support/heroku-fake/index.js';

const URL_ = 'https://s3-controller.example.com/webhooks/heroku';
const SECRET = 'register-test-secret-5d1f0c';
const INCLUDE = ['api:addon', 'api:addon-attachment'];

let fake: HerokuFake;
let api: WebhookApi;

/**
 * `HerokuApi` plus `post`. Until `HerokuApi` gains its own `post` (mirroring `patch`), POSTs go
 * through a plain heroku-client on the same fake.
 */
function webhookApi(): WebhookApi {
  const herokuApi = new HerokuApi({ url: fake.url, token: fake.token });
  const client = new Heroku({ token: fake.token, host: fake.url });
  const withPost = herokuApi as unknown as Partial<WebhookApi>;
  if (typeof withPost.post === 'function') return herokuApi as unknown as WebhookApi;
  return {
    get: (path) => herokuApi.get(path),
    patch: (path, body) => herokuApi.patch(path, body),
    post: <T>(path: string, body: unknown) => client.post<T>(path, { body }),
  };
}

beforeEach(async () => {
  fake = await HerokuFake.start();
  api = webhookApi();
});

afterEach(async () => {
  const violations = [...fake.schemaViolations];
  await fake.stop();
  expect(violations).toEqual([]);
});

function seed() {
  fake.addTeam({ name: 'acme' });
  fake.addTeam({ name: 'globex' });
  const apps = ['acme-web', 'acme-worker', 'acme-review-pr-12'].map((name) => fake.addApp({ name, team: 'acme' }));
  const globex = fake.addApp({ name: 'globex-api', team: 'globex' });
  return { apps: apps.map((a) => ({ id: a.id, name: a.name })), globex: { id: globex.id, name: globex.name } };
}

/** Seeds a subscription through the API, as an operator might have made one by hand. */
async function handMade(app: string, body: Record<string, unknown>) {
  const client = new Heroku({ token: fake.token, host: fake.url });
  return client.post<{ id: string }>(`/apps/${app}/webhooks`, { body });
}

describe('registerWebhooks', () => {
  it('creates one subscription per app, with our entities, level, URL and secret', async () => {
    const { apps } = seed();
    const summary = await registerWebhooks(api, apps, { url: URL_, secret: SECRET });
    expect(summary).toMatchObject({ created: 3, updated: 0, unchanged: 0, failed: 0 });
    for (const app of apps) {
      const hooks = fake.webhooks(app.name);
      expect(hooks).toHaveLength(1);
      expect(hooks[0]!.webhook).toMatchObject({ include: INCLUDE, level: 'notify', url: URL_, app: { id: app.id, name: app.name } });
      expect(hooks[0]!.secret).toBe(SECRET);
      expect(summary.apps.find((a) => a.appId === app.id)).toEqual({
        appId: app.id,
        appName: app.name,
        result: 'created',
        webhookId: hooks[0]!.webhook.id,
      });
    }
  });

  it('is idempotent: a second run lists and changes nothing', async () => {
    const { apps } = seed();
    await registerWebhooks(api, apps, { url: URL_, secret: SECRET });
    fake.resetRequests();
    const again = await registerWebhooks(api, apps, { url: URL_, secret: SECRET });
    expect(again).toMatchObject({ created: 0, updated: 0, unchanged: 3, failed: 0 });
    expect(fake.mutatingRequests()).toBe(0);
    expect(fake.requests.map((r) => `${r.method} ${r.path}`).sort()).toEqual(apps.map((a) => `GET /apps/${a.id}/webhooks`).sort());
    for (const app of apps) expect(fake.webhooks(app.id)).toHaveLength(1);
  });

  it('updates in place a subscription to our URL whose entities or level differ, and leaves other URLs alone', async () => {
    const { apps } = seed();
    const [web, worker] = apps as [(typeof apps)[0], (typeof apps)[0]];
    const oldInclude = await handMade(web.name, { include: ['api:release'], level: 'notify', url: URL_, secret: 'hand-made' });
    const oldLevel = await handMade(worker.name, { include: ['api:addon-attachment', 'api:addon'], level: 'sync', url: URL_ });
    await handMade(web.name, { include: ['api:release'], level: 'sync', url: 'https://ci.example.com/hook' });
    fake.resetRequests();

    const summary = await registerWebhooks(api, apps, { url: URL_, secret: SECRET });
    expect(summary).toMatchObject({ created: 1, updated: 2, unchanged: 0, failed: 0 });
    expect(summary.apps.map((a) => [a.appName, a.result, a.webhookId])).toEqual([
      [web.name, 'updated', oldInclude.id],
      [worker.name, 'updated', oldLevel.id],
      ['acme-review-pr-12', 'created', expect.any(String)],
    ]);
    const webHooks = fake.webhooks(web.name);
    expect(webHooks).toHaveLength(2);
    expect(webHooks.find((h) => h.webhook.id === oldInclude.id)).toMatchObject({ webhook: { include: INCLUDE, url: URL_ }, secret: SECRET });
    expect(webHooks.find((h) => h.webhook.url !== URL_)).toMatchObject({ webhook: { include: ['api:release'], level: 'sync' }, secret: null });
    expect(fake.webhooks(worker.name)[0]).toMatchObject({ webhook: { level: 'notify' }, secret: SECRET });
    expect(fake.requests.filter((r) => r.method === 'PATCH')).toHaveLength(2);
    const third = await registerWebhooks(api, apps, { url: URL_, secret: SECRET });
    expect(third.unchanged).toBe(3);
  });

  it('treats differently written forms of the same URL, and the same entities in another order, as ours', async () => {
    const { apps } = seed();
    const one = apps.slice(0, 1);
    // Also in another order: the entities are a set.
    await handMade(one[0]!.name, { include: [...INCLUDE].reverse(), level: 'notify', url: 'HTTPS://S3-Controller.Example.com:443/webhooks/heroku' });
    const summary = await registerWebhooks(api, one, { url: URL_, secret: SECRET });
    expect(summary.unchanged).toBe(1);
    expect(fake.webhooks(one[0]!.id)).toHaveLength(1);
  });

  it('writes a rotated secret into every subscription when asked', async () => {
    const { apps } = seed();
    await registerWebhooks(api, apps, { url: URL_, secret: SECRET });
    const unasked = await registerWebhooks(api, apps, { url: URL_, secret: 'new-secret' });
    expect(unasked.unchanged).toBe(3);
    expect(fake.webhooks(apps[0]!.id)[0]!.secret).toBe(SECRET); // cannot be seen, so not compared
    const rotated = await registerWebhooks(api, apps, { url: URL_, secret: 'new-secret', rotateSecret: true });
    expect(rotated).toMatchObject({ updated: 3, created: 0 });
    for (const app of apps) expect(fake.webhooks(app.id).map((h) => h.secret)).toEqual(['new-secret']);
  });

  it('can subscribe with level sync', async () => {
    const { apps } = seed();
    await registerWebhooks(api, apps.slice(0, 1), { url: URL_, secret: SECRET, level: 'sync' });
    expect(fake.webhooks(apps[0]!.id)[0]!.webhook.level).toBe('sync');
  });

  it('reports a failing app without stopping the others, and never echoes the secret', async () => {
    const { apps } = seed();
    fake.failNext({ method: 'GET', path: `/apps/${apps[1]!.id}/webhooks`, status: 503 });
    fake.failNext({ method: 'GET', path: `/apps/${apps[2]!.id}/webhooks`, status: 422, message: `Secret ${SECRET} is invalid.` });
    const summary = await registerWebhooks(api, apps, { url: URL_, secret: SECRET, concurrency: 1 });
    expect(summary).toMatchObject({ created: 1, failed: 2 });
    expect(summary.apps[1]).toMatchObject({ result: 'failed', webhookId: null, error: expect.stringMatching(/503/) });
    expect(summary.apps[2]).toMatchObject({ result: 'failed', error: 'Heroku GET /apps/' + apps[2]!.id + '/webhooks failed: 422 invalid_params: Secret [redacted] is invalid.' });
    expect(JSON.stringify(summary)).not.toContain(SECRET);
    expect(fake.webhooks(apps[1]!.id)).toHaveLength(0);
    // The next run finishes the job.
    const retry = await registerWebhooks(api, apps, { url: URL_, secret: SECRET });
    expect(retry).toMatchObject({ created: 2, unchanged: 1, failed: 0 });
  });

  it('refuses a URL that is not http(s), carries credentials, or an empty secret, before any call', async () => {
    const { apps } = seed();
    for (const url of ['not a url', 'ftp://x.example.com/h', 'https://user:pw@x.example.com/h']) {
      await expect(registerWebhooks(api, apps, { url, secret: SECRET })).rejects.toBeInstanceOf(UserError);
    }
    await expect(registerWebhooks(api, apps, { url: URL_, secret: '' })).rejects.toBeInstanceOf(UserError);
    expect(fake.requests).toEqual([]);
  });
});

describe('registerWebhooksForTeams and the command', () => {
  it('visits every app of every linked team with one listing per team', async () => {
    const { apps, globex } = seed();
    fake.addTeam({ name: 'unlinked' });
    fake.addApp({ name: 'unlinked-app', team: 'unlinked' });
    const summary = await registerWebhooksForTeams(
      api,
      [
        { id: fake.team('acme').id, name: 'acme' },
        { id: fake.team('globex').id, name: 'globex' },
      ],
      { url: URL_, secret: SECRET },
    );
    expect(summary.created).toBe(4);
    expect(summary.teamsFailed).toEqual([]);
    expect(summary.apps.map((a) => a.appName).sort()).toEqual([...apps.map((a) => a.name), globex.name].sort());
    expect(fake.webhooks('unlinked-app')).toEqual([]);
    expect(fake.requests.filter((r) => r.path.startsWith('/teams/'))).toHaveLength(2);
  });

  it('reports a team whose apps cannot be listed, and still does the others', async () => {
    seed();
    const acme = fake.team('acme');
    fake.failNext({ path: `/teams/${acme.id}/apps`, status: 500 });
    const summary = await registerWebhooksForTeams(
      api,
      [
        { id: acme.id, name: 'acme' },
        { id: fake.team('globex').id, name: 'globex' },
      ],
      { url: URL_, secret: SECRET },
    );
    expect(summary.teamsFailed).toEqual([{ teamId: acme.id, teamName: 'acme', error: expect.stringMatching(/500/) }]);
    expect(summary.created).toBe(1);
    expect(formatRegisterSummary(summary)[0]).toMatch(/^team acme: apps not listed: .*500/);
  });

  it('prints a summary (text or JSON) without the secret and exits 0, or 2 when anything failed', async () => {
    seed();
    const links = {
      list: async () => [
        { teamId: fake.team('acme').id, teamName: 'acme' },
        { teamId: fake.team('globex').id, teamName: 'globex' },
      ],
    };
    let out = '';
    const write = (text: string) => void (out += text);
    expect(await registerWebhooksCommand({ url: URL_, secret: SECRET, output: 'text' }, { api, links, write })).toBe(0);
    expect(out).toContain('created  acme-web');
    expect(out.trim().split('\n').at(-1)).toBe('4 app(s): 4 created, 0 updated, 0 unchanged, 0 failed.');

    out = '';
    expect(await registerWebhooksCommand({ url: URL_, secret: SECRET, output: 'json' }, { api, links, write })).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ created: 0, unchanged: 4, failed: 0, teamsFailed: [] });

    out = '';
    fake.failNext({ method: 'GET', path: /\/webhooks$/, status: 500 });
    expect(await registerWebhooksCommand({ url: URL_, secret: SECRET, output: 'text' }, { api, links, write })).toBe(2);
    expect(out).toMatch(/^failed/m);
    expect(out).not.toContain(SECRET);

    await expect(
      registerWebhooksCommand({ url: URL_, secret: SECRET, output: 'text' }, { api, links: { list: async () => [] }, write }),
    ).rejects.toThrow(/no team is linked/);
  });
});

describe("the fake's app webhook routes", () => {
  it('serve list, info, create (201), update and delete, and refuse bad input with 422 and unknown ids with 404', async () => {
    seed();
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(fake.url + path, {
        method,
        headers: {
          Accept: 'application/vnd.heroku+json; version=3',
          Authorization: `Bearer ${fake.token}`,
          ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    const created = await call('POST', '/apps/acme-web/webhooks', { include: ['api:addon'], level: 'notify', url: URL_, secret: 's' });
    expect(created.status).toBe(201);
    expect(Object.keys(created.body).sort()).toEqual(['app', 'created_at', 'id', 'include', 'level', 'updated_at', 'url']);
    expect((await call('GET', `/apps/acme-web/webhooks/${created.body.id}`)).body).toEqual(created.body);
    const patched = await call('PATCH', `/apps/acme-web/webhooks/${created.body.id}`, { level: 'sync' });
    expect(patched.body).toMatchObject({ level: 'sync', include: ['api:addon'] });
    expect((await call('GET', '/apps/acme-web/webhooks')).body).toHaveLength(1);
    expect((await call('GET', '/apps/acme-worker/webhooks')).body).toEqual([]);
    expect((await call('GET', `/apps/acme-worker/webhooks/${created.body.id}`)).status).toBe(404);
    expect((await call('POST', '/apps/acme-web/webhooks', { include: ['api:addon'], level: 'loud', url: URL_ })).status).toBe(422);
    expect((await call('POST', '/apps/acme-web/webhooks', { include: [], level: 'notify', url: URL_ })).status).toBe(422);
    expect((await call('POST', '/apps/no-such-app/webhooks', { include: ['api:addon'], level: 'notify', url: URL_ })).status).toBe(404);
    expect((await call('DELETE', `/apps/acme-web/webhooks/${created.body.id}`)).status).toBe(200);
    expect((await call('GET', '/apps/acme-web/webhooks')).body).toEqual([]);
    // The bad level breaks the request schema too (an empty include does not); the fake records that.
    expect(fake.schemaViolations.filter((v) => v.startsWith('request POST'))).toEqual([expect.stringMatching(/\/level must be equal to one of/)]);
    fake.clearSchemaViolations();
  });
});
