/**
 * ChangeEventLane over an in-memory EventPathAccess: a queue per URL with long polls that wait for
 * a message or an abort, a bus that delivers the probe to its queue, an injected sleep that
 * resolves at once or when aborted, and a clock the test moves. No network, no real waits.
 */
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { CLOUDTRAIL_DETAIL_TYPE } from '../../src/change-events/catalogue.js';
import { ChangeEventLane, type AccountTarget, type ChangeEventLaneOptions, type EventPathAccess } from '../../src/change-events/change-event-lane.js';
import { EventHealth } from '../../src/change-events/event-health.js';
import { EventIntake, type ChangeHint } from '../../src/change-events/event-intake.js';
import { describeQueueError } from '../../src/sinks/aws/event-queue.js';
import type { EventSource } from '../../src/store/event-source-store.js';
import type { Link } from '../../src/store/types.js';
import { ChangeEventsEvent } from '../../src/reasons.js';

const A = '111122223333';
const EU = 'eu-west-1';
const US = 'us-east-1';
const INSTANCE = 'hsc-prod';
const CONTROLLER = `arn:aws:sts::${A}:assumed-role/hsc-prod-link/heroku-s3-controller`;
const ALICE = `arn:aws:sts::${A}:assumed-role/Admin/alice`;
const T0 = Date.parse('2024-05-02T10:00:00.000Z');
const PROBE_INTERVAL = 600_000;
const ERROR_BACKOFF = 30_000;
const REFRESH = 60_000;

const queueUrl = (region: string, name = 'hsc-prod-changes') => `https://sqs.${region}.amazonaws.com/${A}/${name}`;
const queueArn = (region: string, name = 'hsc-prod-changes') => `arn:aws:sqs:${region}:${A}:${name}`;

function source(region: string, name = 'hsc-prod-changes'): EventSource {
  return {
    accountId: A,
    region,
    queueUrl: queueUrl(region, name),
    queueArn: queueArn(region, name),
    ruleArns: [`arn:aws:events:${region}:${A}:rule/hsc-prod-changes`, `arn:aws:events:${region}:${A}:rule/hsc-prod-probe`],
    createdAt: new Date(T0),
    updatedAt: new Date(T0),
  };
}

const LINK: Link = {
  teamId: '9f1c2d3e-0000-4000-8000-000000000001',
  teamName: 'acme',
  accountId: A,
  region: EU,
  auth: { kind: 'role', roleArn: `arn:aws:iam::${A}:role/hsc-prod-link`, externalId: 'ext-123' },
  createdAt: new Date(T0),
  updatedAt: new Date(T0),
};

function change(eventName: string, bucket: string, id: string, actor = ALICE): string {
  return JSON.stringify({
    version: '0',
    id,
    'detail-type': CLOUDTRAIL_DETAIL_TYPE,
    source: 'aws.s3',
    time: '2024-05-02T10:15:30Z', // no `account`: as moto delivers it
    region: EU,
    resources: [],
    detail: {
      eventVersion: '1.09',
      userIdentity: { type: 'AssumedRole', principalId: 'AROAEXAMPLEROLEID:alice', arn: actor, accountId: A, accessKeyId: 'ASIAEXAMPLEKEYID0001' },
      eventTime: '2024-05-02T10:15:21Z',
      eventSource: 's3.amazonaws.com',
      eventName,
      awsRegion: EU,
      sourceIPAddress: '203.0.113.7',
      userAgent: '[aws-cli/2.15.0]',
      requestParameters: { bucketName: bucket, host: [`${bucket}.s3.${EU}.amazonaws.com`] },
      responseElements: null,
      requestID: 'EXAMPLE8D1F3B6A2C',
      eventID: `ct-${id}`,
      readOnly: false,
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: A,
      eventCategory: 'Management',
    },
  });
}

const awsError = (name: string, message: string) => Object.assign(new Error(message), { name, $metadata: { httpStatusCode: 400 } });
const queueGone = () => awsError('QueueDoesNotExist', 'The specified queue does not exist.');
const denied = () => awsError('AccessDenied', 'User is not authorized to perform this action');

