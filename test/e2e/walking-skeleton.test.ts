/**
 * Issue 2 end to end on real parts: the built CLI, the real AWS SDK against moto, the real
 * heroku-client against the schema-validated Heroku fake, and PostgreSQL.
 */
import {
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketOwnershipControlsCommand,
  GetBucketPolicyCommand,
  GetBucketTaggingCommand,
  GetPublicAccessBlockCommand,
  ListBucketsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { GetUserPolicyCommand, ListAccessKeysCommand, ListUsersCommand, type IAMClient } from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { publishPass } from '../../src/metrics/pass-outcome.js';
import { createRuntime } from '../../src/runtime.js';
import { TAG, USER_POLICY_NAME } from '../../src/reconciler/spec.js';
import { silentLogger } from '../../src/util/log.js';
import { runCli } from '../support/cli.js';
import { SERVICE, callerAccount, createWorld, type World } from './stand-world.js';

let world: World;
/** add-on id → the app names its attachments are on */
const expectedAttachments = new Map<string, { account: string; apps: { app: string; name: string }[] }>();

beforeAll(async () => {
  world = await createWorld();
  const { fake } = world;
  fake.addTeam({ name: 'acme' });
  fake.addTeam({ name: 'beta' });
  fake.addTeam({ name: 'gamma' }); // never linked
  for (const [name, team, region] of [
    ['acme-web', 'acme', 'us'],
    ['acme-eu', 'acme', 'eu'],
    ['acme-admin', 'acme', 'us'],
    ['beta-api', 'beta', 'us'],
    ['beta-review-1', 'beta', 'us'],
    ['beta-review-2', 'beta', 'us'],
    ['gamma-app', 'gamma', 'us'],
  ] as const) {
    fake.addApp({ name, team, region });
  }
  const add = (app: string, account: string, attachmentName = 'BUCKET') => {
    const addon = fake.addAddon({ app, service: SERVICE, attachmentName });
    expectedAttachments.set(addon.id, { account, apps: [{ app, name: attachmentName }] });
    return addon;
  };
  const shared = add('acme-web', 'A');
  fake.attach({ addon: shared.id, app: 'acme-admin', name: 'SHARED' });
  expectedAttachments.get(shared.id)!.apps.push({ app: 'acme-admin', name: 'SHARED' });
  add('acme-eu', 'A');
  add('beta-api', 'B');
  add('beta-review-1', 'B');
  add('beta-review-2', 'B', 'MEDIA');
  // Not ours: other services, and our service in a team that is not linked.
  fake.addAddon({ app: 'acme-web', service: 'heroku-postgresql' });
  fake.addAddon({ app: 'beta-api', service: 'papertrail' });
  fake.addAddon({ app: 'gamma-app', service: SERVICE });

  for (const [team, account] of [['acme', world.accountA], ['beta', world.accountB]] as const) {
    const linked = await runCli(['link', '--team', team, '--role-arn', world.roleArn(account)], world.env);
    expect(linked.stderr).toBe('');
    expect(linked.code).toBe(0);
    expect(linked.stdout).toContain(`to AWS account ${account}`);
  }
});

afterAll(async () => {
  expect(world.fake.schemaViolations).toEqual([]);
  await world.stop();
});

async function bucketsOf(s3: S3Client): Promise<string[]> {
  return ((await s3.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name!).sort();
}

async function usersOf(iam: IAMClient): Promise<string[]> {
  return ((await iam.send(new ListUsersCommand({}))).Users ?? []).map((u) => u.UserName!).sort();
}

describe('walking skeleton', () => {
  it('one `reconcile --once` gives each add-on its bucket, user, key and credentials', async () => {
    const run = await runCli(['reconcile', '--once', '--output', 'json'], world.env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary.totals.failed).toBe(0);
    expect(summary.teams.map((t: { team: string }) => t.team).sort()).toEqual(['acme', 'beta']);

    const accountOf = { A: world.accountA, B: world.accountB };
    for (const [label, accountId] of Object.entries(accountOf)) {
      const s3 = await world.s3(accountId);
      const iam = await world.iam(accountId);
      const addons = [...expectedAttachments].filter(([, e]) => e.account === label).map(([id]) => id);
      const buckets = await bucketsOf(s3);
      const users = await usersOf(iam);
      expect(buckets).toHaveLength(addons.length);
      expect(users).toHaveLength(addons.length);

      for (const addonId of addons) {
        const bucket = buckets.find((b) => b.includes(addonId))!;
        const user = users.find((u) => u.includes(addonId))!;
        expect(bucket, `bucket for ${addonId} in account ${accountId}`).toBeDefined();
        expect(user, `user for ${addonId} in account ${accountId}`).toBeDefined();
        await expectHardenedBucket(s3, bucket, addonId);
        await expectScopedUserPolicy(iam, user, bucket);

        const keys = (await iam.send(new ListAccessKeysCommand({ UserName: user }))).AccessKeyMetadata ?? [];
        expect(keys).toHaveLength(1);
        for (const { app, name } of expectedAttachments.get(addonId)!.apps) {
          const vars = world.fake.configVars(app);
          expect(vars[`${name}_BUCKET_NAME`]).toBe(bucket);
          expect(vars[`${name}_URL`]).toBe(`s3://${bucket}`);
          expect(vars[`${name}_AWS_ACCESS_KEY_ID`]).toBe(keys[0]!.AccessKeyId);
          expect(vars[`${name}_AWS_REGION`]).toBe(app === 'acme-eu' ? 'eu-west-1' : 'us-east-1');
          const secret = vars[`${name}_AWS_SECRET_ACCESS_KEY`]!;
          expect(secret).toMatch(/^\S{20,}$/);
          // The delivered key pair is a real one of the add-on's user, in the team's account.
          expect(await callerAccount(keys[0]!.AccessKeyId!, secret)).toBe(accountId);
        }
      }
    }
    // Six attachments on six apps got credentials; nothing else did.
    const withCredentials = ['acme-web', 'acme-eu', 'acme-admin', 'beta-api', 'beta-review-1', 'beta-review-2', 'gamma-app'].filter((app) =>
      Object.keys(world.fake.configVars(app)).some((k) => k.endsWith('_AWS_SECRET_ACCESS_KEY')),
    );
    expect(withCredentials).toEqual(['acme-web', 'acme-eu', 'acme-admin', 'beta-api', 'beta-review-1', 'beta-review-2']);
    expect(world.fake.configVars('gamma-app')).toEqual({});
  });

  it('a second pass makes zero mutating AWS or Heroku calls', async () => {
    const runtime = await createRuntime(loadConfig(world.env), silentLogger(), { baseCredentials: world.controllerCredentials, keepAwsCalls: true });
    const listings = [
      'GET /addon-attachments',
      ...['acme', 'beta'].flatMap((t) => [`GET /teams/${world.fake.team(t).id}/addons`, `GET /teams/${world.fake.team(t).id}/apps`]),
    ].sort();
    const herokuCalls = () => world.fake.requests.map((r) => `${r.method} ${r.path.split('?')[0]}`).sort();
    try {
      world.fake.resetRequests();
      const second = await runtime.controller.reconcileOnce();
      expect(second.actions).toEqual([]);
      expect(second.drift.summary).toMatchObject({ managed: 5, inSync: 5, drifted: 0 });
      expect(runtime.recorder.mutations()).toEqual([]);
      expect(runtime.recorder.calls.length).toBeGreaterThan(0); // it did look
      expect(world.fake.mutatingRequests()).toBe(0);
      // The first pass changed everything, so this one reads everything back in full, including
      // the config vars of the six attachment apps.
      const appIds = ['acme-web', 'acme-eu', 'acme-admin', 'beta-api', 'beta-review-1', 'beta-review-2'].map((a) => world.fake.app(a).id);
      expect(herokuCalls()).toEqual([...listings, ...appIds.map((id) => `GET /apps/${id}/config-vars`)].sort());

      publishPass(runtime.metrics, runtime.reports, second);
      expect(runtime.reports.latest?.summary).toMatchObject({ managed: 5, inSync: 5 });
      const scrape = (await runtime.metrics.render()).body;
      expect(scrape).toContain(`heroku_s3_controller_managed_resources{account_id="${world.accountA}",type="bucket"} 2`);
      expect(scrape).toContain(`heroku_s3_controller_managed_resources{account_id="${world.accountB}",type="iam_user"} 3`);
      expect(scrape).toContain(`heroku_s3_controller_managed_resources{account_id="${world.accountB}",type="access_key"} 3`);
      expect(scrape).toContain(`heroku_s3_controller_iam_users_quota_ratio{account_id="${world.accountA}"} 0.0004`);
      expect(scrape).toContain(`heroku_s3_controller_iam_users_quota{account_id="${world.accountA}"} 5000`);
      expect(scrape).toContain(`heroku_s3_controller_drift_items{account_id="${world.accountA}",kind="missing-bucket"} 0`);
      expect(scrape).toContain('heroku_s3_controller_reconcile_total{result="success"} 1');

      // Within DEEP_CHECK_WINDOW, a pass reads only the listings: 2 per team plus 1.
      world.fake.resetRequests();
      runtime.recorder.reset();
      const third = await runtime.controller.reconcileOnce();
      expect(third.actions).toEqual([]);
      expect(herokuCalls()).toEqual(listings);
      expect(runtime.recorder.calls.map((c) => c.operation).sort()).toEqual(
        ['GetAccountAuthorizationDetails', 'GetAccountAuthorizationDetails', 'GetAccountSummary', 'GetAccountSummary', 'GetResources', 'GetResources', 'GetResources', 'ListBuckets', 'ListBuckets'],
      );
    } finally {
      await runtime.close();
    }
  });
});

async function expectHardenedBucket(s3: S3Client, bucket: string, addonId: string): Promise<void> {
  const pab = (await s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }))).PublicAccessBlockConfiguration;
  expect(pab).toEqual({ BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });
  const enc = await s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
  expect(enc.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm).toBe('AES256');
  const own = await s3.send(new GetBucketOwnershipControlsCommand({ Bucket: bucket }));
  expect(own.OwnershipControls?.Rules?.[0]?.ObjectOwnership).toBe('BucketOwnerEnforced');
  const policy = JSON.parse((await s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy!);
  expect(policy.Statement).toHaveLength(1);
  expect(policy.Statement[0]).toMatchObject({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } });
  const lifecycle = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
  expect(lifecycle.Rules?.some((r) => r.Status === 'Enabled' && r.AbortIncompleteMultipartUpload?.DaysAfterInitiation === 7)).toBe(true);
  const tags = Object.fromEntries(((await s3.send(new GetBucketTaggingCommand({ Bucket: bucket }))).TagSet ?? []).map((t) => [t.Key, t.Value]));
  expect(tags[TAG.instance]).toBe(world.instanceId);
  expect(tags[TAG.addonId]).toBe(addonId);
}

