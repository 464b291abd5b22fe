/**
 * What each resource must look like: deterministic names, ownership tags, policy documents and
 * bucket settings. Pure functions: `plan()` compares observations with these, sinks apply them.
 */
import { createHash, hash } from 'node:crypto';
import type { DesiredAttachment, PublicAccessBlock } from './model.js';

/** The settings that shape names and tags; derived from the configuration. */
export interface NamingPolicy {
  instanceId: string;
  bucketPrefix: string;
  iamPath: string;
  iamUserPrefix: string;
}

export const TAG_PREFIX = 'heroku-s3-controller:';
export const TAG = {
  instance: `${TAG_PREFIX}instance`,
  addonId: `${TAG_PREFIX}addon-id`,
  appId: `${TAG_PREFIX}app-id`,
  teamId: `${TAG_PREFIX}team-id`,
  /** `true` keeps the bucket and its data when its add-on goes away. */
  retain: `${TAG_PREFIX}retain`,
  /**
   * The add-on's plan, on its bucket: teardown reads retention from the bucket itself, so a plan
   * the store forgot (lost, or restored from an older backup) still keeps a retaining plan's data.
   */
  plan: `${TAG_PREFIX}plan`,
  /** The kind of resources the add-on stands for, on a user of a kind other than a bucket. */
  kind: `${TAG_PREFIX}kind`,
  /** Set while the resource is an orphan: when it became one, and when it may be deleted. */
  orphanedAt: `${TAG_PREFIX}orphaned-at`,
  deleteAfter: `${TAG_PREFIX}delete-after`,
} as const;

export const USER_POLICY_NAME = 'heroku-s3-controller-bucket-access';
/** Lifecycle rules a teardown puts on a big bucket so S3 expires what is left; never kept otherwise. */
export const TEARDOWN_RULE_IDS: readonly string[] = ['heroku-s3-controller-teardown-expire', 'heroku-s3-controller-teardown-delete-markers'];
export const LIFECYCLE_RULE_ID = 'heroku-s3-controller-abort-incomplete-multipart';
export const ABORT_INCOMPLETE_MULTIPART_DAYS = 7;
export const DESIRED_ENCRYPTION = 'AES256';
export const DESIRED_OBJECT_OWNERSHIP = 'BucketOwnerEnforced';
export const DESIRED_PUBLIC_ACCESS_BLOCK: PublicAccessBlock = {
  blockPublicAcls: true,
  ignorePublicAcls: true,
  blockPublicPolicy: true,
  restrictPublicBuckets: true,
};

/**
 * `<prefix><add-on id>-<8 hex of sha256(account)>`: at most 18 + 36 + 1 + 8 = 63 characters.
 * The account hash keeps the global name free when a team is relinked to another account.
 */
export function bucketNameFor(policy: NamingPolicy, accountId: string, addonId: string): string {
  return `${policy.bucketPrefix}${addonId.toLowerCase()}-${accountHash(accountId)}`;
}

/** 8 hex of sha256(account), once per account: plan() names every add-on's bucket on every pass. */
const ACCOUNT_HASHES = new Map<string, string>();
function accountHash(accountId: string): string {
  let hashed = ACCOUNT_HASHES.get(accountId);
  if (hashed === undefined) {
    hashed = createHash('sha256').update(accountId).digest('hex').slice(0, 8);
    if (ACCOUNT_HASHES.size >= 10_000) ACCOUNT_HASHES.clear();
    ACCOUNT_HASHES.set(accountId, hashed);
  }
  return hashed;
}

/** IAM user names are unique per account only, so the add-on id suffices (≤ 20 + 36 characters). */
export function userNameFor(policy: NamingPolicy, addonId: string): string {
  return `${policy.iamUserPrefix}${addonId.toLowerCase()}`;
}

export interface OwnerIdentity {
  addonId: string;
  appId: string;
  teamId: string;
}

export function ownershipTags(policy: NamingPolicy, owner: OwnerIdentity): Record<string, string> {
  return {
    [TAG.instance]: policy.instanceId,
    [TAG.addonId]: owner.addonId,
    [TAG.appId]: owner.appId,
    [TAG.teamId]: owner.teamId,
  };
}

/** A bucket's tags: its ownership tags and its add-on's plan ({@link TAG.plan}). */
export function bucketTagsFor(policy: NamingPolicy, owner: OwnerIdentity & { plan: string }): Record<string, string> {
  return { ...ownershipTags(policy, owner), [TAG.plan]: owner.plan };
}

/**
 * True when `tags` holds every tag of `ownershipTags(policy, owner)` with its value (other tags may
 * be there too): what plan() asks of every bucket and user, answered without building the tags.
 * Keep in step with ownershipTags.
 */
