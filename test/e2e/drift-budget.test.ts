/**
 * Issue 3, what drift detection costs in steady state: with 200 managed add-ons in one account and
 * the default DEEP_CHECK_WINDOW (1h), one pass spends at most a tenth of the AWS calls that a
 * describe-everything-per-resource observer would, measured side by side on the same account.
 */
import {
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketOwnershipControlsCommand,
  GetBucketPolicyCommand,
  GetBucketTaggingCommand,
  GetPublicAccessBlockCommand,
  ListBucketsCommand,
} from '@aws-sdk/client-s3';
import { GetUserCommand, GetUserPolicyCommand, ListAccessKeysCommand, ListUserPoliciesCommand, ListUsersCommand } from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/runtime.js';
import { ApiCallRecorder } from '../../src/sinks/aws/api-calls.js';
import { mapLimit } from '../../src/util/map-limit.js';
import { runCli } from '../support/cli.js';
import { inProcessRuntime } from './drift-support.js';
import { SERVICE, createWorld, type World } from './stand-world.js';

const ADDONS = 200;
const APPS = 20;

let world: World;
let runtime: Runtime;
let convergeMs = 0;

beforeAll(async () => {
  world = await createWorld();
  // The default DEEP_CHECK_WINDOW (1h) and breaker: nothing set.
  world.fake.addTeam({ name: 'acme' });
  for (let a = 0; a < APPS; a++) world.fake.addApp({ name: `acme-app-${a}`, team: 'acme', region: 'us' });
  for (let i = 0; i < ADDONS; i++) {
    world.fake.addAddon({ app: `acme-app-${i % APPS}`, service: SERVICE, attachmentName: `BUCKET_${Math.floor(i / APPS)}` });
  }
  const linked = await runCli(['link', '--team', 'acme', '--role-arn', world.roleArn(world.accountA)], world.env);
  expect(linked.code).toBe(0);
  runtime = await inProcessRuntime(world);
  const started = Date.now();
  const created = await runtime.controller.reconcileOnce();
  convergeMs = Date.now() - started;
  expect(created.execution?.failed).toBe(0);
  expect(created.drift.summary.managed).toBe(ADDONS);
}, 300_000);

afterAll(async () => {
  await runtime?.close();
  expect(world.fake.schemaViolations).toEqual([]);
  await world.stop();
});

describe('steady-state cost of drift detection', () => {
  it(`with ${ADDONS} add-ons, one pass makes at most a tenth of the calls of describing every resource`, { timeout: 180_000 }, async () => {
    // The first pass after creation reads back everything it changed, which settles the deep checks.
    const settle = await runtime.controller.reconcileOnce();
    expect(settle.actions).toEqual([]);
    expect(settle.drift.summary).toMatchObject({ managed: ADDONS, inSync: ADDONS, drifted: 0 });

    runtime.recorder.reset();
    const steady = await runtime.controller.reconcileOnce();
    expect(steady.actions).toEqual([]);
    expect(runtime.recorder.mutations()).toEqual([]);
    const controllerCalls = runtime.recorder.calls.length;
    const byOperation = countBy(runtime.recorder.calls.map((c) => c.operation));

    // The baseline, actually made against the same account through instrumented SDK clients.
    const recorder = new ApiCallRecorder({ keepCalls: true });
    const s3 = await world.s3(world.accountA);
    const iam = await world.iam(world.accountA);
    recorder.instrument(s3.middlewareStack, world.accountA, 's3');
    recorder.instrument(iam.middlewareStack, world.accountA, 'iam');
    const buckets = ((await s3.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name!).filter((n) => n.startsWith('hs3-'));
    const users: string[] = [];
    let marker: string | undefined;
    do {
      const page = await iam.send(new ListUsersCommand({ PathPrefix: '/heroku-s3-controller/', ...(marker ? { Marker: marker } : {}) }));
      users.push(...(page.Users ?? []).map((u) => u.UserName!));
      marker = page.IsTruncated ? page.Marker : undefined;
    } while (marker);
    expect(buckets).toHaveLength(ADDONS);
    expect(users).toHaveLength(ADDONS);
    await mapLimit(buckets, 8, async (Bucket) => {
      await s3.send(new GetBucketTaggingCommand({ Bucket }));
      await s3.send(new GetPublicAccessBlockCommand({ Bucket }));
      await s3.send(new GetBucketEncryptionCommand({ Bucket }));
      await s3.send(new GetBucketOwnershipControlsCommand({ Bucket }));
      await s3.send(new GetBucketPolicyCommand({ Bucket }));
      await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket }));
    });
    await mapLimit(users, 8, async (UserName) => {
      await iam.send(new GetUserCommand({ UserName }));
      for (const PolicyName of (await iam.send(new ListUserPoliciesCommand({ UserName }))).PolicyNames ?? []) {
        await iam.send(new GetUserPolicyCommand({ UserName, PolicyName }));
      }
      await iam.send(new ListAccessKeysCommand({ UserName }));
    });
    const baselineCalls = recorder.calls.length;
    expect(recorder.calls.filter((c) => c.outcome === 'error')).toEqual([]);
    expect(baselineCalls).toBe(2 + ADDONS * 6 + ADDONS * 4);

    console.log(
      `drift budget: ${ADDONS} add-ons, one steady-state pass made ${controllerCalls} AWS calls ` +
        `(${Object.entries(byOperation).map(([op, n]) => `${op} ${n}`).join(', ')}) ` +
        `vs ${baselineCalls} to describe every resource (ratio 1:${Math.round(baselineCalls / Math.max(1, controllerCalls))}); ` +
        `creating all ${ADDONS} took ${(convergeMs / 1000).toFixed(1)} s`,
    );
    expect(controllerCalls).toBeGreaterThan(0);
    expect(controllerCalls).toBeLessThanOrEqual(baselineCalls / 10);
  });
});

function countBy(items: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items.sort()) out[item] = (out[item] ?? 0) + 1;
  return out;
}
