/**
 * `AwsConnector` (clients per linked account, cached) and `ApiCallRecorder` (one count per logical
 * AWS call, however often the SDK retries it) against moto.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { CreateAccessKeyCommand, CreateUserCommand, type IAMClient } from '@aws-sdk/client-iam';
import type { S3Client } from '@aws-sdk/client-s3';
import { AwsConnector, type ClientHook } from '../../../src/sinks/aws/connect.js';
import { ApiCallRecorder, isMutation, type ApiCall } from '../../../src/sinks/aws/api-calls.js';
import { createBucket, getBucketSettings, getBucketTags, listBuckets, putPublicAccessBlock } from '../../../src/sinks/aws/s3-bucket.js';
import { createAccessKey, createUser, deleteAccessKey, listAccessKeys, listUsers, putUserPolicy, tagUser } from '../../../src/sinks/aws/iam-user.js';
import { DESIRED_OBJECT_OWNERSHIP, DESIRED_PUBLIC_ACCESS_BLOCK, USER_POLICY_NAME, userPolicyDocument } from '../../../src/reconciler/spec.js';
import { bucketName, connectorOptions, newConnector, randomAccountId, rawClients, roleTarget } from './support.js';

const connectors: AwsConnector[] = [];
function track(c: AwsConnector): AwsConnector {
  connectors.push(c);
  return c;
}
afterAll(() => {
  for (const c of connectors) c.destroy();
});

/** Counts attempts on the wire, and fails the first `failFirst` attempts of `operation` with a 503. */
function flakyHook(operation: string, failFirst: number): { hook: ClientHook; attempts: () => number } {
  let attempts = 0;
  const hook: ClientHook = (client) => {
    (client as S3Client).middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== `${operation}Command`) return next(args);
        attempts += 1;
        if (attempts <= failFirst) {
          throw Object.assign(new Error('injected: service unavailable'), {
            name: 'ServiceUnavailable',
            $fault: 'server',
            $metadata: { httpStatusCode: 503 },
          });
        }
        return next(args);
      },
      { step: 'deserialize', name: 'test-flaky', override: true },
    );
  };
  return { hook, attempts: () => attempts };
}

