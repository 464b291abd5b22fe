/**
 * The executor on in-memory fakes of its ports (issue 14): each action goes through its kind's
 * handler with the value it carries, is journaled before and after, a failure stops only its
 * add-on's later actions and is classified (AccessDenied is terminal, in plain words), and a
 * destructive step re-reads ownership from the resource itself.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Action } from '../../src/reconciler/actions.js';
import { Executor } from '../../src/reconciler/executor.js';
import { BUILT_IN_KINDS } from '../../src/reconciler/kinds/bucket/kind.js';
import type { BucketHandle } from '../../src/reconciler/kinds/bucket/ports.js';
import { DESIRED_PUBLIC_ACCESS_BLOCK, TAG } from '../../src/reconciler/spec.js';
import { Store } from '../../src/store/store.js';
import type { ResourceInput } from '../../src/store/resource-store.js';
import { newKey } from '../store/backends.js';
import { MemoryCloud, MemoryConfigVars, awsError } from '../support/in-memory-ports.js';

const ACCOUNT = '111122223333';
let dir: string;
let store: Store;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'executor-unit-'));
  store = await Store.open({ dataDir: path.join(dir, 'db'), fernetKeys: [newKey()] });
});

afterAll(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;

/** A record for a fresh add-on id, so that tests sharing the store never meet. */
async function freshAddon(): Promise<{ addonId: string; bucket: string; userName: string }> {
  const addonId = `addon-${++counter}`;
  const record: ResourceInput = {
    addonId,
    addonName: addonId,
    accountId: ACCOUNT,
    teamId: 'team',
    appId: `app-${counter}`,
    plan: 's3-bucket:private',
    kind: 'bucket',
    resourceName: `hsc-${addonId}`,
    region: 'us-east-1',
    userName: `hsc-${addonId}`,
    accessKeyId: null,
    secretAccessKey: null,
    resourceCreateStartedAt: null,
    state: 'pending',
    lastError: null,
  };
  await store.resources.upsert(record);
  return { addonId, bucket: record.resourceName!, userName: record.userName };
}

function executor(cloud: MemoryCloud, options: { mayMutate?: () => boolean } = {}) {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) }));
  const run = new Executor({
    resources: store.resources,
    deliveries: store.deliveries,
    journal: store.journal,
    gcBreakers: store.gcBreakers,
    account: (accountId) => cloud.account({ accountId }),
    configVars: new MemoryConfigVars(),
    kinds: BUILT_IN_KINDS,
    instanceId: 'unit',
    logger,
    ...options,
  });
  return { run, lines };
}

const ours = (addonId: string) => ({ [TAG.instance]: 'unit', [TAG.addonId]: addonId });

