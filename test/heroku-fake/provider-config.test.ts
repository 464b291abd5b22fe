/**
 * Add-on config vars in the Heroku fake (REFERENCE.md, "Add-on config vars through the Partner
 * API"): the provider sets them with the manifest's `config_vars_prefix`, Heroku renames them per
 * attachment, the add-on's `config_vars` lists only those (as the owning app sees them), and an
 * app may not overwrite them through its own config-vars endpoint.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { HerokuFake } from '../support/heroku-fake/index.js';
import { fakePerTest } from './fake-per-test.js';
import type { AddOn } from '../support/heroku-fake/index.js';

const per = fakePerTest();
let fake: HerokuFake;
let heroku: (typeof per)['heroku'];
beforeEach(() => {
  ({ fake, heroku } = per);
});

const VARS = { S3_BUCKET_URL: 's3://b-1', S3_BUCKET_BUCKET_NAME: 'b-1' };

/** Team `acme` with apps `acme-web` and `acme-worker`; an `s3-bucket` add-on on acme-web, attached there as BUCKET. */
function seed(providerConfig: Record<string, string> = VARS) {
  fake.addTeam({ name: 'acme' });
  fake.addApp({ name: 'acme-web', team: 'acme' });
  fake.addApp({ name: 'acme-worker', team: 'acme' });
  return fake.addAddon({ app: 'acme-web', service: 's3-bucket', attachmentName: 'BUCKET', providerConfig });
}

const getAddon = async (ref: string) => (await heroku.get(`/addons/${ref}`)) as AddOn;
const getVars = async (app: string) => (await heroku.get(`/apps/${app}/config-vars`)) as Record<string, string>;

describe('the manifest prefix', () => {
  it('defaults to the normalized service slug and can be set per service', () => {
    expect(fake.manifestPrefix('s3-bucket')).toBe('S3_BUCKET');
    expect(fake.manifestPrefix('fast-db')).toBe('FAST_DB');
    fake.setManifestPrefix('fast-db', 'FASTDB');
    expect(fake.manifestPrefix('fast-db')).toBe('FASTDB');
    expect(fake.manifestPrefix('s3-bucket')).toBe('S3_BUCKET');
    expect(() => fake.setManifestPrefix('fast-db', 'fast-db')).toThrow(/capitals/);
  });

  it('is refused once an add-on of the service has provider config (its names carry the old prefix)', () => {
    const addon = seed();
    expect(() => fake.setManifestPrefix('s3-bucket', 'HS3')).toThrow(/already has provider config/);
    fake.setProviderConfig(addon.id, { S3_BUCKET_URL: null, S3_BUCKET_BUCKET_NAME: null });
    fake.setManifestPrefix('s3-bucket', 'HS3');
    expect(fake.manifestPrefix('s3-bucket')).toBe('HS3');
  });
});

describe('seeded provider config', () => {
  it('shows on the owning app under the owning attachment name, and config_vars lists exactly those', async () => {
    const addon = seed();
    expect(addon.config_vars).toEqual(['BUCKET_URL', 'BUCKET_BUCKET_NAME']);
    expect((await getAddon(addon.id)).config_vars).toEqual(['BUCKET_URL', 'BUCKET_BUCKET_NAME']);
    expect(await getVars('acme-web')).toEqual({ BUCKET_URL: 's3://b-1', BUCKET_BUCKET_NAME: 'b-1' });
    // The provider's own view keeps the manifest's names.
    expect(fake.providerConfig(addon.id)).toEqual(VARS);
    expect(fake.partner.config(addon.id)).toEqual(VARS);
  });

  it('an add-on without provider config owns no vars', async () => {
    const addon = seed({});
    expect((await getAddon(addon.name)).config_vars).toEqual([]);
    expect(await getVars('acme-web')).toEqual({});
  });

  it('refuses names that are not \\w+', () => {
    fake.addTeam({ name: 'acme' });
    fake.addApp({ name: 'acme-web', team: 'acme' });
    expect(() => fake.addAddon({ app: 'acme-web', service: 's3-bucket', providerConfig: { 'S3-BUCKET_URL': 'x' } })).toThrow(/invalid/);
    expect(fake.attachments()).toEqual([]);
  });
});

