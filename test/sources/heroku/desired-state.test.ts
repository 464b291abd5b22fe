/**
 * `readDesiredState` through the real `HerokuApi` (heroku-client) against the Heroku Platform API
 * fake: filtering, attachments, regions, pagination, the request budget, and fail-closed reads
 * (safety invariant 2: a team whose read failed anywhere is `complete: false`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readDesiredState, type DesiredStateOptions } from '../../../src/sources/heroku/desired-state.js';
import { HerokuApi, type HerokuRequest } from '../../../src/heroku/heroku-api.js';
import { awsRegionFor } from '../../../src/sources/heroku/regions.js';
import type { TeamDesiredState } from '../../../src/reconciler/model.js';
import type { Link } from '../../../src/store/types.js';
import { HerokuFake, type RecordedRequest } from '../../support/heroku-fake/index.js';

const SERVICE = 's3-bucket';
const OPTIONS: DesiredStateOptions = { addonServices: [SERVICE], defaultRegion: 'ap-southeast-2' };

let fake: HerokuFake;
let api: HerokuApi;
let seen: HerokuRequest[];

beforeEach(async () => {
  fake = await HerokuFake.start();
  seen = [];
  api = new HerokuApi({ url: fake.url, token: fake.token, onRequest: (r) => seen.push(r) });
});

afterEach(async () => {
  const violations = [...fake.schemaViolations];
  await fake.stop();
  expect(violations).toEqual([]);
});

function linkFor(team: { id: string; name: string }, region: string | null = null, accountId = '111122223333'): Link {
  const at = new Date('2025-01-01T00:00:00Z');
  return {
    teamId: team.id,
    teamName: team.name,
    accountId,
    region,
    auth: { kind: 'role', roleArn: `arn:aws:iam::${accountId}:role/heroku-s3-controller`, externalId: null },
    createdAt: at,
    updatedAt: at,
  };
}

function byTeam(result: TeamDesiredState[], teamId: string): TeamDesiredState {
  const team = result.find((t) => t.teamId === teamId);
  if (!team) throw new Error(`team ${teamId} missing from the result`);
  return team;
}

const GETS = (reqs: RecordedRequest[], path: string) => reqs.filter((r) => r.method === 'GET' && r.path === path);

describe('filtering and mapping', () => {
  it('keeps add-ons of the configured services, skips deprovisioned ones and other services', async () => {
    const team = fake.addTeam({ name: 'acme' });
    fake.addApp({ name: 'acme-web', team: 'acme' });
    fake.addApp({ name: 'acme-api', team: 'acme', region: 'eu' });
    const wanted = fake.addAddon({
      app: 'acme-web',
      service: SERVICE,
      plan: 'private',
      name: 'bucket-one',
      attachmentName: 'BUCKET',
      // The provider's vars (manifest prefix S3_BUCKET), exposed on the owning app as BUCKET_*.
      providerConfig: { S3_BUCKET_BUCKET_NAME: 'bucket-one', S3_BUCKET_URL: 's3://bucket-one' },
    });
    const provisioning = fake.addAddon({ app: 'acme-api', service: SERVICE, state: 'provisioning' });
    const gone = fake.addAddon({ app: 'acme-api', service: SERVICE, state: 'deprovisioned' });
    const otherService = fake.addAddon({ app: 'acme-web', service: 'heroku-postgresql', plan: 'essential-0' });
    const alsoWanted = fake.addAddon({ app: 'acme-api', service: 'other-s3', plan: 'versioned' });

    const [result] = await readDesiredState(api, [linkFor(team)], OPTIONS);
    expect(result).toMatchObject({ teamId: team.id, teamName: 'acme', complete: true, error: null });
    const ids = result!.addons.map((a) => a.addonId).sort();
    expect(ids).toEqual([wanted.id, provisioning.id].sort());
    expect(ids).not.toContain(gone.id);
    expect(ids).not.toContain(otherService.id);
    // A deprovisioned add-on is not wanted, and is named so its resources get the short grace.
    expect(result!.deprovisioned).toEqual([gone.id]);

    const one = result!.addons.find((a) => a.addonId === wanted.id)!;
    const web = fake.app('acme-web');
    expect(one).toEqual({
      addonId: wanted.id,
      addonName: 'bucket-one',
      service: SERVICE,
      plan: `${SERVICE}:private`,
      appId: web.id,
      appName: 'acme-web',
      teamId: team.id,
      region: 'us-east-1',
      attachments: [{ id: fake.appAttachments('acme-web')[0]!.id, name: 'BUCKET', appId: web.id, appName: 'acme-web' }],
      ownedConfigVars: ['BUCKET_BUCKET_NAME', 'BUCKET_URL'],
    });

    // Several services at once.
    const both = await readDesiredState(api, [linkFor(team)], { ...OPTIONS, addonServices: [SERVICE, 'other-s3'] });
    expect(both[0]!.addons.map((a) => a.addonId).sort()).toEqual([wanted.id, provisioning.id, alsoWanted.id].sort());
    // No configured service: nothing is desired, but the read is still complete.
    const none = await readDesiredState(api, [linkFor(team)], { ...OPTIONS, addonServices: [] });
    expect(none).toEqual([{ teamId: team.id, teamName: 'acme', complete: true, error: null, addons: [], deprovisioned: [] }]);
  });

  it('a deprovisioned add-on disappears from the next read; a destroyed one too', async () => {
    const team = fake.addTeam({ name: 'acme' });
    fake.addApp({ name: 'acme-web', team: 'acme' });
    const a = fake.addAddon({ app: 'acme-web', service: SERVICE });
    const b = fake.addAddon({ app: 'acme-web', service: SERVICE });
    const read = async () => (await readDesiredState(api, [linkFor(team)], OPTIONS))[0]!;
    expect((await read()).addons.map((x) => x.addonId).sort()).toEqual([a.id, b.id].sort());
    fake.setAddonState(a.id, 'deprovisioned');
    expect((await read()).addons.map((x) => x.addonId)).toEqual([b.id]);
    fake.destroyAddon(b.id);
    const last = await read();
    expect(last.complete).toBe(true);
    expect(last.addons).toEqual([]);
  });

  it('returns nothing and asks Heroku nothing when there are no links', async () => {
    fake.addTeam({ name: 'acme' });
    expect(await readDesiredState(api, [], OPTIONS)).toEqual([]);
    expect(fake.requests).toEqual([]);
  });

  it('answers teams in link order, each with only its own add-ons; an empty team is complete', async () => {
    const teams = ['t-one', 't-two', 't-three', 't-empty'].map((name) => fake.addTeam({ name }));
    const expected = new Map<string, string[]>();
    for (const [i, t] of teams.slice(0, 3).entries()) {
      fake.addApp({ name: `${t.name}-app`, team: t.name });
      expected.set(t.id, Array.from({ length: i + 1 }, () => fake.addAddon({ app: `${t.name}-app`, service: SERVICE }).id).sort());
    }
    // A team that is not linked: its add-ons never show up.
    fake.addTeam({ name: 'unlinked' });
    fake.addApp({ name: 'unlinked-app', team: 'unlinked' });
    const foreign = fake.addAddon({ app: 'unlinked-app', service: SERVICE });

    const links = [...teams].reverse().map((t) => linkFor(t));
    for (const concurrency of [1, 4]) {
      const result = await readDesiredState(api, links, { ...OPTIONS, concurrency });
      expect(result.map((t) => t.teamName)).toEqual(['t-empty', 't-three', 't-two', 't-one']);
      for (const t of result) {
        expect(t.complete).toBe(true);
        expect(t.error).toBeNull();
        expect(t.addons.map((a) => a.addonId).sort()).toEqual(expected.get(t.teamId) ?? []);
        expect(t.addons.every((a) => a.teamId === t.teamId)).toBe(true);
        expect(t.addons.map((a) => a.addonId)).not.toContain(foreign.id);
      }
    }
  });
});

describe('attachments', () => {
  it('lists every app an add-on is attached to, sorted by attachment id, and ignores other add-ons’ attachments', async () => {
    const team = fake.addTeam({ name: 'acme' });
    const other = fake.addTeam({ name: 'other' });
    const web = fake.addApp({ name: 'acme-web', team: 'acme' });
    const worker = fake.addApp({ name: 'acme-worker', team: 'acme' });
    const otherApp = fake.addApp({ name: 'other-app', team: 'other' });
    const shared = fake.addAddon({ app: 'acme-web', service: SERVICE, attachmentName: 'BUCKET' });
    const second = fake.attach({ addon: shared.id, app: 'acme-worker', name: 'SHARED_BUCKET' });
    // Our add-on attached to an app of another team still counts: config vars go there too.
    const third = fake.attach({ addon: shared.id, app: 'other-app', name: 'ACME_BUCKET' });
    // Another team's add-on (same service) attached to one of our apps: not ours to serve.
    const foreign = fake.addAddon({ app: 'other-app', service: SERVICE, attachmentName: 'FOREIGN' });
    fake.attach({ addon: foreign.id, app: 'acme-web', name: 'FOREIGN_BUCKET' });
    // An add-on of another service attached to our app: ignored.
    const pg = fake.addAddon({ app: 'acme-web', service: 'heroku-postgresql' });
    fake.attach({ addon: pg.id, app: 'acme-worker', name: 'DATABASE' });
    // An add-on whose only attachment was removed: desired, with no attachments.
    const lonely = fake.addAddon({ app: 'acme-worker', service: SERVICE, attachmentName: 'LONELY' });
    fake.detach(fake.appAttachments('acme-worker').find((a) => a.name === 'LONELY')!.id);

    const [result] = await readDesiredState(api, [linkFor(team)], OPTIONS);
    expect(result!.complete).toBe(true);
    expect(result!.addons.map((a) => a.addonId).sort()).toEqual([shared.id, lonely.id].sort());

    const got = result!.addons.find((a) => a.addonId === shared.id)!;
    const first = fake.appAttachments('acme-web').find((a) => a.name === 'BUCKET')!;
    const want = [
      { id: first.id, name: 'BUCKET', appId: web.id, appName: 'acme-web' },
      { id: second.id, name: 'SHARED_BUCKET', appId: worker.id, appName: 'acme-worker' },
      { id: third.id, name: 'ACME_BUCKET', appId: otherApp.id, appName: 'other-app' },
    ].sort((a, b) => a.id.localeCompare(b.id));
    expect(got.attachments).toEqual(want);
    expect(got.appId).toBe(web.id);
    expect(result!.addons.find((a) => a.addonId === lonely.id)!.attachments).toEqual([]);

    // Linking the other team too: its add-on is its own, with its own attachments.
    const both = await readDesiredState(api, [linkFor(team), linkFor(other)], OPTIONS);
    const theirs = byTeam(both, other.id);
    expect(theirs.addons.map((a) => a.addonId)).toEqual([foreign.id]);
    expect(theirs.addons[0]!.attachments.map((a) => a.name).sort()).toEqual(['FOREIGN', 'FOREIGN_BUCKET']);
    expect(byTeam(both, team.id).addons.find((a) => a.addonId === shared.id)!.attachments).toEqual(want);
  });
});

describe('regions', () => {
  it('maps us → us-east-1 and eu → eu-west-1; the link’s region overrides', async () => {
    const team = fake.addTeam({ name: 'acme' });
    fake.addApp({ name: 'acme-us', team: 'acme', region: 'us' });
    fake.addApp({ name: 'acme-eu', team: 'acme', region: 'eu' });
    const us = fake.addAddon({ app: 'acme-us', service: SERVICE });
    const eu = fake.addAddon({ app: 'acme-eu', service: SERVICE });

    const regions = async (link: Link) => {
      const [t] = await readDesiredState(api, [link], OPTIONS);
      return Object.fromEntries(t!.addons.map((a) => [a.addonId, a.region]));
    };
    expect(await regions(linkFor(team))).toEqual({ [us.id]: 'us-east-1', [eu.id]: 'eu-west-1' });
    expect(await regions(linkFor(team, 'eu-central-1'))).toEqual({ [us.id]: 'eu-central-1', [eu.id]: 'eu-central-1' });
  });

  it('maps Private Spaces regions, and falls back to the default region for unknown or missing ones', async () => {
    const team = fake.addTeam({ name: 'acme' });
    const apps = ['acme-tokyo', 'acme-mars', 'acme-gone'].map((name) => fake.addApp({ name, team: 'acme' }));
    const addons = apps.map((app) => fake.addAddon({ app: app.name, service: SERVICE }));
    // Rewrite the team's app listing: Tokyo and an unknown region; one app missing from it.
    fake.tamperResponses((body, ctx) => {
      if (ctx.path !== `/teams/${team.id}/apps` || !Array.isArray(body)) return body;
      return (body as { name: string; region: { id: string; name: string } }[])
        .filter((app) => app.name !== 'acme-gone')
        .map((app) => ({ ...app, region: { ...app.region, name: app.name === 'acme-tokyo' ? 'tokyo' : 'mars' } }));
    });
    const [t] = await readDesiredState(api, [linkFor(team)], OPTIONS);
    expect(t!.complete).toBe(true);
    const region = (i: number) => t!.addons.find((a) => a.addonId === addons[i]!.id)!.region;
    expect(region(0)).toBe('ap-northeast-1');
    expect(region(1)).toBe(OPTIONS.defaultRegion);
    expect(region(2)).toBe(OPTIONS.defaultRegion);
  });

  it('awsRegionFor: link region first, then the mapping, then the fallback', () => {
    expect(awsRegionFor('us', null, 'x')).toBe('us-east-1');
    expect(awsRegionFor('eu', null, 'x')).toBe('eu-west-1');
    expect(awsRegionFor('virginia', null, 'x')).toBe('us-east-1');
    expect(awsRegionFor('oregon', null, 'x')).toBe('us-west-2');
    expect(awsRegionFor('dublin', null, 'x')).toBe('eu-west-1');
    expect(awsRegionFor('frankfurt', null, 'x')).toBe('eu-central-1');
    expect(awsRegionFor('london', null, 'x')).toBe('eu-west-2');
    expect(awsRegionFor('montreal', null, 'x')).toBe('ca-central-1');
    expect(awsRegionFor('mumbai', null, 'x')).toBe('ap-south-1');
    expect(awsRegionFor('singapore', null, 'x')).toBe('ap-southeast-1');
    expect(awsRegionFor('sydney', null, 'x')).toBe('ap-southeast-2');
    expect(awsRegionFor('tokyo', null, 'x')).toBe('ap-northeast-1');
    expect(awsRegionFor('eu', 'us-west-1', 'x')).toBe('us-west-1');
    expect(awsRegionFor(undefined, null, 'fallback-1')).toBe('fallback-1');
    expect(awsRegionFor(null, null, 'fallback-1')).toBe('fallback-1');
    expect(awsRegionFor('', null, 'fallback-1')).toBe('fallback-1');
    expect(awsRegionFor('mars', null, 'fallback-1')).toBe('fallback-1');
    // Not an own property of the table: no prototype lookups.
    expect(awsRegionFor('constructor', null, 'fallback-1')).toBe('fallback-1');
    expect(awsRegionFor('toString', null, 'fallback-1')).toBe('fallback-1');
    // An empty link region is "not set".
    expect(awsRegionFor('eu', '', 'x')).toBe('eu-west-1');
  });
});

/** A team with `count` add-ons of our service spread over a few apps (fast: explicit attachment names). */
function bigTeam(name: string, count: number, apps = 3): { team: { id: string; name: string }; ids: string[] } {
  const team = fake.addTeam({ name });
  for (let i = 0; i < apps; i++) fake.addApp({ name: `${name}-app-${i}`, team: name });
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    ids.push(fake.addAddon({ app: `${name}-app-${i % apps}`, service: SERVICE, name: `${name}-b-${i}`, attachmentName: `B_${i}` }).id);
  }
  return { team, ids: ids.sort() };
}

