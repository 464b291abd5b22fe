/**
 * readQueueEvent: one SQS message body, as EventBridge delivers CloudTrail's record of an S3 or
 * IAM call (the shape AWS documents), read strictly. Pure: no AWS, no clock.
 */
import { describe, expect, it } from 'vitest';
import { CLOUDTRAIL_DETAIL_TYPE, IAM_EVENTS, PROBE_DETAIL_TYPE, PROBE_SOURCE, S3_EVENTS, changesEventPattern, type ChangedPart } from '../../src/change-events/catalogue.js';
import { MAX_EVENT_BYTES, readQueueEvent, type QueueEvent } from '../../src/change-events/cloudtrail-event.js';

const ACCOUNT = '111122223333';
const OTHER_ACCOUNT = '444455556666';
const BUCKET = 'hs3-0f3c9a2e-app';
const USER = 'hs3u-0f3c9a2e-app';
const ACTOR = `arn:aws:sts::${ACCOUNT}:assumed-role/Admin/alice`;

type Json = Record<string, unknown>;
type Envelope = Json & { detail: Json };

/** An S3 call as EventBridge delivers CloudTrail's record of it (AWS's documented example shape). */
function s3Event(eventName: string, bucket: string = BUCKET, n = 1): Envelope {
  const requestParameters: Json =
    eventName === 'PutBucketPublicAccessBlock'
      ? {
          publicAccessBlock: [''],
          PublicAccessBlockConfiguration: { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/', RestrictPublicBuckets: false, BlockPublicPolicy: false, BlockPublicAcls: false, IgnorePublicAcls: false },
          bucketName: bucket,
          host: [`${bucket}.s3.eu-west-1.amazonaws.com`],
        }
      : { bucketName: bucket, host: [`${bucket}.s3.eu-west-1.amazonaws.com`] };
  return {
    version: '0',
    id: `6f0c3a52-1b2d-4e5f-8a9b-00000000000${n}`,
    'detail-type': CLOUDTRAIL_DETAIL_TYPE,
    source: 'aws.s3',
    account: ACCOUNT,
    time: '2024-05-02T10:15:30Z',
    region: 'eu-west-1',
    resources: [],
    detail: {
      eventVersion: '1.09',
      userIdentity: {
        type: 'AssumedRole',
        principalId: 'AROAEXAMPLEROLEID:alice',
        arn: ACTOR,
        accountId: ACCOUNT,
        accessKeyId: 'ASIAEXAMPLEKEYID0001',
        sessionContext: { sessionIssuer: { type: 'Role', principalId: 'AROAEXAMPLEROLEID', arn: `arn:aws:iam::${ACCOUNT}:role/Admin`, accountId: ACCOUNT, userName: 'Admin' }, attributes: { creationDate: '2024-05-02T09:58:02Z', mfaAuthenticated: 'false' } },
      },
      eventTime: '2024-05-02T10:15:21Z',
      eventSource: 's3.amazonaws.com',
      eventName,
      awsRegion: 'eu-west-1',
      sourceIPAddress: '203.0.113.7',
      userAgent: '[aws-cli/2.15.0 md/awscrt#0.19.17 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.22 md/prompt#off md/command#s3api.put-public-access-block]',
      requestParameters,
      responseElements: null,
      additionalEventData: { SignatureVersion: 'SigV4', CipherSuite: 'TLS_AES_128_GCM_SHA256', bytesTransferredIn: 0, AuthenticationMethod: 'AuthHeader', 'x-amz-id-2': 'EXAMPLEid2', bytesTransferredOut: 0 },
      requestID: 'EXAMPLE8D1F3B6A2C',
      eventID: `d9a5b1f0-7c3e-4b2a-9e1d-00000000000${n}`,
      readOnly: false,
      resources: [{ accountId: ACCOUNT, type: 'AWS::S3::Bucket', ARN: `arn:aws:s3:::${bucket}` }],
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: ACCOUNT,
      eventCategory: 'Management',
      tlsDetails: { tlsVersion: 'TLSv1.3', cipherSuite: 'TLS_AES_128_GCM_SHA256', clientProvidedHostHeader: `${bucket}.s3.eu-west-1.amazonaws.com` },
    },
  };
}

/** An IAM call (delivered in us-east-1); CreateAccessKey's response names the key, never its secret. */
function iamEvent(eventName: string, userName: string = USER, n = 1): Envelope {
  return {
    version: '0',
    id: `0a1b2c3d-4e5f-4a6b-8c7d-00000000000${n}`,
    'detail-type': CLOUDTRAIL_DETAIL_TYPE,
    source: 'aws.iam',
    account: ACCOUNT,
    time: '2024-05-02T10:16:04Z',
    region: 'us-east-1',
    resources: [],
    detail: {
      eventVersion: '1.09',
      userIdentity: { type: 'AssumedRole', principalId: 'AROAEXAMPLEROLEID:alice', arn: ACTOR, accountId: ACCOUNT, accessKeyId: 'ASIAEXAMPLEKEYID0001' },
      eventTime: '2024-05-02T10:16:01Z',
      eventSource: 'iam.amazonaws.com',
      eventName,
      awsRegion: 'us-east-1',
      sourceIPAddress: '198.51.100.23',
      userAgent: 'aws-cli/2.15.0 md/awscrt#0.19.17 ua/2.0 os/linux#6.5.0',
      requestParameters: { userName },
      responseElements:
        eventName === 'CreateAccessKey' ? { accessKey: { userName, accessKeyId: 'AKIAIOSFODNN7EXAMPLE', status: 'Active', createDate: 'May 2, 2024, 10:16:01 AM' } } : null,
      requestID: 'f4e3d2c1-b0a9-4876-9543-210fedcba987',
      eventID: `5e6f7a8b-9c0d-4e1f-a2b3-00000000000${n}`,
      readOnly: false,
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: ACCOUNT,
      eventCategory: 'Management',
    },
  };
}

function read(event: unknown, accountId = ACCOUNT, maxBytes?: number): QueueEvent {
  return readQueueEvent(JSON.stringify(event), accountId, maxBytes);
}

function expectRejected(result: QueueEvent, as: string, why?: RegExp): void {
  expect(result.kind).toBe('rejected');
  if (result.kind !== 'rejected') return;
  expect(result.as).toBe(as);
  if (why) expect(result.why).toMatch(why);
}

describe('readQueueEvent: changes', () => {
  it('reads PutBucketPublicAccessBlock as documented: the bucket, the exposure part, when and by whom', () => {
    expect(read(s3Event('PutBucketPublicAccessBlock'))).toEqual({
      kind: 'change',
      eventId: '6f0c3a52-1b2d-4e5f-8a9b-000000000001',
      eventName: 'PutBucketPublicAccessBlock',
      part: 'exposure',
      resource: { bucket: BUCKET },
      changedAt: new Date('2024-05-02T10:15:21Z'),
      actor: ACTOR,
      failed: false,
    });
  });

  it('takes changedAt from CloudTrail eventTime, not the envelope time', () => {
    const event = s3Event('DeleteBucketPolicy');
    event.detail.eventTime = '2024-05-02T09:00:00Z';
    const result = read(event);
    expect(result.kind === 'change' && result.changedAt?.toISOString()).toBe('2024-05-02T09:00:00.000Z');
  });

  it('reads IAM CreateAccessKey: the user, the keys part; nothing of the response comes through', () => {
    const result = read(iamEvent('CreateAccessKey'));
    expect(result).toEqual({
      kind: 'change',
      eventId: '0a1b2c3d-4e5f-4a6b-8c7d-000000000001',
      eventName: 'CreateAccessKey',
      part: 'keys',
      resource: { user: USER },
      changedAt: new Date('2024-05-02T10:16:01Z'),
      actor: ACTOR,
      failed: false,
    });
    expect(JSON.stringify(result)).not.toContain('AKIAIOSFODNN7EXAMPLE');
  });

  it.each(Object.entries(S3_EVENTS))('S3 %s changes the bucket part %s', (eventName, part) => {
    const result = read(s3Event(eventName));
    expect(result).toMatchObject({ kind: 'change', eventName, part, resource: { bucket: BUCKET } });
  });

  it.each(Object.entries(IAM_EVENTS))('IAM %s changes the user part %s', (eventName, part) => {
    const result = read(iamEvent(eventName));
    expect(result).toMatchObject({ kind: 'change', eventName, part, resource: { user: USER } });
  });

  it("accepts a message without the envelope's account (as moto delivers it)", () => {
    const s3 = s3Event('DeleteBucketPublicAccessBlock');
    delete s3.account;
    expect(read(s3)).toMatchObject({ kind: 'change', part: 'exposure', resource: { bucket: BUCKET } });
    const iam = iamEvent('DeleteAccessKey');
    delete iam.account;
    expect(read(iam)).toMatchObject({ kind: 'change', part: 'keys', resource: { user: USER } });
  });

  it("accepts a message without recipientAccountId when the envelope's account is ours", () => {
    const event = s3Event('PutBucketPolicy');
    delete event.detail.recipientAccountId;
    expect(read(event).kind).toBe('change');
  });

  it("falls back to CloudTrail's eventID when the envelope has no id", () => {
    const event = s3Event('PutBucketAcl');
    delete event.id;
    expect(read(event)).toMatchObject({ kind: 'change', eventId: 'd9a5b1f0-7c3e-4b2a-9e1d-000000000001' });
  });

  it('says changedAt null when eventTime is missing or not a time, and actor null without userIdentity.arn', () => {
    const noTime = s3Event('PutBucketCors');
    delete noTime.detail.eventTime;
    delete noTime.detail.userIdentity;
    expect(read(noTime)).toMatchObject({ kind: 'change', changedAt: null, actor: null });
    const badTime = s3Event('PutBucketCors');
    badTime.detail.eventTime = 'yesterday-ish';
    badTime.detail.userIdentity = { type: 'AWSService', invokedBy: 's3.amazonaws.com' };
    expect(read(badTime)).toMatchObject({ kind: 'change', changedAt: null, actor: null });
  });

  it('marks a call CloudTrail recorded with an errorCode as failed', () => {
    const event = s3Event('DeleteBucketPublicAccessBlock');
    event.detail.errorCode = 'AccessDenied';
    event.detail.errorMessage = 'User: arn:aws:sts::111122223333:assumed-role/Dev/bob is not authorized to perform: s3:PutBucketPublicAccessBlock';
    expect(read(event)).toMatchObject({ kind: 'change', failed: true });
    const iam = iamEvent('DeleteUserPolicy');
    iam.detail.errorCode = 'NoSuchEntityException';
    expect(read(iam)).toMatchObject({ kind: 'change', failed: true });
  });

  it('does not mark a call failed when errorCode is null', () => {
    const event = s3Event('PutBucketVersioning');
    event.detail.errorCode = null;
    expect(read(event)).toMatchObject({ kind: 'change', failed: false });
  });
});

describe('readQueueEvent: probes', () => {
  function probe(detail: Json): Json {
    return { version: '0', id: '9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d', 'detail-type': PROBE_DETAIL_TYPE, source: PROBE_SOURCE, account: ACCOUNT, time: '2024-05-02T10:20:00Z', region: 'eu-west-1', resources: [], detail };
  }

  it('reads the controller probe: its instance and probe id', () => {
    expect(read(probe({ instanceId: 'hsc-prod', probeId: 'p-1' }))).toEqual({ kind: 'probe', instanceId: 'hsc-prod', probeId: 'p-1' });
  });

  it('rejects a probe without instanceId or probeId as malformed', () => {
    expectRejected(read(probe({ instanceId: 'hsc-prod' })), 'malformed', /probe/);
    expectRejected(read(probe({ probeId: 'p-1' })), 'malformed', /probe/);
    expectRejected(read(probe({ instanceId: 'hsc-prod', probeId: 7 })), 'malformed', /probe/);
  });

  it('does not take a probe detail-type from another source for a probe', () => {
    expectRejected(read({ ...probe({ instanceId: 'hsc-prod', probeId: 'p-1' }), source: 'someone-else' }), 'unwatched');
  });
});

describe('readQueueEvent: rejections', () => {
  it.each(['', 'hello', '{"version":"0",', "{'id':1}", 'undefined'])('rejects non-JSON %j as malformed', (body) => {
    expectRejected(readQueueEvent(body, ACCOUNT), 'malformed', /not JSON/);
  });

  it.each(['[]', JSON.stringify([s3Event('PutBucketPolicy')]), '42', '"a string"', 'null', 'true'])('rejects JSON that is not an object (%s) as malformed', (body) => {
    expectRejected(readQueueEvent(body, ACCOUNT), 'malformed', /detail/);
  });

  it.each([
    ['missing', undefined],
    ['null', null],
    ['an array', [{ eventName: 'PutBucketPolicy' }]],
    ['a string', '{"eventName":"PutBucketPolicy"}'],
  ])('rejects an event whose detail is %s as malformed', (_what, detail) => {
    const event: Json = { ...s3Event('PutBucketPolicy') };
    if (detail === undefined) delete event.detail;
    else event.detail = detail;
    expectRejected(read(event), 'malformed', /detail object/);
  });

  describe('size', () => {
    const body = JSON.stringify(s3Event('PutBucketPublicAccessBlock'));
    const size = Buffer.byteLength(body, 'utf8');

    it('accepts a body of exactly the limit and rejects one byte more as oversized', () => {
      expect(readQueueEvent(body, ACCOUNT, size).kind).toBe('change');
      expectRejected(readQueueEvent(body, ACCOUNT, size - 1), 'oversized', new RegExp(`${size - 1} bytes`));
    });

    it('counts bytes, not characters', () => {
      const event = s3Event('PutBucketPublicAccessBlock');
      event.detail.userAgent = 'é'.repeat(100); // 2 bytes each in UTF-8
      const wide = JSON.stringify(event);
      expect(readQueueEvent(wide, ACCOUNT, wide.length).kind).toBe('rejected');
      expect(readQueueEvent(wide, ACCOUNT, wide.length + 100).kind).toBe('change');
    });

    it('checks the size before parsing: a huge non-JSON body is oversized, not malformed', () => {
      expectRejected(readQueueEvent('x'.repeat(MAX_EVENT_BYTES + 1), ACCOUNT), 'oversized');
    });

    it(`defaults to MAX_EVENT_BYTES (${MAX_EVENT_BYTES}): exactly at it is read, one above is oversized`, () => {
      const padded = (extra: number) => {
        const event = s3Event('PutBucketPolicy');
        const base = Buffer.byteLength(JSON.stringify({ ...event, detail: { ...event.detail, requestParameters: { bucketName: BUCKET, bucketPolicy: '' } } }), 'utf8');
        event.detail.requestParameters = { bucketName: BUCKET, bucketPolicy: 'p'.repeat(MAX_EVENT_BYTES - base + extra) };
        const out = JSON.stringify(event);
        expect(Buffer.byteLength(out, 'utf8')).toBe(MAX_EVENT_BYTES + extra);
        return out;
      };
      expect(readQueueEvent(padded(0), ACCOUNT)).toMatchObject({ kind: 'change', resource: { bucket: BUCKET } });
      expectRejected(readQueueEvent(padded(1), ACCOUNT), 'oversized');
    });
  });

  describe('another account', () => {
    it("rejects an event whose envelope account is another account's", () => {
      const event = s3Event('DeleteBucketPublicAccessBlock');
      event.account = OTHER_ACCOUNT;
      event.detail.recipientAccountId = OTHER_ACCOUNT;
      expectRejected(read(event), 'foreign-account', new RegExp(`account is "${OTHER_ACCOUNT}", not ${ACCOUNT}`));
    });

    it('rejects an event whose recipientAccountId is another account, with or without an envelope account', () => {
      const withAccount = s3Event('PutBucketPolicy');
      withAccount.detail.recipientAccountId = OTHER_ACCOUNT;
      expectRejected(read(withAccount), 'foreign-account', new RegExp(`recipientAccountId is "${OTHER_ACCOUNT}"`));
      const motoShaped = iamEvent('CreateAccessKey');
      delete motoShaped.account;
      motoShaped.detail.recipientAccountId = OTHER_ACCOUNT;
      expectRejected(read(motoShaped), 'foreign-account', /recipientAccountId/);
    });

    it('reads the same message as ours in its own account and foreign in another', () => {
      const event = s3Event('PutBucketPolicy');
      expect(read(event, ACCOUNT).kind).toBe('change');
      expectRejected(read(event, OTHER_ACCOUNT), 'foreign-account');
    });

    it('keeps the reason short and free of the value when it is long or not a string', () => {
      const long = s3Event('PutBucketPolicy');
      long.account = '9'.repeat(5000);
      const result = read(long);
      expectRejected(result, 'foreign-account');
      expect(result.kind === 'rejected' && result.why.length).toBeLessThan(200);
      const numeric = s3Event('PutBucketPolicy');
      numeric.account = 111122223333;
      expectRejected(read(numeric), 'foreign-account', /account is number/);
    });
  });

  describe('unwatched', () => {
    it.each(['AWS Service Event via CloudTrail', 'Object Created', 'AWS Console Sign In via CloudTrail'])('rejects detail-type %s', (detailType) => {
      expectRejected(read({ ...s3Event('PutBucketPolicy'), 'detail-type': detailType }), 'unwatched', /not a CloudTrail record of an S3 or IAM call/);
    });

    it('rejects an envelope without detail-type or source', () => {
      const noType = s3Event('PutBucketPolicy');
      delete noType['detail-type'];
      expectRejected(read(noType), 'unwatched');
      const noSource = s3Event('PutBucketPolicy');
      delete noSource.source;
      expectRejected(read(noSource), 'unwatched');
    });

    it.each(['aws.ec2', 'aws.kms', 'aws.sts', 'AWS.S3'])('rejects source %s', (source) => {
      expectRejected(read({ ...s3Event('PutBucketPolicy'), source }), 'unwatched');
    });

    it.each(['GetBucketPolicy', 'ListBuckets', 'PutObject', 'GetBucketPublicAccessBlock', 'PutBucketNotification'])('rejects the S3 call %s', (eventName) => {
      expectRejected(read(s3Event(eventName)), 'unwatched', new RegExp(`${eventName} is not a call this controller watches`));
    });

    it.each(['GetUser', 'ListAccessKeys', 'CreateRole', 'PutRolePolicy'])('rejects the IAM call %s', (eventName) => {
      expectRejected(read(iamEvent(eventName)), 'unwatched');
    });

    it("rejects an S3 event name under aws.iam's catalogue and the reverse as not watched there", () => {
      // An IAM name in an S3 record (eventSource s3) is not an S3 call this controller watches.
      expectRejected(read(s3Event('CreateAccessKey')), 'unwatched');
      expectRejected(read(iamEvent('PutBucketPolicy')), 'unwatched');
    });

    it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])('does not take the object property name %s for a watched call', (eventName) => {
      expectRejected(read(s3Event(eventName)), 'unwatched');
      expectRejected(read(iamEvent(eventName)), 'unwatched');
    });

    it('rejects a bucket call that names no bucket', () => {
      for (const params of [{ host: ['s3.eu-west-1.amazonaws.com'] }, null, 'bucketName=x']) {
        const event = s3Event('PutBucketPublicAccessBlock');
        event.detail.requestParameters = params;
        expectRejected(read(event), 'unwatched', /PutBucketPublicAccessBlock names no bucket/);
      }
      // A name no bucket can have never reaches the store's lookup (a NUL there fails the query).
      for (const bucketName of ['', ['a', 'b'], 42, 'b'.repeat(64), 'hs3-app\u0000one', 'HS3-Upper', 'hs3 space', '-hs3']) {
        const event = s3Event('PutBucketPublicAccessBlock');
        event.detail.requestParameters = { bucketName };
        expectRejected(read(event), 'malformed', /PutBucketPublicAccessBlock names a bucket AWS would not allow/);
      }
      const missing = s3Event('DeleteBucket');
      delete missing.detail.requestParameters;
      expectRejected(read(missing), 'unwatched', /names no bucket/);
    });

    it('rejects a user call that names no user (a userName of the response does not count)', () => {
      const event = iamEvent('CreateAccessKey');
      event.detail.requestParameters = {};
      expectRejected(read(event), 'unwatched', /CreateAccessKey names no user/);
      const bucketOnly = iamEvent('TagUser');
      bucketOnly.detail.requestParameters = { bucketName: BUCKET };
      expectRejected(read(bucketOnly), 'unwatched', /names no user/);
    });
  });

  it('rejects an eventSource that does not fit the source as malformed', () => {
    const s3 = s3Event('PutBucketPolicy');
    s3.detail.eventSource = 'iam.amazonaws.com';
    expectRejected(read(s3), 'malformed', /does not fit source aws\.s3/);
    const iam = iamEvent('CreateAccessKey');
    iam.detail.eventSource = 's3.amazonaws.com';
    expectRejected(read(iam), 'malformed', /does not fit source aws\.iam/);
    const none = s3Event('PutBucketPolicy');
    delete none.detail.eventSource;
    expectRejected(read(none), 'malformed');
  });

  it('rejects a record without an eventName as malformed', () => {
    const event = s3Event('PutBucketPolicy');
    delete event.detail.eventName;
    expectRejected(read(event), 'malformed', /eventName nothing/);
    event.detail.eventName = ['PutBucketPolicy'];
    expectRejected(read(event), 'malformed', /eventName object/);
  });

  it('rejects a change without any id (no envelope id, no eventID) as malformed', () => {
    const event = s3Event('PutBucketPolicy');
    delete event.id;
    delete event.detail.eventID;
    expectRejected(read(event), 'malformed', /without an id/);
    const numbers = s3Event('PutBucketPolicy');
    numbers.id = 17;
    numbers.detail.eventID = 18;
    expectRejected(read(numbers), 'malformed', /without an id/);
  });
});

