/**
 * Graceful shutdown through the binary: a `serve` whose pass hangs on a slow Heroku exits 0 after
 * SIGTERM once SHUTDOWN_TIMEOUT has passed, without waiting for the pass, and hands its lease over,
 * so another process takes the PostgreSQL advisory lock right after; a second signal exits at once.
 *
 * No assertion depends on how fast the machine is: the pass hangs for half an hour (the fake holds
 * every Heroku answer back that long, and REQUEST_TIMEOUT is longer still), so "it did not wait for
 * the pass" is shown by the order of the process's own log lines (shutdown, pass-abandoned,
 * stopped-leading, then the exit, with the pass never finishing) and by a bound on the exit that is
 * generous for a loaded machine yet a small fraction of the hang.
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
/** How long the fake holds every Heroku answer back: the hung pass cannot end sooner by itself. */
const HANG_MS = 30 * 60_000;
/**
 * The exit must come this soon after the signal. Far more than releasing the lock and closing the
 * HTTP server take even on a loaded machine, and a small fraction of HANG_MS (and of the second
 * test's SHUTDOWN_TIMEOUT), so meeting it still proves the process did not wait for either.
 */
const EXIT_BOUND_MS = 120_000;
/** Starting `serve` until it leads and its pass waits on Heroku (generous, for a loaded machine). */
const START_MS = 60_000;
const TEST_TIMEOUT_MS = 2 * START_MS + EXIT_BOUND_MS + 60_000;

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
    // Generous: a slow lock check on a loaded machine must not end the leadership before the
    // signal. The hand-over after SIGTERM is an explicit unlock, whatever these say.
    LEASE_DURATION: '120s',
    LEASE_RENEW_DEADLINE: '90s',
    LEASE_RETRY_PERIOD: '1s',
    // Longer than the hang: the Heroku client never gives up on the held request by itself.
    REQUEST_TIMEOUT: '1h',
    SHUTDOWN_TIMEOUT: `${SHUTDOWN_TIMEOUT_MS}ms`,
  };
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  fake.delayResponses(0);
  await fake.stop();
  await db.drop();
});

interface LogLine {
  reason?: string;
  why?: string;
  time?: number;
}

/** The `reason`-bearing JSON log lines of a process, in the order it wrote them. */
function logLines(log: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const text of log.split('\n')) {
    if (!text.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(text) as LogLine);
    } catch {
      /* a partial line: not one of ours */
    }
  }
  return lines;
}

/** A `serve` that leads, with its first pass hanging on Heroku (which holds every answer back). */
async function hungServe(extraEnv: Record<string, string> = {}) {
  fake.delayResponses(HANG_MS);
  // Counted before the start: the pass may reach Heroku before its "now leading" line is read.
  const held = fake.heldRequests;
  const child = spawn(process.execPath, [CLI_PATH, 'serve'], {
    env: { PATH: process.env.PATH ?? '', NODE_NO_WARNINGS: '1', PORT: '0', PUBLIC_PORT: '0', LOG_LEVEL: 'debug', POD_NAME: 'replica-a', ...env, ...extraEnv },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let log = '';
  child.stderr!.on('data', (chunk) => (log += chunk));
  // 'close' comes after the exit and after stderr has been read to its end: the whole log is in.
  const closed = new Promise<{ code: number | null; at: number }>((resolve) => child.on('close', (code) => resolve({ code, at: Date.now() })));
  await until('the replica to lead', () => (log.includes('now leading') ? true : undefined), START_MS);
  // The pass has started and waits on Heroku: the fake got a request and is holding it.
  await until('the pass to wait on Heroku', () => (fake.heldRequests > held ? true : undefined), START_MS);
  expect(log).not.toContain('reconcile pass finished');
  return { child, closed, log: () => log };
}

/** Resolves with how the process ended, or 'still running' when it has not within EXIT_BOUND_MS. */
async function exitWithinBound(closed: Promise<{ code: number | null; at: number }>) {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), EXIT_BOUND_MS)));
  try {
    return await Promise.race([closed, bound]);
  } finally {
    clearTimeout(timer);
  }
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

