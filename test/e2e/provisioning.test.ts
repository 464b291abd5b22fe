/**
 * Issue 6, end to end over real HTTP: the controller as `serve` builds it (config → runtime →
 * fast lane → HTTP server with the lane's routes), moto for AWS, and the Heroku fake playing
 * Heroku's side of the Add-on Partner API (it sends the provisioning request with Basic auth,
 * serves the OAuth token exchange, `actions/provision|deprovision` and `PATCH /addons/{id}/config`)
 * and of app webhooks (a signed `api:addon` delivery).
 *
 * Everything here comes from the fast path alone; only the test about a settled add-on runs a
 * full pass, at its end, to show the two sides agree: nothing more to change or to tell Heroku.
 */
import { readFileSync } from 'node:fs';
import { ListBucketsCommand, type S3Client } from '@aws-sdk/client-s3';
import type { IAMClient } from '@aws-sdk/client-iam';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { createFastLane, type FastLane } from '../../src/fast-lane/fast-lane.js';
import { startPublicListener } from '../../src/http/public-listener.js';
import type { HttpServer } from '../../src/http/listen.js';
import { WEBHOOK_PATH } from '../../src/fast-lane/keyed-queue.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import type { ResourceRecord } from '../../src/store/types.js';
import { silentLogger } from '../../src/util/log.js';
import { SIGNATURE_HEADER, signHerokuWebhook } from '../../src/webhooks/heroku-webhooks.js';
import type { AddOn, App, PartnerTarget } from '../support/heroku-fake/index.js';
import { bucketExists, userExists } from './gc-support.js';
import { SERVICE, callerAccount, createWorld, type World } from './stand-world.js';

const MANIFEST_ID = 's3-bucket';
const PASSWORD = 'e2e-manifest-password-51c9a7e2';
const WEBHOOK_SECRET = 'e2e-provisioning-webhook-secret-0b7d';
/** "Within a few seconds": the fast path's budget from request to Heroku's answer. */
const FAST_MS = 8_000;

/** One controller as `serve` wires it, on the world's database. */
interface Served {
  runtime: Runtime;
  lane: FastLane;
  server: HttpServer;
  /** Add-on ids the Partner API handed to the queue. */
  enqueued: string[];
  close(): Promise<void>;
}

async function serve(world: World, env: Record<string, string>): Promise<Served> {
  const runtime = await createRuntime(loadConfig({ ...world.env, ...env }), silentLogger(), { baseCredentials: world.controllerCredentials, keepAwsCalls: true });
  const lane = createFastLane(runtime, () => true);
  const enqueued: string[] = [];
  const enqueue = runtime.partnerWork.enqueue;
  if (enqueue) {
    runtime.partnerWork.enqueue = (addonId) => {
      enqueued.push(addonId);
      enqueue(addonId);
    };
  }
  const server = await startPublicListener(
    0,
    { routes: lane.routes, requestsPerMinute: Number.MAX_SAFE_INTEGER },
    '127.0.0.1',
  );
  lane.start();
  return {
    runtime,
    lane,
    server,
    enqueued,
    async close() {
      await lane.shutdown(10_000);
      await server.close();
      await runtime.close();
    },
  };
}

