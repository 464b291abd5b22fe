/** How the bucket's actions are applied: create, tag, each setting through its row, and teardown. */
import { bucketAttributeFor, type BucketSettingKind } from './attributes.js';
import type { BucketSettingAction } from '../../actions.js';
import { DESIRED_OBJECT_OWNERSHIP, TEARDOWN_RULE_IDS, hasNoOwnershipTags } from '../../spec.js';
import { Deferred, type ApplyContext, type Handler, type Handlers } from '../../apply/context.js';

/** The rules a teardown asks S3 to expire a big bucket with. */
export const EXPIRE_EVERYTHING = { ruleIds: TEARDOWN_RULE_IDS as unknown as readonly [string, string] };

const writeSetting = async (action: BucketSettingAction, ctx: ApplyContext) => {
  const row = bucketAttributeFor(action.kind)!;
  await row.write(ctx.bucket(action, action.bucket, action.region), action.desired);
  return row.journal?.(action.desired);
};

const settingHandlers = Object.fromEntries(
  (['put-public-access-block', 'put-bucket-ownership-controls', 'put-bucket-encryption', 'put-bucket-lifecycle', 'put-bucket-versioning', 'put-bucket-cors', 'put-bucket-policy'] satisfies BucketSettingKind[]).map((kind) => [kind, writeSetting]),
) as { [K in BucketSettingKind]: Handler<K> };

export const bucketHandlers: Handlers = {
  'create-bucket': async (action, ctx) => {
    // The intent, stored before the call: lets the next pass recognise the bucket as ours if the
    // process dies before the bucket is tagged.
    if (!(await ctx.deps.resources.setCreateStarted(action.addonId, ctx.now()))) {
      throw new Error(`no stored record for add-on ${action.addonId}`);
    }
    await ctx.bucket(action, action.bucket, action.region).create(action.tags, DESIRED_OBJECT_OWNERSHIP);
    return { region: action.region };
  },
  'put-bucket-tags': async (action, ctx) => {
    // Onto a bucket with no ownership tag at all (a create of ours interrupted before tagging) or
    // ours; never onto one another owner has tagged since it was observed.
    await ctx.bucket(action, action.bucket, action.region).tag(action.tags, (tags) => ctx.owns(tags, action.addonId) || hasNoOwnershipTags(tags));
    return { tags: Object.keys(action.tags) };
  },
  ...settingHandlers,
  'delete-bucket-policy': async (action, ctx) => {
    const bucket = ctx.bucket(action, action.bucket, action.region);
    await ctx.confirmBucketDisposable(bucket, action.bucket, action.addonId);
    await ctx.teardownStarted(action);
    await bucket.deletePolicy();
    return undefined;
  },
  'empty-bucket': async (action, ctx) => {
    const bucket = ctx.bucket(action, action.bucket, action.region);
    await ctx.confirmBucketDisposable(bucket, action.bucket, action.addonId);
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
    const bucket = ctx.bucket(action, action.bucket, action.region);
    await ctx.confirmBucketDisposable(bucket, action.bucket, action.addonId);
    await bucket.delete();
    return { bucket: action.bucket };
  },
};
