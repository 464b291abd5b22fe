/**
 * Leadership Events on the Lease, against the stand's real kube-apiserver: as client-go's
 * resourcelock records them (Normal, reason LeaderElection, "<identity> became leader" /
 * "<identity> stopped leading", on the Lease with its uid); with only `create` on events; and a
 * process whose events are refused still leads.
 */
import { AuthorizationV1Api, CoordinationV1Api, CoreV1Api, RbacAuthorizationV1Api, type CoreV1Event } from '@kubernetes/client-node';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { KubernetesLeaseElector, kubernetesLeaseClient } from '../../src/leader/kubernetes-lease.js';
import { EVENT_COMPONENT, LEADER_ELECTION_REASON, kubernetesLeaseEvents } from '../../src/leader/lease-events.js';
import { KUBE_WAIT_MS, kubeConfig, kubeStand, randomName } from '../support/stand.js';

// Long enough that no slow API call on a loaded machine cuts a round short (the renew deadline
// bounds each round's calls, and isLeader() is judged from the last renewal): each start() must
// take the Lease in its first round.
const TIMINGS = { leaseDurationMs: 60_000, renewDeadlineMs: 40_000, retryPeriodMs: 2_000 };
/** For the RBAC authorizer to see a new binding through its informers. */
const RBAC_WAIT_MS = 60_000;

beforeAll(kubeStand, KUBE_WAIT_MS);

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function namespace(): Promise<string> {
  const name = randomName('hsc-events');
  const core = kubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  cleanups.push(() => core.deleteNamespace({ name }));
  return name;
}

function elector(ns: string, lease: string, identity: string, as: 'admin' | 'user' = 'admin') {
  const kc = kubeConfig(as);
  const e = new KubernetesLeaseElector({
    client: kubernetesLeaseClient({ kubeConfig: kc, namespace: ns, name: lease }),
    events: kubernetesLeaseEvents({ kubeConfig: kc, namespace: ns, name: lease, identity }),
    identity,
    ...TIMINGS,
  });
  cleanups.push(() => e.stop());
  return e;
}

/** The Lease's events, in message order ("became" before "stopped"). */
async function leaseEvents(ns: string, lease: string): Promise<CoreV1Event[]> {
  const list = await kubeConfig().makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${lease}` });
  return list.items.sort((a, b) => String(a.message).localeCompare(String(b.message)));
}

/** Waits until the RBAC authorizer (which sees new bindings through informers) allows stand-user `verb`. */
async function untilAllowed(ns: string, verb: string, group: string, resource: string, name?: string): Promise<void> {
  const authz = kubeConfig().makeApiClient(AuthorizationV1Api);
  const deadline = Date.now() + RBAC_WAIT_MS;
  for (;;) {
    const review = await authz.createSubjectAccessReview({
      body: { spec: { user: 'stand-user', resourceAttributes: { namespace: ns, verb, group, resource, ...(name ? { name } : {}) } } },
    });
    if (review.status?.allowed) return;
    if (Date.now() > deadline) throw new Error(`stand-user was not allowed to ${verb} ${resource} within ${RBAC_WAIT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

it('records "became leader" and "stopped leading" on the Lease, as client-go does', async () => {
  const ns = await namespace();
  const lease = randomName('lease');
  const a = elector(ns, lease, 'pod-a');
  await a.start();
  expect(a.isLeader()).toBe(true);
  await a.stop();
  const uid = (await kubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ name: lease, namespace: ns })).metadata?.uid;
  const events = await leaseEvents(ns, lease);
  expect(events.map((e) => e.message)).toEqual(['pod-a became leader', 'pod-a stopped leading']);
  for (const event of events) {
    expect(event).toMatchObject({
      type: 'Normal',
      reason: LEADER_ELECTION_REASON,
      source: { component: EVENT_COMPONENT },
      involvedObject: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', name: lease, namespace: ns, uid },
    });
    expect(event.metadata?.name).toMatch(new RegExp(`^${lease}\\.[0-9a-f]+$`));
  }
});

it('needs only create on events (and the Lease rights); a refused event never stops leading', async () => {
  const ns = await namespace();
  const lease = randomName('lease');
  const rbac = kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  const leaseRules = [
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [lease], verbs: ['get', 'update'] },
  ];
  const bind = async (name: string, rules: typeof leaseRules) => {
    await rbac.createNamespacedRole({ namespace: ns, body: { metadata: { name }, rules } });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name }, subjects: [{ kind: 'User', name: 'stand-user', apiGroup: 'rbac.authorization.k8s.io' }] },
    });
  };

  // The Lease rights alone: it leads, and its events are refused (logged at debug, nothing more).
  await bind('lease-only', leaseRules);
  await untilAllowed(ns, 'update', 'coordination.k8s.io', 'leases', lease);
  const a = elector(ns, lease, 'pod-a', 'user');
  await a.start();
  expect(a.isLeader()).toBe(true);
  await a.stop();
  expect(await leaseEvents(ns, lease)).toEqual([]);

  // With create on events (and nothing else on them), the events arrive.
  await bind('events-create', [{ apiGroups: [''], resources: ['events'], verbs: ['create'] }] as typeof leaseRules);
  await untilAllowed(ns, 'create', '', 'events');
  const b = elector(ns, lease, 'pod-b', 'user');
  await b.start();
  expect(b.isLeader()).toBe(true);
  await b.stop();
  expect((await leaseEvents(ns, lease)).map((e) => e.message)).toEqual(['pod-b became leader', 'pod-b stopped leading']);
});
