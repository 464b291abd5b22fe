/**
 * A kind of resources an add-on can stand for (a plan's profile names it). The core of the loop
 * is the same for every kind: an IAM user with one key, delivered to every attachment as config
 * vars, drift-checked, garbage-collected behind the breaker. A kind brings what differs: its own
 * resource beyond the user (named here, observed by the kind's adapter, planned from what was
 * observed, applied by its handlers, torn down after the user), the user's policy and extra tags,
 * the vars an app gets, and which profiles of it are usable. Registered where the controller is
 * wired (runtime.ts `KINDS`), with its adapter (`AwsCloud`'s kind adapters).
 */
import type { Link, ResourceKindName, ResourceRecord } from '../../store/types.js';
import type { Action } from '../actions.js';
import type { ApplyContext, Handlers } from '../apply/context.js';
import type { DesiredAddon, ObservedAccount } from '../model.js';
import type { SettingsProfile } from '../profiles.js';
import type { Credentials, NamingPolicy } from '../spec.js';
import { DriftKind } from '../../reasons.js';

/** What a user's policy is made from. */
export interface PolicyContext {
  addon: Pick<DesiredAddon, 'addonId' | 'addonName' | 'appId' | 'appName' | 'teamId'>;
  teamName: string;
  accountId: string;
  /** The add-on's own resource (its bucket), for a kind with one. */
  resource: string | null;
  profile: SettingsProfile;
}

/** What a kind plans its own resources from: one wanted add-on (plan()'s context of it). */
export interface KindPlanContext {
  addon: DesiredAddon;
  link: Link;
  policy: NamingPolicy;
  record: ResourceRecord | null;
  profile: SettingsProfile;
}

/** What a kind tears down of its own resources, once the core has planned the user's teardown. */
export interface KindTeardown {
  actions: Action[];
  /** Something is kept on purpose (a retained bucket): the record stays, marked retained. */
  retained: boolean;
}

export interface ResourceKind {
  readonly name: ResourceKindName;
  /**
   * The name of the add-on's own resource in an account (a bucket's), deterministic so it can be
   * recorded before it is made; null for a kind that makes nothing beyond the user. The core
   * records it, asks the kind's adapter to observe it, and finds it again by it after a store loss.
   */
  resourceName(naming: NamingPolicy, accountId: string, addonId: string): string | null;
  /**
   * The add-on's own resources beyond its IAM user, planned before the user (diff to actions),
   * from the account as observed; `resource` is its record's name or the one it gets, for a kind
   * with one. A blocked one stops the user's actions too (a policy must never name what is not ours).
   */
  planResources(ctx: KindPlanContext, account: ObservedAccount, resource: string | null, region: string): Action[];
  /** The teardown of those resources for an orphan whose grace is over (after its user's). */
  teardown(record: ResourceRecord, account: ObservedAccount, naming: NamingPolicy, retainedByPlan: boolean): KindTeardown;
  /** How its resources' actions are applied. */
  readonly handlers: Handlers;
  /** Puts back what a teardown took from a resource kept after all (its plan or retain tag keeps it). */
  keep?(ctx: ApplyContext, record: ResourceRecord): Promise<void>;
  /** Tags its users carry beside the ownership tags (they say the kind, when a store is rebuilt). */
  readonly userTags: Readonly<Record<string, string>>;
  /** The inline policy of the add-on's IAM user, as a JSON document. */
  userPolicy(ctx: PolicyContext): string;
  /**
   * What an orphan's resource is reported as (the bucket's `orphaned-bucket`); absent:
   * `orphaned-resource`. An orphan of a kind without a resource is its user (`orphaned-user`).
   */
  readonly orphanedAs?: DriftKind;
  /**
   * The suffix of the var, among those an attachment gets, whose value is the resource's name
   * (the bucket's `_BUCKET_NAME`): it says whose an attachment's vars are, so they are removed only
   * while it still names the add-on's resource (safety invariant 10). Absent: the key id var says it.
   */
  readonly resourceVarSuffix?: string;
  /** The config vars one attachment gets (`BUCKET` → `BUCKET_AWS_ACCESS_KEY_ID`, …). */
  configVars(attachmentName: string, credentials: Credentials): Record<string, string>;
  /** What is wrong with a plan's profile of this kind, one sentence each; none when it is usable. */
  profileProblems(plan: string, profile: SettingsProfile): string[];
}

/** The kinds this controller has, by name. */
export type KindTable = ReadonlyMap<ResourceKindName, ResourceKind>;

/**
 * The name of the record's own resource: the one recorded, or, for a record whose resource row
 * was lost (a store restored in part), the deterministic name its kind gives it, as the record
 * would have said. Null for a kind without one (or a kind this controller lacks).
 */
export function recordedResource(kinds: KindTable, naming: NamingPolicy, record: Pick<ResourceRecord, 'kind' | 'resourceName' | 'accountId' | 'addonId'>): string | null {
  return record.resourceName ?? kinds.get(record.kind)?.resourceName(naming, record.accountId, record.addonId) ?? null;
}

/**
 * What an orphan is reported as: what its kind says (a bucket's, even when its resource row was
 * lost), else its resource, or its user for a record without one.
 */
export function orphanDrift(kinds: KindTable, record: Pick<ResourceRecord, 'kind' | 'resourceName'>): DriftKind {
  return kinds.get(record.kind)?.orphanedAs ?? (record.resourceName === null ? DriftKind.OrphanedUser : DriftKind.OrphanedResource);
}

/**
 * What is wrong with the configured profiles, checked at start: each plan's profile must name a
 * kind this controller has, and be usable for it. One sentence per problem; none when all is well.
 */
export function profileProblems(kinds: KindTable, profiles: Readonly<Record<string, SettingsProfile>>): string[] {
  return Object.entries(profiles).flatMap(([plan, profile]) => {
    const kind = kinds.get(profile.kind);
    if (!kind) return [`plan ${plan} names kind "${profile.kind}"; the kinds are ${[...kinds.keys()].join(', ')}`];
    return kind.profileProblems(plan, profile);
  });
}
