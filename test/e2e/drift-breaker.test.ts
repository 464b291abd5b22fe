/**
 * Issue 3, the drift-loop breaker end to end: a competing writer deletes a bucket's encryption
 * before every pass. With FLAP_MAX_REPAIRS=2 the controller repairs it twice, then holds the
 * repair back and reports it as flapping, while other drift on the same bucket is still repaired.
 * Passes run in-process so every AWS call is counted exactly.
 */
import {
  DeleteBucketEncryptionCommand,
  GetBucketOwnershipControlsCommand,
  PutBucketOwnershipControlsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/runtime.js';
import { runCli } from '../support/cli.js';
import { bucketSnapshot, inProcessRuntime, mutationOps, planJson, reconcileJson, sql } from './drift-support.js';
import { SERVICE, createWorld, type World } from './stand-world.js';

let world: World;
let s3: S3Client;
let runtime: Runtime;
let addonId: string;
let bucket: string;

beforeAll(async () => {
  world = await createWorld();
  Object.assign(world.env, { FLAP_MAX_REPAIRS: '2', DEEP_CHECK_WINDOW: '0' });
  world.fake.addTeam({ name: 'acme' });
  world.fake.addApp({ name: 'acme-web', team: 'acme', region: 'us' });
  addonId = world.fake.addAddon({ app: 'acme-web', service: SERVICE, attachmentName: 'BUCKET' }).id;
  const linked = await runCli(['link', '--team', 'acme', '--role-arn', world.roleArn(world.accountA)], world.env);
  expect(linked.code).toBe(0);
  const first = await reconcileJson(world);
  expect(first.code).toBe(0);
  expect(first.json.totals.failed).toBe(0);
  s3 = await world.s3(world.accountA);
  runtime = await inProcessRuntime(world);
  bucket = (await runtime.store.resources.get(addonId))!.resourceName!;
}, 120_000);

afterAll(async () => {
  await runtime?.close();
  expect(world.fake.schemaViolations).toEqual([]);
  await world.stop();
});

/** The competing writer's move, then one in-process pass; returns the pass's mutating calls. */
async function passAfterCompetingWriter(): Promise<string[]> {
  await s3.send(new DeleteBucketEncryptionCommand({ Bucket: bucket }));
  runtime.recorder.reset();
  const pass = await runtime.controller.reconcileOnce();
  expect(pass.execution?.failed).toBe(0);
  return mutationOps(runtime);
}

const encryptionOf = async () => (await bucketSnapshot(s3, bucket)).encryption;

describe('drift-loop breaker (FLAP_MAX_REPAIRS=2)', () => {
  it('repairs the encryption twice, then stops and reports it as flapping', async () => {
    expect(await passAfterCompetingWriter(), 'pass 1 repairs').toEqual(['PutBucketEncryption']);
    expect(await encryptionOf()).toMatchObject({ Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] });
    expect(await passAfterCompetingWriter(), 'pass 2 repairs').toEqual(['PutBucketEncryption']);
    expect(await encryptionOf()).toMatchObject({ Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] });
    expect(await passAfterCompetingWriter(), 'pass 3 holds the repair back').toEqual([]);
    expect(await encryptionOf()).toEqual({ error: 'ServerSideEncryptionConfigurationNotFoundError' });

    // The journal shows exactly two repairs of the encryption (beside the one made at creation).
    const repairs = await sql<{ reason: string }>(
      world,
      `SELECT detail->>'reason' AS reason FROM journal WHERE action = 'put-bucket-encryption' AND phase = 'ok' AND addon_id = $1 ORDER BY id`,
      [addonId],
    );
    expect(repairs.map((r) => r.reason)).toEqual(['missing-bucket', 'encryption-changed', 'encryption-changed']);

    const plan = await planJson(world);
    expect(plan.code).toBe(1);
    expect(plan.json.drift.items).toMatchObject([
      { kind: 'encryption-changed', status: 'flapping', addonId, accountId: world.accountA, resource: bucket, field: 'encryption', expected: 'AES256', actual: null },
    ]);
    expect(plan.json.drift.items).toHaveLength(1);
    expect(plan.json.drift.summary.flapping).toBe(1);
  });

  it('other drift on the same bucket is still repaired while the encryption stays held back', async () => {
    await s3.send(new PutBucketOwnershipControlsCommand({ Bucket: bucket, OwnershipControls: { Rules: [{ ObjectOwnership: 'ObjectWriter' }] } }));
    const plan = await planJson(world);
    expect(plan.json.drift.items.map((i) => `${i.kind} ${i.status}`).sort()).toEqual(['encryption-changed flapping', 'ownership-changed repairable']);
    expect(plan.json.drift.summary.flapping).toBe(1);

    expect(await passAfterCompetingWriter()).toEqual(['PutBucketOwnershipControls']);
    const ownership = await s3.send(new GetBucketOwnershipControlsCommand({ Bucket: bucket }));
    expect(ownership.OwnershipControls?.Rules?.[0]?.ObjectOwnership).toBe('BucketOwnerEnforced');
    expect(await encryptionOf()).toEqual({ error: 'ServerSideEncryptionConfigurationNotFoundError' });

    // The CLI pass agrees: nothing fails, the flapping repair is reported as blocked, not applied.
    const run = await reconcileJson(world);
    expect(run.json.totals.failed).toBe(0);
    expect(run.json.actions).toMatchObject([{ kind: 'blocked', reason: 'flapping', resource: bucket, result: 'blocked' }]);
    expect(run.json.drift.summary.flapping).toBe(1);
    expect(await encryptionOf()).toEqual({ error: 'ServerSideEncryptionConfigurationNotFoundError' });
  });
});
