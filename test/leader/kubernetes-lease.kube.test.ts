/**
 * The Lease elector against the stand's real kube-apiserver (etcd-backed), on a hand-moved clock
 * (SteppedTime): lease durations, renew deadlines and retry periods pass only when the test moves
 * time, and each move waits for the electors' real API calls to finish, so no assertion depends on
 * how fast the machine is. The timings are client-go's defaults; the renew deadline is also the
 * real bound on each round's calls, and a frozen leader's round hangs that long in real time.
 * Each test uses a Lease of its own.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuthorizationV1Api, CoordinationV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import {
  KubernetesLeaseElector,
  LeaseConflictError,
  kubernetesLeaseClient,
  type LeaseClient,
  type StoredLease,
} from '../../src/leader/kubernetes-lease.js';
import type { LeaseRecord } from '../../src/leader/lease-decision.js';
import { KUBE_WAIT_MS, kubeConfig, kubeStand, randomName } from '../support/stand.js';
import { SteppedTime } from './stepped-time.js';

const NAMESPACE = 'default';
const TIMINGS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };
/** A candidate retries after retry × (1 + random × 1.2). */
const MAX_CANDIDATE_WAIT_MS = TIMINGS.retryPeriodMs * 2.2;
/** Sampling step on the stepped clock: several samples per retry period. */
const STEP_MS = TIMINGS.retryPeriodMs / 4;
/** Real time allowed for what the API server does by itself (RBAC informers) or a real timer. */
const REAL_WAIT_MS = 60_000;

/**
 * A LeaseClient that can be frozen: its calls then hang until aborted (a stalled process or a
 * partition), and the stepped clock moves on meanwhile.
 */
class FreezableClient implements LeaseClient {
  frozen = false;
  constructor(
    private readonly inner: LeaseClient,
    private readonly time: SteppedTime,
  ) {}
  private async gate(signal: AbortSignal): Promise<void> {
    if (!this.frozen) return;
    const unstall = this.time.stall();
    try {
      await new Promise<void>((_, reject) => {
        if (signal.aborted) return reject(new Error('frozen'));
        signal.addEventListener('abort', () => reject(new Error('frozen')), { once: true });
      });
    } finally {
      unstall();
    }
  }
  async get(signal: AbortSignal) {
    await this.gate(signal);
    return this.inner.get(signal);
  }
  async create(record: LeaseRecord, signal: AbortSignal) {
    await this.gate(signal);
    return this.inner.create(record, signal);
  }
  async update(record: LeaseRecord, resourceVersion: string, signal: AbortSignal) {
    await this.gate(signal);
    return this.inner.update(record, resourceVersion, signal);
  }
}

beforeAll(kubeStand, KUBE_WAIT_MS);

let time: SteppedTime;
let electors: KubernetesLeaseElector[] = [];
beforeEach(() => {
  time = new SteppedTime();
});
afterEach(async () => {
  await Promise.all(electors.map((e) => e.stop()));
  electors = [];
});

function contender(lease: string, identity: string, as: 'admin' | 'user' = 'admin') {
  const client = new FreezableClient(kubernetesLeaseClient({ kubeConfig: kubeConfig(as), namespace: NAMESPACE, name: lease }), time);
  const elector = new KubernetesLeaseElector({ client, identity, leaseRef: `Lease ${NAMESPACE}/${lease}`, clock: time.clock, sleep: time.sleep, ...TIMINGS });
  /** Leadership changes, stamped with the electors' clock. */
  const changes: { leader: boolean; at: number }[] = [];
  elector.onChange((leader) => changes.push({ leader, at: time.now }));
  electors.push(elector);
  return { client, elector, changes, identity };
}

type Contender = ReturnType<typeof contender>;
const leaders = (cs: Contender[]) => cs.filter((c) => c.elector.isLeader()).map((c) => c.identity);

/** Polls in real time for what no elector's clock drives. */
async function realWait(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + REAL_WAIT_MS;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${REAL_WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function readLease(name: string) {
  return kubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ name, namespace: NAMESPACE });
}

