/**
 * One reconcile pass, level-triggered (STYLE.md #1): read the links, read desired state from
 * Heroku, observe every linked account, plan, apply. Whatever triggered the pass, it decides only
 * from what it reads now.
 */
import type { Config } from '../config/config.js';
import type { GcBreaker, KeyRotation, Link, ResourceKindName, ResourceRecord } from '../store/types.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { mapLimit } from '../util/map-limit.js';
import { KeyedMutex } from '../util/keyed-mutex.js';
import { isDestructive, type Action } from './actions.js';
import type { DriftReport } from './drift.js';
import { buildDriftReport } from './drift-report.js';
import { Executor, type AddonConfigDelivery, type ExecutionSummary } from './executor.js';
import type { AddonWhereabouts, DesiredAddon, ObservedAccount, PlanInput, TeamDesiredState } from './model.js';
import { plan } from './plan.js';
import { BUILT_IN_KINDS } from './kinds/bucket/kind.js';
import { recordedResource, type KindTable } from './kinds/kind.js';
import type { AppConfigVars, ChangeEventWatch, CloudAccount, CloudAccounts, DesiredStateSource, ExpectedResources, StorePorts } from './ports.js';
import { orphanCandidates } from './plan-gc.js';
import { profileFor } from './profiles.js';
import { BlockedReason, GcReason, HerokuEvent, ReconcileEvent } from '../reasons.js';
import { deepCheckDue, type DeepCheckDepth, type DeepCheckWindows } from './deep-checks.js';
import { DEFAULT_ROTATION_POLICY, admitRotations, keptByRotation, rotationDueAt, rotationNeedsKeys, type RotationPolicy } from './rotation.js';
import { TAG, userNameFor, type NamingPolicy } from './spec.js';

export interface ControllerDeps {
  config: Pick<Config, 'instanceId' | 'bucketPrefix' | 'iamPath' | 'iamUserPrefix' | 'deepCheckWindowMs' | 'flapBreaker' | 'gc' | 'profiles'> & {
    /** DEEP_CHECK_EXPOSURE_WINDOW; absent: the exposure settings are read with the rest only. */
    exposureCheckWindowMs?: number;
    /** The windows of an account whose change events arrive (`changeEvents`); absent: the usual ones. */
    deepCheckWindowsWithEvents?: DeepCheckWindows;
    /** KEY_MAX_AGE and ROTATION_*: absent, no key is rotated for its age. */
    keyMaxAgeMs?: number;
    rotation?: Config['rotation'];
    aws: Pick<Config['aws'], 'region'>;
  };
  store: StorePorts;
  /** What Heroku wants (the linked teams' add-ons). */
  desired: DesiredStateSource;
  /** The apps' config vars, read for deep checks and written to deliver credentials. */
  configVars: AppConfigVars;
  /** The linked AWS accounts. */
  cloud: CloudAccounts;
  logger: Logger;
  clock?: () => Date;
  mayMutate?: () => boolean;
  /** The kinds a plan's profile may name; absent: the built-in ones (a bucket). */
  kinds?: KindTable;
  /** CREDENTIAL_DELIVERY=addon-config; absent: app config vars. */
  addonConfig?: AddonConfigDelivery;
  /**
   * Add-ons Heroku itself said are deprovisioned (`DELETE /heroku/resources/:id` of the Partner
   * API): they get the short grace of a deprovisioned add-on, whatever a listing still shows.
   */
  toldDeprovisioned?: { all(): Promise<ReadonlySet<string>>; has(addonId: string): Promise<boolean> };
  /** Accounts whose change events arrive: their deep checks come round on the longer windows. */
  changeEvents?: ChangeEventWatch;
}

export interface PassResult {
  startedAt: Date;
  durationMs: number;
  teams: TeamDesiredState[];
  accounts: ObservedAccount[];
  actions: Action[];
  /** What differed at the start of the pass (before any repair of this pass). */
  drift: DriftReport;
  /** Per complete account: resources observed that carry this instance's tags, and stored keys. */
  managed: Map<string, { bucket: number; iam_user: number; access_key: number }>;
  /** Per complete account: when each wanted add-on's recorded key was made (null: not known yet). */
  keysCreatedAt: Map<string, (Date | null)[]>;
  /** Key rotations in flight as this pass left them. */
  rotations: KeyRotation[];
  /**
   * Per complete account, when each delivered key not being rotated comes due for rotation by
   * age, soonest first (empty without KEY_MAX_AGE rotation, or while key ages are not known).
   */
  rotationsDue: Map<string, { addonId: string; addonName: string; dueAt: Date }[]>;
  /** The add-ons whose resources this pass read in full (deep checks), and those whose exposure settings alone. */
  checked: { full: string[]; exposure: string[] };
  /** Null for a dry run (`plan`). */
  execution: ExecutionSummary | null;
}

