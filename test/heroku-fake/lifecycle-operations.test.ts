/**
 * The Heroku fake's lifecycle operations (moving an app to another team, a plan change, renaming
 * an attachment, attach/detach/destroy), seen through the HTTP API as the controller reads it.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { validate, type HerokuFake } from '../support/heroku-fake/index.js';
import type { AddOn, AddOnAttachment, App, TeamApp } from '../support/heroku-fake/index.js';
import { fakePerTest, rawRequest } from './fake-per-test.js';

const per = fakePerTest();
let fake: HerokuFake;
let heroku: (typeof per)['heroku'];
beforeEach(() => {
  ({ fake, heroku } = per);
});

/** A raw request (statuses and bodies, without heroku-client). */
const raw = (method: string, path: string, body?: unknown) => rawRequest(fake, path, { method, ...(body !== undefined ? { body } : {}) });

const ADDON_ID = '0b6d3c6a-4f7e-4d8b-9a1c-2e3f4a5b6c7d';

function seed() {
  const acme = fake.addTeam({ name: 'acme' });
  const globex = fake.addTeam({ name: 'globex' });
  const web = fake.addApp({ name: 'acme-web', team: 'acme' });
  const worker = fake.addApp({ name: 'acme-worker', team: 'acme' });
  const addon = fake.addAddon({
    id: ADDON_ID,
    app: 'acme-web',
    service: 's3-bucket',
    plan: 'private',
    attachmentName: 'BUCKET',
    providerConfig: { S3_BUCKET_URL: 's3://b-1', S3_BUCKET_BUCKET_NAME: 'b-1' },
  });
  return { acme, globex, web, worker, addon };
}

const names = (xs: Array<{ name: string }>) => xs.map((x) => x.name).sort();

describe('moveApp / PATCH /teams/apps/{app} (Transfer to Team)', () => {
  it('moves the app, its add-ons and their listings to the other team', async () => {
    const { globex, web, addon } = seed();
    const moved = fake.moveApp('acme-web', 'globex');
    expect(validate('app', moved)).toEqual([]);
    expect(moved.team).toEqual({ id: globex.id, name: 'globex' });
    expect(moved.updated_at > web.updated_at).toBe(true);

    const got = (await heroku.get('/apps/acme-web')) as App;
    expect(got.team).toEqual({ id: globex.id, name: 'globex' });
    expect(got.organization).toEqual({ id: globex.id, name: 'globex' });
    expect(got.owner.id).toBe(globex.id);
    expect(names((await heroku.get('/teams/acme/apps')) as TeamApp[])).toEqual(['acme-worker']);
    expect(names((await heroku.get('/teams/globex/apps')) as TeamApp[])).toEqual(['acme-web']);
    expect((await heroku.get('/teams/acme/addons')) as AddOn[]).toEqual([]);
    expect(((await heroku.get('/teams/globex/addons')) as AddOn[]).map((a) => a.id)).toEqual([addon.id]);
    // The add-on itself is unchanged: still billed to (and owned by) the app, same vars.
    expect(await heroku.get(`/addons/${addon.id}`)).toEqual(fake.addon(addon.id));
    expect(fake.addon(addon.id).config_vars).toEqual(['BUCKET_URL', 'BUCKET_BUCKET_NAME']);
    expect(() => fake.moveApp('acme-web', 'nope')).toThrow(/team/);
  });

  it('serves the transfer route and the team-app info route', async () => {
    const { acme } = seed();
    const answer = (await heroku.patch('/teams/apps/acme-worker', { body: { owner: 'globex' } })) as TeamApp;
    expect(answer).toMatchObject({ name: 'acme-worker', team: { name: 'globex' } });
    expect(((await heroku.get('/apps/acme-worker')) as App).team!.name).toBe('globex');
    expect(await heroku.get('/teams/apps/acme-worker')).toEqual(answer);
    // By team id too, and back.
    expect(await heroku.patch('/teams/apps/acme-worker', { body: { owner: acme.id } })).toMatchObject({ team: { name: 'acme' } });
    expect(names((await heroku.get('/teams/acme/apps')) as TeamApp[])).toEqual(['acme-web', 'acme-worker']);

    expect(await raw('PATCH', '/teams/apps/acme-worker', { owner: 'no-such-team' })).toMatchObject({ status: 404, body: { id: 'not_found' } });
    expect(await raw('PATCH', '/teams/apps/no-such-app', { owner: 'globex' })).toMatchObject({ status: 404, body: { id: 'not_found' } });
    // "Update Locked" shares the route; the fake does not serve it.
    expect(await raw('PATCH', '/teams/apps/acme-worker', { locked: true })).toMatchObject({ status: 422, body: { id: 'invalid_params' } });
    expect(names((await heroku.get('/teams/acme/apps')) as TeamApp[])).toEqual(['acme-web', 'acme-worker']);
  });

  it('flags a transfer body that breaks the link schema', async () => {
    seed();
    expect((await raw('PATCH', '/teams/apps/acme-worker', { owner: 42 })).status).toBe(422);
    expect(fake.schemaViolations).toEqual([expect.stringMatching(/^request PATCH \/teams\/apps\/acme-worker \(team-app-transfer schema\)/)]);
    fake.clearSchemaViolations();
  });
});

