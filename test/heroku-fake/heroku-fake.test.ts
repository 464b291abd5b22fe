/**
 * The Heroku Platform API fake, driven through the real heroku-client. Every test ends by checking
 * that every answer the fake served matched the official schema.
 */
import Heroku from 'heroku-client';
import { beforeEach, describe, expect, it } from 'vitest';
import { HerokuFake } from '../support/heroku-fake/index.js';
import { fakePerTest, rawRequest } from './fake-per-test.js';
import type { AddOn, AddOnAttachment, App, Team, TeamApp } from '../support/heroku-fake/index.js';

const per = fakePerTest();
let fake: HerokuFake;
let heroku: (typeof per)['heroku'];
beforeEach(() => {
  ({ fake, heroku } = per);
});

/** A raw request (to see statuses and headers heroku-client hides). */
const raw = (path: string, init: Parameters<typeof rawRequest>[2] = {}) => rawRequest(fake, path, init);

function seedBasic() {
  const team = fake.addTeam({ name: 'acme' });
  const other = fake.addTeam({ name: 'other-team' });
  const web = fake.addApp({ name: 'acme-web', team: 'acme' });
  const worker = fake.addApp({ name: 'acme-worker', team: team.id, region: 'eu' });
  const foreign = fake.addApp({ name: 'other-app', team: 'other-team' });
  const bucket = fake.addAddon({
    app: 'acme-web',
    service: 'bucketeer',
    // Set by the provider, in the manifest's prefix form (service `bucketeer` → `BUCKETEER`).
    providerConfig: { BUCKETEER_BUCKET_NAME: 'bucketeer-abc', BUCKETEER_AWS_ACCESS_KEY_ID: 'AKIAFAKE' },
  });
  const pg = fake.addAddon({ app: 'acme-worker', service: 'heroku-postgresql', plan: 'essential-0', state: 'provisioning' });
  const foreignBucket = fake.addAddon({ app: 'other-app', service: 'bucketeer' });
  return { team, other, web, worker, foreign, bucket, pg, foreignBucket };
}

describe('teams', () => {
  it('lists teams and finds one by name or id', async () => {
    const { team, other } = seedBasic();
    const teams = (await heroku.get('/teams')) as Team[];
    expect(teams.map((t) => t.name).sort()).toEqual(['acme', 'other-team']);
    expect(await heroku.get('/teams/acme')).toEqual(team);
    expect(await heroku.get(`/teams/${other.id}`)).toEqual(other);
    expect(team).toMatchObject({ name: 'acme', type: 'team', role: 'admin', enterprise_account: null });
  });

  it('answers 404 not_found for an unknown team', async () => {
    await expect(heroku.get('/teams/nope')).rejects.toMatchObject({
      statusCode: 404,
      body: { id: 'not_found', message: "Couldn't find that team." },
    });
    await expect(heroku.get('/teams/nope/addons')).rejects.toMatchObject({ statusCode: 404, body: { id: 'not_found' } });
  });
});

describe('apps', () => {
  it('lists a team’s apps (TeamApp) and shows one app by name or id', async () => {
    const { team, web, worker } = seedBasic();
    const apps = (await heroku.get('/teams/acme/apps')) as TeamApp[];
    expect(apps.map((a) => a.name).sort()).toEqual(['acme-web', 'acme-worker']);
    expect(apps[0]!.team).toEqual({ name: 'acme' });
    const byName = (await heroku.get('/apps/acme-worker')) as App;
    expect(byName).toEqual(worker);
    expect(byName.region.name).toBe('eu');
    expect(byName.team).toEqual({ id: team.id, name: 'acme' });
    expect(await heroku.get(`/apps/${web.id}`)).toMatchObject({ name: 'acme-web', region: { name: 'us' } });
    await expect(heroku.get('/apps/missing-app')).rejects.toMatchObject({
      statusCode: 404,
      body: { id: 'not_found', message: "Couldn't find that app." },
    });
  });
});