/** What a single-key reconcile read and did. */
export interface AddonPassResult {
  addonId: string;
  startedAt: Date;
  durationMs: number;
  /**
   * What Heroku said: `found` (ours), `gone` (404), `not-ours` (another service, an app outside
   * the linked teams, or deprovisioned), `unknown` (the read failed: nothing was decided).
   */
  heroku: 'found' | 'gone' | 'not-ours' | 'unknown';
  /** False when Heroku or AWS could not be read in full: retry later. */
  complete: boolean;
  error: string | null;
  actions: Action[];
  accounts: ObservedAccount[];
  /** Null for a dry run or when nothing was read. */
  execution: ExecutionSummary | null;
}

export class Controller {
  private readonly naming: NamingPolicy;
  private readonly lock = new PassLock();
  /** Config-var writes per app, one at a time across the passes that run at once. */
  private readonly appLocks = new KeyedMutex();

  private readonly kinds: KindTable;

  constructor(private readonly deps: ControllerDeps) {
    this.kinds = deps.kinds ?? BUILT_IN_KINDS;
    this.naming = {
      instanceId: deps.config.instanceId,
      bucketPrefix: deps.config.bucketPrefix,
      iamPath: deps.config.iamPath,
      iamUserPrefix: deps.config.iamUserPrefix,
    };
  }

  /**
   * One full pass. With `dryRun`, plans and returns the actions without changing anything.
   * Runs alone: it waits for keyed reconciles in flight, and holds new ones back (see {@link PassLock}).
   */
  async reconcileOnce(options: { dryRun?: boolean } = {}): Promise<PassResult> {
    return this.lock.exclusive(() => this.fullPass(options));
  }

  private async fullPass(options: { dryRun?: boolean }): Promise<PassResult> {
    const { store, logger } = this.deps;
    const startedAt = this.now();
    const links = await store.links.list();
    const teams = await this.deps.desired.teams(links);
    for (const team of teams.filter((t) => !t.complete)) {
      logger.warn({ reason: HerokuEvent.ReadIncomplete, teamId: team.teamId, team: team.teamName }, `desired state of team ${team.teamName} is incomplete: ${team.error}`);
    }
    const records = new Map((await store.resources.listAll()).map((r) => [r.addonId, r]));
    const rotations = new Map((await store.rotations.list()).map((r) => [r.addonId, r]));
    const told = (await this.deps.toldDeprovisioned?.all()) ?? new Set<string>();
    applyToldDeprovisioned(teams, records, told);
    const deliveries = await store.deliveries.listAll();
    const targets = accountTargets(links);
    const deepChecked: string[] = [];
    const exposureChecked: string[] = [];
    const accounts = await mapLimit([...targets.values()], 4, async (link) => {
      const { expected, deepAddons, exposureAddons } = this.expectedIn(link.accountId, links, teams, records, rotations, startedAt);
      const account = await this.account(link).observe(expected, {
        instanceTag: { key: TAG.instance, value: this.naming.instanceId },
        addonTagKey: TAG.addonId,
        namePrefix: this.naming.bucketPrefix,
        iamPath: this.naming.iamPath,
        listRegion: this.deps.config.aws.region,
        homeRegion: link.region ?? this.deps.config.aws.region,
      });
      if (account.complete) {
        deepChecked.push(...deepAddons.filter((id) => records.has(id)));
        exposureChecked.push(...exposureAddons.filter((id) => records.has(id)));
      }
      return account;
    });
    // Recorded before any repair: the executor clears it for what it changes, so the next pass
    // verifies its own repairs.
    if (!options.dryRun) await store.resources.setDeepChecked(deepChecked, startedAt, 'full');
    if (!options.dryRun) await store.resources.setDeepChecked(exposureChecked, startedAt, 'exposure');
    if (!options.dryRun) await this.learnKeyCreationTimes(records.values(), accounts);
    for (const account of accounts.filter((a) => !a.complete)) {
      logger.error({ reason: BlockedReason.ObserveFailed, accountId: account.accountId }, `cannot read AWS account ${account.accountId}: ${account.error}`);
    }
    for (const account of accounts) {
      for (const warning of account.warnings ?? []) logger.warn({ reason: ReconcileEvent.ObservePartial, accountId: account.accountId }, `AWS account ${account.accountId}: ${warning}`);
    }
    const deepSet = new Set(deepChecked);
    const observedById = new Map(accounts.map((a) => [a.accountId, a]));
    const linkByTeam = new Map(links.map((l) => [l.teamId, l]));
    // Apps whose config vars are read: those of add-ons due for their deep check, and those of
    // add-ons whose user holds a key the store does not know (an app may hold it: invariant 10).
    const appsToCheck = teams
      .flatMap((t) => t.addons)
      .filter((a) => deepSet.has(a.addonId) || this.holdsUnrecordedKey(a, records.get(a.addonId), observedById.get(linkByTeam.get(a.teamId)?.accountId ?? ''), rotations.get(a.addonId)))
      .flatMap((a) => a.attachments.map((att) => att.appId));
    const configVars = await this.readConfigVars(appsToCheck);
    const whereabouts = await this.whereabouts(orphanCandidates({ links, desired: teams, records, now: startedAt }, this.deps.config.gc), told);
    const breakers = new Map((await store.gcBreakers.list()).map((b) => [b.accountId, b]));
    const addonConfigDelivered = this.deps.addonConfig ? await this.deps.addonConfig.addonIds() : undefined;
    const world: PassWorld = { startedAt, targets, links, desired: teams, observed: observedById, records, deliveries, configVars, breakers, whereabouts, rotations, ...(addonConfigDelivered ? { addonConfigDelivered } : {}) };
    const { actions, execution } = await this.decide(world, options);
    const keyMaxAgeMs = this.rotationPolicy()?.keyMaxAgeMs;
    const drift = buildDriftReport(teams, actions, startedAt, {
      records: [...records.values()],
      links,
      gcMode: this.deps.config.gc.mode,
      kinds: this.kinds,
      rotations: [...rotations.values()],
      checked: { full: deepChecked, exposure: exposureChecked },
      ...(keyMaxAgeMs !== undefined ? { keyMaxAgeMs } : {}),
    });
    const managed = new Map(
      accounts
        .filter((a) => a.complete)
        .map((a) => [
          a.accountId,
          {
            bucket: [...(a.resources.get('bucket')?.values() ?? [])].filter((b) => b.tags[TAG.instance] === this.naming.instanceId).length,
            iam_user: [...a.users.values()].filter((u) => u.tags[TAG.instance] === this.naming.instanceId).length,
            access_key: [...records.values()].filter((r) => r.accountId === a.accountId && r.accessKeyId !== null).length,
          },
        ]),
    );
    // The keys as this pass left them (made, replaced, orphaned): read again after a pass that acted.
    const after = execution && execution.applied > 0 ? await store.resources.listAll() : [...records.values()];
    const keysCreatedAt = new Map(
      accounts
        .filter((a) => a.complete)
        .map((a) => [a.accountId, after.filter((r) => r.accountId === a.accountId && r.accessKeyId !== null && r.orphan === null).map((r) => r.accessKeyCreatedAt)]),
    );
    const rotationsAfter = execution && execution.applied > 0 ? await store.rotations.list() : [...rotations.values()];
    const rotationsDue = this.rotationsDue(accounts, after, rotationsAfter);
    return {
      startedAt,
      durationMs: this.now().getTime() - startedAt.getTime(),
      teams,
      accounts,
      actions,
      drift,
      managed,
      keysCreatedAt,
      rotations: rotationsAfter,
      rotationsDue,
      checked: { full: deepChecked, exposure: exposureChecked },
      execution,
    };
  }

