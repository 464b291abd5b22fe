/**
 * One reconcile pass, level-triggered (STYLE.md #1): read the links, read desired state from
 * Heroku, observe every linked account, plan, apply. Whatever triggered the pass, it decides only
 * from what it reads now.
 */
import type { Config } from '../config/config.js';
import type { HerokuApi } from '../sources/heroku/heroku-api.js';
import { readAppConfigVars } from '../sources/heroku/app-config-vars.js';
import { readDesiredState } from '../sources/heroku/desired-state.js';
import type { AccountClients, AwsConnector } from '../sinks/aws/connect.js';
import { observeAccount, type ExpectedResources } from '../sinks/aws/observe-account.js';
import type { Sleep } from '../sinks/aws/aws-errors.js';
import type { Store } from '../store/store.js';
import type { Link, ResourceRecord } from '../store/types.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { mapLimit } from '../util/map-limit.js';
import { DESTRUCTIVE_KINDS, type Action } from './actions.js';
import type { DriftReport } from './drift.js';
import { buildDriftReport } from './drift-report.js';
import { Executor, type ExecutionSummary } from './executor.js';
import type { ObservedAccount, TeamDesiredState } from './model.js';
import { plan } from './plan.js';
import { isDeepCheckDue } from './deep-checks.js';
import { TAG, bucketNameFor, userNameFor, type NamingPolicy } from './spec.js';

export interface ControllerDeps {
  config: Pick<Config, 'addonServices' | 'instanceId' | 'bucketPrefix' | 'iamPath' | 'iamUserPrefix' | 'aws' | 'deepCheckWindowMs' | 'flapBreaker' | 'gc' | 'profiles'>;
  store: Store;
  heroku: HerokuApi;
  connector: AwsConnector;
  logger: Logger;
  clock?: () => Date;
  sleep?: Sleep;
  mayMutate?: () => boolean;
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
  /** Null for a dry run (`plan`). */
  execution: ExecutionSummary | null;
}

export class Controller {
  private readonly naming: NamingPolicy;

  constructor(private readonly deps: ControllerDeps) {
    this.naming = {
      instanceId: deps.config.instanceId,
      bucketPrefix: deps.config.bucketPrefix,
      iamPath: deps.config.iamPath,
      iamUserPrefix: deps.config.iamUserPrefix,
    };
  }

