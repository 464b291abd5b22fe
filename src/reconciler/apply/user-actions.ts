/** How the IAM user's actions are applied: the user, its policy, its keys, and its teardown. */
import { TerminalError } from '../../util/errors.js';
import type { Action } from '../actions.js';
import { configVarNames } from '../spec.js';
import { heldDelivery } from './config-var-actions.js';
import { checkRotatedKeyUnused } from './rotation-actions.js';
import type { ApplyContext, Handlers } from './context.js';

export const userHandlers: Handlers = {
  'create-user': async (action, ctx) => {
    await ctx.user(action, action.userName).create(action.path, action.tags, (tags) => ctx.owns(tags, action.addonId));
    return { path: action.path };
  },
  'tag-user': async (action, ctx) => {
    await ctx.user(action, action.userName).tag(action.tags);
    return { tags: Object.keys(action.tags) };
  },
  'put-user-policy': async (action, ctx) => {
    await ctx.user(action, action.userName).putPolicy(action.policyName, action.document);
    return { policyName: action.policyName };
  },
  'delete-user-policy': async (action, ctx) => {
    await ctx.user(action, action.userName).deletePolicy(action.policyName);
    return { policyName: action.policyName };
  },
  'create-access-key': async (action, ctx) => {
    const key = await ctx.user(action, action.userName).createAccessKey();
    await ctx.deps.resources.setKey(action.addonId, key.accessKeyId, key.secretAccessKey, key.createdAt);
    return { accessKeyId: key.accessKeyId };
  },
  'delete-access-key': async (action, ctx) => {
    const user = ctx.user(action, action.userName);
    await ctx.confirmUserOwned(user, action.userName, action.addonId);
    const record = await ctx.deps.resources.get(action.addonId);
    if (record?.accessKeyId === action.accessKeyId && record.secretAccessKey) {
      // Recorded since the plan was made (a second writer): it is in use, not to be deleted. Unless
      // the plan frees a slot with the record's own key, switched off, for the key replacing it,
      // and it is still off: refusing that left the apps holding the dead key for ever.
      const stillOff = action.freesSlotOfRecorded && (await user.accessKeys()).find((k) => k.accessKeyId === action.accessKeyId)?.status !== 'Active';
      if (!stillOff) throw new TerminalError(`access key ${action.accessKeyId} is now the recorded key of add-on ${action.addonId}; it is not deleted`, 'recorded-key');
    }
    const checked = action.rotation ? await checkRotatedKeyUnused(action, ctx) : {};
    await user.deleteAccessKey(action.accessKeyId);
    if (action.rotation) await ctx.deps.rotations?.finish(action.addonId);
    return { accessKeyId: action.accessKeyId, ...checked };
  },
  'adopt-access-key': adoptKey,
  'delete-user-keys': async (action, ctx) => {
    const user = ctx.user(action, action.userName);
    await ctx.confirmUserOwned(user, action.userName, action.addonId);
    await ctx.teardownStarted(action);
    return { accessKeyIds: await user.deleteAllAccessKeys() };
  },
  'delete-user-policies': async (action, ctx) => {
    const user = ctx.user(action, action.userName);
    await ctx.confirmUserOwned(user, action.userName, action.addonId);
    const { inline, detached } = await user.deleteAllPolicies();
    return { inlinePolicies: inline, detachedPolicies: detached };
  },
  'delete-user': async (action, ctx) => {
    const user = ctx.user(action, action.userName);
    await ctx.confirmUserOwned(user, action.userName, action.addonId);
    await user.delete();
    return { user: action.userName };
  },
};

/**
 * Takes back into the record a key an attached app holds (store lost or restored from an older
 * backup): its secret is read from that app and proven with STS to belong to the add-on's own
 * user before it is stored. Nothing is created and no app is patched.
 */
async function adoptKey(action: Action & { kind: 'adopt-access-key' }, ctx: ApplyContext): Promise<Record<string, unknown>> {
  const { deps } = ctx;
  await ctx.confirmUserOwned(ctx.user(action, action.userName), action.userName, action.addonId);
  const vars = await deps.configVars.read(action.appId);
  const names = configVarNames(action.attachmentName);
  const secretAccessKey = vars?.[names.accessKeyId] === action.accessKeyId ? vars[names.secretAccessKey] : undefined;
  if (!secretAccessKey) throw new Error(`app ${action.appName} no longer holds access key ${action.accessKeyId} with its secret; nothing adopted`);
  if (!deps.keyIdentity) throw new Error('no way to check an access key with STS is configured; nothing adopted');
  const arn = await deps.keyIdentity(action.accountId, { accessKeyId: action.accessKeyId, secretAccessKey });
  if (!arn.startsWith(`arn:aws:iam::${action.accountId}:user/`) || !arn.endsWith(`/${action.userName}`)) {
    throw new TerminalError(`the secret app ${action.appName} holds for access key ${action.accessKeyId} acts as ${arn}, not as IAM user ${action.userName}; nothing adopted`, 'key-mismatch');
  }
  if (!(await deps.resources.setKey(action.addonId, action.accessKeyId, secretAccessKey))) {
    throw new Error(`no stored record for add-on ${action.addonId}`);
  }
  // What the apps hold is what a lost store had delivered: recorded, so that a teardown before
  // the next delivery check still knows to remove it. An app that cannot be read now is left
  // to that check.
  const record = await ctx.requireRecord(action.addonId);
  const credentials = { resourceName: record.resourceName, region: record.region, accessKeyId: action.accessKeyId, secretAccessKey };
  const onApps = new Map([[action.appId, vars!]]);
  const recorded: string[] = [];
  for (const holder of action.heldBy) {
    if (!onApps.has(holder.appId)) onApps.set(holder.appId, (await deps.configVars.read(holder.appId).catch(() => null)) ?? {});
    const held = heldDelivery(ctx, record, holder.attachmentId, holder.appId, holder.attachmentName, onApps.get(holder.appId)!, credentials);
    if (!held) continue;
    await deps.deliveries.record(held);
    recorded.push(...held.varNames.map((name) => `${holder.appId}:${name}`));
  }
  return { accessKeyId: action.accessKeyId, adoptedFrom: action.appName, recordedAsDelivered: recorded };
}
