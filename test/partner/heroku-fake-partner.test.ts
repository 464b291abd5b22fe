/** The Heroku fake's partner side on its own: grants, tokens and their scope, and schema checks. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HerokuFake } from '../support/heroku-fake/index.js';

let fake: HerokuFake;

beforeEach(async () => {
  fake = await HerokuFake.start();
});

afterEach(async () => {
  const violations = [...fake.schemaViolations];
  await fake.stop();
  expect(violations).toEqual([]);
});

function seed(name: string) {
  const team = fake.addTeam({ name: `team-${name}` });
  const app = fake.addApp({ name: `app-${name}`, team: team.id });
  return fake.addAddon({ app: app.id, service: 's3-bucket', attachmentName: 'S3_BUCKET', state: 'provisioning' });
}

async function token(params: Record<string, string>) {
  const res = await fetch(`${fake.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function action(addonId: string, bearer: string | null) {
  const res = await fetch(`${fake.url}/addons/${addonId}/actions/provision`, {
    method: 'POST',
    headers: { accept: 'application/vnd.heroku+json; version=3', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
  });
  return res.status;
}

describe('the fake identity service and partner routes', () => {
  it('exchanges a grant once, refreshes, and scopes each token to its add-on', async () => {
    const a = seed('a');
    const b = seed('b');
    const grant = fake.partner.issueGrant(a.id);
    expect((await token({ grant_type: 'authorization_code', code: grant.code, client_secret: 'wrong' })).status).toBe(401);
    const first = await token({ grant_type: 'authorization_code', code: grant.code, client_secret: fake.partner.clientSecret });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ token_type: 'Bearer', expires_in: 300 });
    expect((await token({ grant_type: 'authorization_code', code: grant.code, client_secret: fake.partner.clientSecret })).status).toBe(400);

    const access = first.body['access_token'] as string;
    expect(await action(b.id, access)).toBe(403);
    expect(await action(a.id, null)).toBe(401);
    expect(await action(a.id, fake.token)).toBe(401);
    fake.partner.expireAccessTokens(a.id);
    expect(await action(a.id, access)).toBe(401);

    const refreshed = await token({ grant_type: 'refresh_token', refresh_token: first.body['refresh_token'] as string, client_secret: fake.partner.clientSecret });
    expect(refreshed.status).toBe(200);
    expect(await action(a.id, refreshed.body['access_token'] as string)).toBe(200);
    expect(fake.addon(a.id).state).toBe('provisioned');
    expect(fake.partner.actions).toEqual([{ addonId: a.id, action: 'provision', token: refreshed.body['access_token'] }]);
  });

  it('records add-on config patches that break the schema', async () => {
    const a = seed('c');
    const grant = fake.partner.issueGrant(a.id);
    const t = await token({ grant_type: 'authorization_code', code: grant.code, client_secret: fake.partner.clientSecret });
    const res = await fetch(`${fake.url}/addons/${a.id}/config`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${t.body['access_token'] as string}`, 'content-type': 'application/json' },
      body: JSON.stringify({ config: [{ name: 'S3_BUCKET_URL', value: 's3://x', extra: 1 }] }),
    });
    expect(res.status).toBe(200);
    expect(fake.schemaViolations.some((v) => v.includes('add-on-config PATCH schema'))).toBe(true);
    fake.clearSchemaViolations();
  });
});
