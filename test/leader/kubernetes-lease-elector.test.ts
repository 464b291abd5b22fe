/**
 * The Lease elector's loop on an in-memory Lease with the API server's optimistic concurrency
 * (resourceVersion), on a fake clock. The same behaviour on a real kube-apiserver:
 * kubernetes-lease.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { KubernetesLeaseElector, LeaseConflictError, type LeaseClient, type StoredLease } from '../../src/leader/kubernetes-lease.js';
import type { LeaseRecord } from '../../src/leader/lease-decision.js';
import { FakeTime, settle } from './fake-time.js';

/** One Lease, as the API server keeps it. */
class LeaseServer {
  lease: StoredLease | null = null;
  private version = 100;
  writes = 0;

  write(record: LeaseRecord): StoredLease {
    this.writes++;
    this.lease = { record: { ...record }, resourceVersion: String(++this.version) };
    return structuredClone(this.lease);
  }
}

type Mode = 'ok' | 'fail' | 'hang';

/** A contender's connection to the server; `mode` simulates a partition. */
class FakeLeaseClient implements LeaseClient {
  mode: Mode = 'ok';
  calls = 0;
  /** Runs once just before the next update reaches the server (to interleave another writer). */
  beforeNextUpdate: (() => void) | null = null;

  constructor(private readonly server: LeaseServer) {}

