/**
 * Access-key rotation, planned (issue 16): one add-on's key replaced through the second key slot
 * AWS allows, without any attached app ever holding a key that does not work.
 *
 *   make the new key (it becomes the record's key at once) → deliver it to every attachment →
 *   keep the old key active for ROTATION_OVERLAP (a rolling restart) → deactivate it → after
 *   ROTATION_DEACTIVATED_GRACE delete it, unless it was used after its deactivation: then it is
 *   switched back on and the rotation waits for an operator.
 *
 * Every step is an action of its own, decided each pass from what is read (the record's key, the
 * user's keys, the rotation's row), so a crash between two calls converges: a step done but not
 * written down is seen done and written down; a new key made but never recorded is an unrecorded
 * key, deleted by the usual plan before the rotation makes another (two keys at most, never a
 * LimitExceeded). Pure: no I/O, like the rest of `plan()`.
 */
import { addonHash } from './addon-hash.js';
import type { KeyRotation, ResourceRecord } from '../store/types.js';
import type { Action } from './actions.js';
import type { DesiredAddon, ObservedAccessKey } from './model.js';
import { BlockedReason, DriftKind, RotationReason } from '../reasons.js';

export interface RotationPolicy {
  /** KEY_MAX_AGE: keys are rotated before they are this old (in the last fifth of it, spread by add-on). */
  keyMaxAgeMs: number;
  overlapMs: number;
  deactivatedGraceMs: number;
  /** Apps of one team restarting because of rotation at once (a compromised key's are not held back). */
  maxConcurrentApps: number;
  /** Age rotations deactivating more than this share of an account's add-ons in one pass stop and ask. */
  maxDeactivationRatio: number;
}

/** The defaults of ROTATION_* and KEY_MAX_AGE (config.ts). */
export const DEFAULT_ROTATION_POLICY: RotationPolicy = {
  keyMaxAgeMs: 90 * 86_400_000,
  overlapMs: 3_600_000,
  deactivatedGraceMs: 86_400_000,
  maxConcurrentApps: 5,
  maxDeactivationRatio: 0.5,
};

/** The deactivation breaker judges a share only from this many deactivations in one pass on. */
export const MIN_DEACTIVATIONS_FOR_RATIO = 5;

/**
 * When an add-on's key comes due for rotation by age: between 80% and 90% of KEY_MAX_AGE after it
 * was made, at a point taken from a hash of the add-on's id. A fleet created on one day spreads its
 * rotations over a tenth of KEY_MAX_AGE (9 days of 90), and every key is replaced, overlap and
 * grace included, before it reaches the limit.
 */
export function rotationDueAt(addonId: string, keyCreatedAt: Date, keyMaxAgeMs: number): Date {
  return new Date(keyCreatedAt.getTime() + keyMaxAgeMs * (0.8 + 0.1 * phaseOf(addonId)));
}

/** An add-on's phase in [0, 1), from a hash of its id. */
function phaseOf(addonId: string): number {
  return addonHash(addonId) / 0x1_0000_0000;
}

/** The record's key is due for rotation by age now. */
export function ageDue(record: ResourceRecord, now: Date, keyMaxAgeMs: number): boolean {
  return record.accessKeyCreatedAt !== null && record.accessKeyId !== null && rotationDueAt(record.addonId, record.accessKeyCreatedAt, keyMaxAgeMs) <= now;
}

/**
 * Which add-ons of one team may start a rotation this pass: at most `maxConcurrentApps` apps of
 * the team restart because of rotation at once (those of rotations making or delivering a key,
 * or within their overlap), and a compromised key goes first and is never held back. An add-on
 * attached to more apps than the limit starts alone. Oldest requests first, then oldest keys.
 */