describe('add-ons', () => {
  it('lists a team’s add-ons and shows one by id or name', async () => {
    const { web, bucket, pg } = seedBasic();
    const addons = (await heroku.get('/teams/acme/addons')) as AddOn[];
    expect(addons.map((a) => a.id).sort()).toEqual([bucket.id, pg.id].sort());
    const got = (await heroku.get(`/addons/${bucket.id}`)) as AddOn;
    expect(got).toEqual(bucket);
    expect(got).toMatchObject({
      addon_service: { name: 'bucketeer' },
      plan: { name: 'bucketeer:standard' },
      app: { id: web.id, name: 'acme-web' },
      billing_entity: { id: web.id, name: 'acme-web', type: 'app' },
      config_vars: ['BUCKETEER_BUCKET_NAME', 'BUCKETEER_AWS_ACCESS_KEY_ID'],
      state: 'provisioned',
    });
    expect(await heroku.get(`/addons/${pg.name}`)).toMatchObject({
      plan: { name: 'heroku-postgresql:essential-0' },
      state: 'provisioning',
    });
    // Same service and plan share ids across add-ons.
    const foreign = (await heroku.get('/teams/other-team/addons')) as AddOn[];
    expect(foreign[0]!.addon_service.id).toBe(bucket.addon_service.id);
    expect(foreign[0]!.plan.id).toBe(bucket.plan.id);
    await expect(heroku.get('/addons/nope')).rejects.toMatchObject({ statusCode: 404, body: { id: 'not_found' } });
  });

  it('follows state changes and destruction', async () => {
    const { pg } = seedBasic();
    fake.setAddonState(pg.id, 'provisioned');
    expect(await heroku.get(`/addons/${pg.id}`)).toMatchObject({ state: 'provisioned' });
    fake.destroyAddon(pg.name);
    await expect(heroku.get(`/addons/${pg.id}`)).rejects.toMatchObject({ statusCode: 404 });
    expect(((await heroku.get('/teams/acme/addons')) as AddOn[]).map((a) => a.addon_service.name)).toEqual(['bucketeer']);
  });
});

describe('add-on attachments', () => {
  it('creates the owning attachment, lists all / by add-on / by app, and follows attach and detach', async () => {
    const { web, worker, bucket, pg, foreignBucket } = seedBasic();
    const all = (await heroku.get('/addon-attachments')) as AddOnAttachment[];
    expect(all).toHaveLength(3);
    const own = all.find((a) => a.addon.id === bucket.id)!;
    expect(own).toMatchObject({
      name: 'BUCKETEER',
      app: { id: web.id, name: 'acme-web' },
      addon: { id: bucket.id, name: bucket.name, app: { id: web.id, name: 'acme-web' } },
      namespace: null,
    });
    expect(all.find((a) => a.addon.id === pg.id)!.name).toBe('HEROKU_POSTGRESQL');

    const extra = fake.attach({ addon: bucket.id, app: 'acme-worker', name: 'ASSETS' });
    expect(extra).toMatchObject({ name: 'ASSETS', app: { id: worker.id }, addon: { app: { id: web.id } } });
    const byAddon = (await heroku.get(`/addons/${bucket.name}/addon-attachments`)) as AddOnAttachment[];
    expect(byAddon.map((a) => a.name).sort()).toEqual(['ASSETS', 'BUCKETEER']);
    const byApp = (await heroku.get('/apps/acme-worker/addon-attachments')) as AddOnAttachment[];
    expect(byApp.map((a) => a.name).sort()).toEqual(['ASSETS', 'HEROKU_POSTGRESQL']);
    // The attached app sees the add-on's vars under its attachment name, with the same values.
    const webVars = fake.configVars('acme-web');
    expect(fake.configVars('acme-worker')['ASSETS_BUCKET_NAME']).toBe(webVars['BUCKETEER_BUCKET_NAME']);

    fake.detach(extra.id);
    expect(((await heroku.get('/apps/acme-worker/addon-attachments')) as AddOnAttachment[]).map((a) => a.name)).toEqual([
      'HEROKU_POSTGRESQL',
    ]);
    expect(fake.configVars('acme-worker')['ASSETS_BUCKET_NAME']).toBeUndefined();

    // A second add-on of the same service on one app gets a distinct attachment name.
    const second = fake.addAddon({ app: 'acme-web', service: 'bucketeer' });
    const names = ((await heroku.get(`/addons/${second.id}/addon-attachments`)) as AddOnAttachment[]).map((a) => a.name);
    expect(names).toEqual(['BUCKETEER_AQUA']);

    fake.destroyApp('acme-web');
    const left = (await heroku.get('/addon-attachments')) as AddOnAttachment[];
    expect(left.map((a) => a.addon.id).sort()).toEqual([pg.id, foreignBucket.id].sort());
    await expect(heroku.get('/apps/acme-web/addon-attachments')).rejects.toMatchObject({ statusCode: 404 });
  });
});

