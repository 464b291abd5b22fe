/**
 * EventIntake: what becomes of each queue message. In-memory store lookup and offer; the real
 * EventHealth with a fixed clock, to see every outcome counted.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { CLOUDTRAIL_DETAIL_TYPE, PROBE_DETAIL_TYPE, PROBE_SOURCE } from '../../src/change-events/catalogue.js';
import { MAX_EVENT_BYTES } from '../../src/change-events/cloudtrail-event.js';
import { EventHealth, INTAKE_OUTCOMES, type IntakeOutcome } from '../../src/change-events/event-health.js';
import { EventIntake, type ChangeHint, type EventIntakeDeps } from '../../src/change-events/event-intake.js';

const A = '111122223333';
const B = '444455556666';
const EU = 'eu-west-1';
const US = 'us-east-1';
const INSTANCE = 'hsc-prod';
const CONTROLLER = `arn:aws:sts::${A}:assumed-role/hsc-prod-link/heroku-s3-controller`;
const ALICE = `arn:aws:sts::${A}:assumed-role/Admin/alice`;
const NOW = new Date('2024-05-02T10:30:00.000Z');

type Json = Record<string, unknown>;
type Envelope = Json & { detail: Json };

function s3Event(eventName: string, bucket: string, id: string, account = A): Envelope {
  return {
    version: '0',
    id,
    'detail-type': CLOUDTRAIL_DETAIL_TYPE,
    source: 'aws.s3',
    account,
    time: '2024-05-02T10:15:30Z',
    region: EU,
    resources: [],
    detail: {
      eventVersion: '1.09',
      userIdentity: { type: 'AssumedRole', principalId: 'AROAEXAMPLEROLEID:alice', arn: ALICE, accountId: account, accessKeyId: 'ASIAEXAMPLEKEYID0001' },
      eventTime: '2024-05-02T10:15:21Z',
      eventSource: 's3.amazonaws.com',
      eventName,
      awsRegion: EU,
      sourceIPAddress: '203.0.113.7',
      userAgent: '[aws-cli/2.15.0 md/awscrt#0.19.17 ua/2.0 os/linux#6.5.0]',
      requestParameters: {
        publicAccessBlock: [''],
        PublicAccessBlockConfiguration: { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/', RestrictPublicBuckets: false, BlockPublicPolicy: false, BlockPublicAcls: false, IgnorePublicAcls: false },
        bucketName: bucket,
        host: [`${bucket}.s3.${EU}.amazonaws.com`],
      },
      responseElements: null,
      requestID: 'EXAMPLE8D1F3B6A2C',
      eventID: `ct-${id}`,
      readOnly: false,
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: account,
      eventCategory: 'Management',
    },
  };
}

function createAccessKey(userName: string, id: string): Envelope {
  return {
    version: '0',
    id,
    'detail-type': CLOUDTRAIL_DETAIL_TYPE,
    source: 'aws.iam',
    account: A,
    time: '2024-05-02T10:16:04Z',
    region: US,
    resources: [],
    detail: {
      eventVersion: '1.09',
      userIdentity: { type: 'AssumedRole', principalId: 'AROAEXAMPLEROLEID:alice', arn: ALICE, accountId: A, accessKeyId: 'ASIAEXAMPLEKEYID0001' },
      eventTime: '2024-05-02T10:16:01Z',
      eventSource: 'iam.amazonaws.com',
      eventName: 'CreateAccessKey',
      awsRegion: US,
      sourceIPAddress: '198.51.100.23',
      userAgent: 'aws-cli/2.15.0',
      requestParameters: { userName },
      responseElements: { accessKey: { userName, accessKeyId: 'AKIAIOSFODNN7EXAMPLE', status: 'Active', createDate: 'May 2, 2024, 10:16:01 AM' } },
      requestID: 'f4e3d2c1-b0a9-4876-9543-210fedcba987',
      eventID: `ct-${id}`,
      readOnly: false,
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: A,
      eventCategory: 'Management',
    },
  };
}

function probe(instanceId: string, probeId: string): string {
  return JSON.stringify({ version: '0', id: `eb-${probeId}`, 'detail-type': PROBE_DETAIL_TYPE, source: PROBE_SOURCE, account: A, time: NOW.toISOString(), region: EU, resources: [], detail: { instanceId, probeId } });
}

const body = (event: unknown) => JSON.stringify(event);

/** The store's records: which add-on's bucket or user has which name in which account. */
const RECORDS: Record<string, string> = {
  [`${A}/bucket:hs3-app-one`]: 'addon-1',
  [`${A}/bucket:hs3-app-two`]: 'addon-2',
  [`${A}/user:hs3u-app-one`]: 'addon-1',
  [`${B}/bucket:hs3-app-bee`]: 'addon-b',
};

