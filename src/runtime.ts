/**
 * Wires the parts together from the configuration (STYLE.md #9: plain constructor injection).
 * Commands take what they need from here; tests build the same parts with their own options.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { need, type Config } from './config/config.js';
import { SecretBox } from './crypto/secret-box.js';
import { Metrics } from './metrics/metrics.js';
import type { LatestReports } from './metrics/pass-outcome.js';
import { createPartnerApiFromConfig, type PartnerApi } from './partner/partner-api.js';
import { Controller } from './reconciler/controller.js';
import { BUILT_IN_KINDS } from './reconciler/kinds/bucket/kind.js';
import { credentialsKind } from './reconciler/kinds/credentials/kind.js';
import { profileProblems, type KindTable } from './reconciler/kinds/kind.js';
import { profileFor } from './reconciler/profiles.js';
import { AwsCloud } from './sinks/aws/aws-cloud.js';
import type { Sleep } from './sinks/aws/aws-errors.js';
import { herokuConfigVars } from './sinks/heroku/config-vars.js';
import { herokuDesiredState } from './sources/heroku/desired-state.js';
import type { AddonConfigDelivery } from './reconciler/executor.js';
import { ApiCallRecorder } from './sinks/aws/api-calls.js';
import { AwsConnector, type ClientHook, type ConnectorOptions } from './sinks/aws/connect.js';
import { awsBucketKind } from './sinks/aws/bucket-kind.js';
import type { KindAdapters } from './sinks/aws/observe-account.js';
import type { LinkDeps } from './admin/links.js';
import { HerokuApi, type HerokuRequest } from './heroku/heroku-api.js';
import { resolveTeam } from './heroku/teams.js';
import { resolveApp } from './heroku/apps.js';
import { verifyCredentials } from './links/verify-credentials.js';
import { HerokuBudget } from './heroku/request-budget.js';
import { Store } from './store/store.js';
import { ConfigError, UserError } from './util/errors.js';
import type { Logger } from './util/log.js';
import { HerokuEvent, ServeEvent } from './reasons.js';
import { EventHealth } from './change-events/event-health.js';
import { eventRegions, type EventNaming } from './change-events/catalogue.js';
import { ChangeEventLane, type ChangeEventLaneOptions, type EventPathAccess } from './change-events/change-event-lane.js';
import { EventIntake, type ChangeHint } from './change-events/event-intake.js';
import * as eventQueue from './sinks/aws/event-queue.js';

/**
 * Opens the store and settles this deployment's instance id with it: from here on
 * `config.instanceId` is the store's (see {@link claimInstanceId}).
 */
export async function openStore(config: Config, logger?: Logger): Promise<Store> {
  const store = await Store.open({
    ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}),
    dataDir: config.dataDir,
    fernetKeys: await fernetKeys(config, logger),
  });
  try {
    config.instanceId = await claimInstanceId(store, config);
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  return store;
}

/**
 * One instance id per store, kept for the store's life (safety invariants 1 and 10): the
 * ownership tag on everything this deployment makes. Without INSTANCE_ID the store chooses one at
 * its first start (`hsc-` and 10 random hex digits), so two deployments left at the default never
 * take each other's resources for their own. An INSTANCE_ID other than the store's is refused:
 * under another id nothing the store manages would be recognised as ours.
 */
export async function claimInstanceId(store: Store, config: Pick<Config, 'instanceId' | 'instanceIdConfigured'>): Promise<string> {
  const candidate = config.instanceIdConfigured ? config.instanceId : `hsc-${randomBytes(5).toString('hex')}`;
  const held = await store.settings.claim('instance_id', candidate);
  if (config.instanceIdConfigured && held !== config.instanceId) {
    throw new UserError(
      `INSTANCE_ID is "${config.instanceId}", but this database holds the state of instance "${held}", whose id is on every bucket and IAM user it manages. Set INSTANCE_ID=${held} (or leave it unset), or point the controller at the database of instance "${config.instanceId}"`,
    );
  }
  return held;
}

const KEY_FILE = 'fernet.key';