describe('config vars', () => {
  it('reads, sets and deletes with null, answering the whole map', async () => {
    seedBasic();
    fake.setConfigVar('acme-worker', 'KEEP', 'k');
    fake.setConfigVar('acme-worker', 'OLD', 'o');
    expect(await heroku.get('/apps/acme-worker/config-vars')).toEqual({ KEEP: 'k', OLD: 'o' });
    fake.resetRequests();
    const answer = await heroku.patch('/apps/acme-worker/config-vars', { body: { NEW: 'n', OLD: null, GONE: null } });
    expect(answer).toEqual({ KEEP: 'k', NEW: 'n' });
    expect(fake.configVars('acme-worker')).toEqual({ KEEP: 'k', NEW: 'n' });
    expect(fake.mutatingRequests()).toBe(1);
    expect(fake.requests).toMatchObject([{ method: 'PATCH', path: '/apps/acme-worker/config-vars', status: 200 }]);
    await expect(heroku.patch('/apps/nope-app/config-vars', { body: { A: 'b' } })).rejects.toMatchObject({
      statusCode: 404,
    });
  });

  it('refuses keys that are not \\w+ with 422 invalid_params (and flags the request body)', async () => {
    seedBasic();
    await expect(heroku.patch('/apps/acme-worker/config-vars', { body: { 'BAD-KEY': 'x', GOOD: 'y' } })).rejects.toMatchObject({
      statusCode: 422,
      body: { id: 'invalid_params' },
    });
    expect(fake.configVars('acme-worker')).toEqual({});
    // The request broke the schema of the PATCH body: the fake reports that too.
    expect(fake.schemaViolations).toHaveLength(1);
    expect(fake.schemaViolations[0]).toMatch(/^request PATCH .*BAD-KEY/);
    fake.clearSchemaViolations();
  });

  it('refuses to overwrite or delete vars owned by an attached add-on', async () => {
    const { bucket } = seedBasic();
    const before = fake.configVars('acme-web');
    expect(Object.keys(before).sort()).toEqual(['BUCKETEER_AWS_ACCESS_KEY_ID', 'BUCKETEER_BUCKET_NAME']);
    await expect(heroku.patch('/apps/acme-web/config-vars', { body: { BUCKETEER_BUCKET_NAME: 'x', MINE: 'y' } })).rejects.toMatchObject({
      statusCode: 422,
      body: { id: 'invalid_params' },
    });
    await expect(heroku.patch('/apps/acme-web/config-vars', { body: { BUCKETEER_AWS_ACCESS_KEY_ID: null } })).rejects.toMatchObject({
      statusCode: 422,
    });
    expect(fake.configVars('acme-web')).toEqual(before);
    // On another app the protection follows the attachment's name.
    fake.attach({ addon: bucket.id, app: 'acme-worker', name: 'FILES' });
    await expect(heroku.patch('/apps/acme-worker/config-vars', { body: { FILES_BUCKET_NAME: 'x' } })).rejects.toMatchObject({
      statusCode: 422,
    });
    expect(await heroku.patch('/apps/acme-worker/config-vars', { body: { BUCKETEER_BUCKET_NAME: 'mine' } })).toMatchObject({
      BUCKETEER_BUCKET_NAME: 'mine',
    });
    expect(fake.mutatingRequests()).toBe(4);
  });

  it('does not apply a PATCH that a fault answered', async () => {
    seedBasic();
    fake.failNext({ method: 'PATCH', path: '/apps/acme-worker/config-vars', status: 500 });
    await expect(heroku.patch('/apps/acme-worker/config-vars', { body: { A: 'b' } })).rejects.toMatchObject({
      statusCode: 500,
      body: { id: 'internal_server_error' },
    });
    expect(fake.configVars('acme-worker')).toEqual({});
    expect(await heroku.patch('/apps/acme-worker/config-vars', { body: { A: 'b' } })).toEqual({ A: 'b' });
  });
});

