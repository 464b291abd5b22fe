import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { createLeaderElector, inClusterNamespace } from '../../src/leader/create-leader-elector.js';
import { KubernetesLeaseElector, type LeaseClient } from '../../src/leader/kubernetes-lease.js';
import { PostgresAdvisoryLockElector } from '../../src/leader/postgres-advisory-lock.js';
import { DEFAULT_LEADER_TIMINGS, LeaderElectionConfigError, SoleLeader, validateLeaderTimings } from '../../src/leader/leader-election.js';

const NAMES = { leaseDuration: 'LEASE_DURATION', renewDeadline: 'LEASE_RENEW_DEADLINE', retryPeriod: 'LEASE_RETRY_PERIOD' };

describe('validateLeaderTimings', () => {
  it("accepts client-go's defaults (15 s, 10 s, 2 s)", () => {
    expect(validateLeaderTimings(DEFAULT_LEADER_TIMINGS)).toEqual({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });
  });

  const bad: { reason: string; timings: { leaseDurationMs?: number; renewDeadlineMs: number; retryPeriodMs: number }; message: RegExp }[] = [
    { reason: 'duration equal to the deadline', timings: { leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 }, message: /^LEASE_DURATION \(10s\) must be longer than LEASE_RENEW_DEADLINE \(10s\)/ },
    { reason: 'duration shorter than the deadline', timings: { leaseDurationMs: 5_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 }, message: /LEASE_DURATION \(5s\) must be longer than LEASE_RENEW_DEADLINE/ },
    { reason: 'deadline not above 1.2 × retry', timings: { leaseDurationMs: 15_000, renewDeadlineMs: 2_400, retryPeriodMs: 2_000 }, message: /^LEASE_RENEW_DEADLINE \(2.4s\) must be longer than 1.2 × LEASE_RETRY_PERIOD/ },
    { reason: 'zero retry period', timings: { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 0 }, message: /^LEASE_RETRY_PERIOD must be a positive duration/ },
    { reason: 'a duration in fractions of a second', timings: { leaseDurationMs: 15_500, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 }, message: /^LEASE_DURATION must be whole seconds/ },
    { reason: 'without a lease duration (PostgreSQL), the deadline rule still holds', timings: { renewDeadlineMs: 2_000, retryPeriodMs: 2_000 }, message: /LEASE_RENEW_DEADLINE \(2s\) must be longer than 1.2 × LEASE_RETRY_PERIOD/ },
  ];
  for (const c of bad) {
    it(`refuses ${c.reason}, naming the settings`, () => {
      expect(() => validateLeaderTimings(c.timings, NAMES)).toThrow(LeaderElectionConfigError);
      expect(() => validateLeaderTimings(c.timings, NAMES)).toThrow(c.message);
    });
  }

  it('is applied by the Lease elector', () => {
    const client = {} as LeaseClient;
    expect(() => new KubernetesLeaseElector({ client, identity: 'a', leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).toThrow(/must be longer than the renew deadline/);
  });
});

describe('SoleLeader', () => {
  it('leads from start to stop', async () => {
    const sole = new SoleLeader('me');
    const changes: boolean[] = [];
    sole.onChange((l) => changes.push(l));
    expect(sole.isLeader()).toBe(false);
    await sole.start();
    expect(sole.isLeader()).toBe(true);
    await sole.stop();
    await sole.stop();
    expect(sole.isLeader()).toBe(false);
    expect(changes).toEqual([true, false]);
  });
});

describe('createLeaderElector', () => {
  const timings = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };
  const settings = { identity: 'pod-1', leaseName: 'hsc', leaseNamespace: 'ns', timings };

  it('none: this process always leads', async () => {
    const e = createLeaderElector({ ...settings, mode: 'none' }, { databaseUrl: null });
    expect(e).toBeInstanceOf(SoleLeader);
    await e.start();
    expect(e.isLeader()).toBe(true);
    await e.stop();
  });

  it('postgres: needs DATABASE_URL', () => {
    expect(() => createLeaderElector({ ...settings, mode: 'postgres' }, { databaseUrl: null })).toThrow(/needs DATABASE_URL/);
    expect(createLeaderElector({ ...settings, mode: 'postgres' }, { databaseUrl: 'postgres://u@localhost/db' })).toBeInstanceOf(PostgresAdvisoryLockElector);
  });

  it('kubernetes: a Lease elector (no request until start)', () => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const e = createLeaderElector({ ...settings, mode: 'kubernetes' }, { databaseUrl: null, kubeConfig });
    expect(e).toBeInstanceOf(KubernetesLeaseElector);
    expect(e.identity).toBe('pod-1');
  });

  it("reads the pod's namespace from the service-account mount, null outside a pod", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ns-'));
    writeFileSync(path.join(dir, 'namespace'), 'team-a\n');
    expect(inClusterNamespace(path.join(dir, 'namespace'))).toBe('team-a');
    expect(inClusterNamespace(path.join(dir, 'missing'))).toBeNull();
    rmSync(dir, { recursive: true, force: true });
  });
});
