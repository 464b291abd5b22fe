/**
 * `events setup` with a link that may not do everything, on the AUTHENTICATING moto (real
 * signatures and IAM policy checks): the AccessDenied AWS answers is named with the permission to
 * add, and nothing is left half made (the queue this run created is deleted again).
 */
import { randomBytes } from 'node:crypto';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventResourceNames, type EventNaming } from '../../src/change-events/catalogue.js';
import { setUpChangeEvents } from '../../src/change-events/setup.js';
import { AwsConnector } from '../../src/sinks/aws/connect.js';
import { ApiCallRecorder } from '../../src/sinks/aws/api-calls.js';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { Store } from '../../src/store/store.js';
import { UserError } from '../../src/util/errors.js';
import { freshPostgresDatabase, motoAuthAdmin, motoAuthUrl, type FreshDatabase } from '../support/stand.js';

let db: FreshDatabase;
let store: Store;
const closers: { destroy(): void }[] = [];

beforeAll(async () => {
  db = await freshPostgresDatabase('events_denied');
  store = await Store.open({ databaseUrl: db.url, dataDir: '/nonexistent', fernetKeys: SecretBox.generateKey() });
});

afterAll(async () => {
  for (const c of closers) c.destroy();
  await store?.close();
  await db?.drop();
});

/** An IAM user of the admin's account allowed `actions` only (and STS's identity, which needs none). */
async function userAllowed(actions: string[]) {
  const admin = motoAuthAdmin();
  const iam = new IAMClient({ endpoint: motoAuthUrl(), region: 'us-east-1', credentials: { accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey } });
  closers.push(iam);
  const userName = `events-setup-${randomBytes(4).toString('hex')}`;
  await iam.send(new CreateUserCommand({ UserName: userName }));
  await iam.send(new PutUserPolicyCommand({ UserName: userName, PolicyName: 'only', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: actions, Resource: '*' }] }) }));
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName: userName }))).AccessKey!;
  return { accountId: admin.accountId, key: { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! }, admin };
}

describe('events setup without every permission', () => {
  it('names the IAM action AWS refused, and deletes the queue it had made', async () => {
    // Everything for the queue, and EventBridge reads, but not events:PutRule.
    const { accountId, key, admin } = await userAllowed(['sqs:*', 'events:DescribeRule', 'events:ListTagsForResource', 'events:ListTargetsByRule']);
    const url = motoAuthUrl();
    const naming: EventNaming = { instanceId: `hsc-${randomBytes(4).toString('hex')}`, bucketPrefix: 'hs3-', iamUserPrefix: 'hs3-' };
    const recorder = new ApiCallRecorder({ keepCalls: true });
    const connector = new AwsConnector({ aws: { region: 'us-east-1', endpoints: { sqs: url, events: url, sts: url }, forcePathStyle: true }, instanceId: naming.instanceId, recorder });
    closers.push(connector);
    const clients = connector.connect({ accountId, auth: { kind: 'keys', ...key } });
    const failure = await setUpChangeEvents({ clients, eventSources: store.eventSources, naming }, ['us-east-1']).then(
      () => null,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(UserError);
    const message = (failure as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toContain('events:PutRule');
    expect(message).toContain(`rule/${eventResourceNames(naming.instanceId).changesRule}`);
    // Nothing half made: the queue this run created (it got that far) is gone, and nothing was recorded.
    const calls = recorder.calls.map((c) => `${c.operation}${c.outcome === 'error' ? ' (error)' : ''}`);
    expect(calls).toEqual(expect.arrayContaining(['CreateQueue', 'PutRule (error)', 'DeleteQueue']));
    expect(calls.indexOf('DeleteQueue')).toBeGreaterThan(calls.indexOf('PutRule (error)'));
    const sqs = new SQSClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey } });
    closers.push(sqs);
    const queues = (await sqs.send(new ListQueuesCommand({ QueueNamePrefix: naming.instanceId }))).QueueUrls ?? [];
    expect(queues).toEqual([]);
    expect(await store.eventSources.forAccount(accountId)).toEqual([]);
  });
});
