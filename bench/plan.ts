/**
 * `plan()` time for 10k and 100k resources (goal: under 1 s at 100k), and the process's RSS
 * holding a 10k-resource world in memory the way a pass does (desired state, observed inventory,
 * records, deliveries) plus the plan and the drift report (goal: under 300 MB).
 *
 * Each world is "in sync" (every add-on's bucket, user, key and deliveries as the controller
 * leaves them, every resource deep-checked this pass), the most expensive case for plan(): every
 * attribute of every resource is compared; one add-on in 100 has drifted (a bucket setting), so
 * the repair path runs too. Run: `npx tsx bench/plan.ts`.
 */
import { randomUUID } from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import { plan } from '../src/reconciler/plan.js';
import { buildDriftReport } from '../src/reconciler/drift-report.js';
import { DEFAULT_PROFILES } from '../src/reconciler/profiles.js';
import type { ObservedBucket, ObservedUser, PlanInput } from '../src/reconciler/model.js';
import { bucketNameFor, bucketTagsFor, ownershipTags, userNameFor, userPolicyDocument, USER_POLICY_NAME } from '../src/reconciler/spec.js';
import { ACCOUNT, NOW, POLICY, TEAM, account, addon as fixtureAddon, deliveriesFor, link, record, syncedSettings } from '../test/reconciler/fixtures.js';
import { machine, rssMb, table, writeResult } from './support/report.js';

const GOAL_PLAN_MS_AT_100K = 1_000;
const GOAL_RSS_MB_AT_10K = 300;

/** `deepEvery`: one add-on in this many has its settings and keys read this pass (1: all). */
function world(n: number, deepEvery = 1): PlanInput {
  const addons = [];
  const buckets: ObservedBucket[] = [];
  const users: ObservedUser[] = [];
  const records = new Map();
  const deliveries = [];
  for (let i = 0; i < n; i++) {
    const addonId = randomUUID();
    const appId = randomUUID();
    const bucket = bucketNameFor(POLICY, ACCOUNT, addonId);
    const user = userNameFor(POLICY, addonId);
    const a = fixtureAddon({
      addonId,
      addonName: `s3-bucket-${i}`,
      appId,
      appName: `app-${i}`,
      attachments: [{ id: randomUUID(), name: 'BUCKET', appId, appName: `app-${i}` }],
    });
    const r = record({ addonId, addonName: a.addonName, appId, resourceName: bucket, userName: user, accessKeyId: `AKIA${String(i).padStart(16, '0')}`, deepCheckedAt: null });
    const deep = i % deepEvery === 0;
    const settings = deep ? syncedSettings(bucket) : null;
    if (settings && i % 100 === 0) settings.encryption = null; // one in 100 drifted (of those read)
    addons.push(a);
    buckets.push({ name: bucket, creationDate: NOW, tags: bucketTagsFor(POLICY, a), settings });
    users.push({ userName: user, path: POLICY.iamPath, tags: ownershipTags(POLICY, a), inlinePolicies: { [USER_POLICY_NAME]: userPolicyDocument(bucket) }, accessKeys: deep ? [{ accessKeyId: r.accessKeyId!, status: 'Active' }] : null });
    records.set(addonId, r);
    deliveries.push(...deliveriesFor(a, r));
  }
  return {
    links: [link()],
    desired: [{ teamId: TEAM, teamName: 'acme', complete: true, error: null, addons, deprovisioned: [] }],
    observed: new Map([[ACCOUNT, account(buckets, users)]]),
    records,
    deliveries,
    configVars: new Map(),
    recentRepairs: new Map(),
    breakers: new Map(),
    now: NOW,
  };
}

const limits = { maxRepairs: 3, gc: { mode: 'enabled' as const, graceDeprovisionedMs: 300_000, graceOrphanedMs: 86_400_000, maxDeletions: 10, maxDeletionRatio: 0.5, emptyKeysPerPass: 10_000 }, profiles: DEFAULT_PROFILES };

/** A full collection, so each world is measured alone (not beside the garbage of the last one). */
v8.setFlagsFromString('--expose-gc');
const collect = vm.runInNewContext('gc') as () => void;

function timePlan(input: PlanInput, runs: number) {
  const times: number[] = [];
  let actions = 0;
  for (let r = 0; r < runs; r++) {
    const started = performance.now();
    actions = plan(input, POLICY, limits).length;
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { medianMs: times[Math.floor(times.length / 2)]!, maxMs: times[times.length - 1]!, actions };
}

async function main() {
  const baseRss = rssMb();
  // RSS: a 10k world held in memory, planned and reported, as one pass holds it.
  const before = rssMb();
  const input = world(10_000);
  const actions = plan(input, POLICY, limits);
  const report = buildDriftReport(input.desired, actions, NOW, { records: [...input.records.values()], links: input.links, gcMode: 'enabled' });
  const rss = rssMb();
  table('process RSS with 10k managed resources in memory', [
    { 'RSS at start MB': baseRss, 'RSS holding the 10k world MB': rss, 'world only (delta) MB': Math.round((rss - before) * 10) / 10, goal: `< ${GOAL_RSS_MB_AT_10K} MB`, met: rss < GOAL_RSS_MB_AT_10K ? 'yes' : 'NO', driftItems: report.items.length },
  ]);
  const rows = [];
  const results: Record<string, unknown>[] = [];
  // Worst case: every resource deep-checked this pass (every setting and key compared), as on the
  // first pass after a start or a DEEP_CHECK_WINDOW of 0. Steady state: one in 60 deep-checked (one
  // pass a minute, the default 1 h window); tags, users and inline policies are compared for all.
  for (const [label, deepEvery] of [['all deep-checked', 1], ['steady (1 in 60 deep)', 60]] as const) {
    for (const n of [10_000, 100_000]) {
      collect();
      const input = world(n, deepEvery);
      timePlan(input, 1); // warm-up (JIT)
      const t = timePlan(input, n >= 100_000 ? 3 : 5);
      const goal = n === 100_000 ? `< ${GOAL_PLAN_MS_AT_100K} ms` : '';
      rows.push({ case: label, resources: n, 'plan() median ms': Math.round(t.medianMs), 'max ms': Math.round(t.maxMs), actions: t.actions, goal, met: n === 100_000 ? (t.medianMs < GOAL_PLAN_MS_AT_100K ? 'yes' : 'NO') : '' });
      results.push({ case: label, deepEvery, resources: n, medianMs: t.medianMs, maxMs: t.maxMs, actions: t.actions });
    }
  }
  table('plan() on an in-sync world (1 in 100 of the deep-checked add-ons drifted)', rows);

  const file = writeResult('plan', { plan: results, rss: { resources: 10_000, rssMb: rss, baselineRssMb: baseRss, goalMb: GOAL_RSS_MB_AT_10K }, goals: { planMsAt100k: GOAL_PLAN_MS_AT_100K, rssMbAt10k: GOAL_RSS_MB_AT_10K } });
  console.log(`\nwritten ${file}; machine ${JSON.stringify(machine())}`);
}

await main();
