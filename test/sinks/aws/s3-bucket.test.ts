/**
 * The S3 bucket sink against moto, through `AwsConnector` (AssumeRole into random accounts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  GetBucketLocationCommand,
  GetBucketLifecycleConfigurationCommand,
  PutBucketLifecycleConfigurationCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { AwsConnector, AccountClients } from '../../../src/sinks/aws/connect.js';
import {
  createBucket,
  getBucketSettings,
  getBucketTags,
  listBuckets,
  putBucketTags,
  putEncryption,
  putLifecycle,
  putOwnershipControls,
  putPublicAccessBlock,
  putBucketPolicy,
} from '../../../src/sinks/aws/s3-bucket.js';
import { errorCode } from '../../../src/sinks/aws/aws-errors.js';
import { ABORT_INCOMPLETE_MULTIPART_DAYS, canonicalPolicy, DESIRED_ENCRYPTION, DESIRED_OBJECT_OWNERSHIP, DESIRED_PUBLIC_ACCESS_BLOCK, LIFECYCLE_RULE_ID, TAG, tlsOnlyBucketPolicy } from '../../../src/reconciler/spec.js';
import type { BucketSettings } from '../../../src/reconciler/model.js';
import { TerminalError } from '../../../src/util/errors.js';
import { bucketName, newConnector, randomAccountId, rawClients, roleTarget } from './support.js';

const TAGS = { [TAG.instance]: 'test', [TAG.addonId]: 'addon-1', [TAG.appId]: 'app-1', [TAG.teamId]: 'team-1' };
const EMPTY_SETTINGS: BucketSettings = { publicAccessBlock: null, encryption: null, objectOwnership: null, policy: null, lifecycleRules: [], versioning: null, cors: null };

/**
 * createBucket sends the ownership tags in `CreateBucketConfiguration.Tags`. moto 5.2.1 ignores that
 * field (the bucket comes out untagged; plan() tags it afterwards as "ours, interrupted before
 * tagging"); AWS applies it. Either way the tags are all of ours or none, never partial or foreign.
 */
function expectCreateTags(tags: Record<string, string>): void {
  expect([{}, TAGS]).toContainEqual(tags);
}

let connector: AwsConnector;
let accountId: string;
let clients: AccountClients;
let s3: S3Client;
let raw: Awaited<ReturnType<typeof rawClients>>;

beforeAll(async () => {
  connector = newConnector();
  accountId = randomAccountId();
  clients = connector.connect(roleTarget(accountId));
  s3 = clients.s3('us-east-1');
  raw = await rawClients(accountId);
});

afterAll(() => {
  connector.destroy();
});

describe('createBucket', () => {
  it('creates the bucket, and a second call succeeds without a second bucket', async () => {
    const prefix = `hsc-${randomAccountId()}-`;
    const name = bucketName(prefix);
    await createBucket(s3, name, 'us-east-1', TAGS, DESIRED_OBJECT_OWNERSHIP);
    await createBucket(s3, name, 'us-east-1', TAGS, DESIRED_OBJECT_OWNERSHIP);
    const listed = await listBuckets(s3, prefix);
    expect(listed.map((b) => b.name)).toEqual([name]);
    expect(listed[0]!.creationDate).toBeInstanceOf(Date);
    expectCreateTags(await getBucketTags(s3, name));
    const location = await raw.s3().send(new GetBucketLocationCommand({ Bucket: name }));
    expect(location.LocationConstraint ?? null).toBeNull(); // us-east-1 answers no constraint
  });

  it('creates a bucket in eu-west-1 (LocationConstraint), idempotently', async () => {
    const prefix = `hsc-${randomAccountId()}-`;
    const name = bucketName(prefix);
    const eu = clients.s3('eu-west-1');
    await createBucket(eu, name, 'eu-west-1', TAGS, DESIRED_OBJECT_OWNERSHIP);
    // A second call in eu-west-1 is answered BucketAlreadyOwnedByYou: success.
    await createBucket(eu, name, 'eu-west-1', TAGS, DESIRED_OBJECT_OWNERSHIP);
    const location = await raw.s3('eu-west-1').send(new GetBucketLocationCommand({ Bucket: name }));
    expect(location.LocationConstraint).toBe('eu-west-1');
    // ListBuckets lists the whole account from any region.
    expect((await listBuckets(s3, prefix)).map((b) => b.name)).toEqual([name]);
    expectCreateTags(await getBucketTags(eu, name));
    expect(await getBucketSettings(eu, name)).toMatchObject({ objectOwnership: 'BucketOwnerEnforced' });
  });

  it.each(['us-east-1', 'eu-west-1'])('a name owned by another account (%s) is a TerminalError name-taken; the bucket is left alone', async (region) => {
    const other = randomAccountId();
    const theirs = await rawClients(other);
    const name = bucketName();
    await theirs.s3(region).send(
      new CreateBucketCommand({ Bucket: name, ...(region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }) }),
    );
    const err = await createBucket(clients.s3(region), name, region, TAGS, DESIRED_OBJECT_OWNERSHIP).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TerminalError);
    expect(err).toMatchObject({ code: 'name-taken' });
    expect((err as Error).message).toContain(name);
    // Not adopted: still theirs, untagged, and not in our account's listing.
    expect(await getBucketTags(theirs.s3(region), name)).toEqual({});
    expect((await listBuckets(s3, name)).map((b) => b.name)).toEqual([]);
    expect((await listBuckets(theirs.s3(), name)).map((b) => b.name)).toEqual([name]);
  });

  it('other errors pass through unchanged (an invalid bucket name)', async () => {
    // moto checks only the length (3-63) of a bucket name.
    const err = await createBucket(s3, `hsc-${'x'.repeat(70)}`, 'us-east-1', TAGS, DESIRED_OBJECT_OWNERSHIP).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).not.toBeNull();
    expect(err).not.toBeInstanceOf(TerminalError);
    expect(errorCode(err)).toBe('InvalidBucketName');
  });
});

