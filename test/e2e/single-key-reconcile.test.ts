/**
 * Issue 6, item 1: the single-key reconcile on the stand (moto + the Heroku fake). A new add-on
 * gets its bucket, user, key and config vars from `reconcileAddon` alone, with a counted handful
 * of Heroku and AWS calls (fewer than a full pass needs just to read); a second call changes
 * nothing; a destroyed add-on is marked as an orphan (never deleted at once), and only that one;
 * a failed Heroku read (503, 500, 429) decides nothing; an add-on of an unlinked team or of
 * another service is left alone; a squatted name is never touched; a teardown is never started by
 * a keyed pass (the breaker sees whole accounts only in the full pass); and, end to end, a signed
 * webhook over HTTP leads to delivered credentials.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { IAMClient } from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Controller } from '../../src/reconciler/controller.js';
import { isMutation } from '../../src/sinks/aws/api-calls.js';
import { HerokuApi } from '../../src/heroku/heroku-api.js';
import { silentLogger } from '../../src/util/log.js';
import { controllerPorts, type Runtime } from '../../src/runtime.js';
import type { ResourceRecord } from '../../src/store/types.js';
import { readFileSync } from 'node:fs';
import { startPublicListener } from '../../src/http/public-listener.js';
import { FastPath, WEBHOOK_PATH } from '../../src/fast-lane/keyed-queue.js';
import { SIGNATURE_HEADER, signHerokuWebhook } from '../../src/webhooks/heroku-webhooks.js';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateUserCommand } from '@aws-sdk/client-iam';
import { bucketNameFor, userNameFor } from '../../src/reconciler/spec.js';
import { accessKeys, bucketTags } from './drift-support.js';
import { DAY, MovableClock, bucketExists, gcRuntime, recordRow, userExists } from './gc-support.js';
import { SERVICE, callerAccount, createWorld, type World } from './stand-world.js';

let world: World;
let s3: S3Client;
let iam: IAMClient;
let runtime: Runtime;
const clock = new MovableClock();

/** Add-ons by role: N new (the subject), K kept, X destroyed later, F (fault) destroyed behind a 503. */
const ids: Record<'N' | 'K' | 'X' | 'F', string> = { N: '', K: '', X: '', F: '' };

/** Heroku requests and AWS calls made while `fn` runs. */
async function counted<T>(fn: () => Promise<T>) {
  world.fake.resetRequests();
  runtime.recorder.reset();
  const value = await fn();
  const heroku = world.fake.requests.map((r) => `${r.method} ${r.path.split('?')[0]}`);
  const aws = runtime.recorder.calls.map((c) => c.operation);
  return {
    value,
    heroku,
    herokuMutations: world.fake.mutatingRequests(),
    aws,
    awsReads: aws.filter((op) => !isMutation(op)),
    awsMutations: aws.filter((op) => isMutation(op)),
  };
}

const record = async (id: string) => (await runtime.store.resources.get(id)) as ResourceRecord;

beforeAll(async () => {
  world = await createWorld();
  const { fake } = world;
  // Three linked teams over two accounts (a full pass reads each), and one team not linked.
  for (const team of ['acme', 'beta', 'gamma', 'outsiders']) fake.addTeam({ name: team });
  for (const [app, team] of [['acme-web', 'acme'], ['acme-api', 'acme'], ['beta-web', 'beta'], ['gamma-web', 'gamma'], ['out-web', 'outsiders']] as const) {
    fake.addApp({ name: app, team });
  }
  ids.K = fake.addAddon({ app: 'acme-web', service: SERVICE, attachmentName: 'BUCKET' }).id;
  ids.X = fake.addAddon({ app: 'acme-api', service: SERVICE, attachmentName: 'BUCKET' }).id;
  ids.F = fake.addAddon({ app: 'beta-web', service: SERVICE, attachmentName: 'BUCKET' }).id;
  fake.addAddon({ app: 'gamma-web', service: SERVICE, attachmentName: 'BUCKET' });
  s3 = await world.s3(world.accountA);
  iam = await world.iam(world.accountA);
  runtime = await gcRuntime(world, { clock });
  for (const [team, account] of [['acme', world.accountA], ['beta', world.accountA], ['gamma', world.accountB]] as const) {
    const t = fake.team(team);
    await runtime.store.links.save({ teamId: t.id, teamName: t.name, accountId: account, region: null, auth: { kind: 'role', roleArn: world.roleArn(account), externalId: null } });
  }
  // The existing add-ons converge through full passes (the second one verifies and records the deep checks).
  clock.real();
  const first = await runtime.controller.reconcileOnce();
  expect(first.execution?.failed).toBe(0);
  const second = await runtime.controller.reconcileOnce();
  expect(second.execution?.applied).toBe(0);
}, 120_000);

