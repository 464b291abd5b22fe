/**
 * The Add-on Partner API over real HTTP: the controller's server with the partner route mounted,
 * the Heroku fake as Heroku (it sends the provisioning requests, serves the OAuth token endpoint,
 * the add-on actions and the add-on config), and the store on embedded PGlite.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPublicListener } from '../../src/http/public-listener.js';
import type { HttpServer } from '../../src/http/listen.js';
import { createPartnerApi, type PartnerApi } from '../../src/partner/partner-api.js';
import type { FetchLike } from '../../src/partner/oauth-client.js';
import { Store } from '../../src/store/store.js';
import { HerokuFake } from '../support/heroku-fake/index.js';
import type { AddOn, App, PartnerTarget } from '../support/heroku-fake/index.js';
import { newKey } from '../store/backends.js';

const MANIFEST_ID = 's3-bucket';
const PASSWORD = 'manifest-password-current-8d1f0c';
const OLD_PASSWORD = 'manifest-password-previous-77aa21';
const GRACE_MS = 5 * 60_000;

let dir: string;
let store: Store;
let fake: HerokuFake;
let server: HttpServer;
let partner: PartnerApi;
let target: PartnerTarget;
const queued: string[] = [];
const logLines: string[] = [];
const answers: string[] = [];
/** The controller's clock runs ahead of real time by this much (token expiry without waiting). */
let clockOffsetMs = 0;
/** Fails this many calls to the token endpoint with a connection error before letting them through. */
let failTokenCalls = 0;

const controllerFetch: FetchLike = async (input, init) => {
  if (input.endsWith('/oauth/token') && failTokenCalls > 0) {
    failTokenCalls -= 1;
    throw new TypeError('fetch failed');
  }
  return fetch(input, init);
};

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'partner-api-'));
  store = await Store.open({ dataDir: path.join(dir, 'db'), fernetKeys: [newKey()] });
  fake = await HerokuFake.start();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString('utf8'));
      done();
    },
  });
  partner = createPartnerApi({
    store: store.partnerAddons,
    manifestId: MANIFEST_ID,
    manifestPasswords: [PASSWORD, OLD_PASSWORD],
    clientSecret: fake.partner.clientSecret,
    oauthUrl: fake.url,
    herokuApiUrl: fake.url,
    enqueue: (id) => queued.push(id),
    deprovisionGraceMs: GRACE_MS,
    now: () => new Date(Date.now() + clockOffsetMs),
    fetch: controllerFetch,
    exchangeRetryDelaysMs: [20, 20],
    maxBodyBytes: 16 * 1024,
    logger: pino({ level: 'debug' }, sink),
  });
  server = await startPublicListener(
    0,
    { routes: [partner], requestsPerMinute: Number.MAX_SAFE_INTEGER },
    '127.0.0.1',
  );
  target = { url: server.url, manifestId: MANIFEST_ID, password: PASSWORD };
});

afterAll(async () => {
  await server?.close();
  await fake?.stop();
  await store?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  queued.length = 0;
  clockOffsetMs = 0;
  failTokenCalls = 0;
  fake.partner.accessTokenTtlSeconds = 300;
});

afterEach(async () => {
  await partner.settle();
  expect(fake.schemaViolations).toEqual([]);
});

let seq = 0;
/** A new add-on at the fake, waiting for its provider: one owning app, one more attached. */
function newAddon(): { addon: AddOn; owner: App; other: App } {
  seq += 1;
  const team = fake.addTeam({ name: `team-${seq}-${Date.now()}` });
  const owner = fake.addApp({ name: `owner-${seq}-${Date.now() % 1e6}`, team: team.id });
  const other = fake.addApp({ name: `other-${seq}-${Date.now() % 1e6}`, team: team.id, region: 'eu' });
  const addon = fake.addAddon({ app: owner.id, service: 's3-bucket', plan: 'private', attachmentName: 'S3_BUCKET', state: 'provisioning' });
  fake.attach({ addon: addon.id, app: other.id, name: 'ARCHIVE' });
  return { addon, owner, other };
}

