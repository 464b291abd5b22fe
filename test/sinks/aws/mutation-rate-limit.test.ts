/**
 * Client-side pacing of mutating AWS calls (safety invariant 9): the gate's arithmetic with a fake
 * clock, and the connector's middleware over real HTTP through the throttling proxy to moto.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateUserCommand, ListUsersCommand } from '@aws-sdk/client-iam';
import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import { AwsConnector } from '../../../src/sinks/aws/connect.js';
import { PacedGate } from '../../../src/sinks/aws/mutation-rate-limit.js';
import { MOTO_STATIC_CREDENTIALS, motoUrl, randomAccountId, randomName } from '../../support/stand.js';
import { ThrottlingProxy } from '../../support/throttling-proxy.js';

describe('PacedGate', () => {
  it('lets callers through one at a time, evenly spaced at the rate, first come first served', async () => {
    let now = 0;
    const slept: number[] = [];
    const gate = new PacedGate(4, { now: () => now, sleep: async (ms) => void (slept.push(ms), (now += ms)) });
    const order: number[] = [];
    const times: number[] = [];
    await Promise.all([0, 1, 2, 3, 4].map((i) => gate.acquire().then(() => void (order.push(i), times.push(now)))));
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(times).toEqual([0, 250, 500, 750, 1000]);
  });

  it('never waits when the rate is unlimited', async () => {
    const gate = new PacedGate(Infinity, { now: () => 0, sleep: () => Promise.reject(new Error('must not sleep')) });
    await Promise.all(Array.from({ length: 100 }, () => gate.acquire()));
  });

  it('a caller whose signal aborts gives up its turn without blocking the next', async () => {
    let now = 0;
    const gate = new PacedGate(1, { now: () => now, sleep: async (ms) => void (now += ms) });
    await gate.acquire();
    const aborted = AbortSignal.abort();
    await expect(gate.acquire(aborted)).rejects.toThrow();
    await gate.acquire();
    expect(now).toBe(1000);
  });
});

describe('AwsConnector pacing, through the throttling proxy', () => {
  let proxy: ThrottlingProxy;
  let connector: AwsConnector;

  beforeAll(async () => {
    proxy = await ThrottlingProxy.start({ target: motoUrl() });
    connector = new AwsConnector({
      aws: { region: 'us-east-1', endpoints: { s3: proxy.url, iam: proxy.url, sts: proxy.url, tagging: proxy.url }, forcePathStyle: true, mutationRates: { iamPerSecond: 5, s3PerSecond: 10 } },
      instanceId: 'pacing-test',
      baseCredentials: { ...MOTO_STATIC_CREDENTIALS },
    });
  });

  afterAll(async () => {
    connector.destroy();
    await proxy.close();
  });

  it('sends IAM mutations of one account at most 5 a second, reads unpaced, and S3 mutations at their own rate', async () => {
    const accountId = randomAccountId();
    const clients = connector.connect({ accountId, auth: { kind: 'role', roleArn: `arn:aws:iam::${accountId}:role/x`, externalId: null } });
    await clients.iam.send(new ListUsersCommand({})); // assumes the role
    proxy.reset();
    const started = Date.now();
    await Promise.all([
      ...Array.from({ length: 11 }, () => clients.iam.send(new CreateUserCommand({ UserName: randomName('p'), Path: '/pacing/' }))),
      ...Array.from({ length: 10 }, () => clients.iam.send(new ListUsersCommand({ PathPrefix: '/pacing/' }))),
    ]);
    const elapsed = Date.now() - started;
    // 11 calls at 5/s, the first at once: 2 s at least.
    expect(elapsed).toBeGreaterThanOrEqual(1_950);
    expect(proxy.maxInWindow((c) => c.service === 'iam' && c.mutation, 1_000)).toBeLessThanOrEqual(6);
    const reads = proxy.calls.filter((c) => c.operation === 'ListUsers').map((c) => c.at - started);
    expect(Math.max(...reads)).toBeLessThan(1_000);

    proxy.reset();
    const bucket = randomName('pace');
    await clients.s3('us-east-1').send(new CreateBucketCommand({ Bucket: bucket }));
    await clients.s3('us-east-1').send(new HeadBucketCommand({ Bucket: bucket }));
    const s3Calls = proxy.calls.filter((c) => c.service === 's3');
    expect(s3Calls.map((c) => [c.operation, c.mutation, c.accountId])).toEqual([['CreateBucket', true, accountId], ['HeadBucket', false, accountId]]);
  });
});
