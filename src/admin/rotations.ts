/**
 * Access-key rotation on an operator's word (issue 16): the one place the CLI (`rotate`,
 * `rotate approve`, `rotations`) and the admin API choose what to rotate, show it, and queue it.
 * The passes carry a queued rotation out (reconciler/rotation.ts); here nothing touches AWS.
 *
 * A request is all or nothing: every selected add-on is rotated, or, when one cannot be (no key
 * yet, a rotation already in flight, its key changed meanwhile), nothing is written. Each request
 * is journaled with who made it. Only key ids appear anywhere here, never a secret.
 */
import type { RotationSettings } from '../config/config.js';
import { AppNotFoundError } from '../heroku/apps.js';
import type { RotationRequest } from '../store/rotation-store.js';
import type { DeliveryRecord, JournalEntry, KeyRotation, Link, ResourceRecord, RotationTrigger } from '../store/types.js';
import { humanDuration } from '../util/duration.js';
import { UserError } from '../util/errors.js';
import { NothingToApproveError } from './gc.js';


/** What `rotate` names: one add-on (id or name), the add-ons an app holds, a team's, an account's. */
export type RotationTarget = 'addon' | 'app' | 'team' | 'account';

export interface RotationSelection {
  by: RotationTarget;
  value: string;
}

export const ROTATION_TARGETS: readonly RotationTarget[] = ['addon', 'app', 'team', 'account'];

/** The rotation timing a plan describes (ROTATION_OVERLAP, ROTATION_DEACTIVATED_GRACE). */
export type RotationTiming = Pick<RotationSettings, 'overlapMs' | 'deactivatedGraceMs'>;

/** What is read to choose and to list. */
export interface RotationReads {
  resources: { listAll(): Promise<ResourceRecord[]> };
  deliveries: { listAll(): Promise<DeliveryRecord[]> };
  links: { list(): Promise<Link[]>; findByTeam(nameOrId: string): Promise<Link | null> };
  rotations: { list(): Promise<KeyRotation[]> };
}

/** What is written, inside one transaction. */
export interface RotationWrites {
  rotations: {
    request(requests: readonly RotationRequest[], at: Date): Promise<boolean>;
    resume(addonId: string, at: Date): Promise<boolean>;
    escalate(addonId: string, oldAccessKeyId: string, at: Date): Promise<boolean>;
    approve(accountId: string, at: Date): Promise<number>;
  };
  journal: { append(entry: JournalEntry): Promise<unknown> };
}

export interface RotationDeps {
  store: RotationReads & { transaction<T>(fn: (tx: RotationWrites) => Promise<T>): Promise<T> };
  /** The app as Heroku names it (`--app`); a UserError when Heroku does not know it. */
  resolveApp(nameOrId: string): Promise<{ id: string; name: string }>;
  instanceId: string;
  timing: RotationTiming;
}

/** The selection names nothing this controller manages (an unknown add-on, app, team or account). */
export class RotationTargetNotFoundError extends UserError {}

/** The selection cannot be rotated as it stands (no key yet, a rotation in flight): nothing was written. */
export class RotationRefusedError extends UserError {}

/** A team admin named add-ons of a team they do not administer. */
export class OutsideTeamsError extends UserError {}

/**
 * One add-on whose key a request rotates (a new rotation), resumes (one waiting in step
 * `reactivated`), or escalates (`--compromised` on a rotation in flight: it goes on as an
 * emergency, the old key deactivated as soon as every app holds the new one, never switched on again).
 */
export interface PlannedRotation {
  addonId: string;
  addonName: string;
  teamId: string;
  teamName: string | null;
  accountId: string;
  appId: string;
  /** Known when the selection was an app (Heroku named it); null otherwise. */
  appName: string | null;
  /** The key the rotation replaces. */
  accessKeyId: string;
  keyCreatedAt: string | null;
  keyAgeSeconds: number | null;
  step: 'request' | 'resume' | 'escalate';
  trigger: RotationTrigger;
  /** What happens to the apps and the old key, in one phrase. */
  effect: string;
}

export interface RotationPlan {
  selection: RotationSelection;
  compromised: boolean;
  rotations: PlannedRotation[];
  /** Selected add-ons left out, and why (no key yet). */
  skipped: { addonId: string; addonName: string; reason: string }[];
}

export interface PlanOptions {
  compromised: boolean;
  /** A team admin's teams (ids): any add-on of another team selected is refused. */
  teams?: ReadonlySet<string>;
}

/**
 * What rotating `selection` would do, changing nothing. Throws one sentence when the selection
 * names nothing managed ({@link RotationTargetNotFoundError}), leaves nothing to rotate, or holds
 * an add-on whose rotation is in flight ({@link RotationRefusedError}).
 */
