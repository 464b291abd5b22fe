/**
 * The bucket's managed settings, one row each: how the value is read from a deep check, what the
 * plan's profile wants, how two values compare, how it is reported and how it is written. plan()
 * walks the rows in order (one repair action per row out of step, carrying the value to write)
 * and the executor writes an action through its row, so adding a setting is one row here plus its
 * test.
 */
import type { DriftDetail } from '../../actions.js';
import type { BucketSettings, LifecycleRule, PublicAccessBlock } from '../../model.js';
import type { BucketHandle, LifecycleSpec } from './ports.js';
import { canonicalCors, desiredCors, type CorsRuleSpec, type SettingsProfile } from '../../profiles.js';
import { DriftKind } from '../../../reasons.js';
import {
  ABORT_INCOMPLETE_MULTIPART_DAYS,
  DESIRED_ENCRYPTION,
  DESIRED_OBJECT_OWNERSHIP,
  DESIRED_PUBLIC_ACCESS_BLOCK,
  LIFECYCLE_RULE_ID,
  TEARDOWN_RULE_IDS,
  samePolicy,
  tlsOnlyBucketPolicy,
} from '../../spec.js';

/** What a row's desired value is computed from. */
export interface AttributeContext {
  bucket: string;
  profile: SettingsProfile;
}

/** The values each setting's action carries, by action kind. */
export interface BucketSettingValues {
  'put-public-access-block': PublicAccessBlock;
  'put-bucket-ownership-controls': string;
  'put-bucket-encryption': string;
  'put-bucket-lifecycle': LifecycleSpec;
  'put-bucket-versioning': boolean;
  'put-bucket-cors': CorsRuleSpec[] | null;
  'put-bucket-policy': string;
}

export type BucketSettingKind = keyof BucketSettingValues;

export interface BucketAttribute<K extends BucketSettingKind> {
  /** The action that writes it. */
  action: K;
  /** The drift it is reported as when it differs on a bucket that exists. */
  drift: DriftKind;
  /** The setting it judges: a row is judged only when a read brought that setting back. */
  reads: keyof BucketSettings;
  /**
   * The value to write when `settings` (null: a new bucket, nothing set yet) is out of step, or
   * null when it is in step. Some settings are judged on more than equality (a bucket that was
   * never versioned stays so; other owners' lifecycle rules are kept), so a row decides both.
   */
  repair(settings: BucketSettings | null, ctx: AttributeContext): { desired: BucketSettingValues[K]; detail: DriftDetail } | null;
  write(bucket: BucketHandle, desired: BucketSettingValues[K]): Promise<void>;
  /** What the journal keeps of the value written (never a secret; none of these is one). */
  journal?(desired: BucketSettingValues[K]): Record<string, unknown>;
}

const PAB_KEYS = Object.keys(DESIRED_PUBLIC_ACCESS_BLOCK) as (keyof PublicAccessBlock)[];

const publicAccessBlock: BucketAttribute<'put-public-access-block'> = {
  action: 'put-public-access-block',
  reads: 'publicAccessBlock',
  drift: DriftKind.PublicAccessBlockChanged,
  repair(settings) {
    const pab = settings?.publicAccessBlock ?? null;
    if (pab && !PAB_KEYS.some((key) => pab[key] !== DESIRED_PUBLIC_ACCESS_BLOCK[key])) return null;
    return {
      desired: DESIRED_PUBLIC_ACCESS_BLOCK,
      detail: { field: 'publicAccessBlock', expected: JSON.stringify(DESIRED_PUBLIC_ACCESS_BLOCK), actual: pab ? JSON.stringify(pab) : null },
    };
  },
  write: (bucket, desired) => bucket.putPublicAccessBlock(desired),
};

const objectOwnership: BucketAttribute<'put-bucket-ownership-controls'> = {
  action: 'put-bucket-ownership-controls',
  reads: 'objectOwnership',
  drift: DriftKind.OwnershipChanged,
  repair(settings) {
    if (settings?.objectOwnership === DESIRED_OBJECT_OWNERSHIP) return null;
    return { desired: DESIRED_OBJECT_OWNERSHIP, detail: { field: 'objectOwnership', expected: DESIRED_OBJECT_OWNERSHIP, actual: settings?.objectOwnership ?? null } };
  },
  write: (bucket, desired) => bucket.putObjectOwnership(desired),
};

const encryption: BucketAttribute<'put-bucket-encryption'> = {
  action: 'put-bucket-encryption',
  reads: 'encryption',
  drift: DriftKind.EncryptionChanged,
  repair(settings) {
    if (settings?.encryption?.algorithm === DESIRED_ENCRYPTION) return null;
    return { desired: DESIRED_ENCRYPTION, detail: { field: 'encryption', expected: DESIRED_ENCRYPTION, actual: settings?.encryption?.algorithm ?? null } };
  },
  write: (bucket, desired) => bucket.putEncryption(desired),
};

