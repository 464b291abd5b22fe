/**
 * Linking a Heroku Team to an AWS account, and unlinking it: the one place both the CLI and the
 * admin API do it. The credentials are proven with STS before anything is stored; a refusal stores
 * nothing. Every change is journaled with who made it.
 */
import type { LinkFieldName } from '../links/verify-credentials.js';
import type { JournalEntry, Link, LinkAuth } from '../store/types.js';
import { errorCodeOf } from '../util/error-class.js';
import { UserError, errorMessage } from '../util/errors.js';

/** STS's answers for a key that no longer works (deleted, deactivated, or its secret wrong). */
const KEY_REFUSED: ReadonlySet<string> = new Set(['InvalidClientTokenId', 'SignatureDoesNotMatch']);

export const ROLE_ARN = /^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;
export const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

export interface LinkDeps {
  links: {
    save(link: Omit<Link, 'createdAt' | 'updatedAt'>): Promise<Link>;
    get(teamId: string): Promise<Link | null>;
    findByTeam(nameOrId: string): Promise<Link | null>;
    list(): Promise<Link[]>;
    remove(teamId: string): Promise<unknown>;
  };
  journal: { append(entry: JournalEntry): Promise<unknown> };
  /** The team as Heroku names it; a UserError when Heroku does not know it. */
  resolveTeam(nameOrId: string): Promise<{ id: string; name: string }>;
  /**
   * STS GetCallerIdentity (after AssumeRole for a role); a UserError naming the `field` to check.
   * With `externalIdRequired`, a role that can also be assumed without its external id is refused.
   */
  verify(auth: LinkAuth, field: LinkFieldName, options?: { externalIdRequired?: boolean }): Promise<{ accountId: string; arn: string; keyCreatedAt?: Date | null }>;
  instanceId: string;
}

export interface LinkRequest {
  team: string;
  auth: LinkAuth;
  region: string | null;
  /**
   * For a team admin, who is not trusted beyond their own teams (the confused deputy):
   * - `teamId`: the team Heroku said they administer; `team` must still resolve to exactly it;
   * - a role must demand its external id (`externalIdRequired`), which the caller then chose;
   * - a role may not reach an account another team is linked to (`exclusiveAccount`): the
   *   controller's own identity may be trusted there, which proves nothing about the admin.
   */
  teamId?: string;
  externalIdRequired?: boolean;
  exclusiveAccount?: boolean;
}

/** Checks the parts of a link request alone, before any call; names the field that is wrong. */
export function checkLinkRequest(request: LinkRequest, field: LinkFieldName): void {
  if (request.region !== null && !REGION.test(request.region)) {
    throw new UserError(`${field('region')} "${request.region}" is not an AWS region such as us-east-1`);
  }
  const auth = request.auth;
  if (auth.kind === 'role' && !ROLE_ARN.test(auth.roleArn)) {
    throw new UserError(`${field('roleArn')} "${auth.roleArn}" is not an IAM role ARN such as arn:aws:iam::123456789012:role/heroku-s3-controller`);
  }
  if (auth.kind === 'keys' && auth.accessKeyId.trim() === '') throw new UserError(`${field('accessKeyId')} is empty`);
  if (auth.kind === 'keys' && auth.secretAccessKey.trim() === '') throw new UserError(`${field('secretAccessKey')} is empty`);
}

/**
 * Proves the credentials, then stores the link (replacing the team's previous one) and journals
 * it. Errors name the fields as `field` says (the CLI's flags, the console's labels, the API's).
 */