export async function planRotations(deps: RotationDeps, selection: RotationSelection, options: PlanOptions, now: Date): Promise<RotationPlan> {
  const [records, links, rotations] = await Promise.all([deps.store.resources.listAll(), deps.store.links.list(), deps.store.rotations.list()]);
  const selected = await select(deps, selection, records, links);
  if (options.teams) {
    const outside = [...selected.records.map((r) => r.teamId), ...selected.teamIds].filter((teamId) => !options.teams!.has(teamId));
    if (outside.length > 0) throw new OutsideTeamsError(`${selected.label} is outside the teams you administer: only an operator may rotate its keys`);
  }
  const inFlight = new Map(rotations.map((r) => [r.addonId, r]));
  // A leaked key does not wait: --compromised escalates a rotation in flight, unless it already is one.
  const busy = selected.records.filter((r) => {
    const flight = inFlight.get(r.addonId);
    return flight !== undefined && (options.compromised ? flight.trigger === 'emergency' : flight.step !== 'reactivated');
  });
  if (busy.length > 0) {
    const first = inFlight.get(busy[0]!.addonId)!;
    throw new RotationRefusedError(
      busy.length === 1
        ? `add-on ${busy[0]!.addonName} already has a rotation in flight (step ${first.step} since ${first.stepAt.toISOString()}): nothing changed; \`heroku-s3-controller rotations\` shows its progress`
        : `${busy.length} of the selected add-ons already have a rotation in flight (${names(busy)}): nothing changed; \`heroku-s3-controller rotations\` shows their progress`,
    );
  }
  const teamNames = new Map(links.map((l) => [l.teamId, l.teamName]));
  const plan: RotationPlan = { selection, compromised: options.compromised, rotations: [], skipped: [] };
  for (const record of selected.records) {
    const waiting = inFlight.get(record.addonId);
    // A pass rotates only the add-ons of linked teams, and only a key it made and holds the secret of.
    const why = !teamNames.has(record.teamId) ? NOT_LINKED : !record.accessKeyId || !record.secretAccessKey ? NO_KEY : null;
    if (why !== null) {
      plan.skipped.push({ addonId: record.addonId, addonName: record.addonName, reason: why });
      continue;
    }
    // A key found still in use is resumed only when named alone: a whole team's request must not
    // switch off, unseen, the key the controller stopped for.
    if (waiting?.step === 'reactivated' && !options.compromised && selection.by !== 'addon') {
      plan.skipped.push({ addonId: record.addonId, addonName: record.addonName, reason: STILL_IN_USE });
      continue;
    }
    const step: PlannedRotation['step'] = !waiting ? 'request' : options.compromised ? 'escalate' : 'resume';
    const trigger: RotationTrigger = options.compromised ? 'emergency' : (waiting?.trigger ?? 'on-demand');
    plan.rotations.push({
      addonId: record.addonId,
      addonName: record.addonName,
      teamId: record.teamId,
      teamName: teamNames.get(record.teamId) ?? null,
      accountId: record.accountId,
      appId: record.appId,
      appName: selected.appNames.get(record.appId) ?? null,
      accessKeyId: waiting?.oldAccessKeyId ?? record.accessKeyId!,
      keyCreatedAt: waiting ? null : (record.accessKeyCreatedAt?.toISOString() ?? null),
      keyAgeSeconds: !waiting && record.accessKeyCreatedAt ? Math.max(0, Math.floor((now.getTime() - record.accessKeyCreatedAt.getTime()) / 1000)) : null,
      step,
      trigger,
      effect: effectOf(step === 'request' ? trigger : step, deps.timing),
    });
  }
  if (plan.rotations.length === 0) {
    const reasons = [...new Set(plan.skipped.map((s) => s.reason))].join('; ');
    throw new RotationRefusedError(
      selected.records.length === 0
        ? `${selected.label} has no add-on this controller manages: nothing to rotate`
        : selection.by === 'addon'
          ? `add-on ${selected.records[0]!.addonName} cannot be rotated: ${plan.skipped[0]!.reason}; nothing changed`
          : `none of the ${selected.records.length} add-on(s) of ${selected.label} can be rotated: ${reasons}; nothing changed`,
    );
  }
  return plan;
}

const NOT_LINKED = 'its team is not linked, so no pass reaches it (link it again first)';
const NO_KEY = 'it has no access key yet (its first pass makes one)';
const STILL_IN_USE = 'its rotation stopped because the old key was still in use: resume it alone, with --addon';

/**
 * Queues the plan's rotations and resumes its waiting ones, all or none, and journals each with
 * `actor`. Refused, with nothing written, when anything changed since the plan was made (another
 * rotation started, a key was replaced).
 */
