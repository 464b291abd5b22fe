/**
 * Issue 17 on the stand (moto with S3, IAM, SQS and EventBridge; the Heroku fake; the real SDK):
 * change events found through `events setup`'s queue lead to a keyed reconcile with a deep check.
 *
 * CloudTrail's delivery is emulated as the issue says: the second writer's call is made on the
 * bucket, then the record CloudTrail would make of it is put on the account's default bus, in the
 * shape AWS documents for "AWS API Call via CloudTrail"; the rule `events setup` made sends it to
 * the queue. What else reaches a queue (duplicates, reordering, malformed, oversized, other
 * accounts' and foreign buckets' events) is sent to the queue directly, as anyone allowed to send
 * to it could: none of it changes anything, and all of it is counted. A deleted queue is reported
 * for the account at the next poll, and the loop goes on with deep checks.
 */
import { randomUUID } from 'node:crypto';
import { DeletePublicAccessBlockCommand, GetPublicAccessBlockCommand, type S3Client } from '@aws-sdk/client-s3';
import { DisableRuleCommand, EnableRuleCommand, EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DeleteQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOUDTRAIL_DETAIL_TYPE, eventResourceNames } from '../../src/change-events/catalogue.js';
import type { ChangeEventLane } from '../../src/change-events/change-event-lane.js';
import { setUpChangeEvents } from '../../src/change-events/setup.js';
import { createFastLane, type FastLane } from '../../src/fast-lane/fast-lane.js';
import { changeEventLane, type Runtime } from '../../src/runtime.js';
import { isMutation } from '../../src/sinks/aws/api-calls.js';
import { bucketNameFor, DESIRED_PUBLIC_ACCESS_BLOCK } from '../../src/reconciler/spec.js';
import type { EventSource } from '../../src/store/event-source-store.js';
import { accountClientConfig } from '../support/stand.js';
import { MovableClock, gcRuntime } from './gc-support.js';
import { SERVICE, createWorld, type World } from './stand-world.js';

let world: World;
let runtime: Runtime;
let fastLane: FastLane;
let lane: ChangeEventLane;
let s3: S3Client;
let events: EventBridgeClient;
let sqs: SQSClient;
let source: EventSource;
const clock = new MovableClock();
const addons: string[] = [];
const naming = () => ({ instanceId: world.instanceId, bucketPrefix: 'hs3-', iamPath: '/heroku-s3-controller/', iamUserPrefix: 'hs3-' });
const bucketOf = (addonId: string) => bucketNameFor(naming(), world.accountA, addonId);

/** The record CloudTrail makes of a call on a bucket, as EventBridge delivers it (AWS's documented shape). */
function cloudTrailDetail(bucket: string, eventName: string, at: Date, accountId = world.accountA) {
  return {
    eventVersion: '1.09',
    userIdentity: { type: 'AssumedRole', principalId: 'AROAEXAMPLE:operator', arn: `arn:aws:sts::${accountId}:assumed-role/Admin/operator`, accountId, accessKeyId: 'ASIAEXAMPLE' },
    eventTime: at.toISOString(),
    eventSource: 's3.amazonaws.com',
    eventName,
    awsRegion: 'us-east-1',
    sourceIPAddress: '203.0.113.7',
    userAgent: '[aws-cli/2.17.0]',
    requestParameters: { bucketName: bucket, publicAccessBlock: '', Host: `${bucket}.s3.amazonaws.com` },
    responseElements: null,
    requestID: randomUUID().slice(0, 16),
    eventID: randomUUID(),
    readOnly: false,
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: accountId,
    eventCategory: 'Management',
  };
}

/** The same record in the envelope EventBridge puts around it, as a message body. */
function envelope(detail: ReturnType<typeof cloudTrailDetail>, id = randomUUID(), account = world.accountA): string {
  return JSON.stringify({ version: '0', id, 'detail-type': CLOUDTRAIL_DETAIL_TYPE, source: 'aws.s3', account, time: detail.eventTime, region: 'us-east-1', resources: [], detail });
}