  /** When each complete account's delivered keys come due for rotation by age (see {@link PassResult.rotationsDue}). */
  private rotationsDue(accounts: ObservedAccount[], records: ResourceRecord[], rotations: KeyRotation[]): PassResult['rotationsDue'] {
    const out: PassResult['rotationsDue'] = new Map();
    const keyMaxAgeMs = this.rotationPolicy()?.keyMaxAgeMs;
    if (keyMaxAgeMs === undefined) return out;
    const rotating = new Set(rotations.map((r) => r.addonId));
    for (const account of accounts.filter((a) => a.complete)) {
      const due = records
        .filter((r) => r.accountId === account.accountId && r.orphan === null && r.accessKeyId !== null && r.accessKeyCreatedAt !== null && !rotating.has(r.addonId))
        .map((r) => ({ addonId: r.addonId, addonName: r.addonName, dueAt: rotationDueAt(r.addonId, r.accessKeyCreatedAt!, keyMaxAgeMs) }))
        .sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime());
      out.set(account.accountId, due);
    }
    return out;
  }

  /**
   * Keys recorded before their creation time was kept get it from a deep check's ListAccessKeys
   * (bookkeeping, like the deep-check time: no cloud call, and `records` is updated for this pass).
   */
  private async learnKeyCreationTimes(records: Iterable<ResourceRecord>, accounts: ObservedAccount[]): Promise<void> {
    for (const record of records) {
      if (record.accessKeyId === null || record.accessKeyCreatedAt !== null) continue;
      const keys = accounts.find((a) => a.accountId === record.accountId)?.users.get(record.userName)?.accessKeys;
      const createdAt = keys?.find((k) => k.accessKeyId === record.accessKeyId)?.createdAt;
      if (!createdAt) continue;
      if (await this.deps.store.resources.setKeyCreatedAt(record.addonId, record.accessKeyId, createdAt)) record.accessKeyCreatedAt = createdAt;
    }
  }

  /**
   * A single-key reconcile (STYLE.md #1): whatever event named the add-on, re-reads THAT add-on
   * from Heroku (the add-on, its app for the team and region, its attachments: three requests)
   * and THAT add-on's bucket and user from AWS with targeted reads, then decides with the same
   * `plan()` as the full pass, on a world holding only this add-on, and applies with the same
   * Executor. Idempotent; with `dryRun`, plans only.
   *
   * Safety, beyond what `plan()` already guarantees:
   * - Only this add-on's record and deliveries are in the world, so nothing else can look orphaned
   *   for being absent from a one-add-on desired state; no action for another add-on is run.
   * - "Gone" is decided only from Heroku's 404 `not_found` for the add-on; any other failed read
   *   returns `complete: false` with no action at all (retry later). A gone add-on is marked with
   *   the same grace period as in the full pass, never deleted at once.
   * - The mass-deletion breaker counts a whole account's deletions in one cycle, which a keyed
   *   pass cannot see. So a keyed pass never starts a teardown and never trips or resets a
   *   breaker: it leaves both to the full pass, and only continues a teardown that a full pass
   *   started (or an operator approved). GC_MODE applies as in the full pass.
   * - It never runs beside a full pass (see {@link PassLock}).
   */
  async reconcileAddon(addonId: string, options: AddonPassOptions = {}): Promise<AddonPassResult> {
    return this.lock.shared(() => this.addonPass(addonId.toLowerCase(), options));
  }

  private async addonPass(addonId: string, options: AddonPassOptions): Promise<AddonPassResult> {
    const { store, logger } = this.deps;
    const startedAt = this.now();
    const result = (part: Pick<AddonPassResult, 'heroku' | 'complete' | 'error'> & Partial<AddonPassResult>): AddonPassResult => ({
      addonId,
      startedAt,
      durationMs: this.now().getTime() - startedAt.getTime(),
      actions: [],
      execution: null,
      accounts: [],
      ...part,
    });
    const links = await store.links.list();
    const record = await store.resources.get(addonId);
    const read = await this.deps.desired.addon(addonId, links);
    if (read.status === 'unknown') {
      logger.warn({ reason: HerokuEvent.ReadIncomplete, addonId }, `cannot read add-on ${addonId} from Heroku; nothing is decided until a later try: ${read.error}`);
      return result({ heroku: 'unknown', complete: false, error: read.error });
    }
    const toldGone = (await this.deps.toldDeprovisioned?.has(addonId)) ?? false;
    const desired = read.status === 'found' && !toldGone ? read.addon : null;
    if (!desired && !record) {
      // Never ours, or already forgotten: nothing to read in AWS, nothing to do.
      const why = read.status === 'gone' ? 'it does not exist' : (read.notOurs ?? 'it is deprovisioned');
      logger.debug({ reason: ReconcileEvent.AddonNotOurs, addonId }, `add-on ${addonId} is not this controller's to act on: ${why}`);
      return result({ heroku: read.status === 'gone' || toldGone ? 'gone' : 'not-ours', complete: true, error: null });
    }

    // The world of this one add-on: the team that wants it, or the team of its record (whose
    // read for this add-on is complete: Heroku answered), holding this add-on or nothing.
    const teams: TeamDesiredState[] = [];
    const link = read.status === 'found' && desired ? read.link : null;
    if (desired && link) teams.push({ teamId: link.teamId, teamName: link.teamName, complete: true, error: null, addons: [desired], deprovisioned: [] });
    if (record && record.teamId !== desired?.teamId) {
      const recordLink = links.find((l) => l.teamId === record.teamId);
      const deprovisioned = toldGone || (read.status === 'found' && read.deprovisioned && read.link?.teamId === record.teamId);
      if (recordLink) teams.push({ teamId: recordLink.teamId, teamName: recordLink.teamName, complete: true, error: null, addons: [], deprovisioned: deprovisioned ? [addonId] : [] });
    }
    const records = new Map(record ? [[addonId, record]] : []);
    const rotation = await store.rotations.get(addonId);
    const targets = accountTargets(links);
    const accountIds = [...new Set([link?.accountId ?? null, record?.accountId ?? null])].filter((id): id is string => id !== null && targets.has(id));
    // What the add-on's own schedule asks for, and what this pass reads: a change event's pass
    // reads its AWS resources in full beside that (not the apps' config vars: the event is AWS's),
    // and leaves the schedule as it was.
    const scheduled: DeepCheckDepth =
      !record || record.state !== 'ready' || (desired !== null && record.plan !== desired.plan) ? 'full' : deepCheckDue(addonId, record, startedAt, this.windowsFor(record.accountId));
    const depth: DeepCheckDepth = options.deepCheck ? 'full' : scheduled;
    const deep = depth === 'full';
    // What Heroku said of the add-on, for garbage collection (invariant 10): a record no desired
    // team holds is an orphan only once Heroku says the add-on is gone.
    const whereabouts = new Map<string, AddonWhereabouts>();
    if (record && !desired) {
      whereabouts.set(addonId, toldGone ? { status: 'deprovisioned' } : read.status === 'gone' ? { status: 'gone' } : read.whereabouts);
    }
    const accounts = await mapLimit(accountIds, 2, (accountId) => {
      const resource = this.resourceOf(desired, record, accountId);
      return this.account(targets.get(accountId)!).observeAddon(
        // A rotation's keys are listed every pass: its old key is kept, whatever this pass does.
        {
          resource: resource && { ...resource, region: record?.region ?? desired!.region, deep, exposure: depth === 'exposure' },
          user: { name: record?.userName ?? userNameFor(this.naming, addonId), deep: deep || rotation !== null },
        },
        { iamPath: this.naming.iamPath, listRegion: this.deps.config.aws.region },
      );
    });
    // Without a record, its user is looked for in the other linked accounts too (one GetUser
    // each): after a store loss, an add-on whose app moved to another account's team must not get
    // a second, empty bucket (plan() blocks it, as it does with a record).
    if (!record && desired) {
      const others = [...targets.keys()].filter((id) => !accountIds.includes(id));
      accounts.push(...(await mapLimit(others, 2, (accountId) => this.account(targets.get(accountId)!).observeUser(userNameFor(this.naming, addonId)))));
    }
    for (const account of accounts.filter((a) => !a.complete)) {
      logger.error({ reason: BlockedReason.ObserveFailed, accountId: account.accountId, addonId }, `cannot read add-on ${addonId}'s resources in AWS account ${account.accountId}: ${account.error}`);
    }
    for (const account of accounts) {
      for (const warning of account.warnings ?? []) logger.warn({ reason: ReconcileEvent.ObservePartial, accountId: account.accountId, addonId }, `AWS account ${account.accountId}: ${warning}`);
    }
    const complete = accounts.every((a) => a.complete);
    if (!options.dryRun && scheduled !== 'none' && record && complete) await store.resources.setDeepChecked([addonId], startedAt, scheduled);
    if (!options.dryRun && record) await this.learnKeyCreationTimes([record], accounts);
    // As in the full pass: an add-on without a record has delivered nothing yet to compare with,
    // unless its user holds a key the store does not know, which an app may hold.
    const readVars = desired && ((scheduled === 'full' && record) || this.holdsUnrecordedKey(desired, record ?? undefined, accounts.find((a) => a.accountId === link?.accountId), rotation ?? undefined));
    const configVars = readVars ? await this.readConfigVars(desired.attachments.map((a) => a.appId)) : new Map<string, Record<string, string>>();
    const breakers = new Map<string, GcBreaker>();
    for (const accountId of accountIds) {
      const breaker = await store.gcBreakers.get(accountId);
      if (breaker) breakers.set(accountId, breaker);
    }
    const addonConfigDelivered = this.deps.addonConfig && (await this.deps.addonConfig.handles(addonId)) ? new Set([addonId]) : undefined;
    const world: PassWorld = {
      startedAt,
      targets,
      links,
      desired: teams,
      observed: new Map(accounts.map((a) => [a.accountId, a])),
      records,
      deliveries: await store.deliveries.listForAddon(addonId),
      configVars,
      breakers,
      whereabouts,
      rotations: new Map(rotation ? [[addonId, rotation]] : []),
      startRotations: false,
      ...(addonConfigDelivered ? { addonConfigDelivered } : {}),
    };
    const { planned, actions, execution } = await this.decide(world, options, (all) => keyedActions(all, addonId, record, breakers));
    if (actions.length < planned.filter((a) => a.addonId === addonId && a.kind !== 'trip-gc-breaker' && a.kind !== 'reset-gc-breaker').length) {
      logger.info({ reason: ReconcileEvent.TeardownLeftToFullPass, addonId }, `add-on ${addonId}'s grace period is over: its teardown starts in the next full pass, where the mass-deletion breaker sees the whole account`);
    }
    return result({ heroku: read.status === 'gone' || toldGone ? 'gone' : desired ? 'found' : 'not-ours', complete, error: accounts.find((a) => !a.complete)?.error ?? null, actions, execution, accounts });
  }

  /**
   * The second half of every pass, full or keyed: plan from the world just read, keep the actions
   * this pass may run (`select`), apply them unless it is a dry run, and mark what converged.
   */
  private async decide(
    world: PassWorld,
    options: { dryRun?: boolean },
    select: (planned: Action[]) => Action[] = (planned) => planned,
  ): Promise<{ planned: Action[]; actions: Action[]; execution: ExecutionSummary | null }> {
    const { startedAt, targets, ...input } = world;
    const recentRepairs = await this.deps.store.journal.countSucceededSince(new Date(startedAt.getTime() - this.deps.config.flapBreaker.windowMs));
    const planned = plan({ ...input, recentRepairs, now: startedAt }, this.naming, this.planLimits());
    const actions = select(planned);
    if (options.dryRun) return { planned, actions, execution: null };
    const execution = await this.executor(targets).apply(this.runnable(actions));
    await this.markConverged(world.desired, world.records, actions);
    return { planned, actions, execution };
  }

  /** GC_MODE=dry-run: what would be deleted is planned and reported, and nothing of it runs. */
  private runnable(actions: Action[]): Action[] {
    if (this.deps.config.gc.mode !== 'dry-run') return actions;
    return actions.filter((a) => !isDestructive(a) && a.kind !== 'trip-gc-breaker' && a.kind !== 'reset-gc-breaker');
  }

  private executor(targets: Map<string, Link>): Executor {
    const { store, logger } = this.deps;
    return new Executor({
      resources: store.resources,
      deliveries: store.deliveries,
      journal: store.journal,
      gcBreakers: store.gcBreakers,
      rotations: store.rotations,
      emptyKeysPerPass: this.deps.config.gc.emptyKeysPerPass,
      configVars: this.deps.configVars,
      account: (accountId) => this.account(targets.get(accountId)!),
      retainingPlan: (plan) => profileFor(this.deps.config.profiles, plan).retain,
      kinds: this.kinds,
      keyIdentity: (accountId, key) => this.deps.cloud.keyIdentity(accountId, key),
      instanceId: this.deps.config.instanceId,
      logger,
      ...(this.deps.clock ? { now: this.deps.clock } : {}),
      ...(this.deps.mayMutate ? { mayMutate: this.deps.mayMutate } : {}),
      ...(this.deps.addonConfig ? { addonConfig: this.deps.addonConfig } : {}),
      appLocks: this.appLocks,
    });
  }

  /** Add-ons with nothing left to do are `ready`, whatever an earlier pass recorded. */
  private async markConverged(teams: TeamDesiredState[], records: Map<string, ResourceRecord>, actions: Action[]): Promise<void> {
    const touched = new Set(actions.map((a) => a.addonId));
    for (const addon of teams.flatMap((t) => t.addons)) {
      const record = records.get(addon.addonId);
      if (record && record.state !== 'ready' && !touched.has(addon.addonId)) {
        await this.deps.store.resources.setState(addon.addonId, 'ready', null);
      }
    }
  }

  private planLimits() {
    const { config } = this.deps;
    const rotation = this.rotationPolicy();
    return { maxRepairs: config.flapBreaker.maxRepairs, gc: { ...config.gc, defaultRegion: config.aws.region }, profiles: config.profiles, kinds: this.kinds, ...(rotation ? { rotation } : {}) };
  }

  /** KEY_MAX_AGE and ROTATION_*, when keys are rotated for their age; null otherwise. */
  private rotationPolicy(): RotationPolicy | null {
    const { rotation, keyMaxAgeMs } = this.deps.config;
    return rotation && keyMaxAgeMs !== undefined ? { ...rotation, keyMaxAgeMs } : null;
  }

  /**
   * The user of this add-on, as observed this pass, holds an access key the store does not know.
   * A rotation's old key is known: the deactivation reads the apps itself, right before.
   */
  private holdsUnrecordedKey(addon: DesiredAddon, record: ResourceRecord | undefined, account: ObservedAccount | undefined, rotation: KeyRotation | undefined): boolean {
    const keys = account?.users.get(record?.userName ?? userNameFor(this.naming, addon.addonId))?.accessKeys;
    if (!keys) return false;
    const recorded = record?.secretAccessKey ? record.accessKeyId : null;
    const kept = keptByRotation(record ?? null, rotation ?? null);
    return keys.some((key) => key.accessKeyId !== recorded && key.accessKeyId !== kept);
  }

  /**
   * Asks Heroku where each orphan candidate is (one or two requests each): an add-on the Partner
   * API was told is deprovisioned is taken at its word; an unknown answer decides nothing.
   */
  private async whereabouts(candidates: string[], told: ReadonlySet<string>): Promise<Map<string, AddonWhereabouts>> {
    const out = new Map<string, AddonWhereabouts>();
    await mapLimit(candidates, 4, async (addonId) => {
      const word: AddonWhereabouts = told.has(addonId) ? { status: 'deprovisioned' } : await this.deps.desired.whereabouts(addonId);
      if (word.status === 'unknown') {
        this.deps.logger.warn({ reason: HerokuEvent.ReadIncomplete, addonId }, `cannot ask Heroku about add-on ${addonId}, which no linked team lists: nothing of it is collected until Heroku answers (${word.error})`);
      }
      out.set(addonId, word);
    });
    return out;
  }

  private account(link: Link): CloudAccount {
    return this.deps.cloud.account({ accountId: link.accountId, auth: link.auth });
  }

  /** Config vars of these apps; one that cannot be read is left out (not judged this pass) and logged. */
  private readConfigVars(appIds: string[]): Promise<Map<string, Record<string, string>>> {
    return this.deps.configVars.readMany(appIds, (appId, err) =>
      this.deps.logger.warn({ reason: ReconcileEvent.ConfigVarsUnread, appId }, `cannot read config vars of app ${appId}: ${errorMessage(err)}`),
    );
  }

  /**
   * The names this account should hold (from its teams' desired add-ons and from our records),
   * each marked for a deep check when its turn in the window has come, or when it is not known
   * to be in order.
   */
  private expectedIn(
    accountId: string,
    links: Link[],
    teams: TeamDesiredState[],
    records: Map<string, ResourceRecord>,
    rotations: ReadonlyMap<string, KeyRotation>,
    now: Date,
  ): { expected: ExpectedResources; deepAddons: string[]; exposureAddons: string[] } {
    const entries = new Map<string, { resource: { kind: ResourceKindName; name: string } | null; region: string; user: string; depth: DeepCheckDepth }>();
    const teamIds = new Set(links.filter((l) => l.accountId === accountId).map((l) => l.teamId));
    // Keys are listed, without the rest of a deep check, for a rotation in flight whose next step
    // may be due (not while it waits out its overlap or grace), and for one that may start this
    // pass (its team's turn: the same admission plan() makes). Not for every key past its due
    // date: a fleet that comes due at once waits its turns unread.
    const policy = this.rotationPolicy();
    const keyUsers = new Set([...rotations.values()].filter((r) => rotationNeedsKeys(r, policy ?? DEFAULT_ROTATION_POLICY, now)).map((r) => r.addonId));
    for (const team of policy ? teams.filter((t) => teamIds.has(t.teamId)) : []) {
      for (const addonId of admitRotations(team.addons, records, rotations, policy!, now, true)) keyUsers.add(addonId);
    }
    const windows = this.windowsFor(accountId);
    const depthFor = (addonId: string, record: ResourceRecord | undefined): DeepCheckDepth =>
      !record || record.state !== 'ready' ? 'full' : deepCheckDue(addonId, record, now, windows);
    for (const team of teams.filter((t) => teamIds.has(t.teamId))) {
      for (const addon of team.addons) {
        const record = records.get(addon.addonId);
        entries.set(addon.addonId, {
          resource: this.resourceOf(addon, record ?? null, accountId),
          region: record?.region ?? addon.region,
          user: record?.userName ?? userNameFor(this.naming, addon.addonId),
          // A new plan may ask for other settings: read them now, not when the window comes round.
          depth: record?.plan !== addon.plan ? 'full' : depthFor(addon.addonId, record),
        });
      }
    }
    for (const record of records.values()) {
      if (record.accountId !== accountId || entries.has(record.addonId)) continue;
      entries.set(record.addonId, { resource: this.resourceOf(null, record, accountId), region: record.region, user: record.userName, depth: depthFor(record.addonId, record) });
    }
    const values = [...entries.values()];
    return {
      expected: {
        resources: values.flatMap((e) => (e.resource === null ? [] : [{ ...e.resource, region: e.region, deep: e.depth === 'full', exposure: e.depth === 'exposure' }])),
        users: [...entries].map(([addonId, e]) => ({ name: e.user, deep: e.depth === 'full' || keyUsers.has(addonId) })),
      },
      deepAddons: [...entries].filter(([, e]) => e.depth === 'full').map(([addonId]) => addonId),
      // Only a resource has exposure settings: an add-on of a kind without one has none to read.
      exposureAddons: [...entries].filter(([, e]) => e.depth === 'exposure' && e.resource !== null).map(([addonId]) => addonId),
    };
  }

  /**
   * The add-on's own resource: its record's, or the one its plan's kind gives it in this account;
   * null for a kind that makes nothing beyond the user.
   */
  private resourceOf(addon: DesiredAddon | null, record: ResourceRecord | null, accountId: string): { kind: ResourceKindName; name: string } | null {
    if (record) {
      const name = recordedResource(this.kinds, this.naming, record);
      return name === null ? null : { kind: record.kind, name };
    }
    const kind = addon && this.kinds.get(profileFor(this.deps.config.profiles, addon.plan).kind);
    const name = kind?.resourceName(this.naming, accountId, addon!.addonId) ?? null;
    return name === null ? null : { kind: kind!.name, name };
  }

  /**
   * How often this account's resources are read: on the longer windows while its change events
   * arrive (drift is found from them), else on the usual ones, exposure first.
   */
  private windowsFor(accountId: string): DeepCheckWindows {
    const { config, changeEvents } = this.deps;
    const watched = !!config.deepCheckWindowsWithEvents && !!changeEvents?.watching(accountId);
    const windows = watched ? config.deepCheckWindowsWithEvents! : { fullMs: config.deepCheckWindowMs, exposureMs: config.exposureCheckWindowMs ?? config.deepCheckWindowMs };
    // From the moment the account's events started or stopped arriving (spread, not all at once).
    return { ...windows, since: changeEvents?.watchingSince(accountId) ?? null };
  }

  private now(): Date {
    return this.deps.clock?.() ?? new Date();
  }
}

