/**
 * `observeAccount` against moto: the inventory in bulk (ListBuckets, the tagging API,
 * GetAccountAuthorizationDetails), then settings and keys of the resources marked `deep`; never a
 * mutation; `complete: false` (never a throw) when the account cannot be read. Also
 * `listInstanceBucketTags` (bucket-tags.ts), the bulk tag read.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, DeleteBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateUserCommand, DeleteUserCommand, type IAMClient } from '@aws-sdk/client-iam';
import { AwsConnector, type AccountClients, type ClientHook } from '../../../src/sinks/aws/connect.js';
import { ApiCallRecorder } from '../../../src/sinks/aws/api-calls.js';
import type { BucketSettings, ObservedAccount, ObservedBucket, ObserveOptions } from '../../../src/reconciler/ports.js';
import { awsBucketKind } from '../../../src/sinks/aws/bucket-kind.js';
import { observeAccount as observeWithKinds, observeAddonResources, type KindAdapters } from '../../../src/sinks/aws/observe-account.js';
import { listInstanceBucketTags } from '../../../src/sinks/aws/bucket-tags.js';
import { mapLimit } from '../../../src/util/map-limit.js';
import {
  createBucket,
  putBucketTags,
  putEncryption,
  putLifecycle,
  putOwnershipControls,
  putPublicAccessBlock,
  putBucketPolicy,
} from '../../../src/sinks/aws/s3-bucket.js';
import { createAccessKey, createUser, putUserPolicy } from '../../../src/sinks/aws/iam-user.js';
import { ABORT_INCOMPLETE_MULTIPART_DAYS, canonicalPolicy, DESIRED_ENCRYPTION, DESIRED_OBJECT_OWNERSHIP, DESIRED_PUBLIC_ACCESS_BLOCK, LIFECYCLE_RULE_ID, TAG, tlsOnlyBucketPolicy, USER_POLICY_NAME, userPolicyDocument } from '../../../src/reconciler/spec.js';
import { INSTANCE_ID, bucketName, connectorOptions, newConnector, randomAccountId, rawClients, roleTarget } from './support.js';

const PATH = '/heroku-s3-controller/';
const tagsFor = (addonId: string, instance = INSTANCE_ID) => ({ [TAG.instance]: instance, [TAG.addonId]: addonId, [TAG.appId]: 'app', [TAG.teamId]: 'team' });
const opts = (namePrefix: string, extra: Partial<ObserveOptions> = {}): ObserveOptions => ({
  instanceTag: { key: TAG.instance, value: INSTANCE_ID },
  addonTagKey: TAG.addonId,
  namePrefix,
  iamPath: PATH,
  listRegion: 'us-east-1',
  ...extra,
});

/** The bucket kind's adapter, as runtime.ts wires it. */
const KINDS: KindAdapters = new Map([['bucket', awsBucketKind]]);

/** What these tests expect: buckets (the bucket kind's resources) and users. */
interface ExpectedBuckets {
  buckets: { name: string; region: string; deep: boolean }[];
  users: { name: string; deep: boolean }[];
}

/** The full read, with the buckets expected as the bucket kind's resources. */
function observeAccount(clients: AccountClients, expected: ExpectedBuckets, options: ObserveOptions): Promise<ObservedAccount> {
  return observeWithKinds(clients, { resources: expected.buckets.map((b) => ({ kind: 'bucket' as const, ...b })), users: expected.users }, options, KINDS);
}

/** The bucket kind's resources as observed. */
const bucketsOf = (observed: ObservedAccount) => (observed.resources.get('bucket') ?? new Map()) as Map<string, ObservedBucket>;
/** The buckets with this instance's tag that nothing expected names. */
const unknownBucketsOf = (observed: ObservedAccount) => observed.unknownResources!.get('bucket')!;

const connectors: AwsConnector[] = [];
function track(c: AwsConnector): AwsConnector {
  connectors.push(c);
  return c;
}
afterAll(() => {
  for (const c of connectors) c.destroy();
});

/** Runs `after` once, right after the first successful `operation` of a client (a real race). */
function afterOperation(operation: string, after: () => Promise<void>): ClientHook {
  let done = false;
  return (client) => {
    (client as S3Client).middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (!done && context.commandName === `${operation}Command`) {
          done = true;
          await after();
        }
        return result;
      },
      { step: 'initialize', name: 'test-after-operation', override: true },
    );
  };
}