interface Message {
  body: string;
  receiptHandle: string;
}

/** SQS and EventBridge of one account, in memory. */
class FakeAccess implements EventPathAccess {
  /** Waiting to be read, per queue URL. */
  readonly pending = new Map<string, Message[]>();
  /** Read and not deleted (they would come back after the visibility timeout). */
  readonly inFlight = new Map<string, Message[]>();
  readonly receiveCalls: { target: AccountTarget; region: string; queueUrl: string; waitSeconds: number; signal: AbortSignal }[] = [];
  readonly removeCalls: { region: string; queueUrl: string; handles: string[] }[] = [];
  readonly probeCalls: { target: AccountTarget; region: string; probeId: string }[] = [];
  identityCalls = 0;
  readonly fail: { receive?: () => unknown; remove?: () => unknown; probe?: () => unknown; identity?: () => unknown } = {};
  /** true: a receive on an empty queue waits for a message or the abort, as a long poll does. */
  longPoll = false;
  /** true: a probe put on the bus lands in the region's queue (the probe rule works). */
  deliverProbes = true;
  /** What the changes rule of each region is found to have wrong (none: as set up). */
  readonly ruleProblems = new Map<string, string>();

  async changesRuleProblem(_target: AccountTarget, region: string): Promise<string | null> {
    return this.ruleProblems.get(region) ?? null;
  }
  /** Where the probe rule of each region sends (region → queue URL). */
  readonly probeTargets = new Map<string, string>([
    [EU, queueUrl(EU)],
    [US, queueUrl(US)],
  ]);
  private handles = 0;
  private waiters: (() => void)[] = [];

  push(url: string, ...bodies: string[]): string[] {
    const queue = this.pending.get(url) ?? [];
    const handles = bodies.map((body) => {
      const receiptHandle = `rh-${++this.handles}`;
      queue.push({ body, receiptHandle });
      return receiptHandle;
    });
    this.pending.set(url, queue);
    for (const wake of this.waiters.splice(0)) wake();
    return handles;
  }

  /** The visibility timeout passes: what was read and not deleted is there again. */
  redeliver(url: string): void {
    const back = this.inFlight.get(url) ?? [];
    this.inFlight.set(url, []);
    this.push(url, ...back.map((m) => m.body));
  }

  async receive(target: AccountTarget, region: string, url: string, waitSeconds: number, signal: AbortSignal): Promise<Message[]> {
    this.receiveCalls.push({ target, region, queueUrl: url, waitSeconds, signal });
    await Promise.resolve();
    if (this.fail.receive) throw this.fail.receive();
    while (this.longPoll && (this.pending.get(url) ?? []).length === 0) {
      if (signal.aborted) throw Object.assign(new Error('Request aborted'), { name: 'AbortError' });
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    const taken = (this.pending.get(url) ?? []).splice(0, 10);
    this.inFlight.set(url, [...(this.inFlight.get(url) ?? []), ...taken]);
    return taken;
  }

  async remove(_target: AccountTarget, region: string, url: string, handles: string[]): Promise<void> {
    await Promise.resolve();
    if (this.fail.remove) throw this.fail.remove();
    this.removeCalls.push({ region, queueUrl: url, handles });
    this.inFlight.set(url, (this.inFlight.get(url) ?? []).filter((m) => !handles.includes(m.receiptHandle)));
  }

  async probe(target: AccountTarget, region: string, probeId: string): Promise<void> {
    await Promise.resolve();
    if (this.fail.probe) throw this.fail.probe();
    this.probeCalls.push({ target, region, probeId });
    const url = this.probeTargets.get(region);
    if (this.deliverProbes && url) {
      this.push(
        url,
        JSON.stringify({ version: '0', id: `eb-${probeId}`, 'detail-type': 'Change-event path probe', source: 'heroku-s3-controller', account: A, time: new Date(T0).toISOString(), region, resources: [], detail: { instanceId: INSTANCE, probeId } }),
      );
    }
  }

  async identity(): Promise<string> {
    this.identityCalls++;
    await Promise.resolve();
    if (this.fail.identity) throw this.fail.identity();
    return CONTROLLER;
  }

  describe(err: unknown, url: string, action: string): string {
    return describeQueueError(err, url, action);
  }

  /** Messages neither deleted nor waiting. */
  left(url: string): number {
    return (this.pending.get(url) ?? []).length + (this.inFlight.get(url) ?? []).length;
  }
}

/** The lane's sleep: resolves at once (on the next turn of the event loop) for the lengths asked, else when aborted or woken. */
class Sleeper {
  readonly calls: number[] = [];
  readonly immediate = new Set<number>();
  private sleeping: (() => void)[] = [];

