/** The advisory-lock elector on the stand's real PostgreSQL server, with short real timings. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { advisoryLockApplicationName, PostgresAdvisoryLockElector } from '../../src/leader/postgres-advisory-lock.js';
import { freshPostgresDatabase, randomName, type FreshDatabase } from '../support/stand.js';

const RETRY_MS = 200;
const DEADLINE_MS = 1_000;
/** A candidate retries after retry × (1 + random × 1.2): at most 2.2 retry periods. */
const MAX_CANDIDATE_WAIT_MS = RETRY_MS * 2.2;

let db: FreshDatabase;
let electors: PostgresAdvisoryLockElector[] = [];

beforeEach(async () => {
  db = await freshPostgresDatabase('leader');
});

afterEach(async () => {
  await Promise.all(electors.map((e) => e.stop()));
  electors = [];
  await db.drop();
});

function elector(identity: string, lockName = 'controller'): PostgresAdvisoryLockElector {
  const e = new PostgresAdvisoryLockElector({ databaseUrl: db.url, lockName, identity, retryPeriodMs: RETRY_MS, renewDeadlineMs: DEADLINE_MS });
  electors.push(e);
  return e;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const leaders = (es: PostgresAdvisoryLockElector[]) => es.filter((e) => e.isLeader()).map((e) => e.identity);

/** Samples every 20 ms for `ms`, asserting `check` each time. */
async function sample(ms: number, check: () => void): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    check();
    await sleep(20);
  }
}

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!cond()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(5);
  }
  return Date.now() - started;
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

describe('PostgresAdvisoryLockElector (real PostgreSQL)', () => {
  it('two contenders on one database: exactly one leads at every sampled instant', async () => {
    const a = elector(randomName('a'));
    const b = elector(randomName('b'));
    await a.start();
    await b.start();
    expect(leaders([a, b])).toEqual([a.identity]);
    // Longer than several re-checks and the renew deadline: the leader keeps confirming its lock.
    await sample(3 * DEADLINE_MS, () => expect(leaders([a, b])).toEqual([a.identity]));
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
    const took = await waitFor('b leads', () => b.isLeader(), MAX_CANDIDATE_WAIT_MS + 500);
    expect(took).toBeLessThanOrEqual(MAX_CANDIDATE_WAIT_MS + 200);
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
    const lostAfter = await waitFor('a stops leading', () => !a.isLeader(), 1_000);
    expect(lostAfter).toBeLessThan(200);
    // a reconnects as a candidate: whichever of a and b tries first after the old session ended wins.
    await waitFor('someone leads', () => leaders([a, b]).length === 1, MAX_CANDIDATE_WAIT_MS + 1_000);
    const winner = leaders([a, b]);
    await sample(1_500, () => expect(leaders([a, b])).toEqual(winner));
  });

  it('three contenders through stops and kills: never two leaders, always one again soon', async () => {
    const es = [elector(randomName('a')), elector(randomName('b')), elector(randomName('c'))];
    for (const e of es) await e.start();
    const atMostOne = () => expect(leaders(es).length).toBeLessThanOrEqual(1);
    await sample(500, atMostOne);
    const first = es.find((e) => e.isLeader())!;
    await first.stop();
    await sample(MAX_CANDIDATE_WAIT_MS + 300, atMostOne);
    const second = es.find((e) => e.isLeader());
    expect(second).toBeDefined();
    await withClient((c) => c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [advisoryLockApplicationName(second!.identity)]));
    await sample(MAX_CANDIDATE_WAIT_MS + 1_000, atMostOne);
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
    const e = new PostgresAdvisoryLockElector({ databaseUrl: url.toString(), lockName: 'x', identity: 'lonely', retryPeriodMs: RETRY_MS, renewDeadlineMs: DEADLINE_MS });
    electors.push(e);
    await e.start();
    expect(e.isLeader()).toBe(false);
  });
});
