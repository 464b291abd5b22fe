/**
 * Helpers of the change-events tests: an account and controller instance of the test's own on
 * the stand's moto (SQS, EventBridge, CloudFormation), a store, and CloudTrail-shaped events.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { ApiCallRecorder } from '../../src/sinks/aws/api-calls.js';
import { AwsConnector, type ClientHook } from '../../src/sinks/aws/connect.js';
import { CLOUDTRAIL_DETAIL_TYPE, eventResourceNames, PROBE_DETAIL_TYPE, PROBE_SOURCE, type EventNaming } from '../../src/change-events/catalogue.js';
import type { ChangeEventsSetupDeps } from '../../src/change-events/setup.js';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { Store } from '../../src/store/store.js';
import { accountClientConfig, freshPostgresDatabase, motoUrl, randomAccountId, randomName, type FreshDatabase } from '../support/stand.js';
import { roleTarget } from '../sinks/aws/support.js';

let db: FreshDatabase;
/** The test file's store (a fresh database), open from its beforeAll on. */
export let store: Store;
const connectors: AwsConnector[] = [];
const rawClients: { destroy(): void }[] = [];

/** Opens the file's store before its tests and closes it, with the clients made, after. */
export function useStand(): void {
  beforeAll(async () => {
    db = await freshPostgresDatabase('events_setup');
    store = await Store.open({ databaseUrl: db.url, dataDir: '/nonexistent', fernetKeys: SecretBox.generateKey() });
  });
  afterAll(async () => {
    for (const c of connectors) c.destroy();
    for (const c of rawClients) c.destroy();
    await store?.close();
    await db?.drop();
  });
}

/** A fresh account and instance of the test's own: nothing another test does is seen. */
export function world(options: { onClient?: ClientHook } = {}) {
  const accountId = randomAccountId();
  const naming: EventNaming = { instanceId: randomName('hsc'), bucketPrefix: `${randomName('hs3')}-`, iamUserPrefix: `${randomName('hs3u')}-` };
  const recorder = new ApiCallRecorder({ keepCalls: true });
  const url = motoUrl();
  const connector = new AwsConnector({
    aws: { region: 'us-east-1', endpoints: { sts: url, sqs: url, events: url }, forcePathStyle: true },
    instanceId: naming.instanceId,
    baseCredentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    recorder,
    ...(options.onClient ? { onClient: options.onClient } : {}),
  });
  connectors.push(connector);
  const deps: ChangeEventsSetupDeps = { clients: connector.connect(roleTarget(accountId)), eventSources: store.eventSources, naming };
  const names = eventResourceNames(naming.instanceId);
  return { accountId, naming, recorder, deps, names };
}

/** Plain clients in the account, to arrange and check beside the code under test. */
export async function raw(accountId: string, region = 'us-east-1') {
  const config = { ...(await accountClientConfig(accountId)), region };
  const clients = { sqs: new SQSClient(config), events: new EventBridgeClient(config), cfn: new CloudFormationClient(config) };
  rawClients.push(...Object.values(clients));
  return clients;
}

export function cloudTrailEvent(bucketName: string, eventName = 'DeleteBucketPublicAccessBlock') {
  return {
    Source: 'aws.s3',
    DetailType: CLOUDTRAIL_DETAIL_TYPE,
    // The shape of AWS's documented example of an S3 API call via CloudTrail, trimmed.
    Detail: JSON.stringify({
      eventVersion: '1.09',
      eventTime: '2026-01-05T10:00:00Z',
      eventSource: 's3.amazonaws.com',
      eventName,
      awsRegion: 'us-east-1',
      requestParameters: { bucketName, publicAccessBlock: '', Host: `${bucketName}.s3.amazonaws.com` },
      responseElements: null,
      eventType: 'AwsApiCall',
      managementEvent: true,
    }),
  };
}

export async function receiveAll(sqs: SQSClient, queueUrl: string): Promise<{ source: string; detail: Record<string, unknown> }[]> {
  const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
  return (out.Messages ?? []).map((m) => JSON.parse(m.Body!) as { source: string; detail: Record<string, unknown> });
}

/** Puts a change on our bucket, one on a foreign bucket and the probe; returns what reached the queue. */
export async function sendTestEvents(accountId: string, naming: EventNaming, queueUrl: string, region = 'us-east-1') {
  const { sqs, events } = await raw(accountId, region);
  const ours = `${naming.bucketPrefix}app-1`;
  const put = await events.send(
    new PutEventsCommand({
      Entries: [
        cloudTrailEvent(ours),
        cloudTrailEvent('someone-elses-bucket'),
        { Source: PROBE_SOURCE, DetailType: PROBE_DETAIL_TYPE, Detail: JSON.stringify({ instanceId: naming.instanceId, probeId: 'p1' }) },
        { Source: PROBE_SOURCE, DetailType: PROBE_DETAIL_TYPE, Detail: JSON.stringify({ instanceId: 'another-instance', probeId: 'p2' }) },
      ],
    }),
  );
  expect(put.FailedEntryCount ?? 0).toBe(0);
  const received = await receiveAll(sqs, queueUrl);
  return { ours, received };
}

export const mutations = (recorder: ApiCallRecorder) => recorder.mutations().map((c) => `${c.service}:${c.operation}`);