/** Fails every attempt of `operation` with `code` (fault injection, as on an account whose policy denies it). */
function failOperation(operation: string, code: string, status: number): ClientHook {
  return (client) => {
    (client as IAMClient).middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === `${operation}Command`) {
          throw Object.assign(new Error(`injected ${code}`), { name: code, Code: code, $fault: 'client', $metadata: { httpStatusCode: status } });
        }
        return next(args);
      },
      { step: 'deserialize', name: 'test-fail-operation', override: true },
    );
  };
}

describe('a populated account', () => {
  const recorder = new ApiCallRecorder({ keepCalls: true });
  let accountId: string;
  let clients: AccountClients;
  let options: ObserveOptions;
  let expected: ExpectedBuckets;
  const names = {
    configured: '',
    bare: '',
    unexpected: '',
    unprefixed: '',
    missing: '',
    foreignTagged: '',
    lost: '',
  };
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    accountId = randomAccountId();
    const prefix = `hsc-${accountId}-`;
    options = opts(prefix);
    clients = track(newConnector({ recorder })).connect(roleTarget(accountId));
    const us = clients.s3('us-east-1');
    const eu = clients.s3('eu-west-1');
    for (const key of Object.keys(names) as (keyof typeof names)[]) names[key] = bucketName(key === 'unprefixed' ? `x-${accountId}-` : prefix);

    await createBucket(us, names.configured, 'us-east-1', tagsFor('a1'), DESIRED_OBJECT_OWNERSHIP);
    await putBucketTags(us, names.configured, tagsFor('a1'));
    await putPublicAccessBlock(us, names.configured, DESIRED_PUBLIC_ACCESS_BLOCK);
    await putEncryption(us, names.configured, DESIRED_ENCRYPTION);
    await putOwnershipControls(us, names.configured, DESIRED_OBJECT_OWNERSHIP);
    await putLifecycle(us, names.configured, { ours: { id: LIFECYCLE_RULE_ID, abortIncompleteMultipartUploadDays: ABORT_INCOMPLETE_MULTIPART_DAYS }, otherRules: [] });
    await putBucketPolicy(us, names.configured, tlsOnlyBucketPolicy(names.configured));
    await createBucket(eu, names.bare, 'eu-west-1', {}, DESIRED_OBJECT_OWNERSHIP);
    await createBucket(us, names.unexpected, 'us-east-1', {}, DESIRED_OBJECT_OWNERSHIP);
    await createBucket(us, names.unprefixed, 'us-east-1', {}, DESIRED_OBJECT_OWNERSHIP);
    // Tagged by another controller instance: not in the bulk read, so its tags are read one by one.
    await createBucket(us, names.foreignTagged, 'us-east-1', {}, DESIRED_OBJECT_OWNERSHIP);
    await putBucketTags(us, names.foreignTagged, tagsFor('a9', 'another-instance'));
    // Ours, but no record names it (a store lost mid-teardown): found by the tagging API.
    await createBucket(eu, names.lost, 'eu-west-1', tagsFor('a7'), DESIRED_OBJECT_OWNERSHIP);
    await putBucketTags(eu, names.lost, tagsFor('a7'));

    await createUser(clients.iam, 'user-a1', PATH, tagsFor('a1'));
    await putUserPolicy(clients.iam, 'user-a1', USER_POLICY_NAME, userPolicyDocument(names.configured));
    keys.a1 = (await createAccessKey(clients.iam, 'user-a1')).accessKeyId;
    await createUser(clients.iam, 'user-a2', PATH, tagsFor('a2'));
    await createUser(clients.iam, 'user-shallow', PATH, tagsFor('a3'));
    await createAccessKey(clients.iam, 'user-shallow');
    await createUser(clients.iam, 'user-unexpected', PATH, tagsFor('zz'));
    await createUser(clients.iam, 'user-elsewhere', '/other/', tagsFor('a4'));

    expected = {
      buckets: [
        { name: names.configured, region: 'us-east-1', deep: true },
        { name: names.bare, region: 'eu-west-1', deep: true },
        { name: names.missing, region: 'us-east-1', deep: true },
        { name: names.foreignTagged, region: 'us-east-1', deep: false },
      ],
      users: [
        { name: 'user-a1', deep: true },
        { name: 'user-a2', deep: true },
        { name: 'user-shallow', deep: false },
        { name: 'user-missing', deep: true },
        { name: 'user-elsewhere', deep: true },
      ],
    };
    recorder.reset();
  });

  it('is complete, with the expected buckets, their tags, and the settings of the deep ones', async () => {
    const observed = await observeAccount(clients, expected, options);
    expect(observed).toMatchObject({ accountId, complete: true, error: null });
    // Only expected buckets that exist: not the unexpected, unprefixed or missing ones.
    expect([...bucketsOf(observed).keys()].sort()).toEqual([names.configured, names.bare, names.foreignTagged].sort());

    const configured = bucketsOf(observed).get(names.configured)!;
    expect(configured.name).toBe(names.configured);
    expect(configured.creationDate).toBeInstanceOf(Date);
    expect(configured.tags).toEqual(tagsFor('a1'));
    const s = configured.settings as BucketSettings;
    expect(s.publicAccessBlock).toEqual(DESIRED_PUBLIC_ACCESS_BLOCK);
    expect(s.encryption).toEqual({ algorithm: 'AES256', kmsKeyId: null });
    expect(s.objectOwnership).toBe('BucketOwnerEnforced');
    expect(canonicalPolicy(s.policy!)).toBe(canonicalPolicy(tlsOnlyBucketPolicy(names.configured)));
    expect(s.lifecycleRules).toHaveLength(1);
    expect(s.lifecycleRules[0]).toMatchObject({ id: LIFECYCLE_RULE_ID, enabled: true, prefix: '', abortIncompleteMultipartUploadDays: ABORT_INCOMPLETE_MULTIPART_DAYS });

    // The eu-west-1 bucket was read through its own region.
    const bare = bucketsOf(observed).get(names.bare)!;
    expect(bare.tags).toEqual({});
    expect(bare.settings).toEqual({ publicAccessBlock: null, encryption: null, objectOwnership: 'BucketOwnerEnforced', policy: null, lifecycleRules: [], versioning: null, cors: null });

    // Not deep this pass: tags (read one by one, another instance's), no settings.
    const foreign = bucketsOf(observed).get(names.foreignTagged)!;
    expect(foreign.tags).toEqual(tagsFor('a9', 'another-instance'));
    expect(foreign.settings).toBeNull();
  });

  it('has the users under the path, with keys listed for the deep ones', async () => {
    const observed = await observeAccount(clients, expected, options);
    expect(observed.complete).toBe(true);
    // Every user under the path (the inventory), none missing; outside it only a user at a name
    // we expect: ours from another IAM_PATH, or someone else's squatting it (plan() decides by its
    // tags; issue 13, defect 4).
    expect([...observed.users.keys()].sort()).toEqual(['user-a1', 'user-a2', 'user-elsewhere', 'user-shallow', 'user-unexpected']);
    expect(observed.users.get('user-elsewhere')).toMatchObject({ path: '/other/', tags: tagsFor('a4'), accessKeys: [] });
    const a1 = observed.users.get('user-a1')!;
    expect(a1).toMatchObject({ userName: 'user-a1', path: PATH, tags: tagsFor('a1'), accessKeys: [{ accessKeyId: keys.a1, status: 'Active' }] });
    expect(canonicalPolicy(a1.inlinePolicies[USER_POLICY_NAME]!)).toBe(canonicalPolicy(userPolicyDocument(names.configured)));
    expect(observed.users.get('user-a2')).toEqual({ userName: 'user-a2', path: PATH, tags: tagsFor('a2'), inlinePolicies: {}, accessKeys: [] });
    // Keys are listed only for deep users: the others are inventory only.
    expect(observed.users.get('user-shallow')!.accessKeys).toBeNull();
    expect(observed.users.get('user-shallow')!.tags).toEqual(tagsFor('a3'));
    expect(observed.users.get('user-unexpected')!.accessKeys).toBeNull();
  });

  it('lists the buckets with this instance’s tag that nothing expected names, with their region and tags', async () => {
    const observed = await observeAccount(clients, expected, options);
    expect([...unknownBucketsOf(observed).values()]).toEqual([{ name: names.lost, region: 'eu-west-1', tags: tagsFor('a7') }]);
    // With nothing expected (the store lost), the home region's tagging API is read all the same,
    // and every bucket of ours is unknown (not the untagged one, nor another instance's).
    recorder.reset();
    const lost = await observeAccount(clients, { buckets: [], users: [] }, { ...options, homeRegion: 'us-east-1' });
    expect(Object.fromEntries([...unknownBucketsOf(lost).values()].map((b) => [b.name, b.region]))).toEqual({ [names.configured]: 'us-east-1', [names.lost]: 'eu-west-1' });
    expect(recorder.calls.filter((c) => c.service === 'tagging').map((c) => c.operation)).toEqual(['GetResources']);
    expect(recorder.calls.filter((c) => c.operation === 'GetBucketLocation')).toHaveLength(2);
    expect(recorder.mutations()).toEqual([]);
    // With buckets of ours present, only their regions are read: the home region adds no call.
    recorder.reset();
    await observeAccount(clients, expected, { ...options, homeRegion: 'us-west-2' });
    expect(recorder.calls.filter((c) => c.service === 'tagging')).toHaveLength(2);
  });

  it('mutates nothing, and reads in bulk plus one read per deep resource', async () => {
    recorder.reset();
    await observeAccount(clients, expected, options);
    expect(recorder.mutations()).toEqual([]);
    const count = (op: string) => recorder.calls.filter((c) => c.operation === op).length;
    expect(count('ListBuckets')).toBe(1);
    expect(count('GetAccountAuthorizationDetails')).toBe(1);
    expect(count('GetAccountSummary')).toBe(1);
    // One bulk tag read per region of the buckets present (us-east-1, eu-west-1).
    expect(recorder.calls.filter((c) => c.service === 'tagging').map((c) => c.operation)).toEqual(['GetResources', 'GetResources']);
    // Tags of buckets the bulk read did not return are read one by one (bare: untagged; foreign: another instance).
    expect(count('GetBucketTagging')).toBe(2);
    // Settings only for the deep buckets that exist; keys only for the deep users that exist
    // (user-elsewhere is one, outside the path).
    expect(count('GetBucketPolicy')).toBe(2);
    expect(count('GetBucketEncryption')).toBe(2);
    expect(count('ListAccessKeys')).toBe(3);
    expect(recorder.calls.every((c) => c.accountId === accountId)).toBe(true);
  });

  it('reads the IAM user quota and its use from GetAccountSummary, counting every user of the account', async () => {
    const observed = await observeAccount(clients, expected, options);
    // Five users in this (own) account, under the path or not; moto answers AWS's default quota.
    expect(observed.iamUserQuota).toEqual({ used: 5, quota: 5000 });
    expect(observed.iamUsersInAccount).toBe(5);
    expect(observed.warnings ?? []).toEqual([]);
    // It follows the account: one more user is one more used.
    const raw = await rawClients(accountId);
    await raw.iam.send(new CreateUserCommand({ UserName: 'quota-extra', Path: '/elsewhere/' }));
    try {
      expect((await observeAccount(clients, expected, options)).iamUserQuota).toEqual({ used: 6, quota: 5000 });
    } finally {
      await raw.iam.send(new DeleteUserCommand({ UserName: 'quota-extra' }));
    }
  });

  it('a targeted read asks for the quota only when the add-on\'s user is missing', async () => {
    const missing = await observeAddonResources(clients, { resource: null, user: { name: 'no-such-user', deep: false } }, options, KINDS);
    expect(missing).toMatchObject({ complete: true, iamUserQuota: { used: 5, quota: 5000 } });
    const present = await observeAddonResources(clients, { resource: null, user: { name: expected.users[0]!.name, deep: false } }, options, KINDS);
    expect(present.users.size).toBe(1);
    expect(present.iamUserQuota).toBeNull();
  });

  it('nothing deep: only the bulk reads, no settings and no keys', async () => {
    recorder.reset();
    const shallow: ExpectedBuckets = {
      buckets: expected.buckets.map((b) => ({ ...b, deep: false })),
      users: expected.users.map((u) => ({ ...u, deep: false })),
    };
    const observed = await observeAccount(clients, shallow, options);
    expect(observed.complete).toBe(true);
    for (const b of bucketsOf(observed).values()) expect(b.settings).toBeNull();
    for (const u of observed.users.values()) expect(u.accessKeys).toBeNull();
    expect(bucketsOf(observed).get(names.configured)!.tags).toEqual(tagsFor('a1'));
    expect(recorder.calls.map((c) => c.operation).filter((op) => /^Get(BucketPolicy|BucketEncryption|PublicAccessBlock)$|^ListAccessKeys$/.test(op))).toEqual([]);
  });

  it('is incomplete, and reads nothing, when a resource of a kind no adapter observes is expected', async () => {
    const observed = await observeWithKinds(clients, { resources: [{ kind: 'queue', name: 'q', region: 'us-east-1', deep: false }], users: [] }, options, KINDS);
    expect(observed).toMatchObject({ complete: false, error: expect.stringMatching(/no adapter observes resources of kind queue/) });
    const keyed = await observeAddonResources(clients, { resource: { kind: 'queue', name: 'q', region: 'us-east-1', deep: false }, user: { name: 'user-a1', deep: false } }, options, KINDS);
    expect(keyed).toMatchObject({ complete: false, error: expect.stringMatching(/no adapter observes resources of kind "queue"/) });
  });

  it('with nothing expected: complete, no buckets, the users under the path without keys', async () => {
    const observed = await observeAccount(clients, { buckets: [], users: [] }, { ...options, concurrency: 1 });
    expect(observed.complete).toBe(true);
    expect(bucketsOf(observed).size).toBe(0);
    expect([...observed.users.values()].map((u) => [u.userName, u.accessKeys])).toEqual(
      expect.arrayContaining([
        ['user-a1', null],
        ['user-a2', null],
        ['user-unexpected', null],
      ]),
    );
  });
});