describe('catalogue', () => {
  it('watches the calls issue 17 names, under the names CloudTrail records', () => {
    const s3: Record<string, ChangedPart> = {
      PutBucketPublicAccessBlock: 'exposure',
      DeleteBucketPublicAccessBlock: 'exposure', // the SDK's DeletePublicAccessBlock
      PutBucketPolicy: 'exposure',
      DeleteBucketPolicy: 'exposure',
      PutBucketAcl: 'exposure',
      PutBucketOwnershipControls: 'exposure',
      DeleteBucketEncryption: 'settings',
      PutBucketEncryption: 'settings',
      PutBucketLifecycle: 'settings', // the SDK's PutBucketLifecycleConfiguration
      PutBucketVersioning: 'settings',
      PutBucketCors: 'settings',
      PutBucketTagging: 'tags',
      DeleteBucket: 'existence',
    };
    const iam: Record<string, ChangedPart> = {
      CreateAccessKey: 'keys',
      UpdateAccessKey: 'keys',
      DeleteAccessKey: 'keys',
      PutUserPolicy: 'permissions',
      DeleteUserPolicy: 'permissions',
      AttachUserPolicy: 'permissions',
      DeleteUser: 'existence',
      TagUser: 'tags',
      UntagUser: 'tags',
    };
    expect(S3_EVENTS).toMatchObject(s3);
    expect(IAM_EVENTS).toMatchObject(iam);
  });

  it('has no name in both catalogues, and the rule pattern lists exactly the watched names', () => {
    expect(Object.keys(S3_EVENTS).filter((name) => Object.hasOwn(IAM_EVENTS, name))).toEqual([]);
    const pattern = changesEventPattern({ instanceId: 'hsc-prod', bucketPrefix: 'hs3-', iamUserPrefix: 'hs3u-' }) as { detail: { eventName: string[] } };
    expect([...pattern.detail.eventName].sort()).toEqual([...Object.keys(S3_EVENTS), ...Object.keys(IAM_EVENTS)].sort());
  });
});
