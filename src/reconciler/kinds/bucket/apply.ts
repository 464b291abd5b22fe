/** How the bucket's actions are applied: create, tag, each setting through its row, and teardown. */
import { bucketAttributeFor, type BucketSettingKind } from './attributes.js';
import type { BucketSettingAction } from '../../actions.js';
import { ABORT_INCOMPLETE_MULTIPART_DAYS, DESIRED_OBJECT_OWNERSHIP, LIFECYCLE_RULE_ID, TEARDOWN_RULE_IDS, hasNoOwnershipTags, tlsOnlyBucketPolicy } from '../../spec.js';
import { Deferred, type ApplyContext, type Handler, type Handlers } from '../../apply/context.js';
import type { ResourceRecord } from '../../../store/types.js';
import type { BucketHandle } from './ports.js';

/** The bucket, through the handle the bucket kind's adapter gives. */
function bucketAt(ctx: ApplyContext, action: { accountId: string }, name: string, region: string): BucketHandle {
  return ctx.resource(action, 'bucket', name, region) as BucketHandle;
}

/** The rules a teardown asks S3 to expire a big bucket with. */
export const EXPIRE_EVERYTHING = { ruleIds: TEARDOWN_RULE_IDS as unknown as readonly [string, string] };

const writeSetting = async (action: BucketSettingAction, ctx: ApplyContext) => {
  const row = bucketAttributeFor(action.kind)!;
  await row.write(bucketAt(ctx, action, action.bucket, action.region), action.desired);
  return row.journal?.(action.desired);
};

const settingHandlers = Object.fromEntries(
  (['put-public-access-block', 'put-bucket-ownership-controls', 'put-bucket-encryption', 'put-bucket-lifecycle', 'put-bucket-versioning', 'put-bucket-cors', 'put-bucket-policy'] satisfies BucketSettingKind[]).map((kind) => [kind, writeSetting]),
) as { [K in BucketSettingKind]: Handler<K> };

export const bucketHandlers: Handlers = {
  'create-bucket': async (action, ctx) => {
    // The intent, stored before the call: lets the next pass recognise the bucket as ours if the
    // process dies before the bucket is tagged.
    if (!(await ctx.deps.resources.setCreateStarted(action.addonId, action.bucket, ctx.now()))) {
      throw new Error(`no stored record for add-on ${action.addonId}`);
    }
    await bucketAt(ctx, action, action.bucket, action.region).create(action.tags, DESIRED_OBJECT_OWNERSHIP);
    return { region: action.region };
  },
  'put-bucket-tags': async (action, ctx) => {
    // Onto a bucket with no ownership tag at all (a create of ours interrupted before tagging) or
    // ours; never onto one another owner has tagged since it was observed.
    await bucketAt(ctx, action, action.bucket, action.region).tag(action.tags, (tags) => ctx.owns(tags, action.addonId) || hasNoOwnershipTags(tags));
    return { tags: Object.keys(action.tags) };
  },
  ...settingHandlers,
  'delete-bucket-policy': async (action, ctx) => {
    const bucket = bucketAt(ctx, action, action.bucket, action.region);
    await ctx.confirmDisposable(bucket, 'bucket', action.bucket, action.addonId);
    await ctx.teardownStarted(action);
    await bucket.deletePolicy();
    return undefined;
  },
  'empty-bucket': async (action, ctx) => {
    const bucket = bucketAt(ctx, action, action.bucket, action.region);
    await ctx.confirmDisposable(bucket, 'bucket', action.bucket, action.addonId);
    const step = await bucket.emptyStep(ctx.deps.emptyKeysPerPass ?? 10_000);
    const detail = { deletedObjects: step.deletedObjects, deleteMarkers: step.deleteMarkers, deletedBytes: step.deletedBytes };
    if (!step.done) {
      // Too big for one pass: let S3 expire the rest for free while later passes keep going.
      if (!(await bucket.expiresEverything(EXPIRE_EVERYTHING))) await bucket.expireEverything(EXPIRE_EVERYTHING);
      throw new Deferred(`bucket ${action.bucket} is being emptied; continued next pass`, detail);
    }
    return detail;
  },
  'delete-bucket': async (action, ctx) => {
    const bucket = bucketAt(ctx, action, action.bucket, action.region);
    await ctx.confirmDisposable(bucket, 'bucket', action.bucket, action.addonId);
    await bucket.delete();
    return { bucket: action.bucket };
  },
};

/**
 * A bucket kept after all, maybe mid-teardown (its plan or retain tag keeps it): the teardown's
 * expiry rules go, and the TLS-only policy comes back.
 */
export async function keepBucket(ctx: ApplyContext, record: ResourceRecord): Promise<void> {
  if (record.resourceName === null) return;
  const bucket = bucketAt(ctx, record, record.resourceName, record.region);
  const { lifecycleRules } = await bucket.settings();
  if (lifecycleRules.some((r) => TEARDOWN_RULE_IDS.includes(r.id))) {
    await bucket.putLifecycle({
      ours: { id: LIFECYCLE_RULE_ID, abortIncompleteMultipartUploadDays: ABORT_INCOMPLETE_MULTIPART_DAYS },
      otherRules: lifecycleRules.filter((r) => r.id !== LIFECYCLE_RULE_ID && !TEARDOWN_RULE_IDS.includes(r.id)).map((r) => r.raw),
    });
  }
  await bucket.putPolicy(tlsOnlyBucketPolicy(record.resourceName));
}
