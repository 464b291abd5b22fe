/**
 * Choosing and queueing key rotations as the CLI and the API share them, on in-memory fakes: what
 * a selection takes in and leaves out, the one-line refusals, all-or-none writes, and a team
 * admin kept to their own teams. (The CLI and API tests run the same code on PostgreSQL.)
 */
import { describe, expect, it } from 'vitest';
import {
  OutsideTeamsError,
  planRotations,
  requestRotations,
  RotationRefusedError,
  RotationTargetNotFoundError,
  rotationViews,
  type RotationDeps,
  type RotationWrites,
} from '../../src/admin/rotations.js';
import { AppNotFoundError } from '../../src/heroku/apps.js';
import type { RotationRequest } from '../../src/store/rotation-store.js';
import type { DeliveryRecord, JournalEntry, KeyRotation, Link, ResourceRecord } from '../../src/store/types.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const DAY = 86_400_000;
const ACCOUNT = '111122223333';
const TIMING = { overlapMs: 3_600_000, deactivatedGraceMs: DAY };

function record(addonId: string, o: Partial<ResourceRecord> = {}): ResourceRecord {
  return {
    addonId,
    addonName: `bucket-${addonId}`,
    accountId: ACCOUNT,
    teamId: 't-acme',
    appId: `app-${addonId}`,
    plan: 's3-bucket:private',
    kind: 'bucket',
    resourceName: `hsc-${addonId}`,
    region: 'us-east-1',
    userName: `hsc-${addonId}`,
    accessKeyId: `AKIA${addonId.toUpperCase()}`,
    secretAccessKey: 'secret',
    accessKeyCreatedAt: new Date(NOW.getTime() - 30 * DAY),
    resourceCreateStartedAt: null,
    deepCheckedAt: null,
    exposureCheckedAt: null,
    orphan: null,
    teardownStartedAt: null,
    state: 'ready',
    lastError: null,
    createdAt: NOW,
    updatedAt: NOW,
    ...o,
  };
}

function rotation(addonId: string, o: Partial<KeyRotation> = {}): KeyRotation {
  return {
    addonId,
    accountId: ACCOUNT,
    oldAccessKeyId: `AKIA${addonId.toUpperCase()}-OLD`,
    newAccessKeyId: null,
    trigger: 'age',
    step: 'creating',
    requestedAt: NOW,
    requestedBy: 'controller',
    stepAt: NOW,
    deliveredAt: null,
    deactivatedAt: null,
    approvedAt: null,
    ...o,
  };
}

const link = (teamId: string, teamName: string): Link => ({
  teamId,
  teamName,
  accountId: ACCOUNT,
  region: null,
  auth: { kind: 'role', roleArn: `arn:aws:iam::${ACCOUNT}:role/x`, externalId: null },
  createdAt: NOW,
  updatedAt: NOW,
});

function world(o: { records: ResourceRecord[]; rotations?: KeyRotation[]; deliveries?: Partial<DeliveryRecord>[]; links?: Link[]; requestAnswer?: boolean }) {
  const links = o.links ?? [link('t-acme', 'acme')];
  const journal: JournalEntry[] = [];
  const requested: RotationRequest[] = [];
  const resumed: string[] = [];
  const escalated: string[] = [];
  const deps: RotationDeps = {
    store: {
      resources: { listAll: async () => o.records },
      deliveries: { listAll: async () => (o.deliveries ?? []) as DeliveryRecord[] },
      links: { list: async () => links, findByTeam: async (t) => links.find((l) => l.teamId === t || l.teamName === t) ?? null },
      rotations: { list: async () => o.rotations ?? [] },
      // Writes land only when the whole transaction does.
      transaction: async (fn) => {
        const staged = { journal: [] as JournalEntry[], requested: [] as RotationRequest[], resumed: [] as string[], escalated: [] as string[] };
        const tx: RotationWrites = {
          rotations: {
            request: async (rs) => (o.requestAnswer ?? true) && (staged.requested.push(...rs), true),
            resume: async (id) => (staged.resumed.push(id), true),
            escalate: async (id) => (staged.escalated.push(id), true),
            approve: async () => 0,
          },
          journal: { append: async (e) => staged.journal.push(e) },
        };
        const result = await fn(tx);
        journal.push(...staged.journal);
        requested.push(...staged.requested);
        resumed.push(...staged.resumed);
        escalated.push(...staged.escalated);
        return result;
      },
    },
    resolveApp: async (app) => {
      if (app === 'web') return { id: 'app-web', name: 'web' };
      throw new AppNotFoundError(`Heroku app "${app}" was not found`);
    },
    instanceId: 'test',
    timing: TIMING,
  };
  return { deps, journal, requested, resumed, escalated };
}

