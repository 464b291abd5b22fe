/**
 * Applies planned actions. Actions of one add-on run in plan order and stop at the first failure
 * (later ones depend on earlier ones); add-ons run side by side. Every mutation is journaled as an
 * intent before the call and an outcome after it (safety invariant 6), and the only secret an
 * action ever handles, a new access key's, goes straight into the store, encrypted.
 */
import type { HerokuApi } from '../heroku/heroku-api.js';
import type { AccountClients } from '../sinks/aws/connect.js';
import * as s3 from '../sinks/aws/s3-bucket.js';
import * as iam from '../sinks/aws/iam-user.js';
import { patchConfigVars, readConfigVars, removeConfigVars } from '../sinks/heroku/config-vars.js';
import { hasCode, httpStatus } from '../sinks/aws/aws-errors.js';
import type { Sleep } from '../sinks/aws/aws-errors.js';
import type { DeliveryStore } from '../store/delivery-store.js';
import type { Journal } from '../store/journal.js';
import type { GcBreakerStore } from '../store/gc-breaker-store.js';
import type { ResourceInput, ResourceStore } from '../store/resource-store.js';
import type { DeliveryRecord } from '../store/types.js';
import * as bucketTeardown from '../sinks/aws/bucket-teardown.js';
import * as userTeardown from '../sinks/aws/user-teardown.js';
import { TerminalError, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { KeyedMutex } from '../util/keyed-mutex.js';
import { mapLimit } from '../util/map-limit.js';
import { actionResource, type Action } from './actions.js';
import { BlockedReason, DriftKind, GcReason } from './reasons.js';
import {
  BUCKET_NAME_SUFFIX,
  LIFECYCLE_RULE_ID,
  TAG,
  TEARDOWN_RULE_IDS,
  configVarNames,
  configVarValueHash,
  configVarValueHashes,
  configVarsFingerprint,
  configVarsFor,
  hasNoOwnershipTags,
  type Credentials,
  isOwnedBy,
  isRetained,
} from './spec.js';

/**
 * Add-ons worked on at once. AWS is paced per account by the connector's token buckets (IAM and
 * S3 mutations), so this only has to keep those buckets fed: an add-on's IAM calls come after its
 * seven S3 calls, and with 4 add-ons in flight IAM sat idle while all four were in their S3 part
 * (1,000 new add-ons took about 1.5x the 3N / R_iam floor). 16 keeps a queue at both buckets.
 */
export const DEFAULT_EXECUTOR_CONCURRENCY = 16;

/** A teardown step that made progress but is not finished: the add-on's next steps wait a pass. */
class Deferred {
  constructor(readonly why: string, readonly detail: Record<string, unknown>) {}
}

/**
 * The `addon-config` credential delivery (CREDENTIAL_DELIVERY): one `PATCH /addons/{id}/config`
 * with the add-on's partner token, under the manifest's config var prefix; Heroku sets the vars on
 * every attachment's app, renamed to the attachment's name.
 */
export interface AddonConfigDelivery {
  /** ADDON_CONFIG_VARS_PREFIX: the prefix of the manifest's config vars (`S3_BUCKET` → `S3_BUCKET_URL`). */
  prefix: string;
  /** True for add-ons this way reaches (provisioned through the Partner API); others get app config vars. */
  handles(addonId: string): Promise<boolean>;
  /** All of those at once, for planning a pass. */
  addonIds(): Promise<ReadonlySet<string>>;
  deliver(addonId: string, vars: Readonly<Record<string, string | null>>): Promise<void>;
}

export interface ExecutorDeps {
  resources: ResourceStore;
  deliveries: DeliveryStore;
  journal: Journal;
  gcBreakers: GcBreakerStore;
  heroku: HerokuApi;
  clientsFor: (accountId: string) => AccountClients;
  /** Whether a plan keeps its bucket when the add-on goes away (PLAN_PROFILES `retain`). */
  retainingPlan?: (plan: string) => boolean;
  /** The ARN an access key acts as in that account (STS GetCallerIdentity with the key itself). */
  keyIdentity?: (accountId: string, key: { accessKeyId: string; secretAccessKey: string }) => Promise<string>;
  instanceId: string;
  logger: Logger;
  now?: () => Date;
  sleep?: Sleep;
  /** Safety invariant 7: checked before each add-on's batch; false stops all mutation at once. */
  mayMutate?: () => boolean;
  /** Add-ons worked on at once. */
  concurrency?: number;
  /** Object versions deleted per bucket per pass (GC_EMPTY_KEYS_PER_PASS). */
  emptyKeysPerPass?: number;
  addonConfig?: AddonConfigDelivery;
  /**
   * One config-var write at a time per app, across the passes running at once (keyed passes of
   * different add-ons do): a removal reads the app, then writes, and a delivery by another
   * add-on under the same names must not land in between, or the removal takes it.
   */
  appLocks?: KeyedMutex;
}

export interface ActionOutcome {
  action: Action;
  result: 'applied' | 'failed' | 'blocked' | 'skipped' | 'deferred';
  error?: string;
}

export interface ExecutionSummary {
  outcomes: ActionOutcome[];
  applied: number;
  failed: number;
  blocked: number;
  skipped: number;
}

export class Executor {
  /** Add-ons whose config went through `PATCH /addons/{id}/config` in this pass: once covers every attachment. */
  private readonly addonConfigSent = new Set<string>();

  constructor(private readonly deps: ExecutorDeps) {}

  async apply(actions: Action[]): Promise<ExecutionSummary> {
    const groups = new Map<string, Action[]>();
    for (const action of actions) groups.set(action.addonId, [...(groups.get(action.addonId) ?? []), action]);
    const perGroup = await mapLimit([...groups.values()], this.deps.concurrency ?? DEFAULT_EXECUTOR_CONCURRENCY, (group) => this.applyGroup(group));
    const outcomes = perGroup.flat();
    const count = (result: ActionOutcome['result']) => outcomes.filter((o) => o.result === result).length;
    return { outcomes, applied: count('applied'), failed: count('failed'), blocked: count('blocked'), skipped: count('skipped') };
  }

  private async applyGroup(actions: Action[]): Promise<ActionOutcome[]> {
    const outcomes: ActionOutcome[] = [];
    const addonId = actions[0]!.addonId;
    if (this.deps.mayMutate && !this.deps.mayMutate()) {
      return actions.map((action) => ({ action, result: 'skipped', error: 'not the leader' }));
    }
    // A failure stops the add-on's remaining actions (they depend on it); a blocked action does
    // not, since plan() already leaves out whatever depends on a blocked resource.
    let stopped: string | null = null;
    let problem: string | null = null;
    for (const action of actions) {
      if (stopped !== null) {
        outcomes.push({ action, result: 'skipped', error: stopped });
        continue;
      }
      if (this.deps.mayMutate && !this.deps.mayMutate()) {
        // Leadership lost mid-batch: not one more mutating call (the new leader picks it up).
        stopped = 'not the leader';
        outcomes.push({ action, result: 'skipped', error: stopped });
        continue;
      }
      if (action.kind === 'blocked') {
        this.deps.logger.warn({ reason: action.reason, accountId: action.accountId, addonId, resource: action.resource }, action.message);
        outcomes.push({ action, result: 'blocked', error: action.message });
        problem ??= action.message;
        continue;
      }
      try {
        await this.applyOne(action);
        outcomes.push({ action, result: 'applied' });
      } catch (err) {
        if (err instanceof Deferred) {
          outcomes.push({ action, result: 'deferred', error: err.why });
          stopped = err.why;
          continue;
        }
        const message = errorMessage(err);
        this.deps.logger.error(
          { reason: action.reason, action: action.kind, accountId: action.accountId, addonId, resource: actionResource(action), terminal: err instanceof TerminalError },
          `${action.kind} failed: ${message}`,
        );
        outcomes.push({ action, result: 'failed', error: message });
        problem = `${action.kind}: ${message}`;
        stopped = `earlier action ${action.kind} failed`;
      }
    }
    const finished = actions.some((a) => a.kind === 'forget-resource') && problem === null && stopped === null;
    if (!finished && (await this.deps.resources.get(addonId))) {
      await this.deps.resources.setState(addonId, problem === null ? 'ready' : 'error', problem);
      // What we changed is read back in full on the next pass (the store's own records need not be).
      if (outcomes.some((o) => o.result === 'applied' && o.action.kind !== 'record-resource' && o.action.kind !== 'update-record')) {
        await this.deps.resources.setDeepChecked([addonId], null);
      }
    }
    return outcomes;
  }

  private async applyOne(action: Action): Promise<void> {
    if (action.kind === 'record-resource') {
      // A rebuilt record's vars are looked for first: a read that may answer next time leaves
      // the record unwritten, so the next pass rebuilds it and looks again.
      const rebuilt = action.reason === DriftKind.OrphanedUser || action.reason === DriftKind.OrphanedBucket;
      const found = rebuilt ? await this.findDeliveries(action.record) : null;
      await this.deps.resources.upsert(action.record);
      for (const delivery of found?.deliveries ?? []) await this.deps.deliveries.record(delivery);
      await this.journal(action, 'ok', found?.detail);
      return;
    }
    if (action.kind === 'update-record') {
      await this.deps.resources.follow(action.addonId, action.changes);
      await this.journal(action, 'ok', { changes: action.changes });
      return;
    }
    await this.journal(action, 'intent');
    try {
      const detail = await this.mutate(action);
      await this.journal(action, 'ok', detail);
      this.deps.logger.info(
        { reason: action.reason, action: action.kind, accountId: action.accountId, addonId: action.addonId, resource: actionResource(action) },
        `${action.kind} ${actionResource(action)}`,
      );
    } catch (err) {
      if (err instanceof Deferred) {
        await this.journal(action, 'ok', { ...err.detail, finished: false });
      } else {
        await this.journal(action, 'failed', { error: errorMessage(err) });
      }
      throw err;
    }
  }

  /** Performs one cloud or Heroku call; returns journal details (never a secret). */
  private async mutate(action: Action): Promise<Record<string, unknown> | undefined> {
    const clients = this.deps.clientsFor(action.accountId);
    switch (action.kind) {
      case 'record-resource':
      case 'update-record':
      case 'blocked':
        throw new Error(`${action.kind} is not a cloud mutation`);
      case 'create-bucket': {
        // The intent, stored before the call: lets the next pass recognise the bucket as ours if
        // the process dies before the bucket is tagged.
        if (!(await this.deps.resources.setBucketCreateStarted(action.addonId, this.now()))) {
          throw new Error(`no stored record for add-on ${action.addonId}`);
        }
        await s3.createBucket(clients.s3(action.region), action.bucket, action.region, action.tags);
        return { region: action.region };
      }
      case 'put-bucket-tags':
        // Onto a bucket with no ownership tag at all (a create of ours interrupted before tagging)
        // or ours; never onto one another owner has tagged since it was observed.
        await s3.tagBucket(clients.s3(action.region), action.bucket, action.tags, (tags) => this.owns(tags, action.addonId) || hasNoOwnershipTags(tags));
        return { tags: Object.keys(action.tags) };
      case 'put-public-access-block':
        await s3.putPublicAccessBlock(clients.s3(action.region), action.bucket);
        return undefined;
      case 'put-bucket-ownership-controls':
        await s3.putOwnershipControls(clients.s3(action.region), action.bucket);
        return undefined;
      case 'put-bucket-encryption':
        await s3.putEncryption(clients.s3(action.region), action.bucket);
        return undefined;
      case 'put-bucket-lifecycle':
        await s3.putLifecycle(clients.s3(action.region), action.bucket, action.otherRules);
        return undefined;
      case 'put-bucket-policy':
        await s3.putTlsPolicy(clients.s3(action.region), action.bucket);
        return undefined;
      case 'put-bucket-versioning':
        await s3.putVersioning(clients.s3(action.region), action.bucket, action.enabled);
        return { enabled: action.enabled };
      case 'put-bucket-cors':
        await s3.putCors(clients.s3(action.region), action.bucket, action.rules);
        return { origins: action.rules?.flatMap((r) => r.allowedOrigins) ?? [] };
      case 'create-user':
        await iam.createUser(clients.iam, action.userName, action.path, action.tags, (tags) => this.owns(tags, action.addonId));
        return { path: action.path };
      case 'tag-user':
        await iam.tagUser(clients.iam, action.userName, action.tags);
        return { tags: Object.keys(action.tags) };
      case 'put-user-policy':
        await iam.putUserPolicy(clients.iam, action.userName, action.policyName, action.document, this.deps.sleep);
        return { policyName: action.policyName };
      case 'delete-user-policy':
        await iam.deleteUserPolicy(clients.iam, action.userName, action.policyName);
        return { policyName: action.policyName };
      case 'create-access-key': {
        const key = await iam.createAccessKey(clients.iam, action.userName, this.deps.sleep);
        await this.deps.resources.setKey(action.addonId, key.accessKeyId, key.secretAccessKey);
        return { accessKeyId: key.accessKeyId };
      }
      case 'delete-access-key': {
        await this.confirmUserOwned(clients, action.userName, action.addonId);
        const record = await this.deps.resources.get(action.addonId);
        if (record?.accessKeyId === action.accessKeyId && record.secretAccessKey) {
          // Recorded since the plan was made (a second writer): it is in use, not to be deleted.
          throw new TerminalError(`access key ${action.accessKeyId} is now the recorded key of add-on ${action.addonId}; it is not deleted`, 'recorded-key');
        }
        await iam.deleteAccessKey(clients.iam, action.userName, action.accessKeyId);
        return { accessKeyId: action.accessKeyId };
      }
      case 'adopt-access-key':
        return this.adoptKey(action, clients);
      case 'mark-orphan': {
        await this.deps.resources.setOrphan(action.addonId, action.orphan);
        const record = await this.requireRecord(action.addonId);
        const s3client = clients.s3(record.bucketRegion);
        const markTags = [TAG.orphanedAt, TAG.deleteAfter];
        if (action.orphan) {
          const tags = { [TAG.orphanedAt]: action.orphan.since.toISOString(), [TAG.deleteAfter]: action.orphan.deleteAfter.toISOString() };
          if (action.tagBucket) await s3.mergeBucketTags(s3client, record.bucketName, tags);
          if (action.tagUser) await iam.tagUser(clients.iam, record.userName, tags).catch(ignoreMissingUser);
          return { orphan: action.orphan.reason, deleteAfter: action.orphan.deleteAfter.toISOString() };
        }
        if (action.tagBucket) await s3.mergeBucketTags(s3client, record.bucketName, {}, markTags);
        if (action.tagUser) await iam.untagUser(clients.iam, record.userName, markTags);
        return { orphan: null };
      }
      case 'remove-config-vars': {
        if (action.reason === GcReason.GraceExpired) await this.teardownStarted(action);
        const ours = await this.onApp(action.appId, async () => {
          const onApp = await readConfigVars(this.deps.heroku, action.appId);
          const still = onApp ? stillDelivered(action, onApp) : [];
          await removeConfigVars(this.deps.heroku, action.appId, still);
          return still;
        });
        await this.deps.deliveries.remove(action.addonId, action.attachmentId);
        return { appId: action.appId, varNames: ours, kept: action.varNames.filter((name) => !ours.includes(name)) };
      }
      case 'delete-user-keys': {
        await this.confirmUserOwned(clients, action.userName, action.addonId);
        await this.teardownStarted(action);
        return { accessKeyIds: await userTeardown.deleteAllAccessKeys(clients.iam, action.userName) };
      }
      case 'delete-user-policies': {
        await this.confirmUserOwned(clients, action.userName, action.addonId);
        const inline = await userTeardown.deleteInlinePolicies(clients.iam, action.userName);
        const attached = await userTeardown.detachManagedPolicies(clients.iam, action.userName);
        return { inlinePolicies: inline, detachedPolicies: attached };
      }
      case 'delete-user':
        await this.confirmUserOwned(clients, action.userName, action.addonId);
        await userTeardown.deleteUser(clients.iam, action.userName);
        return { user: action.userName };
      case 'delete-bucket-policy':
        await this.confirmBucketDisposable(clients.s3(action.region), action.bucket, action.addonId);
        await this.teardownStarted(action);
        await bucketTeardown.deleteBucketPolicy(clients.s3(action.region), action.bucket);
        return undefined;
      case 'empty-bucket': {
        const client = clients.s3(action.region);
        await this.confirmBucketDisposable(client, action.bucket, action.addonId);
        const step = await bucketTeardown.emptyBucketStep(client, action.bucket, { maxKeys: this.deps.emptyKeysPerPass ?? 10_000 });
        const detail = { deletedObjects: step.deletedObjects, deleteMarkers: step.deleteMarkers, deletedBytes: step.deletedBytes };
        if (!step.done) {
          // Too big for one pass: let S3 expire the rest for free while later passes keep going.
          if (!(await bucketTeardown.hasExpireEverythingLifecycle(client, action.bucket))) {
            await bucketTeardown.putExpireEverythingLifecycle(client, action.bucket);
          }
          throw new Deferred(`bucket ${action.bucket} is being emptied; continued next pass`, detail);
        }
        return detail;
      }
      case 'delete-bucket':
        await this.confirmBucketDisposable(clients.s3(action.region), action.bucket, action.addonId);
        await bucketTeardown.deleteBucket(clients.s3(action.region), action.bucket);
        return { bucket: action.bucket };
      case 'forget-resource':
        if (action.retained) {
          // Kept mid-teardown? Then the teardown's expiry rules must go, and the TLS policy return.
          const client = clients.s3((await this.requireRecord(action.addonId)).bucketRegion);
          const { lifecycleRules } = await s3.getBucketSettings(client, action.bucket);
          if (lifecycleRules.some((r) => TEARDOWN_RULE_IDS.includes(r.id))) {
            await s3.putLifecycle(client, action.bucket, lifecycleRules.filter((r) => r.id !== LIFECYCLE_RULE_ID && !TEARDOWN_RULE_IDS.includes(r.id)).map((r) => r.raw));
          }
          await s3.putTlsPolicy(client, action.bucket);
          await this.deps.resources.setState(action.addonId, 'retained', null);
          return { retainedBucket: action.bucket };
        }
        await this.deps.deliveries.removeForAddon(action.addonId);
        await this.deps.resources.remove(action.addonId);
        return { forgotten: action.addonId };
      case 'trip-gc-breaker':
        await this.deps.gcBreakers.trip(action.accountId, action.planned, this.now());
        this.deps.logger.error(
          { reason: 'gc-breaker-tripped', accountId: action.accountId, planned: action.planned.length },
          `garbage collection held in account ${action.accountId}: ${action.planned.length} deletions wait for \`heroku-s3-controller gc approve --account ${action.accountId}\``,
        );
        return { planned: action.planned };
      case 'reset-gc-breaker':
        await this.deps.gcBreakers.reset(action.accountId);
        return undefined;
      case 'deliver-config-vars': {
        const record = await this.requireRecord(action.addonId);
        if (!record.accessKeyId || !record.secretAccessKey) {
          throw new Error(`no stored access key for add-on ${action.addonId} to deliver`);
        }
        const credentials = {
          bucketName: record.bucketName,
          bucketRegion: record.bucketRegion,
          accessKeyId: record.accessKeyId,
          secretAccessKey: record.secretAccessKey,
        };
        // What lands on this attachment's app, and is recorded and checked for drift, either way.
        const vars = configVarsFor({ name: action.attachmentName }, credentials);
        const addonConfig = this.deps.addonConfig;
        if (action.alreadyOnApp) {
          // The app holds exactly these values (read this pass): recorded, not patched again.
        } else if (addonConfig && (await addonConfig.handles(action.addonId))) {
          if (!this.addonConfigSent.has(action.addonId)) {
            await addonConfig.deliver(action.addonId, configVarsFor({ name: addonConfig.prefix }, credentials));
            this.addonConfigSent.add(action.addonId);
          }
        } else {
          await this.onApp(action.appId, () => patchConfigVars(this.deps.heroku, action.appId, vars));
        }
        await this.deps.deliveries.record({
          addonId: action.addonId,
          attachmentId: action.attachmentId,
          appId: action.appId,
          varNames: Object.keys(vars),
          fingerprint: configVarsFingerprint(vars),
          valueHashes: configVarValueHashes(vars),
          deliveredAt: this.now(),
        });
        return { appId: action.appId, varNames: Object.keys(vars), accessKeyId: record.accessKeyId, ...(action.alreadyOnApp ? { alreadyOnApp: true } : {}) };
      }
    }
  }

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
  private async findDeliveries(record: ResourceInput): Promise<{ deliveries: DeliveryRecord[]; detail: Record<string, unknown> }> {
    try {
      const deliveries = await this.deliveriesOnOwningApp(record);
      return { deliveries, detail: { appId: record.appId, varNames: deliveries.flatMap((d) => d.varNames) } };
    } catch (err) {
      if (!isRefusal(err)) throw err;
      // Refused (no access to the app, say): asking again will not help, and the resources are
      // collected all the same; only these vars stay.
      const message = `config vars of add-on ${record.addonId} on app ${record.appId} not looked for: ${errorMessage(err)}`;
      this.deps.logger.warn({ reason: 'deliveries-not-found', accountId: record.accountId, addonId: record.addonId }, message);
      return { deliveries: [], detail: { appId: record.appId, varsNotLookedFor: errorMessage(err) } };
    }
  }

  private async deliveriesOnOwningApp(record: ResourceInput): Promise<DeliveryRecord[]> {
    if (!record.appId) return [];
    const onApp = (await readConfigVars(this.deps.heroku, record.appId)) ?? {};
    const named = Object.entries(onApp).filter(([name, value]) => name.endsWith(BUCKET_NAME_SUFFIX) && value === record.bucketName);
    if (named.length === 0) return [];
    const keys = await iam.listAccessKeys(this.deps.clientsFor(record.accountId).iam, record.userName).catch((err: unknown) => {
      if (hasCode(err, 'NoSuchEntity', 'NoSuchEntityException')) return [];
      throw err;
    });
    const found: DeliveryRecord[] = [];
    for (const [name] of named) {
      const prefix = name.slice(0, -BUCKET_NAME_SUFFIX.length);
      const names = configVarNames(prefix);
      const accessKeyId = onApp[names.accessKeyId];
      if (!accessKeyId || !keys.some((key) => key.accessKeyId === accessKeyId)) continue;
      const credentials = { bucketName: record.bucketName, bucketRegion: record.bucketRegion, accessKeyId, secretAccessKey: onApp[names.secretAccessKey] ?? '' };
      const held = this.heldDelivery(record, `found-on-app:${prefix}`, record.appId, prefix, onApp, credentials);
      if (held) found.push(held);
    }
    return found;
  }

  /**
   * What an app holds of one attachment's vars, as the controller delivers them with these
   * credentials, as a delivery record; only vars that hold exactly that value (one someone set to
   * a value of their own is not ours). Null when none does.
   */
  private heldDelivery(
    record: Pick<ResourceInput, 'addonId'>,
    attachmentId: string,
    appId: string,
    attachmentName: string,
    onApp: Record<string, string>,
    credentials: Credentials,
  ): DeliveryRecord | null {
    const ours = configVarsFor({ name: attachmentName }, credentials);
    const vars = Object.fromEntries(Object.entries(ours).filter(([name, value]) => onApp[name] === value));
    if (Object.keys(vars).length === 0) return null;
    return {
      addonId: record.addonId,
      attachmentId,
      appId,
      varNames: Object.keys(vars),
      fingerprint: configVarsFingerprint(vars),
      valueHashes: configVarValueHashes(vars),
      deliveredAt: this.now(),
    };
  }

  /** Runs a config-var read-and-write on one app alone (see {@link ExecutorDeps.appLocks}). */
  private onApp<T>(appId: string, task: () => Promise<T>): Promise<T> {
    return this.deps.appLocks ? this.deps.appLocks.run(appId, task) : task();
  }

  /** Safety invariant 1 on the resource itself: our instance's tags and this add-on's id. */
  private owns(tags: Record<string, string>, addonId: string): boolean {
    return isOwnedBy(tags, { instanceId: this.deps.instanceId }, addonId);
  }

  /**
   * Ownership read from IAM right before a destructive step (safety invariant 10): the plan's view
   * may be older than a change made since. A user that is gone is fine (the steps treat it as done).
   */
  private async confirmUserOwned(clients: AccountClients, userName: string, addonId: string): Promise<void> {
    const user = await iam.readUserTags(clients.iam, userName);
    if (user && !this.owns(user.tags, addonId)) {
      throw new TerminalError(`IAM user ${userName} no longer carries this controller's ownership tags for add-on ${addonId}; nothing of it is deleted`, BlockedReason.NotOwned);
    }
  }

  /**
   * Ownership and retain read from the bucket's own tags right before emptying or deleting it
   * (safety invariant 10): the bulk tagging read the plan used may lag behind a change.
   */
  private async confirmBucketDisposable(client: ReturnType<AccountClients['s3']>, bucket: string, addonId: string): Promise<void> {
    let tags: Record<string, string>;
    try {
      tags = await s3.getBucketTags(client, bucket);
    } catch (err) {
      if (hasCode(err, 'NoSuchBucket')) return;
      throw err;
    }
    if (!this.owns(tags, addonId)) {
      throw new TerminalError(`bucket ${bucket} no longer carries this controller's ownership tags for add-on ${addonId}; it is not emptied or deleted`, BlockedReason.NotOwned);
    }
    // Kept after all: not a failure. The next pass sees the tag and finishes the teardown without it.
    const plan = tags[TAG.plan];
    if (isRetained(tags)) throw new Deferred(`bucket ${bucket} carries ${TAG.retain}=true: it is kept, with its data`, { retained: bucket });
    if (plan !== undefined && this.deps.retainingPlan?.(plan)) {
      throw new Deferred(`bucket ${bucket} is tagged with plan ${plan}, which keeps its bucket: it is kept, with its data`, { retained: bucket, plan });
    }
  }

  /**
   * Takes back into the record a key an attached app holds (store lost or restored from an older
   * backup): its secret is read from that app and proven with STS to belong to the add-on's own
   * user before it is stored. Nothing is created and no app is patched.
   */
  private async adoptKey(action: Action & { kind: 'adopt-access-key' }, clients: AccountClients): Promise<Record<string, unknown>> {
    await this.confirmUserOwned(clients, action.userName, action.addonId);
    const vars = await readConfigVars(this.deps.heroku, action.appId);
    const names = configVarNames(action.attachmentName);
    const secretAccessKey = vars?.[names.accessKeyId] === action.accessKeyId ? vars[names.secretAccessKey] : undefined;
    if (!secretAccessKey) throw new Error(`app ${action.appName} no longer holds access key ${action.accessKeyId} with its secret; nothing adopted`);
    if (!this.deps.keyIdentity) throw new Error('no way to check an access key with STS is configured; nothing adopted');
    const arn = await this.deps.keyIdentity(action.accountId, { accessKeyId: action.accessKeyId, secretAccessKey });
    if (!arn.startsWith(`arn:aws:iam::${action.accountId}:user/`) || !arn.endsWith(`/${action.userName}`)) {
      throw new TerminalError(`the secret app ${action.appName} holds for access key ${action.accessKeyId} acts as ${arn}, not as IAM user ${action.userName}; nothing adopted`, 'key-mismatch');
    }
    if (!(await this.deps.resources.setKey(action.addonId, action.accessKeyId, secretAccessKey))) {
      throw new Error(`no stored record for add-on ${action.addonId}`);
    }
    // What the apps hold is what a lost store had delivered: recorded, so that a teardown before
    // the next delivery check still knows to remove it. An app that cannot be read now is left
    // to that check.
    const record = await this.requireRecord(action.addonId);
    const credentials = { bucketName: record.bucketName, bucketRegion: record.bucketRegion, accessKeyId: action.accessKeyId, secretAccessKey };
    const onApps = new Map([[action.appId, vars!]]);
    const recorded: string[] = [];
    for (const holder of action.heldBy) {
      if (!onApps.has(holder.appId)) onApps.set(holder.appId, (await readConfigVars(this.deps.heroku, holder.appId).catch(() => null)) ?? {});
      const held = this.heldDelivery(record, holder.attachmentId, holder.appId, holder.attachmentName, onApps.get(holder.appId)!, credentials);
      if (!held) continue;
      await this.deps.deliveries.record(held);
      recorded.push(...held.varNames.map((name) => `${holder.appId}:${name}`));
    }
    return { accessKeyId: action.accessKeyId, adoptedFrom: action.appName, recordedAsDelivered: recorded };
  }

  private async teardownStarted(action: Action): Promise<void> {
    await this.deps.resources.setTeardownStarted(action.addonId, this.now());
  }

  private async requireRecord(addonId: string) {
    const record = await this.deps.resources.get(addonId);
    if (!record) throw new Error(`no stored record for add-on ${addonId}`);
    return record;
  }

  private journal(action: Action, phase: 'intent' | 'ok' | 'failed', detail?: Record<string, unknown>) {
    return this.deps.journal.append({
      at: this.now(),
      instanceId: this.deps.instanceId,
      accountId: action.accountId,
      addonId: action.addonId,
      action: action.kind,
      resource: actionResource(action),
      phase,
      detail: { reason: action.reason, ...detail },
    });
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }
}

/**
 * Of the vars one delivery set, those the app still holds as delivered (invariant 10). They are
 * this add-on's only while the app's `*_BUCKET_NAME` still names its bucket (a bucket name is
 * unique to its add-on; the region var alone could be anybody's), and each only while its value
 * hashes to what was delivered. Vars from before value hashes were kept go on the bucket alone.
 */
function stillDelivered(action: Action & { kind: 'remove-config-vars' }, onApp: Record<string, string>): string[] {
  const bucketVar = action.varNames.find((name) => name.endsWith(BUCKET_NAME_SUFFIX));
  if (!bucketVar || onApp[bucketVar] !== action.bucket) return [];
  return action.varNames.filter((name) => {
    const value = onApp[name];
    if (value === undefined) return false;
    return action.valueHashes === null || action.valueHashes[name] === configVarValueHash(value);
  });
}

/** An answer asking again will not change: a 4xx from Heroku or AWS other than 429 (throttling). */
function isRefusal(err: unknown): boolean {
  const status = (err as { statusCode?: number | null } | null)?.statusCode ?? httpStatus(err);
  return typeof status === 'number' && status >= 400 && status < 500 && status !== 429;
}

function ignoreMissingUser(err: unknown): void {
  if (!hasCode(err, 'NoSuchEntity', 'NoSuchEntityException')) throw err;
}