export async function requestRotations(deps: Pick<RotationDeps, 'store' | 'instanceId'>, plan: RotationPlan, actor: string, at: Date): Promise<void> {
  const changed = () => new RotationRefusedError('a selected add-on\'s key or rotation changed while this was asked: nothing changed; run the command again to see the plan as it is now');
  await deps.store.transaction(async (tx) => {
    const requests = plan.rotations.filter((r) => r.step === 'request');
    const asked = requests.map((r) => ({ addonId: r.addonId, accountId: r.accountId, oldAccessKeyId: r.accessKeyId, trigger: r.trigger, requestedBy: actor }));
    if (asked.length > 0 && !(await tx.rotations.request(asked, at))) throw changed();
    for (const r of plan.rotations) {
      if (r.step === 'resume' && !(await tx.rotations.resume(r.addonId, at))) throw changed();
      if (r.step === 'escalate' && !(await tx.rotations.escalate(r.addonId, r.accessKeyId, at))) throw changed();
      await tx.journal.append({
        instanceId: deps.instanceId,
        accountId: r.accountId,
        addonId: r.addonId,
        action: { request: 'rotate-requested', resume: 'rotate-resumed', escalate: 'rotate-escalated' }[r.step],
        resource: r.accessKeyId,
        phase: 'ok',
        at,
        detail: { actor, trigger: r.trigger, compromised: r.trigger === 'emergency', oldAccessKeyId: r.accessKeyId, selection: `${plan.selection.by} ${plan.selection.value}` },
      });
    }
  });
}

/**
 * `rotate approve --account`: lets the deactivation breaker pass the held age rotations of one
 * account; journaled with `actor`. Returns how many rotations it approved.
 */
export async function approveRotations(deps: Pick<RotationDeps, 'store' | 'instanceId'>, accountId: string, actor: string, at: Date): Promise<number> {
  if (!/^\d{12}$/.test(accountId)) throw new UserError(`"${accountId}" is not a 12-digit AWS account id`);
  return deps.store.transaction(async (tx) => {
    const approved = await tx.rotations.approve(accountId, at);
    if (approved === 0) throw new NothingToApproveError(`no key rotation in account ${accountId} waits for approval: there is nothing to approve`);
    await tx.journal.append({ instanceId: deps.instanceId, accountId, addonId: null, action: 'rotate-approve', resource: accountId, phase: 'ok', at, detail: { actor, approved } });
    return approved;
  });
}

/** One rotation in flight, as `rotations` and `GET /api/v1/rotations` show it. */
export interface RotationView {
  addonId: string;
  addonName: string | null;
  teamId: string | null;
  accountId: string;
  step: KeyRotation['step'];
  /** When it reached its step. */
  since: string;
  trigger: RotationTrigger;
  oldAccessKeyId: string;
  newAccessKeyId: string | null;
  requestedAt: string;
  requestedBy: string;
  approved: boolean;
  /** What happens next, or what it waits for. */
  next: string;
}

/** The rotations in flight, oldest request first; with `teams`, only those of these teams' add-ons. */
export async function rotationViews(reads: Pick<RotationReads, 'resources' | 'rotations'>, timing: RotationTiming, teams?: ReadonlySet<string>): Promise<RotationView[]> {
  const [rotations, records] = await Promise.all([reads.rotations.list(), reads.resources.listAll()]);
  const byId = new Map(records.map((r) => [r.addonId, r]));
  return rotations
    .filter((r) => !teams || teams.has(byId.get(r.addonId)?.teamId ?? ''))
    .map((r) => {
      const record = byId.get(r.addonId);
      return {
        addonId: r.addonId,
        addonName: record?.addonName ?? null,
        teamId: record?.teamId ?? null,
        accountId: r.accountId,
        step: r.step,
        since: r.stepAt.toISOString(),
        trigger: r.trigger,
        oldAccessKeyId: r.oldAccessKeyId,
        newAccessKeyId: r.newAccessKeyId,
        requestedAt: r.requestedAt.toISOString(),
        requestedBy: r.requestedBy,
        approved: r.approvedAt !== null,
        next: nextOf(r, record?.addonName ?? r.addonId, timing),
      };
    });
}