export interface AddonPassOptions {
  /** Plans only. */
  dryRun?: boolean;
  /**
   * Reads the add-on's AWS resources in full whatever their windows say (a change event named one
   * of them); its apps' config vars are read only when their own deep check is due.
   */
  deepCheck?: boolean;
}

/** What a pass read, full or keyed: everything plan() decides from but the journal's count and the time. */
type PassWorld = Omit<PlanInput, 'recentRepairs' | 'now'> & {
  startedAt: Date;
  /** One link per linked account, to reach it with. */
  targets: Map<string, Link>;
};

/** One link per account to reach it with (several teams may share an account). */
function accountTargets(links: Link[]): Map<string, Link> {
  const targets = new Map<string, Link>();
  for (const link of links) if (!targets.has(link.accountId)) targets.set(link.accountId, link);
  return targets;
}

/**
 * The actions of a keyed pass: only this add-on's, never a breaker decision (the breaker judges a
 * whole account's deletions in one cycle, which only the full pass sees), and no teardown that
 * would START here: a teardown runs in a keyed pass only once a full pass has started it (or an
 * operator approved it through the breaker). Marking and unmarking orphans, and removing config
 * vars from detached attachments of a wanted add-on, stay: the full pass does them unguarded too.
 * No step of a key rotation runs here either ({@link isRotationStep}).
 */