describe('config_vars lists only what the provider set', () => {
  it('never vars set through PATCH /apps/{app}/config-vars, even with the attachment prefix', async () => {
    const addon = seed();
    expect(await heroku.patch('/apps/acme-web/config-vars', { body: { BUCKET_REGION: 'eu', MINE: 'x' } })).toMatchObject({
      BUCKET_URL: 's3://b-1',
      BUCKET_REGION: 'eu',
      MINE: 'x',
    });
    fake.setConfigVar('acme-web', 'BUCKET_OTHER', 'seeded');
    expect((await getAddon(addon.id)).config_vars).toEqual(['BUCKET_URL', 'BUCKET_BUCKET_NAME']);
    const listed = (await heroku.get('/teams/acme/addons')) as AddOn[];
    expect(listed.find((a) => a.id === addon.id)!.config_vars).toEqual(['BUCKET_URL', 'BUCKET_BUCKET_NAME']);
  });

  it('follows setProviderConfig: added, changed and removed (null) vars, on every attached app', async () => {
    const addon = seed();
    fake.attach({ addon: addon.id, app: 'acme-worker', name: 'ARCHIVE' });
    const answer = fake.setProviderConfig(addon.id, { S3_BUCKET_URL: 's3://b-2', S3_BUCKET_BUCKET_NAME: null, S3_BUCKET_AWS_REGION: 'us-east-1' });
    expect(answer.config_vars).toEqual(['BUCKET_URL', 'BUCKET_AWS_REGION']);
    expect((await getAddon(addon.id)).config_vars).toEqual(['BUCKET_URL', 'BUCKET_AWS_REGION']);
    expect(await getVars('acme-web')).toEqual({ BUCKET_URL: 's3://b-2', BUCKET_AWS_REGION: 'us-east-1' });
    expect(await getVars('acme-worker')).toEqual({ ARCHIVE_URL: 's3://b-2', ARCHIVE_AWS_REGION: 'us-east-1' });
    expect(fake.providerConfig(addon.id)).toEqual({ S3_BUCKET_URL: 's3://b-2', S3_BUCKET_AWS_REGION: 'us-east-1' });
    expect(() => fake.setProviderConfig(addon.id, { 'BAD-NAME': 'x' })).toThrow(/Invalid config/);
  });
});

