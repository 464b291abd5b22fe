/**
 * The throttling proxy of the test support code (test/support/throttling-proxy.ts), over real HTTP
 * with the AWS SDK against moto: it forwards, names services and operations, learns accounts from
 * AssumeRole, throttles per account and service with AWS's own error shapes, and counts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateUserCommand, GetUserCommand, IAMClient, ListUsersCommand } from '@aws-sdk/client-iam';
import { CreateBucketCommand, HeadBucketCommand, ListBucketsCommand, PutBucketTaggingCommand, PutPublicAccessBlockCommand, S3Client, GetBucketTaggingCommand } from '@aws-sdk/client-s3';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { MOTO_STATIC_CREDENTIALS, motoUrl, randomAccountId, randomName } from '../support/stand.js';
import { ThrottlingProxy, parseAuthorization, s3Operation } from '../support/throttling-proxy.js';

let proxy: ThrottlingProxy;
const clients: { destroy(): void }[] = [];

beforeAll(async () => {
  proxy = await ThrottlingProxy.start({ target: motoUrl() });
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await proxy.close();
});

/** Clients through the proxy acting in `accountId` (AssumeRole through the proxy, so it learns the key). */
async function clientsIn(accountId: string, maxAttempts = 1) {
  const base = { endpoint: proxy.url, region: 'us-east-1', maxAttempts };
  const sts = new STSClient({ ...base, credentials: { ...MOTO_STATIC_CREDENTIALS } });
  const out = await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${accountId}:role/x`, RoleSessionName: 'proxy-test' }));
  sts.destroy();
  const c = out.Credentials!;
  const credentials = { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
  const iam = new IAMClient({ ...base, credentials });
  const s3 = new S3Client({ ...base, credentials, forcePathStyle: true });
  clients.push(iam, s3);
  return { iam, s3, accessKeyId: credentials.accessKeyId };
}

describe('naming calls', () => {
  it('reads the access key and the service from the SigV4 credential scope', () => {
    expect(parseAuthorization('AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20250101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=ab')).toEqual({ accessKeyId: 'ASIAEXAMPLE', service: 'iam' });
    expect(parseAuthorization('AWS4-HMAC-SHA256 Credential=K/20250101/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=ab').service).toBe('s3');
    expect(parseAuthorization('AWS4-HMAC-SHA256 Credential=K/20250101/us-east-1/tagging/aws4_request, Signature=ab').service).toBe('tagging');
    expect(parseAuthorization(undefined)).toEqual({ accessKeyId: '', service: 'unknown' });
  });

  it('names S3 operations from method, path and query', () => {
    const cases: [string, string, string][] = [
      ['GET', '/', 'ListBuckets'],
      ['PUT', '/b', 'CreateBucket'],
      ['HEAD', '/b', 'HeadBucket'],
      ['DELETE', '/b', 'DeleteBucket'],
      ['PUT', '/b?tagging', 'PutBucketTagging'],
      ['GET', '/b?tagging', 'GetBucketTagging'],
      ['PUT', '/b?publicAccessBlock', 'PutPublicAccessBlock'],
      ['GET', '/b?publicAccessBlock', 'GetPublicAccessBlock'],
      ['PUT', '/b?ownershipControls', 'PutBucketOwnershipControls'],
      ['PUT', '/b?encryption', 'PutBucketEncryption'],
      ['PUT', '/b?lifecycle', 'PutBucketLifecycleConfiguration'],
      ['GET', '/b?lifecycle', 'GetBucketLifecycleConfiguration'],
      ['PUT', '/b?policy', 'PutBucketPolicy'],
      ['DELETE', '/b?policy', 'DeleteBucketPolicy'],
      ['PUT', '/b?versioning', 'PutBucketVersioning'],
      ['PUT', '/b?cors', 'PutBucketCors'],
      ['GET', '/b?location', 'GetBucketLocation'],
      ['GET', '/b?versions&max-keys=1000', 'ListObjectVersions'],
      ['POST', '/b?delete', 'DeleteObjects'],
      ['GET', '/b?list-type=2', 'ListObjectsV2'],
      ['PUT', '/b/some/key.txt', 'PutObject'],
      ['GET', '/b/k?x-id=GetObject', 'GetObject'],
      ['DELETE', '/b/k', 'DeleteObject'],
    ];
    for (const [method, url, operation] of cases) expect(s3Operation(method, url), `${method} ${url}`).toBe(operation);
  });
});

describe('forwarding and counting', () => {
  it('forwards to moto, learns the account of assumed-role keys, and counts by service and operation', async () => {
    proxy.setLimits({});
    proxy.reset();
    const account = randomAccountId();
    const { iam, s3, accessKeyId } = await clientsIn(account);
    expect(proxy.accountOf(accessKeyId)).toBe(account);
    const user = randomName('u');
    await iam.send(new CreateUserCommand({ UserName: user, Path: '/proxy-test/' }));
    expect((await iam.send(new GetUserCommand({ UserName: user }))).User?.Arn).toContain(`::${account}:user/proxy-test/${user}`);
    const bucket = randomName('proxy');
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: [{ Key: 'k', Value: 'v' }] } }));
    expect((await s3.send(new GetBucketTaggingCommand({ Bucket: bucket }))).TagSet).toEqual([{ Key: 'k', Value: 'v' }]);
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    expect((await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name)).toContain(bucket);

    const stats = proxy.stats();
    expect(stats.byOperation).toEqual({
      'sts:AssumeRole': 1,
      'iam:CreateUser': 1,
      'iam:GetUser': 1,
      's3:CreateBucket': 1,
      's3:PutBucketTagging': 1,
      's3:GetBucketTagging': 1,
      's3:HeadBucket': 1,
      's3:ListBuckets': 1,
    });
    expect(stats.throttled).toBe(0);
    const ours = proxy.calls.filter((c) => c.service !== 'sts');
    expect(new Set(ours.map((c) => c.accountId))).toEqual(new Set([account]));
    expect(ours.filter((c) => c.mutation).map((c) => c.operation).sort()).toEqual(['CreateBucket', 'CreateUser', 'PutBucketTagging']);
    // The base credentials (not assumed) count as the default account.
    expect(proxy.calls.find((c) => c.service === 'sts')?.accountId).toBe('123456789012');
  });

  it('adds the configured latency to every call', async () => {
    const slow = await ThrottlingProxy.start({ target: motoUrl(), latencyMs: 150 });
    const iam = new IAMClient({ endpoint: slow.url, region: 'us-east-1', credentials: { ...MOTO_STATIC_CREDENTIALS }, maxAttempts: 1 });
    try {
      const started = Date.now();
      await iam.send(new ListUsersCommand({ PathPrefix: '/nobody-here/' }));
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    } finally {
      iam.destroy();
      await slow.close();
    }
  });
});

describe('throttling', () => {
  it("answers IAM mutations over the account's rate with 400 Throttling, the way IAM does, and leaves reads alone", async () => {
    proxy.setLimits({ iam: { mutations: { perSecond: 2, burst: 2 } } });
    proxy.reset();
    const { iam } = await clientsIn(randomAccountId());
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => iam.send(new CreateUserCommand({ UserName: randomName('t'), Path: '/proxy-test/' }))));
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error & { Code?: string; $metadata?: { httpStatusCode?: number }; Type?: string });
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    expect(refused).toHaveLength(4);
    for (const err of refused) {
      expect(err.name).toBe('Throttling');
      expect(err.message).toBe('Rate exceeded');
      expect(err.$metadata?.httpStatusCode).toBe(400);
    }
    // Reads have their own (here unlimited) bucket.
    await Promise.all(Array.from({ length: 5 }, () => iam.send(new ListUsersCommand({ PathPrefix: '/proxy-test/' }))));
    expect(proxy.stats()).toMatchObject({ throttled: 4, throttledByOperation: { 'iam:CreateUser': 4 } });
    expect(proxy.calls.filter((c) => c.throttled).every((c) => c.status === 400 && c.operation === 'CreateUser')).toBe(true);
  });

  it('answers S3 mutations over the rate with 503 SlowDown, per account', async () => {
    proxy.setLimits({ s3: { mutations: { perSecond: 1, burst: 1 } } });
    proxy.reset();
    const a = await clientsIn(randomAccountId());
    const b = await clientsIn(randomAccountId());
    const bucketA = randomName('pa');
    const bucketB = randomName('pb');
    // One token each: the other account's bucket is not drained by this one's calls.
    await a.s3.send(new CreateBucketCommand({ Bucket: bucketA }));
    await b.s3.send(new CreateBucketCommand({ Bucket: bucketB }));
    const err = (await a.s3.send(new PutPublicAccessBlockCommand({ Bucket: bucketA, PublicAccessBlockConfiguration: { BlockPublicAcls: true } })).catch((e: unknown) => e)) as Error & { $metadata?: { httpStatusCode?: number } };
    expect(err.name).toBe('SlowDown');
    expect(err.message).toBe('Please reduce your request rate.');
    expect(err.$metadata?.httpStatusCode).toBe(503);
    // Reads pass.
    await a.s3.send(new HeadBucketCommand({ Bucket: bucketA }));
    expect(proxy.stats().throttledByOperation).toEqual({ 's3:PutPublicAccessBlock': 1 });
  });

  it("lets the SDK's standard retries get through a short burst of throttling", async () => {
    proxy.setLimits({ iam: { mutations: { perSecond: 4, burst: 1 } } });
    proxy.reset();
    const { iam } = await clientsIn(randomAccountId(), 5);
    const users = Array.from({ length: 4 }, () => randomName('r'));
    await Promise.all(users.map((UserName) => iam.send(new CreateUserCommand({ UserName, Path: '/proxy-test/' }))));
    expect(proxy.stats().throttled).toBeGreaterThan(0);
    expect(proxy.calls.filter((c) => c.operation === 'CreateUser' && !c.throttled)).toHaveLength(4);
    // Admitted CreateUser calls never exceeded the bucket: burst 1 + 4/s.
    expect(proxy.maxInWindow((c) => c.operation === 'CreateUser', 1_000)).toBeLessThanOrEqual(5);
  });
});
