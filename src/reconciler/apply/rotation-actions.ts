/**
 * How the steps of an access-key rotation are applied (reconciler/rotation.ts plans them). Each
 * writes its step to the store around its one AWS call so that a crash anywhere converges: the
 * row before making the new key (the intent), the new key into the record before anything else
 * uses it, a step's time after the call it stands for. Right before switching the old key off,
 * the new key, the apps and IAM's last use of the old key are checked again; right before
 * deleting it, IAM's last use of it once more.
 */
import { TerminalError } from '../../util/errors.js';
import type { Action } from '../actions.js';
import { configVarNames } from '../spec.js';
import { BlockedReason } from '../../reasons.js';
import type { ApplyContext, Handlers } from './context.js';
import type { RotationRecords } from '../ports.js';

export const rotationHandlers: Handlers = {
  'create-rotation-key': async (action, ctx) => {
    const rotations = rotationsOf(ctx);
    const started = await rotations.start(
      { addonId: action.addonId, accountId: action.accountId, oldAccessKeyId: action.oldAccessKeyId, trigger: action.trigger, requestedBy: action.requestedBy },
      ctx.now(),
    );
    if (!started) throw new TerminalError(`add-on ${action.addonId} has another rotation in flight; nothing is made`, BlockedReason.KeySlotsInUse);
    const record = await ctx.requireRecord(action.addonId);
    if (record.accessKeyId !== action.oldAccessKeyId) {
      // Made by a pass that died before writing the step: nothing to make again.
      if (record.accessKeyId) await rotations.keyCreated(action.addonId, record.accessKeyId);
      return { accessKeyId: record.accessKeyId, alreadyMade: true };
    }
    const user = ctx.user(action, action.userName);
    const keys = await user.accessKeys();
    if (keys.length !== 1 || keys[0]!.accessKeyId !== action.oldAccessKeyId) {
      // Never a third key (LimitExceeded): the usual plan clears the slot first.
      throw new Error(`IAM user ${action.userName} holds ${keys.map((k) => k.accessKeyId).join(', ') || 'no key'}, not only ${action.oldAccessKeyId}; the new key waits for a free slot`);
    }
    const key = await user.createAccessKey();
    await ctx.deps.resources.setKey(action.addonId, key.accessKeyId, key.secretAccessKey, key.createdAt);
    await rotations.keyCreated(action.addonId, key.accessKeyId);
    return { oldAccessKeyId: action.oldAccessKeyId, accessKeyId: key.accessKeyId, trigger: action.trigger, requestedBy: action.requestedBy };
  },
  'mark-rotation-delivered': async (action, ctx) => {
    const record = await ctx.requireRecord(action.addonId);
    if (!record.accessKeyId || record.accessKeyId === action.oldAccessKeyId) throw new Error(`add-on ${action.addonId} has no new key yet; ${action.oldAccessKeyId} stays in use`);
    await rotationsOf(ctx).delivered(action.addonId, record.accessKeyId, ctx.now());
    return { oldAccessKeyId: action.oldAccessKeyId, accessKeyId: record.accessKeyId };
  },
  'deactivate-access-key': async (action, ctx) => {
    const user = ctx.user(action, action.userName);
    await ctx.confirmUserOwned(user, action.userName, action.addonId);
    const record = await ctx.requireRecord(action.addonId);
    const newKey = record.accessKeyId;
    if (!newKey || newKey === action.accessKeyId) {
      throw new TerminalError(`access key ${action.accessKeyId} is add-on ${action.addonId}'s recorded key; it is not deactivated`, 'recorded-key');
    }
    const keys = await user.accessKeys();
    if (keys.find((k) => k.accessKeyId === newKey)?.status !== 'Active') {
      throw new Error(`the new access key ${newKey} of ${action.userName} is not active; ${action.accessKeyId} stays on`);
    }
    // A delivery that did not land (or was undone): that app would lose its access. Its delivery
    // record is dropped, so the next pass delivers the new key to it again.
    for (const attachment of action.attachments) {
      const vars = await ctx.deps.configVars.read(attachment.appId);
      if (vars?.[configVarNames(attachment.attachmentName).accessKeyId] === action.accessKeyId) {
        await ctx.deps.deliveries.remove(action.addonId, attachment.attachmentId);
        throw new TerminalError(`app ${attachment.appName} still holds access key ${action.accessKeyId} (${attachment.attachmentName}_AWS_ACCESS_KEY_ID); it stays active, and the app gets the new key again`, BlockedReason.RotatedKeyInUse);
      }
    }
    if (action.unusedSince) {
      const lastUsed = await user.accessKeyLastUsed(action.accessKeyId);
      if (lastUsed !== null && lastUsed > action.unusedSince) {
        await rotationsOf(ctx).reactivated(action.addonId, ctx.now());
        throw new TerminalError(
          `access key ${action.accessKeyId} of ${action.userName} was used at ${lastUsed.toISOString()}, after its apps had the new key ${newKey}: something else still uses it, so it stays active and the rotation stops`,
          BlockedReason.RotatedKeyInUse,
        );
      }
    }
    if (keys.find((k) => k.accessKeyId === action.accessKeyId)?.status === 'Active') await user.setAccessKeyStatus(action.accessKeyId, 'Inactive');
    await rotationsOf(ctx).deactivated(action.addonId, ctx.now());
    return { accessKeyId: action.accessKeyId, newAccessKeyId: newKey, checkedApps: action.attachments.map((a) => a.appName) };
  },
  'reactivate-access-key': async (action, ctx) => {
    const user = ctx.user(action, action.userName);
    await ctx.confirmUserOwned(user, action.userName, action.addonId);
    await rotationsOf(ctx).reactivated(action.addonId, ctx.now());
    await user.setAccessKeyStatus(action.accessKeyId, 'Active');
    return { accessKeyId: action.accessKeyId };
  },
  'finish-rotation': async (action, ctx) => {
    await rotationsOf(ctx).finish(action.addonId);
    return { oldAccessKeyId: action.oldAccessKeyId };
  },
};

