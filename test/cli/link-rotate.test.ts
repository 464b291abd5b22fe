/**
 * `link --rotate` (issue 16: the linked account's own access keys), through the built binary on
 * the authenticating moto: the new key replaces the old one after an STS check, in the same
 * account and as the same IAM user; every bad rotation is a one-line error, exit 2, with the link
 * row and the journal exactly as they were and no secret echoed.
 */
import { randomBytes } from 'node:crypto';
import { CreateAccessKeyCommand, CreateUserCommand, DeleteAccessKeyCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { runCli, type CliResult } from '../support/cli.js';
import { HerokuFake } from '../support/heroku-fake/index.js';
import { assumeRoleOnAuthServer, type AwsKey } from '../support/moto-auth.js';
import { freshPostgresDatabase, motoAuthAdmin, motoAuthEnv, motoAuthPrincipal, motoAuthUrl, type FreshDatabase } from '../support/stand.js';

type Key = { accessKeyId: string; secretAccessKey: string; createdAt?: Date };

const ALLOW_ALL = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] });
const WRONG_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGSECRET';
const tag = randomBytes(4).toString('hex');

let fake: HerokuFake;
let db: FreshDatabase;
let env: Record<string, string>;
const clients: IAMClient[] = [];
let iam: IAMClient; // the admin's account: where team acme is linked
let otherIam: IAMClient; // another account
const linker = `rotate-linker-${tag}`;
const stranger = `rotate-stranger-${tag}`;
const secrets: string[] = [];
const keys: Record<string, Key> = {};

function iamAs(key: AwsKey): IAMClient {
  const client = new IAMClient({ endpoint: motoAuthUrl(), region: 'us-east-1', credentials: key, maxAttempts: 1 });
  clients.push(client);
  return client;
}

async function userWithPolicy(client: IAMClient, userName: string): Promise<void> {
  await client.send(new CreateUserCommand({ UserName: userName }));
  // Allowed everything: so it may also list its own keys, and linking reads when the key was made.
  await client.send(new PutUserPolicyCommand({ UserName: userName, PolicyName: 'controller', PolicyDocument: ALLOW_ALL }));
}

/** Keys made by a test and not kept in `keys`: deleted after it (AWS allows two per user). */
let made: { client: IAMClient; userName: string; accessKeyId: string }[] = [];

async function newKey(client: IAMClient, userName: string): Promise<Key> {
  const key = (await client.send(new CreateAccessKeyCommand({ UserName: userName }))).AccessKey!;
  secrets.push(key.SecretAccessKey!);
  made.push({ client, userName, accessKeyId: key.AccessKeyId! });
  return { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey!, createdAt: key.CreateDate! };
}

beforeAll(async () => {
  fake = await HerokuFake.start();
  for (const name of ['acme', 'rolly', 'lonely']) fake.addTeam({ name });
  db = await freshPostgresDatabase('rotate');
  const principal = motoAuthPrincipal();
  env = {
    DATABASE_URL: db.url,
    FERNET_KEYS: SecretBox.generateKey(),
    HEROKU_API_TOKEN: fake.token,
    HEROKU_API_URL: fake.url,
    ...motoAuthEnv(principal),
  };
  const admin = motoAuthAdmin();
  iam = iamAs({ accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey });
  otherIam = iamAs(await assumeRoleOnAuthServer(motoAuthUrl(), { accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey }, admin.adminRoleArn));
  await userWithPolicy(iam, linker);
  await userWithPolicy(iam, stranger);
  await userWithPolicy(otherIam, linker);

  const k1 = await newKey(iam, linker);
  keys.k1 = k1;
  const linked = await runCli(['link', '--team', 'acme', '--access-key-id', k1.accessKeyId, '--secret-access-key', '-', '--region', 'eu-west-1'], env, k1.secretAccessKey);
  expect(linked.stderr).toBe('');
  expect(linked.code).toBe(0);
  const role = await runCli(['link', '--team', 'rolly', '--role-arn', principal.assumableRoleArn], env);
  expect(role.stderr).toBe('');
  expect(role.code).toBe(0);
});

