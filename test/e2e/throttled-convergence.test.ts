/**
 * Issue 7, the CI-sized throttling check (safety invariant 9, "throttling slows the loop; it never
 * fails it"): the controller reaches AWS through the throttling proxy, which lets each account make
 * 5 IAM mutations a second (as IAM does, at its low end) and answers more with IAM's own
 * `400 Throttling`. 50 new add-ons converge (passes until `plan` finds nothing to do) with not one
 * action failed, and the IAM mutations the proxy admitted never exceed 5 a second (+1 for timing
 * jitter at the window's edges).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/runtime.js';
import { runCli } from '../support/cli.js';
import { motoUrl } from '../support/stand.js';
import { ThrottlingProxy } from '../support/throttling-proxy.js';
import { inProcessRuntime, sql } from './drift-support.js';
import { SERVICE, createWorld, type World } from './stand-world.js';

const ADDONS = 50;
const APPS = 10;
const IAM_RATE = 5;
const THROTTLING = /Throttl|SlowDown|Rate exceeded|reduce your request rate/i;

let world: World;
let proxy: ThrottlingProxy;
let runtime: Runtime;

beforeAll(async () => {
  world = await createWorld();
  proxy = await ThrottlingProxy.start({
    target: motoUrl(),
    latencyMs: 2,
    limits: {
      iam: { mutations: { perSecond: IAM_RATE, burst: IAM_RATE } },
      s3: { mutations: { perSecond: 20, burst: 20 } },
    },
  });
  world.fake.addTeam({ name: 'acme' });
  for (let a = 0; a < APPS; a++) world.fake.addApp({ name: `acme-app-${a}`, team: 'acme', region: 'us' });
  for (let i = 0; i < ADDONS; i++) {
    world.fake.addAddon({ app: `acme-app-${i % APPS}`, service: SERVICE, attachmentName: `BUCKET_${Math.floor(i / APPS)}` });
  }
  const linked = await runCli(['link', '--team', 'acme', '--role-arn', world.roleArn(world.accountA)], world.env);
  expect(linked.code).toBe(0);
  // The controller paces both services as configured by default for these rates (the world turns
  // pacing off for moto): with S3 left unpaced, whether the SDK's five attempts outlast the
  // proxy's S3 limit depended on how the machine's load bunched the calls (one failure under load).
  runtime = await inProcessRuntime(world, { AWS_ENDPOINT_URL: proxy.url, AWS_IAM_MUTATIONS_PER_SECOND: String(IAM_RATE), AWS_S3_MUTATIONS_PER_SECOND: '20' });
}, 120_000);

afterAll(async () => {
  await runtime?.close();
  await proxy?.close();
  expect(world.fake.schemaViolations).toEqual([]);
  await world?.stop();
});

describe('convergence through a throttling AWS', () => {
  it(`${ADDONS} new add-ons converge with IAM limited to ${IAM_RATE}/s, and no action fails for throttling`, { timeout: 90_000 }, async () => {
    const started = Date.now();
    const failures: string[] = [];
    let passes = 0;
    for (; passes < 4; passes++) {
      const pass = await runtime.controller.reconcileOnce();
      expect(pass.accounts.every((a) => a.complete), 'every account read in full').toBe(true);
      for (const o of pass.execution?.outcomes ?? []) if (o.result === 'failed') failures.push(`${o.action.kind}: ${o.error}`);
      if (pass.actions.length === 0) break;
    }
    const seconds = (Date.now() - started) / 1000;
    const plan = await runtime.controller.reconcileOnce({ dryRun: true });
    expect(plan.actions, 'plan finds nothing left to do').toEqual([]);
    expect(plan.drift.summary).toMatchObject({ managed: ADDONS, inSync: ADDONS, drifted: 0 });

    const journalFailures = await sql<{ action: string; detail: { error?: string } }>(world, "SELECT action, detail FROM journal WHERE phase = 'failed'");
    expect(failures.filter((f) => THROTTLING.test(f)), 'actions failed by throttling').toEqual([]);
    expect(journalFailures.filter((f) => THROTTLING.test(f.detail.error ?? '')), 'journal failures caused by throttling').toEqual([]);
    expect(failures).toEqual([]);
    expect(journalFailures).toEqual([]);

    const stats = proxy.stats();
    const iamMutations = proxy.calls.filter((c) => c.service === 'iam' && c.mutation && !c.throttled).length;
    const peak = proxy.maxInWindow((c) => c.service === 'iam' && c.mutation, 1_000);
    const floor = (3 * ADDONS) / IAM_RATE;
    console.log(
      `throttled convergence: ${ADDONS} add-ons in ${seconds.toFixed(1)} s over ${passes + 1} pass(es) (floor 3N/R = ${floor} s); ` +
        `${iamMutations} IAM mutations, peak ${peak} in any 1 s; proxy throttled ${stats.throttled} of ${stats.total} calls ` +
        `(${JSON.stringify(stats.throttledByOperation)})`,
    );
    expect(iamMutations).toBe(3 * ADDONS);
    // The client-side pacing kept IAM mutations at the rate (the +1: a window may catch both ends).
    expect(peak).toBeLessThanOrEqual(IAM_RATE + 1);
    expect(seconds).toBeGreaterThanOrEqual(floor - 2);
  });
});
