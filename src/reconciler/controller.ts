/**
 * One reconcile pass, level-triggered (STYLE.md #1): read the links, read desired state from
 * Heroku, observe every linked account, plan, apply. Whatever triggered the pass, it decides only
 * from what it reads now.
 */
import type { Config } from '../config/config.js';
import type { HerokuApi } from '../sources/heroku/heroku-api.js';
import { readDesiredState } from '../sources/heroku/desired-state.js';
import type { AccountClients, AwsConnector } from '../sinks/aws/connect.js';
import { observeAccount, type ExpectedResources } from '../sinks/aws/observe-account.js';
import type { Sleep } from '../sinks/aws/aws-errors.js';
import type { Store } from '../store/store.js';
import type { Link } from '../store/types.js';
import type { Logger } from '../util/log.js';
import { mapLimit } from '../util/map-limit.js';
import type { Action } from './actions.js';
import { Executor, type ExecutionSummary } from './executor.js';
import type { ObservedAccount, TeamDesiredState } from './model.js';
import { plan } from './plan.js';
import { bucketNameFor, userNameFor, type NamingPolicy } from './spec.js';

export interface ControllerDeps {
  config: Pick<Config, 'addonServices' | 'instanceId' | 'bucketPrefix' | 'iamPath' | 'iamUserPrefix' | 'aws'>;
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
    const accounts = await mapLimit([...targets.values()], 4, (link) =>
      observeAccount(this.clientsFor(link), this.expectedIn(link.accountId, links, teams, records), {
        bucketPrefix: this.naming.bucketPrefix,
        iamPath: this.naming.iamPath,
        listRegion: this.deps.config.aws.region,
      }),
    );
    for (const account of accounts.filter((a) => !a.complete)) {
      logger.error({ reason: 'observe-failed', accountId: account.accountId }, `cannot read AWS account ${account.accountId}: ${account.error}`);
    }
    const actions = plan(
      {
        links,
        desired: teams,
        observed: new Map(accounts.map((a) => [a.accountId, a])),
        records,
        deliveries,
        now: startedAt,
      },
      this.naming,
    );
    let execution: ExecutionSummary | null = null;
    if (!options.dryRun && actions.length > 0) {
      const executor = new Executor({
        resources: store.resources,
        deliveries: store.deliveries,
        journal: store.journal,
        heroku: this.deps.heroku,
        clientsFor: (accountId) => this.clientsFor(targets.get(accountId)!),
        instanceId: this.deps.config.instanceId,
        logger,
        ...(this.deps.clock ? { now: this.deps.clock } : {}),
        ...(this.deps.sleep ? { sleep: this.deps.sleep } : {}),
        ...(this.deps.mayMutate ? { mayMutate: this.deps.mayMutate } : {}),
      });
      execution = await executor.apply(actions);
    }
    return { startedAt, durationMs: this.now().getTime() - startedAt.getTime(), teams, accounts, actions, execution };
  }

  private clientsFor(link: Link): AccountClients {
    return this.deps.connector.connect({ accountId: link.accountId, auth: link.auth });
  }

  /** The names this account should hold: from desired add-ons of its teams and from our records. */
  private expectedIn(
    accountId: string,
    links: Link[],
    teams: TeamDesiredState[],
    records: Map<string, { accountId: string; bucketName: string; bucketRegion: string; userName: string }>,
  ): ExpectedResources {
    const buckets = new Map<string, string>();
    const users = new Set<string>();
    const teamIds = new Set(links.filter((l) => l.accountId === accountId).map((l) => l.teamId));
    for (const team of teams.filter((t) => teamIds.has(t.teamId))) {
      for (const addon of team.addons) {
        const record = records.get(addon.addonId);
        buckets.set(record?.bucketName ?? bucketNameFor(this.naming, accountId, addon.addonId), record?.bucketRegion ?? addon.region);
        users.add(record?.userName ?? userNameFor(this.naming, addon.addonId));
      }
    }
    for (const record of records.values()) {
      if (record.accountId !== accountId) continue;
      buckets.set(record.bucketName, record.bucketRegion);
      users.add(record.userName);
    }
    return { buckets: [...buckets].map(([name, region]) => ({ name, region })), users: [...users] };
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
