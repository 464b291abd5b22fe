/**
 * Issue 3 end to end: every drift kind, one at a time. Each case tampers with one attribute through
 * the AWS SDK (moto) or the Heroku fake, then checks that `plan` reports exactly that one drift and
 * changes nothing, that `reconcile --once` (or an in-process pass, where the test counts calls)
 * repairs exactly that attribute, and that `plan` is then in sync again.
 */
import {
  DeleteBucketCommand,
  DeleteBucketEncryptionCommand,
  GetBucketCorsCommand,
  GetBucketVersioningCommand,
  PutBucketCorsCommand,
  PutBucketVersioningCommand,
  DeleteBucketLifecycleCommand,
  DeleteBucketPolicyCommand,
  DeletePublicAccessBlockCommand,
  HeadBucketCommand,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketOwnershipControlsCommand,
  PutBucketPolicyCommand,
  PutBucketTaggingCommand,
  PutPublicAccessBlockCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  ListUserPoliciesCommand,
  PutUserPolicyCommand,
  TagUserCommand,
  UpdateAccessKeyCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import { publishPass } from '../../src/metrics/pass-outcome.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DriftItem } from '../../src/reconciler/drift.js';
import { LIFECYCLE_RULE_ID, TAG, USER_POLICY_NAME, tlsOnlyBucketPolicy, userPolicyDocument } from '../../src/reconciler/spec.js';
import type { Runtime } from '../../src/runtime.js';
import type { ResourceRecord } from '../../src/store/types.js';
import { runCli } from '../support/cli.js';
import {
  accessKeys,
  bucketSnapshot,
  bucketTags,
  describeTags,
  expectInSync,
  inlinePolicies,
  inProcessRuntime,
  journalCount,
  mutationOps,
  planJson,
  reconcileJson,
  sql,
  userSnapshot,
} from './drift-support.js';
import { SERVICE, callerAccount, createWorld, type World } from './stand-world.js';

let world: World;
let runtime: Runtime;
let s3: S3Client;
let iam: IAMClient;
/** The link's own secret (a keys link), a canary that must never be printed. */
let linkSecret: string;

interface Managed {
  addonId: string;
  bucket: string;
  user: string;
  /** app name → attachment name */
  attachments: Record<string, string>;
  /** The add-on's app, team and ids, as its ownership tags carry them. */
  tags: Record<string, string>;
  /** Bucket and user as the first pass left them: a repair must restore exactly this. */
  converged: { bucket: Awaited<ReturnType<typeof bucketSnapshot>>; user: Awaited<ReturnType<typeof userSnapshot>> };
}
/** W: attached to two apps (key and config var cases); A: bucket settings and user policy; K: missing resources, tags. */
const managed: Record<'W' | 'A' | 'K', Managed> = {} as never;

beforeAll(async () => {
  world = await createWorld();
  // Every pass deep-checks every resource; the breaker never trips in this file.
  Object.assign(world.env, { DEEP_CHECK_WINDOW: '0', FLAP_MAX_REPAIRS: '1000' });
  const { fake } = world;
  fake.addTeam({ name: 'acme' });
  for (const name of ['acme-web', 'acme-admin', 'acme-api', 'acme-worker']) fake.addApp({ name, team: 'acme', region: 'us' });
  const w = fake.addAddon({ app: 'acme-web', service: SERVICE, attachmentName: 'BUCKET' });
  fake.attach({ addon: w.id, app: 'acme-admin', name: 'SHARED' });
  const a = fake.addAddon({ app: 'acme-api', service: SERVICE, attachmentName: 'MEDIA' });
  const k = fake.addAddon({ app: 'acme-worker', service: SERVICE, attachmentName: 'STORE' });
  fake.addAddon({ app: 'acme-web', service: 'heroku-postgresql' });

  s3 = await world.s3(world.accountA);
  iam = await world.iam(world.accountA);
  // A keys link (not a role): its secret is one more value that must never show.
  await iam.send(new CreateUserCommand({ UserName: 'controller-link', Path: '/' }));
  const linkKey = (await iam.send(new CreateAccessKeyCommand({ UserName: 'controller-link' }))).AccessKey!;
  linkSecret = linkKey.SecretAccessKey!;
  const linked = await runCli(['link', '--team', 'acme', '--access-key-id', linkKey.AccessKeyId!, '--secret-access-key', '-'], world.env, `${linkSecret}\n`);
  expect(linked.stderr).toBe('');
  expect(linked.code).toBe(0);
  expect(linked.stdout).toContain(`to AWS account ${world.accountA}`);

  const first = await reconcileJson(world);
  expect(first.stderr).toBe('');
  expect(first.code).toBe(0);
  expect(first.json.totals.failed).toBe(0);

  runtime = await inProcessRuntime(world);
  const team = fake.team('acme');
  for (const [label, addon, attachments] of [
    ['W', w, { 'acme-web': 'BUCKET', 'acme-admin': 'SHARED' }],
    ['A', a, { 'acme-api': 'MEDIA' }],
    ['K', k, { 'acme-worker': 'STORE' }],
  ] as const) {
    const record = (await runtime.store.resources.get(addon.id)) as ResourceRecord;
    expect(record.accessKeyId).toBeTruthy();
    managed[label] = {
      addonId: addon.id,
      bucket: record.resourceName!,
      user: record.userName,
      attachments,
      tags: { [TAG.instance]: world.instanceId, [TAG.addonId]: addon.id, [TAG.appId]: fake.app(addon.app.name).id, [TAG.teamId]: team.id },
      converged: { bucket: await bucketSnapshot(s3, record.resourceName!), user: await userSnapshot(iam, record.userName) },
    };
  }
  await expectInSync(world);
}, 180_000);

afterAll(async () => {
  await runtime?.close();
  expect(world.fake.schemaViolations).toEqual([]);
  await world.stop();
});

/** Heals whatever an earlier failed case may have left, so each case starts in sync. */
beforeEach(async () => {
  for (let i = 0; i < 3; i++) {
    if ((await runtime.controller.reconcileOnce()).actions.length === 0) return;
  }
  expect((await runtime.controller.reconcileOnce()).actions, 'in sync before the case').toEqual([]);
});

type Repair =
  /** `reconcile --once` through the CLI: exit 0, nothing failed. */
  | { via: 'cli' }
  /** One in-process pass whose mutating AWS calls are exactly these, and Heroku mutations this many. */
  | { via: 'in-process'; mutations: string[]; herokuMutations?: number };

interface DriftCase {
  tamper(): Promise<void>;
  /** The drift items `plan` must report, exactly (each matched as a subset of its fields). */
  items: Partial<DriftItem>[] | ((items: DriftItem[]) => void);
  /** Re-reads the tampered attribute after `plan`: still tampered. */
  stillTampered(): Promise<void>;
  repair: Repair;
  /** Reads the attribute back after the repair. */
  repaired(): Promise<void>;
}

async function driftCase(c: DriftCase): Promise<void> {
  await c.tamper();
  const journalBefore = await journalCount(world);
  const plan = await planJson(world);
  expect(plan.stderr).toBe('');
  // Each account is reported with its IAM user quota as GetAccountSummary gave it (moto: 5,000).
  expect(plan.json.accounts.find((a) => a.accountId === world.accountA)?.iamUserQuota).toEqual({ used: expect.any(Number), quota: 5000 });
  const items = [...plan.json.drift.items].sort((x, y) => x.resource.localeCompare(y.resource) || x.field.localeCompare(y.field));
  if (typeof c.items === 'function') c.items(items);
  else expect(items).toMatchObject(c.items.map((item) => ({ status: 'repairable', accountId: world.accountA, ...item })));
  expect(plan.code, 'plan exits 1 on drift').toBe(1);
  // The metric of each reported kind rises with the drift…
  const kinds = [...new Set(items.map((item) => item.kind))];
  for (const kind of kinds) expect(await driftGauge(kind), `drift_items{kind="${kind}"} while drifted`).toBeGreaterThan(0);
  // `plan` changed nothing: no journal line, and the attribute is still as tampered.
  expect(await journalCount(world)).toBe(journalBefore);
  await c.stillTampered();

  if (c.repair.via === 'cli') {
    const run = await reconcileJson(world);
    expect(run.stderr).toBe('');
    expect(run.json.totals.failed).toBe(0);
    expect(run.code).toBe(0);
  } else {
    runtime.recorder.reset();
    world.fake.resetRequests();
    const pass = await runtime.controller.reconcileOnce();
    expect(pass.execution?.failed).toBe(0);
    expect(mutationOps(runtime).sort(), 'mutating AWS calls of the repair').toEqual([...c.repair.mutations].sort());
    expect(world.fake.mutatingRequests(), 'mutating Heroku calls of the repair').toBe(c.repair.herokuMutations ?? 0);
  }
  await c.repaired();
  await expectInSync(world);
  // …and falls back to 0 once it is repaired.
  for (const kind of kinds) expect(await driftGauge(kind), `drift_items{kind="${kind}"} after the repair`).toBe(0);
}

/** `heroku_s3_controller_drift_items{account_id,kind}` after a planning pass, as /metrics shows it. */
async function driftGauge(kind: string): Promise<number> {
  publishPass(runtime.metrics, runtime.reports, await runtime.controller.reconcileOnce({ dryRun: true }));
  const body = (await runtime.metrics.render()).body;
  const line = body.split('\n').find((l) => l.startsWith(`heroku_s3_controller_drift_items{account_id="${world.accountA}",kind="${kind}"}`));
  return Number(line?.split(' ').at(-1) ?? NaN);
}

const keysOf = (m: Managed) => accessKeys(iam, m.user);
const recordOf = async (m: Managed) => (await runtime.store.resources.get(m.addonId)) as ResourceRecord;

/** Every attachment of the add-on carries the recorded key, whose secret works in the account. */
async function expectDelivered(m: Managed, accessKeyId: string): Promise<void> {
  const record = await recordOf(m);
  expect(record.accessKeyId).toBe(accessKeyId);
  for (const [app, name] of Object.entries(m.attachments)) {
    const vars = world.fake.configVars(app);
    expect(vars[`${name}_AWS_ACCESS_KEY_ID`], `${name}_AWS_ACCESS_KEY_ID on ${app}`).toBe(accessKeyId);
    expect(vars[`${name}_AWS_SECRET_ACCESS_KEY`]).toBe(record.secretAccessKey);
    expect(vars[`${name}_BUCKET_NAME`]).toBe(m.bucket);
    expect(vars[`${name}_URL`]).toBe(`s3://${m.bucket}`);
  }
  expect(await callerAccount(accessKeyId, record.secretAccessKey!)).toBe(world.accountA);
}

function appVars(m: Managed): Record<string, Record<string, string>> {
  return Object.fromEntries(Object.keys(m.attachments).map((app) => [app, world.fake.configVars(app)]));
}

describe('missing resources', () => {
  it('missing-bucket: a deleted bucket is reported as one item and recreated exactly as it was', async () => {
    const m = managed.K;
    const keysBefore = await keysOf(m);
    const varsBefore = appVars(m);
    await driftCase({
      async tamper() {
        await s3.send(new DeleteBucketPolicyCommand({ Bucket: m.bucket }));
        await s3.send(new DeleteBucketCommand({ Bucket: m.bucket }));
      },
      items: [{ kind: 'missing-bucket', addonId: m.addonId, resource: m.bucket, field: 'bucket', expected: 'exists', actual: 'missing' }],
      async stillTampered() {
        await expect(s3.send(new HeadBucketCommand({ Bucket: m.bucket }))).rejects.toMatchObject({ name: 'NotFound' });
      },
      repair: { via: 'cli' },
      async repaired() {
        expect(await bucketSnapshot(s3, m.bucket)).toEqual(m.converged.bucket);
        // The bucket keeps its name, so the key and the delivered credentials stay as they were.
        expect(await keysOf(m)).toEqual(keysBefore);
        expect(appVars(m)).toEqual(varsBefore);
      },
    });
  });

  it('missing-user: a deleted user is reported as one item, recreated with its policy, and given a new key that is delivered', async () => {
    const m = managed.K;
    const [oldKey] = await keysOf(m);
    await driftCase({
      async tamper() {
        for (const name of (await iam.send(new ListUserPoliciesCommand({ UserName: m.user }))).PolicyNames ?? []) {
          await iam.send(new DeleteUserPolicyCommand({ UserName: m.user, PolicyName: name }));
        }
        for (const key of await keysOf(m)) await iam.send(new DeleteAccessKeyCommand({ UserName: m.user, AccessKeyId: key.id }));
        await iam.send(new DeleteUserCommand({ UserName: m.user }));
      },
      items: [{ kind: 'missing-user', addonId: m.addonId, resource: m.user, field: 'user', expected: 'exists', actual: 'missing' }],
      async stillTampered() {
        expect((await userSnapshot(iam, m.user)).user).toEqual({ error: 'NoSuchEntityException' });
      },
      repair: { via: 'cli' },
      async repaired() {
        const now = await userSnapshot(iam, m.user);
        expect({ ...now, accessKeys: null }).toEqual({ ...m.converged.user, accessKeys: null });
        const keys = await keysOf(m);
        expect(keys).toHaveLength(1);
        expect(keys[0]!.id).not.toBe(oldKey!.id);
        expect(keys[0]!.status).toBe('Active');
        await expectDelivered(m, keys[0]!.id);
      },
    });
  });
});

describe('access keys', () => {
  it('missing-key (deleted): a new key is created and delivered to every attached app', async () => {
    const m = managed.W;
    const [oldKey] = await keysOf(m);
    await driftCase({
      tamper: () => iam.send(new DeleteAccessKeyCommand({ UserName: m.user, AccessKeyId: oldKey!.id })).then(() => undefined),
      items: [{ kind: 'missing-key', addonId: m.addonId, resource: m.user, field: 'accessKey', expected: `${oldKey!.id} active`, actual: 'missing' }],
      async stillTampered() {
        expect(await keysOf(m)).toEqual([]);
        expect(world.fake.configVars('acme-web').BUCKET_AWS_ACCESS_KEY_ID).toBe(oldKey!.id);
      },
      repair: { via: 'cli' },
      async repaired() {
        const keys = await keysOf(m);
        expect(keys).toHaveLength(1);
        expect(keys[0]).toMatchObject({ status: 'Active' });
        expect(keys[0]!.id).not.toBe(oldKey!.id);
        await expectDelivered(m, keys[0]!.id);
      },
    });
  });

  it('missing-key (deactivated): a new key is created and delivered, then the inactive one is deleted', async () => {
    const m = managed.W;
    const [oldKey] = await keysOf(m);
    await driftCase({
      tamper: () => iam.send(new UpdateAccessKeyCommand({ UserName: m.user, AccessKeyId: oldKey!.id, Status: 'Inactive' })).then(() => undefined),
      items: [{ kind: 'missing-key', addonId: m.addonId, resource: m.user, field: 'accessKey', expected: `${oldKey!.id} active`, actual: `${oldKey!.id} inactive` }],
      async stillTampered() {
        expect(await keysOf(m)).toEqual([{ id: oldKey!.id, status: 'Inactive' }]);
      },
      repair: { via: 'cli' },
      async repaired() {
        const keys = await keysOf(m);
        expect(keys).toHaveLength(1);
        expect(keys[0]!.id).not.toBe(oldKey!.id);
        expect(keys[0]!.status).toBe('Active');
        await expectDelivered(m, keys[0]!.id);
      },
    });
  });

  it('unrecorded-key: a key made by hand is deleted, the recorded one kept and nothing redelivered', async () => {
    const m = managed.A;
    const [recorded] = await keysOf(m);
    const varsBefore = appVars(m);
    let extra = '';
    await driftCase({
      async tamper() {
        extra = (await iam.send(new CreateAccessKeyCommand({ UserName: m.user }))).AccessKey!.AccessKeyId!;
      },
      items: (items) =>
        expect(items).toMatchObject([
          { kind: 'unrecorded-key', status: 'repairable', addonId: m.addonId, resource: extra, field: 'accessKeys', expected: `only ${recorded!.id}`, actual: `also ${extra}` },
        ]),
      async stillTampered() {
        expect((await keysOf(m)).map((k) => k.id).sort()).toEqual([recorded!.id, extra].sort());
      },
      repair: { via: 'in-process', mutations: ['DeleteAccessKey'] },
      async repaired() {
        expect(await keysOf(m)).toEqual([recorded]);
        expect(appVars(m)).toEqual(varsBefore);
      },
    });
  });
});

describe('user policy', () => {
  it('policy-changed: a loosened inline policy (s3:* on *) is put back exactly', async () => {
    const m = managed.A;
    const loose = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] });
    await driftCase({
      tamper: () => iam.send(new PutUserPolicyCommand({ UserName: m.user, PolicyName: USER_POLICY_NAME, PolicyDocument: loose })).then(() => undefined),
      items: (items) => {
        expect(items).toMatchObject([
          { kind: 'policy-changed', status: 'repairable', addonId: m.addonId, resource: m.user, field: `inline policy ${USER_POLICY_NAME}`, expected: userPolicyDocument(m.bucket) },
        ]);
        expect(JSON.parse(items[0]!.actual!)).toEqual(JSON.parse(loose));
      },
      async stillTampered() {
        expect(await inlinePolicies(iam, m.user)).toEqual({ [USER_POLICY_NAME]: JSON.parse(loose) });
      },
      repair: { via: 'in-process', mutations: ['PutUserPolicy'] },
      async repaired() {
        expect(await inlinePolicies(iam, m.user)).toEqual({ [USER_POLICY_NAME]: JSON.parse(userPolicyDocument(m.bucket)) });
        expect(await userSnapshot(iam, m.user)).toEqual(m.converged.user);
      },
    });
  });

  it('policy-changed: an extra inline policy added by hand is removed, ours kept', async () => {
    const m = managed.A;
    const extra = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iam:*', Resource: '*' }] });
    await driftCase({
      tamper: () => iam.send(new PutUserPolicyCommand({ UserName: m.user, PolicyName: 'added-by-hand', PolicyDocument: extra })).then(() => undefined),
      items: (items) => {
        expect(items).toMatchObject([
          { kind: 'policy-changed', status: 'repairable', addonId: m.addonId, resource: m.user, field: 'inline policy added-by-hand', expected: null },
        ]);
        expect(JSON.parse(items[0]!.actual!)).toEqual(JSON.parse(extra));
      },
      async stillTampered() {
        expect(Object.keys(await inlinePolicies(iam, m.user)).sort()).toEqual(['added-by-hand', USER_POLICY_NAME]);
      },
      repair: { via: 'cli' },
      async repaired() {
        expect(await userSnapshot(iam, m.user)).toEqual(m.converged.user);
      },
    });
  });
});