/** Polls the queue until it is empty, as the lane's loop would, and waits for the keyed reconciles it started. */
async function drain() {
  const outcomes: string[] = [];
  for (let round = 0; round < 20; round++) {
    const got = await lane.pollOnce(source);
    outcomes.push(...got);
    if (got.length === 0) break;
  }
  // Until the keys have left their coalescing window and run (idle() alone does not wait for the window).
  for (;;) {
    await fastLane.fastPath.idle();
    const { queued, running, delayed } = fastLane.fastPath.stats();
    if (queued + running + delayed === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return outcomes;
}

async function publicAccessBlock(bucket: string) {
  try {
    return (await s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }))).PublicAccessBlockConfiguration ?? null;
  } catch {
    return null;
  }
}

beforeAll(async () => {
  world = await createWorld();
  const { fake } = world;
  fake.addTeam({ name: 'acme' });
  for (const app of ['acme-web', 'acme-api']) {
    fake.addApp({ name: app, team: 'acme' });
    addons.push(fake.addAddon({ app, service: SERVICE, attachmentName: 'BUCKET' }).id);
  }
  // A 50 ms coalescing window: the test waits for the keyed queue, never for the clock.
  runtime = await gcRuntime(world, { clock, env: { FAST_PATH_COALESCE: '50ms' } });
  const team = fake.team('acme');
  await runtime.store.links.save({ teamId: team.id, teamName: team.name, accountId: world.accountA, region: null, auth: { kind: 'role', roleArn: world.roleArn(world.accountA), externalId: null } });
  clock.real();
  expect((await runtime.controller.reconcileOnce()).execution?.failed).toBe(0);
  expect((await runtime.controller.reconcileOnce()).actions).toEqual([]);
  const target = { accountId: world.accountA, auth: { kind: 'role' as const, roleArn: world.roleArn(world.accountA), externalId: null } };
  const setup = await setUpChangeEvents({ clients: runtime.connector.connect(target), eventSources: runtime.store.eventSources, naming: naming() }, ['us-east-1']);
  source = setup.regions.length === 1 ? (await runtime.store.eventSources.forAccount(world.accountA))[0]! : (null as never);
  fastLane = createFastLane(runtime, () => true);
  fastLane.start();
  lane = changeEventLane(runtime, (addonId, hint) => fastLane.offerChange(addonId, hint), () => true, { waitSeconds: 0 });
  await lane.refresh();
  runtime.changeEvents.setLinkedAccounts([world.accountA]);
  const config = await accountClientConfig(world.accountA);
  s3 = await world.s3(world.accountA);
  events = new EventBridgeClient(config);
  sqs = new SQSClient(config);
}, 120_000);

afterAll(async () => {
  await fastLane?.shutdown(5_000);
  await lane?.stop();
  events?.destroy();
  sqs?.destroy();
  await runtime?.close();
  expect(world.fake.schemaViolations).toEqual([]);
  await world.stop();
});

