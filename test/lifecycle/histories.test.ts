/**
 * Issue 13, histories (DESIGN.md safety invariant 10): random sequences of what real teams, people
 * with access to the AWS account, and faults do, generated with fast-check, replayed step by step
 * on the real stand (moto, PostgreSQL, the schema-checked Heroku fake) with the controller running
 * between steps as `serve` runs it, and the invariants checked after every step against the
 * harness's own model (test/lifecycle/harness). A failure shrinks to a minimal history, printed as
 * a readable script with the seed and path that replay it; each one found became a named case
 * below.
 *
 * Budget: one fixed seed and one that changes every run (printed), FUZZ_RUNS histories each (CI
 * default 6) of up to FUZZ_STEPS items (default 16; an item is a step, or a key rotation with a
 * crash or someone's key change inside it, a few steps). `npm run fuzz -- --seed S --runs N` runs more.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HistoryWorld } from './harness/history-world.js';
import { describeHistory, historyArbitrary, type History } from './harness/steps.js';

const FIXED_SEED = 13;
const RUNS = Number(process.env.FUZZ_RUNS ?? 6);
const STEPS = Number(process.env.FUZZ_STEPS ?? 16);
/** A seed of its own for every run, unless FUZZ_SEED replays one. */
const ROTATING_SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 2_147_483_647;
/** Shrinking replays many histories: bounded, so a failure is reported within the CI budget. */
const TIME_LIMIT_MS = Number(process.env.FUZZ_TIME_LIMIT_MS ?? 8 * 60_000);

/** What the histories of one exploration did: steps that changed something, actions applied. */
const totals = { histories: 0, steps: new Map<string, number>(), actions: new Map<string, number>() };

function add(into: Map<string, number>, from: ReadonlyMap<string, number>): void {
  for (const [key, n] of from) into.set(key, (into.get(key) ?? 0) + n);
}

/** Replays one history; throws the first broken invariant, with the step it broke at. */
export async function runHistory(history: History): Promise<void> {
  const world = await HistoryWorld.start(history);
  try {
    await world.replay();
  } finally {
    if (process.env.HISTORY_LOG) process.stdout.write(`${world.log.join('\n')}\n`);
    totals.histories += 1;
    add(totals.steps, world.effective);
    add(totals.actions, world.applied);
    await world.stop();
  }
}