let health: EventHealth;
let offers: [string, ChangeHint][];
let lookups: [string, { bucket: string } | { user: string }][];
let own: Map<string, string>;
let onOutcome: ReturnType<typeof vi.fn<(accountId: string, outcome: IntakeOutcome) => void>>;

function intake(overrides: Partial<EventIntakeDeps> = {}): EventIntake {
  return new EventIntake({
    findAddon: async (accountId, resource) => {
      lookups.push([accountId, resource]);
      const key = 'bucket' in resource ? `bucket:${resource.bucket}` : `user:${resource.user}`;
      return RECORDS[`${accountId}/${key}`] ?? null;
    },
    offer: (addonId, hint) => offers.push([addonId, hint]) > 0,
    health,
    instanceId: INSTANCE,
    ownActor: (accountId) => own.get(accountId) ?? null,
    ...overrides,
  });
}

beforeEach(() => {
  onOutcome = vi.fn<(accountId: string, outcome: IntakeOutcome) => void>();
  health = new EventHealth({ now: () => NOW, onOutcome });
  health.configure([
    { accountId: A, region: EU, queueUrl: `https://sqs.${EU}.amazonaws.com/${A}/hsc-prod-changes` },
    { accountId: A, region: US, queueUrl: `https://sqs.${US}.amazonaws.com/${A}/hsc-prod-changes` },
    { accountId: B, region: EU, queueUrl: `https://sqs.${EU}.amazonaws.com/${B}/hsc-prod-changes` },
  ]);
  offers = [];
  lookups = [];
  own = new Map([[A, CONTROLLER]]);
});

const received = (accountId = A) => health.report([accountId]).find((r) => r.accountId === accountId)!.received;