function keyedActions(actions: Action[], addonId: string, record: ResourceRecord | null, breakers: Map<string, GcBreaker>): Action[] {
  const ours = actions.filter((a) => a.addonId === addonId && a.kind !== 'trip-gc-breaker' && a.kind !== 'reset-gc-breaker');
  const breaker = record ? breakers.get(record.accountId) : undefined;
  const approved = !!breaker?.approvedAt && breaker.planned.includes(addonId);
  const admitted = !!record?.teardownStartedAt || approved;
  // While the account's breaker holds deletions, a key is deleted only with the operator's approval.
  const keysHeld = !!breaker && !approved;
  return ours.filter((a) => (admitted || a.reason !== GcReason.GraceExpired) && !(keysHeld && a.kind === 'delete-access-key') && !isRotationStep(a));
}

/**
 * A step of a key rotation: only the full pass takes them, where the pacing sees the whole team
 * and the deactivation breaker the whole account (a keyed pass still delivers a new key).
 */
function isRotationStep(action: Action): boolean {
  switch (action.kind) {
    case 'create-rotation-key':
    case 'mark-rotation-delivered':
    case 'deactivate-access-key':
    case 'reactivate-access-key':
    case 'finish-rotation':
      return true;
    case 'delete-access-key':
      return action.rotation !== undefined;
    default:
      return false;
  }
}

