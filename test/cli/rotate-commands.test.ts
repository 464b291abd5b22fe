/**
 * `rotate`, `rotate approve` and `rotations` through the built binary, on PostgreSQL and the Heroku
 * fake (apps are named through it). Bad input — an unknown add-on, app, team or account, `--yes`
 * missing, a rotation already in flight, an add-on with no key yet — is one line on stderr, exit 2,
 * and leaves `key_rotations` and the journal as they were. A request is queued all or none,
 * journaled with who asked, and `rotations` lists it; no output holds a secret.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { Store } from '../../src/store/store.js';
import { HerokuFake } from '../support/heroku-fake/index.js';
import { runCli, type CliResult } from '../support/cli.js';
import { freshPostgresDatabase, randomAccountId, type FreshDatabase } from '../support/stand.js';

const SECRET = 'CANARYrotateSECRETwJalrXUtnFEMI/K7MDENG/b';
const DAY = 86_400_000;

let fake: HerokuFake;
let db: FreshDatabase;
let store: Store;
let env: Record<string, string>;
/** acme: web and worker (attached to web too), and one without a key yet. */
const ACME = randomAccountId();
/** busy: one rotation in flight by age, one waiting for an operator (step reactivated). */
const BUSY = randomAccountId();
/** ops: a key that leaked. */
const OPS = randomAccountId();
let webAppId: string;
const outputs: string[] = [];

async function run(args: string[]): Promise<CliResult> {
  const result = await runCli(args, env);
  outputs.push(result.stdout, result.stderr);
  return result;
}

async function addRecord(o: { addonId: string; accountId: string; teamId: string; appId: string; key: string | null; madeDaysAgo?: number }): Promise<void> {
  await store.resources.upsert({
    addonId: o.addonId,
    addonName: `bucket-${o.addonId}`,
    accountId: o.accountId,
    teamId: o.teamId,
    appId: o.appId,
    plan: 's3-bucket:private',
    kind: 'bucket',
    resourceName: `hsc-${o.addonId}`,
    region: 'us-east-1',
    userName: `hsc-${o.addonId}`,
    accessKeyId: o.key,
    secretAccessKey: o.key ? SECRET : null,
    accessKeyCreatedAt: o.madeDaysAgo === undefined ? null : new Date(Date.now() - o.madeDaysAgo * DAY),
    resourceCreateStartedAt: null,
    state: 'ready',
    lastError: null,
  });
}

const link = (teamId: string, teamName: string, accountId: string) =>
  store.links.save({ teamId, teamName, accountId, region: null, auth: { kind: 'role', roleArn: `arn:aws:iam::${accountId}:role/hsc`, externalId: null } });

beforeAll(async () => {
  fake = await HerokuFake.start();
  const acme = fake.addTeam({ name: 'acme' });
  webAppId = fake.addApp({ name: 'web-app', team: 'acme' }).id!;
  const workerAppId = fake.addApp({ name: 'worker-app', team: 'acme' }).id!;
  fake.addApp({ name: 'lonely-app', team: 'acme' });
  db = await freshPostgresDatabase('rotate');
  env = { DATABASE_URL: db.url, FERNET_KEYS: SecretBox.generateKey(), HEROKU_API_TOKEN: fake.token, HEROKU_API_URL: fake.url };
  store = await Store.open({ databaseUrl: db.url, dataDir: '/nonexistent', fernetKeys: env.FERNET_KEYS! });

  await link(acme.id!, 'acme', ACME);
  await addRecord({ addonId: 'web', accountId: ACME, teamId: acme.id!, appId: webAppId, key: 'AKIAWEB0000000000001', madeDaysAgo: 40 });
  await addRecord({ addonId: 'worker', accountId: ACME, teamId: acme.id!, appId: workerAppId, key: 'AKIAWORKER0000000001' });
  await store.deliveries.record({ addonId: 'worker', attachmentId: 'att-worker-web', appId: webAppId, varNames: ['WORKER_URL'], fingerprint: 'f', valueHashes: null });
  await addRecord({ addonId: 'nokey', accountId: ACME, teamId: acme.id!, appId: workerAppId, key: null });

  await link('team-busy', 'busy', BUSY);
  await addRecord({ addonId: 'busy', accountId: BUSY, teamId: 'team-busy', appId: 'app-busy', key: 'AKIABUSY000000000001', madeDaysAgo: 80 });
  await store.rotations.start({ addonId: 'busy', accountId: BUSY, oldAccessKeyId: 'AKIABUSY000000000001', trigger: 'age', requestedBy: 'controller' }, new Date());
  await addRecord({ addonId: 'held', accountId: BUSY, teamId: 'team-busy', appId: 'app-held', key: 'AKIAHELDOLD000000001' });
  const at = new Date(Date.now() - 2 * DAY);
  expect(await store.rotations.request([{ addonId: 'held', accountId: BUSY, oldAccessKeyId: 'AKIAHELDOLD000000001', trigger: 'on-demand', requestedBy: 'token:ops' }], at)).toBe(true);
  await store.resources.setKey('held', 'AKIAHELDNEW000000001', SECRET, at);
  await store.rotations.keyCreated('held', 'AKIAHELDNEW000000001');
  await store.rotations.delivered('held', 'AKIAHELDNEW000000001', at);
  await store.rotations.deactivated('held', at);
  await store.rotations.reactivated('held', new Date(Date.now() - DAY));

  await link('team-ops', 'ops', OPS);
  await addRecord({ addonId: 'leak', accountId: OPS, teamId: 'team-ops', appId: 'app-leak', key: 'AKIALEAK000000000001', madeDaysAgo: 3 });
});

