/**
 * What an action's handler works with: the ports, the store, and the checks every destructive
 * step repeats right before it acts (ownership read from the resource itself: safety invariant 10).
 */
import type { ResourceRecord } from '../../store/types.js';
import { TerminalError } from '../../util/errors.js';
import type { KeyedMutex } from '../../util/keyed-mutex.js';
import type { Logger } from '../../util/log.js';
import type { Action, ActionKind } from '../actions.js';
import type { KindTable, ResourceKind } from '../kinds/kind.js';
import type { DeliveryRecords, GcBreakers, JournalPort, ResourceRecords, RotationRecords, AppConfigVars, CloudAccount, ResourceHandle, UserHandle } from '../ports.js';
import type { ResourceKindName } from '../../store/types.js';
import { BlockedReason } from '../../reasons.js';
import { TAG, isOwnedBy, isRetained } from '../spec.js';

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

export interface ApplyDeps {
  resources: ResourceRecords;
  deliveries: DeliveryRecords;
  journal: JournalPort;
  gcBreakers: GcBreakers;
  /** Key rotations in flight; absent where no rotation can be (then a rotation step is an error). */
  rotations?: RotationRecords;
  /** The linked account an action's `accountId` names. */
  account: (accountId: string) => CloudAccount;
  configVars: AppConfigVars;
  /** The kinds of resources records may hold: what their apps get, and how their own resources' actions are applied. */
  kinds: KindTable;
  /** Whether a plan keeps its bucket when the add-on goes away (PLAN_PROFILES `retain`). */
  retainingPlan?: (plan: string) => boolean;
  /** The ARN an access key acts as in that account (STS GetCallerIdentity with the key itself). */
  keyIdentity?: (accountId: string, key: { accessKeyId: string; secretAccessKey: string }) => Promise<string>;
  instanceId: string;
  logger: Logger;
  now?: () => Date;
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

/** A teardown step that made progress but is not finished: the add-on's next steps wait a pass. */
export class Deferred {
  constructor(
    readonly why: string,
    readonly detail: Record<string, unknown>,
  ) {}
}

/** What a handler returns: journal details (never a secret). */
export type HandlerResult = Record<string, unknown> | undefined;
export type Handler<K extends ActionKind> = (action: Action & { kind: K }, ctx: ApplyContext) => Promise<HandlerResult>;
/** Handlers by action kind; a module of handlers covers one kind of resource. */
export type Handlers = { [K in ActionKind]?: Handler<K> };

export class ApplyContext {
  /** Add-ons whose config went through `PATCH /addons/{id}/config` in this pass: once covers every attachment. */
  readonly addonConfigSent = new Set<string>();

  constructor(readonly deps: ApplyDeps) {}

  now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  /** The kind a record holds; one this controller lacks is an error (nothing is done for it blind). */
  kindOf(record: Pick<ResourceRecord, 'kind' | 'addonId'>): ResourceKind {
    const kind = this.deps.kinds.get(record.kind);
    if (!kind) throw new Error(`add-on ${record.addonId} holds resources of kind "${record.kind}", which this controller does not have`);
    return kind;
  }

  /** A kind's resource, through the handle its adapter gives (the kind's handlers know its shape). */
  resource(action: { accountId: string }, kind: ResourceKindName, name: string, region: string): ResourceHandle {
    return this.deps.account(action.accountId).resource(kind, name, region);
  }

  user(action: { accountId: string }, name: string): UserHandle {
    return this.deps.account(action.accountId).user(name);
  }

  /** Safety invariant 1 on the resource itself: our instance's tags and this add-on's id. */
  owns(tags: Record<string, string>, addonId: string): boolean {
    return isOwnedBy(tags, { instanceId: this.deps.instanceId }, addonId);
  }

  async requireRecord(addonId: string): Promise<ResourceRecord> {
    const record = await this.deps.resources.get(addonId);
    if (!record) throw new Error(`no stored record for add-on ${addonId}`);
    return record;
  }

  async teardownStarted(action: Action): Promise<void> {
    await this.deps.resources.setTeardownStarted(action.addonId, this.now());
  }

  /** Runs a config-var read-and-write on one app alone (see {@link ApplyDeps.appLocks}). */
  onApp<T>(appId: string, task: () => Promise<T>): Promise<T> {
    return this.deps.appLocks ? this.deps.appLocks.run(appId, task) : task();
  }

  /**
   * Ownership read from IAM right before a destructive step (safety invariant 10): the plan's view
   * may be older than a change made since. A user that is gone is fine (the steps treat it as done).
   */
  async confirmUserOwned(user: UserHandle, userName: string, addonId: string): Promise<void> {
    const found = await user.readTags();
    if (found && !this.owns(found.tags, addonId)) {
      throw new TerminalError(`IAM user ${userName} no longer carries this controller's ownership tags for add-on ${addonId}; nothing of it is deleted`, BlockedReason.NotOwned);
    }
  }

  /**
   * Ownership and retain read from a kind's resource's own tags right before emptying or deleting
   * it (safety invariant 10): the bulk tagging read the plan used may lag behind a change. `what`
   * names it for people ("bucket hs3-…").
   */
  async confirmDisposable(resource: ResourceHandle, what: string, name: string, addonId: string): Promise<void> {
    const tags = await resource.tags();
    if (tags === null) return;
    if (!this.owns(tags, addonId)) {
      throw new TerminalError(`${what} ${name} no longer carries this controller's ownership tags for add-on ${addonId}; it is not emptied or deleted`, BlockedReason.NotOwned);
    }
    // Kept after all: not a failure. The next pass sees the tag and finishes the teardown without it.
    const plan = tags[TAG.plan];
    if (isRetained(tags)) throw new Deferred(`${what} ${name} carries ${TAG.retain}=true: it is kept, with its data`, { retained: name });
    if (plan !== undefined && this.deps.retainingPlan?.(plan)) {
      throw new Deferred(`${what} ${name} is tagged with plan ${plan}, which keeps its ${what}: it is kept, with its data`, { retained: name, plan });
    }
  }
}