describe('change events on the stand', () => {
  it('the probe goes round through the rule and the queue; the account is watched once a CloudTrail record of it arrives too', async () => {
    expect(runtime.changeEvents.status(world.accountA).state).toBe('starting');
    expect(runtime.changeEvents.watching(world.accountA)).toBe(false);
    const outcomes = await drain();
    expect(outcomes).toContain('probe');
    // The probe proves the rules and the queue, not the trail.
    expect(runtime.changeEvents.status(world.accountA)).toMatchObject({ state: 'starting', detail: expect.stringContaining('no CloudTrail record of a change in this account has arrived yet') });
    expect(runtime.changeEvents.watching(world.accountA)).toBe(false);
  });

  it('Block Public Access removed by another writer: the event leads to a keyed reconcile that puts it back, found by the event, with how long it stood', async () => {
    const bucket = bucketOf(addons[0]!);
    expect(await publicAccessBlock(bucket)).toEqual({ BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });
    const changedAt = new Date();
    await s3.send(new DeletePublicAccessBlockCommand({ Bucket: bucket }));
    expect(await publicAccessBlock(bucket)).toBeNull();
    // No full pass would see it for a while: this add-on's deep check and exposure check are not due.
    runtime.recorder.reset();
    world.fake.resetRequests();
    const put = await events.send(
      new PutEventsCommand({ Entries: [{ Source: 'aws.s3', DetailType: CLOUDTRAIL_DETAIL_TYPE, Detail: JSON.stringify(cloudTrailDetail(bucket, 'DeleteBucketPublicAccessBlock', changedAt)) }] }),
    );
    expect(put.FailedEntryCount ?? 0).toBe(0);
    expect(await drain()).toEqual(['accepted']);
    const block = await publicAccessBlock(bucket);
    expect(block).toEqual({
      BlockPublicAcls: DESIRED_PUBLIC_ACCESS_BLOCK.blockPublicAcls,
      IgnorePublicAcls: DESIRED_PUBLIC_ACCESS_BLOCK.ignorePublicAcls,
      BlockPublicPolicy: DESIRED_PUBLIC_ACCESS_BLOCK.blockPublicPolicy,
      RestrictPublicBuckets: DESIRED_PUBLIC_ACCESS_BLOCK.restrictPublicBuckets,
    });
    // The repair was the only write (beside the queue's own deletes), and the reconcile read the bucket in full (a deep check).
    expect(runtime.recorder.mutations().filter((c) => c.service !== 'sqs').map((c) => c.operation)).toEqual(['PutPublicAccessBlock']);
    expect(runtime.recorder.calls.map((c) => c.operation)).toEqual(expect.arrayContaining(['GetBucketEncryption', 'GetBucketLifecycleConfiguration', 'ListAccessKeys']));
    // An AWS change reads no app's config vars (their own deep check does, on its window): three Heroku reads, the keyed pass's.
    expect(world.fake.requests.map((r) => `${r.method} ${r.path.split('?')[0]}`).filter((r) => r.includes('config-vars'))).toEqual([]);
    const [found] = fastLane.foundByEvents();
    expect(found).toMatchObject({ kind: 'public-access-block-changed', addonId: addons[0], resource: bucket, foundBy: 'event', changedAt: changedAt.toISOString() });
    expect(found!.stoodSeconds).toBeGreaterThanOrEqual(0);
    // A CloudTrail record of the account arrived: its path is proven end to end.
    expect(runtime.changeEvents.status(world.accountA).state).toBe('healthy');
    expect(runtime.changeEvents.watching(world.accountA)).toBe(true);
    const metrics = (await runtime.metrics.render()).body;
    expect(metrics).toMatch(new RegExp(`drift_found_total\\{account_id="${world.accountA}",kind="public-access-block-changed",found_by="event"\\} 1`));
    expect(metrics).toMatch(/drift_stood_seconds_count\{found_by="event"\} 1/);
    expect(metrics).toMatch(new RegExp(`change_events_received_total\\{account_id="${world.accountA}",outcome="accepted"\\} 1`));
  });

  it('duplicated, reordered, malformed, oversized, foreign and unrelated events change nothing and are counted', async () => {
    const [a, b] = addons.map(bucketOf) as [string, string];
    const now = new Date();
    const genuineA = envelope(cloudTrailDetail(a, 'PutBucketPolicy', now));
    const genuineB = envelope(cloudTrailDetail(b, 'PutBucketEncryption', now));
    const bodies = [
      genuineB,
      genuineA,
      genuineB, // duplicated, and out of order
      genuineA,
      'not json {',
      JSON.stringify([1, 2, 3]),
      envelope({ ...cloudTrailDetail(a, 'PutBucketPolicy', now), requestParameters: { bucketName: a, policy: 'x'.repeat(300 * 1024) } as never }),
      envelope(cloudTrailDetail(a, 'DeleteBucketPublicAccessBlock', now, '999988887777'), randomUUID(), '999988887777'), // another account's
      envelope(cloudTrailDetail('someone-elses-bucket', 'DeleteBucketPublicAccessBlock', now)), // a foreign bucket
      envelope({ ...cloudTrailDetail(a, 'GetBucketAcl', now) }), // a call nobody watches
      envelope({ ...cloudTrailDetail(a, 'PutBucketAcl', now), errorCode: 'AccessDenied' } as never), // a call that failed
    ];
    for (const body of bodies) await sqs.send(new SendMessageCommand({ QueueUrl: source.queueUrl, MessageBody: body }));
    const before = { ...runtime.changeEvents.report([world.accountA])[0]!.received };
    runtime.recorder.reset();
    world.fake.resetRequests();
    const outcomes = await drain();
    expect([...outcomes].sort()).toEqual(
      ['accepted', 'accepted', 'duplicate', 'duplicate', 'malformed', 'malformed', 'oversized', 'foreign-account', 'not-ours', 'unwatched', 'failed-call'].sort(),
    );
    // The two genuine ones were read again in full, and nothing in AWS or Heroku changed: the
    // settings they name were never really changed.
    expect(runtime.recorder.calls.filter((c) => c.service !== 'sqs' && isMutation(c.operation))).toEqual([]);
    expect(world.fake.mutatingRequests()).toBe(0);
    const after = runtime.changeEvents.report([world.accountA])[0]!.received;
    const counted = (outcome: keyof typeof after) => (after[outcome] ?? 0) - (before[outcome] ?? 0);
    expect({ accepted: counted('accepted'), duplicate: counted('duplicate'), malformed: counted('malformed'), oversized: counted('oversized'), foreign: counted('foreign-account'), notOurs: counted('not-ours') }).toEqual({
      accepted: 2,
      duplicate: 2,
      malformed: 2,
      oversized: 1,
      foreign: 1,
      notOurs: 1,
    });
    // Every message was deleted from the queue, whatever became of it.
    expect(await lane.pollOnce(source)).toEqual([]);
  });

  it('the changes rule disabled by hand: the probe still comes back, but the account is degraded at the next probe, and trusted again once it is enabled', async () => {
    const rule = eventResourceNames(world.instanceId).changesRule;
    await events.send(new DisableRuleCommand({ Name: rule }));
    clock.advance(11 * 60_000); // the next probe, and the rule's read with it, is due
    await drain();
    const status = runtime.changeEvents.status(world.accountA);
    expect(status.state).toBe('degraded');
    expect(status.detail).toContain(`its rule ${rule} is DISABLED`);
    await events.send(new EnableRuleCommand({ Name: rule }));
    clock.advance(11 * 60_000);
    await drain();
    expect(runtime.changeEvents.status(world.accountA).state).toBe('healthy');
  });

  it('a one-shot command (`plan`, `reconcile --once`) reads no events, so its passes use the usual windows as they stand', async () => {
    const oneShot = await gcRuntime(world, { clock });
    try {
      expect(await oneShot.store.eventSources.forAccount(world.accountA)).toHaveLength(1);
      expect(oneShot.changeEvents.watching(world.accountA)).toBe(false);
      // Not shifted: a check overdue before the command started is due in its pass.
      expect(oneShot.changeEvents.watchingSince(world.accountA)).toBeNull();
    } finally {
      await oneShot.close();
    }
  });

  it('a deleted queue is reported for its account at the next poll, and full passes go on, deep-checking on the usual windows', async () => {
    await sqs.send(new DeleteQueueCommand({ QueueUrl: source.queueUrl }));
    await expect(lane.pollOnce(source)).rejects.toThrow(/does not exist \(deleted\?\)/);
    // As the lane's loop records it (change-event-lane.test.ts drives the loop itself).
    runtime.changeEvents.pollFailed(world.accountA, 'us-east-1', `the queue ${source.queueUrl} does not exist (deleted?)`);
    const status = runtime.changeEvents.status(world.accountA);
    expect(status.state).toBe('degraded');
    expect(status.detail).toMatch(/cannot be read.*does not exist.*Drift is found by deep checks.*events setup/);
    expect(runtime.changeEvents.watching(world.accountA)).toBe(false);
    const pass = await runtime.controller.reconcileOnce();
    expect(pass.accounts.every((a) => a.complete)).toBe(true);
    expect(pass.execution?.failed).toBe(0);
  });
});
