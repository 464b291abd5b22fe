/**
 * The Heroku request budget in `serve`, through the binary: with the account's tokens under
 * HEROKU_BUDGET_FLOOR, scheduled full passes wait (a tick every second, yet no pass until the
 * estimate has refilled past the floor), say so once, resume by themselves, and none fails.
 * Timescale sped up: the fake refills 100 tokens a second, and the controller is told so.
 *
 * Nothing depends on how fast the machine is: the fake's bucket starts refilling only once the
 * first pass has finished (its clock stands still before, so a slow start-up cannot refill it past
 * the floor first), and the wait is checked against the controller's own estimate, on its own clock.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { CLI_PATH } from '../support/cli.js';
import { HerokuFake } from '../support/heroku-fake/index.js';
import { freshPostgresDatabase, motoUrl, randomAccountId, type FreshDatabase } from '../support/stand.js';
import { seedLink, until } from './helpers.js';

const REFILL_PER_SECOND = 100;
const FLOOR = 1_000;
const START_TOKENS = 300;

let fake: HerokuFake;
let db: FreshDatabase;
let child: ChildProcess | null = null;
/** When the fake's bucket started refilling (real time); null: not yet, its clock stands still. */
let refillingSince: number | null = null;
const fakeClock = () => (refillingSince === null ? 0 : Date.now() - refillingSince);

beforeAll(async () => {
  fake = await HerokuFake.start({ rateLimit: { capacity: 4_500, refillPerMinute: REFILL_PER_SECOND * 60, initial: START_TOKENS, clock: fakeClock } });
  const team = fake.addTeam({ name: 'acme' });
  db = await freshPostgresDatabase('serve_budget');
  const fernetKey = SecretBox.generateKey();
  await seedLink(db.url, fernetKey, {
    teamId: team.id,
    teamName: team.name,
    accountId: randomAccountId(),
    auth: { kind: 'keys', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'not-a-real-secret-access-key' },
  });
  child = spawn(process.execPath, [CLI_PATH, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      NODE_NO_WARNINGS: '1',
      PORT: '0', PUBLIC_PORT: '0',
      LOG_LEVEL: 'info',
      DATABASE_URL: db.url,
      FERNET_KEYS: fernetKey,
      HEROKU_API_TOKEN: fake.token,
      HEROKU_API_URL: fake.url,
      ADDON_SERVICES: 's3-bucket',
      AWS_ENDPOINT_URL: motoUrl(),
      AWS_REGION: 'us-east-1',
      LEADER_ELECTION: 'none',
      RESYNC_SCHEDULE: '* * * * * *', // every second
      HEROKU_BUDGET_TOKENS_PER_HOUR: String(REFILL_PER_SECOND * 3_600),
      HEROKU_BUDGET_FLOOR: String(FLOOR),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
});

afterAll(async () => {
  child?.kill('SIGKILL');
  await fake.stop();
  await db.drop();
});

it('under the floor, scheduled full passes wait for the budget to refill, then resume; none fails', async () => {
  let log = '';
  child!.stderr!.on('data', (chunk) => (log += chunk));
  const lines = () => log.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { reason?: string; time: number; retryInMs?: number });
  const finished = () => lines().filter((l) => l.reason === 'pass-finished');
  // The first pass runs (nothing is known of the budget yet) and learns it is low. The waits are
  // generous for a loaded machine; what is asserted is the order and the child's own timings.
  await until('the first pass', () => (finished().length >= 1 ? true : undefined), 60_000);
  // From now on the account refills, as the controller (which saw it at its last answer) expects.
  refillingSince = Date.now();
  await until('the budget to be found below the floor', () => lines().find((l) => l.reason === 'heroku-budget-below-floor'), 60_000);
  await until('passes to resume', () => lines().find((l) => l.reason === 'heroku-budget-recovered'), 60_000);
  await until('a second pass', () => (finished().length >= 2 ? true : undefined), 60_000);

  const all = lines();
  const [first, second] = all.filter((l) => l.reason === 'pass-finished');
  const deferred = all.find((l) => l.reason === 'heroku-budget-below-floor')!;
  const recovered = all.find((l) => l.reason === 'heroku-budget-recovered')!;
  // In this order: the first pass, the wait said, the recovery, the second pass.
  expect(all.indexOf(first!)).toBeLessThan(all.indexOf(deferred));
  expect(all.indexOf(deferred)).toBeLessThan(all.indexOf(recovered));
  expect(all.indexOf(recovered)).toBeLessThan(all.indexOf(second!));
  // Refilling from about START_TOKENS to FLOOR takes about 7 s at 100 a second; ticks come every
  // second, yet no pass ran until the estimate had refilled: the wait the controller announced
  // was waited out in full, on its own clock (a slow machine only makes it longer).
  expect(deferred.retryInMs).toBeGreaterThan(0);
  expect(recovered.time - deferred.time).toBeGreaterThanOrEqual(deferred.retryInMs! - 50);
  expect(second!.time - first!.time).toBeGreaterThanOrEqual(deferred.retryInMs! - 50);
  // Said once per wait, not at every tick.
  expect(lines().filter((l) => l.reason === 'heroku-budget-below-floor').length).toBeLessThanOrEqual(finished().length);
  expect(lines().filter((l) => l.reason === 'pass-failed')).toEqual([]);
  expect(fake.rateLimitedRequests).toBe(0);
}, 300_000);