describe('renaming per attachment', () => {
  it('renames from the manifest prefix, not from the owning attachment name', async () => {
    fake.setManifestPrefix('s3-bucket', 'HS3');
    const addon = seed({ HS3_URL: 's3://b-1', HS3_BUCKET_NAME: 'b-1' });
    fake.attach({ addon: addon.id, app: 'acme-worker', name: 'FILES' });
    expect(await getVars('acme-web')).toEqual({ BUCKET_URL: 's3://b-1', BUCKET_BUCKET_NAME: 'b-1' });
    expect(await getVars('acme-worker')).toEqual({ FILES_URL: 's3://b-1', FILES_BUCKET_NAME: 'b-1' });
    expect((await getAddon(addon.id)).config_vars).toEqual(['BUCKET_URL', 'BUCKET_BUCKET_NAME']);
  });

  it('a var not starting with the manifest prefix keeps its name on every app', async () => {
    const addon = seed({ S3_BUCKET_URL: 's3://b-1', LEGACY_TOKEN: 't' });
    fake.attach({ addon: addon.id, app: 'acme-worker', name: 'FILES' });
    expect(await getVars('acme-web')).toEqual({ BUCKET_URL: 's3://b-1', LEGACY_TOKEN: 't' });
    expect(await getVars('acme-worker')).toEqual({ FILES_URL: 's3://b-1', LEGACY_TOKEN: 't' });
    expect((await getAddon(addon.id)).config_vars).toEqual(['BUCKET_URL', 'LEGACY_TOKEN']);
  });

  it('an attachment made later exposes the vars under its name; detaching removes them from that app only', async () => {
    const addon = seed();
    fake.setConfigVar('acme-worker', 'OWN', 'kept');
    const att = fake.attach({ addon: addon.id, app: 'acme-worker', name: 'SHARED' });
    expect(await getVars('acme-worker')).toEqual({ OWN: 'kept', SHARED_URL: 's3://b-1', SHARED_BUCKET_NAME: 'b-1' });
    // config_vars is the owning app's view: the new attachment does not change it.
    expect((await getAddon(addon.id)).config_vars).toEqual(['BUCKET_URL', 'BUCKET_BUCKET_NAME']);
    fake.detach(att.id);
    expect(await getVars('acme-worker')).toEqual({ OWN: 'kept' });
    expect(await getVars('acme-web')).toEqual({ BUCKET_URL: 's3://b-1', BUCKET_BUCKET_NAME: 'b-1' });
  });

  it('destroying the add-on removes its vars from every app and keeps the apps’ own', async () => {
    const addon = seed();
    fake.attach({ addon: addon.id, app: 'acme-worker', name: 'SHARED' });
    fake.setConfigVar('acme-web', 'OWN', 'kept');
    fake.destroyAddon(addon.id);
    expect(await getVars('acme-web')).toEqual({ OWN: 'kept' });
    expect(await getVars('acme-worker')).toEqual({});
  });

  it('two add-ons of one service on one app keep their vars apart by attachment name', async () => {
    const first = seed();
    const second = fake.addAddon({ app: 'acme-web', service: 's3-bucket', providerConfig: { S3_BUCKET_URL: 's3://b-2' } });
    expect(fake.addonAttachments(second.id).map((a) => a.name)).toEqual(['S3_BUCKET']);
    expect(await getVars('acme-web')).toEqual({ BUCKET_URL: 's3://b-1', BUCKET_BUCKET_NAME: 'b-1', S3_BUCKET_URL: 's3://b-2' });
    expect((await getAddon(second.id)).config_vars).toEqual(['S3_BUCKET_URL']);
    expect((await getAddon(first.id)).config_vars).toEqual(['BUCKET_URL', 'BUCKET_BUCKET_NAME']);
  });
});

describe('PATCH /apps/{app}/config-vars and vars an add-on owns', () => {
  it('answers 422 for names an attached add-on owns on that app, and changes nothing', async () => {
    const addon = seed();
    fake.attach({ addon: addon.id, app: 'acme-worker', name: 'FILES' });
    for (const [app, body] of [
      ['acme-web', { BUCKET_URL: 'mine' }],
      ['acme-web', { BUCKET_BUCKET_NAME: null, OTHER: 'x' }],
      ['acme-worker', { FILES_URL: 'mine' }],
    ] as const) {
      const before = fake.configVars(app);
      await expect(heroku.patch(`/apps/${app}/config-vars`, { body })).rejects.toMatchObject({ statusCode: 422, body: { id: 'invalid_params' } });
      expect(fake.configVars(app)).toEqual(before);
    }
    // The same names where no attachment provides them are the app's to set.
    expect(await heroku.patch('/apps/acme-worker/config-vars', { body: { BUCKET_URL: 'mine', S3_BUCKET_URL: 'also' } })).toMatchObject({
      BUCKET_URL: 'mine',
      S3_BUCKET_URL: 'also',
      FILES_URL: 's3://b-1',
    });
    expect((await getAddon(addon.id)).config_vars).toEqual(['BUCKET_URL', 'BUCKET_BUCKET_NAME']);
  });

  it('allows the names again once the attachment is gone', async () => {
    const addon = seed();
    const att = fake.addonAttachments(addon.id)[0]!;
    fake.detach(att.id);
    expect(await heroku.patch('/apps/acme-web/config-vars', { body: { BUCKET_URL: 'mine' } })).toEqual({ BUCKET_URL: 'mine' });
  });
});