async function provisioned(): Promise<{ addon: AddOn; owner: App; other: App }> {
  const made = newAddon();
  const answer = await fake.partner.provision(target, made.addon.id);
  answers.push(JSON.stringify(answer.body));
  expect(answer.status).toBe(202);
  await partner.settle();
  return made;
}

async function rawRows(uuid: string): Promise<string> {
  return JSON.stringify(await store.db.query('SELECT * FROM partner_addons WHERE uuid = $1', [uuid]));
}

describe('POST /heroku/resources', () => {
  it('answers 202 with the id at once, enqueues once, and stores the exchanged tokens encrypted', async () => {
    const { addon } = newAddon();
    const body = fake.partner.provisionBody(addon.id);
    const answer = await fake.partner.provision(target, addon.id, { body });
    answers.push(JSON.stringify(answer.body));
    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({ id: addon.id, message: expect.any(String) });
    expect(queued).toEqual([addon.id]);

    await partner.settle();
    expect(fake.partner.tokenRequests.filter((t) => t.grantType === 'authorization_code').at(-1)).toEqual({ grantType: 'authorization_code', status: 200 });
    const record = await store.partnerAddons.get(addon.id);
    expect(record).toMatchObject({ uuid: addon.id, plan: 'private', region: 'amazon-web-services::us-east-1', state: 'provisioning', hasGrant: false, tokenFailures: 0 });
    expect(record?.tokens?.accessToken).toMatch(/^access-/);

    const raw = await rawRows(addon.id);
    expect(raw).toContain(addon.id);
    expect(raw).not.toContain(record!.tokens!.accessToken);
    expect(raw).not.toContain(record!.tokens!.refreshToken);
    expect(raw).not.toContain((body['oauth_grant'] as { code: string }).code);
    // The log drain credentials are not kept.
    expect(raw).not.toContain(body['log_input_url'] as string);
    expect(raw).not.toContain(body['log_drain_token'] as string);
  });

  it('is idempotent on uuid: the same request twice gives the same answer, one record, one enqueue, one exchange', async () => {
    const { addon } = newAddon();
    const body = fake.partner.provisionBody(addon.id);
    const exchangesBefore = fake.partner.tokenRequests.length;
    const first = await fake.partner.provision(target, addon.id, { body });
    const second = await fake.partner.provision(target, addon.id, { body });
    expect(second).toEqual(first);
    expect(first.status).toBe(202);
    await partner.settle();
    expect(queued).toEqual([addon.id]);
    expect(await store.db.query('SELECT uuid FROM partner_addons WHERE uuid = $1', [addon.id])).toHaveLength(1);
    expect(fake.partner.tokenRequests.length - exchangesBefore).toBe(1);
  });

  it('refuses a wrong or missing Basic password with 401 and stores and enqueues nothing', async () => {
    const { addon } = newAddon();
    const wrong = await fake.partner.provision(target, addon.id, { password: 'not-the-password' });
    expect(wrong.status).toBe(401);
    expect(JSON.stringify(wrong.body)).not.toContain(PASSWORD);
    const wrongUser = await fake.partner.provision({ ...target, manifestId: 'someone-else' }, addon.id);
    expect(wrongUser.status).toBe(401);
    const none = await fetch(`${server.url}/heroku/resources`, { method: 'POST', body: JSON.stringify(fake.partner.provisionBody(addon.id)) });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect(await store.partnerAddons.get(addon.id)).toBeNull();
    expect(queued).toEqual([]);
  });

  it('accepts the previous manifest password during a rotation', async () => {
    const { addon } = newAddon();
    const answer = await fake.partner.provision(target, addon.id, { password: OLD_PASSWORD });
    expect(answer.status).toBe(202);
    expect(queued).toEqual([addon.id]);
  });

  it('refuses malformed bodies with 400 and a sentence, and oversized ones with 413', async () => {
    const { addon } = newAddon();
    const notJson = await fake.partner.callAddon(target, 'POST', '/heroku/resources', '{"uuid": ');
    expect(notJson).toEqual({ status: 400, body: { message: 'the body is not valid JSON' } });
    const noUuid = await fake.partner.callAddon(target, 'POST', '/heroku/resources', { ...fake.partner.provisionBody(addon.id), uuid: 'nope' });
    expect(noUuid.status).toBe(400);
    expect(noUuid.body).toEqual({ message: expect.stringMatching(/uuid/) });
    const { oauth_grant: _grant, ...noGrant } = fake.partner.provisionBody(addon.id);
    const grantless = await fake.partner.callAddon(target, 'POST', '/heroku/resources', noGrant);
    expect(grantless.status).toBe(400);
    expect(grantless.body).toEqual({ message: expect.stringMatching(/oauth_grant/) });
    const huge = await fake.partner.callAddon(target, 'POST', '/heroku/resources', { ...fake.partner.provisionBody(addon.id), options: { pad: 'x'.repeat(20_000) } });
    expect(huge.status).toBe(413);
    const wrongMethod = await fake.partner.callAddon(target, 'GET', '/heroku/resources', undefined);
    expect(wrongMethod.status).toBe(405);
    expect(await store.partnerAddons.get(addon.id)).toBeNull();
    expect(queued).toEqual([]);
  });

  it('retries a failed grant exchange after the answer, and reports one that keeps failing', async () => {
    failTokenCalls = 1;
    const { addon } = await provisioned();
    expect((await store.partnerAddons.get(addon.id))?.tokens).not.toBeNull();

    failTokenCalls = 10;
    const { addon: broken } = newAddon();
    const answer = await fake.partner.provision(target, broken.id);
    expect(answer.status).toBe(202);
    await partner.settle();
    const record = await store.partnerAddons.get(broken.id);
    expect(record).toMatchObject({ tokens: null, hasGrant: true, tokenFailures: 3 });
    expect(record?.tokenError).toMatch(/cannot exchange the OAuth grant/);
    expect(logLines.some((l) => l.includes('"reason":"partner-token-exchange-failed"') && l.includes('"willRetry":false') && l.includes(broken.id))).toBe(true);
    // The grant is kept: the next use tries again and succeeds.
    failTokenCalls = 0;
    expect(await partner.markReady(broken.id)).toBe('sent');
  });
});