export async function linkTeam(deps: LinkDeps, request: LinkRequest, actor: string, field: LinkFieldName): Promise<{ link: Link; arn: string }> {
  const team = await deps.resolveTeam(request.team);
  if (request.teamId !== undefined && team.id !== request.teamId) {
    throw new UserError(`Heroku now names another team "${request.team}": sign in again and link the team from the list`);
  }
  const identity = await deps.verify(request.auth, field, { externalIdRequired: request.externalIdRequired === true });
  if (request.exclusiveAccount) {
    const other = (await deps.links.list()).find((l) => l.accountId === identity.accountId && l.teamId !== team.id);
    if (other) throw new UserError(`AWS account ${identity.accountId} is already linked to team ${other.teamName}: only an operator may link another team to it`);
  }
  const link = await deps.links.save({ teamId: team.id, teamName: team.name, accountId: identity.accountId, region: request.region, auth: request.auth, accessKeyCreatedAt: identity.keyCreatedAt ?? null });
  const auth = request.auth;
  await deps.journal.append({
    instanceId: deps.instanceId,
    accountId: identity.accountId,
    addonId: null,
    action: 'link',
    resource: team.id,
    phase: 'ok',
    detail: { actor, team: team.name, auth: auth.kind, ...(auth.kind === 'role' ? { roleArn: auth.roleArn } : { accessKeyId: auth.accessKeyId }) },
  });
  return { link, arn: identity.arn };
}

/** What {@link rotateLinkKey} needs of the store: the link, and a replace that only lands on the key it replaces. */
export interface RotateDeps extends Pick<LinkDeps, 'journal' | 'resolveTeam' | 'verify' | 'instanceId'> {
  links: Pick<LinkDeps['links'], 'get'> & {
    replaceKey(teamId: string, expected: { accountId: string; accessKeyId: string }, next: KeyReplacement): Promise<Link | null>;
  };
}

/** The new parts of a link whose access key is rotated; everything else of it is kept. */
export interface KeyReplacement {
  teamName: string;
  region: string | null;
  auth: Extract<LinkAuth, { kind: 'keys' }>;
  accessKeyCreatedAt: Date | null;
}

export interface RotateRequest {
  team: string;
  auth: Extract<LinkAuth, { kind: 'keys' }>;
  /** A new default region; undefined keeps the link's. */
  region?: string | null;
  /** As in {@link LinkRequest}: the team Heroku said the caller administers. */
  teamId?: string;
}

export interface RotatedKey {
  link: Link;
  /** The access key id the link held before. */
  previousAccessKeyId: string;
  /** The identity the new key acts as (STS). */
  arn: string;
  /** Whether the old key still answered, so the new one was proven to be the same IAM identity. */
  sameIdentityChecked: boolean;
}

/**
 * Replaces the access key of a team linked by keys (issue 16: rotating the linked account's own
 * key): the new key must differ, prove itself with STS, and act in the same AWS account as the
 * link — and as the same IAM identity, when the old key still answers. Region and everything else
 * are kept unless given. Nothing is stored when any check fails, and the store replaces the key
 * only if the link still holds the one that was checked (a concurrent link or unlink wins).
 * Journaled with both key ids, never a secret. The old key is not deleted: it is the customer's.
 */