describe('bucket settings', () => {
  it('a fresh bucket reports no settings: nulls and no lifecycle rules', async () => {
    const name = bucketName();
    await raw.s3().send(new CreateBucketCommand({ Bucket: name }));
    expect(await getBucketSettings(s3, name)).toEqual(EMPTY_SETTINGS);
    expect(await getBucketTags(s3, name)).toEqual({});
  });

  it('each put reads back exactly the desired setting, and touches no other', async () => {
    const name = bucketName();
    await raw.s3().send(new CreateBucketCommand({ Bucket: name }));
    let want: BucketSettings = { ...EMPTY_SETTINGS };

    await putPublicAccessBlock(s3, name, DESIRED_PUBLIC_ACCESS_BLOCK);
    want = { ...want, publicAccessBlock: { ...DESIRED_PUBLIC_ACCESS_BLOCK } };
    expect(await getBucketSettings(s3, name)).toEqual(want);

    await putEncryption(s3, name, DESIRED_ENCRYPTION);
    want = { ...want, encryption: { algorithm: 'AES256', kmsKeyId: null } };
    expect(await getBucketSettings(s3, name)).toEqual(want);

    await putOwnershipControls(s3, name, DESIRED_OBJECT_OWNERSHIP);
    want = { ...want, objectOwnership: 'BucketOwnerEnforced' };
    expect(await getBucketSettings(s3, name)).toEqual(want);

    await putLifecycle(s3, name, { ours: { id: LIFECYCLE_RULE_ID, abortIncompleteMultipartUploadDays: ABORT_INCOMPLETE_MULTIPART_DAYS }, otherRules: [] });
    let got = await getBucketSettings(s3, name);
    expect(got.lifecycleRules).toHaveLength(1);
    expect(got.lifecycleRules[0]).toMatchObject({
      id: LIFECYCLE_RULE_ID,
      enabled: true,
      prefix: '',
      abortIncompleteMultipartUploadDays: ABORT_INCOMPLETE_MULTIPART_DAYS,
    });
    want = { ...want, lifecycleRules: got.lifecycleRules };
    expect(got).toEqual(want);

    await putBucketPolicy(s3, name, tlsOnlyBucketPolicy(name));
    got = await getBucketSettings(s3, name);
    expect(got.policy).not.toBeNull();
    expect(canonicalPolicy(got.policy!)).toBe(canonicalPolicy(tlsOnlyBucketPolicy(name)));
    expect({ ...got, policy: null }).toEqual(want);

    // Writing every setting again changes nothing (idempotent repairs).
    await putPublicAccessBlock(s3, name, DESIRED_PUBLIC_ACCESS_BLOCK);
    await putEncryption(s3, name, DESIRED_ENCRYPTION);
    await putOwnershipControls(s3, name, DESIRED_OBJECT_OWNERSHIP);
    await putBucketPolicy(s3, name, tlsOnlyBucketPolicy(name));
    await putLifecycle(s3, name, { ours: { id: LIFECYCLE_RULE_ID, abortIncompleteMultipartUploadDays: ABORT_INCOMPLETE_MULTIPART_DAYS }, otherRules: got.lifecycleRules.filter((r) => r.id !== LIFECYCLE_RULE_ID).map((r) => r.raw) });
    expect(await getBucketSettings(s3, name)).toEqual(got);
  });

  it('createBucket sets BucketOwnerEnforced ownership at creation', async () => {
    const name = bucketName();
    await createBucket(s3, name, 'us-east-1', TAGS, DESIRED_OBJECT_OWNERSHIP);
    expect(await getBucketSettings(s3, name)).toMatchObject({ objectOwnership: 'BucketOwnerEnforced' });
  });

  it('putLifecycle keeps another rule, exactly as S3 returned it', async () => {
    const name = bucketName();
    await raw.s3().send(new CreateBucketCommand({ Bucket: name }));
    await raw.s3().send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: name,
        LifecycleConfiguration: {
          Rules: [{ ID: 'expire-tmp', Status: 'Enabled', Filter: { Prefix: 'tmp/' }, Expiration: { Days: 30 } }],
        },
      }),
    );
    const before = await getBucketSettings(s3, name);
    expect(before.lifecycleRules).toEqual([
      { id: 'expire-tmp', enabled: true, prefix: 'tmp/', abortIncompleteMultipartUploadDays: null, raw: expect.anything() },
    ]);

    const others = before.lifecycleRules.filter((r) => r.id !== LIFECYCLE_RULE_ID).map((r) => r.raw);
    await putLifecycle(s3, name, { ours: { id: LIFECYCLE_RULE_ID, abortIncompleteMultipartUploadDays: ABORT_INCOMPLETE_MULTIPART_DAYS }, otherRules: others });
    const after = await getBucketSettings(s3, name);
    expect(after.lifecycleRules.map((r) => r.id).sort()).toEqual(['expire-tmp', LIFECYCLE_RULE_ID].sort());
    const kept = after.lifecycleRules.find((r) => r.id === 'expire-tmp')!;
    expect(kept).toEqual(before.lifecycleRules[0]);
    const rules = (await raw.s3().send(new GetBucketLifecycleConfigurationCommand({ Bucket: name }))).Rules ?? [];
    expect(rules.find((r) => r.ID === 'expire-tmp')).toMatchObject({ Expiration: { Days: 30 }, Filter: { Prefix: 'tmp/' } });
    expect(rules.find((r) => r.ID === LIFECYCLE_RULE_ID)).toMatchObject({
      Status: 'Enabled',
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: ABORT_INCOMPLETE_MULTIPART_DAYS },
    });

    // A repair of a changed rule of ours (as plan() asks for it) keeps the other rule too.
    await putLifecycle(s3, name, { ours: { id: LIFECYCLE_RULE_ID, abortIncompleteMultipartUploadDays: ABORT_INCOMPLETE_MULTIPART_DAYS }, otherRules: after.lifecycleRules.filter((r) => r.id !== LIFECYCLE_RULE_ID).map((r) => r.raw) });
    expect((await getBucketSettings(s3, name)).lifecycleRules).toEqual(after.lifecycleRules);
  });

  it('putBucketTags replaces the tag set; getBucketTags of an untagged bucket is empty', async () => {
    const name = bucketName();
    await raw.s3().send(new CreateBucketCommand({ Bucket: name }));
    expect(await getBucketTags(s3, name)).toEqual({});
    await putBucketTags(s3, name, TAGS);
    expect(await getBucketTags(s3, name)).toEqual(TAGS);
    await putBucketTags(s3, name, { only: 'this' });
    expect(await getBucketTags(s3, name)).toEqual({ only: 'this' });
  });

  it('reading a bucket that does not exist fails with NoSuchBucket', async () => {
    const name = bucketName();
    await expect(getBucketSettings(s3, name)).rejects.toSatisfy((e: unknown) => errorCode(e) === 'NoSuchBucket');
    await expect(getBucketTags(s3, name)).rejects.toSatisfy((e: unknown) => errorCode(e) === 'NoSuchBucket');
  });
});