describe('EventIntake: accepted changes', () => {
  it('offers the add-on whose bucket the call named, with the call, the part and when it was made', async () => {
    const outcome = await intake().take(body(s3Event('PutBucketPublicAccessBlock', 'hs3-app-one', 'e-1')), A, EU);
    expect(outcome).toBe('accepted');
    expect(lookups).toEqual([[A, { bucket: 'hs3-app-one' }]]);
    expect(offers).toEqual([['addon-1', { eventName: 'PutBucketPublicAccessBlock', part: 'exposure', changedAt: new Date('2024-05-02T10:15:21Z') }]]);
    expect(received()).toEqual({ accepted: 1 });
    expect(onOutcome).toHaveBeenCalledWith(A, 'accepted');
  });

  it('offers the add-on whose user the call named; the hint carries no key', async () => {
    expect(await intake().take(body(createAccessKey('hs3u-app-one', 'e-2')), A, US)).toBe('accepted');
    expect(lookups).toEqual([[A, { user: 'hs3u-app-one' }]]);
    expect(offers).toEqual([['addon-1', { eventName: 'CreateAccessKey', part: 'keys', changedAt: new Date('2024-05-02T10:16:01Z') }]]);
    expect(JSON.stringify(offers)).not.toContain('AKIA');
  });

  it("accepts a message without the envelope's account (moto)", async () => {
    const event = s3Event('DeleteBucketPolicy', 'hs3-app-two', 'e-3');
    delete event.account;
    expect(await intake().take(body(event), A, EU)).toBe('accepted');
    expect(offers.map(([id]) => id)).toEqual(['addon-2']);
  });

  it('offers with changedAt null when the record has no eventTime', async () => {
    const event = s3Event('PutBucketPolicy', 'hs3-app-one', 'e-4');
    delete event.detail.eventTime;
    await intake().take(body(event), A, EU);
    expect(offers[0]![1].changedAt).toBeNull();
  });

  it('looks the resource up in the account whose queue it came from', async () => {
    expect(await intake().take(body(s3Event('PutBucketPolicy', 'hs3-app-bee', 'e-5', B)), B, EU)).toBe('accepted');
    expect(lookups).toEqual([[B, { bucket: 'hs3-app-bee' }]]);
    expect(offers.map(([id]) => id)).toEqual(['addon-b']);
    expect(received(B)).toEqual({ accepted: 1 });
    expect(received(A)).toEqual({});
  });

  it('accepts calls of anyone while the controller identity in the account is not known', async () => {
    own.clear();
    const event = s3Event('PutBucketPolicy', 'hs3-app-one', 'e-6');
    (event.detail.userIdentity as Json).arn = CONTROLLER;
    expect(await intake().take(body(event), A, EU)).toBe('accepted');
  });
});

describe('EventIntake: dropped, never offered', () => {
  it("counts a watched call on a bucket no record names as not-ours, and offers nothing", async () => {
    expect(await intake().take(body(s3Event('DeleteBucketPublicAccessBlock', 'someone-elses-bucket', 'e-10')), A, EU)).toBe('not-ours');
    expect(offers).toEqual([]);
    expect(received()).toEqual({ 'not-ours': 1 });
  });

  it("counts another account's bucket name in this account's queue as not-ours", async () => {
    // hs3-app-bee is recorded in B only.
    expect(await intake().take(body(s3Event('PutBucketPolicy', 'hs3-app-bee', 'e-11')), A, EU)).toBe('not-ours');
    expect(offers).toEqual([]);
  });

  it('counts a failed call (errorCode) as failed-call without looking it up', async () => {
    const event = s3Event('DeleteBucketPublicAccessBlock', 'hs3-app-one', 'e-12');
    event.detail.errorCode = 'AccessDenied';
    event.detail.errorMessage = 'Access Denied';
    expect(await intake().take(body(event), A, EU)).toBe('failed-call');
    expect(lookups).toEqual([]);
    expect(offers).toEqual([]);
    expect(received()).toEqual({ 'failed-call': 1 });
  });

  it("counts the controller's own call as own-change, and another principal's as accepted", async () => {
    const i = intake();
    const mine = s3Event('PutBucketPublicAccessBlock', 'hs3-app-one', 'e-13');
    (mine.detail.userIdentity as Json).arn = CONTROLLER;
    expect(await i.take(body(mine), A, EU)).toBe('own-change');
    expect(offers).toEqual([]);
    expect(await i.take(body(s3Event('PutBucketPublicAccessBlock', 'hs3-app-one', 'e-14')), A, EU)).toBe('accepted');
    expect(received()).toEqual({ 'own-change': 1, accepted: 1 });
  });

  it("does not take the controller's identity in one account for its identity in another", async () => {
    const event = s3Event('PutBucketPolicy', 'hs3-app-bee', 'e-15', B);
    (event.detail.userIdentity as Json).arn = CONTROLLER; // A's identity, seen in B: not B's own
    expect(await intake().take(body(event), B, EU)).toBe('accepted');
  });

  it.each<[string, () => string, IntakeOutcome]>([
    ['non-JSON', () => 'not json at all', 'malformed'],
    ['a JSON array', () => '[1,2,3]', 'malformed'],
    ['a JSON number', () => '7', 'malformed'],
    ['an event without detail', () => body({ ...s3Event('PutBucketPolicy', 'hs3-app-one', 'e-20'), detail: undefined }), 'malformed'],
    ['an oversized body', () => body({ ...s3Event('PutBucketPolicy', 'hs3-app-one', 'e-21'), pad: 'x'.repeat(MAX_EVENT_BYTES) }), 'oversized'],
    ['an event of another account', () => body(s3Event('PutBucketPolicy', 'hs3-app-one', 'e-22', B)), 'foreign-account'],
    ['an unwatched call', () => body(s3Event('GetBucketPolicy', 'hs3-app-one', 'e-23')), 'unwatched'],
    ['another detail-type', () => body({ ...s3Event('PutBucketPolicy', 'hs3-app-one', 'e-24'), 'detail-type': 'Object Created' }), 'unwatched'],
  ])('counts %s as rejected, without lookup or offer', async (_what, make, expected) => {
    expect(await intake().take(make(), A, EU)).toBe(expected);
    expect(lookups).toEqual([]);
    expect(offers).toEqual([]);
    expect(received()).toEqual({ [expected]: 1 });
  });
});

