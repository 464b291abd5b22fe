/**
 * A kind of resources an add-on can stand for (a plan's profile names it). The core of the loop
 * is the same for every kind: an IAM user with one key, delivered to every attachment as config
 * vars, drift-checked, garbage-collected behind the breaker. A kind says what differs: whether
 * there is a bucket (kinds/bucket makes, checks and tears it down), the user's policy, the vars an
 * app gets, and which profiles of it are usable.
 */
import type { ResourceKindName } from '../../store/types.js';
import type { DesiredAddon } from '../model.js';
import type { SettingsProfile } from '../profiles.js';
import type { Credentials } from '../spec.js';

/** What a user's policy is made from. */
export interface PolicyContext {
  addon: Pick<DesiredAddon, 'addonId' | 'addonName' | 'appId' | 'appName' | 'teamId'>;
  teamName: string;
  accountId: string;
  /** The add-on's bucket, for a kind with one. */
  bucket: string | null;
  profile: SettingsProfile;
}

export interface ResourceKind {
  readonly name: ResourceKindName;
  /** Its add-ons have a bucket, made, checked and torn down by kinds/bucket. */
  readonly hasBucket: boolean;
  /** Tags its users carry beside the ownership tags (they say the kind, when a store is rebuilt). */
  readonly userTags: Readonly<Record<string, string>>;
  /** The inline policy of the add-on's IAM user, as a JSON document. */
  userPolicy(ctx: PolicyContext): string;
  /** The config vars one attachment gets (`BUCKET` → `BUCKET_AWS_ACCESS_KEY_ID`, …). */
  configVars(attachmentName: string, credentials: Credentials): Record<string, string>;
  /** What is wrong with a plan's profile of this kind, one sentence each; none when it is usable. */
  profileProblems(plan: string, profile: SettingsProfile): string[];
}

/** The kinds this controller has, by name. */
export type KindTable = ReadonlyMap<ResourceKindName, ResourceKind>;

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