/**
 * Our abort-incomplete-uploads rule beside the bucket's other rules, which are kept as they are.
 * A teardown's expire-everything rules on a bucket that is wanted again would delete its data:
 * they go.
 */
const lifecycle: BucketAttribute<'put-bucket-lifecycle'> = {
  action: 'put-bucket-lifecycle',
  reads: 'lifecycleRules',
  drift: DriftKind.LifecycleChanged,
  repair(settings) {
    const rules = settings?.lifecycleRules ?? [];
    // The first rule of ours (as rules.find), and whether a teardown rule is there, in one loop.
    let ours: LifecycleRule | undefined;
    let hasTeardownRule = false;
    for (const rule of rules) {
      if (ours === undefined && rule.id === LIFECYCLE_RULE_ID) ours = rule;
      if (TEARDOWN_RULE_IDS.includes(rule.id)) hasTeardownRule = true;
    }
    if (!hasTeardownRule && ours && ours.enabled && ours.prefix === '' && ours.abortIncompleteMultipartUploadDays === ABORT_INCOMPLETE_MULTIPART_DAYS) return null;
    const teardownRules = rules.filter((rule) => TEARDOWN_RULE_IDS.includes(rule.id));
    return {
      desired: {
        ours: { id: LIFECYCLE_RULE_ID, abortIncompleteMultipartUploadDays: ABORT_INCOMPLETE_MULTIPART_DAYS },
        otherRules: rules.filter((rule) => rule.id !== LIFECYCLE_RULE_ID && !TEARDOWN_RULE_IDS.includes(rule.id)).map((rule) => rule.raw),
      },
      detail: {
        field: `lifecycle rule ${LIFECYCLE_RULE_ID}`,
        expected: `enabled, abort incomplete multipart uploads after ${ABORT_INCOMPLETE_MULTIPART_DAYS} days`,
        actual:
          teardownRules.length > 0
            ? `a teardown's expire-everything rule (${teardownRules.map((r) => r.id).join(', ')})`
            : ours
              ? `${ours.enabled ? 'enabled' : 'disabled'}, prefix "${ours.prefix}", after ${ours.abortIncompleteMultipartUploadDays ?? '-'} days`
              : null,
      },
    };
  },
  write: (bucket, desired) => bucket.putLifecycle(desired),
};

/** A bucket that was never versioned stays so; one that was can only be suspended, not unversioned. */
const versioning: BucketAttribute<'put-bucket-versioning'> = {
  action: 'put-bucket-versioning',
  reads: 'versioning',
  drift: DriftKind.VersioningChanged,
  repair(settings, { profile }) {
    const actual = settings?.versioning ?? null;
    if (profile.versioning ? actual === 'Enabled' : actual !== 'Enabled') return null;
    return {
      desired: profile.versioning,
      detail: { field: 'versioning', expected: profile.versioning ? 'Enabled' : 'Suspended or never enabled', actual: actual ?? 'never enabled' },
    };
  },
  write: (bucket, desired) => bucket.putVersioning(desired),
  journal: (desired) => ({ enabled: desired }),
};

const cors: BucketAttribute<'put-bucket-cors'> = {
  action: 'put-bucket-cors',
  reads: 'cors',
  drift: DriftKind.CorsChanged,
  repair(settings, { profile }) {
    const desired = desiredCors(profile);
    const actual = canonicalCors(settings?.cors ?? null);
    if (actual === canonicalCors(desired)) return null;
    return { desired, detail: { field: 'cors', expected: canonicalCors(desired), actual } };
  },
  write: (bucket, desired) => bucket.putCors(desired),
  journal: (desired) => ({ origins: desired?.flatMap((r) => r.allowedOrigins) ?? [] }),
};

/** Exactly the TLS-only policy: any other statement (a public grant, say) is drift. */
const bucketPolicy: BucketAttribute<'put-bucket-policy'> = {
  action: 'put-bucket-policy',
  reads: 'policy',
  drift: DriftKind.TlsPolicyChanged,
  repair(settings, { bucket }) {
    const policy = settings?.policy ?? null;
    const desired = tlsOnlyBucketPolicy(bucket);
    if (policy !== null && samePolicy(policy, desired)) return null;
    return { desired, detail: { field: 'bucketPolicy', expected: desired, actual: policy } };
  },
  write: (bucket, desired) => bucket.putPolicy(desired),
};

/** The rows, in the order their repairs run. */
export const BUCKET_ATTRIBUTES = [publicAccessBlock, objectOwnership, encryption, lifecycle, versioning, cors, bucketPolicy] as const;

const BY_ACTION = new Map<string, BucketAttribute<BucketSettingKind>>(BUCKET_ATTRIBUTES.map((row) => [row.action, row as BucketAttribute<BucketSettingKind>]));

/** The row that writes this action kind, if it is a setting's. */
export function bucketAttributeFor(kind: string): BucketAttribute<BucketSettingKind> | undefined {
  return BY_ACTION.get(kind);
}