afterAll(async () => {
  await runtime?.close();
  expect(world.fake.schemaViolations).toEqual([]);
  await world.stop();
});

describe('reconcileAddon', () => {
  let fullPassCost: { heroku: number; awsReads: number };

  it('a new add-on gets bucket, user, key and config vars from one keyed reconcile, with a handful of calls', async () => {
    const addon = world.fake.addAddon({ app: 'acme-web', service: SERVICE, attachmentName: 'FILES' });
    ids.N = addon.id;
    world.fake.attach({ addon: ids.N, app: 'acme-api', name: 'SHARED_FILES' });

    // What a full pass spends only to read, for comparison (a dry run reads as much as a real pass).
    const full = await counted(() => runtime.controller.reconcileOnce({ dryRun: true }));
    fullPassCost = { heroku: full.heroku.length, awsReads: full.awsReads.length };

    const keyed = await counted(() => runtime.controller.reconcileAddon(ids.N));
    const result = keyed.value;
    expect(result.heroku).toBe('found');
    expect(result.complete).toBe(true);
    expect(result.execution?.failed).toBe(0);
    // Heroku: the add-on, its app (team, region), its attachments; then one PATCH per attached app.
    expect([...keyed.heroku].sort()).toEqual(
      [
        `GET /addons/${ids.N}`,
        `GET /apps/${world.fake.app('acme-web').id}`,
        `GET /addons/${ids.N}/addon-attachments`,
        `PATCH /apps/${world.fake.app('acme-web').id}/config-vars`,
        `PATCH /apps/${world.fake.app('acme-api').id}/config-vars`,
      ].sort(),
    );
    // AWS reads: is the bucket there (ListBuckets by prefix), is the user there (GetUser), is it in
    // the other linked account (GetUser: an add-on without a record may have moved there before a
    // store loss), is there room for a user (GetAccountSummary, since there is none yet), and the
    // new bucket's tags right before they are written (merged over, never over an older read).
    expect(keyed.awsReads.filter((op) => op !== 'AssumeRole').sort()).toEqual(['GetAccountSummary', 'GetBucketTagging', 'GetUser', 'GetUser', 'ListBuckets']);
    expect(keyed.awsMutations).toContain('CreateBucket');
    expect(keyed.awsMutations).toContain('CreateUser');
    expect(keyed.awsMutations).toContain('CreateAccessKey');
    // Cheaper than a full pass's reads alone, whatever the fleet: 3 Heroku reads instead of one per linked team (and more).
    const keyedHerokuReads = keyed.heroku.filter((r) => r.startsWith('GET ')).length;
    expect(keyedHerokuReads).toBe(3);
    expect(keyedHerokuReads).toBeLessThan(fullPassCost.heroku);
    expect(keyed.awsReads.length).toBeLessThan(fullPassCost.awsReads);
    console.info(
      `single-key reconcile of a new add-on: ${keyedHerokuReads} Heroku reads + ${keyed.herokuMutations} PATCH, ` +
        `${keyed.awsReads.length} AWS reads + ${keyed.awsMutations.length} mutations; ` +
        `a full pass only to read: ${fullPassCost.heroku} Heroku requests, ${fullPassCost.awsReads} AWS reads`,
    );

    const r = await record(ids.N);
    expect(r.state).toBe('ready');
    expect(await bucketExists(s3, r.resourceName!)).toBe(true);
    expect((await accessKeys(iam, r.userName)).map((k) => k.id)).toEqual([r.accessKeyId]);
    for (const [app, prefix] of [['acme-web', 'FILES'], ['acme-api', 'SHARED_FILES']] as const) {
      const vars = world.fake.configVars(app);
      expect(vars[`${prefix}_BUCKET_NAME`]).toBe(r.resourceName);
      expect(vars[`${prefix}_AWS_ACCESS_KEY_ID`]).toBe(r.accessKeyId);
      expect(vars[`${prefix}_AWS_SECRET_ACCESS_KEY`]).toBe(r.secretAccessKey);
    }
    // The delivered key is a real one, of the team's account.
    expect(await callerAccount(r.accessKeyId!, r.secretAccessKey!)).toBe(world.accountA);
  });

  it('a second keyed reconcile verifies everything and changes nothing', async () => {
    const again = await counted(() => runtime.controller.reconcileAddon(ids.N));
    expect(again.value.complete).toBe(true);
    expect(again.value.actions).toEqual([]);
    expect(again.awsMutations).toEqual([]);
    expect(again.herokuMutations).toBe(0);
    // The repairs of the first call are verified in full: the bucket's settings, the keys, the config vars.
    expect(again.awsReads).toContain('GetBucketEncryption');
    expect(again.awsReads).toContain('ListAccessKeys');
    expect(again.heroku.filter((r) => r.endsWith('/config-vars'))).toHaveLength(2);
    console.info(`second keyed reconcile (deep check): ${again.heroku.length} Heroku reads, ${again.awsReads.length} AWS reads, 0 mutations`);
    // Deep-checked now: a third call reads only what tells existence and ownership.
    const third = await counted(() => runtime.controller.reconcileAddon(ids.N));
    expect(third.awsMutations).toEqual([]);
    expect(third.heroku).toHaveLength(3);
    expect(third.awsReads.filter((op) => op !== 'AssumeRole').sort()).toEqual(['GetBucketTagging', 'GetUser', 'ListBuckets', 'ListUserPolicies', 'GetUserPolicy'].sort());
    // And a full pass agrees that everything is in sync.
    const full = await counted(() => runtime.controller.reconcileOnce());
    expect(full.value.actions).toEqual([]);
  });

  it('a destroyed add-on is marked as an orphan with the grace period, not deleted, and no other add-on is marked', async () => {
    const x = await record(ids.X);
    const f = await record(ids.F);
    world.fake.destroyAddon(ids.X);
    world.fake.destroyAddon(ids.F); // also gone, but not the key being reconciled
    const run = await counted(() => runtime.controller.reconcileAddon(ids.X));
    expect(run.value.heroku).toBe('gone');
    expect(run.value.complete).toBe(true);
    expect(run.value.actions.map((a) => `${a.kind} ${a.addonId}`)).toEqual([`mark-orphan ${ids.X}`]);
    expect(run.awsMutations.filter((op) => op.startsWith('Delete'))).toEqual([]);
    expect(run.herokuMutations).toBe(0);
    const row = await recordRow(world, ids.X);
    expect(row?.orphan_reason).toBe('orphaned');
    expect(row?.delete_after?.getTime()).toBe(clock.now.getTime() + DAY);
    expect(await bucketExists(s3, x.resourceName!)).toBe(true);
    expect(await userExists(iam, x.userName)).toBe(true);
    // F is gone from Heroku too, but only its own key (or the full pass) may mark it.
    expect((await recordRow(world, ids.F))?.orphaned_at).toBeNull();
    expect((await record(ids.K)).orphan).toBeNull();
    expect((await record(ids.N)).orphan).toBeNull();
    expect(await bucketExists(s3, f.resourceName!)).toBe(true);
  });

  it('a 503, a 429 or a failed attachment read from Heroku decides nothing: no mark, no deletion, no AWS call', async () => {
    // The runtime's Heroku client waits out 429s (the request budget); a bare one lets a 429
    // surface at once, which is what a keyed reconcile must then handle.
    const bare = new Controller({
      config: runtime.config,
      store: runtime.store,
      ...controllerPorts(runtime.config, new HerokuApi({ url: world.fake.url, token: world.fake.token }), runtime.connector),
      logger: silentLogger(),
      clock: clock.read,
    });
    for (const [fault, controller] of [
      [{ path: `/addons/${ids.F}`, status: 503 }, runtime.controller],
      [{ path: `/addons/${ids.F}`, status: 500 }, runtime.controller],
      [{ path: `/addons/${ids.F}`, status: 429 }, bare],
    ] as const) {
      world.fake.failNext(fault);
      const run = await counted(() => controller.reconcileAddon(ids.F));
      expect(run.heroku, `${fault.status}`).toEqual([`GET /addons/${ids.F}`]);
      expect(run.value.heroku).toBe('unknown');
      expect(run.value.complete).toBe(false);
      expect(run.value.error).toContain(String(fault.status));
      expect(run.value.actions).toEqual([]);
      expect(run.aws).toEqual([]);
      expect(run.herokuMutations).toBe(0);
      expect((await recordRow(world, ids.F))?.orphaned_at).toBeNull();
    }
    // A live add-on whose attachments cannot be read: not "detached", just unknown.
    world.fake.failNext({ path: `/addons/${ids.K}/addon-attachments`, status: 503 });
    const live = await counted(() => runtime.controller.reconcileAddon(ids.K));
    expect(live.value.heroku).toBe('unknown');
    expect(live.value.actions).toEqual([]);
    expect(live.aws).toEqual([]);
    expect(live.herokuMutations).toBe(0);
    expect(Object.keys(world.fake.configVars('acme-web')).filter((k) => k.startsWith('BUCKET_'))).toHaveLength(5);
    // Once Heroku answers, the same key is marked as the full pass would.
    const after = await runtime.controller.reconcileAddon(ids.F);
    expect(after.heroku).toBe('gone');
    expect((await recordRow(world, ids.F))?.orphan_reason).toBe('orphaned');
  });

  it('an add-on of an unlinked team or of another service is not ours: nothing read in AWS, nothing done', async () => {
    const outsider = world.fake.addAddon({ app: 'out-web', service: SERVICE, attachmentName: 'BUCKET' });
    const otherService = world.fake.addAddon({ app: 'acme-web', service: 'heroku-postgresql', attachmentName: 'DATABASE' });
    for (const [id, heroku] of [[outsider.id, 3], [otherService.id, 1]] as const) {
      const run = await counted(() => runtime.controller.reconcileAddon(id));
      expect(run.value.heroku).toBe('not-ours');
      expect(run.value.actions).toEqual([]);
      expect(run.aws).toEqual([]);
      expect(run.heroku).toHaveLength(heroku);
      expect(run.herokuMutations).toBe(0);
      expect(await runtime.store.resources.get(id)).toBeNull();
    }
    expect(Object.keys(world.fake.configVars('out-web')).filter((k) => k.includes('AWS'))).toEqual([]);
    // An add-on id Heroku never had: gone, and nothing of ours to mark.
    const unknown = await counted(() => runtime.controller.reconcileAddon('01234567-89ab-4def-8123-456789abcdef'));
    expect(unknown.value.heroku).toBe('gone');
    expect(unknown.aws).toEqual([]);
  });

  it('a bucket or user with the deterministic names but without our ownership tags is never touched by a keyed reconcile', async () => {
    const addon = world.fake.addAddon({ app: 'acme-api', service: SERVICE, attachmentName: 'SQUAT' });
    const naming = { instanceId: world.instanceId, bucketPrefix: runtime.config.bucketPrefix, iamPath: runtime.config.iamPath, iamUserPrefix: runtime.config.iamUserPrefix };
    const bucket = bucketNameFor(naming, world.accountA, addon.id);
    const user = userNameFor(naming, addon.id);
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await iam.send(new CreateUserCommand({ UserName: user, Path: runtime.config.iamPath, Tags: [{ Key: 'owner', Value: 'someone-else' }] }));
    const run = await counted(() => runtime.controller.reconcileAddon(addon.id));
    expect(run.value.complete).toBe(true);
    expect(run.value.actions.filter((a) => a.kind === 'blocked').map((a) => a.reason)).toEqual(['not-owned']);
    // Only the intent record is written: no call changes the squatted bucket or user, no credentials go out.
    expect(run.awsMutations).toEqual([]);
    expect(run.herokuMutations).toBe(0);
    expect(await bucketTags(s3, bucket)).toEqual({});
    expect((await accessKeys(iam, user))).toEqual([]);
  });

  it('after the grace period a keyed reconcile leaves the teardown to the full pass (breaker), which starts it', async () => {
    const x = await record(ids.X);
    clock.advance(DAY + 60_000);
    const keyed = await counted(() => runtime.controller.reconcileAddon(ids.X));
    expect(keyed.value.complete).toBe(true);
    expect(keyed.awsMutations).toEqual([]);
    expect(keyed.herokuMutations).toBe(0);
    expect(keyed.value.actions.filter((a) => a.kind.startsWith('delete') || a.kind === 'forget-resource')).toEqual([]);
    expect(await bucketExists(s3, x.resourceName!)).toBe(true);
    expect((await recordRow(world, ids.X))?.teardown_started_at).toBeNull();
    // The full pass sees the whole account: two orphans due of the five add-ons recorded in account
    // A, under the breaker's limits (10, 0.5), so it tears both down.
    const full = await runtime.controller.reconcileOnce();
    expect(full.execution?.failed).toBe(0);
    expect(full.actions.some((a) => a.kind === 'trip-gc-breaker')).toBe(false);
    expect(full.actions.filter((a) => a.kind === 'delete-bucket').map((a) => a.addonId).sort()).toEqual([ids.F, ids.X].sort());
  });

  it('end to end: a signed api:addon create webhook over HTTP makes the leader deliver credentials', async () => {
    const secret = 'e2e-webhook-secret-7c41d2a9f0';
    const fastPath = new FastPath({ controller: runtime.controller, isLeader: () => true, logger: silentLogger(), webhookSecrets: [secret], coalesceMs: 0 });
    fastPath.start();
    const server = await startPublicListener(0, { routes: [fastPath.route!], requestsPerMinute: Number.MAX_SAFE_INTEGER }, '127.0.0.1');
    try {
      const addon = world.fake.addAddon({ app: 'beta-web', service: SERVICE, attachmentName: 'UPLOADS' });
      const event = JSON.parse(readFileSync(new URL('../../../shared/heroku/webhook-events/api-addon-create.json', import.meta.url), 'utf8'));
      event.data.id = addon.id;
      const body = JSON.stringify(event);
      const started = Date.now();
      const res = await fetch(`${server.url}${WEBHOOK_PATH}`, { method: 'POST', headers: { [SIGNATURE_HEADER]: signHerokuWebhook(body, secret) }, body });
      expect(res.status).toBe(202);
      await fastPath.idle();
      const r = await record(addon.id);
      expect(world.fake.configVars('beta-web')['UPLOADS_AWS_SECRET_ACCESS_KEY']).toBe(r.secretAccessKey);
      expect(await callerAccount(r.accessKeyId!, r.secretAccessKey!)).toBe(world.accountA);
      console.info(`webhook to credentials delivered: ${Date.now() - started} ms`);
    } finally {
      await fastPath.shutdown(5_000);
      await server.close();
    }
  });
});