async function expectScopedUserPolicy(iam: IAMClient, user: string, bucket: string): Promise<void> {
  const out = await iam.send(new GetUserPolicyCommand({ UserName: user, PolicyName: USER_POLICY_NAME }));
  const document = JSON.parse(decodeURIComponent(out.PolicyDocument!));
  const resources: string[] = document.Statement.flatMap((s: { Resource: string | string[]; Effect: string }) => {
    expect(s.Effect).toBe('Allow');
    return Array.isArray(s.Resource) ? s.Resource : [s.Resource];
  });
  expect(resources.sort()).toEqual([`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`]);
  const actions: string[] = document.Statement.flatMap((s: { Action: string | string[] }) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
  expect(actions.every((a) => a.startsWith('s3:') && !a.includes('*'))).toBe(true);
}

/** A middleware that lets `operation` succeed at AWS, then fails the call once, as a crash would. */
function crashAfter(operation: string) {
  let armed = true;
  return (client: { middlewareStack: { add: Function } }) => {
    client.middlewareStack.add(
      (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
        const result = await next(args);
        if (armed && context.commandName === `${operation}Command`) {
          armed = false;
          throw new Error(`injected crash right after ${operation}`);
        }
        return result;
      },
      { step: 'initialize', name: `crash-after-${operation}` },
    );
  };
}

describe('crash safety (invariant 6)', () => {
  it('a pass interrupted right after CreateBucket, then rerun, leaves no duplicate bucket, user or key', async () => {
    world.fake.addApp({ name: 'acme-review-7', team: 'acme', region: 'us' });
    const addon = world.fake.addAddon({ app: 'acme-review-7', service: SERVICE });
    const s3 = await world.s3(world.accountA);
    const iam = await world.iam(world.accountA);
    const before = { buckets: await bucketsOf(s3), users: await usersOf(iam) };

    const runtime = await createRuntime(loadConfig(world.env), silentLogger(), {
      keepAwsCalls: true,
      baseCredentials: world.controllerCredentials,
      onClient: crashAfter('CreateBucket'),
    });
    try {
      const interrupted = await runtime.controller.reconcileOnce();
      expect(interrupted.execution?.failed).toBe(1);
      const record = await runtime.store.resources.get(addon.id);
      expect(record?.resourceCreateStartedAt).toBeInstanceOf(Date);
      expect(record?.state).toBe('error');
    } finally {
      await runtime.close();
    }
    const afterCrash = await bucketsOf(s3);
    expect(afterCrash.filter((b) => b.includes(addon.id))).toHaveLength(1);
    expect((await usersOf(iam)).filter((u) => u.includes(addon.id))).toHaveLength(0);

    const rerun = await runCli(['reconcile', '--once', '--output', 'json'], world.env);
    expect(rerun.code).toBe(0);
    const buckets = await bucketsOf(s3);
    const users = await usersOf(iam);
    expect(buckets.filter((b) => !before.buckets.includes(b))).toHaveLength(1);
    expect(users.filter((u) => !before.users.includes(u))).toHaveLength(1);
    const bucket = buckets.find((b) => b.includes(addon.id))!;
    const user = users.find((u) => u.includes(addon.id))!;
    await expectHardenedBucket(s3, bucket, addon.id);
    expect((await iam.send(new ListAccessKeysCommand({ UserName: user }))).AccessKeyMetadata).toHaveLength(1);
    expect(world.fake.configVars('acme-review-7')['S3_BUCKET_BUCKET_NAME']).toBe(bucket);
  });

  it('a key created but never stored (crash before saving its secret) is deleted and replaced, never duplicated', async () => {
    world.fake.addApp({ name: 'acme-review-8', team: 'acme', region: 'us' });
    const addon = world.fake.addAddon({ app: 'acme-review-8', service: SERVICE });
    const iam = await world.iam(world.accountA);
    const runtime = await createRuntime(loadConfig(world.env), silentLogger(), {
      keepAwsCalls: true,
      baseCredentials: world.controllerCredentials,
      onClient: crashAfter('CreateAccessKey'),
    });
    let leaked: string | undefined;
    try {
      await runtime.controller.reconcileOnce();
      const record = await runtime.store.resources.get(addon.id);
      expect(record?.accessKeyId).toBeNull();
      const keys = (await iam.send(new ListAccessKeysCommand({ UserName: record!.userName }))).AccessKeyMetadata ?? [];
      expect(keys).toHaveLength(1); // created at AWS, secret lost
      leaked = keys[0]!.AccessKeyId;

      const rerun = await runtime.controller.reconcileOnce();
      expect(rerun.execution?.failed).toBe(0);
      const after = (await iam.send(new ListAccessKeysCommand({ UserName: record!.userName }))).AccessKeyMetadata ?? [];
      const stored = await runtime.store.resources.get(addon.id);
      expect(after.map((k) => k.AccessKeyId)).toEqual([stored!.accessKeyId]);
      expect(stored!.accessKeyId).not.toBe(leaked);
      expect(world.fake.configVars('acme-review-8')['S3_BUCKET_AWS_ACCESS_KEY_ID']).toBe(stored!.accessKeyId);
      const journal = await runtime.store.journal.list({ addonId: addon.id, limit: 1000 });
      expect(journal.some((e) => e.action === 'delete-access-key' && e.resource === leaked && e.phase === 'ok')).toBe(true);
    } finally {
      await runtime.close();
    }
  });
});