async function until<T>(what: string, probe: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = FAST_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let world: World;
let s3: S3Client;
let iam: IAMClient;

async function bucketCount(): Promise<number> {
  return (await s3.send(new ListBucketsCommand({}))).Buckets?.length ?? 0;
}

/** App config-var PATCHes (the Platform API delivery) to any of these apps. */
function appConfigPatches(...apps: App[]): string[] {
  return world.fake.requests
    .filter((r) => r.method === 'PATCH' && /^\/apps\/[^/]+\/config-vars$/.test(r.path.split('?')[0]!))
    .filter((r) => apps.some((a) => r.path.includes(a.id) || r.path.includes(a.name)))
    .map((r) => `${r.method} ${r.path}`);
}

/** Heroku requests a full pass makes and a keyed reconcile never does: the team-wide listings. */
function fullPassReads(): string[] {
  return world.fake.requests.filter((r) => /^\/teams\/[^/]+\/(addons|apps)/.test(r.path)).map((r) => `${r.method} ${r.path}`);
}

beforeAll(async () => {
  world = await createWorld();
  const { fake } = world;
  for (const team of ['linked', 'unlinked']) fake.addTeam({ name: team });
  for (const [app, team] of [['linked-hook', 'linked']] as const) {
    fake.addApp({ name: app, team });
  }
  s3 = await world.s3(world.accountA);
  iam = await world.iam(world.accountA);
  // Linked once, as `heroku-s3-controller link` does, through a short-lived runtime on the same database.
  const setup = await createRuntime(loadConfig(world.env), silentLogger(), { baseCredentials: world.controllerCredentials, keepAwsCalls: true });
  const t = fake.team('linked');
  await setup.store.links.save({ teamId: t.id, teamName: t.name, accountId: world.accountA, region: null, auth: { kind: 'role', roleArn: world.roleArn(world.accountA), externalId: null } });
  await setup.close();
}, 120_000);

afterAll(async () => {
  expect(world.fake.schemaViolations).toEqual([]);
  await world?.stop();
});

describe('provisioning through the Add-on Partner API (CREDENTIAL_DELIVERY=addon-config)', () => {
  let served: Served;
  let target: PartnerTarget;

  beforeAll(async () => {
    served = await serve(world, {
      ADDON_MANIFEST_ID: MANIFEST_ID,
      ADDON_MANIFEST_PASSWORD: PASSWORD,
      ADDON_CLIENT_SECRET: world.fake.partner.clientSecret,
      HEROKU_OAUTH_URL: world.fake.url,
      CREDENTIAL_DELIVERY: 'addon-config',
    });
    expect(served.lane.routes.map((r) => r.prefix)).toEqual(['/heroku/resources']);
    target = { url: served.server.url, manifestId: MANIFEST_ID, password: PASSWORD };
  });

  afterAll(async () => {
    await served?.close();
  });

  afterEach(() => {
    served.enqueued.length = 0;
  });

  let seq = 0;
  /**
   * A new add-on at Heroku waiting for its provider, on a new app of `team` (attached there under
   * the manifest's prefix, as `heroku addons:create` does), and attached to a second new app too.
   */
  function newAddon(team: string, o: { attachOther?: boolean } = {}): { addon: AddOn; owner: App; other: App | null } {
    seq += 1;
    const owner = world.fake.addApp({ name: `${team}-owner-${seq}`, team });
    const addon = world.fake.addAddon({ app: owner.name, service: SERVICE, plan: 'private', attachmentName: 'S3_BUCKET', state: 'provisioning' });
    let other: App | null = null;
    if (o.attachOther) {
      other = world.fake.addApp({ name: `${team}-other-${seq}`, team, region: 'eu' });
      world.fake.attach({ addon: addon.id, app: other.name, name: 'ARCHIVE' });
    }
    return { addon, owner, other };
  }

  const record = async (id: string) => (await served.runtime.store.resources.get(id)) as ResourceRecord | null;

  it('a provisioning request leads, within seconds, to a bucket, a user, credentials on every attachment through the add-on config, and one actions/provision', async () => {
    const { fake } = world;
    const made = newAddon('linked', { attachOther: true });
    const { addon, owner } = made;
    const other = made.other!;
    const attachmentName = 'ARCHIVE';
    const bucketsBefore = await bucketCount();
    fake.resetRequests();

    const started = Date.now();
    const answer = await fake.partner.provision(target, addon.id);
    expect(answer).toEqual({ status: 202, body: { id: addon.id, message: expect.any(String) } });
    const provisioned = await until('actions/provision called', () => fake.partner.actions.find((a) => a.addonId === addon.id));
    const elapsed = Date.now() - started;

    // AWS: the bucket and the user exist in the linked account, and the key works there.
    const r = (await record(addon.id))!;
    expect(r.state).toBe('ready');
    expect(await bucketExists(s3, r.resourceName!)).toBe(true);
    expect(await userExists(iam, r.userName)).toBe(true);
    expect(await bucketCount()).toBe(bucketsBefore + 1);
    expect(await callerAccount(r.accessKeyId!, r.secretAccessKey!)).toBe(world.accountA);

    // The credentials, on both apps, under each attachment's name, set by Heroku from one add-on config PATCH.
    for (const [app, prefix] of [[owner, 'S3_BUCKET'], [other, attachmentName]] as const) {
      expect(fake.configVars(app.id)).toMatchObject({
        [`${prefix}_BUCKET_NAME`]: r.resourceName,
        [`${prefix}_AWS_ACCESS_KEY_ID`]: r.accessKeyId,
        [`${prefix}_AWS_SECRET_ACCESS_KEY`]: r.secretAccessKey,
        [`${prefix}_URL`]: `s3://${r.resourceName}`,
      });
    }
    const partnerRecord = (await served.runtime.store.partnerAddons.get(addon.id))!;
    const token = partnerRecord.tokens!.accessToken;
    const patches = fake.partner.configPatches.filter((p) => p.addonId === addon.id);
    expect(patches).toHaveLength(1);
    expect(patches[0]!.token).toBe(token);
    expect(patches[0]!.config.map((c) => c.name).sort()).toEqual(
      ['S3_BUCKET_AWS_ACCESS_KEY_ID', 'S3_BUCKET_AWS_REGION', 'S3_BUCKET_AWS_SECRET_ACCESS_KEY', 'S3_BUCKET_BUCKET_NAME', 'S3_BUCKET_URL'].sort(),
    );
    expect(appConfigPatches(owner, other)).toEqual([]);

    // The grant was exchanged; Heroku was told once, with the partner token, and shows the add-on provisioned.
    expect(fake.partner.tokenRequests).toContainEqual({ grantType: 'authorization_code', status: 200 });
    expect(provisioned).toEqual({ addonId: addon.id, action: 'provision', token });
    expect(fake.addon(addon.id).state).toBe('provisioned');
    expect(partnerRecord).toMatchObject({ state: 'provisioned', provisionedSentAt: expect.any(Date) });
    expect(served.enqueued).toEqual([addon.id]);
    expect(fullPassReads()).toEqual([]);

    // Settled: nothing more happens for it.
    await served.lane.fastPath.idle();
    await sleep(500);
    expect(fake.partner.actions.filter((a) => a.addonId === addon.id)).toHaveLength(1);
    expect(fake.partner.configPatches.filter((p) => p.addonId === addon.id)).toHaveLength(1);
    console.info(`provisioning request to actions/provision (credentials delivered): ${elapsed} ms`);
  });

  it('once provisioned, a keyed reconcile and a full pass (with its afterPass) change nothing and tell Heroku nothing more', async () => {
    const { fake } = world;
    const { addon } = newAddon('linked', { attachOther: true });
    expect((await fake.partner.provision(target, addon.id)).status).toBe(202);
    await until('actions/provision called', () => fake.partner.actions.find((a) => a.addonId === addon.id));
    await served.lane.fastPath.idle();
    const keyed = await served.runtime.controller.reconcileAddon(addon.id);
    expect(keyed.complete).toBe(true);
    expect(keyed.actions).toEqual([]);
    const full = await served.runtime.controller.reconcileOnce();
    expect(full.actions.filter((a) => a.addonId === addon.id)).toEqual([]);
    await served.lane.afterPass(full);
    await served.lane.fastPath.idle();
    expect(fake.partner.actions.filter((a) => a.addonId === addon.id)).toHaveLength(1);
    expect(fake.partner.configPatches.filter((p) => p.addonId === addon.id)).toHaveLength(1);
  });

  // Heroku's DELETE is authoritative: the add-on gets the short grace of a deprovisioned one
  // (GC_GRACE_DEPROVISIONED), not the long grace of an orphan seen only by diff.
  it('DELETE /heroku/resources/:id marks the resources for deletion after the short grace', async () => {
    const { fake } = world;
    const { addon } = newAddon('linked');
    expect((await fake.partner.provision(target, addon.id)).status).toBe(202);
    await until('actions/provision called', () => fake.partner.actions.find((a) => a.addonId === addon.id));
    await served.lane.fastPath.idle();
    // Heroku removes the add-on, then tells the provider.
    fake.destroyAddon(addon.id);
    const before = Date.now();
    expect((await fake.partner.deprovision(target, addon.id)).status).toBe(204);
    const r = await until('orphan mark', async () => (await record(addon.id))?.orphan);
    expect(r.reason).toBe('deprovisioned');
    expect(r.deleteAfter.getTime() - before).toBeLessThan(10 * 60_000);
  });

  it('the same provisioning request sent twice makes one bucket, one enqueue, one provision answer', async () => {
    const { fake } = world;
    const { addon } = newAddon('linked', { attachOther: true });
    const body = fake.partner.provisionBody(addon.id);
    const bucketsBefore = await bucketCount();
    const first = await fake.partner.provision(target, addon.id, { body });
    const second = await fake.partner.provision(target, addon.id, { body });
    expect(first.status).toBe(202);
    expect(second).toEqual(first);
    await until('actions/provision called', () => fake.partner.actions.find((a) => a.addonId === addon.id));
    // A third, after it is provisioned, changes nothing either.
    expect((await fake.partner.provision(target, addon.id, { body })).status).toBe(202);
    await served.lane.fastPath.idle();
    await served.runtime.partner!.settle();
    await sleep(500);
    expect(served.enqueued).toEqual([addon.id]);
    expect(await bucketCount()).toBe(bucketsBefore + 1);
    expect(fake.partner.actions.filter((a) => a.addonId === addon.id).map((a) => a.action)).toEqual(['provision']);
    expect(fake.partner.tokenRequests.filter((t) => t.grantType === 'authorization_code' && t.status === 200).length).toBeGreaterThan(0);
  });

  it('a wrong Basic password is refused with 401 and changes nothing', async () => {
    const { fake } = world;
    const { addon } = newAddon('linked');
    const bucketsBefore = await bucketCount();
    const answer = await fake.partner.provision(target, addon.id, { password: 'not-the-manifest-password' });
    expect(answer.status).toBe(401);
    expect(JSON.stringify(answer.body)).not.toContain(PASSWORD);
    await sleep(1_500);
    expect(served.enqueued).toEqual([]);
    expect(await served.runtime.store.partnerAddons.get(addon.id)).toBeNull();
    expect(await record(addon.id)).toBeNull();
    expect(await bucketCount()).toBe(bucketsBefore);
    expect(fake.partner.actions.filter((a) => a.addonId === addon.id)).toEqual([]);
    expect(fake.addon(addon.id).state).toBe('provisioning');
  });

  it('an add-on on an app of an unlinked team is answered with actions/deprovision, once, and gets no bucket', async () => {
    const { fake } = world;
    const { addon, owner } = newAddon('unlinked');
    const bucketsBefore = await bucketCount();
    expect((await fake.partner.provision(target, addon.id)).status).toBe(202);
    const failed = await until('actions/deprovision called', () => fake.partner.actions.find((a) => a.addonId === addon.id));
    expect(failed.action).toBe('deprovision');
    await served.lane.fastPath.idle();
    await sleep(1_000);
    expect(fake.partner.actions.filter((a) => a.addonId === addon.id).map((a) => a.action)).toEqual(['deprovision']);
    expect(fake.addon(addon.id).state).toBe('deprovisioned');
    expect(await served.runtime.store.partnerAddons.get(addon.id)).toMatchObject({ state: 'failed', failureReason: expect.stringMatching(/not in a Heroku Team linked/) });
    expect(await record(addon.id)).toBeNull();
    expect(await bucketCount()).toBe(bucketsBefore);
    expect(fake.partner.configPatches.filter((p) => p.addonId === addon.id)).toEqual([]);
    expect(Object.keys(fake.configVars(owner.id)).filter((k) => k.includes('AWS'))).toEqual([]);
  });
});

describe('provisioning through an app webhook (CREDENTIAL_DELIVERY default)', () => {
  let served: Served;

  beforeAll(async () => {
    served = await serve(world, { WEBHOOK_SECRETS: WEBHOOK_SECRET });
    expect(served.lane.routes.map((r) => r.prefix)).toEqual([WEBHOOK_PATH]);
  });

  afterAll(async () => {
    await served?.close();
  });

  it('a signed api:addon create delivery for a new add-on leads to credentials in app config vars within seconds, with no full pass', async () => {
    const { fake } = world;
    const app = fake.app('linked-hook');
    const addon = fake.addAddon({ app: app.name, service: SERVICE, attachmentName: 'UPLOADS' });
    const event = JSON.parse(readFileSync(new URL('../../../shared/heroku/webhook-events/api-addon-create.json', import.meta.url), 'utf8')) as { id: string; data: { id: string } };
    event.data.id = addon.id;
    const body = JSON.stringify(event);
    fake.resetRequests();

    const started = Date.now();
    const mis = await fetch(`${served.server.url}${WEBHOOK_PATH}`, { method: 'POST', headers: { [SIGNATURE_HEADER]: signHerokuWebhook(body, 'some-other-secret-value-123') }, body });
    expect(mis.status).toBe(401);
    const res = await fetch(`${served.server.url}${WEBHOOK_PATH}`, { method: 'POST', headers: { [SIGNATURE_HEADER]: signHerokuWebhook(body, WEBHOOK_SECRET) }, body });
    expect(res.status).toBe(202);
    await until('credentials on the app', () => fake.configVars(app.id)['UPLOADS_AWS_SECRET_ACCESS_KEY']);
    const elapsed = Date.now() - started;

    const r = (await served.runtime.store.resources.get(addon.id))!;
    expect(fake.configVars(app.id)).toMatchObject({ UPLOADS_BUCKET_NAME: r.resourceName, UPLOADS_AWS_ACCESS_KEY_ID: r.accessKeyId, UPLOADS_AWS_SECRET_ACCESS_KEY: r.secretAccessKey });
    expect(await bucketExists(s3, r.resourceName!)).toBe(true);
    expect(await callerAccount(r.accessKeyId!, r.secretAccessKey!)).toBe(world.accountA);
    // Through the Platform API's app config vars, not the add-on config; and no full pass was needed.
    expect(appConfigPatches(app)).toHaveLength(1);
    expect(fake.partner.configPatches.filter((p) => p.addonId === addon.id)).toEqual([]);
    expect(fullPassReads()).toEqual([]);
    expect(elapsed).toBeLessThan(FAST_MS);
    console.info(`webhook to credentials delivered: ${elapsed} ms`);
  });
});