describe('EventIntake: duplicates', () => {
  it('offers an event delivered twice once', async () => {
    const i = intake();
    const message = body(s3Event('PutBucketPolicy', 'hs3-app-one', 'e-30'));
    expect(await i.take(message, A, EU)).toBe('accepted');
    expect(await i.take(message, A, EU)).toBe('duplicate');
    expect(offers).toHaveLength(1);
    expect(received()).toEqual({ accepted: 1, duplicate: 1 });
  });

  it('drops duplicates delivered out of order: B, A, B, A makes two offers', async () => {
    const i = intake();
    const a = body(s3Event('PutBucketPolicy', 'hs3-app-one', 'e-a'));
    const b = body(s3Event('DeleteBucketPolicy', 'hs3-app-two', 'e-b'));
    const outcomes = [];
    for (const message of [b, a, b, a]) outcomes.push(await i.take(message, A, EU));
    expect(outcomes).toEqual(['accepted', 'accepted', 'duplicate', 'duplicate']);
    expect(offers.map(([id, hint]) => [id, hint.eventName])).toEqual([
      ['addon-2', 'DeleteBucketPolicy'],
      ['addon-1', 'PutBucketPolicy'],
    ]);
  });

  it('tells duplicates by id only: the same id with another body is a duplicate', async () => {
    const i = intake();
    await i.take(body(s3Event('PutBucketPolicy', 'hs3-app-one', 'e-31')), A, EU);
    expect(await i.take(body(s3Event('DeleteBucket', 'hs3-app-two', 'e-31')), A, EU)).toBe('duplicate');
    expect(offers).toHaveLength(1);
  });

  it("uses CloudTrail's eventID when the envelope has none", async () => {
    const i = intake();
    const event = s3Event('PutBucketPolicy', 'hs3-app-one', 'e-32');
    delete event.id;
    expect(await i.take(body(event), A, EU)).toBe('accepted');
    expect(await i.take(body(event), A, EU)).toBe('duplicate');
  });

  it('keeps ids of different accounts apart', async () => {
    const i = intake();
    expect(await i.take(body(s3Event('PutBucketPolicy', 'hs3-app-one', 'same-id')), A, EU)).toBe('accepted');
    expect(await i.take(body(s3Event('PutBucketPolicy', 'hs3-app-bee', 'same-id', B)), B, EU)).toBe('accepted');
  });

  it('counts a second delivery of a failed or not-ours call as a duplicate too, without a second lookup', async () => {
    const i = intake();
    const failed = s3Event('PutBucketPolicy', 'hs3-app-one', 'e-33');
    failed.detail.errorCode = 'MalformedPolicy';
    const notOurs = s3Event('PutBucketPolicy', 'not-ours', 'e-34');
    for (const message of [failed, notOurs]) await i.take(body(message), A, EU);
    for (const message of [failed, notOurs]) expect(await i.take(body(message), A, EU)).toBe('duplicate');
    expect(lookups).toHaveLength(1);
  });

  it('remembers only the last rememberIds ids: an id forgotten is accepted again', async () => {
    const i = intake({ rememberIds: 2 });
    const [a, b, c] = ['e-a', 'e-b', 'e-c'].map((id) => body(s3Event('PutBucketPolicy', 'hs3-app-one', id)));
    const outcomes = [];
    for (const message of [a!, b!, b!, c!, a!, c!]) outcomes.push(await i.take(message, A, EU));
    // a and b remembered; c pushes a out; a is new again (and pushes b out); c is still remembered.
    expect(outcomes).toEqual(['accepted', 'accepted', 'duplicate', 'accepted', 'accepted', 'duplicate']);
    expect(offers).toHaveLength(4);
  });

  it('remembers 10,000 ids by default', async () => {
    const i = intake({ findAddon: async () => null });
    const first = body(s3Event('PutBucketPolicy', 'xyz', 'id-0'));
    await i.take(first, A, EU);
    for (let n = 1; n < 10_000; n++) await i.take(body(s3Event('PutBucketPolicy', 'xyz', `id-${n}`)), A, EU);
    expect(await i.take(first, A, EU)).toBe('duplicate');
    await i.take(body(s3Event('PutBucketPolicy', 'xyz', 'id-10000')), A, EU);
    await i.take(body(s3Event('PutBucketPolicy', 'xyz', 'id-10001')), A, EU);
    expect(await i.take(first, A, EU)).toBe('not-ours');
  });

  it('offers an event again after the lookup failed: a change not acted on is not a duplicate', async () => {
    let storeDown = true;
    const i = intake({
      findAddon: async (accountId, resource) => {
        if (storeDown) throw new Error('connection terminated unexpectedly');
        return 'bucket' in resource && resource.bucket === 'hs3-app-one' && accountId === A ? 'addon-1' : null;
      },
    });
    const message = body(s3Event('DeleteBucketPublicAccessBlock', 'hs3-app-one', 'e-40'));
    await expect(i.take(message, A, EU)).rejects.toThrow('connection terminated');
    storeDown = false;
    // SQS delivers the message again after its visibility timeout (the lane did not delete it).
    expect(await i.take(message, A, EU)).toBe('accepted');
    expect(offers.map(([id]) => id)).toEqual(['addon-1']);
  });
});