describe('listBuckets', () => {
  it('lists only the account’s buckets whose names start with the prefix', async () => {
    const acct = randomAccountId();
    const mine = newConnector().connect(roleTarget(acct)).s3('us-east-1');
    const prefix = `hsc-${acct}-`;
    const ours = [bucketName(prefix), bucketName(prefix), bucketName(prefix)];
    for (const name of ours) await createBucket(mine, name, 'us-east-1', TAGS, DESIRED_OBJECT_OWNERSHIP);
    const notOurs = bucketName(`other-${acct}-`);
    await createBucket(mine, notOurs, 'us-east-1', TAGS, DESIRED_OBJECT_OWNERSHIP);
    // Another account's bucket with our prefix is not listed.
    const other = await rawClients(randomAccountId());
    const foreign = bucketName(prefix);
    await other.s3().send(new CreateBucketCommand({ Bucket: foreign }));

    const listed = await listBuckets(mine, prefix);
    expect(listed.map((b) => b.name).sort()).toEqual([...ours].sort());
    for (const b of listed) expect(b.creationDate).toBeInstanceOf(Date);
    expect((await listBuckets(mine, '')).map((b) => b.name).sort()).toEqual([...ours, notOurs].sort());
    expect(await listBuckets(mine, `nothing-${acct}`)).toEqual([]);

    await (await rawClients(acct)).s3().send(new DeleteBucketCommand({ Bucket: ours[0] }));
    expect((await listBuckets(mine, prefix)).map((b) => b.name).sort()).toEqual(ours.slice(1).sort());
  });
});