afterAll(async () => {
  await store?.close();
  await db?.drop();
  expect(fake.schemaViolations).toEqual([]);
  await fake?.stop();
});

/** key_rotations and the journal, as a test compares them before and after. */
async function state(): Promise<string> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const rotations = (await client.query('SELECT * FROM key_rotations ORDER BY addon_id')).rows;
    const journal = (await client.query('SELECT id FROM journal ORDER BY id')).rows;
    return JSON.stringify({ rotations, journal });
  } finally {
    await client.end();
  }
}

function expectOneLineError(result: CliResult, pattern: RegExp): void {
  expect(result.code, result.stderr).toBe(2);
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^heroku-s3-controller: /);
  expect(lines[0]).toMatch(pattern);
}

describe('rotate: bad input is one line, exit 2, and changes nothing', () => {
  it.each([
    [['rotate', '--addon', 'no-such-addon', '--yes'], /add-on "no-such-addon" is not one this controller manages/],
    [['rotate', '--app', 'no-such-app', '--yes'], /Heroku app "no-such-app" was not found: check the name with `heroku apps`/],
    [['rotate', '--app', 'lonely-app', '--yes'], /app lonely-app holds no add-on this controller manages/],
    [['rotate', '--team', 'no-such-team', '--yes'], /team "no-such-team" is not linked; `heroku-s3-controller links` lists/],
    [['rotate', '--account', '999999999999', '--yes'], /AWS account 999999999999 is not linked to any team/],
    [['rotate', '--account', '12', '--yes'], /--account "12" is not a 12-digit AWS account id/],
    [['rotate', '--yes'], /give exactly one of --addon, --app, --team or --account/],
    [['rotate', '--addon', 'web', '--team', 'acme', '--yes'], /give exactly one of .*, not --addon and --team/],
    [['rotate', '--addon', 'bucket-busy', '--yes'], /add-on bucket-busy already has a rotation in flight \(step creating since .*\): nothing changed; `heroku-s3-controller rotations`/],
    [['rotate', '--team', 'busy', '--yes'], /add-on bucket-busy already has a rotation in flight/],
    [['rotate', '--addon', 'bucket-nokey', '--yes'], /add-on bucket-nokey cannot be rotated: it has no access key yet/],
    [['rotate', 'approve', '--account', ACME], /no key rotation in account \d{12} waits for approval: there is nothing to approve/],
    [['rotate', 'approve', '--account', 'nope'], /--account "nope" is not a 12-digit AWS account id/],
  ])('%j', async (args, message) => {
    const before = await state();
    const result = await run(args);
    expectOneLineError(result, message);
    expect(result.stdout).toBe('');
    expect(await state()).toBe(before);
  });

  it('without --yes: the plan on stdout, then one line saying nothing changed', async () => {
    const before = await state();
    const one = await run(['rotate', '--addon', 'bucket-web']);
    expectOneLineError(one, /nothing changed: add --yes to rotate this key$/);
    expect(one.stdout).toMatch(/^Would rotate 1 access key of add-on bucket-web:\nADD-ON\s+APP\s+TEAM\s+ACCOUNT\s+KEY\s+AGE\s+WHAT HAPPENS\n/);
    expect(one.stdout).toMatch(/bucket-web\s+\S+\s+acme\s+\d{12}\s+AKIAWEB0000000000001\s+40 d\s+new key to every app; old key deactivated after 1 h overlap; deleted 1 d later unless used/);

    const team = await run(['rotate', '--team', 'acme', '-o', 'json']);
    expectOneLineError(team, /nothing changed: add --yes to rotate these 2 keys$/);
    const plan = JSON.parse(team.stdout);
    expect(plan).toMatchObject({ requested: false, selection: { by: 'team', value: 'acme' }, compromised: false });
    expect(plan.rotations.map((r: { addonName: string; accessKeyId: string; step: string; trigger: string }) => [r.addonName, r.accessKeyId, r.step, r.trigger])).toEqual([
      ['bucket-web', 'AKIAWEB0000000000001', 'request', 'on-demand'],
      ['bucket-worker', 'AKIAWORKER0000000001', 'request', 'on-demand'],
    ]);
    expect(plan.rotations[0]).toMatchObject({ accountId: ACME, teamName: 'acme', keyAgeSeconds: expect.any(Number) });
    expect(plan.rotations[1]).toMatchObject({ keyCreatedAt: null, keyAgeSeconds: null });
    expect(plan.skipped).toEqual([{ addonId: 'nokey', addonName: 'bucket-nokey', reason: expect.stringMatching(/no access key yet/) }]);
    expect(await state()).toBe(before);
  });
});

