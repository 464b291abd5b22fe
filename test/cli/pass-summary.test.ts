/**
 * `reconcile -o json` reports each action's outcome with, for a failure, its kind from the one
 * error classification (util/error-class.ts): whether retrying soon can help.
 */
import { describe, expect, it } from 'vitest';
import { accountLine, changeEventsView, passSummary } from '../../src/cli/reconcile-commands.js';
import type { Action } from '../../src/reconciler/actions.js';
import { buildDriftReport } from '../../src/reconciler/drift-report.js';

const NOW = new Date('2026-12-05T00:00:00Z');
const create: Action = { addonId: 'a1', accountId: '111122223333', kind: 'create-user', reason: 'missing-user', userName: 'hsc-a1', path: '/hsc/', tags: {} };
const key: Action = { addonId: 'a2', accountId: '111122223333', kind: 'create-access-key', reason: 'missing-key', userName: 'hsc-a2' };

function summary(outcomes: Parameters<typeof passSummary>[0]['execution']) {
  return passSummary({ startedAt: NOW, durationMs: 5, teams: [], accounts: [], actions: [create, key], drift: buildDriftReport([], [], NOW), managed: new Map(), keysCreatedAt: new Map(), rotations: [], rotationsDue: new Map(), checked: { full: [], exposure: [] }, execution: outcomes });
}

