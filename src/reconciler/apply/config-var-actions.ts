/**
 * How credentials reach apps and leave them: deliveries, removals, and the deliveries a rebuilt
 * record finds on its app. A var is removed only while it still holds what was delivered.
 */
import type { ResourceInput } from '../../store/resource-store.js';
import type { DeliveryRecord } from '../../store/types.js';
import { httpStatusOf } from '../../util/error-class.js';
import { errorMessage } from '../../util/errors.js';
import type { Action } from '../actions.js';
import { GcReason, ReconcileEvent } from '../../reasons.js';
import {
  ACCESS_KEY_ID_SUFFIX,
  BUCKET_NAME_SUFFIX,
  configVarNames,
  configVarValueHash,
  configVarValueHashes,
  configVarsFingerprint,
  type Credentials,
} from '../spec.js';
import type { ApplyContext, Handlers } from './context.js';

export const configVarHandlers: Handlers = {
  'deliver-config-vars': async (action, ctx) => {
    const { deps } = ctx;
    const record = await ctx.requireRecord(action.addonId);
    if (!record.accessKeyId || !record.secretAccessKey) {
      throw new Error(`no stored access key for add-on ${action.addonId} to deliver`);
    }
    const credentials = { resourceName: record.resourceName, region: record.region, accessKeyId: record.accessKeyId, secretAccessKey: record.secretAccessKey };
    // What lands on this attachment's app, and is recorded and checked for drift, either way.
    const kind = ctx.kindOf(record);
    const vars = kind.configVars(action.attachmentName, credentials);
    const addonConfig = deps.addonConfig;
    if (action.alreadyOnApp) {
      // The app holds exactly these values (read this pass): recorded, not patched again.
    } else if (addonConfig && (await addonConfig.handles(action.addonId))) {
      if (!ctx.addonConfigSent.has(action.addonId)) {
        await addonConfig.deliver(action.addonId, kind.configVars(addonConfig.prefix, credentials));
        ctx.addonConfigSent.add(action.addonId);
      }
    } else {
      await ctx.onApp(action.appId, () => deps.configVars.set(action.appId, vars));
    }
    await deps.deliveries.record({
      addonId: action.addonId,
      attachmentId: action.attachmentId,
      appId: action.appId,
      varNames: Object.keys(vars),
      fingerprint: configVarsFingerprint(vars),
      valueHashes: configVarValueHashes(vars),
      deliveredAt: ctx.now(),
    });
    return { appId: action.appId, varNames: Object.keys(vars), accessKeyId: record.accessKeyId, ...(action.alreadyOnApp ? { alreadyOnApp: true } : {}) };
  },
  'remove-config-vars': async (action, ctx) => {
    const { deps } = ctx;
    if (action.reason === GcReason.GraceExpired) await ctx.teardownStarted(action);
    const suffix = await resourceVarSuffix(ctx, action.addonId);
    const ours = await ctx.onApp(action.appId, async () => {
      const onApp = await deps.configVars.read(action.appId);
      const still = onApp ? stillDelivered(action, onApp, suffix) : [];
      await deps.configVars.remove(action.appId, still);
      return still;
    });
    await deps.deliveries.remove(action.addonId, action.attachmentId);
    return { appId: action.appId, varNames: ours, kept: action.varNames.filter((name) => !ours.includes(name)) };
  },
};

/**
 * A record rebuilt from its resources' tags after a store loss knows no delivery. The app that
 * owns the add-on (its tags name it) is asked for what the controller would have delivered
 * there: every attachment name whose vars name the add-on's bucket and hold an access key of
 * the add-on's own user is recorded as delivered there, each var only where it holds the value
 * the controller delivers with that key (the secret is the one the app holds), so that the
 * teardown removes them as it removes any delivery (only while they still hold those values).
 * Vars someone copied without our key, or set to values of their own, are not ours; apps it was
 * attached to besides its own are not known. A read that may answer next time throws (the
 * record waits for it); a refusal leaves the vars where they are, and the collection goes on.
 */
export async function findDeliveries(ctx: ApplyContext, record: ResourceInput): Promise<{ deliveries: DeliveryRecord[]; detail: Record<string, unknown> }> {
  try {
    const deliveries = await deliveriesOnOwningApp(ctx, record);
    return { deliveries, detail: { appId: record.appId, varNames: deliveries.flatMap((d) => d.varNames) } };
  } catch (err) {
    if (!isRefusal(err)) throw err;
    // Refused (no access to the app, say): asking again will not help, and the resources are
    // collected all the same; only these vars stay.
    const message = `config vars of add-on ${record.addonId} on app ${record.appId} not looked for: ${errorMessage(err)}`;
    ctx.deps.logger.warn({ reason: ReconcileEvent.DeliveriesNotFound, accountId: record.accountId, addonId: record.addonId }, message);
    return { deliveries: [], detail: { appId: record.appId, varsNotLookedFor: errorMessage(err) } };
  }
}

