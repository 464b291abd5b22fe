/**
 * `link` and configuration errors, through the built binary: each a one-line message saying what
 * is wrong and what to do, exit code 2, no secret echoed, and no link row written.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { HerokuFake } from '../support/heroku-fake/index.js';
import { runCli, type CliResult } from '../support/cli.js';
import { freshPostgresDatabase, motoAuthEnv, motoAuthPrincipal, type FreshDatabase } from '../support/stand.js';

let fake: HerokuFake;
let db: FreshDatabase;
let env: Record<string, string>;
const WRONG_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGSECRET';

beforeAll(async () => {
  fake = await HerokuFake.start();
  fake.addTeam({ name: 'acme' });
  db = await freshPostgresDatabase('cli');
  const principal = motoAuthPrincipal();
  env = {
    DATABASE_URL: db.url,
    FERNET_KEYS: SecretBox.generateKey(),
    HEROKU_API_TOKEN: fake.token,
    HEROKU_API_URL: fake.url,
    // The authenticating moto server: signatures and IAM policies are checked for real; the
    // controller's own identity may assume exactly one role.
    ...motoAuthEnv(principal),
  };
});

afterAll(async () => {
  expect(fake.schemaViolations).toEqual([]);
  await fake.stop();
  await db.drop();
});

async function linkRows(): Promise<number> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const exists = await client.query(`SELECT to_regclass('public.links') AS t`);
    if (!exists.rows[0].t) return 0;
    return Number((await client.query('SELECT count(*) AS n FROM links')).rows[0].n);
  } finally {
    await client.end();
  }
}

function expectOneLineError(result: CliResult, pattern: RegExp): void {
  expect(result.code).toBe(2);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

describe('link: bad input is refused before anything is stored', () => {
  it('a wrong secret access key', async () => {
    const principal = motoAuthPrincipal();
    const result = await runCli(
      ['link', '--team', 'acme', '--access-key-id', principal.accessKeyId, '--secret-access-key', WRONG_SECRET],
      env,
    );
    expectOneLineError(result, /secret access key does not match access key id .*check --secret-access-key/);
    expect(result.stderr).not.toContain(WRONG_SECRET);
    expect(await linkRows()).toBe(0);
  });

  it('an access key id AWS does not know', async () => {
    const result = await runCli(['link', '--team', 'acme', '--access-key-id', 'AKIAUNKNOWNKEY000000', '--secret-access-key', WRONG_SECRET], env);
    expectOneLineError(result, /AWS does not recognise access key id AKIAUNKNOWNKEY000000/);
    expect(await linkRows()).toBe(0);
  });

  it('an unknown team', async () => {
    const result = await runCli(['link', '--team', 'no-such-team', '--role-arn', motoAuthPrincipal().assumableRoleArn], env);
    expectOneLineError(result, /Heroku team "no-such-team" was not found: check the name with `heroku teams`/);
    expect(await linkRows()).toBe(0);
  });

  it('a role that cannot be assumed', async () => {
    const role = motoAuthPrincipal().forbiddenRoleArn;
    const result = await runCli(['link', '--team', 'acme', '--role-arn', role], env);
    expectOneLineError(result, new RegExp(`cannot assume role ${role.replace(/[/]/g, '\\/')}: access denied. Check that the role's trust policy`));
    expect(await linkRows()).toBe(0);
  });

  it('malformed flags are refused without a call', async () => {
    fake.resetRequests();
    const both = await runCli(['link', '--team', 'acme', '--role-arn', 'arn:aws:iam::123456789012:role/x', '--access-key-id', 'AKIA'], env);
    expectOneLineError(both, /either --access-key-id\/--secret-access-key or --role-arn, not both/);
    const badArn = await runCli(['link', '--team', 'acme', '--role-arn', 'not-an-arn'], env);
    expectOneLineError(badArn, /--role-arn "not-an-arn" is not an IAM role ARN/);
    const badRegion = await runCli(['link', '--team', 'acme', '--role-arn', motoAuthPrincipal().assumableRoleArn, '--region', 'mars'], env);
    expectOneLineError(badRegion, /--region "mars" is not an AWS region/);
    expect(fake.requests).toEqual([]);
    expect(await linkRows()).toBe(0);
  });

  it('missing FERNET_KEYS', async () => {
    const { FERNET_KEYS: _omitted, ...rest } = env;
    const result = await runCli(['link', '--team', 'acme', '--role-arn', motoAuthPrincipal().assumableRoleArn], rest);
    expectOneLineError(result, /FERNET_KEYS: is not set\. Generate a key with `heroku-s3-controller fernet-key`/);
    expect(await linkRows()).toBe(0);
  });

  it('a malformed FERNET_KEYS', async () => {
    const result = await runCli(['links'], { ...env, FERNET_KEYS: 'not-a-key' });
    expectOneLineError(result, /FERNET_KEYS/);
    expect(result.stderr).not.toContain('not-a-key');
  });

  it('a malformed DATABASE_URL, without echoing its password', async () => {
    const result = await runCli(['link', '--team', 'acme', '--role-arn', motoAuthPrincipal().assumableRoleArn], {
      ...env,
      DATABASE_URL: 'postgres//admin:hunter2@db.internal/controller',
    });
    expectOneLineError(result, /^heroku-s3-controller: DATABASE_URL/);
    expect(result.stderr).not.toContain('hunter2');
    expect(await linkRows()).toBe(0);
  });

  it('an unreachable database, without echoing its password', async () => {
    const result = await runCli(['links'], { ...env, DATABASE_URL: 'postgres://admin:hunter2@127.0.0.1:1/controller' });
    expectOneLineError(result, /cannot connect to PostgreSQL at 127\.0\.0\.1:1/);
    expect(result.stderr).not.toContain('hunter2');
  });
});

describe('link: good input', () => {
  it('links with keys, stores the secret encrypted, and never prints it', async () => {
    const principal = motoAuthPrincipal();
    const result = await runCli(['link', '--team', 'acme', '--access-key-id', principal.accessKeyId, '--secret-access-key', '-'], env, principal.secretAccessKey);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`to AWS account ${principal.accountId}`);
    expect(await linkRows()).toBe(1);

    const list = await runCli(['links', '--output', 'json'], env);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ teamName: 'acme', accountId: principal.accountId, auth: 'keys', accessKeyId: principal.accessKeyId }),
    ]);
    const text = await runCli(['links'], env);
    for (const out of [list.stdout, list.stderr, text.stdout, text.stderr, result.stdout]) expect(out).not.toContain(principal.secretAccessKey);

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const raw = JSON.stringify((await client.query('SELECT * FROM links')).rows);
      expect(raw).not.toContain(principal.secretAccessKey);
    } finally {
      await client.end();
    }
  });

  it('relinks the team to an assumable role in another account, then unlinks it', async () => {
    const principal = motoAuthPrincipal();
    const result = await runCli(['link', '--team', 'acme', '--role-arn', principal.assumableRoleArn], env);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(`to AWS account ${principal.roleAccountId}`);
    expect(await linkRows()).toBe(1);
    const unlink = await runCli(['unlink', '--team', 'acme'], env);
    expect(unlink.code).toBe(0);
    expect(unlink.stdout).toContain('left in place');
    expect(await linkRows()).toBe(0);
    const again = await runCli(['unlink', '--team', 'acme'], env);
    expectOneLineError(again, /team "acme" is not linked/);
  });
});

describe('embedded database', () => {
  it('works with no DATABASE_URL: migrate, then links, in a local data folder', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hs3-pglite-'));
    try {
      const { DATABASE_URL: _none, ...embedded } = env;
      const local = { ...embedded, DATA_DIR: dir };
      const migrate = await runCli(['migrate'], local);
      expect(migrate.stderr).toBe('');
      expect(migrate.stdout).toMatch(/Applied 0001_initial/);
      const again = await runCli(['migrate'], local);
      expect(again.stdout).toContain('up to date');
      const list = await runCli(['links', '--output', 'json'], local);
      expect(JSON.parse(list.stdout)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000); // three CLI runs that each start the embedded database: about 18 s on a loaded 2-core machine
});