describe('pagination', () => {
  function seedAddons(n: number): string[] {
    fake.addTeam({ name: 'big' });
    const ids: string[] = [];
    const apps = Math.ceil(n / 100);
    for (let a = 0; a < apps; a++) {
      fake.addApp({ name: `big-app-${a}`, team: 'big' });
      for (let i = 0; i < 100 && ids.length < n; i++) ids.push(fake.addAddon({ app: `big-app-${a}`, service: 'bucketeer' }).id);
    }
    return ids.sort();
  }

  it('heroku-client pages through 2,500 add-ons in exactly 3 requests', async () => {
    const ids = seedAddons(2500);
    fake.resetRequests();
    const addons = (await heroku.get('/teams/big/addons')) as AddOn[];
    expect(addons).toHaveLength(2500);
    expect(addons.map((a) => a.id)).toEqual(ids);
    expect(fake.requests.map((r) => r.status)).toEqual([206, 206, 200]);
    expect(fake.requests[0]!.range).toBe('id ..; max=1000');
    expect(fake.requests[1]!.range).toBe(`id ]${ids[999]}..; max=1000`);
    expect(fake.requests[2]!.range).toBe(`id ]${ids[1999]}..; max=1000`);
  });

  it('answers 206 with Next-Range while more remain, 200 on the last page; default page 200; max clamped to 1000', async () => {
    const ids = seedAddons(1100);
    const first = await raw('/teams/big/addons');
    expect(first.status).toBe(206);
    expect(first.body).toHaveLength(200);
    expect(first.headers.get('next-range')).toBe(`id ]${ids[199]}..; max=200`);

    const clamped = await raw('/teams/big/addons', { headers: { Range: 'id ..; max=5000' } });
    expect(clamped.status).toBe(206);
    expect(clamped.body).toHaveLength(1000);
    const next = clamped.headers.get('next-range')!;
    const last = await raw('/teams/big/addons', { headers: { Range: next } });
    expect(last.status).toBe(200);
    expect(last.headers.get('next-range')).toBeNull();
    expect((last.body as AddOn[]).map((a) => a.id)).toEqual(ids.slice(1000));

    // A page that ends exactly at the end is complete: 200, no Next-Range.
    const tail = await raw('/teams/big/addons', { headers: { Range: `id ${ids[1000]}..; max=100` } });
    expect(tail.status).toBe(200);
    expect(tail.headers.get('next-range')).toBeNull();
    expect(tail.body).toHaveLength(100);

    const bad = await raw('/teams/big/addons', { headers: { Range: 'name ..; max=10' } });
    expect(bad.status).toBe(416);
  });

  it('heroku-client follows a smaller max sent as Range, and stops after one page with partial', async () => {
    const ids = seedAddons(250);
    fake.resetRequests();
    const all = (await heroku.get('/teams/big/addons', { headers: { Range: 'id ..; max=100' } })) as AddOn[];
    expect(all.map((a) => a.id)).toEqual(ids);
    expect(fake.requests.map((r) => [r.status, r.range])).toEqual([
      [206, 'id ..; max=100'],
      [206, `id ]${ids[99]}..; max=100`],
      [200, `id ]${ids[199]}..; max=100`],
    ]);
    fake.resetRequests();
    const one = (await heroku.get('/teams/big/addons', { partial: true, headers: { Range: 'id ..; max=100' } })) as AddOn[];
    expect(one).toHaveLength(100);
    expect(fake.requests).toHaveLength(1);
  });

  it('a fault on page 2 rejects the whole heroku-client call', async () => {
    seedAddons(2500);
    fake.resetRequests();
    fake.failNext({ path: '/teams/big/addons', status: 503, onPage: 2 });
    await expect(heroku.get('/teams/big/addons')).rejects.toMatchObject({
      statusCode: 503,
      body: { id: 'service_unavailable' },
    });
    expect(fake.requests.map((r) => r.status)).toEqual([206, 503]);
    // Used up: the next call goes through.
    expect(((await heroku.get('/teams/big/addons')) as AddOn[]).length).toBe(2500);
  });

  it('pages every list endpoint (teams, apps, attachments)', async () => {
    seedAddons(300);
    for (let i = 0; i < 3; i++) fake.addTeam({ name: `t${i}` });
    expect(((await heroku.get('/teams', { headers: { Range: 'id ..; max=2' } })) as Team[]).length).toBe(4);
    expect(((await heroku.get('/teams/big/apps', { headers: { Range: 'id ..; max=1' } })) as TeamApp[]).length).toBe(3);
    expect(((await heroku.get('/addon-attachments', { headers: { Range: 'id ..; max=7' } })) as AddOnAttachment[]).length).toBe(300);
    expect(((await heroku.get('/apps/big-app-1/addon-attachments', { headers: { Range: 'id ..; max=30' } })) as AddOnAttachment[]).length).toBe(100);
  });
});