async function deliveriesOnOwningApp(ctx: ApplyContext, record: ResourceInput): Promise<DeliveryRecord[]> {
  if (!record.appId) return [];
  const onApp = (await ctx.deps.configVars.read(record.appId)) ?? {};
  // Attachment names whose vars name the add-on's resource (the var its kind names it in), or for
  // a kind without such a var, hold a key id.
  const suffix = record.resourceName === null ? undefined : ctx.kindOf(record).resourceVarSuffix;
  const prefixes = Object.entries(onApp).flatMap(([name, value]) => {
    if (suffix !== undefined) return name.endsWith(suffix) && value === record.resourceName ? [name.slice(0, -suffix.length)] : [];
    return name.endsWith(ACCESS_KEY_ID_SUFFIX) ? [name.slice(0, -ACCESS_KEY_ID_SUFFIX.length)] : [];
  });
  if (prefixes.length === 0) return [];
  const keys = await ctx.user(record, record.userName).accessKeys();
  const found: DeliveryRecord[] = [];
  for (const prefix of prefixes) {
    const names = configVarNames(prefix);
    const accessKeyId = onApp[names.accessKeyId];
    if (!accessKeyId || !keys.some((key) => key.accessKeyId === accessKeyId)) continue;
    const credentials = { resourceName: record.resourceName, region: record.region, accessKeyId, secretAccessKey: onApp[names.secretAccessKey] ?? '' };
    const held = heldDelivery(ctx, record, `found-on-app:${prefix}`, record.appId, prefix, onApp, credentials);
    if (held) found.push(held);
  }
  return found;
}

/**
 * What an app holds of one attachment's vars, as the controller delivers them with these
 * credentials, as a delivery record; only vars that hold exactly that value (one someone set to
 * a value of their own is not ours). Null when none does.
 */
export function heldDelivery(
  ctx: ApplyContext,
  record: Pick<ResourceInput, 'addonId' | 'kind'>,
  attachmentId: string,
  appId: string,
  attachmentName: string,
  onApp: Record<string, string>,
  credentials: Credentials,
): DeliveryRecord | null {
  const ours = ctx.kindOf(record).configVars(attachmentName, credentials);
  const vars = Object.fromEntries(Object.entries(ours).filter(([name, value]) => onApp[name] === value));
  if (Object.keys(vars).length === 0) return null;
  return {
    addonId: record.addonId,
    attachmentId,
    appId,
    varNames: Object.keys(vars),
    fingerprint: configVarsFingerprint(vars),
    valueHashes: configVarValueHashes(vars),
    deliveredAt: ctx.now(),
  };
}

/**
 * The suffix of the var naming the add-on's resource, by its record's kind (`resourceVarSuffix`).
 * Without a record (forgotten meanwhile) the vars of a resource are a bucket's, as every delivery
 * was before kinds; of a kind this controller lacks, the key id anchors them.
 */
async function resourceVarSuffix(ctx: ApplyContext, addonId: string): Promise<string | undefined> {
  const record = await ctx.deps.resources.get(addonId);
  return record ? ctx.deps.kinds.get(record.kind)?.resourceVarSuffix : BUCKET_NAME_SUFFIX;
}

/**
 * Of the vars one delivery set, those the app still holds as delivered (invariant 10). They are
 * this add-on's only while the app's var naming its resource (`*_BUCKET_NAME`, its kind's
 * `resourceVarSuffix`) still names it (a resource name is unique to its add-on; the region var
 * alone could be anybody's), and each only while its value hashes to what was delivered. Vars from
 * before value hashes were kept go on the resource's name alone. Without a resource, or a var
 * naming it, the key id anchors them.
 */
function stillDelivered(action: Action & { kind: 'remove-config-vars' }, onApp: Record<string, string>, suffix: string | undefined): string[] {
  if (action.bucket !== null && suffix !== undefined) {
    const resourceVar = action.varNames.find((name) => name.endsWith(suffix));
    if (!resourceVar || onApp[resourceVar] !== action.bucket) return [];
  } else {
    // No bucket names the add-on: its key id does, exactly as delivered (key ids are unique).
    const keyVar = action.varNames.find((name) => name.endsWith(ACCESS_KEY_ID_SUFFIX));
    const value = keyVar === undefined ? undefined : onApp[keyVar];
    if (value === undefined || action.valueHashes?.[keyVar!] !== configVarValueHash(value)) return [];
  }
  return action.varNames.filter((name) => {
    const value = onApp[name];
    if (value === undefined) return false;
    return action.valueHashes === null || action.valueHashes[name] === configVarValueHash(value);
  });
}

/**
 * An answer asking again will not change: a 4xx from Heroku or AWS other than 429 (throttling).
 * Anything else, even a terminal error of ours, is asked again on a later pass: the record waits
 * rather than lose track of vars it could still find.
 */
function isRefusal(err: unknown): boolean {
  const status = httpStatusOf(err);
  return status !== null && status >= 400 && status < 500 && status !== 429;
}