describe('changePlan / PATCH /apps/{app}/addons/{addon}', () => {
  it('changes the plan name and id and moves updated_at', async () => {
    const { addon } = seed();
    expect(addon.plan.name).toBe('s3-bucket:private');
    const changed = fake.changePlan(addon.id, 's3-bucket:versioned');
    expect(validate('add-on', changed)).toEqual([]);
    const got = (await heroku.get(`/addons/${addon.id}`)) as AddOn;
    expect(got).toEqual(changed);
    expect(got.plan.name).toBe('s3-bucket:versioned');
    expect(got.plan.id).not.toBe(addon.plan.id);
    expect(got.updated_at > addon.updated_at).toBe(true);
    expect(got.created_at).toBe(addon.created_at);
    // A bare plan name means a plan of the add-on's own service; another service's plan is refused.
    expect(fake.changePlan(addon.name, 'private').plan).toEqual(addon.plan);
    expect(() => fake.changePlan(addon.id, 'heroku-postgresql:mini')).toThrow(/not a plan of the add-on's service/);
    expect(fake.addon(addon.id).plan.name).toBe('s3-bucket:private');
  });

  it('serves the add-on Update route: plan by name or id, optional rename, 404 on another app, 422 on another service', async () => {
    const { addon } = seed();
    const other = fake.addAddon({ app: 'acme-worker', service: 's3-bucket', plan: 'versioned' });
    const answer = (await heroku.patch(`/apps/acme-web/addons/${addon.id}`, { body: { plan: 's3-bucket:versioned' } })) as AddOn;
    expect(answer).toMatchObject({ id: addon.id, plan: { name: 's3-bucket:versioned', id: other.plan.id } });
    expect(await heroku.get(`/apps/acme-web/addons/${addon.name}`)).toEqual(answer);
    // By plan id, with a new name.
    const back = (await heroku.patch(`/apps/acme-web/addons/${addon.name}`, { body: { plan: addon.plan.id, name: 'acme-files' } })) as AddOn;
    expect(back).toMatchObject({ name: 'acme-files', plan: addon.plan });
    expect(await heroku.get('/addons/acme-files')).toEqual(back);

    expect(await raw('PATCH', `/apps/acme-worker/addons/${addon.id}`, { plan: 's3-bucket:private' })).toMatchObject({ status: 404, body: { id: 'not_found' } });
    expect(await raw('GET', `/apps/acme-worker/addons/${addon.id}`)).toMatchObject({ status: 404 });
    expect(await raw('PATCH', `/apps/acme-web/addons/${addon.id}`, { plan: 'heroku-postgresql:mini' })).toMatchObject({ status: 422, body: { id: 'invalid_params' } });
    expect(await raw('PATCH', `/apps/acme-web/addons/${addon.id}`, { plan: '6d1c2b3a-0000-4000-8000-000000000000' })).toMatchObject({ status: 404, body: { id: 'not_found' } });
    // A refused rename changes neither the name nor the plan.
    expect(await raw('PATCH', `/apps/acme-web/addons/${addon.id}`, { plan: 's3-bucket:versioned', name: other.name })).toMatchObject({ status: 422 });
    expect(fake.addon(addon.id)).toMatchObject({ name: 'acme-files', plan: { name: 's3-bucket:private' } });
  });
});

describe('renameAttachment', () => {
  it('attaches under the new name and detaches the old one: new id, vars and config_vars follow', async () => {
    const { web, addon } = seed();
    const old = fake.addonAttachments(addon.id)[0]!;
    expect(old.name).toBe('BUCKET');
    const renamed = fake.renameAttachment(old.id, 'FILES');
    expect(validate('add-on-attachment', renamed)).toEqual([]);
    expect(renamed).toMatchObject({ name: 'FILES', app: { id: web.id }, addon: { id: addon.id, app: { id: web.id } }, namespace: null });
    expect(renamed.id).not.toBe(old.id);

    expect(await raw('GET', `/addon-attachments/${old.id}`)).toMatchObject({ status: 404 });
    expect(await heroku.get(`/addon-attachments/${renamed.id}`)).toEqual(renamed);
    expect((await heroku.get(`/addons/${addon.id}/addon-attachments`)) as AddOnAttachment[]).toEqual([renamed]);
    expect(await heroku.get('/apps/acme-web/config-vars')).toEqual({ FILES_URL: 's3://b-1', FILES_BUCKET_NAME: 'b-1' });
    expect(((await heroku.get(`/addons/${addon.id}`)) as AddOn).config_vars).toEqual(['FILES_URL', 'FILES_BUCKET_NAME']);
    // The protection moved with the name.
    expect(await raw('PATCH', '/apps/acme-web/config-vars', { FILES_URL: 'x' })).toMatchObject({ status: 422 });
    expect(await heroku.patch('/apps/acme-web/config-vars', { body: { BUCKET_URL: 'mine' } })).toMatchObject({ BUCKET_URL: 'mine', FILES_URL: 's3://b-1' });
  });

  it('on another app leaves the owning app and config_vars alone; a taken name changes nothing', async () => {
    const { addon } = seed();
    const shared = fake.attach({ addon: addon.id, app: 'acme-worker', name: 'SHARED' });
    fake.addAddon({ app: 'acme-worker', service: 'heroku-postgresql', attachmentName: 'DATABASE' });
    const renamed = fake.renameAttachment(shared.id, 'ASSETS');
    expect(fake.configVars('acme-worker')).toEqual({ ASSETS_URL: 's3://b-1', ASSETS_BUCKET_NAME: 'b-1' });
    expect(fake.configVars('acme-web')).toEqual({ BUCKET_URL: 's3://b-1', BUCKET_BUCKET_NAME: 'b-1' });
    expect(fake.addon(addon.id).config_vars).toEqual(['BUCKET_URL', 'BUCKET_BUCKET_NAME']);

    expect(() => fake.renameAttachment(renamed.id, 'DATABASE')).toThrow(/taken/);
    expect(fake.appAttachments('acme-worker').map((a) => a.id).sort()).toContain(renamed.id);
    expect(names(fake.appAttachments('acme-worker'))).toEqual(['ASSETS', 'DATABASE']);
    expect(() => fake.renameAttachment('6d1c2b3a-0000-4000-8000-000000000000', 'X')).toThrow(/attachment/);
  });
});

describe('seeding and reading helpers', () => {
  it('addAddon takes an explicit id; attachments(addon), addonAttachments and appAttachments answer as the API does', async () => {
    const { addon } = seed();
    expect(addon.id).toBe(ADDON_ID);
    expect(() => fake.addAddon({ id: ADDON_ID, app: 'acme-worker', service: 's3-bucket' })).toThrow(/exists/);
    const shared = fake.attach({ addon: addon.id, app: 'acme-worker', name: 'SHARED' });
    const byAddon = (await heroku.get(`/addons/${addon.id}/addon-attachments`)) as AddOnAttachment[];
    const sort = (xs: AddOnAttachment[]) => [...xs].sort((a, b) => a.id.localeCompare(b.id));
    expect(sort(fake.attachments(addon.id))).toEqual(sort(byAddon));
    expect(sort(fake.attachments(addon.name))).toEqual(sort(byAddon));
    expect(sort(fake.addonAttachments(addon.id))).toEqual(sort(byAddon));
    expect(fake.appAttachments('acme-worker')).toEqual((await heroku.get('/apps/acme-worker/addon-attachments')) as AddOnAttachment[]);
    expect(fake.appAttachments('acme-worker')).toEqual([shared]);
    // Older callers pass an app: still served, unless the name is also an add-on's.
    expect(fake.attachments('acme-worker')).toEqual([shared]);
    fake.addAddon({ app: 'acme-web', service: 's3-bucket', name: 'acme-worker' });
    expect(() => fake.attachments('acme-worker')).toThrow(/both an add-on and an app/);
    expect(fake.attachments().length).toBe(3);
    expect(() => fake.addonAttachments('nope')).toThrow(/add-on/);
  });

  it('setAddonState, detach, destroyAddon, configVars and setConfigVar keep every answer schema-valid', async () => {
    const { addon } = seed();
    const state = fake.setAddonState(addon.id, 'deprovisioned');
    expect(validate('add-on', state)).toEqual([]);
    expect(((await heroku.get(`/addons/${addon.id}`)) as AddOn).state).toBe('deprovisioned');
    fake.setConfigVar('acme-web', 'OWN', 'x');
    expect(fake.configVars('acme-web')).toEqual(await heroku.get('/apps/acme-web/config-vars'));
    fake.detach(fake.addonAttachments(addon.id)[0]!.id);
    // No attachment on the owning app left: config_vars falls back to the manifest's names.
    expect(((await heroku.get(`/addons/${addon.id}`)) as AddOn).config_vars).toEqual(['S3_BUCKET_URL', 'S3_BUCKET_BUCKET_NAME']);
    expect(fake.configVars('acme-web')).toEqual({ OWN: 'x' });
    fake.destroyAddon(addon.id);
    expect(await raw('GET', `/addons/${addon.id}`)).toMatchObject({ status: 404 });
    for (const path of ['/teams', '/teams/acme/apps', '/teams/acme/addons', '/addon-attachments', '/apps/acme-web']) await heroku.get(path);
  });
});

describe('onMutationApplied (a caller that dies right after its call)', () => {
  it('applies the change, then answers 500 instead, while the hook says so; reads are never touched', async () => {
    fake.addTeam({ name: 'acme' });
    fake.addApp({ name: 'acme-web', team: 'acme' });
    const seen: string[] = [];
    fake.onMutationApplied((method, path) => {
      seen.push(`${method} ${path}`);
      return true;
    });
    const lost = await raw('PATCH', '/apps/acme-web/config-vars', { LOST_ANSWER: 'applied' });
    expect(lost.status).toBe(500);
    expect((await raw('GET', '/apps/acme-web/config-vars')).status).toBe(200);
    expect(fake.configVars('acme-web')).toMatchObject({ LOST_ANSWER: 'applied' });
    expect(seen).toEqual(['PATCH /apps/acme-web/config-vars']);
    fake.onMutationApplied(undefined);
    expect((await raw('PATCH', '/apps/acme-web/config-vars', { LOST_ANSWER: null })).status).toBe(200);
    expect(fake.configVars('acme-web')).not.toHaveProperty('LOST_ANSWER');
  });
});