describe('KubernetesLeaseElector on a real kube-apiserver', () => {
  it('two contenders: exactly one leads at every sampled instant; the other never does', async () => {
    const lease = randomName('lease');
    const a = contender(lease, 'a');
    const b = contender(lease, 'b');
    await a.elector.start();
    await b.elector.start();
    await time.step(3 * TIMINGS.leaseDurationMs, STEP_MS, () => expect(leaders([a, b])).toEqual(['a']));
    expect(b.changes).toEqual([]);

    // What the API server stored, as written by client-node (MicroTime with microseconds).
    const stored = await readLease(lease);
    expect(stored.spec?.holderIdentity).toBe('a');
    expect(stored.spec?.leaseDurationSeconds).toBe(TIMINGS.leaseDurationMs / 1000);
    expect(stored.spec?.leaseTransitions).toBe(0);
    expect(String(stored.spec?.renewTime)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    // Renewed within the last retry period, on the electors' clock.
    expect(time.now - Date.parse(String(stored.spec?.renewTime))).toBeLessThanOrEqual(TIMINGS.retryPeriodMs);
  });

  it('three contenders: exactly one leader at every sampled instant', async () => {
    const lease = randomName('lease');
    const cs = ['a', 'b', 'c'].map((id) => contender(lease, id));
    await Promise.all(cs.map((c) => c.elector.start()));
    await time.step(2 * TIMINGS.leaseDurationMs, STEP_MS, () => expect(leaders(cs)).toHaveLength(1));
    const first = leaders(cs)[0];
    // Nobody else ever led.
    for (const c of cs.filter((c) => c.identity !== first)) expect(c.changes).toEqual([]);
  });

  it('the leader stops (releases): another leads within one retry period, transitions + 1', async () => {
    const lease = randomName('lease');
    const a = contender(lease, 'a');
    const b = contender(lease, 'b');
    await a.elector.start();
    await b.elector.start();
    expect(leaders([a, b])).toEqual(['a']);

    await a.elector.stop();
    const released = await readLease(lease);
    expect(released.spec?.holderIdentity ?? '').toBe('');
    expect(released.spec?.leaseDurationSeconds).toBe(1);
    const took = await time.advanceUntil('b leads', () => b.elector.isLeader(), MAX_CANDIDATE_WAIT_MS + TIMINGS.retryPeriodMs);
    expect(took).toBeLessThanOrEqual(MAX_CANDIDATE_WAIT_MS);
    const taken = await readLease(lease);
    expect(taken.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1, leaseDurationSeconds: TIMINGS.leaseDurationMs / 1000 });
  });

  it('a frozen leader (not released) stops mutating at its renew deadline; another leads after the lease duration', async () => {
    const lease = randomName('lease');
    const a = contender(lease, 'a');
    const b = contender(lease, 'b');
    await a.elector.start();
    await b.elector.start();
    // "Mutations": at every step each contender mutates while isLeader() says so (the executor's mayMutate).
    const mutations: { who: string; at: number }[] = [];
    const mutate = () => {
      for (const c of [a, b]) if (c.elector.isLeader()) mutations.push({ who: c.identity, at: time.now });
    };
    await time.step(2 * TIMINGS.retryPeriodMs, STEP_MS, mutate);

    a.client.frozen = true;
    const frozenAt = time.now;
    await time.step(TIMINGS.leaseDurationMs + 2 * MAX_CANDIDATE_WAIT_MS, STEP_MS, () => {
      expect(leaders([a, b]).length).toBeLessThanOrEqual(1);
      mutate();
    });

    expect(leaders([a, b])).toEqual(['b']);
    const bStarted = b.changes.find((c) => c.leader)!.at;
    // b waited out the lease duration from the last change it saw (at or after a's last renewal,
    // at most one retry period before the freeze) ...
    expect(bStarted - frozenAt).toBeGreaterThanOrEqual(TIMINGS.leaseDurationMs - TIMINGS.retryPeriodMs);
    // ... and took over at its first retry after that: it saw a's last renewal at most one
    // jittered retry after it was made, and retries at most one jittered retry after expiry.
    expect(bStarted - frozenAt).toBeLessThanOrEqual(TIMINGS.leaseDurationMs + 2 * MAX_CANDIDATE_WAIT_MS);
    // No mutation by a after its renew deadline (its last renewal was at most one retry period
    // before the freeze); none by b before it won; never both.
    const lastByA = Math.max(...mutations.filter((m) => m.who === 'a').map((m) => m.at));
    const firstByB = Math.min(...mutations.filter((m) => m.who === 'b').map((m) => m.at));
    expect(lastByA).toBeLessThan(firstByB);
    expect(lastByA - frozenAt).toBeLessThan(TIMINGS.renewDeadlineMs);
    expect(firstByB).toBeGreaterThanOrEqual(bStarted);
    expect(mutations.filter((m) => m.who === 'a').length).toBeGreaterThan(10);

    // a is told it lost when its hanging renewal is cut off (a real timer of the remaining renew
    // deadline); until then isLeader() already said no, by the clock.
    await realWait('a to be told it lost', () => a.changes.some((c) => !c.leader));
    // a thaws: it sees b's valid lease and stays a follower.
    a.client.frozen = false;
    await time.step(TIMINGS.leaseDurationMs, STEP_MS, () => expect(leaders([a, b])).toEqual(['b']));
    expect(a.changes.map((c) => c.leader)).toEqual([true, false]);
  });

  it('a write with a stale resourceVersion loses with 409 (LeaseConflictError)', async () => {
    const lease = randomName('lease');
    const one = kubernetesLeaseClient({ kubeConfig: kubeConfig(), namespace: NAMESPACE, name: lease });
    const two = kubernetesLeaseClient({ kubeConfig: kubeConfig(), namespace: NAMESPACE, name: lease });
    const signal = AbortSignal.timeout(REAL_WAIT_MS);
    const now = new Date().toISOString();
    const record = (holder: string, transitions: number): LeaseRecord => ({ holderIdentity: holder, leaseDurationSeconds: 3, acquireTime: now, renewTime: now, leaseTransitions: transitions });

    expect(await one.get(signal)).toBeNull();
    const created = await one.create(record('one', 0), signal);
    await expect(two.create(record('two', 0), signal)).rejects.toBeInstanceOf(LeaseConflictError); // AlreadyExists

    const seenByOne = (await one.get(signal))!;
    const seenByTwo = (await two.get(signal))!;
    expect(seenByTwo.resourceVersion).toBe(created.resourceVersion);
    const results = await Promise.allSettled([
      one.update(record('one', 1), seenByOne.resourceVersion, signal),
      two.update(record('two', 1), seenByTwo.resourceVersion, signal),
    ]);
    const won = results.filter((r): r is PromiseFulfilledResult<StoredLease> => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBeInstanceOf(LeaseConflictError);
    expect((await one.get(signal))!.record.holderIdentity).toBe(won[0]!.value.record.holderIdentity);
  });

  it('contenders racing for a released Lease: exactly one wins', async () => {
    for (let round = 0; round < 3; round++) {
      const lease = randomName('lease');
      const seed = kubernetesLeaseClient({ kubeConfig: kubeConfig(), namespace: NAMESPACE, name: lease });
      const now = new Date(time.now).toISOString();
      await seed.create({ holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: 5 }, AbortSignal.timeout(REAL_WAIT_MS));
      const cs = ['a', 'b', 'c'].map((id) => contender(lease, `${id}${round}`));
      await Promise.all(cs.map((c) => c.elector.start())); // all take over in their first round
      expect(leaders(cs)).toHaveLength(1);
      await time.step(2 * TIMINGS.retryPeriodMs, STEP_MS, () => expect(leaders(cs)).toHaveLength(1));
      expect((await readLease(lease)).spec?.leaseTransitions).toBe(6);
    }
  });

  it('a user without RBAC rights on leases never leads; a Role with get, create and update on leases is enough', async () => {
    const lease = randomName('lease');
    const user = contender(lease, 'stand-user', 'user');
    await user.elector.start();
    await time.step(2 * TIMINGS.retryPeriodMs, STEP_MS, () => expect(user.elector.isLeader()).toBe(false));
    await user.elector.stop();

    const rbac = kubeConfig().makeApiClient(RbacAuthorizationV1Api);
    const role = randomName('leases');
    await rbac.createNamespacedRole({
      namespace: NAMESPACE,
      body: { metadata: { name: role }, rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: NAMESPACE,
      body: {
        metadata: { name: role },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'stand-user' }],
      },
    });
    try {
      // The RBAC authorizer sees the new binding through its informers: wait until it does.
      await realWait('the Role to be in force', () => allowed(['get', 'create', 'update']));
      const granted = contender(lease, 'stand-user-2', 'user');
      await granted.elector.start();
      expect(granted.elector.isLeader()).toBe(true);
      await granted.elector.stop();
      expect((await readLease(lease)).spec?.holderIdentity ?? '').toBe('');
    } finally {
      await rbac.deleteNamespacedRoleBinding({ name: role, namespace: NAMESPACE }).catch(() => undefined);
      await rbac.deleteNamespacedRole({ name: role, namespace: NAMESPACE }).catch(() => undefined);
    }
  });
});

/** True when the RBAC authorizer lets stand-user do each of `verbs` on leases in the namespace. */
async function allowed(verbs: string[]): Promise<boolean> {
  const authz = kubeConfig().makeApiClient(AuthorizationV1Api);
  for (const verb of verbs) {
    const review = await authz.createSubjectAccessReview({
      body: { spec: { user: 'stand-user', resourceAttributes: { namespace: NAMESPACE, verb, group: 'coordination.k8s.io', resource: 'leases' } } },
    });
    if (!review.status?.allowed) return false;
  }
  return true;
}