describe('a repeated provisioning request after a failed exchange', () => {
  it('takes the new grant and exchanges it, still without a second record or enqueue', async () => {
    failTokenCalls = 10;
    const { addon } = newAddon();
    expect((await fake.partner.provision(target, addon.id)).status).toBe(202);
    await partner.settle();
    expect((await store.partnerAddons.get(addon.id))?.tokens).toBeNull();
    failTokenCalls = 0;
    const again = await fake.partner.provision(target, addon.id);
    expect(again).toEqual({ status: 202, body: { id: addon.id, message: expect.any(String) } });
    await partner.settle();
    expect((await store.partnerAddons.get(addon.id))?.tokens).not.toBeNull();
    expect(queued).toEqual([addon.id]);
  });
});

describe('markReady and markFailed', () => {
  it('calls actions/provision exactly once, with the add-on partner token', async () => {
    const { addon } = await provisioned();
    const refreshesBefore = fake.partner.tokenRequests.filter((t) => t.grantType === 'refresh_token').length;
    expect(await partner.markReady(addon.id)).toBe('sent');
    expect(await partner.markReady(addon.id)).toBe('already-sent');
    // A token still valid is used as it is.
    expect(fake.partner.tokenRequests.filter((t) => t.grantType === 'refresh_token').length).toBe(refreshesBefore);
    const calls = fake.partner.actions.filter((a) => a.addonId === addon.id);
    expect(calls).toEqual([{ addonId: addon.id, action: 'provision', token: (await store.partnerAddons.get(addon.id))!.tokens!.accessToken }]);
    expect(fake.addon(addon.id).state).toBe('provisioned');
    expect(await store.partnerAddons.get(addon.id)).toMatchObject({ state: 'provisioned', provisionedSentAt: expect.any(Date) });
  });

  it('refreshes an expired access token before using it', async () => {
    const { addon } = await provisioned();
    const before = (await store.partnerAddons.get(addon.id))!.tokens!;
    // Past the token's expiry for the controller; Heroku no longer takes it either.
    clockOffsetMs = 2 * 60 * 60_000;
    fake.partner.expireAccessTokens(addon.id);
    const refreshesBefore = fake.partner.tokenRequests.filter((t) => t.grantType === 'refresh_token').length;

    expect(await partner.markReady(addon.id)).toBe('sent');
    expect(fake.partner.tokenRequests.filter((t) => t.grantType === 'refresh_token').length - refreshesBefore).toBe(1);
    const after = (await store.partnerAddons.get(addon.id))!.tokens!;
    expect(after.accessToken).not.toBe(before.accessToken);
    expect(after.accessTokenExpiresAt.getTime()).toBeGreaterThan(before.accessTokenExpiresAt.getTime());
    const calls = fake.partner.actions.filter((a) => a.addonId === addon.id);
    expect(calls).toEqual([{ addonId: addon.id, action: 'provision', token: after.accessToken }]);
    // Refreshed before use: Heroku never had to refuse the old token.
    expect(fake.requests.filter((r) => r.path === `/addons/${addon.id}/actions/provision` && r.status === 401)).toEqual([]);
    expect(await rawRows(addon.id)).not.toContain(after.accessToken);
  });

  it('refreshes once and retries when Heroku refuses a token that looked valid', async () => {
    const { addon } = await provisioned();
    fake.partner.expireAccessTokens(addon.id);
    expect(await partner.markReady(addon.id)).toBe('sent');
    expect(fake.requests.filter((r) => r.path === `/addons/${addon.id}/actions/provision`).map((r) => r.status)).toEqual([401, 200]);
  });

  it('reports a terminal failure with actions/deprovision, once', async () => {
    const { addon } = await provisioned();
    expect(await partner.markFailed(addon.id, 'the team is not linked to an AWS account')).toBe('sent');
    expect(await partner.markFailed(addon.id, 'again')).toBe('already-sent');
    expect(await partner.markReady(addon.id)).toBe('not-provisioning');
    expect(fake.partner.actions.filter((a) => a.addonId === addon.id).map((a) => a.action)).toEqual(['deprovision']);
    expect(fake.addon(addon.id).state).toBe('deprovisioned');
    expect(await store.partnerAddons.get(addon.id)).toMatchObject({ state: 'failed', failureReason: 'the team is not linked to an AWS account' });
  });

  it('answers not-partner for an add-on never provisioned here, without calling Heroku', async () => {
    const { addon } = newAddon();
    const before = fake.partner.actions.length;
    expect(await partner.markReady(addon.id)).toBe('not-partner');
    expect(fake.partner.actions.length).toBe(before);
  });
});