describe('pagination and the request budget', () => {
  it('reads all of 1,200 add-ons (and their 1,200 attachments) page by page', async () => {
    const { team, ids } = bigTeam('big', 1200);
    const [t] = await readDesiredState(api, [linkFor(team)], OPTIONS);
    expect(t!.complete).toBe(true);
    expect(t!.addons.map((a) => a.addonId).sort()).toEqual(ids);
    expect(new Set(t!.addons.map((a) => a.addonId)).size).toBe(1200);
    for (const a of t!.addons) expect(a.attachments).toHaveLength(1);

    // add-ons: 2 pages, attachments: 2 pages, apps: 1 page.
    const addonPages = GETS(fake.requests, `/teams/${team.id}/addons`);
    expect(addonPages.map((r) => r.status)).toEqual([206, 200]);
    expect(addonPages[0]!.range).toBe('id ..; max=1000');
    expect(addonPages[1]!.range).toMatch(/^id \][0-9a-f-]{36}\.\.; max=1000$/);
    expect(GETS(fake.requests, '/addon-attachments').map((r) => r.status)).toEqual([206, 200]);
    expect(GETS(fake.requests, `/teams/${team.id}/apps`).map((r) => r.status)).toEqual([200]);
    expect(fake.requests).toHaveLength(5);
    // HerokuApi saw every page, and kept the latest rate-limit budget.
    expect(seen).toHaveLength(5);
    expect(api.rateLimitRemaining).toBe(fake.rateLimitRemaining);
  });

  it('spends 2 requests per team + 1 per pass, however many apps the teams have', async () => {
    const teams = [1, 5, 20].map((apps, i) => {
      const team = fake.addTeam({ name: `team-${i}` });
      for (let a = 0; a < apps; a++) {
        fake.addApp({ name: `team-${i}-app-${a}`, team: team.name });
        fake.addAddon({ app: `team-${i}-app-${a}`, service: SERVICE });
      }
      return team;
    });
    const links = teams.map((t) => linkFor(t));
    const pass = async () => {
      fake.resetRequests();
      const result = await readDesiredState(api, links, OPTIONS);
      expect(result.every((t) => t.complete)).toBe(true);
      return fake.requests.length;
    };
    expect(await pass()).toBe(2 * 3 + 1);
    expect(GETS(fake.requests, '/addon-attachments')).toHaveLength(1);
    for (const t of teams) {
      expect(GETS(fake.requests, `/teams/${t.id}/addons`)).toHaveLength(1);
      expect(GETS(fake.requests, `/teams/${t.id}/apps`)).toHaveLength(1);
    }
    // Ten times the apps: the same number of requests.
    for (const [i, t] of teams.entries()) {
      for (let a = 0; a < 40; a++) {
        fake.addApp({ name: `team-${i}-more-${a}`, team: t.name });
        fake.addAddon({ app: `team-${i}-more-${a}`, service: SERVICE });
      }
    }
    expect(await pass()).toBe(7);
    // No per-app calls, and nothing but GETs.
    expect(fake.requests.every((r) => r.method === 'GET' && !r.path.startsWith('/apps/'))).toBe(true);
    expect(fake.mutatingRequests()).toBe(0);
  });
});

