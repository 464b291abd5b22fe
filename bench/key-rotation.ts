/**
 * Issue 16: 200 add-ons in 4 teams of 50, every key past KEY_MAX_AGE at once (KEY_MAX_AGE was just
 * switched on over an old fleet), rotated through moto behind the throttling proxy, with the
 * controller's own token buckets at their defaults (AWS_IAM_MUTATIONS_PER_SECOND 5,
 * AWS_S3_MUTATIONS_PER_SECOND 20) and the proxy answering AWS's `Throttling` above R_IAM (10) IAM
 * mutations a second. Passes run on an injected clock until every old key is deleted.
 *
 * Printed per pass: rotations started (new keys made), delivered, deactivated and deleted; the
 * apps of each team restarting because of rotation at that instant (≤ ROTATION_MAX_CONCURRENT_APPS,
 * 5); failed actions by kind (none may be throttling); the proxy's throttled answers (retried by
 * the SDK). Totals: passes, simulated time until every app holds its new key and until every old
 * key is gone, AWS calls (and Heroku requests) per rotation, and how often an operator had to
 * approve: when a pass trips a breaker (the rotation's deactivation breaker, or the mass-deletion
 * breaker of garbage collection), the benchmark approves as an operator would (`rotate approve
 * --account`, `gc approve --account`) and counts it. Beside it, in the same run, the baseline: the
 * same fleet rotated unpaced (ROTATION_MAX_CONCURRENT_APPS=10000, everything else as deployed).
 *
 * How it is measured:
 * - "Restarting" is read from Heroku's side, not from the controller's records: an app restarts
 *   when its config vars change (the new key delivered), and its rolling restart is taken to last
 *   ROTATION_OVERLAP (1h, what the controller waits before switching the old key off). At the end
 *   of each pass (the clock does not move during one) the apps per team whose key changed less
 *   than an overlap ago are counted.
 * - The keys' age: moto stamps keys with the real time, so the fleet is made old by setting the
 *   records' key creation times 91 days back in the store (the controller learns that time from
 *   AWS once and then ages keys from the record). The new keys are then fresh on the injected
 *   clock, which starts at the real time.
 * - Passes run when something can happen: the clock jumps, on a one-minute resync grid, to the
 *   next overlap or grace end (a pass in between has no rotation step to take). Two passes follow
 *   each pass that took a step, a minute apart: the first reads back what changed (an add-on whose
 *   key changed is deep-checked once more), the second measures what waiting costs (the rotations
 *   in flight and the add-ons still waiting for their turn have their keys listed every pass).
 *   "AWS calls per rotation at a 1-minute resync" adds that waiting pass's cost for every minute
 *   that was jumped over.
 *   BENCH_ROTATION_STEP (e.g. `5m`) runs a pass every step instead, without jumps.
 * - Deep checks are switched off (DEEP_CHECK_WINDOW=3650d) so that the calls counted are the
 *   rotation's and the inventory's; deep checks cost the same with or without a rotation.
 *
 * Run: `npx tsx bench/key-rotation.ts` (about 5 minutes; ROTATION_ADDONS, ROTATION_TEAMS, R_IAM,
 * R_IAM_READS (IAM reads a second at the proxy; default unlimited), BENCH_BASELINE=0 to skip the
 * baseline). Writes bench/results/key-rotation.json.
 */