describe('PUT and DELETE /heroku/resources/:id', () => {
  it('stores a plan change and enqueues the add-on', async () => {
    const { addon } = await provisioned();
    queued.length = 0;
    const answer = await fake.partner.changePlan(target, addon.id, 'versioned');
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ message: expect.stringContaining('versioned') });
    expect(queued).toEqual([addon.id]);
    expect(await store.partnerAddons.get(addon.id)).toMatchObject({ plan: 'versioned', planChangedAt: expect.any(Date) });
  });

  it('answers 404 for an id never provisioned here, and 401 without the password', async () => {
    const unknown = '01234567-89ab-cdef-0123-456789abcdef';
    expect((await fake.partner.changePlan(target, unknown, 'versioned')).status).toBe(404);
    expect((await fake.partner.deprovision(target, unknown)).status).toBe(404);
    expect((await fake.partner.deprovision({ ...target, password: 'x' }, unknown)).status).toBe(401);
    expect(queued).toEqual([]);
  });

  it('marks a deprovisioned add-on with the short grace, enqueues it, answers 204 (again on a repeat), then refuses plan changes with 410', async () => {
    const { addon } = await provisioned();
    queued.length = 0;
    const answer = await fake.partner.deprovision(target, addon.id);
    expect(answer).toEqual({ status: 204, body: null });
    expect(queued).toEqual([addon.id]);
    const record = await store.partnerAddons.get(addon.id);
    expect(record?.state).toBe('deprovisioned');
    expect(record!.deleteAfter!.getTime() - record!.deprovisionedAt!.getTime()).toBe(GRACE_MS);
    expect((await fake.partner.deprovision(target, addon.id)).status).toBe(204);
    expect((await store.partnerAddons.get(addon.id))?.deprovisionedAt).toEqual(record?.deprovisionedAt);
    expect((await fake.partner.changePlan(target, addon.id, 'versioned')).status).toBe(410);
  });
});