describe('listInstanceBucketTags', () => {
  it('returns the buckets tagged with this instance, in this account only, across pages', async () => {
    const accountId = randomAccountId();
    const clients = track(newConnector()).connect(roleTarget(accountId));
    const us = clients.s3('us-east-1');
    // A page holds 100 resources (ResourcesPerPage; TagsPerPage 500 keeps moto's tag limit from
    // ending it sooner), so 110 buckets take 2 pages.
    const ours = Array.from({ length: 110 }, () => bucketName());
    await mapLimit(ours, 8, async (name, i) => {
      await createBucket(us, name, 'us-east-1', {}, DESIRED_OBJECT_OWNERSHIP);
      await putBucketTags(us, name, tagsFor(`addon-${i}`));
    });
    const otherInstance = bucketName();
    await createBucket(us, otherInstance, 'us-east-1', {}, DESIRED_OBJECT_OWNERSHIP);
    await putBucketTags(us, otherInstance, tagsFor('x', 'another-instance'));
    const untagged = bucketName();
    await createBucket(us, untagged, 'us-east-1', {}, DESIRED_OBJECT_OWNERSHIP);
    const otherAccount = track(newConnector()).connect(roleTarget(randomAccountId()));
    const theirs = bucketName();
    await createBucket(otherAccount.s3('us-east-1'), theirs, 'us-east-1', {}, DESIRED_OBJECT_OWNERSHIP);
    await putBucketTags(otherAccount.s3('us-east-1'), theirs, tagsFor('y'));

    const recorder = new ApiCallRecorder({ keepCalls: true });
    const counted = track(newConnector({ recorder })).connect(roleTarget(accountId));
    const got = await listInstanceBucketTags(counted.tagging('us-east-1'), { key: TAG.instance, value: INSTANCE_ID });
    expect([...got.keys()].sort()).toEqual([...ours].sort());
    expect(got.get(ours[7]!)).toEqual(tagsFor('addon-7'));
    expect(recorder.calls.length).toBeGreaterThanOrEqual(2);
    expect(new Set(recorder.calls.map((c) => `${c.service}:${c.operation}:${c.outcome}`))).toEqual(new Set(['tagging:GetResources:ok']));
    expect(await listInstanceBucketTags(counted.tagging('us-east-1'), { key: TAG.instance, value: 'no-such-instance' })).toEqual(new Map());
  });
});