  readonly sleep = (ms: number, signal: AbortSignal): Promise<void> => {
    this.calls.push(ms);
    if (signal.aborted) return Promise.resolve();
    if (this.immediate.has(ms)) return new Promise((resolve) => setImmediate(resolve));
    return new Promise((resolve) => {
      signal.addEventListener('abort', () => resolve(), { once: true });
      this.sleeping.push(resolve);
    });
  };

  wake(): void {
    for (const wake of this.sleeping.splice(0)) wake();
  }
}

/** Lets the lane's loops run until `predicate` holds (turns of the event loop, never a timer). */
async function until(predicate: () => boolean, what: string): Promise<void> {
  for (let turn = 0; turn < 2_000; turn++) {
    if (predicate()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`never happened: ${what}`);
}

const turns = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

const RECORDS: Record<string, string> = { 'hs3-app-one': 'addon-1', 'hs3-app-two': 'addon-2' };

let nowMs: number;

function world(options: { sources?: EventSource[]; leader?: boolean; laneOptions?: ChangeEventLaneOptions } = {}) {
  const access = new FakeAccess();
  const sleeper = new Sleeper();
  const logs: { level: number; msg: string; reason?: string; accountId?: string; region?: string }[] = [];
  const logger = pino({ level: 'debug', base: undefined }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const health = new EventHealth({ now: () => new Date(nowMs) });
  // CloudTrail's leg is proven by its records (event-health.test.ts): here one has arrived.
  health.counted(A, 'own-change');
  const offers: [string, ChangeHint][] = [];
  const state = { sources: options.sources ?? [source(EU)], links: [LINK], leader: options.leader ?? true, sourcesCalls: 0, sourcesGate: null as Promise<void> | null, sourcesError: null as Error | null };
  let lane: ChangeEventLane;
  const intake = new EventIntake({
    findAddon: async (_accountId, resource) => {
      if ('bucket' in resource && resource.bucket === 'hs3-store-down') throw new Error('the store did not answer');
      return 'bucket' in resource ? (RECORDS[resource.bucket] ?? null) : null;
    },
    offer: (addonId, hint) => offers.push([addonId, hint]) > 0,
    health,
    instanceId: INSTANCE,
    ownActor: (accountId) => lane.ownActor(accountId),
  });
  lane = new ChangeEventLane({
    sources: async () => {
      state.sourcesCalls++;
      if (state.sourcesGate) await state.sourcesGate;
      if (state.sourcesError) throw state.sourcesError;
      return state.sources;
    },
    neededRegions: async () => new Map(),
    links: async () => state.links,
    access,
    intake,
    health,
    isLeader: () => state.leader,
    logger,
    sleep: sleeper.sleep,
    options: { waitSeconds: 20, probeIntervalMs: PROBE_INTERVAL, refreshMs: REFRESH, errorBackoffMs: ERROR_BACKOFF, ...options.laneOptions },
  });
  return { access, sleeper, logs, health, offers, state, lane };
}

beforeEach(() => {
  nowMs = T0;
});

describe('ChangeEventLane.pollOnce', () => {
  it('sends the probe when due, reads it back through the queue, deletes it, and the path is healthy', async () => {
    const { access, lane, health } = world();
    await lane.refresh();
    expect(health.status(A).state).toBe('starting');
    const outcomes = await lane.pollOnce(source(EU));
    expect(access.probeCalls).toHaveLength(1);
    expect(access.probeCalls[0]!.region).toBe(EU);
    expect(access.probeCalls[0]!.probeId).toMatch(/^[0-9a-f-]{36}$/);
    expect(outcomes).toEqual(['probe']);
    expect(access.left(queueUrl(EU))).toBe(0);
    expect(health.status(A).state).toBe('healthy');
    expect(health.watching(A)).toBe(true);
  });

  it('does not send a probe again before the interval, and sends one when it is due', async () => {
    const { access, lane } = world();
    await lane.refresh();
    await lane.pollOnce(source(EU));
    nowMs += PROBE_INTERVAL - 1;
    expect(await lane.pollOnce(source(EU))).toEqual([]);
    expect(access.probeCalls).toHaveLength(1);
    nowMs += 1;
    expect(await lane.pollOnce(source(EU))).toEqual(['probe']);
    expect(access.probeCalls).toHaveLength(2);
    expect(access.probeCalls[1]!.probeId).not.toBe(access.probeCalls[0]!.probeId);
  });

  it('sends no probe for a queue the health does not know (not set up)', async () => {
    const { access, lane } = world();
    await lane.pollOnce(source(EU));
    expect(access.probeCalls).toEqual([]);
    expect(access.receiveCalls).toHaveLength(1);
  });

  it('reads with the source queue, its region, the link credentials and the configured wait', async () => {
    const { access, lane } = world({ laneOptions: { waitSeconds: 7 } });
    await lane.refresh();
    await lane.pollOnce(source(EU));
    expect(access.receiveCalls).toHaveLength(1);
    expect(access.receiveCalls[0]).toMatchObject({ target: { accountId: A, auth: LINK.auth }, region: EU, queueUrl: queueUrl(EU), waitSeconds: 7 });
    expect(access.probeCalls[0]!.target).toEqual({ accountId: A, auth: LINK.auth });
  });

  it('takes messages in order and deletes every message read, rejected ones too', async () => {
    const { access, lane, offers, health } = world();
    await lane.refresh();
    await lane.pollOnce(source(EU)); // the first probe
    const a = change('PutBucketPublicAccessBlock', 'hs3-app-one', 'e-a');
    const handles = access.push(
      queueUrl(EU),
      a,
      'not json',
      change('DeleteBucketPolicy', 'someone-elses', 'e-x'),
      JSON.stringify({ ...JSON.parse(change('PutBucketPolicy', 'hs3-app-one', 'e-f')), account: '444455556666' }),
      change('DeleteBucketPolicy', 'hs3-app-two', 'e-b'),
      a,
      change('GetBucketPolicy', 'hs3-app-one', 'e-g'),
    );
    expect(await lane.pollOnce(source(EU))).toEqual(['accepted', 'malformed', 'not-ours', 'foreign-account', 'accepted', 'duplicate', 'unwatched']);
    expect(offers.map(([id, hint]) => [id, hint.eventName, hint.part])).toEqual([
      ['addon-1', 'PutBucketPublicAccessBlock', 'exposure'],
      ['addon-2', 'DeleteBucketPolicy', 'exposure'],
    ]);
    expect(access.removeCalls.at(-1)).toEqual({ region: EU, queueUrl: queueUrl(EU), handles });
    expect(access.left(queueUrl(EU))).toBe(0);
    expect(health.report([A])[0]!.received).toEqual({ 'own-change': 1, probe: 1, accepted: 2, malformed: 1, 'not-ours': 1, 'foreign-account': 1, duplicate: 1, unwatched: 1 });
  });

  it('reads at most what one receive gives (10) per round, and the rest the next round', async () => {
    const { access, lane } = world();
    await lane.refresh();
    await lane.pollOnce(source(EU));
    access.push(queueUrl(EU), ...Array.from({ length: 13 }, (_, n) => change('PutBucketTagging', 'hs3-app-one', `e-${n}`)));
    expect(await lane.pollOnce(source(EU))).toHaveLength(10);
    expect(await lane.pollOnce(source(EU))).toHaveLength(3);
    expect(access.left(queueUrl(EU))).toBe(0);
  });

  it('makes no delete call when nothing was read, and marks the queue polled', async () => {
    const { access, lane, health } = world();
    await lane.refresh();
    access.deliverProbes = false;
    nowMs += 5_000;
    expect(await lane.pollOnce(source(EU))).toEqual([]);
    expect(access.removeCalls).toEqual([]);
    expect(health.report([A])[0]!.regions[0]!.lastPollAt).toBe(new Date(T0 + 5_000).toISOString());
  });

  it('throws a deleted queue in words (QueueDoesNotExist) and reads nothing', async () => {
    const { access, lane, health } = world();
    await lane.refresh();
    access.fail.receive = queueGone;
    const round = lane.pollOnce(source(EU));
    await expect(round).rejects.toThrow(`the queue ${queueUrl(EU)} does not exist (deleted?)`);
    await expect(round).rejects.toMatchObject({ name: 'QueueError' });
    expect(health.report([A])[0]!.regions[0]!.lastPollAt).toBeNull();
  });

  it("throws the SQS error code AWS.SimpleQueueService.NonExistentQueue the same way", async () => {
    const { access, lane } = world();
    await lane.refresh();
    access.fail.receive = () => awsError('AWS.SimpleQueueService.NonExistentQueue', 'The specified queue does not exist for this wsdl version.');
    await expect(lane.pollOnce(source(EU))).rejects.toThrow('does not exist (deleted?)');
  });

  it('throws a denied receive naming sqs:ReceiveMessage on the queue ARN and what to do', async () => {
    const { access, lane } = world();
    await lane.refresh();
    access.fail.receive = denied;
    await expect(lane.pollOnce(source(EU))).rejects.toThrow(`the link may not call sqs:ReceiveMessage on ${queueArn(EU)} (AccessDenied): add it to the link's policy`);
  });

  it('reports a denied probe naming events:PutEvents in the region, and reads the queue all the same', async () => {
    const { access, lane, health } = world();
    await lane.refresh();
    access.fail.probe = () => awsError('AccessDeniedException', 'not authorized to perform: events:PutEvents');
    expect(await lane.pollOnce(source(EU))).toEqual([]);
    expect(access.receiveCalls).toHaveLength(1);
    const status = health.status(A);
    expect(status.state).toBe('degraded');
    expect(status.detail).toContain(`the probe cannot be sent in ${EU} (the link may not call events:PutEvents on the default event bus in ${EU} (AccessDeniedException): add it to the link's policy)`);
    // Sent again at the next round, and once it goes round the path is trusted again.
    delete access.fail.probe;
    await lane.pollOnce(source(EU));
    await lane.pollOnce(source(EU));
    expect(health.status(A).state).toBe('healthy');
  });

  it('throws a denied delete naming sqs:DeleteMessage after taking the messages; they come back as duplicates', async () => {
    const { access, lane, offers } = world();
    await lane.refresh();
    await lane.pollOnce(source(EU));
    access.push(queueUrl(EU), change('PutBucketPolicy', 'hs3-app-one', 'e-1'), 'garbage');
    access.fail.remove = denied;
    await expect(lane.pollOnce(source(EU))).rejects.toThrow(`the link may not call sqs:DeleteMessage on ${queueArn(EU)} (AccessDenied)`);
    expect(offers).toHaveLength(1);
    delete access.fail.remove;
    access.redeliver(queueUrl(EU));
    expect(await lane.pollOnce(source(EU))).toEqual(['duplicate', 'malformed']);
    expect(offers).toHaveLength(1);
    expect(access.left(queueUrl(EU))).toBe(0);
  });

  it('throws any other error with its code and message', async () => {
    const { access, lane } = world();
    await lane.refresh();
    access.fail.receive = () => awsError('KmsAccessDenied', 'The ciphertext refers to a customer master key that does not exist');
    await expect(lane.pollOnce(source(EU))).rejects.toThrow('KmsAccessDenied: The ciphertext refers to a customer master key that does not exist');
  });

  it('returns nothing, without an error, when its receive is aborted', async () => {
    const { access, lane, health } = world();
    await lane.refresh();
    access.deliverProbes = false;
    access.longPoll = true;
    const stop = new AbortController();
    const round = lane.pollOnce(source(EU), stop.signal);
    await until(() => access.receiveCalls.length === 1, 'the long poll');
    stop.abort();
    expect(await round).toEqual([]);
    expect(health.report([A])[0]!.regions[0]!.lastPollAt).toBeNull();
  });

  it('throws when no team is linked to the account any more, and calls nothing', async () => {
    const { access, lane, state } = world();
    await lane.refresh();
    state.links = [];
    await expect(lane.pollOnce(source(EU))).rejects.toThrow(`no team is linked to account ${A} any more`);
    expect(access.receiveCalls).toEqual([]);
    expect(access.probeCalls).toEqual([]);
  });

  it('learns its own identity once, and counts its own calls as own-change', async () => {
    const { access, lane, offers } = world();
    await lane.refresh();
    expect(lane.ownActor(A)).toBeNull();
    await lane.pollOnce(source(EU));
    expect(lane.ownActor(A)).toBe(CONTROLLER);
    access.push(queueUrl(EU), change('PutBucketPublicAccessBlock', 'hs3-app-one', 'e-own', CONTROLLER), change('PutBucketPublicAccessBlock', 'hs3-app-one', 'e-alice'));
    expect(await lane.pollOnce(source(EU))).toEqual(['own-change', 'accepted']);
    await lane.pollOnce(source(EU));
    expect(access.identityCalls).toBe(1);
    expect(offers).toHaveLength(1);
    expect(lane.ownActor('444455556666')).toBeNull();
  });

  it('reads on when identity() fails: its own calls are then taken as changes (wasted, never wrong)', async () => {
    const { access, lane, offers } = world();
    await lane.refresh();
    access.fail.identity = () => awsError('AccessDenied', 'not authorized to perform: sts:GetCallerIdentity');
    access.push(queueUrl(EU), change('PutBucketPublicAccessBlock', 'hs3-app-one', 'e-own', CONTROLLER));
    expect(await lane.pollOnce(source(EU))).toEqual(['accepted', 'probe']);
    expect(lane.ownActor(A)).toBeNull();
    expect(offers).toHaveLength(1);
  });
});

describe('ChangeEventLane loops', () => {
  it('start() polls each queue set up, takes what arrives, and stop() aborts the long poll and ends every loop', async () => {
    const { access, lane, offers, health } = world({ sources: [source(EU), source(US)] });
    access.longPoll = true;
    lane.start();
    await until(() => access.receiveCalls.filter((c) => c.queueUrl === queueUrl(EU)).length >= 2 && access.receiveCalls.filter((c) => c.queueUrl === queueUrl(US)).length >= 2, 'both loops waiting in a long poll');
    expect(health.watching(A)).toBe(true);
    access.push(queueUrl(EU), change('DeleteBucketPublicAccessBlock', 'hs3-app-one', 'e-1'));
    await until(() => offers.length === 1, 'the change offered');
    await until(() => access.left(queueUrl(EU)) === 0, 'the change deleted');
    expect(offers[0]![0]).toBe('addon-1');

    await lane.stop();
    expect(access.receiveCalls.every((c) => c.signal.aborted)).toBe(true);
    const calls = access.receiveCalls.length;
    access.push(queueUrl(EU), change('DeleteBucketPublicAccessBlock', 'hs3-app-one', 'e-2'));
    await turns();
    expect(access.receiveCalls.length).toBe(calls);
    expect(offers).toHaveLength(1);
  });

  it('records a failing queue in the health, logs it once, retries after errorBackoffMs, and logs the recovery', async () => {
    const { access, lane, health, logs, sleeper } = world();
    access.longPoll = true;
    access.fail.receive = queueGone;
    sleeper.immediate.add(ERROR_BACKOFF);
    lane.start();
    await until(() => access.receiveCalls.length >= 4, 'several failed rounds');
    const { state, detail } = health.status(A);
    expect(state).toBe('degraded');
    expect(detail).toContain(`the queue in ${EU} cannot be read (the queue ${queueUrl(EU)} does not exist (deleted?))`);
    expect(health.watching(A)).toBe(false);
    expect(sleeper.calls.filter((ms) => ms === ERROR_BACKOFF).length).toBeGreaterThanOrEqual(3);
    const failures = logs.filter((l) => l.reason === ChangeEventsEvent.QueueFailed);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ level: 50, accountId: A, region: EU });
    expect(failures[0]!.msg).toContain('does not exist (deleted?)');
    expect(failures[0]!.msg).toContain('deep checks');

    delete access.fail.receive;
    await until(() => health.report([A])[0]!.regions[0]!.error === null, 'a good round');
    await until(() => logs.some((l) => l.reason === ChangeEventsEvent.QueueRecovered), 'the recovery logged');
    expect(logs.filter((l) => l.reason === ChangeEventsEvent.QueueRecovered)).toHaveLength(1);
    expect(health.status(A).state).toBe('healthy');
    await lane.stop();
  });

  it('logs again when a failing queue fails differently', async () => {
    const { access, lane, logs, sleeper } = world();
    access.longPoll = true;
    access.fail.receive = queueGone;
    sleeper.immediate.add(ERROR_BACKOFF);
    lane.start();
    await until(() => access.receiveCalls.length >= 2, 'failed rounds');
    access.fail.receive = denied;
    const calls = access.receiveCalls.length;
    await until(() => access.receiveCalls.length >= calls + 2, 'more failed rounds');
    await lane.stop();
    expect(logs.filter((l) => l.reason === ChangeEventsEvent.QueueFailed).map((l) => l.msg.includes('AccessDenied'))).toEqual([false, true]);
  });

  it('records a link removed while its queue is polled in the health', async () => {
    const { access, lane, health, sleeper, state } = world();
    sleeper.immediate.add(ERROR_BACKOFF);
    access.longPoll = true;
    lane.start();
    await until(() => access.receiveCalls.length >= 2, 'the loop waiting in a long poll');
    state.links = [];
    access.push(queueUrl(EU), change('PutBucketPolicy', 'hs3-app-one', 'e-1'));
    await until(() => health.report([A])[0]!.regions[0]!.error !== null, 'the failure recorded');
    expect(health.report([A])[0]!.regions[0]!.error).toBe(`no team is linked to account ${A} any more`);
    await lane.stop();
  });

  it('polls only while leader: a follower sleeps, and starts polling when it becomes leader', async () => {
    const { access, lane, sleeper, state } = world({ leader: false });
    access.longPoll = true;
    lane.start();
    await until(() => sleeper.calls.includes(5_000), 'the follower sleeping');
    await turns();
    expect(access.receiveCalls).toEqual([]);
    expect(access.probeCalls).toEqual([]);
    state.leader = true;
    sleeper.wake();
    await until(() => access.receiveCalls.length >= 1, 'the leader polling');
    await lane.stop();
  });

  it('refresh() starts loops for new queues, stops those removed, and restarts one whose queue URL changed', async () => {
    const { access, lane, state, health } = world();
    access.longPoll = true;
    access.deliverProbes = false;
    lane.start();
    const on = (url: string) => access.receiveCalls.filter((c) => c.queueUrl === url);
    await until(() => on(queueUrl(EU)).length === 1, 'the EU loop');

    state.sources = [source(EU), source(US)];
    await lane.refresh();
    await until(() => on(queueUrl(US)).length === 1, 'the US loop');
    expect(health.report([A])[0]!.regions.map((r) => r.region).sort()).toEqual([EU, US]);

    state.sources = [source(US)];
    await lane.refresh();
    expect(on(queueUrl(EU))[0]!.signal.aborted).toBe(true);
    expect(on(queueUrl(US))[0]!.signal.aborted).toBe(false);
    expect(health.report([A])[0]!.regions.map((r) => r.region)).toEqual([US]);

    state.sources = [source(US, 'hsc-prod-changes-2')];
    await lane.refresh();
    expect(on(queueUrl(US))[0]!.signal.aborted).toBe(true);
    await until(() => on(queueUrl(US, 'hsc-prod-changes-2')).length === 1, 'the loop on the new queue');
    expect(health.report([A])[0]!.regions).toEqual([expect.objectContaining({ region: US, queueUrl: queueUrl(US, 'hsc-prod-changes-2'), lastPollAt: null })]);

    await lane.stop();
    expect(access.receiveCalls.every((c) => c.signal.aborted)).toBe(true);
  });

  it('refresh() without start() only tells the health; it starts no loop', async () => {
    const { access, lane, health } = world();
    await lane.refresh();
    await turns();
    expect(health.status(A).state).toBe('starting');
    expect(access.receiveCalls).toEqual([]);
  });

  it('reads the sources again every refreshMs; a failure to read them is logged and the loops go on', async () => {
    const { access, lane, state, sleeper, logs } = world();
    access.longPoll = true;
    lane.start();
    await until(() => access.receiveCalls.length >= 2, 'the loop polling');
    expect(sleeper.calls).toContain(REFRESH);
    state.sourcesError = new Error('connection refused');
    sleeper.wake();
    await until(() => logs.some((l) => l.reason === ChangeEventsEvent.SourcesUnread), 'the failure logged');
    expect(logs.find((l) => l.reason === ChangeEventsEvent.SourcesUnread)!.msg).toContain('connection refused');
    const last = access.receiveCalls.at(-1)!;
    expect(last.signal.aborted).toBe(false);
    await lane.stop();
    expect(last.signal.aborted).toBe(true);
  });

  it('start() twice starts one refresher; stop() without start() resolves', async () => {
    const { access, lane, state } = world();
    access.longPoll = true;
    await lane.stop();
    lane.start();
    lane.start();
    await until(() => state.sourcesCalls >= 1, 'the first read of the sources');
    await turns();
    expect(state.sourcesCalls).toBe(1);
    await lane.stop();
  });

  it('stop() while the sources are being read leaves no loop running', async () => {
    const { access, lane, state } = world();
    access.longPoll = true;
    let release!: () => void;
    state.sourcesGate = new Promise<void>((resolve) => {
      release = resolve;
    });
    lane.start();
    await until(() => state.sourcesCalls === 1, 'the refresher reading the sources');
    const stopped = lane.stop();
    release();
    await stopped;
    await turns(50);
    // No loop may poll after stop() resolved, or poll with a signal stop() cannot abort.
    expect(access.receiveCalls.filter((c) => !c.signal.aborted).map((c) => c.queueUrl)).toEqual([]);
  });
});

describe('ChangeEventLane: the changes rule', () => {
  it('reads the changes rule with each probe: one disabled or gone makes the account degraded although the probe comes back', async () => {
    const { access, lane, health } = world();
    await lane.refresh();
    await lane.pollOnce(source(EU));
    await lane.pollOnce(source(EU));
    expect(health.status(A).state).toBe('healthy');
    access.ruleProblems.set(EU, 'its rule hsc-prod-changes is DISABLED');
    nowMs += 10 * 60_000; // the next probe is due
    await lane.pollOnce(source(EU));
    await lane.pollOnce(source(EU));
    const status = health.status(A);
    expect(status.state).toBe('degraded');
    expect(status.detail).toContain(`in ${EU}, its rule hsc-prod-changes is DISABLED`);
    expect(health.watching(A)).toBe(false);
    access.ruleProblems.delete(EU);
    nowMs += 10 * 60_000;
    await lane.pollOnce(source(EU));
    await lane.pollOnce(source(EU));
    expect(health.status(A).state).toBe('healthy');
  });
});

describe('ChangeEventLane: a store that does not answer', () => {
  it('leaves that message for a later round, takes the others, and does not call the path broken', async () => {
    const { access, lane, health, offers, logs } = world();
    await lane.refresh();
    await lane.pollOnce(source(EU));
    await lane.pollOnce(source(EU));
    expect(health.status(A).state).toBe('healthy');
    const [stuck] = access.push(queueUrl(EU), change('PutBucketPolicy', 'hs3-store-down', 'e-stuck'), change('PutBucketPolicy', 'hs3-app-one', 'e-ok'));
    expect(await lane.pollOnce(source(EU))).toEqual(['accepted']);
    expect(offers.map(([id]) => id)).toHaveLength(1);
    expect(access.removeCalls.at(-1)!.handles).not.toContain(stuck);
    expect(health.status(A).state).toBe('healthy');
    expect(logs.some((l) => l.reason === ChangeEventsEvent.EventUnmatched && /read again later: the store did not answer/.test(l.msg))).toBe(true);
  });
});