describe('AwsConnector', () => {
  it('gives clients that act in the linked account, through the assumed role', async () => {
    const accountId = randomAccountId();
    const connector = track(newConnector());
    const clients = connector.connect(roleTarget(accountId));
    expect(clients.accountId).toBe(accountId);
    const who = await clients.sts.send(new GetCallerIdentityCommand({}));
    expect(who.Account).toBe(accountId);
    // The session is named after the controller instance (CloudTrail shows who acted).
    expect(who.Arn).toBe(`arn:aws:sts::${accountId}:assumed-role/x/heroku-s3-controller-test`);
    // IAM and S3 act there too.
    const bucket = bucketName();
    await createBucket(clients.s3('us-east-1'), bucket, 'us-east-1', {}, DESIRED_OBJECT_OWNERSHIP);
    expect((await listBuckets((await rawClients(accountId)).s3(), bucket)).map((b) => b.name)).toEqual([bucket]);
    await createUser(clients.iam, 'connect-user', '/p/', {});
    expect([...(await listUsers((await rawClients(accountId)).iam, '/p/')).keys()]).toEqual(['connect-user']);
  });

  it('passes an external id when the link has one', async () => {
    const accountId = randomAccountId();
    const connector = track(newConnector());
    const clients = connector.connect({ accountId, auth: { kind: 'role', roleArn: `arn:aws:iam::${accountId}:role/ext`, externalId: 'ext-123' } });
    expect((await clients.sts.send(new GetCallerIdentityCommand({}))).Account).toBe(accountId);
  });

  it('works with a link’s static keys', async () => {
    // An access key of an IAM user in a random account: moto acts in the account that owns it.
    const accountId = randomAccountId();
    const raw = await rawClients(accountId);
    await raw.iam.send(new CreateUserCommand({ UserName: 'linked' }));
    const key = (await raw.iam.send(new CreateAccessKeyCommand({ UserName: 'linked' }))).AccessKey!;
    const auth = { kind: 'keys' as const, accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
    const connector = track(newConnector());
    expect(connector.credentialsFor(auth)).toEqual({ accessKeyId: auth.accessKeyId, secretAccessKey: auth.secretAccessKey });
    const clients = connector.connect({ accountId, auth });
    const who = await clients.sts.send(new GetCallerIdentityCommand({}));
    expect(who.Account).toBe(accountId);
    expect(who.Arn).toBe(`arn:aws:iam::${accountId}:user/linked`);
    const sts = connector.stsFor(auth);
    expect((await sts.send(new GetCallerIdentityCommand({}))).Account).toBe(accountId);
    sts.destroy();
  });

  it('caches clients per link and S3 clients per region; hooks every client it makes once', async () => {
    const made: string[] = [];
    const connector = track(new AwsConnector(connectorOptions({ onClient: (_client, service) => made.push(service) })));
    const accountId = randomAccountId();
    const a = connector.connect(roleTarget(accountId));
    expect(made.sort()).toEqual(['iam', 'sts']);
    expect(connector.connect(roleTarget(accountId))).toBe(a);
    // Other credentials for the same account (the link changed): other clients.
    const b = connector.connect({ accountId, auth: { kind: 'role', roleArn: `arn:aws:iam::${accountId}:role/y`, externalId: null } });
    expect(b).not.toBe(a);
    made.length = 0;

    const us = a.s3('us-east-1');
    expect(a.s3('us-east-1')).toBe(us);
    const eu = a.s3('eu-west-1');
    expect(eu).not.toBe(us);
    expect(await us.config.region()).toBe('us-east-1');
    expect(await eu.config.region()).toBe('eu-west-1');
    expect(us.config.forcePathStyle).toBe(true);
    expect(made).toEqual(['s3', 's3']);

    // stsFor is not cached.
    made.length = 0;
    const s1 = connector.stsFor(roleTarget(accountId).auth);
    const s2 = connector.stsFor(roleTarget(accountId).auth);
    expect(s1).not.toBe(s2);
    expect(made).toEqual(['sts', 'sts']);
    expect((await s1.send(new GetCallerIdentityCommand({}))).Account).toBe(accountId);
    s1.destroy();
    s2.destroy();

    // destroy() forgets the cache.
    connector.destroy();
    expect(connector.connect(roleTarget(accountId))).not.toBe(a);
  });

  it('new credentials for an account (a rotated or changed link) replace its clients; the old ones are destroyed after a grace, not during a call', async () => {
    const made: { client: { destroy(): void }; service: string; destroyed: boolean }[] = [];
    let now = 1_000_000;
    const connector = track(
      new AwsConnector(
        connectorOptions({
          retireAfterMs: 60_000,
          now: () => now,
          onClient: (client, service) => {
            const entry = { client, service, destroyed: false };
            const destroy = client.destroy.bind(client);
            client.destroy = () => {
              entry.destroyed = true;
              destroy();
            };
            made.push(entry);
          },
        }),
      ),
    );
    const accountId = randomAccountId();
    const before = { accountId, auth: { kind: 'role' as const, roleArn: `arn:aws:iam::${accountId}:role/before`, externalId: null } };
    const after = { accountId, auth: { kind: 'role' as const, roleArn: `arn:aws:iam::${accountId}:role/before`, externalId: 'rotated' } };
    const old = connector.connect(before);
    old.s3('us-east-1');
    const oldClients = made.map((m) => m.client);
    expect(oldClients).toHaveLength(3);

    const fresh = connector.connect(after);
    expect(fresh).not.toBe(old);
    expect(connector.connect(after)).toBe(fresh);
    // A pass that took the old clients before the change may still be in a call: they live on a while.
    expect(made.filter((m) => m.destroyed)).toEqual([]);
    expect((await old.sts.send(new GetCallerIdentityCommand({}))).Account).toBe(accountId);

    now += 60_001;
    expect(connector.connect(after)).toBe(fresh);
    // The old iam, sts and s3 clients are destroyed; the new iam and sts are not.
    expect(made.map((m) => `${m.service}:${oldClients.includes(m.client) ? 'old' : 'new'}:${m.destroyed ? 'destroyed' : 'live'}`)).toEqual([
      'iam:old:destroyed',
      'sts:old:destroyed',
      's3:old:destroyed',
      'iam:new:live',
      'sts:new:live',
    ]);
    expect((await fresh.sts.send(new GetCallerIdentityCommand({}))).Account).toBe(accountId);

    connector.destroy();
    expect(made.every((m) => m.destroyed)).toBe(true);
  });

  it('uses the base credentials only to assume the role', async () => {
    // With base credentials that act in moto's default account, the clients still act in the link's account.
    const accountId = randomAccountId();
    const base = new STSClient({ region: 'us-east-1', endpoint: connectorOptions().aws.endpoints.sts!, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    expect((await base.send(new GetCallerIdentityCommand({}))).Account).toBe('123456789012');
    base.destroy();
    const clients = track(newConnector()).connect(roleTarget(accountId));
    expect((await clients.sts.send(new GetCallerIdentityCommand({}))).Account).toBe(accountId);
  });
});

describe('ApiCallRecorder', () => {
  it('isMutation: Get/List/Head/Describe are reads, everything else mutates', () => {
    for (const op of ['GetBucketPolicy', 'ListBuckets', 'HeadBucket', 'DescribeRegions', 'GetAccountAuthorizationDetails', 'ListAccessKeys', 'GetCallerIdentity']) {
      expect(isMutation(op)).toBe(false);
    }
    for (const op of ['CreateBucket', 'PutBucketPolicy', 'DeleteBucket', 'CreateUser', 'TagUser', 'PutUserPolicy', 'CreateAccessKey', 'DeleteAccessKey', 'UpdateAccessKey']) {
      expect(isMutation(op)).toBe(true);
    }
  });

  it('counts one call per logical operation with account, service, operation and outcome', async () => {
    const recorder = new ApiCallRecorder({ keepCalls: true });
    const heard: ApiCall[] = [];
    recorder.onCall((call) => heard.push(call));
    const accountId = randomAccountId();
    const clients = track(newConnector({ recorder })).connect(roleTarget(accountId));
    const s3 = clients.s3('us-east-1');
    const iam: IAMClient = clients.iam;
    const ours = (): Omit<ApiCall, 'accountId'>[] =>
      recorder.calls
        .filter((c) => c.service !== 'sts')
        .map(({ accountId: acct, ...rest }) => {
          expect(acct).toBe(accountId);
          return rest;
        });

    const bucket = bucketName();
    await createBucket(s3, bucket, 'us-east-1', {}, DESIRED_OBJECT_OWNERSHIP);
    expect(ours()).toEqual([{ service: 's3', operation: 'CreateBucket', outcome: 'ok' }]);

    recorder.reset();
    expect(recorder.calls).toEqual([]);
    // A deep check of a fresh bucket: seven reads, each answered "not configured" (an error
    // outcome), but ownership and versioning, which answer with a value.
    await getBucketSettings(s3, bucket);
    expect(ours().sort((x, y) => x.operation.localeCompare(y.operation))).toEqual(
      [
        'GetBucketCors',
        'GetBucketEncryption',
        'GetBucketLifecycleConfiguration',
        'GetBucketOwnershipControls',
        'GetBucketPolicy',
        'GetBucketVersioning',
        'GetPublicAccessBlock',
      ].map((operation) =>
        ['GetBucketOwnershipControls', 'GetBucketVersioning'].includes(operation) ? { service: 's3', operation, outcome: 'ok' } : { service: 's3', operation, outcome: 'error', failure: 'not-found' },
      ),
    );
    expect(recorder.mutations()).toEqual([]);

    recorder.reset();
    await putPublicAccessBlock(s3, bucket, DESIRED_PUBLIC_ACCESS_BLOCK);
    await getBucketTags(s3, bucket);
    await listBuckets(s3, bucket);
    await createUser(iam, 'rec-user', '/rec/', { a: '1' });
    await createUser(iam, 'rec-user', '/rec/', { a: '1' }); // EntityAlreadyExists: an error outcome; GetUser shows it is ours
    await tagUser(iam, 'rec-user', { b: '2' });
    await putUserPolicy(iam, 'rec-user', USER_POLICY_NAME, userPolicyDocument(bucket));
    const key = await createAccessKey(iam, 'rec-user');
    await listAccessKeys(iam, 'rec-user');
    await listUsers(iam, '/rec/');
    await deleteAccessKey(iam, 'rec-user', key.accessKeyId);
    expect(ours()).toEqual([
      { service: 's3', operation: 'PutPublicAccessBlock', outcome: 'ok' },
      { service: 's3', operation: 'GetBucketTagging', outcome: 'error', failure: 'not-found' }, // NoSuchTagSet, read as {}
      { service: 's3', operation: 'ListBuckets', outcome: 'ok' },
      { service: 'iam', operation: 'CreateUser', outcome: 'ok' },
      { service: 'iam', operation: 'CreateUser', outcome: 'error', failure: 'refused' },
      { service: 'iam', operation: 'GetUser', outcome: 'ok' },
      { service: 'iam', operation: 'TagUser', outcome: 'ok' },
      { service: 'iam', operation: 'PutUserPolicy', outcome: 'ok' },
      { service: 'iam', operation: 'CreateAccessKey', outcome: 'ok' },
      { service: 'iam', operation: 'ListAccessKeys', outcome: 'ok' },
      { service: 'iam', operation: 'GetAccountAuthorizationDetails', outcome: 'ok' },
      { service: 'iam', operation: 'DeleteAccessKey', outcome: 'ok' },
    ]);
    expect(recorder.mutations().map((c) => c.operation)).toEqual([
      'PutPublicAccessBlock',
      'CreateUser',
      'CreateUser',
      'TagUser',
      'PutUserPolicy',
      'CreateAccessKey',
      'DeleteAccessKey',
    ]);
    // Listeners hear every call, resets included.
    expect(heard.filter((c) => c.service !== 'sts')).toHaveLength(1 + 7 + 12);

    // The STS client of AccountClients is instrumented too.
    recorder.reset();
    await clients.sts.send(new GetCallerIdentityCommand({}));
    expect(recorder.calls).toEqual([{ accountId, service: 'sts', operation: 'GetCallerIdentity', outcome: 'ok' }]);
  });

  it('counts a call the SDK retried once, as ok', async () => {
    const recorder = new ApiCallRecorder({ keepCalls: true });
    const flaky = flakyHook('ListBuckets', 1);
    const clients = track(newConnector({ recorder, onClient: flaky.hook })).connect(roleTarget(randomAccountId()));
    await listBuckets(clients.s3('us-east-1'), 'anything');
    expect(flaky.attempts()).toBe(2);
    expect(recorder.calls.filter((c) => c.operation === 'ListBuckets')).toEqual([
      { accountId: clients.accountId, service: 's3', operation: 'ListBuckets', outcome: 'ok' },
    ]);
  });

  it('counts a call that failed every attempt once, as an error', async () => {
    const recorder = new ApiCallRecorder({ keepCalls: true });
    const flaky = flakyHook('GetAccountAuthorizationDetails', 100);
    const clients = track(newConnector({ recorder, onClient: flaky.hook })).connect(roleTarget(randomAccountId()));
    await expect(listUsers(clients.iam, '/x/')).rejects.toMatchObject({ name: 'ServiceUnavailable' });
    expect(flaky.attempts()).toBe(5); // the connector's maxAttempts
    expect(recorder.calls).toEqual([{ accountId: clients.accountId, service: 'iam', operation: 'GetAccountAuthorizationDetails', outcome: 'error', failure: 'unavailable' }]);
    expect(recorder.mutations()).toEqual([]);
  });
});