describe('fail-closed reads', () => {
  it.each([503, 429])('a %i on page 2 of one team’s add-on listing marks only that team incomplete', async (status) => {
    const { team: big } = bigTeam('big', 1001, 2);
    const small = fake.addTeam({ name: 'small' });
    fake.addApp({ name: 'small-app', team: 'small' });
    const smallAddon = fake.addAddon({ app: 'small-app', service: SERVICE });
    fake.failNext({ path: `/teams/${big.id}/addons`, status, onPage: 2 });

    const result = await readDesiredState(api, [linkFor(big), linkFor(small)], OPTIONS);
    const bad = byTeam(result, big.id);
    expect(bad.complete).toBe(false);
    expect(bad.addons).toEqual([]);
    expect(bad.error).toContain(String(status));
    expect(bad.error).toContain(`/teams/${big.id}/addons`);
    expect(bad.error).toContain(status === 429 ? 'rate_limit' : 'service_unavailable');
    const good = byTeam(result, small.id);
    expect(good).toMatchObject({ complete: true, error: null });
    expect(good.addons.map((a) => a.addonId)).toEqual([smallAddon.id]);

    // Page 1 was served, page 2 failed, and heroku-client did not retry it.
    expect(GETS(fake.requests, `/teams/${big.id}/addons`).map((r) => r.status)).toEqual([206, status]);
    // The next pass, without the fault, is complete again.
    const again = await readDesiredState(api, [linkFor(big), linkFor(small)], OPTIONS);
    expect(again.every((t) => t.complete)).toBe(true);
    expect(byTeam(again, big.id).addons).toHaveLength(1001);
  });

  it('a failing first page, or a failing app listing, marks that team incomplete', async () => {
    const a = fake.addTeam({ name: 'team-a' });
    const b = fake.addTeam({ name: 'team-b' });
    fake.addApp({ name: 'team-a-app', team: 'team-a' });
    fake.addApp({ name: 'team-b-app', team: 'team-b' });
    fake.addAddon({ app: 'team-a-app', service: SERVICE });
    const bAddon = fake.addAddon({ app: 'team-b-app', service: SERVICE });

    fake.failNext({ path: `/teams/${a.id}/addons`, status: 500 });
    let result = await readDesiredState(api, [linkFor(a), linkFor(b)], OPTIONS);
    expect(byTeam(result, a.id)).toMatchObject({ complete: false, addons: [] });
    expect(byTeam(result, a.id).error).toMatch(/500/);
    expect(byTeam(result, b.id)).toMatchObject({ complete: true, error: null });
    expect(byTeam(result, b.id).addons.map((x) => x.addonId)).toEqual([bAddon.id]);

    fake.failNext({ path: `/teams/${a.id}/apps`, status: 502 });
    result = await readDesiredState(api, [linkFor(a), linkFor(b)], OPTIONS);
    expect(byTeam(result, a.id)).toMatchObject({ complete: false, addons: [] });
    expect(byTeam(result, a.id).error).toMatch(/apps.*502|502.*apps/);
    expect(byTeam(result, b.id).complete).toBe(true);
  });

  it('a linked team Heroku no longer knows (404) is incomplete, not empty', async () => {
    const a = fake.addTeam({ name: 'team-a' });
    fake.addApp({ name: 'team-a-app', team: 'team-a' });
    fake.addAddon({ app: 'team-a-app', service: SERVICE });
    const link = linkFor(a);
    fake.destroyTeam(a.id);
    const [t] = await readDesiredState(api, [link], OPTIONS);
    expect(t).toMatchObject({ teamId: a.id, complete: false, addons: [] });
    expect(t!.error).toMatch(/404/);
  });

  it('an exhausted rate-limit budget marks every team incomplete', async () => {
    const teams = ['team-a', 'team-b'].map((name) => fake.addTeam({ name }));
    fake.setRateLimitRemaining(0);
    const result = await readDesiredState(api, teams.map((t) => linkFor(t)), OPTIONS);
    for (const t of result) {
      expect(t.complete).toBe(false);
      expect(t.error).toMatch(/429/);
    }
    expect(api.rateLimitRemaining).toBe(0);
  });

  it.each([
    ['page 1', undefined],
    ['page 2', 2],
  ] as const)('a failing /addon-attachments (%s) marks every team incomplete', async (_label, onPage) => {
    const { team: big } = bigTeam('big', onPage === 2 ? 1001 : 2, 2);
    const small = fake.addTeam({ name: 'small' });
    fake.addApp({ name: 'small-app', team: 'small' });
    fake.addAddon({ app: 'small-app', service: SERVICE });
    const empty = fake.addTeam({ name: 'empty' });
    fake.failNext({ path: '/addon-attachments', status: 503, ...(onPage ? { onPage } : {}) });

    const result = await readDesiredState(api, [linkFor(big), linkFor(small), linkFor(empty)], OPTIONS);
    expect(result).toHaveLength(3);
    for (const t of result) {
      expect(t.complete).toBe(false);
      expect(t.addons).toEqual([]);
      expect(t.error).toContain('/addon-attachments');
      expect(t.error).toContain('503');
    }
    // One shared attachment listing per pass, even when it fails.
    expect(GETS(fake.requests, '/addon-attachments').filter((r) => r.status === 503)).toHaveLength(1);
    expect(GETS(fake.requests, '/addon-attachments')).toHaveLength(onPage === 2 ? 2 : 1);
  });
});