  private async gate(signal: AbortSignal): Promise<void> {
    this.calls++;
    if (this.mode === 'fail') throw new Error('connection refused');
    if (this.mode === 'hang') {
      await new Promise<void>((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
    }
  }

  async get(signal: AbortSignal): Promise<StoredLease | null> {
    await this.gate(signal);
    return this.server.lease ? structuredClone(this.server.lease) : null;
  }

  async create(record: LeaseRecord, signal: AbortSignal): Promise<StoredLease> {
    await this.gate(signal);
    if (this.server.lease) throw new LeaseConflictError('AlreadyExists');
    return this.server.write(record);
  }

  async update(record: LeaseRecord, resourceVersion: string, signal: AbortSignal): Promise<StoredLease> {
    await this.gate(signal);
    const hook = this.beforeNextUpdate;
    this.beforeNextUpdate = null;
    hook?.();
    if (!this.server.lease) throw new Error('not found');
    if (this.server.lease.resourceVersion !== resourceVersion) throw new LeaseConflictError('Conflict');
    return this.server.write(record);
  }
}

const TIMINGS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

let electors: KubernetesLeaseElector[] = [];
afterEach(async () => {
  await Promise.all(electors.map((e) => e.stop()));
  electors = [];
});

function contender(server: LeaseServer, time: FakeTime, identity: string) {
  const client = new FakeLeaseClient(server);
  const elector = new KubernetesLeaseElector({ client, identity, clock: time.clock, sleep: time.sleep, random: () => 0, ...TIMINGS });
  const changes: boolean[] = [];
  elector.onChange((leader) => changes.push(leader));
  electors.push(elector);
  return { client, elector, changes };
}

const leaders = (...cs: { elector: KubernetesLeaseElector }[]) => cs.filter((c) => c.elector.isLeader()).map((c) => c.elector.identity);

describe('KubernetesLeaseElector (fake Lease, fake clock)', () => {
  it('creates the Lease and leads; renews every retry period with one request', async () => {
    const server = new LeaseServer();
    const time = new FakeTime();
    const a = contender(server, time, 'a');
    await a.elector.start();
    expect(a.elector.isLeader()).toBe(true);
    expect(a.changes).toEqual([true]);
    expect(server.lease?.record).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 15, leaseTransitions: 0 });

    const callsBefore = a.client.calls;
    await time.step(20_000, 500, () => expect(a.elector.isLeader()).toBe(true));
    // 10 renewals in 20 s, each a single update (no read first).
    expect(a.client.calls - callsBefore).toBe(10);
    expect(server.lease?.record.renewTime).toBe(new Date(time.now).toISOString());
  });

  it('two contenders: exactly one leads at every sampled instant, and the other never', async () => {
    const server = new LeaseServer();
    const time = new FakeTime();
    const a = contender(server, time, 'a');
    const b = contender(server, time, 'b');
    await a.elector.start();
    await b.elector.start();
    await time.step(60_000, 250, () => expect(leaders(a, b)).toEqual(['a']));
    expect(b.changes).toEqual([]);
  });

  it('release on stop: the other takes over within one retry period, transitions + 1', async () => {
    const server = new LeaseServer();
    const time = new FakeTime();
    const a = contender(server, time, 'a');
    const b = contender(server, time, 'b');
    await a.elector.start();
    await b.elector.start();
    await time.advance(5_000);

    let leaderDuringRelease: boolean | null = null;
    a.client.beforeNextUpdate = () => (leaderDuringRelease = a.elector.isLeader());
    await a.elector.stop();
    expect(leaderDuringRelease).toBe(false); // stopped leading before the release was sent
    expect(a.changes).toEqual([true, false]);
    expect(server.lease?.record).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1 });

    await time.advance(TIMINGS.retryPeriodMs);
    expect(leaders(a, b)).toEqual(['b']);
    expect(server.lease?.record).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
  });

  it('a frozen leader stops leading at its renew deadline; the other takes over only after the lease duration', async () => {
    const server = new LeaseServer();
    const time = new FakeTime();
    const a = contender(server, time, 'a');
    const b = contender(server, time, 'b');
    await a.elector.start();
    const lastRenewal = time.now;
    await b.elector.start();
    a.client.mode = 'fail';

    // isLeader() is judged from the last successful renewal: true just before the deadline, false at it.
    await time.advance(TIMINGS.renewDeadlineMs - 1);
    expect(a.elector.isLeader()).toBe(true);
    await time.advance(1);
    expect(a.elector.isLeader()).toBe(false);
    expect(time.now - lastRenewal).toBe(TIMINGS.renewDeadlineMs);

    // b saw the record change when it first read it (at lastRenewal); it waits the full 15 s.
    await time.step(TIMINGS.leaseDurationMs - TIMINGS.renewDeadlineMs - 500, 250, () => expect(leaders(a, b)).toEqual([]));
    await time.advance(500 + TIMINGS.retryPeriodMs);
    expect(leaders(a, b)).toEqual(['b']);
    expect(a.changes).toEqual([true, false]);
    expect(server.lease?.record).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });

    // a comes back: it sees b's valid lease and stays a follower.
    a.client.mode = 'ok';
    await time.step(30_000, 500, () => expect(leaders(a, b)).toEqual(['b']));
  });

  it('isLeader() turns false at the deadline even while a renewal request hangs', async () => {
    const server = new LeaseServer();
    const time = new FakeTime();
    const a = contender(server, time, 'a');
    await a.elector.start();
    a.client.mode = 'hang';
    await time.advance(TIMINGS.renewDeadlineMs - 1);
    expect(a.elector.isLeader()).toBe(true);
    await time.advance(1);
    expect(a.elector.isLeader()).toBe(false);
    a.client.mode = 'ok';
  });

  it('a 409 on the write means another won: the loser does not lead', async () => {
    const server = new LeaseServer();
    const time = new FakeTime();
    const a = contender(server, time, 'a');
    const b = contender(server, time, 'b');
    // a held it long ago and is gone; both see it expired and race to take over.
    server.write({ holderIdentity: 'gone', leaseDurationSeconds: 15, acquireTime: null, renewTime: null, leaseTransitions: 7 });
    await a.elector.start();
    await b.elector.start();
    expect(leaders(a, b)).toEqual([]);
    await time.advance(12_000);
    // Between b's read and b's write, a takes over: b's write carries a stale resourceVersion.
    b.client.beforeNextUpdate = () => server.write({ holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: null, renewTime: null, leaseTransitions: 8 });
    a.client.mode = 'fail'; // a's own loop stays out of it
    await time.advance(4_000); // b reads at 14 s (still valid) and at 16 s (expired: b writes)
    expect(b.client.beforeNextUpdate).toBeNull();
    expect(b.elector.isLeader()).toBe(false);
    expect(b.changes).toEqual([]);
    expect(server.lease?.record.holderIdentity).toBe('a');
  });

  it('AlreadyExists on create means another won the race', async () => {
    const server = new LeaseServer();
    const time = new FakeTime();
    const a = contender(server, time, 'a');
    a.client.beforeNextUpdate = null;
    const realGet = a.client.get.bind(a.client);
    // a reads "no Lease", then b creates it before a's create arrives.
    a.client.get = async (signal) => {
      const seen = await realGet(signal);
      server.write({ holderIdentity: 'b', leaseDurationSeconds: 15, acquireTime: null, renewTime: null, leaseTransitions: 0 });
      return seen;
    };
    await a.elector.start();
    expect(a.elector.isLeader()).toBe(false);
    expect(server.lease?.record.holderIdentity).toBe('b');
  });

  it('a leader that finds another holder on a renewal stops leading at once', async () => {
    const server = new LeaseServer();
    const time = new FakeTime();
    const a = contender(server, time, 'a');
    await a.elector.start();
    // Someone overwrote it (e.g. a's clock stalled and b took over): a's fast renewal gets a 409,
    // the read shows b holding a fresh lease.
    server.write({ holderIdentity: 'b', leaseDurationSeconds: 15, acquireTime: null, renewTime: null, leaseTransitions: 1 });
    await time.advance(TIMINGS.retryPeriodMs);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.changes).toEqual([true, false]);
  });

  it('three contenders: exactly one leader through stops and freezes', async () => {
    const server = new LeaseServer();
    const time = new FakeTime();
    const cs = ['a', 'b', 'c'].map((id) => contender(server, time, id));
    for (const c of cs) await c.elector.start();
    const sample = () => expect(leaders(...cs).length).toBeLessThanOrEqual(1);
    await time.step(10_000, 250, sample);
    expect(leaders(...cs)).toEqual(['a']);
    cs[0]!.client.mode = 'fail';
    await time.step(30_000, 250, sample);
    expect(leaders(...cs)).toHaveLength(1);
    const next = cs.find((c) => c.elector.isLeader())!;
    await next.elector.stop();
    await time.step(10_000, 250, sample);
    expect(leaders(...cs)).toHaveLength(1);
  });

  it('stop({ release: false }) stops leading but leaves the Lease to expire', async () => {
    const server = new LeaseServer();
    const time = new FakeTime();
    const a = contender(server, time, 'a');
    const b = contender(server, time, 'b');
    await a.elector.start();
    await b.elector.start();
    await a.elector.stop({ release: false });
    expect(a.elector.isLeader()).toBe(false);
    expect(server.lease?.record.holderIdentity).toBe('a');
    await time.advance(TIMINGS.leaseDurationMs - TIMINGS.retryPeriodMs);
    expect(leaders(a, b)).toEqual([]);
    await time.advance(2 * TIMINGS.retryPeriodMs);
    expect(leaders(a, b)).toEqual(['b']);
  });

  it('stop() while the first attempt is in flight: never leads, nothing left held', async () => {
    const server = new LeaseServer();
    const time = new FakeTime();
    const a = contender(server, time, 'a');
    a.client.mode = 'hang';
    const starting = a.elector.start();
    const stopping = a.elector.stop();
    a.client.mode = 'ok';
    await starting;
    await stopping;
    expect(a.elector.isLeader()).toBe(false);
    expect(a.changes).toEqual([]);
    expect(server.lease).toBeNull();
  });

  it('stop() of a non-leader writes nothing', async () => {
    const server = new LeaseServer();
    const time = new FakeTime();
    const a = contender(server, time, 'a');
    const b = contender(server, time, 'b');
    await a.elector.start();
    await b.elector.start();
    const writes = server.writes;
    await b.elector.stop();
    await settle();
    expect(server.writes).toBe(writes);
    expect(server.lease?.record.holderIdentity).toBe('a');
  });

  it('records a leadership event on every change; stop() waits for the ones in flight, and a failing recorder changes nothing', async () => {
    const server = new LeaseServer();
    const time = new FakeTime();
    const recorded: boolean[] = [];
    const sent: boolean[] = [];
    let pending: Promise<void>[] = [];
    const events = {
      record(leading: boolean) {
        recorded.push(leading);
        pending.push(new Promise<void>((resolve) => setTimeout(() => (sent.push(leading), resolve()), 20)));
      },
      flush: () => Promise.all(pending).then(() => undefined),
    };
    const a = new KubernetesLeaseElector({ client: new FakeLeaseClient(server), identity: 'a', clock: time.clock, sleep: time.sleep, random: () => 0, events, ...TIMINGS });
    electors.push(a);
    await a.start();
    expect(a.isLeader()).toBe(true);
    expect(recorded).toEqual([true]);
    await a.stop();
    expect(recorded).toEqual([true, false]);
    expect(sent).toEqual([true, false]);
    expect(server.lease?.record.holderIdentity).toBe('');

    pending = [];
    const throwing = { record: () => { throw new Error('no events for you'); }, flush: async () => undefined };
    const b = new KubernetesLeaseElector({ client: new FakeLeaseClient(server), identity: 'b', clock: time.clock, sleep: time.sleep, random: () => 0, events: throwing, ...TIMINGS });
    electors.push(b);
    await b.start();
    expect(b.isLeader()).toBe(true);
  });
});
