/**
 * The advisory-lock elector on the stand's real PostgreSQL server, on a hand-moved clock: retry
 * periods and renew deadlines pass only when the test moves time, and each move waits for the
 * electors' real queries to finish (SteppedTime), so nothing depends on how fast the machine is.
 * The renew deadline is also the real bound on each query and connection: generous, since on the
 * stepped clock it costs no waiting.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { advisoryLockApplicationName, PostgresAdvisoryLockElector } from '../../src/leader/postgres-advisory-lock.js';
import { freshPostgresDatabase, randomName, type FreshDatabase } from '../support/stand.js';
import { SteppedTime } from './stepped-time.js';

const RETRY_MS = 1_000;
const DEADLINE_MS = 30_000;
/** A candidate retries after retry × (1 + random × 1.2): at most 2.2 retry periods. */
const MAX_CANDIDATE_WAIT_MS = RETRY_MS * 2.2;
/** Sampling step on the stepped clock: several samples per retry period. */
const STEP_MS = RETRY_MS / 4;
/** Real time allowed for what the server and the client do by themselves (a backend ending, its socket closing). */
const REAL_WAIT_MS = 30_000;

let db: FreshDatabase;
let time: SteppedTime;
let electors: PostgresAdvisoryLockElector[] = [];

beforeEach(async () => {
  db = await freshPostgresDatabase('leader');
  time = new SteppedTime();
});

afterEach(async () => {
  await Promise.all(electors.map((e) => e.stop()));
  electors = [];
  await db.drop();
});

function elector(identity: string, lockName = 'controller'): PostgresAdvisoryLockElector {
  const e = new PostgresAdvisoryLockElector({
    databaseUrl: db.url,
    lockName,
    identity,
    retryPeriodMs: RETRY_MS,
    renewDeadlineMs: DEADLINE_MS,
    clock: time.clock,
    sleep: time.sleep,
  });
  electors.push(e);
  return e;
}

const leaders = (es: PostgresAdvisoryLockElector[]) => es.filter((e) => e.isLeader()).map((e) => e.identity);

/** Polls in real time for what no elector's clock drives (connection events, a backend's exit). */
async function realWait(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + REAL_WAIT_MS;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${REAL_WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function withClient<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** True when no session holds an advisory lock in this test's database (a terminated backend holds its lock until it has ended). */
async function lockFree(): Promise<boolean> {
  const rows = await withClient((c) =>
    c.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    ),
  );
  return rows.rows[0]!.n === 0;
}

describe('PostgresAdvisoryLockElector (real PostgreSQL)', () => {
  it('two contenders on one database: exactly one leads at every sampled instant', async () => {
    const a = elector(randomName('a'));
    const b = elector(randomName('b'));
    await a.start();
    await b.start();
    expect(leaders([a, b])).toEqual([a.identity]);
    // Longer than several re-checks and the renew deadline: the leader keeps confirming its lock.
    await time.step(3 * DEADLINE_MS, STEP_MS, () => expect(leaders([a, b])).toEqual([a.identity]));
    const holders = await withClient((c) =>
      c.query<{ application_name: string }>(
        `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      ),
    );
    expect(holders.rows.map((r) => r.application_name)).toEqual([advisoryLockApplicationName(a.identity)]);
  });

  it('different lock names do not contend', async () => {
    const a = elector(randomName('a'), 'one');
    const b = elector(randomName('b'), 'two');
    await a.start();
    await b.start();
    expect(leaders([a, b])).toHaveLength(2);
  });

  it('the leader stops (releases): the other takes over within a retry period', async () => {
    const changes: boolean[] = [];
    const a = elector(randomName('a'));
    const b = elector(randomName('b'));
    a.onChange((l) => changes.push(l));
    await a.start();
    await b.start();
    const stopping = a.stop();
    expect(a.isLeader()).toBe(false); // at once, before the unlock is sent
    await stopping;
    expect(changes).toEqual([true, false]);
    // The unlock was sent and answered before stop() resolved: b's next try (at most one jittered
    // retry period away on the stepped clock) finds the lock free.
    const took = await time.advanceUntil('b leads', () => b.isLeader(), MAX_CANDIDATE_WAIT_MS + RETRY_MS);
    expect(took).toBeLessThanOrEqual(MAX_CANDIDATE_WAIT_MS);
    expect(leaders([a, b])).toEqual([b.identity]);
  });

  it("killing the leader's connection (pg_terminate_backend) makes it non-leader at once; then one leads again", async () => {
    const a = elector(randomName('a'));
    const b = elector(randomName('b'));
    await a.start();
    await b.start();
    expect(a.isLeader()).toBe(true);
    const killed = await withClient((c) =>
      c.query<{ ok: boolean }>('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1', [advisoryLockApplicationName(a.identity)]),
    );
    expect(killed.rows).toEqual([{ ok: true }]);
    // "At once": on the connection's end, not at a renew deadline or a re-check, since the
    // electors' clock does not move while we wait.
    await realWait('a stops leading', () => !a.isLeader());
    expect(leaders([a, b])).toEqual([]);
    // a reconnects as a candidate: whichever of a and b tries first after the old session ended wins.
    await realWait('the old session to end and free the lock', () => lockFree());
    await time.advanceUntil('someone leads', () => leaders([a, b]).length === 1, MAX_CANDIDATE_WAIT_MS);
    const winner = leaders([a, b]);
    await time.step(3 * RETRY_MS, STEP_MS, () => expect(leaders([a, b])).toEqual(winner));
  });

  it('three contenders through stops and kills: never two leaders, always one again soon', async () => {
    const es = [elector(randomName('a')), elector(randomName('b')), elector(randomName('c'))];
    for (const e of es) await e.start();
    const atMostOne = () => expect(leaders(es).length).toBeLessThanOrEqual(1);
    await time.step(2 * RETRY_MS, STEP_MS, atMostOne);
    const first = es.find((e) => e.isLeader())!;
    expect(first).toBeDefined();
    await first.stop();
    await time.advanceUntil('a second leader', () => (atMostOne(), leaders(es).length === 1), MAX_CANDIDATE_WAIT_MS);
    await time.step(RETRY_MS, STEP_MS, atMostOne);
    const second = es.find((e) => e.isLeader());
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    await withClient((c) => c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [advisoryLockApplicationName(second!.identity)]));
    await realWait('the killed leader to stop leading', () => !second!.isLeader());
    await realWait('the old session to end and free the lock', () => lockFree());
    await time.advanceUntil('a third leader', () => (atMostOne(), leaders(es).length === 1), MAX_CANDIDATE_WAIT_MS);
    await time.step(RETRY_MS, STEP_MS, atMostOne);
    expect(leaders(es)).toHaveLength(1);
  });

  it('stop() during start(): never leads, and the lock is free for the next one', async () => {
    const a = elector(randomName('a'));
    const starting = a.start();
    await a.stop();
    await starting;
    expect(a.isLeader()).toBe(false);
    const b = elector(randomName('b'));
    await b.start();
    expect(b.isLeader()).toBe(true);
  });

  it('an unreachable database: not the leader, and start() still resolves', async () => {
    const url = new URL(db.url);
    url.port = '1'; // nothing listens there
    const e = new PostgresAdvisoryLockElector({ databaseUrl: url.toString(), lockName: 'x', identity: 'lonely', retryPeriodMs: RETRY_MS, renewDeadlineMs: DEADLINE_MS, clock: time.clock, sleep: time.sleep });
    electors.push(e);
    await e.start();
    expect(e.isLeader()).toBe(false);
  });
});