/**
 * FERNET_KEYS, or, for the embedded database only, a key kept beside it in the data folder so the
 * controller runs on a fresh machine with no setup. A server database always needs FERNET_KEYS:
 * a key generated on one replica would be unknown to the others.
 */
async function fernetKeys(config: Config, logger?: Logger): Promise<string[]> {
  if (config.fernetKeys.length > 0) return config.fernetKeys;
  if (config.databaseUrl) {
    need(config, 'FERNET_KEYS');
  }
  const file = path.join(config.dataDir, KEY_FILE);
  try {
    return [(await readFile(file, 'utf8')).trim()];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(config.dataDir, { recursive: true });
  await writeFile(file, `${SecretBox.generateKey()}\n`, { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  logger?.warn(
    { reason: ServeEvent.GeneratedFernetKey, file },
    `FERNET_KEYS is not set: secrets in the embedded database are encrypted with a key generated in ${file}. Set FERNET_KEYS for anything but a trial`,
  );
  return [(await readFile(file, 'utf8')).trim()];
}

/**
 * The Heroku API with its request budget: every request waits for admission (HEROKU_BUDGET_*),
 * and 429s are retried with backoff before they surface.
 */
/**
 * How a link is proven and named, for the CLI, the admin API and the console alike: the team by
 * Heroku (HEROKU_API_TOKEN), the credentials by STS.
 */
export function linkingFor(config: Config, heroku: HerokuApi): Pick<LinkDeps, 'resolveTeam' | 'verify' | 'instanceId'> {
  return {
    resolveTeam: (team) => {
      need(config, 'HEROKU_API_TOKEN');
      return resolveTeam(heroku, team);
    },
    verify: (auth, field, options) => verifyCredentials(auth, { aws: config.aws, instanceId: config.instanceId, requestTimeoutMs: config.requestTimeoutMs, field, externalIdRequired: options?.externalIdRequired === true }),
    instanceId: config.instanceId,
  };
}

/** How an app an operator names (`rotate --app`) is found: by Heroku (HEROKU_API_TOKEN). */
export function appResolverFor(config: Config, heroku: HerokuApi): (nameOrId: string) => Promise<{ id: string; name: string }> {
  return (app) => {
    need(config, 'HEROKU_API_TOKEN');
    return resolveApp(heroku, app);
  };
}

export function herokuApi(config: Config, onRequest?: (request: HerokuRequest) => void, logger?: Logger): HerokuApi {
  return new HerokuApi({
    url: config.herokuApiUrl,
    token: config.herokuApiToken ?? '',
    timeoutMs: config.requestTimeoutMs,
    budget: new HerokuBudget(config.herokuBudget),
    retry: { maxTotalWaitMs: config.herokuRateLimitMaxWaitMs },
    ...(onRequest ? { onRequest } : {}),
    ...(logger
      ? {
          onRetry: (event) =>
            logger.warn(
              { reason: HerokuEvent.RateLimited, method: event.method, status: event.status, attempt: event.attempt, delayMs: event.delayMs },
              `Heroku answered ${event.status ?? 'rate_limit'} (rate limit); retrying in ${Math.ceil(event.delayMs / 1000)} s`,
            ),
        }
      : {}),
  });
}

export interface Runtime {
  config: Config;
  store: Store;
  heroku: HerokuApi;
  connector: AwsConnector;
  recorder: ApiCallRecorder;
  controller: Controller;
  logger: Logger;
  /** One per runtime: every AWS call and Heroku request is counted here. */
  metrics: Metrics;
  /** What the latest pass found, replaced after each; served on `/drift` and by the admin API. */
  reports: LatestReports;
  /** The add-on Partner API (`/heroku/resources`), or null without ADDON_MANIFEST_ID. */
  partner: PartnerApi | null;
  /** Where the Partner API puts the add-ons it is told about: set by `serve`'s fast lane. */
  partnerWork: { enqueue: ((addonId: string) => void) | null };
  /**
   * Each linked account's change-event path (issue 17), as `serve`'s lane finds it: the controller
   * spreads an account's deep checks over the longer windows only while it is healthy. Only the
   * lane configures it, so one-shot commands (`plan`, `reconcile --once`), which read no events,
   * use the usual windows.
   */
  changeEvents: EventHealth;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  onClient?: ClientHook;
  /** The controller's clock (grace periods, deep-check windows, breakers); tests move it. */
  clock?: () => Date;
  /** The controller's own AWS credentials for AssumeRole; default: the SDK's standard chain. */
  baseCredentials?: ConnectorOptions['baseCredentials'];
  mayMutate?: () => boolean;
  /** Keep every AWS call in `recorder.calls` (tests and benchmarks count them); off in production. */
  keepAwsCalls?: boolean;
}

/** The adapters behind the reconciler's ports: Heroku for desired state and config vars, AWS for the accounts. */
export function controllerPorts(config: Pick<Config, 'addonServices' | 'aws'>, heroku: HerokuApi, connector: AwsConnector, options: { sleep?: Sleep } = {}) {
  return {
    desired: herokuDesiredState(heroku, { addonServices: config.addonServices, defaultRegion: config.aws.region }),
    configVars: herokuConfigVars(heroku),
    cloud: new AwsCloud(connector, KIND_ADAPTERS, options),
  };
}

/** The kinds of resources a plan can stand for (PLAN_PROFILES `kind`). */
export const KINDS: KindTable = new Map([...BUILT_IN_KINDS, [credentialsKind.name, credentialsKind]]);

/** The AWS adapter of each kind that makes resources beyond the user (the credentials kind makes none). */
export const KIND_ADAPTERS: KindAdapters = new Map([['bucket', awsBucketKind]]);

export async function createRuntime(config: Config, logger: Logger, options: RuntimeOptions = {}): Promise<Runtime> {
  // Checked before anything starts: a profile its kind cannot use stops here, with what to fix.
  const problems = profileProblems(KINDS, Object.fromEntries(Object.keys(config.profiles).map((plan) => [plan, profileFor(config.profiles, plan)])));
  if (problems.length > 0) throw new ConfigError('PLAN_PROFILES', problems.join('; '));
  const store = await openStore(config, logger);
  const metrics = new Metrics();
  const heroku: HerokuApi = herokuApi(
    config,
    (request) => {
      metrics.observeHerokuRequest(request);
      if (heroku.rateLimitRemaining !== null) metrics.setHerokuRateLimit(heroku.rateLimitRemaining);
    },
    logger,
  );
  if (heroku.budget) metrics.watchHerokuBudget(heroku.budget);
  const recorder = new ApiCallRecorder({ keepCalls: options.keepAwsCalls ?? false });
  recorder.onCall((call) => metrics.observeAwsCall(call));
  const connector = new AwsConnector({
    aws: config.aws,
    instanceId: config.instanceId,
    recorder,
    requestTimeoutMs: config.requestTimeoutMs,
    ...(options.onClient ? { onClient: options.onClient } : {}),
    ...(options.baseCredentials ? { baseCredentials: options.baseCredentials } : {}),
  });
  const partnerWork: Runtime['partnerWork'] = { enqueue: null };
  const changeEvents = new EventHealth({
    ...(options.clock ? { now: options.clock } : {}),
    usualWindows: { fullMs: config.deepCheckWindowMs, exposureMs: config.exposureCheckWindowMs },
    onOutcome: (accountId, outcome) => metrics.countChangeEvent(accountId, outcome),
  });
  metrics.watchChangeEvents(() => changeEvents.report());
  const partner = createPartnerApiFromConfig(config, {
    store: store.partnerAddons,
    logger,
    // Until serve's queue exists (one-shot commands), a provisioning request waits for the next pass.
    enqueue: (addonId) => partnerWork.enqueue?.(addonId),
    ...(options.clock ? { now: options.clock } : {}),
  });
  const controller = new Controller({
    config,
    store,
    ...controllerPorts(config, heroku, connector),
    kinds: KINDS,
    logger,
    ...(partner && config.credentialDelivery === 'addon-config' ? { addonConfig: addonConfigDelivery(partner, store, config.addonConfigVarsPrefix) } : {}),
    ...(partner ? { toldDeprovisioned: toldDeprovisioned(store) } : {}),
    changeEvents,
    ...(options.mayMutate ? { mayMutate: options.mayMutate } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  return {
    config,
    store,
    heroku,
    connector,
    recorder,
    controller,
    logger,
    metrics,
    reports: { latest: null, pass: null },
    partner,
    partnerWork,
    changeEvents,
    async close() {
      await partner?.settle();
      connector.destroy();
      await store.close();
    },
  };
}

/**
 * The change-event lane of `serve` (issue 17): polls the queues `events setup` made, and offers
 * each add-on an event names to `offer` (the fast lane's keyed queue, with a deep check).
 */
export function changeEventLane(runtime: Runtime, offer: (addonId: string, hint: ChangeHint) => boolean, isLeader: () => boolean, options?: ChangeEventLaneOptions): ChangeEventLane {
  const { store, connector, config, changeEvents: health, logger } = runtime;
  let lane: ChangeEventLane | null = null;
  const intake = new EventIntake({
    findAddon: async (accountId, resource) => (await store.resources.findByName(accountId, 'bucket' in resource ? { resource: resource.bucket } : { user: resource.user }))?.addonId ?? null,
    offer,
    health,
    instanceId: config.instanceId,
    ownActor: (accountId) => lane?.ownActor(accountId) ?? null,
  });
  lane = new ChangeEventLane({
    sources: () => store.eventSources.list(),
    neededRegions: () => neededEventRegions(store),
    links: () => store.links.list(),
    access: eventPathAccess(connector, { instanceId: config.instanceId, bucketPrefix: config.bucketPrefix, iamUserPrefix: config.iamUserPrefix }),
    intake,
    health,
    isLeader,
    logger,
    // A long poll must end before REQUEST_TIMEOUT does, or every quiet wait would count as a failure.
    options: { waitSeconds: Math.max(1, Math.min(20, Math.floor(config.requestTimeoutMs / 1000) - 5)), ...options },
  });
  return lane;
}

/** Per account, the regions its change events come from: IAM's, and every region its records hold a resource in. */
export async function neededEventRegions(store: Pick<Store, 'resources'>): Promise<Map<string, string[]>> {
  return new Map([...(await store.resources.regionsByAccount())].map(([accountId, regions]) => [accountId, eventRegions(regions)]));
}

/** How the change-event lane reaches an account's queue and bus: through the connector's clients for its link. */
export function eventPathAccess(connector: AwsConnector, naming: EventNaming): EventPathAccess {
  const { instanceId } = naming;
  return {
    receive: (target, region, queueUrl, waitSeconds, signal) => eventQueue.receiveEvents(connector.connect(target), region, queueUrl, waitSeconds, signal),
    remove: (target, region, queueUrl, receipts) => eventQueue.deleteEvents(connector.connect(target), region, queueUrl, receipts),
    probe: (target, region, probeId) => eventQueue.putProbe(connector.connect(target), region, instanceId, probeId),
    changesRuleProblem: (target, region, queueArn) => eventQueue.changesRuleProblem(connector.connect(target), region, queueArn, naming),
    identity: (target) => eventQueue.ownIdentity(connector.connect(target)),
    describe: eventQueue.describeQueueError,
  };
}

/**
 * CREDENTIAL_DELIVERY=addon-config: add-ons provisioned through the Partner API get their
 * credentials through `PATCH /addons/{id}/config` with their partner token (Heroku sets them on
 * every attachment); any other add-on keeps the app config-var delivery.
 */
function addonConfigDelivery(partner: PartnerApi, store: Store, prefix: string): AddonConfigDelivery {
  return {
    prefix,
    handles: async (addonId) => (await store.partnerAddons.get(addonId)) !== null,
    addonIds: async () => new Set((await store.partnerAddons.list()).map((a) => a.uuid)),
    deliver: (addonId, vars) => partner.deliverAddonConfig(addonId, vars),
  };
}

/** Add-ons Heroku deprovisioned with `DELETE /heroku/resources/:id` (Partner API). */
function toldDeprovisioned(store: Store) {
  return {
    all: async () => new Set((await store.partnerAddons.list()).filter((a) => a.state === 'deprovisioned').map((a) => a.uuid)),
    has: async (addonId: string) => (await store.partnerAddons.get(addonId))?.state === 'deprovisioned',
  };
}
