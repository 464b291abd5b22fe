/**
 * Graceful shutdown through the binary: a `serve` whose pass hangs on a slow Heroku exits 0
 * within SHUTDOWN_TIMEOUT (plus a small margin) after SIGTERM and hands its lease over, so another
 * process takes the PostgreSQL advisory lock right after; a second signal exits at once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { advisoryLockKey } from '../../src/leader/postgres-advisory-lock.js';
import { CLI_PATH } from '../support/cli.js';
import { HerokuFake } from '../support/heroku-fake/index.js';
import { seedLink, until } from './helpers.js';
import { freshPostgresDatabase, motoUrl, randomAccountId, type FreshDatabase } from '../support/stand.js';

const SHUTDOWN_TIMEOUT_MS = 2_000;
/** Time to release the lock, close the HTTP server and let the process end. */
const MARGIN_MS = 3_000;

let fake: HerokuFake;
let db: FreshDatabase;
let env: Record<string, string>;
const children: ChildProcess[] = [];

beforeAll(async () => {
  fake = await HerokuFake.start();
  const team = fake.addTeam({ name: 'acme' });
  db = await freshPostgresDatabase('shutdown');
  const fernetKey = SecretBox.generateKey();
  await seedLink(db.url, fernetKey, {
    teamId: team.id,
    teamName: team.name,
    accountId: randomAccountId(),
    auth: { kind: 'keys', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'not-a-real-secret-access-key' },
  });
  env = {
    DATABASE_URL: db.url,
    FERNET_KEYS: fernetKey,
    HEROKU_API_TOKEN: fake.token,
    HEROKU_API_URL: fake.url,
    ADDON_SERVICES: 's3-bucket',
    AWS_ENDPOINT_URL: motoUrl(),
    AWS_REGION: 'us-east-1',
    LEADER_ELECTION: 'postgres',
    LEASE_DURATION: '3s',
    LEASE_RENEW_DEADLINE: '2s',
    LEASE_RETRY_PERIOD: '500ms',
    REQUEST_TIMEOUT: '120s',
    SHUTDOWN_TIMEOUT: `${SHUTDOWN_TIMEOUT_MS}ms`,
  };
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await fake.stop();
  await db.drop();
});

/** A `serve` that leads, with its first pass hanging on Heroku (which holds every answer back). */
async function hungServe(extraEnv: Record<string, string> = {}) {
  fake.delayResponses(10 * 60_000);
  const child = spawn(process.execPath, [CLI_PATH, 'serve'], {
    env: { PATH: process.env.PATH ?? '', NODE_NO_WARNINGS: '1', PORT: '0', LOG_LEVEL: 'debug', POD_NAME: 'replica-a', ...env, ...extraEnv },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let log = '';
  child.stderr!.on('data', (chunk) => (log += chunk));
  const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.on('exit', (code) => resolve({ code, at: Date.now() })));
  await until('the replica to lead', () => (log.includes('now leading') ? true : undefined));
  // The pass has started and waits on Heroku: the fake got a request and is holding it.
  const held = fake.heldRequests;
  await until('the pass to wait on Heroku', () => (fake.heldRequests > held ? true : undefined));
  expect(log).not.toContain('reconcile pass finished');
  return { child, exited, log: () => log };
}

async function tryAdvisoryLock(lockName: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const rows = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [advisoryLockKey(lockName)]);
    return rows.rows[0]!.locked;
  } finally {
    await client.end();
  }
}

it('SIGTERM with a pass hung on Heroku: exits 0 within SHUTDOWN_TIMEOUT and releases the lock at once', async () => {
  const serve = await hungServe();
  // The lock is held while the replica leads.
  expect(await tryAdvisoryLock('heroku-s3-controller-default')).toBe(false);
  const signalledAt = Date.now();
  serve.child.kill('SIGTERM');
  const { code, at } = await serve.exited;
  fake.delayResponses(0);
  expect(code).toBe(0);
  const took = at - signalledAt;
  expect(took).toBeGreaterThanOrEqual(SHUTDOWN_TIMEOUT_MS - 100); // it did wait for the pass
  expect(took).toBeLessThan(SHUTDOWN_TIMEOUT_MS + MARGIN_MS);
  expect(serve.log()).toContain('"reason":"pass-abandoned"');
  expect(serve.log()).toContain('"reason":"stopped-leading"');
  // Another process takes the lock right after: it was handed over, not left to a timeout.
  expect(await tryAdvisoryLock('heroku-s3-controller-default')).toBe(true);
}, 60_000);

it('a second signal while draining exits at once with 128 + the signal number', async () => {
  const serve = await hungServe({ SHUTDOWN_TIMEOUT: '60s' });
  const signalledAt = Date.now();
  serve.child.kill('SIGTERM');
  await until('draining to start', () => (serve.log().includes('"reason":"shutdown"') ? true : undefined));
  serve.child.kill('SIGINT');
  const { code, at } = await serve.exited;
  fake.delayResponses(0);
  expect(code).toBe(130);
  expect(at - signalledAt).toBeLessThan(MARGIN_MS);
  expect(serve.log()).toContain('"reason":"shutdown-forced"');
}, 60_000);