export function admitRotations(
  addons: readonly DesiredAddon[],
  records: ReadonlyMap<string, ResourceRecord>,
  rotations: ReadonlyMap<string, KeyRotation>,
  policy: RotationPolicy,
  now: Date,
  /** Keys are rotated for their age (a policy is configured); else only requested rotations start. */
  byAge: boolean,
  /** When given, only these may start (those that could, this pass); rotations already admitted go on regardless. */
  startable?: ReadonlySet<string>,
): Set<string> {
  const restarting = new Set<string>();
  const admitted = new Set<string>();
  const candidates: { addon: DesiredAddon; order: [number, number] }[] = [];
  for (const addon of addons) {
    const record = records.get(addon.addonId);
    if (!record?.accessKeyId || !record.secretAccessKey) continue;
    const rotation = rotations.get(addon.addonId);
    const made = rotation !== undefined && record.accessKeyId !== rotation.oldAccessKeyId;
    if (rotation && (rotation.step === 'creating' || (made && isRestarting(rotation, policy, now)))) {
      for (const a of addon.attachments) restarting.add(a.appId);
      // Admitted before, and its new key not made yet (a pass died): it goes on.
      if (!made) admitted.add(addon.addonId);
    } else if (startable && !startable.has(addon.addonId)) {
      continue;
    } else if (rotation && !made) {
      candidates.push({ addon, order: [rotation.trigger === 'emergency' ? 0 : 1, rotation.requestedAt.getTime()] });
    } else if (!rotation && byAge && ageDue(record, now, policy.keyMaxAgeMs)) {
      candidates.push({ addon, order: [2, record.accessKeyCreatedAt!.getTime()] });
    }
  }
  candidates.sort((a, b) => a.order[0] - b.order[0] || a.order[1] - b.order[1]);
  for (const { addon, order } of candidates) {
    const apps = addon.attachments.map((a) => a.appId).filter((app) => !restarting.has(app));
    const emergency = order[0] === 0;
    if (!emergency && restarting.size > 0 && restarting.size + new Set(apps).size > policy.maxConcurrentApps) continue;
    admitted.add(addon.addonId);
    for (const app of apps) restarting.add(app);
  }
  return admitted;
}

/** Its apps are restarting: its new key is being delivered, or it is within its overlap. */
function isRestarting(rotation: KeyRotation, policy: RotationPolicy, now: Date): boolean {
  if (rotation.step === 'creating' || rotation.step === 'requested') return true;
  if (rotation.step !== 'delivered' || rotation.deliveredAt === null) return false;
  return now.getTime() < rotation.deliveredAt.getTime() + overlapOf(rotation, policy);
}

/**
 * Whether a pass must list the user's keys for this rotation: when its next step may be due (the
 * new key to make, the overlap or the grace over) or it is reported (stopped for an operator).
 * Not while it only waits out its overlap or grace: a fleet's rotations in flight would otherwise
 * list every key on every pass.
 */
export function rotationNeedsKeys(rotation: KeyRotation, policy: RotationPolicy, now: Date): boolean {
  switch (rotation.step) {
    case 'delivered':
      return rotation.deliveredAt === null || now.getTime() >= rotation.deliveredAt.getTime() + overlapOf(rotation, policy);
    case 'deactivated':
      return rotation.deactivatedAt === null || now.getTime() >= rotation.deactivatedAt.getTime() + policy.deactivatedGraceMs;
    default:
      return true;
  }
}

function overlapOf(rotation: KeyRotation, policy: RotationPolicy): number {
  return rotation.trigger === 'emergency' ? 0 : policy.overlapMs;
}

/** What one add-on's rotation does this pass, around the deliveries the rest of the plan makes. */
export interface RotationPlan {
  /** Before the deliveries: the new key (then every attachment gets it). */
  start: Action[];
  /** After the deliveries, so they run only once every delivery has landed. */
  after: Action[];
  /** The old key the rotation keeps (the usual plan must not retire it); null when none. */
  keeps: string | null;
  /** It would start now, were it admitted (see {@link admitRotations}). */
  wants?: boolean;
}

export const NO_ROTATION: RotationPlan = { start: [], after: [], keeps: null };
const WANTS_TO_START: RotationPlan = { start: [], after: [], keeps: null, wants: true };

export interface RotationInput {
  addon: DesiredAddon;
  accountId: string;
  userName: string;
  record: ResourceRecord | null;
  rotation: KeyRotation | null;
  /** The user's keys as listed this pass; null when they were not. */
  keys: readonly ObservedAccessKey[] | null;
  /** May start now (see {@link admitRotations}); false without a policy. */
  admitted: boolean;
  policy: RotationPolicy;
  now: Date;
}

/** The old key a rotation in flight keeps, whatever else this pass can read. */
export function keptByRotation(record: ResourceRecord | null, rotation: KeyRotation | null): string | null {
  if (!rotation || !record || record.accessKeyId === rotation.oldAccessKeyId) return null;
  return rotation.oldAccessKeyId;
}