import pg from 'pg';
import { ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { loadConfig } from '../src/config/config.js';
import { DEFAULT_MUTATION_RATES } from '../src/sinks/aws/mutation-rate-limit.js';
import { parseDuration } from '../src/util/duration.js';
import type { Action } from '../src/reconciler/actions.js';
import type { ActionOutcome } from '../src/reconciler/executor.js';
import { BlockedReason } from '../src/reasons.js';
import { configVarNames } from '../src/reconciler/spec.js';
import { createRuntime, type Runtime } from '../src/runtime.js';
import { silentLogger } from '../src/util/log.js';
import { ThrottlingProxy } from '../test/support/throttling-proxy.js';
import { startMoto } from './support/moto.js';
import { startPostgres } from './support/postgres.js';
import { machine, table, writeResult } from './support/report.js';
import { BenchWorld, THROTTLING } from './support/world.js';

const ADDONS = Number(process.env.ROTATION_ADDONS ?? 200);
const TEAMS = Number(process.env.ROTATION_TEAMS ?? 4);
const R_IAM = Number(process.env.R_IAM ?? 10);
const R_IAM_READS = process.env.R_IAM_READS ? Number(process.env.R_IAM_READS) : null;
const S3_RATE = Number(process.env.S3_RATE ?? 100);
const LATENCY_MS = Number(process.env.LATENCY_MS ?? 5);
const STEP_MS = process.env.BENCH_ROTATION_STEP ? parseDuration(process.env.BENCH_ROTATION_STEP) : null;
const BASELINE = process.env.BENCH_BASELINE !== '0';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const KEY_AGE_MS = 91 * DAY;
const MAX_PASSES = 1_000;
/** The inventory a pass reads whatever is rotating (compare.ts counts the same). */
const INVENTORY = new Set(['ListBuckets', 'GetAccountAuthorizationDetails', 'GetResources', 'GetAccountSummary', 'AssumeRole']);
const ATTACHMENT = 'BUCKET';

interface Variant {
  name: string;
  env: Record<string, string>;
}

const PACED: Variant = { name: 'paced (defaults)', env: {} };
const UNPACED: Variant = { name: 'unpaced baseline', env: { ROTATION_MAX_CONCURRENT_APPS: '10000' } };

interface PassRow {
  pass: number;
  /** Simulated minutes since the rotations came due. */
  atMin: number;
  /** step: a rotation step was applied; read-back: the pass after one; waiting: the one after that. */
  kind: 'step' | 'read-back' | 'waiting';
  started: number;
  delivered: number;
  deactivated: number;
  deleted: number;
  blocked: number;
  /** Breakers this pass tripped, approved after it as an operator would. */
  approvals: string[];
  /** Per team, apps whose key changed less than an overlap ago. */
  restarting: number[];
  failed: Record<string, number>;
  throttledAnswers: number;
  awsCalls: number;
  rotationCalls: number;
  listAccessKeys: number;
  herokuRequests: number;
  wallMs: number;
}

const minutes = (ms: number) => Math.round(ms / MINUTE);
const ceilToMinute = (ms: number) => Math.ceil(ms / MINUTE) * MINUTE;
const hhmm = (min: number) => `${Math.floor(min / 60)}h${String(min % 60).padStart(2, '0')}`;

/** A failed action's kind: the action, and whether AWS throttling caused it. */
function failureKind(o: ActionOutcome): string {
  return `${o.action.kind}: ${THROTTLING.test(o.error ?? '') ? 'throttling' : 'other'}`;
}

async function rotateFleet(variant: Variant, moto: { url: string }, databaseUrl: string) {
  const proxy = await ThrottlingProxy.start({ target: moto.url, latencyMs: LATENCY_MS });
  // The fleet is made quickly (proxy and controller unlimited); the rotation runs under AWS-like limits.
  const world = await BenchWorld.create({ databaseUrl, endpoint: proxy.url, teams: TEAMS, iamPerSecond: 1000, s3PerSecond: 1000 });
  let runtime: Runtime | undefined;
  try {
    const setupStarted = Date.now();
    const added = world.addAddons(ADDONS);
    const converged = await world.converge(6);
    if (converged.failed.length > 0) throw new Error(`bench: the fleet did not converge: ${converged.failed.slice(0, 3).map((o) => o.error).join('; ')}`);
    const setupS = (Date.now() - setupStarted) / 1000;
    console.log(`[${variant.name}] ${ADDONS} add-ons in ${TEAMS} teams converged in ${setupS.toFixed(1)} s`);

    proxy.setLimits({
      iam: { mutations: { perSecond: R_IAM, burst: R_IAM }, ...(R_IAM_READS ? { reads: { perSecond: R_IAM_READS, burst: R_IAM_READS } } : {}) },
      s3: { mutations: { perSecond: S3_RATE, burst: S3_RATE } },
    });
    // The controller as deployed: its own token buckets at their defaults.
    const env = { ...world.env, DEEP_CHECK_WINDOW: '3650d', ...variant.env };
    delete (env as Record<string, string | undefined>).AWS_IAM_MUTATIONS_PER_SECOND;
    delete (env as Record<string, string | undefined>).AWS_S3_MUTATIONS_PER_SECOND;
    const config = loadConfig(env);
    const t0 = Math.floor(Date.now() / MINUTE) * MINUTE;
    let now = t0;
    runtime = await createRuntime(config, silentLogger(), {
      keepAwsCalls: true,
      baseCredentials: { accessKeyId: 'controller', secretAccessKey: 'controller' },
      clock: () => new Date(now),
    });
    const rt = runtime;
    const teamOf = new Map(added.map((a) => [a.appId, world.teams.findIndex((t) => t.id === a.teamId)]));
    const varName = configVarNames(ATTACHMENT).accessKeyId;
    const held = new Map(added.map((a) => [a.appId, world.fake.configVars(a.appId)[varName]]));
    const originalKey = new Map((await rt.store.resources.listAll()).map((r) => [r.addonId, r.accessKeyId]));
    const changedAt = new Map<string, number>();

    // A steady pass first: nothing due yet; what the inventory costs.
    const steady = await measuredPass(rt, proxy, world);
    if (steady.pass.actions.length > 0) throw new Error(`bench: the steady pass had ${steady.pass.actions.length} actions (${steady.pass.actions.slice(0, 3).map((a) => a.kind)})`);
    // KEY_MAX_AGE comes: every key is 91 days old.
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    await db.query('UPDATE managed_resources SET access_key_created_at = $1 WHERE access_key_id IS NOT NULL', [new Date(t0 - KEY_AGE_MS)]);
    await db.end();
    proxy.reset();
    world.fake.resetRequests();

    const rows: PassRow[] = [];
    const overlapMs = config.rotation.overlapMs;
    let allDeliveredAt: number | null = null;
    let doneAt: number | null = null;
    let jumpedCalls = 0;
    const rotationStarted = Date.now();
    for (let p = 0; p < MAX_PASSES && doneAt === null; p++) {
      const m = await measuredPass(rt, proxy, world);
      const outcomes = m.pass.execution?.outcomes ?? [];
      const applied = (kind: string) => outcomes.filter((o) => o.action.kind === kind && o.result === 'applied').length;
      const failed: Record<string, number> = {};
      for (const o of outcomes.filter((x) => x.result === 'failed')) failed[failureKind(o)] = (failed[failureKind(o)] ?? 0) + 1;
      for (const a of m.pass.accounts.filter((x) => !x.complete)) failed[`observe: ${THROTTLING.test(a.error ?? '') ? 'throttling' : 'other'}`] = (failed[`observe: ${THROTTLING.test(a.error ?? '') ? 'throttling' : 'other'}`] ?? 0) + 1;
      for (const a of added) {
        const key = world.fake.configVars(a.appId)[varName];
        if (key !== held.get(a.appId)) {
          held.set(a.appId, key);
          changedAt.set(a.appId, now);
        }
      }
      const restarting = world.teams.map((_, t) => added.filter((a) => teamOf.get(a.appId) === t && (changedAt.get(a.appId) ?? -Infinity) > now - overlapMs).length);
      rows.push({
        pass: rows.length + 1,
        atMin: minutes(now - t0),
        kind: 'waiting',
        started: applied('create-rotation-key'),
        delivered: applied('mark-rotation-delivered'),
        deactivated: applied('deactivate-access-key'),
        deleted: outcomes.filter((o) => o.action.kind === 'delete-access-key' && o.action.rotation && o.result === 'applied').length,
        blocked: outcomes.filter((o) => o.result === 'blocked').length,
        approvals: await approveAsOperator(rt, m.pass.actions, new Date(now)),
        restarting,
        failed,
        throttledAnswers: m.throttled,
        awsCalls: m.awsCalls,
        rotationCalls: m.rotationCalls,
        listAccessKeys: m.listAccessKeys,
        herokuRequests: m.herokuRequests,
        wallMs: m.wallMs,
      });
      const row = rows[rows.length - 1]!;
      const previous = rows[rows.length - 2];
      row.kind = row.started + row.delivered + row.deactivated + row.deleted + row.blocked + row.approvals.length + Object.keys(row.failed).length > 0 ? 'step' : previous?.kind === 'step' ? 'read-back' : 'waiting';
      process.stderr.write(`[${variant.name}] pass ${row.pass} at +${hhmm(row.atMin)} (${row.kind}): ${row.started} started, ${row.deactivated} deactivated, ${row.deleted} deleted, ${row.blocked} blocked${row.approvals.length ? `, approved: ${row.approvals.join(', ')}` : ''}; ${(row.wallMs / 1000).toFixed(1)} s\n`);
      if (allDeliveredAt === null && added.every((a) => held.get(a.appId) !== originalKey.get(a.addonId))) allDeliveredAt = now;
      const rotations = await rt.store.rotations.list();
      const records = await rt.store.resources.listAll();
      const waiting = records.filter((r) => r.accessKeyId === originalKey.get(r.addonId)).length;
      if (rotations.length === 0 && waiting === 0) {
        doneAt = now;
        break;
      }
      // The next instant something can happen, on the resync grid.
      let next: number;
      if (STEP_MS !== null) next = now + STEP_MS;
      else if (row.kind !== 'waiting') next = now + MINUTE;
      else {
        const due = rotations.map((r) =>
          r.step === 'delivered' && r.deliveredAt ? r.deliveredAt.getTime() + (r.trigger === 'emergency' ? 0 : overlapMs) : r.step === 'deactivated' && r.deactivatedAt ? r.deactivatedAt.getTime() + config.rotation.deactivatedGraceMs : now,
        );
        next = Math.max(now + MINUTE, ceilToMinute(Math.min(...due, waiting > 0 && rotations.length === 0 ? now : Infinity)));
        // The minutes jumped over would each have run a pass like the waiting one just measured.
        jumpedCalls += row.awsCalls * Math.max(0, (next - now) / MINUTE - 1);
      }
      now = next;
    }
    const rotationWallS = (Date.now() - rotationStarted) / 1000;
    if (doneAt === null) throw new Error(`bench: [${variant.name}] rotations not done after ${MAX_PASSES} passes`);

    // Afterwards: every user holds exactly one key, active, the record's, and its app holds it.
    const clients = rt.connector.connect({ accountId: world.accountId, auth: (await rt.store.links.list())[0]!.auth });
    let wrong = 0;
    for (const r of await rt.store.resources.listAll()) {
      const keys = (await clients.iam.send(new ListAccessKeysCommand({ UserName: r.userName }))).AccessKeyMetadata ?? [];
      const app = added.find((a) => a.addonId === r.addonId)!;
      const ok = keys.length === 1 && keys[0]!.AccessKeyId === r.accessKeyId && keys[0]!.Status === 'Active' && r.accessKeyId !== originalKey.get(r.addonId) && world.fake.configVars(app.appId)[varName] === r.accessKeyId;
      if (!ok) wrong++;
    }
    const stats = proxy.stats();
    const byOperation = Object.fromEntries(Object.entries(stats.byOperation).sort(([a], [b]) => a.localeCompare(b)));
    const totalCalls = rows.reduce((s, r) => s + r.awsCalls, 0);
    const rotationCalls = rows.reduce((s, r) => s + r.rotationCalls, 0);
    const failed: Record<string, number> = {};
    for (const r of rows) for (const [k, v] of Object.entries(r.failed)) failed[k] = (failed[k] ?? 0) + v;
    const herokuByPath: Record<string, number> = {};
    for (const req of world.fake.requests) {
      const key = `${req.method} ${req.path.replace(/\/apps\/[^/]+\//, '/apps/{app}/').replace(/\/teams\/[^/]+\//, '/teams/{team}/')}`;
      herokuByPath[key] = (herokuByPath[key] ?? 0) + 1;
    }
    const configVarRequests = Object.entries(herokuByPath).filter(([k]) => k.includes('config-vars')).reduce((s, [, v]) => s + v, 0);
    return {
      variant: variant.name,
      settings: { ...config.rotation, keyMaxAgeMs: config.keyMaxAgeMs, controllerMutationRates: config.aws.mutationRates ?? DEFAULT_MUTATION_RATES },
      setupS,
      rows,
      passes: rows.length,
      stepPasses: rows.filter((r) => r.kind === 'step').length,
      steadyPassCalls: steady.awsCalls,
      allDeliveredMin: allDeliveredAt === null ? null : minutes(allDeliveredAt - t0),
      doneMin: minutes(doneAt - t0),
      maxRestartingPerTeam: Math.max(...rows.flatMap((r) => r.restarting)),
      failed,
      approvals: rows.flatMap((r) => r.approvals.map((a) => `${hhmm(r.atMin)} ${a}`)),
      failedByThrottling: Object.entries(failed).filter(([k]) => k.endsWith('throttling')).reduce((s, [, v]) => s + v, 0),
      throttledAnswers: stats.throttled,
      throttledByOperation: stats.throttledByOperation,
      awsCalls: totalCalls,
      awsCallsPerRotation: totalCalls / ADDONS,
      rotationCallsPerRotation: rotationCalls / ADDONS,
      awsCallsPerRotationAtMinuteResync: (totalCalls + jumpedCalls) / ADDONS,
      mutationsPerRotation: (['CreateAccessKey', 'UpdateAccessKey', 'DeleteAccessKey'] as const).map((op) => (stats.byOperation[`iam:${op}`] ?? 0) / ADDONS),
      byOperation,
      herokuRequests: world.fake.requests.length,
      herokuConfigVarRequestsPerRotation: configVarRequests / ADDONS,
      herokuByPath,
      iamMutationPeakPerSecond: proxy.maxInWindow((c) => c.service === 'iam' && c.mutation, 1_000),
      wrongAfterwards: wrong,
      rotationWallS,
    };
  } finally {
    await runtime?.close();
    await world.close();
    await proxy.close();
  }
}

/**
 * What an operator does when a pass trips a breaker: `rotate approve --account` for held
 * deactivations, `gc approve --account` for held deletions. Returns what was approved.
 */
async function approveAsOperator(rt: Runtime, actions: readonly Action[], at: Date): Promise<string[]> {
  const approved: string[] = [];
  for (const accountId of new Set(actions.filter((a) => a.kind === 'blocked' && a.reason === BlockedReason.RotationBreakerTripped).map((a) => a.accountId))) {
    approved.push(`rotate approve (${await rt.store.rotations.approve(accountId, at)} deactivations)`);
  }
  for (const breaker of await rt.store.gcBreakers.list()) {
    if (breaker.approvedAt) continue;
    await rt.store.gcBreakers.approve(breaker.accountId, at, breaker.planned);
    approved.push(`gc approve (${breaker.planned.length} add-ons)`);
  }
  return approved;
}

/** One pass, with what it cost at the proxy and at Heroku. */
async function measuredPass(rt: Runtime, proxy: ThrottlingProxy, world: BenchWorld) {
  const before = proxy.calls.length;
  const throttledBefore = proxy.stats().throttled;
  const herokuBefore = world.fake.requests.length;
  const started = Date.now();
  const pass = await rt.controller.reconcileOnce();
  const calls = proxy.calls.slice(before);
  return {
    pass,
    wallMs: Date.now() - started,
    awsCalls: calls.length,
    rotationCalls: calls.filter((c) => !INVENTORY.has(c.operation)).length,
    listAccessKeys: calls.filter((c) => c.operation === 'ListAccessKeys').length,
    throttled: proxy.stats().throttled - throttledBefore,
    herokuRequests: world.fake.requests.length - herokuBefore,
  };
}

type Result = Awaited<ReturnType<typeof rotateFleet>>;

function printPasses(result: Result): void {
  table(
    `${result.variant}: passes (t = simulated time since every key came due; kind: step = a rotation step applied, read-back and waiting = the two passes after it)`,
    result.rows.map((r) => ({
      pass: r.pass,
      t: hhmm(r.atMin),
      kind: r.kind,
      started: r.started,
      delivered: r.delivered,
      deactivated: r.deactivated,
      deleted: r.deleted,
      blocked: r.blocked,
      'restarting per team': r.restarting.join(' '),
      approved: r.approvals.join(', '),
      failed: Object.entries(r.failed).map(([k, v]) => `${k} ×${v}`).join(', ') || '0',
      'throttled answers': r.throttledAnswers,
      'AWS calls': r.awsCalls,
      ListAccessKeys: r.listAccessKeys,
      'Heroku req': r.herokuRequests,
      's': Math.round(r.wallMs / 100) / 10,
    })),
  );
}

async function main() {
  const benchStarted = Date.now();
  const [moto, postgres] = await Promise.all([startMoto(), startPostgres()]);
  const results: Result[] = [];
  try {
    for (const variant of BASELINE ? [PACED, UNPACED] : [PACED]) {
      const result = await rotateFleet(variant, moto, await postgres.createDatabase());
      printPasses(result);
      results.push(result);
    }
  } finally {
    await moto.stop();
    await postgres.stop();
  }
  const figure = (name: string, value: (r: Result) => string | number) => ({ figure: name, ...Object.fromEntries(results.map((r) => [r.variant, value(r)])) });
  const paced = results[0]!;
  const rows = [
    figure('ROTATION_MAX_CONCURRENT_APPS', (r) => r.settings.maxConcurrentApps),
    figure('max apps restarting at once, per team', (r) => r.maxRestartingPerTeam),
    figure('passes run (of which took a step)', (r) => `${r.passes} (${r.stepPasses})`),
    figure('passes at a 1-minute resync', (r) => r.doneMin + 1),
    figure('simulated time until every app holds its new key', (r) => (r.allDeliveredMin === null ? 'never' : hhmm(r.allDeliveredMin))),
    figure('simulated time until every old key is deleted', (r) => hhmm(r.doneMin)),
    figure('operator approvals needed', (r) => (r.approvals.length === 0 ? 0 : `${r.approvals.length}: ${r.approvals.join('; ')}`)),
    figure('failed actions (of which throttling)', (r) => `${Object.values(r.failed).reduce((s, v) => s + v, 0)} (${r.failedByThrottling})`),
    figure('throttled answers (retried by the SDK)', (r) => r.throttledAnswers),
    figure(`IAM mutations, peak in any 1 s (proxy allows ${R_IAM})`, (r) => r.iamMutationPeakPerSecond),
    figure('IAM mutations per rotation (Create, Update, Delete)', (r) => r.mutationsPerRotation.map((m) => Math.round(m * 100) / 100).join(', ')),
    figure('AWS calls per rotation, passes run', (r) => Math.round(r.awsCallsPerRotation * 10) / 10),
    figure('  of which not the inventory', (r) => Math.round(r.rotationCallsPerRotation * 10) / 10),
    figure('AWS calls per rotation at a 1-minute resync (est.)', (r) => Math.round(r.awsCallsPerRotationAtMinuteResync * 10) / 10),
    figure('AWS calls of a steady pass (no rotation)', (r) => r.steadyPassCalls),
    figure('Heroku config-var requests per rotation', (r) => Math.round(r.herokuConfigVarRequestsPerRotation * 100) / 100),
    figure('users with not exactly one active key (the new one) afterwards', (r) => r.wrongAfterwards),
    figure('wall time of the rotation passes, s', (r) => Math.round(r.rotationWallS)),
  ];
  table(`Rotation of ${ADDONS} add-ons in ${TEAMS} teams, all past KEY_MAX_AGE (IAM ${R_IAM}/s at the proxy${R_IAM_READS ? `, reads ${R_IAM_READS}/s` : ''}, controller at its defaults; +${LATENCY_MS} ms a call)`, rows);
  console.log(`\nAWS calls by operation (${paced.variant}): ${JSON.stringify(paced.byOperation)}`);
  console.log(`Heroku requests by path (${paced.variant}): ${JSON.stringify(paced.herokuByPath)}`);
  const file = writeResult('key-rotation', {
    addons: ADDONS,
    teams: TEAMS,
    proxy: { iamMutationsPerSecond: R_IAM, iamReadsPerSecond: R_IAM_READS, s3MutationsPerSecond: S3_RATE, latencyMs: LATENCY_MS },
    stepMs: STEP_MS,
    results,
    summary: rows,
    seconds: (Date.now() - benchStarted) / 1000,
  });
  console.log(`\nwritten ${file}; ${((Date.now() - benchStarted) / 1000).toFixed(0)} s; machine ${JSON.stringify(machine())}`);
  const bad = results.filter((r) => r.failedByThrottling > 0 || r.wrongAfterwards > 0);
  const overPaced = paced.maxRestartingPerTeam > paced.settings.maxConcurrentApps;
  if (bad.length > 0 || overPaced) {
    console.error(`bench: goals not met: ${overPaced ? `${paced.maxRestartingPerTeam} apps restarting at once in a team; ` : ''}${bad.map((r) => `${r.variant}: ${r.failedByThrottling} throttling failures, ${r.wrongAfterwards} users not settled`).join('; ')}`);
    process.exitCode = 1;
  }
}

await main();