const line = (m: Map<string, number>) => [...m].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k} ${n}`).join(', ');

async function explore(seed: number): Promise<void> {
  const started = Date.now();
  totals.histories = 0;
  totals.steps.clear();
  totals.actions.clear();
  const outcome = await fc.check(fc.asyncProperty(historyArbitrary(STEPS), runHistory), {
    seed,
    numRuns: RUNS,
    interruptAfterTimeLimit: TIME_LIMIT_MS,
    ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH } : {}),
  });
  const steps = outcome.numRuns;
  process.stdout.write(
    `[histories] seed ${seed}: ${outcome.numRuns} histories generated, ${totals.histories} replayed (with shrinking), ${outcome.numShrinks} shrinks, ${Math.round((Date.now() - started) / 1000)} s${outcome.interrupted ? ' (time limit reached)' : ''}\n` +
      `[histories]   steps that changed something: ${line(totals.steps)}\n` +
      `[histories]   controller actions applied: ${line(totals.actions)}\n`,
  );
  if (outcome.failed) {
    const history = outcome.counterexample?.[0] as History | undefined;
    const cause = outcome.errorInstance instanceof Error ? outcome.errorInstance.message : String(outcome.errorInstance);
    throw new Error(
      [
        `a history broke an invariant (seed ${seed}, path ${outcome.counterexamplePath}; replay: npm run fuzz -- --seed ${seed} --path ${outcome.counterexamplePath}):`,
        history ? describeHistory(history) : '(no history)',
        `-> ${cause}`,
        `as data: ${JSON.stringify(history)}`,
      ].join('\n'),
    );
  }
  expect(steps).toBeGreaterThan(0);
}

/**
 * Histories the exploration found breaking an invariant, shrunk, each kept as a named case (with
 * what it found and what changed), so that it is replayed on every run.
 */
const FOUND: { name: string; history: History }[] = [
  {
    // Found with seed 4242 (issue 14): a plan changed to one of another kind (credentials) blocked
    // all work on the add-on, so a key someone deleted was never replaced and its app went without
    // credentials. Fixed: the add-on goes on as the kind it was made as, under its old plan.
    name: 'a bucket add-on whose plan now means credentials still gets a deleted key replaced',
    history: {
      deepCheckMinutes: 20,
      steps: [
        { t: 'create', addon: 'a1', app: 'web-1', plan: 'standard', as: 'BUCKET' },
        { t: 'tags', addon: 'a1', on: 'bucket', what: 'add-foreign' },
        { t: 'key', addon: 'a1', what: 'delete' },
        { t: 'create', addon: 'a1', app: 'web-1', plan: 'standard', as: 'BUCKET' },
        { t: 'plan', addon: 'a1', plan: 'role' },
      ],
    },
  },
  {
    // Found with seed 779: the deprovisioned add-on's user and bucket stayed for ever, since only
    // the lost store knew them. Fixed: users of ours nobody knows are recorded again and collected.
    name: 'an add-on deprovisioned while the store is lost is still collected',
    history: {
      deepCheckMinutes: 0,
      steps: [
        { t: 'create', addon: 'a1', app: 'web-1', plan: 'standard', as: 'BUCKET' },
        { t: 'deprovision', addon: 'a1' },
        { t: 'wipe-store' },
      ],
    },
  },
  {
    // Found with seed 779, in the harness: a key someone deletes is seen in the user's deep check,
    // so its replacement comes within DEEP_CHECK_WINDOW, not within three passes.
    name: 'a key deleted by someone else is replaced, and delivered, within the deep-check window',
    history: {
      deepCheckMinutes: 20,
      steps: [
        { t: 'create', addon: 'a1', app: 'web-1', plan: 'standard', as: 'BUCKET' },
        { t: 'key', addon: 'a1', what: 'delete' },
        { t: 'unlink', team: 'globex' },
      ],
    },
  },
  {
    // Found with seed 90210: after the store was lost, an add-on whose app had moved to a team of
    // another account got a second, empty bucket there, and the app new credentials for it, its
    // data left behind. Fixed: without a record, its user is looked for in the other linked
    // accounts, and the add-on is blocked there as it is with a record.
    name: 'an app moved to another account’s team keeps its bucket and credentials through a store loss',
    history: {
      deepCheckMinutes: 0,
      steps: [
        { t: 'create', addon: 'a1', app: 'api-1', plan: 'standard', as: 'BUCKET' },
        { t: 'move', app: 'api-1', team: 'acme' },
        { t: 'wipe-store' },
      ],
    },
  },
  {
    // Found by a scripted sweep of crash points over a teardown (not yet by a seed): the process
    // died after the user was deleted and before the bucket was, then the store was lost. Only the
    // bucket was left, and only users were looked for: it leaked. Fixed: buckets with this
    // instance's tag that no record names (the tagging API lists them) are recorded again too.
    name: 'a teardown cut short after the user was deleted, then the store lost: the bucket is still collected',
    history: {
      deepCheckMinutes: 0,
      steps: [
        { t: 'create', addon: 'a1', app: 'web-1', plan: 'standard', as: 'BUCKET' },
        { t: 'destroy', addon: 'a1' },
        { t: 'time', minutes: 2 },
        { t: 'crash', after: 5 },
        { t: 'wipe-store' },
      ],
    },
  },
  {
    // Found with seed 2468: a gone add-on's vars stayed, dead, on an app where another add-on took
    // the attachment name over while it was blocked (its bucket name squatted): the name counted
    // as the new add-on's, though it delivered nothing. Fixed: a blocked add-on holds no names.
    name: 'an attachment name taken over by a blocked add-on does not keep a gone add-on’s dead vars on the app',
    history: {
      deepCheckMinutes: 0,
      steps: [
        { t: 'squat', addon: 'a3', what: 'bucket-untagged' },
        { t: 'create', addon: 'a1', app: 'ops-1', plan: 'standard', as: 'UPLOADS' },
        { t: 'snapshot-store' },
        { t: 'partner-deprovision', addon: 'a1' },
        { t: 'create', addon: 'a1', app: 'web-1', plan: 'standard', as: 'BUCKET' },
        { t: 'create', addon: 'a3', app: 'ops-1', plan: 'standard', as: 'UPLOADS' },
      ],
    },
  },
  {
    // Found with a rotating seed (1134983635) once the harness checked the owning app after a
    // store loss too: the key the app held was adopted, and the add-on destroyed before the next
    // delivery check recorded what the app held, so its teardown knew no vars to remove. Fixed:
    // adopting a key records what the app holds of that attachment as delivered.
    name: 'an add-on destroyed right after its key was adopted from the app leaves no vars there',
    history: {
      deepCheckMinutes: 0,
      steps: [
        { t: 'create', addon: 'a1', app: 'web-1', plan: 'standard', as: 'BUCKET' },
        { t: 'wipe-store' },
        { t: 'destroy', addon: 'a1' },
      ],
    },
  },
];

/** One history with every kind of step, so that each is replayed on every run whatever the seeds draw. */
const EVERY_STEP: History = {
  deepCheckMinutes: 20,
  steps: [
    { t: 'create', addon: 'a1', app: 'web-1', plan: 'standard', as: 'BUCKET' },
    { t: 'create', addon: 'a2', app: 'api-1', plan: 'archive', as: 'ASSETS' },
    { t: 'squat', addon: 'a3', what: 'user-outside-path' },
    { t: 'create', addon: 'a3', app: 'web-2', plan: 'read-only', as: 'UPLOADS' },
    { t: 'attach', addon: 'a1', app: 'web-2', as: 'BUCKET' },
    { t: 'snapshot-store' },
    { t: 'plan', addon: 'a1', plan: 'archive' },
    { t: 'lookalike', what: 'bucket-other-instance' },
    { t: 'bucket-drift', addon: 'a2', what: 'public-access-block-off' },
    { t: 'change-event', addon: 'a2' },
    { t: 'user-drift', addon: 'a1', what: 'extra-policy' },
    { t: 'key', addon: 'a1', what: 'deactivate' },
    { t: 'change-event', addon: 'a1' },
    { t: 'rotate', addon: 'a2', compromised: false },
    { t: 'tags', addon: 'a2', on: 'bucket', what: 'add-foreign' },
    { t: 'var', app: 'web-1', what: 'set-foreign' },
    { t: 'fail-team', team: 'acme', status: 429 },
    { t: 'lag-tags', on: true },
    { t: 'webhook', addon: 'a1' },
    { t: 'rename', addon: 'a1', app: 'web-2', as: 'ASSETS' },
    { t: 'move', app: 'web-1', team: 'initech' },
    { t: 'age-keys', days: 85 },
    { t: 'crash', after: 3 },
    { t: 'lag-tags', on: false },
    { t: 'destroy', addon: 'a1' },
    { t: 'create', addon: 'a4', app: 'web-1', plan: 'versioned', as: 'BUCKET' },
    { t: 'partner-deprovision', addon: 'a2' },
    { t: 'cli-beside-serve' },
    { t: 'second-deployment' },
    { t: 'restore-store' },
    { t: 'var', app: 'web-1', what: 'delete-ours' },
    { t: 'wipe-store' },
    { t: 'unlink', team: 'globex' },
    { t: 'link', team: 'umbrella' },
    { t: 'move', app: 'far-1', team: 'acme' },
    { t: 'time', minutes: 60 },
    { t: 'key', addon: 'a4', what: 'add' },
    { t: 'rotate', addon: 'a4', compromised: true },
    { t: 'key', addon: 'a4', what: 'delete', newest: true },
    { t: 'attach', addon: 'a3', app: 'api-1', as: 'UPLOADS' },
    { t: 'detach', addon: 'a3', app: 'api-1' },
    { t: 'deprovision', addon: 'a4' },
    { t: 'fail-attachments' },
  ],
};

describe('a scripted history with every kind of step', () => {
  it('keeps every invariant', () => runHistory(EVERY_STEP), 10 * 60_000);
});

describe('histories found breaking an invariant, replayed', () => {
  for (const { name, history } of FOUND) it(name, () => runHistory(history), 5 * 60_000);
});

describe('generated histories keep every safety invariant', () => {
  // A history takes seconds; shrinking a failure, minutes: the time limit bounds both.
  const timeout = TIME_LIMIT_MS + 10 * 60_000;
  it(`fixed seed ${FIXED_SEED}`, () => explore(FIXED_SEED), timeout);
  it(`rotating seed ${ROTATING_SEED}`, () => explore(ROTATING_SEED), timeout);
});