it('SIGTERM with a pass hung on Heroku: exits 0 after SHUTDOWN_TIMEOUT without waiting for the pass, and releases the lock at once', async () => {
  const serve = await hungServe();
  // The lock is held while the replica leads.
  expect(await tryAdvisoryLock('heroku-s3-controller-default')).toBe(false);
  const signalledAt = Date.now();
  serve.child.kill('SIGTERM');
  const ended = await exitWithinBound(serve.closed);
  fake.delayResponses(0);
  expect(ended, `no exit within ${EXIT_BOUND_MS} ms of SIGTERM, though the pass hangs for ${HANG_MS} ms:\n${serve.log()}`).not.toBe('still running');
  const { code, at } = ended as { code: number | null; at: number };
  expect(code).toBe(0);
  // It did wait for the pass, SHUTDOWN_TIMEOUT long (lower bounds: a slow machine only adds).
  expect(at - signalledAt).toBeGreaterThanOrEqual(SHUTDOWN_TIMEOUT_MS - 100);

  // The order of events, from the process's own log: shutdown, then the pass is abandoned, then
  // leadership ends (the lease handed over), then the exit. The pass never finished: the process
  // ended while it still hung, so it did not wait for it.
  const lines = logLines(serve.log());
  const reasons = lines.map((l) => l.reason);
  const shutdown = reasons.indexOf('shutdown');
  const abandoned = reasons.indexOf('pass-abandoned');
  const stopped = lines.findIndex((l, i) => i > shutdown && l.reason === 'stopped-leading');
  expect(shutdown, serve.log()).toBeGreaterThanOrEqual(0);
  expect(abandoned, serve.log()).toBeGreaterThan(shutdown);
  expect(stopped, serve.log()).toBeGreaterThan(abandoned);
  expect(lines[stopped]!.why).toBe('stopping');
  // Nothing ended leadership before the shutdown did.
  expect(reasons.slice(0, shutdown)).not.toContain('stopped-leading');
  expect(reasons).not.toContain('pass-finished');
  expect(reasons).not.toContain('pass-failed');
  expect(reasons).not.toContain('shutdown-forced');
  // SHUTDOWN_TIMEOUT on the process's own clock, between saying it shuts down and giving up.
  expect(lines[abandoned]!.time! - lines[shutdown]!.time!).toBeGreaterThanOrEqual(SHUTDOWN_TIMEOUT_MS - 50);

  // Another process takes the lock right after: it was handed over, not left to a timeout.
  expect(await tryAdvisoryLock('heroku-s3-controller-default')).toBe(true);
}, TEST_TIMEOUT_MS);

it('a second signal while draining exits at once with 128 + the signal number', async () => {
  // SHUTDOWN_TIMEOUT of half an hour: an exit well within EXIT_BOUND_MS is the second signal's doing.
  const serve = await hungServe({ SHUTDOWN_TIMEOUT: '30m' });
  serve.child.kill('SIGTERM');
  await until('draining to start', () => (serve.log().includes('"reason":"shutdown"') ? true : undefined), EXIT_BOUND_MS);
  serve.child.kill('SIGINT');
  const ended = await exitWithinBound(serve.closed);
  fake.delayResponses(0);
  expect(ended, `no exit within ${EXIT_BOUND_MS} ms of the second signal, with SHUTDOWN_TIMEOUT 30m:\n${serve.log()}`).not.toBe('still running');
  expect((ended as { code: number | null }).code).toBe(130);

  const reasons = logLines(serve.log()).map((l) => l.reason);
  const shutdown = reasons.indexOf('shutdown');
  const forced = reasons.indexOf('shutdown-forced');
  expect(shutdown, serve.log()).toBeGreaterThanOrEqual(0);
  expect(forced, serve.log()).toBeGreaterThan(shutdown);
  // It neither waited out SHUTDOWN_TIMEOUT nor for the pass.
  expect(reasons).not.toContain('pass-abandoned');
  expect(reasons).not.toContain('pass-finished');
  expect(reasons).not.toContain('pass-failed');
}, TEST_TIMEOUT_MS);
