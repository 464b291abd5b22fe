/** `link`, `unlink` and `links`: the administrator's out-of-band step. */
import { readFileSync } from 'node:fs';
import { loadConfig, need } from '../config/config.js';
import { verifyCredentials } from '../links/verify-credentials.js';
import { herokuApi, openStore } from '../runtime.js';
import { resolveTeam } from '../heroku/teams.js';
import type { Link, LinkAuth } from '../store/types.js';
import { UserError } from '../util/errors.js';
import { printJson, printTable, type OutputFormat } from './output.js';

export interface LinkOptions {
  team: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  roleArn?: string;
  externalId?: string;
  region?: string;
}

const ROLE_ARN = /^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

/** Checks the flags alone, before any call: which kind of link, and are its parts well formed. */
export function linkAuthFrom(options: LinkOptions): LinkAuth {
  const hasKeys = options.accessKeyId !== undefined || options.secretAccessKey !== undefined;
  if (hasKeys && options.roleArn !== undefined) {
    throw new UserError('give either --access-key-id/--secret-access-key or --role-arn, not both');
  }
  if (options.region !== undefined && !REGION.test(options.region)) {
    throw new UserError(`--region "${options.region}" is not an AWS region such as us-east-1`);
  }
  if (options.roleArn !== undefined) {
    if (!ROLE_ARN.test(options.roleArn)) {
      throw new UserError(`--role-arn "${options.roleArn}" is not an IAM role ARN such as arn:aws:iam::123456789012:role/heroku-s3-controller`);
    }
    return { kind: 'role', roleArn: options.roleArn, externalId: options.externalId ?? null };
  }
  if (options.externalId !== undefined) throw new UserError('--external-id only goes with --role-arn');
  if (!options.accessKeyId || !options.secretAccessKey) {
    throw new UserError('give --access-key-id and --secret-access-key (use "-" to read the secret from standard input), or --role-arn');
  }
  const secret = options.secretAccessKey === '-' ? readFileSync(0, 'utf8').trim() : options.secretAccessKey;
  if (secret === '') throw new UserError('the secret access key read from standard input is empty');
  return { kind: 'keys', accessKeyId: options.accessKeyId, secretAccessKey: secret };
}

export async function linkCommand(options: LinkOptions): Promise<void> {
  const config = loadConfig();
  need(config, 'HEROKU_API_TOKEN');
  const auth = linkAuthFrom(options);
  const store = await openStore(config);
  try {
    const team = await resolveTeam(herokuApi(config), options.team);
    const identity = await verifyCredentials(auth, { aws: config.aws, instanceId: config.instanceId });
    await store.links.save({ teamId: team.id, teamName: team.name, accountId: identity.accountId, region: options.region ?? null, auth });
    await store.journal.append({
      instanceId: config.instanceId,
      accountId: identity.accountId,
      addonId: null,
      action: 'link',
      resource: team.id,
      phase: 'ok',
      detail: { team: team.name, auth: auth.kind, ...(auth.kind === 'role' ? { roleArn: auth.roleArn } : { accessKeyId: auth.accessKeyId }) },
    });
    process.stdout.write(`Linked Heroku team ${team.name} (${team.id}) to AWS account ${identity.accountId} as ${identity.arn}.\n`);
  } finally {
    await store.close();
  }
}

export async function unlinkCommand(options: { team: string }): Promise<void> {
  const config = loadConfig();
  const store = await openStore(config);
  try {
    const link = await store.links.findByTeam(options.team);
    if (!link) throw new UserError(`team "${options.team}" is not linked; \`heroku-s3-controller links\` lists the linked teams`);
    await store.links.remove(link.teamId);
    await store.journal.append({
      instanceId: config.instanceId,
      accountId: link.accountId,
      addonId: null,
      action: 'unlink',
      resource: link.teamId,
      phase: 'ok',
      detail: { team: link.teamName },
    });
    process.stdout.write(
      `Unlinked Heroku team ${link.teamName} from AWS account ${link.accountId}. Its buckets and users were left in place.\n`,
    );
  } finally {
    await store.close();
  }
}

/** What `links` shows of a link: never a secret. */
export function describeLink(link: Link) {
  return {
    teamId: link.teamId,
    teamName: link.teamName,
    accountId: link.accountId,
    region: link.region,
    auth: link.auth.kind,
    ...(link.auth.kind === 'keys'
      ? { accessKeyId: link.auth.accessKeyId }
      : { roleArn: link.auth.roleArn, externalId: link.auth.externalId ? 'set' : null }),
    createdAt: link.createdAt.toISOString(),
  };
}

export async function linksCommand(options: { output: OutputFormat }): Promise<void> {
  const config = loadConfig();
  const store = await openStore(config);
  try {
    const links = (await store.links.list()).map(describeLink);
    if (options.output === 'json') return printJson(links);
    if (links.length === 0) {
      process.stdout.write('No team is linked yet. Link one with `heroku-s3-controller link --team NAME ...`.\n');
      return;
    }
    printTable(
      ['TEAM', 'TEAM ID', 'AWS ACCOUNT', 'VIA', 'REGION', 'LINKED'],
      links.map((l) => [l.teamName, l.teamId, l.accountId, 'roleArn' in l ? `role ${l.roleArn}` : `key ${l.accessKeyId}`, l.region ?? '(app region)', l.createdAt]),
    );
  } finally {
    await store.close();
  }
}