export async function rotateLinkKey(deps: RotateDeps, request: RotateRequest, actor: string, field: LinkFieldName): Promise<RotatedKey> {
  const team = await deps.resolveTeam(request.team);
  if (request.teamId !== undefined && team.id !== request.teamId) {
    throw new UserError(`Heroku now names another team "${request.team}": sign in again and pick the team from the list`);
  }
  const link = await deps.links.get(team.id);
  if (!link) {
    throw new UserError(`team ${team.name} is not linked, so it has no access key to rotate: link it first (without --rotate)`);
  }
  if (link.auth.kind !== 'keys') {
    throw new UserError(
      `team ${team.name} is linked through role ${link.auth.roleArn}, not an access key, so there is no key to rotate: to change how it is linked, link again without --rotate`,
    );
  }
  const old = link.auth;
  if (request.auth.accessKeyId === old.accessKeyId) {
    throw new UserError(
      `access key ${old.accessKeyId} is the one team ${team.name} is already linked with: make a new access key for that IAM user (aws iam create-access-key), then rotate to it with ${field('accessKeyId')}`,
    );
  }
  const identity = await deps.verify(request.auth, field);
  if (identity.accountId !== link.accountId) {
    throw new UserError(
      `access key ${request.auth.accessKeyId} belongs to AWS account ${identity.accountId}, but team ${team.name} is linked to account ${link.accountId}: give a key of the linked IAM user in account ${link.accountId} (to move the team to another account, link again without --rotate)`,
    );
  }
  // The old key may already be deactivated or deleted (STS refuses it): then the account is all
  // that can be compared. Any other failure (throttling, a timeout) is no proof of that: refused.
  const before = await deps.verify(old, field).catch((err: unknown) => {
    if (KEY_REFUSED.has(errorCodeOf((err as { cause?: unknown }).cause) ?? '')) return null;
    throw new UserError(`cannot check which IAM identity team ${team.name}'s current key ${old.accessKeyId} acts as (${errorMessage(err)}), so the new key cannot be compared with it: nothing changed; try again`);
  });
  if (before && before.arn !== '' && identity.arn !== '' && before.arn !== identity.arn) {
    throw new UserError(
      `access key ${request.auth.accessKeyId} acts as ${identity.arn}, but team ${team.name} is linked as ${before.arn}: make the new key for ${before.arn} (to link as another identity, link again without --rotate)`,
    );
  }
  const region = request.region === undefined ? link.region : request.region;
  const rotated = await deps.links.replaceKey(
    team.id,
    { accountId: link.accountId, accessKeyId: old.accessKeyId },
    { teamName: team.name, region, auth: request.auth, accessKeyCreatedAt: identity.keyCreatedAt ?? null },
  );
  if (!rotated) {
    throw new UserError(`the link of team ${team.name} changed while its key was being rotated: check it with \`heroku-s3-controller links\`, then rotate again`);
  }
  await deps.journal.append({
    instanceId: deps.instanceId,
    accountId: link.accountId,
    addonId: null,
    action: 'link-rotate-key',
    resource: team.id,
    phase: 'ok',
    detail: {
      actor,
      team: team.name,
      oldAccessKeyId: old.accessKeyId,
      newAccessKeyId: request.auth.accessKeyId,
      arn: identity.arn,
      sameIdentityChecked: before !== null,
      ...(region !== link.region ? { region, previousRegion: link.region } : {}),
    },
  });
  return { link: rotated, previousAccessKeyId: old.accessKeyId, arn: identity.arn, sameIdentityChecked: before !== null };
}

/**
 * Removes the team's link and journals it; its buckets and users stay where they are. `team` is a
 * name or an id; with `byId` only an id (a team admin's, proven by Heroku: a link's stored name may
 * be another team's by now).
 */
export async function unlinkTeam(deps: Pick<LinkDeps, 'links' | 'journal' | 'instanceId'>, team: string, actor: string, byId = false): Promise<Link> {
  const link = byId ? await deps.links.get(team) : await deps.links.findByTeam(team);
  if (!link) throw new NotLinkedError(team);
  await deps.links.remove(link.teamId);
  await deps.journal.append({
    instanceId: deps.instanceId,
    accountId: link.accountId,
    addonId: null,
    action: 'unlink',
    resource: link.teamId,
    phase: 'ok',
    detail: { actor, team: link.teamName },
  });
  return link;
}

export class NotLinkedError extends UserError {
  constructor(readonly team: string) {
    super(`team "${team}" is not linked; \`heroku-s3-controller links\` lists the linked teams`);
  }
}

/** What listings show of a link: never a secret. */
export function describeLink(link: Link) {
  return {
    teamId: link.teamId,
    teamName: link.teamName,
    accountId: link.accountId,
    region: link.region,
    auth: link.auth.kind,
    ...(link.auth.kind === 'keys'
      ? { accessKeyId: link.auth.accessKeyId, accessKeyCreatedAt: link.accessKeyCreatedAt?.toISOString() ?? null }
      : { roleArn: link.auth.roleArn, externalId: link.auth.externalId ? 'set' : null }),
    createdAt: link.createdAt.toISOString(),
  };
}