describe('malformed answers', () => {
  /** Tampered answers are schema violations by design: keep them out of the afterEach check. */
  function tamper(path: string, fn: (body: unknown) => unknown): void {
    fake.tamperResponses((body, ctx) => (ctx.path === path ? fn(body) : body));
  }
  afterEach(() => {
    fake.tamperResponses(undefined);
    fake.clearSchemaViolations();
  });

  function seedTwo() {
    const a = fake.addTeam({ name: 'team-a' });
    const b = fake.addTeam({ name: 'team-b' });
    fake.addApp({ name: 'team-a-app', team: 'team-a' });
    fake.addApp({ name: 'team-b-app', team: 'team-b' });
    const aAddon = fake.addAddon({ app: 'team-a-app', service: SERVICE });
    const bAddon = fake.addAddon({ app: 'team-b-app', service: SERVICE });
    return { a, b, aAddon, bAddon, links: [linkFor(a), linkFor(b)] };
  }

  it.each([
    ['an object instead of a list', () => ({ id: 'oops' })],
    ['a string', () => 'Service Unavailable'],
    ['null', () => null],
    ['a number', () => 42],
  ])('add-on listing answers %s: only that team is incomplete', async (_label, replacement) => {
    const { a, b, bAddon, links } = seedTwo();
    tamper(`/teams/${a.id}/addons`, replacement);
    const result = await readDesiredState(api, links, OPTIONS);
    expect(byTeam(result, a.id)).toMatchObject({ complete: false, addons: [] });
    expect(byTeam(result, a.id).error).toBeTruthy();
    expect(byTeam(result, b.id)).toMatchObject({ complete: true, error: null });
    expect(byTeam(result, b.id).addons.map((x) => x.addonId)).toEqual([bAddon.id]);
  });

  it('an add-on listing whose page 2 is not a list marks that team incomplete', async () => {
    const { team: big } = bigTeam('big', 1001, 2);
    let pages = 0;
    tamper(`/teams/${big.id}/addons`, (body) => (++pages === 2 ? { not: 'a list' } : body));
    const [t] = await readDesiredState(api, [linkFor(big)], OPTIONS);
    expect(pages).toBe(2);
    expect(t).toMatchObject({ complete: false, addons: [] });
  });

  it.each([
    ['an object instead of a list', () => ({ id: 'oops' })],
    ['null', () => null],
  ])('attachment listing answers %s: every team is incomplete', async (_label, replacement) => {
    const { links } = seedTwo();
    tamper('/addon-attachments', replacement);
    const result = await readDesiredState(api, links, OPTIONS);
    for (const t of result) expect(t).toMatchObject({ complete: false, addons: [] });
  });

  it('app listing that is not a list marks that team incomplete', async () => {
    const { a, b, links } = seedTwo();
    tamper(`/teams/${a.id}/apps`, () => ({}));
    const result = await readDesiredState(api, links, OPTIONS);
    expect(byTeam(result, a.id).complete).toBe(false);
    expect(byTeam(result, b.id).complete).toBe(true);
  });

  /**
   * Items of the right container type but the wrong shape: an add-on the controller cannot read
   * must not look deleted, so the team's read is incomplete (safety invariant 2).
   */
  it('an add-on item without addon_service/app marks the team incomplete', async () => {
    const { a, aAddon, links } = seedTwo();
    tamper(`/teams/${a.id}/addons`, (body) =>
      (body as Record<string, unknown>[]).map((item) => (item.id === aAddon.id ? { id: item.id, name: item.name, state: item.state } : item)),
    );
    const result = await readDesiredState(api, links, OPTIONS);
    expect(byTeam(result, a.id).complete).toBe(false);
  });
});