describe('Executor on in-memory ports', () => {
  it('writes each bucket setting through its row, with the value the action carries, journaled before and after', async () => {
    const cloud = new MemoryCloud();
    const { addonId, bucket } = await freshAddon();
    const base = { addonId, accountId: ACCOUNT, bucket, region: 'us-east-1' };
    const actions: Action[] = [
      { ...base, kind: 'create-bucket', reason: 'missing-bucket', tags: ours(addonId) },
      { ...base, kind: 'put-public-access-block', reason: 'missing-bucket', desired: { ...DESIRED_PUBLIC_ACCESS_BLOCK, blockPublicAcls: false } },
      { ...base, kind: 'put-bucket-versioning', reason: 'missing-bucket', desired: true },
      { ...base, kind: 'put-bucket-policy', reason: 'missing-bucket', desired: '{"Version":"2012-10-17","Statement":[]}' },
    ];
    const summary = await executor(cloud).run.apply(actions);
    expect(summary).toMatchObject({ applied: 4, failed: 0 });
    const made = cloud.get(ACCOUNT).buckets.get(bucket)!;
    // Exactly what the actions said, not what the executor or the adapter would choose.
    expect(made.settings.publicAccessBlock).toEqual({ ...DESIRED_PUBLIC_ACCESS_BLOCK, blockPublicAcls: false });
    expect(made.settings.versioning).toBe('Enabled');
    expect(made.settings.policy).toBe('{"Version":"2012-10-17","Statement":[]}');
    const journal = (await store.journal.list({ addonId })).map((e) => `${e.action}:${e.phase}`);
    expect(journal).toEqual(['create-bucket:intent', 'create-bucket:ok', 'put-public-access-block:intent', 'put-public-access-block:ok', 'put-bucket-versioning:intent', 'put-bucket-versioning:ok', 'put-bucket-policy:intent', 'put-bucket-policy:ok']);
  });

  it('an AccessDenied stops that add-on only, is terminal, and says what to check', async () => {
    const cloud = new MemoryCloud();
    const denied = await freshAddon();
    const fine = await freshAddon();
    cloud.get('999900001111').failWith = awsError('AccessDenied', 403);
    const actions: Action[] = [
      { addonId: denied.addonId, accountId: '999900001111', bucket: denied.bucket, region: 'us-east-1', kind: 'create-bucket', reason: 'missing-bucket', tags: ours(denied.addonId) },
      { addonId: denied.addonId, accountId: '999900001111', bucket: denied.bucket, region: 'us-east-1', kind: 'put-bucket-versioning', reason: 'missing-bucket', desired: true },
      { addonId: fine.addonId, accountId: ACCOUNT, bucket: fine.bucket, region: 'us-east-1', kind: 'create-bucket', reason: 'missing-bucket', tags: ours(fine.addonId) },
    ];
    const { run, lines } = executor(cloud);
    const summary = await run.apply(actions);
    expect(summary.outcomes.map((o) => [o.action.addonId === fine.addonId ? 'fine' : 'denied', o.action.kind, o.result])).toEqual([
      ['denied', 'create-bucket', 'failed'],
      ['denied', 'put-bucket-versioning', 'skipped'],
      ['fine', 'create-bucket', 'applied'],
    ]);
    const logged = lines.find((l) => l.action === 'create-bucket' && l.addonId === denied.addonId)!;
    expect(logged).toMatchObject({ terminal: true, failure: 'access-denied' });
    expect(String(logged.msg)).toMatch(/refused for lack of permission \(AccessDenied\): check the linked role's policy/);
    expect((await store.resources.get(denied.addonId))?.state).toBe('error');
    // The add-on's last error says in plain words what kind of failure it was.
    expect((await store.resources.get(denied.addonId))?.lastError).toMatch(/^access denied: create-bucket: /);
    expect(summary.outcomes[0]).toMatchObject({ result: 'failed', failure: 'access-denied' });
  });

  it('does not delete a bucket whose tags say it is no longer this add-on\'s', async () => {
    const cloud = new MemoryCloud();
    const { addonId, bucket } = await freshAddon();
    await (cloud.account({ accountId: ACCOUNT }).resource('bucket', bucket, 'us-east-1') as BucketHandle).create({ [TAG.instance]: 'unit', [TAG.addonId]: 'someone-else' }, 'BucketOwnerEnforced');
    const summary = await executor(cloud).run.apply([{ addonId, accountId: ACCOUNT, bucket, region: 'us-east-1', kind: 'delete-bucket', reason: 'grace-expired' }]);
    expect(summary.outcomes[0]).toMatchObject({ result: 'failed' });
    expect(summary.outcomes[0]!.error).toMatch(/no longer carries this controller's ownership tags/);
    expect(cloud.get(ACCOUNT).buckets.has(bucket)).toBe(true);
    expect(cloud.writes.filter((w) => w.includes('DeleteBucket'))).toEqual([]);
  });

  it('not the leader: every action is skipped and nothing is written', async () => {
    const cloud = new MemoryCloud();
    const { addonId, bucket } = await freshAddon();
    const summary = await executor(cloud, { mayMutate: () => false }).run.apply([
      { addonId, accountId: ACCOUNT, bucket, region: 'us-east-1', kind: 'create-bucket', reason: 'missing-bucket', tags: ours(addonId) },
    ]);
    expect(summary).toMatchObject({ applied: 0, skipped: 1 });
    expect(cloud.writes).toEqual([]);
  });
});
