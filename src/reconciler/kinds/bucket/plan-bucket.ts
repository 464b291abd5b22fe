/**
 * The bucket's part of plan(): the bucket exists, is ours (safety invariant 1), carries its tags,
 * and each managed setting is as its row in attributes.ts wants. Pure, like the rest of plan().
 */
import type { Action } from '../../actions.js';
import { describeTags, pick } from '../../describe.js';
import type { BucketSettings, DesiredAddon, ExposureSettings, ObservedBucket } from '../../model.js';
import type { SettingsProfile } from '../../profiles.js';
import { BlockedReason, DriftKind } from '../../../reasons.js';
import { TAG, bucketTagsFor, hasNoOwnershipTags, hasOwnershipTags, isOwnedBy, type NamingPolicy } from '../../spec.js';
import type { Link, ResourceRecord } from '../../../store/types.js';
import { BUCKET_ATTRIBUTES, type BucketAttribute, type BucketSettingKind } from './attributes.js';

/**
 * How far S3's clock may be behind ours when judging whether an untagged bucket was created by
 * our own interrupted CreateBucket call.
 */
export const CLOCK_SKEW_MS = 5 * 60_000;

/** What the bucket's plan needs of the add-on's context in plan(). */
export interface BucketPlanContext {
  addon: DesiredAddon;
  link: Link;
  policy: NamingPolicy;
  record: ResourceRecord | null;
  profile: SettingsProfile;
}

/** The bucket's tags: the ownership tags and the plan. */
function bucketTagsOf(ctx: BucketPlanContext): Record<string, string> {
  return bucketTagsFor(ctx.policy, ctx.addon);
}

export function planBucket(
  ctx: BucketPlanContext,
  bucket: string,
  region: string,
  observed: ObservedBucket | undefined,
): Action[] {
  const base = { addonId: ctx.addon.addonId, accountId: ctx.link.accountId, bucket, region };
  if (!observed) {
    const tags = bucketTagsOf(ctx);
    // Tags go with CreateBucket (atomic on AWS) and again with PutBucketTagging, for endpoints
    // that ignore tags on create; every setting follows, since a new bucket has none of ours.
    return [
      { ...base, kind: 'create-bucket', reason: DriftKind.MissingBucket, tags, detail: { field: 'bucket', expected: 'exists', actual: 'missing' } },
      { ...base, kind: 'put-bucket-tags', reason: DriftKind.MissingBucket, tags },
      ...settingsRepairs(base, null, DriftKind.MissingBucket, ctx.profile),
    ];
  }
  if (!isOwnedBy(observed.tags, ctx.policy, ctx.addon.addonId)) {
    const tags = bucketTagsOf(ctx);
    if (wasCreatedByOurInterruptedCall(ctx.record, observed)) {
      return [
        {
          ...base,
          kind: 'put-bucket-tags',
          reason: DriftKind.TagsChanged,
          tags,
          detail: { field: 'tags', expected: describeTags(tags), actual: 'none (create interrupted before tagging)' },
        },
        ...settingsRepairs(base, observed.settings, DriftKind.MissingBucket, ctx.profile),
      ];
    }
    return [
      {
        ...base,
        kind: 'blocked',
        reason: BlockedReason.NotOwned,
        resource: bucket,
        message: `bucket ${bucket} exists in account ${ctx.link.accountId} without this controller's ownership tags; it is left untouched. Delete or rename it, or tag it by hand if it is truly this add-on's`,
        detail: { field: 'tags', expected: describeTags(tags), actual: describeTags(observed.tags) },
      },
    ];
  }
  const actions: Action[] = [];
  if (!hasOwnershipTags(observed.tags, ctx.policy, ctx.addon) || observed.tags[TAG.plan] !== ctx.addon.plan) {
    const tags = bucketTagsOf(ctx);
    actions.push({
      ...base,
      kind: 'put-bucket-tags',
      reason: DriftKind.TagsChanged,
      tags,
      detail: { field: 'tags', expected: describeTags(tags), actual: describeTags(pick(observed.tags, Object.keys(tags))) },
    });
  }
  if (observed.settings) actions.push(...settingsRepairs(base, observed.settings, null, ctx.profile));
  return actions;
}

/**
 * Safety invariant 1 with invariant 6: an untagged bucket with our deterministic name is adopted
 * only when our own record says we sent CreateBucket for it, and S3 says it was created after that.
 */
function wasCreatedByOurInterruptedCall(record: ResourceRecord | null, observed: ObservedBucket): boolean {
  if (!record?.resourceCreateStartedAt || !observed.creationDate) return false;
  if (!hasNoOwnershipTags(observed.tags)) return false;
  return observed.creationDate.getTime() >= record.resourceCreateStartedAt.getTime() - CLOCK_SKEW_MS;
}

type SettingBase = { addonId: string; accountId: string; bucket: string; region: string };

/**
 * One repair per setting that differs ({@link BUCKET_ATTRIBUTES}); with `settings` null (a new
 * bucket), every setting. An exposure check read some settings only: the others are not judged.
 */
function settingsRepairs(base: SettingBase, settings: BucketSettings | ExposureSettings | null, newBucket: DriftKind | null, profile: SettingsProfile): Action[] {
  const actions: Action[] = [];
  const ctx = { bucket: base.bucket, profile };
  for (const row of BUCKET_ATTRIBUTES) {
    if (settings !== null && !(row.reads in settings)) continue;
    // Every setting the row reads is there (checked just above).
    const repair = (row as BucketAttribute<BucketSettingKind>).repair(settings as BucketSettings | null, ctx);
    if (repair) actions.push({ ...base, kind: row.action, reason: newBucket ?? row.drift, desired: repair.desired, detail: repair.detail } as Action);
  }
  return actions;
}