/**
 * A pass-through proxy in front of the fake that can answer some requests itself: non-JSON
 * bodies (which the fake cannot send) and answers that never come (timeouts).
 */
type Intercept = (req: IncomingMessage) => { status: number; body: string; headers?: Record<string, string> } | 'hang' | undefined;

async function startProxy(target: string, intercept: Intercept): Promise<{ url: string; close(): Promise<void> }> {
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const answer = intercept(req);
        if (answer === 'hang') {
          hanging.add(res);
          return;
        }
        if (answer) {
          res.writeHead(answer.status, { 'Content-Type': 'text/html', 'Request-Id': randomUUID(), ...answer.headers });
          res.end(answer.body);
          return;
        }
        const headers: Record<string, string> = {};
        for (const name of ['accept', 'authorization', 'range', 'content-type', 'user-agent']) {
          const v = req.headers[name];
          if (typeof v === 'string') headers[name] = v;
        }
        const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
        const upstream = await fetch(target + (req.url ?? '/'), { method: req.method ?? 'GET', headers, ...(body && body.length > 0 ? { body } : {}) });
        const out: Record<string, string> = {};
        upstream.headers.forEach((v, k) => {
          if (k !== 'content-length' && k !== 'transfer-encoding' && k !== 'connection' && k !== 'keep-alive') out[k] = v;
        });
        const text = await upstream.text();
        res.writeHead(upstream.status, out);
        res.end(text);
      })().catch((err: unknown) => {
        res.statusCode = 599;
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('answers the fake cannot give (through a proxy)', () => {
  it('a 200 with a non-JSON body marks that team incomplete, the other stays complete', async () => {
    const a = fake.addTeam({ name: 'team-a' });
    const b = fake.addTeam({ name: 'team-b' });
    fake.addApp({ name: 'team-a-app', team: 'team-a' });
    fake.addApp({ name: 'team-b-app', team: 'team-b' });
    fake.addAddon({ app: 'team-a-app', service: SERVICE });
    const bAddon = fake.addAddon({ app: 'team-b-app', service: SERVICE });
    const proxy = await startProxy(fake.url, (req) =>
      req.url?.startsWith(`/teams/${a.id}/addons`) ? { status: 200, body: '<html><body>Application error</body></html>' } : undefined,
    );
    try {
      const viaProxy = new HerokuApi({ url: proxy.url, token: fake.token });
      const result = await readDesiredState(viaProxy, [linkFor(a), linkFor(b)], OPTIONS);
      expect(byTeam(result, a.id)).toMatchObject({ complete: false, addons: [] });
      expect(byTeam(result, a.id).error).toMatch(/JSON|Unexpected token/i);
      expect(byTeam(result, b.id)).toMatchObject({ complete: true, error: null });
      expect(byTeam(result, b.id).addons.map((x) => x.addonId)).toEqual([bAddon.id]);
    } finally {
      await proxy.close();
    }
  });

  it('a truncated JSON body on page 2 of the attachments marks every team incomplete', async () => {
    const { team: big } = bigTeam('big', 1001, 2);
    let attachmentPages = 0;
    const proxy = await startProxy(fake.url, (req) => {
      if (!req.url?.startsWith('/addon-attachments')) return undefined;
      attachmentPages += 1;
      return attachmentPages === 2 ? { status: 200, body: '[{"id": "trunc', headers: { 'Content-Type': 'application/json' } } : undefined;
    });
    try {
      const viaProxy = new HerokuApi({ url: proxy.url, token: fake.token });
      const [t] = await readDesiredState(viaProxy, [linkFor(big)], OPTIONS);
      expect(attachmentPages).toBe(2);
      expect(t).toMatchObject({ complete: false, addons: [] });
    } finally {
      await proxy.close();
    }
  });

  it('an empty 200 body marks that team incomplete', async () => {
    const a = fake.addTeam({ name: 'team-a' });
    fake.addApp({ name: 'team-a-app', team: 'team-a' });
    fake.addAddon({ app: 'team-a-app', service: SERVICE });
    const proxy = await startProxy(fake.url, (req) => (req.url?.startsWith(`/teams/${a.id}/apps`) ? { status: 200, body: '' } : undefined));
    try {
      const viaProxy = new HerokuApi({ url: proxy.url, token: fake.token });
      const [t] = await readDesiredState(viaProxy, [linkFor(a)], OPTIONS);
      expect(t).toMatchObject({ complete: false, addons: [] });
    } finally {
      await proxy.close();
    }
  });

  it('an answer that never comes (timeout) marks that team incomplete', async () => {
    const a = fake.addTeam({ name: 'team-a' });
    const b = fake.addTeam({ name: 'team-b' });
    fake.addApp({ name: 'team-a-app', team: 'team-a' });
    fake.addApp({ name: 'team-b-app', team: 'team-b' });
    fake.addAddon({ app: 'team-a-app', service: SERVICE });
    fake.addAddon({ app: 'team-b-app', service: SERVICE });
    const proxy = await startProxy(fake.url, (req) => (req.url?.startsWith(`/teams/${a.id}/addons`) ? 'hang' : undefined));
    try {
      // The timeout applies to every request, team b's too: long enough for an answer from the
      // fake through the proxy on a loaded machine, short enough to keep the test quick.
      const timeoutMs = 5_000;
      const viaProxy = new HerokuApi({ url: proxy.url, token: fake.token, timeoutMs });
      const started = Date.now();
      const result = await readDesiredState(viaProxy, [linkFor(a), linkFor(b)], OPTIONS);
      // It gave up on the answer that never comes (which would otherwise hang until the proxy
      // closes): bounded by the timeout, with room for a slow machine, well within the test's own.
      expect(Date.now() - started).toBeLessThan(timeoutMs + 30_000);
      expect(byTeam(result, a.id)).toMatchObject({ complete: false, addons: [] });
      expect(byTeam(result, a.id).error).toMatch(new RegExp(`longer than ${timeoutMs}ms|timeout|socket hang up`, 'i'));
      expect(byTeam(result, b.id).complete).toBe(true);
    } finally {
      await proxy.close();
    }
  });
});