export function hasOwnershipTags(tags: Record<string, string>, policy: NamingPolicy, owner: OwnerIdentity): boolean {
  return (
    tags[TAG.instance] === policy.instanceId &&
    tags[TAG.addonId] === owner.addonId &&
    tags[TAG.appId] === owner.appId &&
    tags[TAG.teamId] === owner.teamId
  );
}

/** Safety invariant 1: only a resource tagged with this instance and this add-on is ours. */
export function isOwnedBy(tags: Record<string, string>, policy: Pick<NamingPolicy, 'instanceId'>, addonId: string): boolean {
  return tags[TAG.instance] === policy.instanceId && tags[TAG.addonId] === addonId;
}

/**
 * True when the bucket carries `heroku-s3-controller:retain=true`, read leniently (trimmed, any
 * case): keeping a bucket is the safe side.
 */
export function isRetained(tags: Record<string, string>): boolean {
  return tags[TAG.retain]?.trim().toLowerCase() === 'true';
}

/** True when the resource carries no ownership tag of any controller instance at all. */
export function hasNoOwnershipTags(tags: Record<string, string>): boolean {
  return !Object.keys(tags).some((key) => key.startsWith(TAG_PREFIX));
}

/** Denies every request that does not use TLS. Exactly this document is the bucket's policy. */
export function tlsOnlyBucketPolicy(bucket: string): string {
  return TLS_ONLY_TEMPLATE(bucket);
}

function buildTlsOnlyBucketPolicy(bucket: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'DenyInsecureTransport',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:*',
        Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
    ],
  });
}

/** Least privilege for the add-on's IAM user: its one bucket, nothing else; read-only plans read only. */
export function userPolicyDocument(bucket: string, access: 'read-write' | 'read-only' = 'read-write'): string {
  return USER_POLICY_TEMPLATES[access](bucket);
}

function buildUserPolicyDocument(bucket: string, access: 'read-write' | 'read-only'): string {
  const objectActions =
    access === 'read-only'
      ? ['s3:GetObject']
      : ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'];
  const bucketActions = access === 'read-only' ? ['s3:ListBucket', 's3:GetBucketLocation'] : ['s3:ListBucket', 's3:GetBucketLocation', 's3:ListBucketMultipartUploads'];
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Sid: 'ListAndLocateTheBucket', Effect: 'Allow', Action: bucketActions, Resource: `arn:aws:s3:::${bucket}` },
      { Sid: access === 'read-only' ? 'ReadObjects' : 'ReadWriteObjects', Effect: 'Allow', Action: objectActions, Resource: `arn:aws:s3:::${bucket}/*` },
    ],
  });
}

/**
 * A document builder turned into a template, filled in by string joins: byte for byte what
 * `build(bucket)` returns (the bucket goes in JSON-escaped, as JSON.stringify would put it), without
 * building and serialising an object per call — plan() makes two per add-on on every pass.
 */
function bucketTemplate(build: (bucket: string) => string): (bucket: string) => string {
  const placeholder = '\u0000bucket\u0000';
  const parts = build(placeholder).split(JSON.stringify(placeholder).slice(1, -1));
  return (bucket) => parts.join(jsonEscaped(bucket));
}