  /** One full pass. With `dryRun`, plans and returns the actions without changing anything. */
  async reconcileOnce(options: { dryRun?: boolean } = {}): Promise<PassResult> {
    const { store, logger } = this.deps;
    const startedAt = this.now();
    const links = await store.links.list();
    const teams = await readDesiredState(this.deps.heroku, links, {
      addonServices: this.deps.config.addonServices,
      defaultRegion: this.deps.config.aws.region,
    });
    for (const team of teams.filter((t) => !t.complete)) {
      logger.warn({ reason: 'heroku-read-incomplete', teamId: team.teamId, team: team.teamName }, `desired state of team ${team.teamName} is incomplete: ${team.error}`);
    }
    const records = new Map((await store.resources.listAll()).map((r) => [r.addonId, r]));
    const deliveries = await store.deliveries.listAll();
    const targets = accountTargets(links);
    const deepChecked: string[] = [];
    const accounts = await mapLimit([...targets.values()], 4, async (link) => {
      const { expected, deepAddons } = this.expectedIn(link.accountId, links, teams, records, startedAt);
      const account = await observeAccount(this.clientsFor(link), expected, {
        instanceId: this.naming.instanceId,
        bucketPrefix: this.naming.bucketPrefix,
        iamPath: this.naming.iamPath,
        listRegion: this.deps.config.aws.region,
      });
      if (account.complete) deepChecked.push(...deepAddons.filter((id) => records.has(id)));
      return account;
    });
    // Recorded before any repair: the executor clears it for what it changes, so the next pass
    // verifies its own repairs.
    if (!options.dryRun) await store.resources.setDeepChecked(deepChecked, startedAt);
    for (const account of accounts.filter((a) => !a.complete)) {
      logger.error({ reason: 'observe-failed', accountId: account.accountId }, `cannot read AWS account ${account.accountId}: ${account.error}`);
    }
    const deepSet = new Set(deepChecked);
    const appsToCheck = teams.flatMap((t) => t.addons).filter((a) => deepSet.has(a.addonId)).flatMap((a) => a.attachments.map((att) => att.appId));
    const configVars = await readAppConfigVars(this.deps.heroku, appsToCheck, (appId, err) =>
      logger.warn({ reason: 'config-vars-unread', appId }, `cannot read config vars of app ${appId}: ${errorMessage(err)}`),
    );
    const actions = plan(
      {
        links,
        desired: teams,
        observed: new Map(accounts.map((a) => [a.accountId, a])),
        records,
        deliveries,
        configVars,
        recentRepairs: await store.journal.countSucceededSince(new Date(startedAt.getTime() - this.deps.config.flapBreaker.windowMs)),
        breakers: new Map((await store.gcBreakers.list()).map((b) => [b.accountId, b])),
        now: startedAt,
      },
      this.naming,
      { maxRepairs: this.deps.config.flapBreaker.maxRepairs, gc: this.deps.config.gc, profiles: this.deps.config.profiles },
    );
    // GC_MODE=dry-run: what would be deleted is planned and reported, and nothing of it runs.
    const runnable = this.deps.config.gc.mode === 'dry-run' ? actions.filter((a) => !DESTRUCTIVE_KINDS.has(a.kind) && a.kind !== 'trip-gc-breaker' && a.kind !== 'reset-gc-breaker') : actions;
    let execution: ExecutionSummary | null = null;
    if (!options.dryRun) {
      const executor = new Executor({
        resources: store.resources,
        deliveries: store.deliveries,
        journal: store.journal,
        gcBreakers: store.gcBreakers,
        emptyKeysPerPass: this.deps.config.gc.emptyKeysPerPass,
        heroku: this.deps.heroku,
        clientsFor: (accountId) => this.clientsFor(targets.get(accountId)!),
        instanceId: this.deps.config.instanceId,
        logger,
        ...(this.deps.clock ? { now: this.deps.clock } : {}),
        ...(this.deps.sleep ? { sleep: this.deps.sleep } : {}),
        ...(this.deps.mayMutate ? { mayMutate: this.deps.mayMutate } : {}),
      });
      execution = await executor.apply(runnable);
    }
    if (!options.dryRun) await this.markConverged(teams, records, actions);
    const drift = buildDriftReport(teams, actions, startedAt, { records: [...records.values()], links, gcMode: this.deps.config.gc.mode });
    const managed = new Map(
      accounts
        .filter((a) => a.complete)
        .map((a) => [
          a.accountId,
          {
            bucket: [...a.buckets.values()].filter((b) => b.tags[TAG.instance] === this.naming.instanceId).length,
            iam_user: [...a.users.values()].filter((u) => u.tags[TAG.instance] === this.naming.instanceId).length,
            access_key: [...records.values()].filter((r) => r.accountId === a.accountId && r.accessKeyId !== null).length,
          },
        ]),
    );
    return { startedAt, durationMs: this.now().getTime() - startedAt.getTime(), teams, accounts, actions, drift, managed, execution };
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

  private clientsFor(link: Link): AccountClients {
    return this.deps.connector.connect({ accountId: link.accountId, auth: link.auth });
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
    now: Date,
  ): { expected: ExpectedResources; deepAddons: string[] } {
    const entries = new Map<string, { bucket: string; region: string; user: string; deep: boolean }>();
    const teamIds = new Set(links.filter((l) => l.accountId === accountId).map((l) => l.teamId));
    const deepFor = (addonId: string, record: ResourceRecord | undefined) =>
      !record || record.state !== 'ready' || isDeepCheckDue(addonId, record.deepCheckedAt, now, this.deps.config.deepCheckWindowMs);
    for (const team of teams.filter((t) => teamIds.has(t.teamId))) {
      for (const addon of team.addons) {
        const record = records.get(addon.addonId);
        entries.set(addon.addonId, {
          bucket: record?.bucketName ?? bucketNameFor(this.naming, accountId, addon.addonId),
          region: record?.bucketRegion ?? addon.region,
          user: record?.userName ?? userNameFor(this.naming, addon.addonId),
          deep: deepFor(addon.addonId, record),
        });
      }
    }
    for (const record of records.values()) {
      if (record.accountId !== accountId || entries.has(record.addonId)) continue;
      entries.set(record.addonId, { bucket: record.bucketName, region: record.bucketRegion, user: record.userName, deep: deepFor(record.addonId, record) });
    }
    const values = [...entries.values()];
    return {
      expected: {
        buckets: values.map((e) => ({ name: e.bucket, region: e.region, deep: e.deep })),
        users: values.map((e) => ({ name: e.user, deep: e.deep })),
      },
      deepAddons: [...entries].filter(([, e]) => e.deep).map(([addonId]) => addonId),
    };
  }

  private now(): Date {
    return this.deps.clock?.() ?? new Date();
  }
}

/** One link per account to reach it with (several teams may share an account). */
function accountTargets(links: Link[]): Map<string, Link> {
  const targets = new Map<string, Link>();
  for (const link of links) if (!targets.has(link.accountId)) targets.set(link.accountId, link);
  return targets;
}
