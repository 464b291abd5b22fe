/**
 * `events setup` and `events remove` through the built binary, on PostgreSQL and moto (the link's
 * role assumed into an account of the test's own). An unlinked team is one line on stderr, exit 2,
 * and the store as it was; `--print` is a template on stdout (JSON) and where to apply it on
 * stderr; a second setup says it is already set up; remove asks for --yes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { Store } from '../../src/store/store.js';
import { runCli, type CliResult } from '../support/cli.js';
import { freshPostgresDatabase, motoUrl, randomAccountId, randomName, type FreshDatabase } from '../support/stand.js';

const ACCOUNT = randomAccountId();
const INSTANCE_ID = randomName('hsc');
let db: FreshDatabase;
let store: Store;
let env: Record<string, string>;

async function run(args: string[]): Promise<CliResult> {
  return runCli(args, env);
}

/** What the store holds that `events` commands could change. */
async function snapshot(): Promise<unknown> {
  return { sources: await store.eventSources.list(), links: (await store.links.list()).map((l) => l.teamId) };
}

beforeAll(async () => {
  db = await freshPostgresDatabase('events_cli');
  env = {
    DATABASE_URL: db.url,
    FERNET_KEYS: SecretBox.generateKey(),
    INSTANCE_ID,
    AWS_ENDPOINT_URL: motoUrl(),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  };
  store = await Store.open({ databaseUrl: db.url, dataDir: '/nonexistent', fernetKeys: env.FERNET_KEYS! });
  await store.settings.claim('instance_id', INSTANCE_ID);
  await store.links.save({ teamId: 'team-acme', teamName: 'acme', accountId: ACCOUNT, region: 'eu-west-1', auth: { kind: 'role', roleArn: `arn:aws:iam::${ACCOUNT}:role/hsc`, externalId: null } });
});

afterAll(async () => {
  await store?.close();
  await db?.drop();
});

describe('events setup', () => {
  it('refuses a team that is not linked in one line, exit 2, the store unchanged', async () => {
    const before = await snapshot();
    for (const args of [['events', 'setup', '--team', 'nobody'], ['events', 'setup', '--team', 'nobody', '--print'], ['events', 'remove', '--team', 'nobody', '--yes']]) {
      const result = await run(args);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe('heroku-s3-controller: team "nobody" is not linked; `heroku-s3-controller links` lists the linked teams\n');
    }
    expect(await snapshot()).toEqual(before);
  });

  it('--print writes the template as JSON on stdout, and where to apply it on stderr', async () => {
    const result = await run(['events', 'setup', '--team', 'acme', '--print']);
    expect(result.code).toBe(0);
    const template = JSON.parse(result.stdout) as { Resources: Record<string, { Type: string }> };
    expect(Object.values(template.Resources).map((r) => r.Type).sort()).toEqual(['AWS::Events::Rule', 'AWS::Events::Rule', 'AWS::SQS::Queue', 'AWS::SQS::QueuePolicy']);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(`in each of eu-west-1, us-east-1 of AWS account ${ACCOUNT}`);
    expect(result.stderr).toContain('then run `heroku-s3-controller events setup --team acme` to record it');
    expect(await store.eventSources.forAccount(ACCOUNT)).toEqual([]);
  });

  it('sets up, then says it is already set up; remove asks for --yes, then removes', async () => {
    const first = await run(['events', 'setup', '--team', 'acme']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`Change events set up for team acme in AWS account ${ACCOUNT} (eu-west-1, us-east-1):`);
    expect(first.stdout).toContain(`us-east-1  SQS queue ${INSTANCE_ID}-changes: created`);
    expect((await store.eventSources.forAccount(ACCOUNT)).map((s) => s.region)).toEqual(['eu-west-1', 'us-east-1']);

    const again = await run(['events', 'setup', '--team', 'acme']);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`Change events are already set up for team acme in AWS account ${ACCOUNT} (eu-west-1, us-east-1): nothing changed.\n`);
    const json = await run(['events', 'setup', '--team', 'team-acme', '-o', 'json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ team: 'acme', accountId: ACCOUNT, alreadySetUp: true, changes: [], recorded: [] });

    const asked = await run(['events', 'remove', '--team', 'acme']);
    expect(asked.code).toBe(2);
    expect(asked.stdout).toContain(`Would remove from AWS account ${ACCOUNT}:`);
    expect(asked.stderr).toBe('heroku-s3-controller: nothing changed: add --yes to delete these (change events then stop; drift is found by deep checks alone)\n');
    expect(await store.eventSources.forAccount(ACCOUNT)).toHaveLength(2);

    const removed = await run(['events', 'remove', '--team', 'acme', '--yes']);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toContain(`Removed from AWS account ${ACCOUNT}:`);
    expect(await store.eventSources.forAccount(ACCOUNT)).toEqual([]);
  });
});