describe('the JSON summary of a pass', () => {
  it('gives a failed action its failure kind beside the error, and none to the others', () => {
    const json = summary({
      outcomes: [
        { action: create, result: 'failed', error: 'AccessDenied: not authorized to perform iam:CreateUser', failure: 'access-denied' },
        { action: key, result: 'applied' },
      ],
      applied: 1,
      failed: 1,
      blocked: 0,
      skipped: 0,
    });
    expect(json.actions).toEqual([
      { kind: 'create-user', reason: 'missing-user', accountId: '111122223333', addonId: 'a1', resource: 'hsc-a1', result: 'failed', error: 'AccessDenied: not authorized to perform iam:CreateUser', failure: 'access-denied' },
      { kind: 'create-access-key', reason: 'missing-key', accountId: '111122223333', addonId: 'a2', resource: 'hsc-a2', result: 'applied' },
    ]);
  });

  it('tells each completely read account\'s delivered keys against KEY_MAX_AGE; an account not read has none', () => {
    const DAY = 86_400_000;
    const account = (accountId: string, complete: boolean) => ({ accountId, complete, error: complete ? null : 'AccessDenied', resources: new Map(), users: new Map(), iamUsersInAccount: 0, iamUserQuota: null });
    const json = passSummary(
      {
        startedAt: NOW, durationMs: 5, teams: [], actions: [], drift: buildDriftReport([], [], NOW), managed: new Map(), execution: null, rotations: [], rotationsDue: new Map(), checked: { full: [], exposure: [] },
        accounts: [account('111122223333', true), account('444455556666', false)],
        keysCreatedAt: new Map([['111122223333', [new Date(NOW.getTime() - 120 * DAY), new Date(NOW.getTime() - 10 * DAY), null]]]),
      },
      90 * DAY,
    );
    expect(json.accounts[0]).toMatchObject({ accessKeys: { delivered: 3, ageKnown: 2, pastMaxAge: 1, oldestAgeMs: 120 * DAY } });
    expect(json.accounts[1]).not.toHaveProperty('accessKeys');
    // The text says so only while a key is past the limit.
    const result = { startedAt: NOW, durationMs: 5, teams: [], actions: [], drift: buildDriftReport([], [], NOW), managed: new Map(), execution: null, accounts: [account('111122223333', true)], keysCreatedAt: new Map([['111122223333', [new Date(NOW.getTime() - 120 * DAY)]]]), rotations: [], rotationsDue: new Map(), checked: { full: [], exposure: [] } };
    expect(accountLine(result, result.accounts[0]!, 90 * DAY)).toBe('account 111122223333: 0 bucket(s), 0 user(s) observed; 1 access key(s) older than KEY_MAX_AGE (oldest 120 days)');
    expect(accountLine(result, result.accounts[0]!, 200 * DAY)).toBe('account 111122223333: 0 bucket(s), 0 user(s) observed');
  });

  it('tells each read account\'s key rotations: in flight by step, and those due within 7 days with the soonest', () => {
    const DAY = 86_400_000;
    const account = { accountId: '111122223333', complete: true, error: null, resources: new Map(), users: new Map(), iamUsersInAccount: 0, iamUserQuota: null };
    const rotation = (addonId: string, step: 'delivered' | 'deactivated') => ({
      addonId, accountId: '111122223333', oldAccessKeyId: 'AKIAOLD', newAccessKeyId: 'AKIANEW', trigger: 'age' as const, step,
      requestedAt: NOW, requestedBy: 'controller', stepAt: NOW, deliveredAt: NOW, deactivatedAt: null, approvedAt: null,
    });
    const due = (addonName: string, days: number) => ({ addonId: addonName, addonName, dueAt: new Date(NOW.getTime() + days * DAY) });
    const result = {
      startedAt: NOW, durationMs: 5, teams: [], actions: [], drift: buildDriftReport([], [], NOW), managed: new Map(), execution: null, accounts: [account], keysCreatedAt: new Map(),
      rotations: [rotation('a', 'delivered'), rotation('b', 'delivered'), rotation('c', 'deactivated')],
      rotationsDue: new Map([['111122223333', [due('bucket-soon', 2), due('bucket-later', 6), due('bucket-far', 30)]]]),
      checked: { full: [], exposure: [] },
    };
    expect(passSummary(result).accounts[0]).toMatchObject({
      rotations: { inFlight: { delivered: 2, deactivated: 1 }, dueWithin7Days: 2, next: { addonName: 'bucket-soon', dueAt: new Date(NOW.getTime() + 2 * DAY).toISOString() } },
    });
    expect(accountLine(result, account, 90 * DAY)).toBe(
      `account 111122223333: 0 bucket(s), 0 user(s) observed; key rotations: 3 in flight (2 delivered, 1 deactivated), 2 due within 7 days (next: bucket-soon at ${new Date(NOW.getTime() + 2 * DAY).toISOString()})`,
    );
    // Nothing in flight or due soon: nothing said.
    expect(accountLine({ ...result, rotations: [], rotationsDue: new Map([['111122223333', [due('bucket-far', 30)]]]) }, account, 90 * DAY)).toBe('account 111122223333: 0 bucket(s), 0 user(s) observed');
  });

  it('lists a dry run\'s actions as planned, with no failure', () => {
    expect(summary(null).actions.map((a) => [a.result, 'failure' in a])).toEqual([
      ['planned', false],
      ['planned', false],
    ]);
  });
});

describe('what plan says of change events', () => {
  const config = { deepCheckWindowMs: 3_600_000, exposureCheckWindowMs: 900_000 };
  it('says an account without them finds drift within DEEP_CHECK_WINDOW, one with them within a minute, and names a region left out', () => {
    const view = changeEventsView(
      [{ accountId: 'A', region: 'us-east-1' }, { accountId: 'B', region: 'us-east-1' }],
      config,
      new Map([['A', ['us-east-1']], ['B', ['eu-west-1', 'us-east-1']]]),
    );
    expect(view('C')).toEqual({ configured: false, regions: [], detail: expect.stringMatching(/^events not configured: drift found within DEEP_CHECK_WINDOW \(1 h for every setting, 15 min for public exposure\)/) });
    expect(view('A')).toEqual({ configured: true, regions: ['us-east-1'], detail: expect.stringMatching(/within about a minute/) });
    expect(view('B').detail).toMatch(/its resources in eu-west-1 have none: drift there is found by deep checks only.*events setup/);
  });
});