afterEach(async () => {
  const kept = new Set(Object.values(keys).map((k) => k.accessKeyId));
  for (const key of made.filter((k) => !kept.has(k.accessKeyId))) {
    await key.client.send(new DeleteAccessKeyCommand({ UserName: key.userName, AccessKeyId: key.accessKeyId })).catch(() => undefined);
  }
  made = [];
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  expect(fake.schemaViolations).toEqual([]);
  await fake.stop();
  await db.drop();
});

async function query<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** Everything stored about links and what was journaled: the raw rows (encrypted secrets, timestamps) and the listing. */
async function snapshot(): Promise<{ rows: string; journal: string; listing: string }> {
  const rows = JSON.stringify(await query('SELECT * FROM links ORDER BY team_id'));
  const journal = JSON.stringify(await query('SELECT * FROM journal ORDER BY id'));
  const listing = await runCli(['links', '--output', 'json'], env);
  expect(listing.code).toBe(0);
  return { rows, journal, listing: listing.stdout };
}

function expectOneLineError(result: CliResult, pattern: RegExp): void {
  expect(result.code).toBe(2);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^heroku-s3-controller: /);
  expect(lines[0]!.slice('heroku-s3-controller: '.length)).toMatch(pattern);
  for (const secret of [...secrets, WRONG_SECRET]) expect(result.stderr).not.toContain(secret);
}

