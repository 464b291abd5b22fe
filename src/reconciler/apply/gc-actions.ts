/** How garbage collection's own actions are applied: orphan marks, forgetting, the breaker. */
import { TAG } from '../spec.js';
import { classifyError } from '../../util/error-class.js';
import type { Handlers } from './context.js';
import { BlockedReason } from '../../reasons.js';

export const gcHandlers: Handlers = {
  'mark-orphan': async (action, ctx) => {
    await ctx.deps.resources.setOrphan(action.addonId, action.orphan);
    const record = await ctx.requireRecord(action.addonId);
    // Reached only to tag it: a kind without an adapter here has nothing to tag.
    const resource = () => (record.resourceName === null ? null : ctx.resource(action, record.kind, record.resourceName, record.region));
    const user = ctx.user(action, record.userName);
    const markTags = [TAG.orphanedAt, TAG.deleteAfter];
    if (action.orphan) {
      const tags = { [TAG.orphanedAt]: action.orphan.since.toISOString(), [TAG.deleteAfter]: action.orphan.deleteAfter.toISOString() };
      if (action.tagBucket) await resource()?.mergeTags(tags);
      // A user already gone is left gone: the mark is for what is still there.
      if (action.tagUser) await user.tag(tags).catch(ignoreNotFound);
      return { orphan: action.orphan.reason, deleteAfter: action.orphan.deleteAfter.toISOString() };
    }
    if (action.tagBucket) await resource()?.mergeTags({}, markTags);
    if (action.tagUser) await user.untag(markTags);
    return { orphan: null };
  },
  'forget-resource': async (action, ctx) => {
    const { resources, deliveries } = ctx.deps;
    if (action.retained && action.bucket !== null) {
      // Kept, maybe mid-teardown: its kind puts back what the teardown took.
      const record = await ctx.requireRecord(action.addonId);
      await ctx.kindOf(record).keep?.(ctx, record);
      await resources.setState(action.addonId, 'retained', null);
      return { retainedBucket: action.bucket };
    }
    await deliveries.removeForAddon(action.addonId);
    await resources.remove(action.addonId);
    return { forgotten: action.addonId };
  },
  'trip-gc-breaker': async (action, ctx) => {
    await ctx.deps.gcBreakers.trip(action.accountId, action.planned, ctx.now());
    ctx.deps.logger.error(
      { reason: BlockedReason.GcBreakerTripped, accountId: action.accountId, planned: action.planned.length },
      `garbage collection held in account ${action.accountId}: ${action.planned.length} deletions wait for \`heroku-s3-controller gc approve --account ${action.accountId}\``,
    );
    return { planned: action.planned };
  },
  'reset-gc-breaker': async (action, ctx) => {
    await ctx.deps.gcBreakers.reset(action.accountId);
    return undefined;
  },
};

function ignoreNotFound(err: unknown): void {
  if (classifyError(err).kind !== 'not-found') throw err;
}