describe('EventIntake: probes', () => {
  it('takes its own probe back once: probe, then unknown-probe', async () => {
    const i = intake();
    health.probeSent(A, EU, 'p-1');
    health.polled(A, EU);
    expect(await i.take(probe(INSTANCE, 'p-1'), A, EU)).toBe('probe');
    expect(health.status(A).state).not.toBe('degraded');
    expect(health.report([A])[0]!.regions.find((r) => r.region === EU)!.lastProbe!.arrivedAt).toBe(NOW.toISOString());
    expect(await i.take(probe(INSTANCE, 'p-1'), A, EU)).toBe('unknown-probe');
    expect(received()).toEqual({ probe: 1, 'unknown-probe': 1 });
    expect(offers).toEqual([]);
  });

  it('makes the path healthy when every region has its probe back', async () => {
    const i = intake();
    for (const region of [EU, US]) {
      health.probeSent(A, region, `p-${region}`);
      health.polled(A, region);
    }
    health.counted(A, 'own-change'); // a CloudTrail record of the account arrived
    await i.take(probe(INSTANCE, `p-${EU}`), A, EU);
    expect(health.watching(A)).toBe(false);
    await i.take(probe(INSTANCE, `p-${US}`), A, US);
    expect(health.watching(A)).toBe(true);
  });

  it('counts a probe id it did not send as unknown-probe', async () => {
    health.probeSent(A, EU, 'p-1');
    expect(await intake().take(probe(INSTANCE, 'p-forged'), A, EU)).toBe('unknown-probe');
    expect(health.watching(A)).toBe(false);
  });

  it("counts another instance's probe as unknown-probe, even with the id this one sent", async () => {
    health.probeSent(A, EU, 'p-1');
    health.polled(A, EU);
    expect(await intake().take(probe('hsc-staging', 'p-1'), A, EU)).toBe('unknown-probe');
    expect(health.report([A])[0]!.regions.find((r) => r.region === EU)!.lastProbe!.arrivedAt).toBeNull();
    // The real one still proves the path afterwards.
    expect(await intake().take(probe(INSTANCE, 'p-1'), A, EU)).toBe('probe');
  });

  it("counts a probe that arrives through another region's queue as unknown-probe", async () => {
    health.probeSent(A, EU, 'p-1');
    expect(await intake().take(probe(INSTANCE, 'p-1'), A, US)).toBe('unknown-probe');
  });

  it('counts an earlier probe arriving after a newer one was sent as unknown-probe', async () => {
    health.probeSent(A, EU, 'p-1');
    health.probeSent(A, EU, 'p-2');
    expect(await intake().take(probe(INSTANCE, 'p-1'), A, EU)).toBe('unknown-probe');
    expect(await intake().take(probe(INSTANCE, 'p-2'), A, EU)).toBe('probe');
  });
});