/**
 * The next step of the add-on's rotation. Called only when the usual plan keeps the record's key
 * (it is active, nothing is adopted or replaced this pass): a repair goes first.
 */
export function planRotation(input: RotationInput): RotationPlan {
  const { record, rotation, keys, now, policy } = input;
  const keeps = keptByRotation(record, rotation);
  if (keys === null || !record?.accessKeyId || !record.secretAccessKey) return { ...NO_ROTATION, keeps };
  const base = { addonId: input.addon.addonId, accountId: input.accountId, userName: input.userName };
  if (!rotation || record.accessKeyId === rotation.oldAccessKeyId) {
    // Not made yet: only when admitted, and only into a free slot (an unrecorded key, say one made
    // by a crashed attempt, is deleted by the usual plan first).
    if (keys.length !== 1 || keys[0]!.accessKeyId !== record.accessKeyId) return NO_ROTATION;
    if (!input.admitted) return rotation || ageDue(record, now, policy.keyMaxAgeMs) ? WANTS_TO_START : NO_ROTATION;
    const trigger = rotation?.trigger ?? 'age';
    const pastMaxAge = record.accessKeyCreatedAt !== null && now.getTime() - record.accessKeyCreatedAt.getTime() > policy.keyMaxAgeMs;
    const reason = trigger === 'emergency' ? RotationReason.Compromised : trigger === 'on-demand' ? RotationReason.Requested : pastMaxAge ? DriftKind.KeyPastMaxAge : RotationReason.AgeDue;
    const delivered: Action = { ...base, kind: 'mark-rotation-delivered', reason: RotationReason.Delivered, oldAccessKeyId: record.accessKeyId };
    return {
      start: [
        {
          ...base,
          kind: 'create-rotation-key',
          reason,
          oldAccessKeyId: record.accessKeyId,
          trigger,
          requestedBy: rotation?.requestedBy ?? 'controller',
          detail: { field: 'accessKey', expected: 'a new key, delivered before the old one is retired', actual: `${record.accessKeyId}${record.accessKeyCreatedAt ? ` made ${record.accessKeyCreatedAt.toISOString()}` : ''}` },
        },
      ],
      // Once the deliveries planned after the new key have landed: a compromised key goes at once.
      after: trigger === 'emergency' ? [delivered, deactivation(input, record.accessKeyId, rotation)] : [delivered],
      keeps: null,
    };
  }
  const old = keys.find((key) => key.accessKeyId === rotation.oldAccessKeyId);
  if (!old) return { start: [], after: [{ ...base, kind: 'finish-rotation', reason: RotationReason.Finished, oldAccessKeyId: rotation.oldAccessKeyId }], keeps: null };
  const newKey = record.accessKeyId;
  const emergency = rotation.trigger === 'emergency';
  const deactivate = deactivation(input, old.accessKeyId, rotation);
  const after: Action[] = [];
  switch (rotation.step) {
    case 'requested':
    case 'creating':
      // Runs only if every delivery before it in this pass landed (the executor stops at a failure).
      after.push({ ...base, kind: 'mark-rotation-delivered', reason: RotationReason.Delivered, oldAccessKeyId: old.accessKeyId });
      if (emergency) after.push(deactivate);
      break;
    case 'delivered':
      // An inactive old key here was deactivated by a pass that died before writing it down.
      if (old.status === 'Inactive' || now.getTime() >= (rotation.deliveredAt ?? now).getTime() + overlapOf(rotation, policy)) after.push(deactivate);
      break;
    case 'deactivated':
      if (old.status === 'Active') after.push(deactivate);
      else if (now.getTime() >= (rotation.deactivatedAt ?? now).getTime() + policy.deactivatedGraceMs) {
        after.push({
          ...base,
          kind: 'delete-access-key',
          reason: RotationReason.GraceOver,
          accessKeyId: old.accessKeyId,
          rotation: { deactivatedAt: rotation.deactivatedAt ?? now, emergency },
          detail: { field: 'accessKeys', expected: `only ${newKey}`, actual: `also ${old.accessKeyId}, inactive since ${(rotation.deactivatedAt ?? now).toISOString()}` },
        });
      }
      break;
    case 'reactivated':
      if (old.status === 'Inactive') after.push({ ...base, kind: 'reactivate-access-key', reason: BlockedReason.RotatedKeyInUse, accessKeyId: old.accessKeyId });
      after.push({
        ...base,
        kind: 'blocked',
        reason: BlockedReason.RotatedKeyInUse,
        resource: old.accessKeyId,
        message: `access key ${old.accessKeyId} of ${input.userName} was still used after its apps got the new key ${newKey} (late in the overlap, or after its deactivation), so the rotation stopped and the old key stays active. Find what still uses it (CloudTrail, or IAM's last-used information), then run \`heroku-s3-controller rotate --addon ${input.addon.addonName} --yes\` to finish the rotation`,
      });
      break;
  }
  return { start: [], after, keeps: old.accessKeyId };
}