describe('planRotations', () => {
  it('an app takes in its own add-ons and those attached to it; orphans stay out, unlinked teams and keyless add-ons are named; a waiting rotation is resumed only when named alone', async () => {
    const w = world({
      records: [
        record('web', { appId: 'app-web' }),
        record('shared', { appId: 'app-other' }),
        record('gone', { appId: 'app-web', orphan: { since: NOW, reason: 'orphaned', deleteAfter: NOW } }),
        record('fresh', { appId: 'app-web', accessKeyId: null, secretAccessKey: null }),
        record('moved', { appId: 'app-web', teamId: 't-unlinked' }),
        record('held', { appId: 'app-web', accessKeyId: 'AKIAHELD-NEW' }),
      ],
      deliveries: [{ addonId: 'shared', appId: 'app-web', attachmentId: 'att' }],
      rotations: [rotation('held', { step: 'reactivated', trigger: 'on-demand', oldAccessKeyId: 'AKIAHELD-OLD' })],
    });
    const plan = await planRotations(w.deps, { by: 'app', value: 'web' }, { compromised: false }, NOW);
    expect(plan.rotations.map((r) => [r.addonId, r.step, r.trigger, r.accessKeyId, r.appName])).toEqual([
      ['web', 'request', 'on-demand', 'AKIAWEB', 'web'],
      ['shared', 'request', 'on-demand', 'AKIASHARED', null],
    ]);
    expect(plan.rotations[0]).toMatchObject({ keyAgeSeconds: 30 * 86_400, effect: 'new key to every app; old key deactivated after 1 h overlap; deleted 1 d later unless used' });
    expect(plan.skipped.map((s) => [s.addonId, s.reason])).toEqual([
      ['fresh', expect.stringMatching(/no access key yet/)],
      ['moved', expect.stringMatching(/team is not linked/)],
      ['held', 'its rotation stopped because the old key was still in use: resume it alone, with --addon'],
    ]);

    await requestRotations(w.deps, plan, 'cli:ada', NOW);
    expect(w.requested.map((r) => [r.addonId, r.oldAccessKeyId, r.requestedBy])).toEqual([
      ['web', 'AKIAWEB', 'cli:ada'],
      ['shared', 'AKIASHARED', 'cli:ada'],
    ]);
    expect(w.resumed).toEqual([]);
    const alone = await planRotations(w.deps, { by: 'addon', value: 'held' }, { compromised: false }, NOW);
    expect(alone.rotations.map((r) => [r.addonId, r.step, r.accessKeyId])).toEqual([['held', 'resume', 'AKIAHELD-OLD']]);
    await requestRotations(w.deps, alone, 'cli:ada', NOW);
    expect(w.resumed).toEqual(['held']);
    expect(w.journal.map((e) => [e.action, e.addonId, e.resource, e.detail?.actor])).toEqual([
      ['rotate-requested', 'web', 'AKIAWEB', 'cli:ada'],
      ['rotate-requested', 'shared', 'AKIASHARED', 'cli:ada'],
      ['rotate-resumed', 'held', 'AKIAHELD-OLD', 'cli:ada'],
    ]);
    expect(JSON.stringify(w.journal)).not.toContain('secret');
  });

  it('refuses in one line: an unknown app, an orphan, several rotations in flight, nothing left to rotate', async () => {
    const refusal = (p: Promise<unknown>) => p.then(() => null, (err: Error) => err);
    const w = world({
      records: ['a', 'b', 'c', 'd', 'e'].map((id) => record(id)).concat(record('gone', { orphan: { since: NOW, reason: 'deprovisioned', deleteAfter: NOW } })),
      rotations: ['a', 'b', 'c', 'd'].map((id) => rotation(id)),
    });
    const unknown = await refusal(planRotations(w.deps, { by: 'app', value: 'nope' }, { compromised: false }, NOW));
    expect(unknown).toBeInstanceOf(RotationTargetNotFoundError);
    expect(unknown!.message).toBe('Heroku app "nope" was not found');
    const gone = await refusal(planRotations(w.deps, { by: 'addon', value: 'bucket-gone' }, { compromised: false }, NOW));
    expect(gone).toBeInstanceOf(RotationRefusedError);
    expect(gone!.message).toMatch(/^add-on bucket-gone is no longer wanted \(orphaned since .*\): its key goes with its resources, nothing to rotate$/);
    const busy = await refusal(planRotations(w.deps, { by: 'team', value: 'acme' }, { compromised: false }, NOW));
    expect(busy).toBeInstanceOf(RotationRefusedError);
    expect(busy!.message).toBe('4 of the selected add-ons already have a rotation in flight (bucket-a, bucket-b, bucket-c and 1 more): nothing changed; `heroku-s3-controller rotations` shows their progress');
    const none = world({ records: [record('x', { accessKeyId: null, secretAccessKey: null })] });
    const keyless = await refusal(planRotations(none.deps, { by: 'account', value: ACCOUNT }, { compromised: false }, NOW));
    expect(keyless!.message).toBe(`none of the 1 add-on(s) of AWS account ${ACCOUNT} can be rotated: it has no access key yet (its first pass makes one); nothing changed`);
    for (const err of [unknown, gone, busy, keyless]) expect(err!.message).not.toContain('\n');
  });

  it('--compromised escalates rotations in flight (a leaked key does not wait its turn), but not one that already is an emergency', async () => {
    const w = world({
      records: [record('queued'), record('overlap', { accessKeyId: 'AKIANEW' }), record('fresh')],
      rotations: [rotation('queued', { step: 'requested', trigger: 'on-demand', oldAccessKeyId: 'AKIAQUEUED' }), rotation('overlap', { step: 'delivered', trigger: 'age', oldAccessKeyId: 'AKIAOVERLAP' })],
    });
    const plan = await planRotations(w.deps, { by: 'team', value: 'acme' }, { compromised: true }, NOW);
    expect(plan.rotations.map((r) => [r.addonId, r.step, r.trigger, r.accessKeyId])).toEqual([
      ['queued', 'escalate', 'emergency', 'AKIAQUEUED'],
      ['overlap', 'escalate', 'emergency', 'AKIAOVERLAP'],
      ['fresh', 'request', 'emergency', 'AKIAFRESH'],
    ]);
    await requestRotations(w.deps, plan, 'cli:ada', NOW);
    expect(w.escalated).toEqual(['queued', 'overlap']);
    expect(w.journal.map((e) => [e.action, e.addonId])).toEqual([
      ['rotate-escalated', 'queued'],
      ['rotate-escalated', 'overlap'],
      ['rotate-requested', 'fresh'],
    ]);
    const again = world({ records: [record('queued')], rotations: [rotation('queued', { trigger: 'emergency', oldAccessKeyId: 'AKIAQUEUED' })] });
    await expect(planRotations(again.deps, { by: 'addon', value: 'queued' }, { compromised: true }, NOW)).rejects.toThrow(/already has a rotation in flight/);
  });

  it('writes nothing when anything changed since the plan (another rotation started, a key replaced)', async () => {
    const w = world({ records: [record('a'), record('b')], requestAnswer: false });
    const plan = await planRotations(w.deps, { by: 'team', value: 'acme' }, { compromised: true }, NOW);
    expect(plan.rotations.map((r) => r.trigger)).toEqual(['emergency', 'emergency']);
    await expect(requestRotations(w.deps, plan, 'token:ops', NOW)).rejects.toThrow(/changed while this was asked: nothing changed/);
    expect(w.journal).toEqual([]);
    expect(w.requested).toEqual([]);
  });

  it('keeps a team admin to the add-ons of their own teams', async () => {
    const w = world({ records: [record('mine'), record('theirs', { teamId: 't-other' })], links: [link('t-acme', 'acme'), link('t-other', 'other')] });
    const teams = new Set(['t-acme']);
    for (const selection of [{ by: 'addon', value: 'theirs' }, { by: 'account', value: ACCOUNT }, { by: 'team', value: 'other' }] as const) {
      await expect(planRotations(w.deps, selection, { compromised: false, teams }, NOW)).rejects.toBeInstanceOf(OutsideTeamsError);
    }
    expect((await planRotations(w.deps, { by: 'team', value: 'acme' }, { compromised: false, teams }, NOW)).rotations.map((r) => r.addonId)).toEqual(['mine']);
  });
});