describe('credential delivery through the add-on config', () => {
  it('PATCHes /addons/{id}/config with the partner token; Heroku sets the vars on every attachment', async () => {
    const { addon, owner, other } = await provisioned();
    await partner.deliverAddonConfig(addon.id, {
      S3_BUCKET_BUCKET_NAME: 'hs3-bucket-1',
      S3_BUCKET_AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE1',
      S3_BUCKET_AWS_SECRET_ACCESS_KEY: 'secret-access-key-value-1',
    });
    const patches = fake.partner.configPatches.filter((p) => p.addonId === addon.id);
    expect(patches).toHaveLength(1);
    expect(patches[0]!.token).toBe((await store.partnerAddons.get(addon.id))!.tokens!.accessToken);
    expect(fake.configVars(owner.id)).toMatchObject({ S3_BUCKET_BUCKET_NAME: 'hs3-bucket-1', S3_BUCKET_AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE1', S3_BUCKET_AWS_SECRET_ACCESS_KEY: 'secret-access-key-value-1' });
    expect(fake.configVars(other.id)).toMatchObject({ ARCHIVE_BUCKET_NAME: 'hs3-bucket-1', ARCHIVE_AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE1', ARCHIVE_AWS_SECRET_ACCESS_KEY: 'secret-access-key-value-1' });
    expect(fake.addon(addon.id).config_vars).toEqual(['S3_BUCKET_BUCKET_NAME', 'S3_BUCKET_AWS_ACCESS_KEY_ID', 'S3_BUCKET_AWS_SECRET_ACCESS_KEY']);
    // The delivered secret is not logged.
    expect(logLines.join('')).not.toContain('secret-access-key-value-1');

    // A var set to null is removed everywhere.
    await partner.deliverAddonConfig(addon.id, { S3_BUCKET_AWS_SECRET_ACCESS_KEY: null });
    expect(fake.configVars(other.id)).not.toHaveProperty('ARCHIVE_AWS_SECRET_ACCESS_KEY');
  });
});

describe('secrets', () => {
  it('never appear in the debug logs or the answers', () => {
    const text = logLines.join('\n') + answers.join('\n');
    expect(logLines.length).toBeGreaterThan(5);
    for (const secret of [PASSWORD, OLD_PASSWORD, fake.partner.clientSecret, ...fake.partner.issuedSecrets]) {
      expect(text.includes(secret), 'a secret was logged or answered').toBe(false);
    }
    expect(fake.partner.issuedSecrets.length).toBeGreaterThan(10);
  });
});