function rotate(team: string, key: Key, ...extra: string[]): Promise<CliResult> {
  return runCli(['link', '--team', team, '--access-key-id', key.accessKeyId, '--secret-access-key', '-', '--rotate', ...extra], env, key.secretAccessKey);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

describe('link --rotate: bad input changes nothing', () => {
  it.each([
    ['a team linked through a role', async () => rotate('rolly', await newKey(iam, linker)), /^team rolly is linked through role arn:aws:iam::\d{12}:role\/\S+, not an access key, so there is no key to rotate: to change how it is linked, link again without --rotate$/],
    ['a team that is not linked', async () => rotate('lonely', await newKey(iam, linker)), /^team lonely is not linked, so it has no access key to rotate: link it first \(without --rotate\)$/],
    ['the key it is already linked with', async () => rotate('acme', keys.k1!), /is the one team acme is already linked with: make a new access key for that IAM user .*--access-key-id$/],
    ['a new key with a wrong secret (STS refuses it)', async () => rotate('acme', { accessKeyId: (await newKey(iam, linker)).accessKeyId, secretAccessKey: WRONG_SECRET }), /^the secret access key does not match access key id AKIA\w+: check --secret-access-key$/],
    ['a key AWS does not know', async () => rotate('acme', { accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: WRONG_SECRET }), /^AWS does not recognise access key id AKIAUNKNOWNKEY000000: check --access-key-id/],
    ['a key of another AWS account', async () => rotate('acme', await newKey(otherIam, linker)), new RegExp(`^access key AKIA\\w+ belongs to AWS account ${motoAuthAdmin().roleAccountId}, but team acme is linked to account ${motoAuthAdmin().accountId}: give a key of the linked IAM user in account ${motoAuthAdmin().accountId} \\(to move the team to another account, link again without --rotate\\)$`)],
    ['a key of another IAM user of the same account', async () => rotate('acme', await newKey(iam, stranger)), new RegExp(`^access key AKIA\\w+ acts as ${escape(`arn:aws:iam::${motoAuthAdmin().accountId}:user/${stranger}`)}, but team acme is linked as ${escape(`arn:aws:iam::${motoAuthAdmin().accountId}:user/${linker}`)}: make the new key for`)],
    ['--rotate with a role', async () => runCli(['link', '--team', 'acme', '--role-arn', motoAuthPrincipal().assumableRoleArn, '--rotate'], env), /^--rotate replaces the access key a team is linked with, not a role: to link the team to a role, leave out --rotate$/],
    ['--rotate without a new key', async () => runCli(['link', '--team', 'acme', '--access-key-id', 'AKIAONLYTHEID0000000', '--rotate'], env), /^--rotate replaces the access key a team is linked with: give the new key with --access-key-id and --secret-access-key/],
  ] as const)('%s', async (_name, run, pattern) => {
    const before = await snapshot();
    expectOneLineError(await run(), pattern);
    expect(await snapshot()).toEqual(before);
  });
});

describe('link --rotate: a new key of the linked IAM user', () => {
  it('replaces the old key, keeps the account, region and link date, journals both key ids, and names the old key to delete', async () => {
    const [before] = await query<{ created_at: Date }>(`SELECT * FROM links WHERE team_name = 'acme'`);
    const k2 = await newKey(iam, linker);
    const result = await rotate('acme', k2);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`^Rotated the access key linking Heroku team acme to AWS account ${motoAuthAdmin().accountId}: ${keys.k1!.accessKeyId} replaced by ${k2.accessKeyId} \\(${escape(`arn:aws:iam::${motoAuthAdmin().accountId}:user/${linker}`)}\\)\\. .*deactivate ${keys.k1!.accessKeyId} in AWS, then delete it`),
    );

    const listed = JSON.parse((await runCli(['links', '--output', 'json'], env)).stdout) as Record<string, unknown>[];
    const acme = listed.find((l) => l.teamName === 'acme');
    expect(acme).toMatchObject({ accountId: motoAuthAdmin().accountId, region: 'eu-west-1', auth: 'keys', accessKeyId: k2.accessKeyId, createdAt: before!.created_at.toISOString() });
    expect(acme!.accessKeyCreatedAt).toBe(k2.createdAt!.toISOString()); // read from AWS for the new key

    const journal = await query<{ action: string; resource: string; account_id: string; detail: Record<string, unknown> }>(`SELECT * FROM journal WHERE action = 'link-rotate-key'`);
    expect(journal).toEqual([
      expect.objectContaining({
        account_id: motoAuthAdmin().accountId,
        resource: fake.team('acme').id,
        detail: expect.objectContaining({ oldAccessKeyId: keys.k1!.accessKeyId, newAccessKeyId: k2.accessKeyId, actor: expect.stringMatching(/^cli:/), sameIdentityChecked: true }),
      }),
    ]);
    const stored = JSON.stringify([await query('SELECT * FROM links'), await query('SELECT * FROM journal')]);
    for (const secret of secrets) {
      expect(stored).not.toContain(secret);
      expect(result.stdout).not.toContain(secret);
    }
    keys.k2 = k2;
  });

  it('once the old key is deleted, still rotates, on the account alone, and takes a new region when given', async () => {
    await iam.send(new DeleteAccessKeyCommand({ UserName: linker, AccessKeyId: keys.k2!.accessKeyId }));
    const k3 = await newKey(iam, linker);
    const result = await rotate('acme', k3, '--region', 'us-west-2');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`${keys.k2!.accessKeyId} replaced by ${k3.accessKeyId}`);
    const acme = (JSON.parse((await runCli(['links', '--output', 'json'], env)).stdout) as Record<string, unknown>[]).find((l) => l.teamName === 'acme');
    expect(acme).toMatchObject({ accessKeyId: k3.accessKeyId, region: 'us-west-2' });
    const [row] = await query<{ detail: Record<string, unknown> }>(`SELECT detail FROM journal WHERE action = 'link-rotate-key' ORDER BY id DESC LIMIT 1`);
    expect(row!.detail).toMatchObject({ oldAccessKeyId: keys.k2!.accessKeyId, newAccessKeyId: k3.accessKeyId, sameIdentityChecked: false, region: 'us-west-2', previousRegion: 'eu-west-1' });
  });

  it('without --rotate, linking a linked team replaces its link as before', async () => {
    const k4 = await newKey(iam, stranger);
    const result = await runCli(['link', '--team', 'acme', '--access-key-id', k4.accessKeyId, '--secret-access-key', '-'], env, k4.secretAccessKey);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const acme = (JSON.parse((await runCli(['links', '--output', 'json'], env)).stdout) as Record<string, unknown>[]).find((l) => l.teamName === 'acme');
    expect(acme).toMatchObject({ accessKeyId: k4.accessKeyId, region: null });
  });
});
