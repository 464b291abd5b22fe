/** `link`, `unlink` and `links`: the administrator's out-of-band step. */
import { readFileSync } from 'node:fs';
import { loadConfig, need } from '../config/config.js';
import { FLAG_NAME } from '../links/verify-credentials.js';
import { herokuApi, linkingFor, openStore } from '../runtime.js';
import { checkLinkRequest, describeLink, linkTeam, REGION, rotateLinkKey, unlinkTeam } from '../admin/links.js';
import type { LinkAuth } from '../store/types.js';
import { UserError } from '../util/errors.js';
import { printJson, printTable, type OutputFormat } from './output.js';
import { cliActor } from './actor.js';


export interface LinkOptions {
  team: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  roleArn?: string;
  externalId?: string;
  region?: string;
  /** Replace the access key of a team already linked by keys (same account, same IAM identity). */
  rotate?: boolean;
}

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
    if (options.rotate) throw new UserError('--rotate replaces the access key a team is linked with, not a role: to link the team to a role, leave out --rotate');
    const auth: LinkAuth = { kind: 'role', roleArn: options.roleArn, externalId: options.externalId ?? null };
    checkLinkRequest({ team: options.team, auth, region: null }, FLAG_NAME);
    return auth;
  }
  if (options.externalId !== undefined) throw new UserError('--external-id only goes with --role-arn');
  if (options.rotate && (!options.accessKeyId || !options.secretAccessKey)) {
    throw new UserError('--rotate replaces the access key a team is linked with: give the new key with --access-key-id and --secret-access-key (use "-" to read the secret from standard input)');
  }
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
    const deps = { ...linkingFor(config, herokuApi(config)), links: store.links, journal: store.journal };
    if (options.rotate) {
      if (auth.kind !== 'keys') throw new UserError('--rotate goes with --access-key-id and --secret-access-key');
      const rotated = await rotateLinkKey(deps, { team: options.team, auth, ...(options.region !== undefined ? { region: options.region } : {}) }, cliActor(), FLAG_NAME);
      const old = rotated.previousAccessKeyId;
      process.stdout.write(
        `Rotated the access key linking Heroku team ${rotated.link.teamName} to AWS account ${rotated.link.accountId}: ${old} replaced by ${auth.accessKeyId} (${rotated.arn}). ` +
          `The controller uses the new key from its next pass on; once that pass has run, deactivate ${old} in AWS, then delete it (the controller never deletes it).\n`,
      );
      return;
    }
    const { link, arn } = await linkTeam(deps, { team: options.team, auth, region: options.region ?? null }, cliActor(), FLAG_NAME);
    process.stdout.write(`Linked Heroku team ${link.teamName} (${link.teamId}) to AWS account ${link.accountId} as ${arn}.\n`);
  } finally {
    await store.close();
  }
}

export async function unlinkCommand(options: { team: string }): Promise<void> {
  const config = loadConfig();
  const store = await openStore(config);
  try {
    const link = await unlinkTeam({ links: store.links, journal: store.journal, instanceId: config.instanceId }, options.team, cliActor());
    process.stdout.write(
      `Unlinked Heroku team ${link.teamName} from AWS account ${link.accountId}. Its buckets and users were left in place.\n`,
    );
  } finally {
    await store.close();
  }
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
