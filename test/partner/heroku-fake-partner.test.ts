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

  it('renames PATCHed config from the manifest prefix to each attachment name; config_vars lists them as the owner sees them', async () => {
    fake.setManifestPrefix('s3-bucket', 'HS3');
    const team = fake.addTeam({ name: 'team-d' });
    const owner = fake.addApp({ name: 'app-d', team: team.id });
    const other = fake.addApp({ name: 'app-d-other', team: team.id });
    // The owning attachment is not named like the manifest prefix: renaming must not start from it.
    const a = fake.addAddon({ app: owner.id, service: 's3-bucket', attachmentName: 'ASSETS', state: 'provisioning' });
    fake.attach({ addon: a.id, app: other.id, name: 'ARCHIVE' });
    fake.setConfigVar(owner.id, 'OWN', 'kept');
    const grant = fake.partner.issueGrant(a.id);
    const t = await token({ grant_type: 'authorization_code', code: grant.code, client_secret: fake.partner.clientSecret });
    const config = async (method: 'GET' | 'PATCH', body?: unknown) => {
      const res = await fetch(`${fake.url}/addons/${a.id}/config`, {
        method,
        headers: { authorization: `Bearer ${t.body['access_token'] as string}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: (await res.json()) as unknown };
    };
    const patched = await config('PATCH', { config: [{ name: 'HS3_URL', value: 's3://d' }, { name: 'HS3_BUCKET_NAME', value: 'd' }] });
    expect(patched).toEqual({ status: 200, body: [{ name: 'HS3_URL', value: 's3://d' }, { name: 'HS3_BUCKET_NAME', value: 'd' }] });
    expect(fake.configVars(owner.id)).toEqual({ OWN: 'kept', ASSETS_URL: 's3://d', ASSETS_BUCKET_NAME: 'd' });
    expect(fake.configVars(other.id)).toEqual({ ARCHIVE_URL: 's3://d', ARCHIVE_BUCKET_NAME: 'd' });
    expect(fake.addon(a.id).config_vars).toEqual(['ASSETS_URL', 'ASSETS_BUCKET_NAME']);
    expect(fake.partner.config(a.id)).toEqual({ HS3_URL: 's3://d', HS3_BUCKET_NAME: 'd' });

    // Removal with null: gone from every app and from config_vars; GET answers the provider's names.
    await config('PATCH', { config: [{ name: 'HS3_BUCKET_NAME', value: null }] });
    expect(await config('GET')).toEqual({ status: 200, body: [{ name: 'HS3_URL', value: 's3://d' }] });
    expect(fake.configVars(other.id)).toEqual({ ARCHIVE_URL: 's3://d' });
    expect(fake.addon(a.id).config_vars).toEqual(['ASSETS_URL']);
    // An app attached afterwards gets them under its own attachment name.
    const late = fake.addApp({ name: 'app-d-late', team: team.id });
    fake.attach({ addon: a.id, app: late.id, name: 'LATE' });
    expect(fake.configVars(late.id)).toEqual({ LATE_URL: 's3://d' });
  });
});