describe('rotationViews', () => {
  it('says what each rotation waits for, and shows a team admin only their teams\'', async () => {
    const w = world({
      records: [record('a'), record('b', { teamId: 't-other' }), record('c')],
      rotations: [
        rotation('a', { step: 'delivered', trigger: 'age', deliveredAt: NOW }),
        rotation('b', { step: 'deactivated', trigger: 'emergency', deactivatedAt: NOW, approvedAt: NOW }),
        rotation('c', { step: 'reactivated', trigger: 'on-demand', approvedAt: NOW }),
      ],
    });
    const views = await rotationViews(w.deps.store, TIMING);
    expect(views.map((v) => [v.addonId, v.approved, v.next])).toEqual([
      ['a', false, `the old key is deactivated once the overlap ends (2026-06-01T01:00:00.000Z), unless the rotation breaker holds it (\`heroku-s3-controller rotate approve --account ${ACCOUNT}\`)`],
      ['b', true, 'the old key is deleted once its grace ends (2026-06-02T00:00:00.000Z)'],
      ['c', true, 'the old key was used after its deactivation and is active again: find what still uses it, then `heroku-s3-controller rotate --addon bucket-c --yes`'],
    ]);
    expect((await rotationViews(w.deps.store, TIMING, new Set(['t-other']))).map((v) => v.addonId)).toEqual(['b']);
  });
});