/** Characters JSON.stringify writes as they are: printable ASCII but `"` and `\`. */
const JSON_VERBATIM = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * `JSON.stringify(value).slice(1, -1)`: a string as it appears inside a JSON string literal. A
 * bucket name (printable ASCII without `"` or `\`) is that already, so it is used as it is; only
 * anything else is serialised (5 times faster for the two documents plan() fills per add-on).
 */
function jsonEscaped(value: string): string {
  return JSON_VERBATIM.test(value) ? value : JSON.stringify(value).slice(1, -1);
}

const TLS_ONLY_TEMPLATE = bucketTemplate(buildTlsOnlyBucketPolicy);
const USER_POLICY_TEMPLATES = {
  'read-write': bucketTemplate((bucket) => buildUserPolicyDocument(bucket, 'read-write')),
  'read-only': bucketTemplate((bucket) => buildUserPolicyDocument(bucket, 'read-only')),
};

/**
 * Canonical form of an IAM/S3 policy document, so that equal policies compare equal whatever the
 * key order, single-value-or-list spelling, or `"*"` vs `{"AWS":"*"}` principal AWS returns.
 */
export function canonicalPolicy(document: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(document);
  } catch {
    return `unparseable:${document}`;
  }
  return JSON.stringify(canonicalValue(parsed, ''));
}

/**
 * Whether two policy documents mean the same. The byte-equal case, which is every resource in
 * sync (AWS and moto give back the document as it was put), is decided without parsing: the
 * canonical form costs a parse, a sort and a serialisation, which at 100k resources was most of
 * plan()'s time.
 */
export function samePolicy(observed: string, desired: string): boolean {
  return observed === desired || canonicalPolicy(observed) === canonicalPolicy(desired);
}

const LIST_KEYS = new Set(['Action', 'NotAction', 'Resource', 'NotResource', 'Statement']);

function canonicalValue(value: unknown, key: string): unknown {
  if (key === 'Principal' && value === '*') return { AWS: ['*'] };
  if (Array.isArray(value)) {
    const items = value.map((item) => canonicalValue(item, ''));
    return key === 'Statement' ? items : items.map((item) => JSON.stringify(item)).sort().map((item) => JSON.parse(item));
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      out[k] = LIST_KEYS.has(k) && !Array.isArray(v) ? canonicalValue([v], k) : canonicalValue(v, k);
    }
    return out;
  }
  if (typeof value === 'string' && ['AWS', 'Service', 'Federated'].includes(key)) return [value];
  return value;
}

/** What names the bucket among an attachment's vars: the var that says whose they are. */
export const BUCKET_NAME_SUFFIX = '_BUCKET_NAME';

/** What names the access key among an attachment's vars (a key id is unique to its user). */
export const ACCESS_KEY_ID_SUFFIX = '_AWS_ACCESS_KEY_ID';

/** The names of the config vars delivered for one attachment (`BUCKET` → `BUCKET_BUCKET_NAME`, …). */
export function configVarNames(attachmentName: string) {
  return {
    bucketName: `${attachmentName}${BUCKET_NAME_SUFFIX}`,
    accessKeyId: `${attachmentName}${ACCESS_KEY_ID_SUFFIX}`,
    secretAccessKey: `${attachmentName}_AWS_SECRET_ACCESS_KEY`,
    region: `${attachmentName}_AWS_REGION`,
    url: `${attachmentName}_URL`,
  };
}

export interface Credentials {
  /** The add-on's own resource (a bucket's name), delivered by its kind; null for a kind without one. */
  resourceName: string | null;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** The vars a bucket's attachment gets: where the bucket is, and the key to reach it with. */
export function configVarsFor(attachment: Pick<DesiredAttachment, 'name'>, credentials: Credentials & { resourceName: string }): Record<string, string> {
  const names = configVarNames(attachment.name);
  return {
    [names.bucketName]: credentials.resourceName,
    [names.accessKeyId]: credentials.accessKeyId,
    [names.secretAccessKey]: credentials.secretAccessKey,
    [names.region]: credentials.region,
    [names.url]: `s3://${credentials.resourceName}`,
  };
}

/**
 * A one-way fingerprint of delivered config vars, stored so a pass in sync needs no Heroku read.
 * The inputs include a 40-character random secret, so the hash reveals nothing usable.
 */
export function configVarsFingerprint(vars: Record<string, string>): string {
  // The same order as `a.localeCompare(b)` and the same digest as createHash(…).digest('hex'),
  // so stored fingerprints stay valid; a shared collator and the one-shot hash are several times
  // faster, which counts when plan() fingerprints every attachment of 100k add-ons.
  // Exactly JSON.stringify(entries) for string values, without building the entry arrays.
  let json = '[';
  for (const key of sortedKeys(Object.keys(vars))) {
    json += `${json.length > 1 ? ',' : ''}[${JSON.stringify(key)},${JSON.stringify(vars[key])}]`;
  }
  return hash('sha256', `${json}]`);
}

/**
 * sha256 of each config var's value, by name: stored with a delivery so that a var is removed only
 * while it still holds what was delivered. A value among them is a 40-character random secret, so
 * its hash reveals nothing usable; the others are names and ids.
 */
export function configVarValueHashes(vars: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(vars).map(([name, value]) => [name, configVarValueHash(value)]));
}

export function configVarValueHash(value: string): string {
  return hash('sha256', value);
}

const COLLATOR = new Intl.Collator();
const SORTED_KEYS = new Map<string, string[]>();

/** `keys` in collation order; the order of each key set is computed once (the sets repeat: one per attachment name). */
function sortedKeys(keys: string[]): string[] {
  const id = keys.join('\u0000');
  let sorted = SORTED_KEYS.get(id);
  if (!sorted) {
    sorted = [...keys].sort((a, b) => COLLATOR.compare(a, b));
    if (SORTED_KEYS.size >= 10_000) SORTED_KEYS.clear();
    SORTED_KEYS.set(id, sorted);
  }
  return sorted;
}
