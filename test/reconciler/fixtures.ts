/** Builders of plan inputs for table tests: an add-on and an account that is fully in sync. */
import type { BucketSettings, DesiredAddon, ObservedAccount, ObservedBucket, ObservedUser, PlanInput } from '../../src/reconciler/model.js';
import {
  ABORT_INCOMPLETE_MULTIPART_DAYS,
  LIFECYCLE_RULE_ID,
  USER_POLICY_NAME,
  bucketNameFor,
  bucketTagsFor,
  configVarsFingerprint,
  configVarsFor,
  ownershipTags,
  tlsOnlyBucketPolicy,
  userNameFor,
  userPolicyDocument,
  type NamingPolicy,
} from '../../src/reconciler/spec.js';
import type { DeliveryRecord, Link, ResourceRecord } from '../../src/store/types.js';

export const POLICY: NamingPolicy = { instanceId: 'test', bucketPrefix: 'hs3-', iamPath: '/heroku-s3-controller/', iamUserPrefix: 'hs3-' };
export const ACCOUNT = '111111111111';
export const TEAM = 'a1b2c3d4-0000-4000-8000-000000000001';
export const ADDON = '0f3b1a52-1111-4111-8111-111111111111';
export const NOW = new Date('2026-11-22T12:00:00Z');
export const BUCKET = bucketNameFor(POLICY, ACCOUNT, ADDON);
export const USER = userNameFor(POLICY, ADDON);
export const KEY_ID = 'AKIAEXAMPLEKEY000001';
export const SECRET = 'secret-example-value-0000000000000000000';

export function link(overrides: Partial<Link> = {}): Link {
  return {
    teamId: TEAM,
    teamName: 'acme',
    accountId: ACCOUNT,
    region: null,
    auth: { kind: 'role', roleArn: `arn:aws:iam::${ACCOUNT}:role/x`, externalId: null },
    createdAt: NOW,
    updatedAt: NOW,
    ...overrides,
  };
}

export function addon(overrides: Partial<DesiredAddon> = {}): DesiredAddon {
  return {
    addonId: ADDON,
    addonName: 's3-bucket-curved-12345',
    service: 's3-bucket',
    plan: 's3-bucket:standard',
    appId: 'app-0001',
    appName: 'acme-web',
    teamId: TEAM,
    region: 'us-east-1',
    attachments: [
      { id: 'att-1', name: 'BUCKET', appId: 'app-0001', appName: 'acme-web' },
      { id: 'att-2', name: 'ASSETS', appId: 'app-0002', appName: 'acme-worker' },
    ],
    ownedConfigVars: [],
    ...overrides,
  };
}

export function record(overrides: Partial<ResourceRecord> = {}): ResourceRecord {
  return {
    addonId: ADDON,
    addonName: 's3-bucket-curved-12345',
    accountId: ACCOUNT,
    teamId: TEAM,
    appId: 'app-0001',
    plan: 's3-bucket:standard',
    kind: 'bucket',
    resourceName: BUCKET,
    region: 'us-east-1',
    userName: USER,
    accessKeyId: KEY_ID,
    secretAccessKey: SECRET,
    accessKeyCreatedAt: null,
    resourceCreateStartedAt: new Date(NOW.getTime() - 3_600_000),
    deepCheckedAt: new Date(NOW.getTime() - 60_000),
    exposureCheckedAt: new Date(NOW.getTime() - 60_000),
    orphan: null,
    teardownStartedAt: null,
    state: 'ready',
    lastError: null,
    createdAt: new Date(NOW.getTime() - 3_600_000),
    updatedAt: NOW,
    ...overrides,
  };
}

export function syncedSettings(bucket = BUCKET): BucketSettings {
  return {
    publicAccessBlock: { blockPublicAcls: true, ignorePublicAcls: true, blockPublicPolicy: true, restrictPublicBuckets: true },
    encryption: { algorithm: 'AES256', kmsKeyId: null },
    objectOwnership: 'BucketOwnerEnforced',
    policy: tlsOnlyBucketPolicy(bucket),
    lifecycleRules: [
      { id: LIFECYCLE_RULE_ID, enabled: true, prefix: '', abortIncompleteMultipartUploadDays: ABORT_INCOMPLETE_MULTIPART_DAYS, raw: {} },
    ],
    versioning: null,
    cors: null,
  };
}

export function syncedBucket(overrides: Partial<ObservedBucket> = {}): ObservedBucket {
  return {
    name: BUCKET,
    creationDate: new Date(NOW.getTime() - 3_000_000),
    tags: bucketTagsFor(POLICY, addon()),
    settings: syncedSettings(),
    ...overrides,
  };
}

export function syncedUser(overrides: Partial<ObservedUser> = {}): ObservedUser {
  return {
    userName: USER,
    path: POLICY.iamPath,
    tags: ownershipTags(POLICY, addon()),
    inlinePolicies: { [USER_POLICY_NAME]: userPolicyDocument(BUCKET) },
    accessKeys: [{ accessKeyId: KEY_ID, status: 'Active' }],
    ...overrides,
  };
}

export function account(buckets: ObservedBucket[], users: ObservedUser[], overrides: Partial<ObservedAccount> = {}): ObservedAccount {
  return {
    accountId: ACCOUNT,
    complete: true,
    error: null,
    resources: new Map([['bucket', new Map(buckets.map((b) => [b.name, b]))]]),
    users: new Map(users.map((u) => [u.userName, u])),
    iamUsersInAccount: users.length,
    iamUserQuota: null,
    ...overrides,
  };
}

export function deliveriesFor(a: DesiredAddon, r: ResourceRecord): DeliveryRecord[] {
  return a.attachments.map((att) => {
    const vars = configVarsFor(att, {
      resourceName: r.resourceName!,
      region: r.region,
      accessKeyId: r.accessKeyId!,
      secretAccessKey: r.secretAccessKey!,
    });
    return { addonId: a.addonId, attachmentId: att.id, appId: att.appId, varNames: Object.keys(vars), fingerprint: configVarsFingerprint(vars), deliveredAt: NOW };
  });
}

/** The fully converged world; each test changes one thing. */
export function inSync(): PlanInput {
  const a = addon();
  const r = record();
  return {
    links: [link()],
    desired: [{ teamId: TEAM, teamName: 'acme', complete: true, error: null, addons: [a], deprovisioned: [] }],
    observed: new Map([[ACCOUNT, account([syncedBucket()], [syncedUser()])]]),
    records: new Map([[ADDON, r]]),
    deliveries: deliveriesFor(a, r),
    configVars: new Map(),
    recentRepairs: new Map(),
    breakers: new Map(),
    now: NOW,
  };
}