describe('bucket settings', () => {
  const DESIRED_PAB = JSON.stringify({ blockPublicAcls: true, ignorePublicAcls: true, blockPublicPolicy: true, restrictPublicBuckets: true });
  const OPEN_PAB = { BlockPublicAcls: false, IgnorePublicAcls: false, BlockPublicPolicy: false, RestrictPublicBuckets: false };

  it('public-access-block-changed (all four off): one PutPublicAccessBlock puts them back', async () => {
    const m = managed.A;
    await driftCase({
      tamper: () => s3.send(new PutPublicAccessBlockCommand({ Bucket: m.bucket, PublicAccessBlockConfiguration: OPEN_PAB })).then(() => undefined),
      items: [
        {
          kind: 'public-access-block-changed',
          addonId: m.addonId,
          resource: m.bucket,
          field: 'publicAccessBlock',
          expected: DESIRED_PAB,
          actual: JSON.stringify({ blockPublicAcls: false, ignorePublicAcls: false, blockPublicPolicy: false, restrictPublicBuckets: false }),
        },
      ],
      async stillTampered() {
        expect((await bucketSnapshot(s3, m.bucket)).publicAccessBlock).toEqual(OPEN_PAB);
      },
      repair: { via: 'in-process', mutations: ['PutPublicAccessBlock'] },
      async repaired() {
        expect(await bucketSnapshot(s3, m.bucket)).toEqual(m.converged.bucket);
      },
    });
  });

  it('public-access-block-changed (deleted): it is put back', async () => {
    const m = managed.A;
    await driftCase({
      tamper: () => s3.send(new DeletePublicAccessBlockCommand({ Bucket: m.bucket })).then(() => undefined),
      items: [{ kind: 'public-access-block-changed', addonId: m.addonId, resource: m.bucket, field: 'publicAccessBlock', expected: DESIRED_PAB, actual: null }],
      async stillTampered() {
        expect((await bucketSnapshot(s3, m.bucket)).publicAccessBlock).toEqual({ error: 'NoSuchPublicAccessBlockConfiguration' });
      },
      repair: { via: 'cli' },
      async repaired() {
        expect(await bucketSnapshot(s3, m.bucket)).toEqual(m.converged.bucket);
      },
    });
  });

  it('encryption-changed (deleted): one PutBucketEncryption puts SSE-S3 back', async () => {
    const m = managed.A;
    await driftCase({
      tamper: () => s3.send(new DeleteBucketEncryptionCommand({ Bucket: m.bucket })).then(() => undefined),
      items: [{ kind: 'encryption-changed', addonId: m.addonId, resource: m.bucket, field: 'encryption', expected: 'AES256', actual: null }],
      async stillTampered() {
        expect((await bucketSnapshot(s3, m.bucket)).encryption).toEqual({ error: 'ServerSideEncryptionConfigurationNotFoundError' });
      },
      repair: { via: 'in-process', mutations: ['PutBucketEncryption'] },
      async repaired() {
        expect(await bucketSnapshot(s3, m.bucket)).toEqual(m.converged.bucket);
      },
    });
  });

  it('versioning-changed (turned on by hand on a private plan): one PutBucketVersioning suspends it', async () => {
    const m = managed.A;
    const status = async () => (await s3.send(new GetBucketVersioningCommand({ Bucket: m.bucket }))).Status;
    await driftCase({
      tamper: () => s3.send(new PutBucketVersioningCommand({ Bucket: m.bucket, VersioningConfiguration: { Status: 'Enabled' } })).then(() => undefined),
      items: [{ kind: 'versioning-changed', addonId: m.addonId, resource: m.bucket, field: 'versioning', actual: 'Enabled' }],
      async stillTampered() {
        expect(await status()).toBe('Enabled');
      },
      repair: { via: 'in-process', mutations: ['PutBucketVersioning'] },
      async repaired() {
        // A versioned bucket can only be suspended, never unversioned again: that is its converged state now.
        expect(await status()).toBe('Suspended');
        (m.converged.bucket as { versioning: unknown }).versioning = 'Suspended';
      },
    });
  });

  it('cors-changed (a CORS rule added by hand to a private plan): it is removed', async () => {
    const m = managed.A;
    await driftCase({
      tamper: () =>
        s3
          .send(new PutBucketCorsCommand({ Bucket: m.bucket, CORSConfiguration: { CORSRules: [{ AllowedOrigins: ['*'], AllowedMethods: ['GET'] }] } }))
          .then(() => undefined),
      items: [{ kind: 'cors-changed', addonId: m.addonId, resource: m.bucket, field: 'cors', expected: 'none' }],
      async stillTampered() {
        expect((await s3.send(new GetBucketCorsCommand({ Bucket: m.bucket }))).CORSRules).toHaveLength(1);
      },
      repair: { via: 'in-process', mutations: ['DeleteBucketCors'] },
      async repaired() {
        await expect(s3.send(new GetBucketCorsCommand({ Bucket: m.bucket }))).rejects.toMatchObject({ name: 'NoSuchCORSConfiguration' });
      },
    });
  });

  it('encryption-changed (switched to KMS): SSE-S3 is put back', async () => {
    const m = managed.A;
    const kms = { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' as const, KMSMasterKeyID: `arn:aws:kms:us-east-1:${world.accountA}:key/1234abcd-12ab-34cd-56ef-1234567890ab` } };
    await driftCase({
      tamper: () => s3.send(new PutBucketEncryptionCommand({ Bucket: m.bucket, ServerSideEncryptionConfiguration: { Rules: [kms] } })).then(() => undefined),
      items: [{ kind: 'encryption-changed', addonId: m.addonId, resource: m.bucket, field: 'encryption', expected: 'AES256', actual: 'aws:kms' }],
      async stillTampered() {
        expect((await bucketSnapshot(s3, m.bucket)).encryption).toMatchObject({ Rules: [kms] });
      },
      repair: { via: 'cli' },
      async repaired() {
        expect(await bucketSnapshot(s3, m.bucket)).toEqual(m.converged.bucket);
      },
    });
  });

  it('ownership-changed (ObjectWriter): one PutBucketOwnershipControls puts BucketOwnerEnforced back', async () => {
    const m = managed.A;
    await driftCase({
      tamper: () =>
        s3.send(new PutBucketOwnershipControlsCommand({ Bucket: m.bucket, OwnershipControls: { Rules: [{ ObjectOwnership: 'ObjectWriter' }] } })).then(() => undefined),
      items: [{ kind: 'ownership-changed', addonId: m.addonId, resource: m.bucket, field: 'objectOwnership', expected: 'BucketOwnerEnforced', actual: 'ObjectWriter' }],
      async stillTampered() {
        expect((await bucketSnapshot(s3, m.bucket)).ownership).toEqual({ Rules: [{ ObjectOwnership: 'ObjectWriter' }] });
      },
      repair: { via: 'in-process', mutations: ['PutBucketOwnershipControls'] },
      async repaired() {
        expect(await bucketSnapshot(s3, m.bucket)).toEqual(m.converged.bucket);
      },
    });
  });

  it('tls-policy-changed (a public-read statement added): one PutBucketPolicy puts the TLS-only policy back', async () => {
    const m = managed.A;
    const ours = JSON.parse(tlsOnlyBucketPolicy(m.bucket));
    const publicRead = { Sid: 'PublicRead', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${m.bucket}/*` };
    const tampered = { ...ours, Statement: [...ours.Statement, publicRead] };
    await driftCase({
      tamper: () => s3.send(new PutBucketPolicyCommand({ Bucket: m.bucket, Policy: JSON.stringify(tampered) })).then(() => undefined),
      items: (items) => {
        expect(items).toMatchObject([
          { kind: 'tls-policy-changed', status: 'repairable', addonId: m.addonId, resource: m.bucket, field: 'bucketPolicy', expected: tlsOnlyBucketPolicy(m.bucket) },
        ]);
        expect(JSON.parse(items[0]!.actual!).Statement).toHaveLength(2);
      },
      async stillTampered() {
        expect((await bucketSnapshot(s3, m.bucket)).policy).toMatchObject({ Statement: [expect.anything(), { Sid: 'PublicRead' }] });
      },
      repair: { via: 'in-process', mutations: ['PutBucketPolicy'] },
      async repaired() {
        expect(await bucketSnapshot(s3, m.bucket)).toEqual(m.converged.bucket);
      },
    });
  });

  it('tls-policy-changed (policy deleted): it is put back', async () => {
    const m = managed.A;
    await driftCase({
      tamper: () => s3.send(new DeleteBucketPolicyCommand({ Bucket: m.bucket })).then(() => undefined),
      items: [{ kind: 'tls-policy-changed', addonId: m.addonId, resource: m.bucket, field: 'bucketPolicy', expected: tlsOnlyBucketPolicy(m.bucket), actual: null }],
      async stillTampered() {
        expect((await bucketSnapshot(s3, m.bucket)).policy).toEqual({ error: 'NoSuchBucketPolicy' });
      },
      repair: { via: 'cli' },
      async repaired() {
        expect(await bucketSnapshot(s3, m.bucket)).toEqual(m.converged.bucket);
      },
    });
  });

  it('lifecycle-changed (deleted): one PutBucketLifecycleConfiguration puts our rule back', async () => {
    const m = managed.A;
    await driftCase({
      tamper: () => s3.send(new DeleteBucketLifecycleCommand({ Bucket: m.bucket })).then(() => undefined),
      items: [{ kind: 'lifecycle-changed', addonId: m.addonId, resource: m.bucket, field: `lifecycle rule ${LIFECYCLE_RULE_ID}`, actual: null }],
      async stillTampered() {
        expect((await bucketSnapshot(s3, m.bucket)).lifecycle).toEqual({ error: 'NoSuchLifecycleConfiguration' });
      },
      repair: { via: 'in-process', mutations: ['PutBucketLifecycleConfiguration'] },
      async repaired() {
        expect(await bucketSnapshot(s3, m.bucket)).toEqual(m.converged.bucket);
      },
    });
  });

  it('lifecycle-changed (our rule disabled, a rule of someone else added): ours is enabled again, theirs kept', async () => {
    const m = managed.A;
    const theirs = { ID: 'expire-tmp', Status: 'Enabled' as const, Filter: { Prefix: 'tmp/' }, Expiration: { Days: 3 } };
    const oursDisabled = { ID: LIFECYCLE_RULE_ID, Status: 'Disabled' as const, Filter: { Prefix: '' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } };
    await driftCase({
      tamper: () =>
        s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: m.bucket, LifecycleConfiguration: { Rules: [theirs, oursDisabled] } })).then(() => undefined),
      items: [
        { kind: 'lifecycle-changed', addonId: m.addonId, resource: m.bucket, field: `lifecycle rule ${LIFECYCLE_RULE_ID}`, actual: 'disabled, prefix "", after 7 days' },
      ],
      async stillTampered() {
        expect((await bucketSnapshot(s3, m.bucket)).lifecycle).toMatchObject([{ ID: 'expire-tmp' }, { ID: LIFECYCLE_RULE_ID, Status: 'Disabled' }]);
      },
      repair: { via: 'cli' },
      async repaired() {
        const rules = (await bucketSnapshot(s3, m.bucket)).lifecycle as { ID: string }[];
        expect(rules.map((r) => r.ID).sort()).toEqual(['expire-tmp', LIFECYCLE_RULE_ID].sort());
        expect(rules.find((r) => r.ID === 'expire-tmp')).toMatchObject(theirs);
        expect(rules.find((r) => r.ID === LIFECYCLE_RULE_ID)).toEqual((m.converged.bucket.lifecycle as { ID: string }[]).find((r) => r.ID === LIFECYCLE_RULE_ID));
      },
    });
    // Back to the converged rules (ours alone) for the cases that follow.
    await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: m.bucket, LifecycleConfiguration: { Rules: m.converged.bucket.lifecycle as never } }));
    expect(await bucketSnapshot(s3, m.bucket)).toEqual(m.converged.bucket);
  });
});

describe('tags', () => {
  it('tags-changed (bucket): a wrong app-id tag is put right and a foreign tag kept', async () => {
    const m = managed.K;
    // A bucket's tags: the ownership tags and its add-on's plan.
    const tags = m.converged.bucket.tags as Record<string, string>;
    expect(tags).toEqual({ ...m.tags, [TAG.plan]: 's3-bucket:standard' });
    const wrong = { ...tags, [TAG.appId]: 'not-the-app' };
    await driftCase({
      async tamper() {
        const TagSet = Object.entries({ ...wrong, 'cost-center': 'cc-42' }).map(([Key, Value]) => ({ Key, Value }));
        await s3.send(new PutBucketTaggingCommand({ Bucket: m.bucket, Tagging: { TagSet } }));
      },
      items: [{ kind: 'tags-changed', addonId: m.addonId, resource: m.bucket, field: 'tags', expected: describeTags(tags), actual: describeTags(wrong) }],
      async stillTampered() {
        expect(await bucketTags(s3, m.bucket)).toEqual({ ...wrong, 'cost-center': 'cc-42' });
      },
      repair: { via: 'in-process', mutations: ['PutBucketTagging'] },
      async repaired() {
        expect(await bucketTags(s3, m.bucket)).toEqual({ ...tags, 'cost-center': 'cc-42' });
        const { tags: _tags, ...rest } = await bucketSnapshot(s3, m.bucket);
        const { tags: _was, ...restBefore } = m.converged.bucket;
        expect(rest).toEqual(restBefore);
      },
    });
  });

  it('tags-changed (user): a wrong app-id tag is put right and a foreign tag kept', async () => {
    const m = managed.K;
    const wrong = { ...m.tags, [TAG.appId]: 'not-the-app' };
    await driftCase({
      async tamper() {
        const Tags = Object.entries({ ...wrong, 'cost-center': 'cc-42' }).map(([Key, Value]) => ({ Key, Value }));
        await iam.send(new TagUserCommand({ UserName: m.user, Tags }));
      },
      items: [{ kind: 'tags-changed', addonId: m.addonId, resource: m.user, field: 'tags', expected: describeTags(m.tags), actual: describeTags(wrong) }],
      async stillTampered() {
        expect((await userSnapshot(iam, m.user)).tags).toEqual({ ...wrong, 'cost-center': 'cc-42' });
      },
      repair: { via: 'in-process', mutations: ['TagUser'] },
      async repaired() {
        expect((await userSnapshot(iam, m.user)).tags).toEqual({ ...m.tags, 'cost-center': 'cc-42' });
      },
    });
  });
});

describe('config vars', () => {
  it('config-vars-missing (a var removed): the same stored credentials are delivered again, no new key', async () => {
    const m = managed.W;
    const keysBefore = await keysOf(m);
    const varsBefore = appVars(m);
    await driftCase({
      tamper: async () => world.fake.setConfigVar('acme-web', 'BUCKET_URL', null),
      items: [{ kind: 'config-vars-missing', addonId: m.addonId, resource: 'acme-web', field: 'config vars BUCKET_URL', expected: 'as delivered', actual: 'BUCKET_URL missing' }],
      async stillTampered() {
        expect(world.fake.configVars('acme-web')).not.toHaveProperty('BUCKET_URL');
      },
      repair: { via: 'cli' },
      async repaired() {
        expect(appVars(m)).toEqual(varsBefore);
        expect(await keysOf(m)).toEqual(keysBefore);
      },
    });
  });

  it('config-vars-missing (a wrong secret): the stored secret is delivered again, with no AWS mutation at all', async () => {
    const m = managed.W;
    const keysBefore = await keysOf(m);
    const varsBefore = appVars(m);
    await driftCase({
      tamper: async () => world.fake.setConfigVar('acme-admin', 'SHARED_AWS_SECRET_ACCESS_KEY', 'pasted-by-hand-0123456789abcdefghij'),
      items: [
        {
          kind: 'config-vars-missing',
          addonId: m.addonId,
          resource: 'acme-admin',
          field: 'config vars SHARED_AWS_SECRET_ACCESS_KEY',
          expected: 'as delivered',
          actual: 'SHARED_AWS_SECRET_ACCESS_KEY differs',
        },
      ],
      async stillTampered() {
        expect(world.fake.configVars('acme-admin').SHARED_AWS_SECRET_ACCESS_KEY).toBe('pasted-by-hand-0123456789abcdefghij');
      },
      repair: { via: 'in-process', mutations: [], herokuMutations: 1 },
      async repaired() {
        expect(appVars(m)).toEqual(varsBefore);
        expect(await keysOf(m)).toEqual(keysBefore);
        await expectDelivered(m, keysBefore[0]!.id);
      },
    });
  });
});

describe('secrets never show (invariant 8)', () => {
  it('no delivered secret, link secret, Heroku token or Fernet key appears in plan, reconcile output, logs or the database', async () => {
    const secretsOnApps = () =>
      ['acme-web', 'acme-admin', 'acme-api', 'acme-worker'].flatMap((app) =>
        Object.entries(world.fake.configVars(app))
          .filter(([k]) => k.endsWith('_AWS_SECRET_ACCESS_KEY'))
          .map(([, v]) => v),
      );
    const canaries = new Set([linkSecret, world.env.HEROKU_API_TOKEN!, ...world.env.FERNET_KEYS!.split(','), ...secretsOnApps()]);
    expect(secretsOnApps()).toHaveLength(4);
    // Drift that makes the controller handle secrets: a var to redeliver from the store, and a
    // deleted key (a new secret is generated, stored and delivered).
    world.fake.setConfigVar('acme-admin', 'SHARED_AWS_SECRET_ACCESS_KEY', 'pasted-by-hand-0123456789abcdefghij');
    world.fake.setConfigVar('acme-api', 'MEDIA_AWS_ACCESS_KEY_ID', null);
    const [aKey] = await keysOf(managed.A);
    await iam.send(new DeleteAccessKeyCommand({ UserName: managed.A.user, AccessKeyId: aKey!.id }));

    const debug = { LOG_LEVEL: 'debug' };
    const outputs: { what: string; text: string }[] = [];
    const planJsonRun = await runCli(['plan', '-o', 'json'], { ...world.env, ...debug });
    expect(planJsonRun.code).toBe(1);
    const planText = await runCli(['plan'], { ...world.env, ...debug });
    expect(planText.code).toBe(1);
    expect(planText.stdout).toContain('config-vars-missing');
    const reconcile = await runCli(['reconcile', '--once'], { ...world.env, ...debug });
    expect(reconcile.code).toBe(0);
    expect(reconcile.stderr).not.toBe(''); // debug logging did log
    const again = await runCli(['reconcile', '--once', '-o', 'json'], { ...world.env, ...debug });
    expect(again.code).toBe(0);
    outputs.push(
      { what: 'plan -o json stdout', text: planJsonRun.stdout },
      { what: 'plan -o json stderr', text: planJsonRun.stderr },
      { what: 'plan stdout', text: planText.stdout },
      { what: 'plan stderr', text: planText.stderr },
      { what: 'reconcile stdout', text: reconcile.stdout },
      { what: 'reconcile stderr', text: reconcile.stderr },
      { what: 'second reconcile stdout', text: again.stdout },
      { what: 'second reconcile stderr', text: again.stderr },
    );
    // The new key's secret, generated during the pass, is a canary too: 3 add-ons' secrets (W's is
    // on two apps), the new one of A, the link secret, the Heroku token and the Fernet key.
    for (const secret of secretsOnApps()) canaries.add(secret);
    expect(canaries.size).toBe(3 + 1 + 3);

    const journal = await sql(world, 'SELECT * FROM journal ORDER BY id');
    expect(journal.length).toBeGreaterThan(0);
    outputs.push({ what: 'journal rows', text: JSON.stringify(journal) });
    const tables = await sql<{ table_name: string }>(world, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`);
    for (const { table_name } of tables) {
      outputs.push({ what: `table ${table_name}`, text: JSON.stringify(await sql(world, `SELECT * FROM "${table_name}"`)) });
    }
    const leaks = outputs.flatMap(({ what, text }) =>
      [...canaries].filter((secret) => text.includes(secret)).map((secret) => `${what} contains a secret starting ${secret.slice(0, 4)}`),
    );
    expect(leaks).toEqual([]);
    // And the repair did happen.
    await expectInSync(world);
  });
});