/**
 * The rotation's steps after this pass's deliveries. A pass that gives the new key to an app again
 * (a rollback restored its old vars, an attachment was added) starts the overlap over instead of
 * deactivating the old key: that app restarts now, and its dynos use the old key until they have.
 * A compromised key is switched off all the same.
 */
export function afterDeliveries(after: Action[], delivering: boolean): Action[] {
  if (!delivering) return after;
  return after.map((a) =>
    a.kind === 'deactivate-access-key' && a.reason === RotationReason.OverlapOver
      ? { addonId: a.addonId, accountId: a.accountId, userName: a.userName, kind: 'mark-rotation-delivered', reason: RotationReason.Delivered, oldAccessKeyId: a.accessKeyId }
      : a,
  );
}

function deactivation(input: RotationInput, oldAccessKeyId: string, rotation: KeyRotation | null): Action {
  const emergency = rotation?.trigger === 'emergency';
  return {
    addonId: input.addon.addonId,
    accountId: input.accountId,
    userName: input.userName,
    kind: 'deactivate-access-key',
    reason: emergency ? RotationReason.Compromised : RotationReason.OverlapOver,
    accessKeyId: oldAccessKeyId,
    approved: rotation !== null && (rotation.approvedAt !== null || rotation.trigger !== 'age'),
    // AWS's own procedure: before switching a key off, see that nothing used it since the apps
    // got the new one (the first half of the overlap is the apps' restart).
    ...(!emergency && rotation?.deliveredAt ? { unusedSince: new Date(rotation.deliveredAt.getTime() + input.policy.overlapMs / 2) } : {}),
    attachments: input.addon.attachments.map((a) => ({ attachmentId: a.id, appId: a.appId, appName: a.appName, attachmentName: a.name })),
  };
}

/**
 * The deactivation breaker of each account: when the age rotations of one pass would deactivate
 * the old keys of more than `maxDeactivationRatio` of an account's managed add-ons (from
 * {@link MIN_DEACTIVATIONS_FOR_RATIO} of them on), none of them is deactivated: each is reported
 * until `rotate approve --account`. An operator's own rotations are approved when asked for.
 */
export function holdMassDeactivations(actions: Action[], managedByAccount: ReadonlyMap<string, number>, policy: RotationPolicy): Action[] {
  const counted = new Map<string, number>();
  for (const a of actions) if (a.kind === 'deactivate-access-key' && !a.approved) counted.set(a.accountId, (counted.get(a.accountId) ?? 0) + 1);
  const tripped = new Set(
    [...counted].filter(([accountId, n]) => n >= MIN_DEACTIVATIONS_FOR_RATIO && n / Math.max(1, managedByAccount.get(accountId) ?? 0) > policy.maxDeactivationRatio).map(([id]) => id),
  );
  if (tripped.size === 0) return actions;
  return actions.map((a) => {
    if (a.kind !== 'deactivate-access-key' || a.approved || !tripped.has(a.accountId)) return a;
    const n = counted.get(a.accountId)!;
    return {
      addonId: a.addonId,
      accountId: a.accountId,
      kind: 'blocked',
      reason: BlockedReason.RotationBreakerTripped,
      resource: a.accessKeyId,
      message: `access key ${a.accessKeyId} of ${a.userName} is not deactivated: this pass's key rotations would deactivate ${n} of the ${managedByAccount.get(a.accountId) ?? 0} add-ons' keys in account ${a.accountId}, more than ROTATION_MAX_DEACTIVATION_RATIO=${policy.maxDeactivationRatio}. Its apps hold the new key; check them, then run \`heroku-s3-controller rotate approve --account ${a.accountId}\``,
    };
  });
}