function nextOf(r: KeyRotation, addonName: string, timing: RotationTiming): string {
  switch (r.step) {
    case 'requested':
      return 'waits for its turn (ROTATION_MAX_CONCURRENT_APPS per team): a pass makes the new key';
    case 'creating':
      return 'the new key is being made and delivered to every attached app';
    case 'delivered': {
      if (r.trigger === 'emergency') return 'every app holds the new key: the old key is deactivated by the next pass';
      const at = new Date((r.deliveredAt ?? r.stepAt).getTime() + timing.overlapMs).toISOString();
      return `the old key is deactivated once the overlap ends (${at})${r.approvedAt === null ? `, unless the rotation breaker holds it (\`heroku-s3-controller rotate approve --account ${r.accountId}\`)` : ''}`;
    }
    case 'deactivated':
      return `the old key is deleted once its grace ends (${new Date((r.deactivatedAt ?? r.stepAt).getTime() + timing.deactivatedGraceMs).toISOString()})${r.trigger === 'emergency' ? '' : ', unless it was used meanwhile'}`;
    case 'reactivated':
      return `the old key was used after its deactivation and is active again: find what still uses it, then \`heroku-s3-controller rotate --addon ${addonName} --yes\``;
  }
}

function effectOf(kind: RotationTrigger | 'resume' | 'escalate', timing: RotationTiming): string {
  const overlap = humanDuration(Math.round(timing.overlapMs / 1000));
  const grace = humanDuration(Math.round(timing.deactivatedGraceMs / 1000));
  switch (kind) {
    case 'emergency':
      return `new key to every app; old key deactivated at once, no overlap; deleted ${grace} later even if used`;
    case 'resume':
      return `old key deactivated again after ${overlap}; deleted ${grace} later unless used again`;
    case 'escalate':
      return `the rotation in flight becomes an emergency: old key deactivated as soon as every app holds the new one, never switched on again; deleted ${grace} later`;
    default:
      return `new key to every app; old key deactivated after ${overlap} overlap; deleted ${grace} later unless used`;
  }
}

interface Selected {
  /** The add-ons selected that are still wanted (orphans' keys go with their resources). */
  records: ResourceRecord[];
  /** Teams the selection names beyond its records' (a team's or an account's links). */
  teamIds: string[];
  label: string;
  appNames: Map<string, string>;
}

async function select(deps: RotationDeps, selection: RotationSelection, all: ResourceRecord[], links: Link[]): Promise<Selected> {
  const live = all.filter((r) => r.orphan === null);
  const value = selection.value.trim();
  if (value === '') throw new UserError(`--${selection.by} is empty`);
  switch (selection.by) {
    case 'addon': {
      const record = all.find((r) => r.addonId === value) ?? all.find((r) => r.addonName === value);
      if (!record) throw new RotationTargetNotFoundError(`add-on "${value}" is not one this controller manages: check its name with \`heroku addons\` (an add-on is known from its first pass on)`);
      if (record.orphan) throw new RotationRefusedError(`add-on ${record.addonName} is no longer wanted (orphaned since ${record.orphan.since.toISOString()}): its key goes with its resources, nothing to rotate`);
      return { records: [record], teamIds: [], label: `add-on ${record.addonName}`, appNames: new Map() };
    }
    case 'app': {
      const app = await deps.resolveApp(value).catch((err: unknown) => {
        throw err instanceof AppNotFoundError ? new RotationTargetNotFoundError(err.message) : err;
      });
      // The add-ons whose key the app holds: its own, and those attached to it from other apps.
      const attached = new Set((await deps.store.deliveries.listAll()).filter((d) => d.appId === app.id).map((d) => d.addonId));
      const records = live.filter((r) => r.appId === app.id || attached.has(r.addonId));
      if (records.length === 0) throw new RotationTargetNotFoundError(`Heroku app ${app.name} holds no add-on this controller manages: \`heroku addons --app ${app.name}\` lists its add-ons`);
      return { records, teamIds: [], label: `app ${app.name}`, appNames: new Map([[app.id, app.name]]) };
    }
    case 'team': {
      const link = await deps.store.links.findByTeam(value);
      if (!link) throw new RotationTargetNotFoundError(`team "${value}" is not linked; \`heroku-s3-controller links\` lists the linked teams`);
      return { records: live.filter((r) => r.teamId === link.teamId), teamIds: [link.teamId], label: `team ${link.teamName}`, appNames: new Map() };
    }
    case 'account': {
      if (!/^\d{12}$/.test(value)) throw new UserError(`--account "${value}" is not a 12-digit AWS account id`);
      const linked = links.filter((l) => l.accountId === value).map((l) => l.teamId);
      const records = live.filter((r) => r.accountId === value);
      if (linked.length === 0 && records.length === 0) {
        throw new RotationTargetNotFoundError(`AWS account ${value} is not linked to any team; \`heroku-s3-controller links\` lists the linked accounts`);
      }
      return { records, teamIds: linked, label: `AWS account ${value}`, appNames: new Map() };
    }
  }
}

function names(records: ResourceRecord[]): string {
  const shown = records.slice(0, 3).map((r) => r.addonName);
  return records.length > 3 ? `${shown.join(', ')} and ${records.length - 3} more` : shown.join(', ');
}
