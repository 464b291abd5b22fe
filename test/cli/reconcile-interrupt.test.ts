/**
 * SIGINT/SIGTERM during one-shot commands, through the binary: the pass stops before its next
 * action (here: before the first, as the signal arrives while Heroku is being read), closes the
 * store, says in one line that it was interrupted and what was done, and exits 130 / 143.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { CLI_PATH } from '../support/cli.js';
import { HerokuFake } from '../support/heroku-fake/index.js';
import { seedLink, until } from './helpers.js';
import { accountClientConfig, freshPostgresDatabase, motoUrl, randomAccountId, type FreshDatabase } from '../support/stand.js';

const SERVICE = 's3-bucket';
let fake: HerokuFake;
let db: FreshDatabase;
let env: Record<string, string>;
const accountId = randomAccountId();

beforeAll(async () => {
  fake = await HerokuFake.start();
  const team = fake.addTeam({ name: 'acme' });
  fake.addApp({ name: 'acme-web', team: 'acme' });
  fake.addAddon({ app: 'acme-web', service: SERVICE, attachmentName: 'BUCKET' });
  db = await freshPostgresDatabase('interrupt');
  const fernetKey = SecretBox.generateKey();
  await seedLink(db.url, fernetKey, {
    teamId: team.id,
    teamName: team.name,
    accountId,
    auth: { kind: 'role', roleArn: `arn:aws:iam::${accountId}:role/heroku-s3-controller`, externalId: null },
  });
  env = {
    DATABASE_URL: db.url,
    FERNET_KEYS: fernetKey,
    HEROKU_API_TOKEN: fake.token,
    HEROKU_API_URL: fake.url,
    ADDON_SERVICES: SERVICE,
    INSTANCE_ID: `int-${randomBytes(3).toString('hex')}`,
    AWS_ENDPOINT_URL: motoUrl(),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'controller',
    AWS_SECRET_ACCESS_KEY: 'controller',
    LOG_LEVEL: 'warn',
  };
});

afterAll(async () => {
  await fake.stop();
  await db.drop();
});

/**
 * How long the fake holds the answer the pass is waiting on when the signal is sent: the signal
 * has to be handled by the command before that answer arrives, so this is the margin a slow
 * machine gets (the test itself takes about this long). Answers after the signal are not held.
 */
const HOLD_MS = 10_000;

/** Runs `args`, sends `signal` while the pass waits on a slow Heroku, and returns how it ended. */
async function interrupt(args: string[], signal: NodeJS.Signals) {
  fake.delayResponses(HOLD_MS);
  const held = fake.heldRequests;
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    env: { PATH: process.env.PATH ?? '', NODE_NO_WARNINGS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await until('the pass to wait on Heroku', () => (fake.heldRequests > held ? true : undefined), 60_000);
    child.kill(signal);
    // The answer already held still comes only after HOLD_MS; later reads need not wait.
    fake.delayResponses(0);
    return { code: await exited, stdout, stderr };
  } finally {
    fake.delayResponses(0);
    child.kill('SIGKILL');
  }
}

async function bucketsInAccount(): Promise<number> {
  const s3 = new S3Client(await accountClientConfig(accountId));
  try {
    return (await s3.send(new ListBucketsCommand({}))).Buckets?.length ?? 0;
  } finally {
    s3.destroy();
  }
}

it('reconcile --once interrupted by SIGINT: no action starts, one line says so, exit 130', async () => {
  const result = await interrupt(['reconcile', '--once'], 'SIGINT');
  expect(result.code).toBe(130);
  const lines = result.stderr.trim().split('\n');
  expect(lines.at(-1)).toMatch(/^heroku-s3-controller: the pass was interrupted by SIGINT; stopped between actions: 0 applied, 0 failed, [1-9]\d* not started/);
  expect(result.stdout).toMatch(/0 applied, 0 failed, 0 blocked, [1-9]\d* skipped/);
  expect(fake.mutatingRequests()).toBe(0);
  expect(await bucketsInAccount()).toBe(0);
}, 120_000);

it('plan interrupted by SIGTERM: exit 143, nothing changed', async () => {
  const result = await interrupt(['plan'], 'SIGTERM');
  expect(result.code).toBe(143);
  expect(result.stderr.trim().split('\n').at(-1)).toBe('heroku-s3-controller: the pass was interrupted by SIGTERM; nothing was changed.');
  expect(fake.mutatingRequests()).toBe(0);
}, 120_000);

it('afterwards an uninterrupted pass applies what was left', async () => {
  const child = spawn(process.execPath, [CLI_PATH, 'reconcile', '--once'], { env: { PATH: process.env.PATH ?? '', NODE_NO_WARNINGS: '1', ...env }, stdio: 'ignore' });
  expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(0);
  expect(await bucketsInAccount()).toBe(1);
}, 120_000);