describe('EventIntake: counting', () => {
  it('counts every outcome once in the account health, and tells onOutcome of each', async () => {
    const i = intake();
    health.probeSent(A, EU, 'p-1');
    const failed = s3Event('PutBucketPolicy', 'hs3-app-one', 'e-failed');
    failed.detail.errorCode = 'AccessDenied';
    const mine = s3Event('PutBucketPolicy', 'hs3-app-one', 'e-own');
    (mine.detail.userIdentity as Json).arn = CONTROLLER;
    const accepted = body(s3Event('PutBucketPolicy', 'hs3-app-one', 'e-ok'));
    const messages: [IntakeOutcome, string][] = [
      ['accepted', accepted],
      ['duplicate', accepted],
      ['not-ours', body(s3Event('PutBucketPolicy', 'foreign-bucket', 'e-nope'))],
      ['own-change', body(mine)],
      ['failed-call', body(failed)],
      ['probe', probe(INSTANCE, 'p-1')],
      ['unknown-probe', probe(INSTANCE, 'p-1')],
      ['malformed', '{'],
      ['oversized', 'x'.repeat(MAX_EVENT_BYTES + 1)],
      ['foreign-account', body(s3Event('PutBucketPolicy', 'hs3-app-one', 'e-b', B))],
      ['unwatched', body(s3Event('ListBuckets', 'hs3-app-one', 'e-list'))],
      // Tags are in the bulk read of every pass: no keyed pass (and no Heroku reads) for them.
      ['next-pass', body(s3Event('PutBucketTagging', 'hs3-app-one', 'e-tag'))],
      // This replica stopped leading: left in the queue for the next leader.
      ['refused', body(s3Event('PutBucketPolicy', 'hs3-app-one', 'e-refused'))],
    ];
    expect(messages.map(([o]) => o).sort()).toEqual([...INTAKE_OUTCOMES].sort());
    const refusing = intake({ offer: () => false });
    for (const [expected, message] of messages) expect(await (expected === 'refused' ? refusing : i).take(message, A, EU)).toBe(expected);
    expect(received()).toEqual(Object.fromEntries(INTAKE_OUTCOMES.map((o) => [o, 1])));
    expect(onOutcome.mock.calls).toEqual(messages.map(([o]) => [A, o]));
    expect(health.report([A])[0]!.lastEventAt).toBe(NOW.toISOString());
    expect(offers).toHaveLength(1);
  });
});