/**
 * Before a rotated-out key is deleted (the `rotation` of a delete-access-key): IAM's last use of
 * it. Used since its deactivation: a compromised key is deleted all the same (and the use is
 * reported); any other is switched back on (the intent written first) and not deleted.
 */
export async function checkRotatedKeyUnused(action: Action & { kind: 'delete-access-key' }, ctx: ApplyContext): Promise<Record<string, unknown>> {
  const rotation = action.rotation!;
  const user = ctx.user(action, action.userName);
  const lastUsed = await user.accessKeyLastUsed(action.accessKeyId);
  if (lastUsed === null || lastUsed < rotation.deactivatedAt) return { lastUsed: lastUsed?.toISOString() ?? null };
  if (rotation.emergency) {
    ctx.deps.logger.warn(
      { reason: BlockedReason.RotatedKeyInUse, accountId: action.accountId, addonId: action.addonId, resource: action.accessKeyId },
      `compromised access key ${action.accessKeyId} of ${action.userName} was used at ${lastUsed.toISOString()}, after its deactivation; it is deleted all the same. Look in CloudTrail for who used it`,
    );
    return { lastUsed: lastUsed.toISOString(), usedAfterDeactivation: true };
  }
  await rotationsOf(ctx).reactivated(action.addonId, ctx.now());
  await user.setAccessKeyStatus(action.accessKeyId, 'Active');
  throw new TerminalError(
    `access key ${action.accessKeyId} of ${action.userName} was used at ${lastUsed.toISOString()}, after its deactivation at ${rotation.deactivatedAt.toISOString()}: it is switched back on, not deleted`,
    BlockedReason.RotatedKeyInUse,
  );
}

function rotationsOf(ctx: ApplyContext): RotationRecords {
  if (!ctx.deps.rotations) throw new Error('no rotation store is configured');
  return ctx.deps.rotations;
}