describe('rotate: good input', () => {
  it('rotates every key an app holds (its own and one attached to it), all at once, journaled with who asked; `rotations` lists them', async () => {
    const result = await run(['rotate', '--app', 'web-app', '--yes']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Requested the rotation of 2 access keys of app web-app: the next pass starts them; `heroku-s3-controller rotations` shows progress\.\n/);
    expect(result.stdout).toMatch(/bucket-web\s+web-app\s+acme/);

    const rows = await store.rotations.list();
    expect(rows.filter((r) => r.accountId === ACME).map((r) => [r.addonId, r.oldAccessKeyId, r.trigger, r.step, r.approvedAt !== null])).toEqual([
      ['web', 'AKIAWEB0000000000001', 'on-demand', 'requested', true],
      ['worker', 'AKIAWORKER0000000001', 'on-demand', 'requested', true],
    ]);
    const journal = await store.journal.list({ action: 'rotate-requested', accountId: ACME });
    expect(journal.map((e) => [e.addonId, e.resource, e.detail])).toEqual([
      ['web', 'AKIAWEB0000000000001', expect.objectContaining({ actor: expect.stringMatching(/^cli:/), trigger: 'on-demand', compromised: false, oldAccessKeyId: 'AKIAWEB0000000000001', selection: 'app web-app' })],
      ['worker', 'AKIAWORKER0000000001', expect.objectContaining({ compromised: false })],
    ]);
    expect(journal[0]!.detail.actor).toBe(rows.find((r) => r.addonId === 'web')!.requestedBy);

    const listed = await run(['rotations', '-o', 'json']);
    expect(listed.code, listed.stderr).toBe(0);
    const views = JSON.parse(listed.stdout);
    expect(views.find((v: { addonId: string }) => v.addonId === 'web')).toMatchObject({
      addonName: 'bucket-web',
      accountId: ACME,
      step: 'requested',
      trigger: 'on-demand',
      oldAccessKeyId: 'AKIAWEB0000000000001',
      newAccessKeyId: null,
      requestedBy: expect.stringMatching(/^cli:/),
      approved: true,
      since: expect.any(String),
    });
    const table = await run(['rotations']);
    expect(table.stdout).toMatch(/^ADD-ON\s+STEP\s+SINCE\s+TRIGGER\s+OLD KEY\s+NEW KEY\s+ASKED BY\s+NEXT\n/);
    expect(table.stdout).toMatch(/bucket-held\s+reactivated\s+.*`heroku-s3-controller rotate --addon bucket-held --yes`/);

    // Asked again while in flight: refused, nothing more written.
    const before = await state();
    expectOneLineError(await run(['rotate', '--addon', 'web', '--yes']), /add-on bucket-web already has a rotation in flight \(step requested since/);
    expect(await state()).toBe(before);
  });

  it('--compromised is an emergency rotation, journaled as such', async () => {
    const plan = await run(['rotate', '--addon', 'bucket-leak', '--compromised']);
    expect(plan.code).toBe(2);
    expect(plan.stdout).toMatch(/Would rotate 1 access key of add-on bucket-leak, as compromised \(no overlap\)/);
    expect(plan.stdout).toMatch(/old key deactivated at once, no overlap; deleted 1 d later even if used/);
    const result = await run(['rotate', '--addon', 'bucket-leak', '--compromised', '--yes', '-o', 'json']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ requested: true, compromised: true, rotations: [{ addonId: 'leak', trigger: 'emergency', step: 'request' }] });
    expect(await store.rotations.get('leak')).toMatchObject({ trigger: 'emergency', step: 'requested', oldAccessKeyId: 'AKIALEAK000000000001' });
    const [line] = await store.journal.list({ action: 'rotate-requested', addonId: 'leak' });
    expect(line).toMatchObject({ accountId: OPS, resource: 'AKIALEAK000000000001', detail: expect.objectContaining({ compromised: true, trigger: 'emergency' }) });
  });

  it('resumes a rotation whose old key was still used after its deactivation, as the blocked message says to', async () => {
    const result = await run(['rotate', '--addon', 'bucket-held', '--yes']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/AKIAHELDOLD000000001\s+\(resumed\)\s+old key deactivated again after 1 h; deleted 1 d later unless used again/);
    expect(await store.rotations.get('held')).toMatchObject({ step: 'delivered', oldAccessKeyId: 'AKIAHELDOLD000000001', trigger: 'on-demand' });
    const [line] = await store.journal.list({ action: 'rotate-resumed', addonId: 'held' });
    expect(line).toMatchObject({ resource: 'AKIAHELDOLD000000001', detail: expect.objectContaining({ actor: expect.stringMatching(/^cli:/) }) });
    // It is in flight again: no second resume.
    expectOneLineError(await run(['rotate', '--addon', 'bucket-held', '--yes']), /already has a rotation in flight \(step delivered/);
  });

  it('--compromised escalates a rotation in flight to an emergency, once', async () => {
    // After the resume above, held's rotation is in its overlap, as an on-demand one.
    const result = await run(['rotate', '--addon', 'bucket-held', '--compromised', '--yes']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/AKIAHELDOLD000000001\s+\(escalated\)\s+the rotation in flight becomes an emergency/);
    expect(await store.rotations.get('held')).toMatchObject({ step: 'delivered', trigger: 'emergency', oldAccessKeyId: 'AKIAHELDOLD000000001', approvedAt: expect.any(Date) });
    expect(await store.journal.list({ action: 'rotate-escalated', addonId: 'held' })).toEqual([expect.objectContaining({ resource: 'AKIAHELDOLD000000001', detail: expect.objectContaining({ compromised: true }) })]);
    const before = await state();
    expectOneLineError(await run(['rotate', '--addon', 'bucket-held', '--compromised', '--yes']), /already has a rotation in flight/);
    expect(await state()).toBe(before);
  });

  it('rotate approve lets the rotation breaker pass an account\'s held rotations, once', async () => {
    expect((await store.rotations.get('busy'))!.approvedAt).toBeNull();
    const result = await run(['rotate', 'approve', '--account', BUSY]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`Approved 1 key rotation(s) in account ${BUSY}: the next pass deactivates their old keys once each overlap is over.\n`);
    expect((await store.rotations.get('busy'))!.approvedAt).not.toBeNull();
    const journal = await store.journal.list({ action: 'rotate-approve', accountId: BUSY });
    expect(journal).toEqual([expect.objectContaining({ resource: BUSY, detail: expect.objectContaining({ actor: expect.stringMatching(/^cli:/), approved: 1 }) })]);
    const before = await state();
    expectOneLineError(await run(['rotate', 'approve', '--account', BUSY]), /nothing to approve/);
    expect(await state()).toBe(before);
  });

  it('no output held a secret', () => {
    expect(outputs.length).toBeGreaterThan(30);
    expect(outputs.join('\n')).not.toContain(SECRET);
  });
});