/**
 * Keeps a full pass and keyed reconciles apart: a full pass runs alone (exclusive); keyed
 * reconciles of different add-ons may run side by side (shared), one per key being the work
 * queue's job. Why: both read the store's records and deliveries first and act on them after.
 * A keyed reconcile landing inside a full pass would let the pass act on what it read before
 * (create a second access key for a user whose first one the keyed pass just made and delivered,
 * deliver stale credentials over fresh ones, mark an orphan the keyed pass just unmarked). FIFO
 * and fair: a waiting full pass holds back keyed reconciles that arrive after it, so a storm of
 * events cannot starve the resync. In one process only; across replicas, leader election keeps
 * a single writer (safety invariant 7).
 */
export class PassLock {
  private readers = 0;
  private writer = false;
  private readonly waiting: { exclusive: boolean; grant: () => void }[] = [];

  shared<T>(fn: () => Promise<T>): Promise<T> {
    return this.run(false, fn);
  }

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.run(true, fn);
  }

  private async run<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    if (this.waiting.length > 0 || !this.free(exclusive)) {
      await new Promise<void>((grant) => this.waiting.push({ exclusive, grant }));
    } else {
      this.take(exclusive);
    }
    try {
      return await fn();
    } finally {
      if (exclusive) this.writer = false;
      else this.readers -= 1;
      this.next();
    }
  }

  private free(exclusive: boolean): boolean {
    return exclusive ? !this.writer && this.readers === 0 : !this.writer;
  }

  private take(exclusive: boolean): void {
    if (exclusive) this.writer = true;
    else this.readers += 1;
  }

  private next(): void {
    while (this.waiting.length > 0 && this.free(this.waiting[0]!.exclusive)) {
      const { exclusive, grant } = this.waiting.shift()!;
      this.take(exclusive);
      grant();
      if (exclusive) return;
    }
  }
}

/**
 * Add-ons Heroku deprovisioned through the Partner API are deprovisioned for the plan, in teams
 * whose read is complete: out of the desired add-ons, into the team's deprovisioned list (short
 * grace), even while a listing still shows them.
 */
function applyToldDeprovisioned(teams: TeamDesiredState[], records: Map<string, ResourceRecord>, told: ReadonlySet<string>): void {
  if (told.size === 0) return;
  for (const team of teams.filter((t) => t.complete)) {
    team.addons = team.addons.filter((a) => !told.has(a.addonId));
    for (const id of told) {
      if (records.get(id)?.teamId === team.teamId && !team.deprovisioned.includes(id)) team.deprovisioned.push(id);
    }
  }
}
