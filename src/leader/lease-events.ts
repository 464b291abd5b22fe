/**
 * Kubernetes Events on the Lease for leadership changes, as client-go's resourcelock records them
 * (`LeaseLock.RecordEvent`): type Normal, reason `LeaderElection`, message "<identity> became
 * leader" / "<identity> stopped leading", so `kubectl describe lease` and `kubectl get events`
 * show who led when. Best effort: a failure is logged at debug and never stops the election.
 *
 * Only `create` on events is used (no patch: repeated events are not aggregated), plus `get` on
 * the Lease, once, for its uid (the elector's own RBAC grants it).
 */
import { CoordinationV1Api, CoreV1Api, type CoreV1Event, type KubeConfig, type V1ObjectReference } from '@kubernetes/client-node';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { KubeEventReason, LeaderEvent } from '../reasons.js';

export const LEADER_ELECTION_REASON = KubeEventReason.LeaderElection;
export const EVENT_COMPONENT = 'heroku-s3-controller';

/** What the Lease elector needs: record a change, and wait for the records in flight at shutdown. */
export interface LeaseEvents {
  record(leading: boolean): void;
  /** Resolves when every event recorded so far has been sent or has failed. Never rejects. */
  flush(): Promise<void>;
}

export interface KubernetesLeaseEventsOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** The Lease's name. */
  name: string;
  identity: string;
  logger?: Logger | undefined;
  /** Bound on each request (default 5 s). */
  timeoutMs?: number;
}

/** client-go names events `<object>.<unix nanoseconds in hex>`. */
function eventName(object: string, at: Date): string {
  const nanos = BigInt(at.getTime()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  return `${object}.${nanos.toString(16)}`;
}

export function kubernetesLeaseEvents(options: KubernetesLeaseEventsOptions): LeaseEvents {
  const core = options.kubeConfig.makeApiClient(CoreV1Api);
  const coordination = options.kubeConfig.makeApiClient(CoordinationV1Api);
  const { namespace, name, identity } = options;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const pending = new Set<Promise<void>>();
  let uid: string | undefined;

  const withTimeout = <T>(promise: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      promise,
      new Promise<T>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  };

  const send = async (leading: boolean): Promise<void> => {
    const message = `${identity} ${leading ? 'became leader' : 'stopped leading'}`;
    try {
      // The uid ties the event to this Lease (what `kubectl describe lease` selects on).
      uid ??= (await withTimeout(coordination.readNamespacedLease({ name, namespace }))).metadata?.uid;
      const involvedObject: V1ObjectReference = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', name, namespace, ...(uid ? { uid } : {}) };
      const now = new Date();
      const body: CoreV1Event = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: eventName(name, now), namespace },
        involvedObject,
        reason: LEADER_ELECTION_REASON,
        message,
        type: 'Normal',
        source: { component: EVENT_COMPONENT },
        reportingComponent: EVENT_COMPONENT,
        reportingInstance: identity,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      };
      await withTimeout(core.createNamespacedEvent({ namespace, body }));
    } catch (err) {
      options.logger?.debug({ reason: LeaderEvent.LeaseEventFailed, lease: `${namespace}/${name}` }, `could not record the event "${message}" on Lease ${namespace}/${name}: ${errorMessage(err)}`);
    }
  };

  return {
    record(leading) {
      const sent = send(leading);
      pending.add(sent);
      void sent.finally(() => pending.delete(sent));
    },
    async flush() {
      await Promise.all([...pending]);
    },
  };
}