describe('races and failures', () => {
  it('a bucket deleted between the listing and its reads is missing, and the read stays complete', async () => {
    const accountId = randomAccountId();
    const prefix = `hsc-${accountId}-`;
    const raw = await rawClients(accountId);
    const [stays, goes] = [bucketName(prefix), bucketName(prefix)];
    for (const name of [stays, goes]) await raw.s3().send(new CreateBucketCommand({ Bucket: name }));
    const clients = track(newConnector({ onClient: afterOperation('ListBuckets', async () => void (await raw.s3().send(new DeleteBucketCommand({ Bucket: goes })))) })).connect(
      roleTarget(accountId),
    );
    const observed = await observeAccount(clients, { buckets: [stays, goes].map((name) => ({ name, region: 'us-east-1', deep: true })), users: [] }, opts(prefix));
    expect(observed).toMatchObject({ complete: true, error: null });
    expect([...bucketsOf(observed).keys()]).toEqual([stays]);
  });

  it('a user deleted between the listing and its key listing is missing, and the read stays complete', async () => {
    const accountId = randomAccountId();
    const raw = await rawClients(accountId);
    for (const name of ['stays', 'goes']) await raw.iam.send(new CreateUserCommand({ UserName: name, Path: PATH }));
    const clients = track(
      newConnector({ onClient: afterOperation('GetAccountAuthorizationDetails', async () => void (await raw.iam.send(new DeleteUserCommand({ UserName: 'goes' })))) }),
    ).connect(roleTarget(accountId));
    const observed = await observeAccount(
      clients,
      { buckets: [], users: [{ name: 'stays', deep: true }, { name: 'goes', deep: true }] },
      opts('none-'),
    );
    expect(observed).toMatchObject({ complete: true, error: null });
    expect([...observed.users.keys()]).toEqual(['stays']);
    expect(observed.users.get('stays')!.accessKeys).toEqual([]);
  });

  it.each([
    ['a deep check', 'GetBucketEncryption'],
    ['the bucket listing', 'ListBuckets'],
    ['a single tag read', 'GetBucketTagging'],
    ['the user listing', 'GetAccountAuthorizationDetails'],
    ['a key listing', 'ListAccessKeys'],
  ])('AccessDenied on %s makes the read incomplete, without a throw', async (_label, operation) => {
    const accountId = randomAccountId();
    const prefix = `hsc-${accountId}-`;
    const raw = await rawClients(accountId);
    const bucket = bucketName(prefix);
    await raw.s3().send(new CreateBucketCommand({ Bucket: bucket }));
    await raw.iam.send(new CreateUserCommand({ UserName: 'u', Path: PATH }));
    const clients = track(newConnector({ onClient: failOperation(operation, 'AccessDenied', 403) })).connect(roleTarget(accountId));
    const observed = await observeAccount(clients, { buckets: [{ name: bucket, region: 'us-east-1', deep: true }], users: [{ name: 'u', deep: true }] }, opts(prefix));
    expect(observed.complete).toBe(false);
    expect(observed.error).toMatch(/^AccessDenied: /);
    expect(observed.accountId).toBe(accountId);
  });

  it('a bucket of ours whose region cannot be read (no s3:GetBucketLocation) comes without one, with a warning; the read stays complete', async () => {
    const accountId = randomAccountId();
    const prefix = `hsc-${accountId}-`;
    const raw = await rawClients(accountId);
    const bucket = bucketName(prefix);
    await raw.s3().send(new CreateBucketCommand({ Bucket: bucket }));
    await putBucketTags(raw.s3(), bucket, tagsFor('lost'));
    const clients = track(newConnector({ onClient: failOperation('GetBucketLocation', 'AccessDenied', 403) })).connect(roleTarget(accountId));
    const observed = await observeAccount(clients, { buckets: [], users: [] }, opts(prefix, { homeRegion: 'us-east-1' }));
    expect(observed).toMatchObject({ complete: true, error: null });
    expect([...unknownBucketsOf(observed).values()]).toEqual([{ name: bucket, region: null, tags: tagsFor('lost') }]);
    expect(observed.warnings).toEqual([expect.stringContaining(`bucket ${bucket} carries this instance's tag`)]);
    expect(observed.warnings![0]).toMatch(/AccessDenied.*s3:GetBucketLocation/);
  });

  it('a refused GetAccountSummary leaves the quota unknown, with a warning; the read stays complete', async () => {
    const accountId = randomAccountId();
    const raw = await rawClients(accountId);
    await raw.iam.send(new CreateUserCommand({ UserName: 'u', Path: PATH }));
    const clients = track(newConnector({ onClient: failOperation('GetAccountSummary', 'AccessDenied', 403) })).connect(roleTarget(accountId));
    const observed = await observeAccount(clients, { buckets: [], users: [{ name: 'u', deep: true }] }, opts('none-'));
    expect(observed).toMatchObject({ complete: true, error: null, iamUserQuota: null, iamUsersInAccount: 1 });
    expect([...observed.users.keys()]).toEqual(['u']);
    expect(observed.warnings).toEqual([expect.stringMatching(/IAM user quota could not be read \(AccessDenied: .*iam:GetAccountSummary/)]);
  });

  it('without the tagging API (S3-compatible stores, no tag:GetResources), reads each bucket\'s tags instead', async () => {
    const accountId = randomAccountId();
    const prefix = `hsc-${accountId}-`;
    const raw = await rawClients(accountId);
    const bucket = bucketName(prefix);
    await raw.s3().send(new CreateBucketCommand({ Bucket: bucket }));
    const recorder = new ApiCallRecorder({ keepCalls: true });
    const clients = track(newConnector({ recorder, onClient: failOperation('GetResources', 'AccessDenied', 403) })).connect(roleTarget(accountId));
    const observed = await observeAccount(clients, { buckets: [{ name: bucket, region: 'us-east-1', deep: false }], users: [] }, opts(prefix));
    expect(observed.complete).toBe(true);
    expect(bucketsOf(observed).get(bucket)!.tags).toEqual({});
    expect(recorder.calls.filter((c) => c.operation === 'GetBucketTagging')).toHaveLength(1);
  });

  it.each([
    ['an assumed role', 'role'],
    ['static keys', 'keys'],
  ] as const)('an unreachable endpoint (%s) makes the read incomplete, quickly and without a throw', async (_label, kind) => {
    const dead = 'http://127.0.0.1:1';
    const connector = track(
      new AwsConnector({
        ...connectorOptions(),
        aws: { region: 'us-east-1', endpoints: { s3: dead, iam: dead, sts: dead, tagging: dead }, forcePathStyle: true },
        requestTimeoutMs: 500,
      }),
    );
    const accountId = randomAccountId();
    const clients = connector.connect(
      kind === 'role' ? roleTarget(accountId) : { accountId, auth: { kind: 'keys', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret' } },
    );
    const started = Date.now();
    const observed = await observeAccount(clients, { buckets: [{ name: 'b', region: 'us-east-1', deep: true }], users: [{ name: 'u', deep: true }] }, opts('hsc-'));
    const elapsed = Date.now() - started;
    expect(observed.complete).toBe(false);
    expect(observed.error).toBeTruthy();
    expect(bucketsOf(observed).size).toBe(0);
    expect(observed.users.size).toBe(0);
    expect(elapsed).toBeLessThan(15_000);
  });

  it('an endpoint that accepts and never answers makes the read incomplete after REQUEST_TIMEOUT, rather than hang', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const url = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    try {
      const connector = track(new AwsConnector({ ...connectorOptions(), aws: { region: 'us-east-1', endpoints: { s3: url, iam: url, sts: url, tagging: url }, forcePathStyle: true }, requestTimeoutMs: 300 }));
      const clients = connector.connect({ accountId: randomAccountId(), auth: { kind: 'keys', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret' } });
      const observed = await observeAccount(clients, { buckets: [{ name: 'b', region: 'us-east-1', deep: true }], users: [{ name: 'u', deep: true }] }, opts('hsc-'));
      expect(observed.complete).toBe(false);
      expect(observed.error).toMatch(/timeout|timed out/i);
      expect(sockets.length).toBeGreaterThan(0);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});