describe('faults, rate limit and auth', () => {
  it('failNext answers the given status the given number of times, matching method and RegExp paths', async () => {
    seedBasic();
    fake.failNext({ path: /^\/apps\/[^/]+$/, status: 500, times: 2 });
    fake.failNext({ method: 'PATCH', path: '/apps/acme-web', status: 503 });
    await expect(heroku.get('/apps/acme-web')).rejects.toMatchObject({ statusCode: 500, body: { id: 'internal_server_error' } });
    await expect(heroku.get('/apps/acme-worker')).rejects.toMatchObject({ statusCode: 500 });
    expect(await heroku.get('/apps/acme-web')).toMatchObject({ name: 'acme-web' });
    fake.failNext({ path: '/teams/acme', status: 429, id: 'rate_limit' });
    await expect(heroku.get('/teams/acme')).rejects.toMatchObject({ statusCode: 429, body: { id: 'rate_limit' } });
  });

  it('spends one RateLimit-Remaining token per request and answers 429 rate_limit when empty', async () => {
    seedBasic();
    fake.setRateLimitRemaining(3);
    const a = await raw('/teams/acme');
    expect(a.headers.get('ratelimit-remaining')).toBe('2');
    expect(a.headers.get('request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.headers.get('content-type')).toMatch(/^application\/json/);
    const b = await raw('/apps/acme-web');
    expect(b.headers.get('ratelimit-remaining')).toBe('1');
    // The rate-limit endpoint is free.
    expect(await heroku.get('/account/rate-limits')).toEqual({ remaining: 1 });
    expect(await heroku.get('/account/rate-limits')).toEqual({ remaining: 1 });
    await heroku.get('/teams');
    await expect(heroku.get('/teams')).rejects.toMatchObject({ statusCode: 429, body: { id: 'rate_limit' } });
    const limited = await raw('/teams');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('ratelimit-remaining')).toBe('0');
    expect(await heroku.get('/account/rate-limits')).toEqual({ remaining: 0 });
    fake.setRateLimitRemaining(10);
    expect(await heroku.get('/teams')).toHaveLength(2);
    expect(fake.rateLimitRemaining).toBe(9);
  });

  it('answers 401 unauthorized to a bad or missing token; accepts Bearer and Basic', async () => {
    seedBasic();
    const bad = new Heroku({ token: 'wrong', host: fake.url });
    await expect(bad.get('/teams')).rejects.toMatchObject({
      statusCode: 401,
      body: { id: 'unauthorized', message: 'Invalid credentials provided.' },
    });
    const missing = await fetch(`${fake.url}/teams`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('ratelimit-remaining')).not.toBeNull();
    expect((await raw('/teams')).status).toBe(200);
    const basic = Buffer.from(`someone@example.com:${fake.token}`).toString('base64');
    expect((await raw('/teams', { headers: { Authorization: `Basic ${basic}` } })).status).toBe(200);
  });

  it('answers 404 not_found on unknown routes and verbs', async () => {
    await expect(heroku.get('/nothing/here')).rejects.toMatchObject({ statusCode: 404, body: { id: 'not_found' } });
    await expect(heroku.delete('/teams')).rejects.toMatchObject({ statusCode: 404, body: { id: 'not_found' } });
    expect(fake.mutatingRequests()).toBe(1);
  });

  it('starts with a given token', async () => {
    const other = await HerokuFake.start({ token: 'given-token' });
    try {
      expect(other.token).toBe('given-token');
      expect(other.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      other.addTeam({ name: 'x-team' });
      expect(await new Heroku({ token: 'given-token', host: other.url }).get('/teams')).toHaveLength(1);
      expect(other.schemaViolations).toEqual([]);
    } finally {
      await other.stop();
    }
  });
});
