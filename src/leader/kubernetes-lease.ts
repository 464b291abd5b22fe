/**
 * Leader election over a `coordination.k8s.io/v1` Lease, following client-go's algorithm
 * (k8s.io/client-go/tools/leaderelection; decisions in lease-decision.ts):
 *
 * - every retry period (with jitter while not leading) read the Lease, create it if absent
 *   (`AlreadyExists` = another won the race), take it over only when it is free or has expired as
 *   judged from the local time at which this process last saw the record change, and write with
 *   the `resourceVersion` read (`409 Conflict` = another won);
 * - the leader renews every retry period, first straight from its last write (one request), and
 *   stops leading AT ONCE when it has not renewed within the renew deadline: isLeader() is
 *   computed from the local time of the last successful renewal, so it turns false by itself;
 * - stop() releases the lease (no holder, duration 1 s) so another takes over within a retry period.
 *
 * I/O goes through {@link LeaseClient}; {@link kubernetesLeaseClient} is the real one.
 */
import {
  ApiException,
  CoordinationV1Api,
  KubeConfig,
  Observable,
  V1MicroTime,
  type RequestContext,
  type ResponseContext,
  type V1Lease,
} from '@kubernetes/client-node';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { ElectorLoop } from './elector-loop.js';
import type { LeaseEvents } from './lease-events.js';
import { DEFAULT_LEADER_TIMINGS, validateLeaderTimings, type Clock, type LeaderTimings, type Sleep } from './leader-election.js';
import { decide, observe, releasedRecord, type LeaseRecord, type Observation } from './lease-decision.js';
import { LeaderEvent } from '../reasons.js';

// ---------------------------------------------------------------------------------------------
// The Lease as storage

export interface StoredLease {
  record: LeaseRecord;
  resourceVersion: string;
}

/** Another writer got there first: AlreadyExists on create, 409 Conflict on update. */
export class LeaseConflictError extends Error {
  override readonly name = 'LeaseConflictError';
}

/**
 * Reads and writes one Lease. Each call honours `signal` (deadline and shutdown). Implementations
 * throw {@link LeaseConflictError} for AlreadyExists / 409, anything else for other failures.
 */
export interface LeaseClient {
  /** The Lease, or null when it does not exist. */
  get(signal: AbortSignal): Promise<StoredLease | null>;
  create(record: LeaseRecord, signal: AbortSignal): Promise<StoredLease>;
  /** Replaces the spec, only if the Lease is still at `resourceVersion`. */
  update(record: LeaseRecord, resourceVersion: string, signal: AbortSignal): Promise<StoredLease>;
}

// ---------------------------------------------------------------------------------------------
// The elector

export interface KubernetesLeaseElectorOptions extends Partial<LeaderTimings> {
  client: LeaseClient;
  /** Unique among the contenders: the pod name (POD_NAME from the downward API) by default. */
  identity: string;
  /** For messages: `namespace/name` of the Lease. */
  leaseRef?: string;
  logger?: Logger;
  clock?: Clock;
  sleep?: Sleep;
  /** [0, 1): jitter of a candidate's retry period; default Math.random. */
  random?: () => number;
  /** Kubernetes Events for leadership changes (best effort); sent ones are awaited by stop(). */
  events?: LeaseEvents;
}

export class KubernetesLeaseElector extends ElectorLoop {
  private readonly timings: LeaderTimings;
  private readonly client: LeaseClient;
  private readonly leaseRef: string;

  /** The record as last read or written, and when it last changed (local clock). */
  private observation: Observation | null = null;
  /** resourceVersion of our last successful write (for the leader's one-request renewal). */
  private lastWrittenVersion: string | null = null;
  /** Aborts the requests of the round in flight. */
  private round: AbortController | null = null;
  private readonly events: LeaseEvents | undefined;

  constructor(options: KubernetesLeaseElectorOptions) {
    const timings = validateLeaderTimings({
      leaseDurationMs: options.leaseDurationMs ?? DEFAULT_LEADER_TIMINGS.leaseDurationMs,
      renewDeadlineMs: options.renewDeadlineMs ?? DEFAULT_LEADER_TIMINGS.renewDeadlineMs,
      retryPeriodMs: options.retryPeriodMs ?? DEFAULT_LEADER_TIMINGS.retryPeriodMs,
    });
    const leaseRef = options.leaseRef ?? 'the Lease';
    super({ ...options, timings, subject: { fields: { lease: leaseRef }, text: leaseRef } });
    this.timings = timings;
    this.client = options.client;
    this.leaseRef = leaseRef;
    this.events = options.events;
    const events = options.events;
    if (events) this.onChange((leading) => events.record(leading));
  }

  protected override interrupt(): void {
    this.round?.abort();
  }

  protected override forgetLeadership(): void {
    this.lastWrittenVersion = null;
  }

  /** One round of client-go's tryAcquireOrRenew, then the leadership bookkeeping. */
  protected async attempt(): Promise<void> {
    const sentAtMs = this.clock();
    // Each round is bounded by the renew deadline and ends early on stop(). A leader's round ends
    // when its lease stops being valid, so a hanging renewal ends its leadership right then.
    const round = new AbortController();
    let deadlineHit = false;
    const timer = setTimeout(() => {
      deadlineHit = this.leading;
      round.abort();
    }, this.roundTimeoutMs(sentAtMs));
    this.round = round;
    let outcome: 'acquired' | 'held-by-other' | 'conflict' | 'failed';
    try {
      outcome = await this.tryAcquireOrRenew(sentAtMs, round.signal);
    } catch (err) {
      outcome = 'failed';
      if (!this.stopController.signal.aborted) {
        this.logger?.warn({ reason: LeaderEvent.LeaseRequestFailed, lease: this.leaseRef }, `leader election: ${this.leaseRef}: ${errorMessage(err)}`);
      }
    }
    clearTimeout(timer);
    this.round = null;
    if (this.stopController.signal.aborted) return;
    if (outcome === 'acquired') {
      this.renewed(sentAtMs);
      this.setLeading(true, 'acquired');
    } else if (outcome === 'held-by-other' || outcome === 'conflict') {
      this.setLeading(false, outcome === 'conflict' ? 'lost-conflict' : 'held-by-other');
    } else if (this.leading && (deadlineHit || this.renewDeadlinePassed())) {
      this.setLeading(false, 'renew-deadline-passed');
    }
  }

  private async tryAcquireOrRenew(nowMs: number, signal: AbortSignal): Promise<'acquired' | 'held-by-other' | 'conflict'> {
    const leaseDurationSeconds = this.timings.leaseDurationMs / 1000;
    // Fast path for the leader: renew from what we last wrote, without reading first.
    if (this.leading && this.observation && this.lastWrittenVersion !== null && this.isLeader()) {
      const decision = decide({
        identity: this.identity,
        leaseDurationSeconds,
        nowMs,
        current: this.observation.record,
        observation: this.observation,
      });
      if (decision.kind === 'update') {
        try {
          this.written(await this.client.update(decision.record, this.lastWrittenVersion, signal), nowMs);
          return 'acquired';
        } catch (err) {
          if (signal.aborted) throw err;
          // Fall through to the slow path, as client-go does.
        }
      }
    }

    const current = await this.client.get(signal);
    if (current === null) {
      const decision = decide({ identity: this.identity, leaseDurationSeconds, nowMs, current: null, observation: null });
      if (decision.kind !== 'create') throw new Error(`unexpected decision ${decision.kind}`);
      try {
        this.written(await this.client.create(decision.record, signal), nowMs);
        return 'acquired';
      } catch (err) {
        if (err instanceof LeaseConflictError) return 'conflict';
        throw err;
      }
    }
    this.observation = observe(this.observation, current.record, this.clock());
    const decision = decide({ identity: this.identity, leaseDurationSeconds, nowMs, current: current.record, observation: this.observation });
    if (decision.kind === 'held-by-other') {
      this.logger?.debug(
        { reason: LeaderEvent.LeaseHeld, lease: this.leaseRef, holder: decision.holder },
        `leader election: ${this.leaseRef} is held by ${decision.holder} for ${Math.max(0, Math.round((decision.untilMs - this.clock()) / 1000))}s more`,
      );
      return 'held-by-other';
    }
    if (decision.kind !== 'update') throw new Error(`unexpected decision ${decision.kind}`);
    try {
      this.written(await this.client.update(decision.record, current.resourceVersion, signal), nowMs);
    } catch (err) {
      if (err instanceof LeaseConflictError) return 'conflict';
      throw err;
    }
    if (decision.takeover) {
      this.logger?.info(
        { reason: LeaderEvent.LeaseTakenOver, lease: this.leaseRef, previousHolder: current.record.holderIdentity || null, transitions: decision.record.leaseTransitions },
        `leader election: took over ${this.leaseRef}${current.record.holderIdentity ? ` from ${current.record.holderIdentity}` : ''}`,
      );
    }
    return 'acquired';
  }

  private written(lease: StoredLease, nowMs: number): void {
    this.observation = { record: lease.record, observedAtMs: nowMs };
    this.lastWrittenVersion = lease.resourceVersion;
  }

  /**
   * Clears the holder if it is still us (unless `release` is false: then the Lease expires), and
   * waits for the leadership events in flight. Best effort: errors are logged, never thrown.
   */
  protected async release(release: boolean): Promise<void> {
    await Promise.all([release ? this.clearHolder() : undefined, this.events?.flush()]);
  }

  private async clearHolder(): Promise<void> {
    const signal = AbortSignal.timeout(this.timings.renewDeadlineMs);
    try {
      const current = await this.client.get(signal);
      if (!current || current.record.holderIdentity !== this.identity) return;
      await this.client.update(releasedRecord(current.record, this.clock()), current.resourceVersion, signal);
      this.logger?.info({ reason: LeaderEvent.LeaseReleased, lease: this.leaseRef }, `leader election: released ${this.leaseRef}`);
    } catch (err) {
      this.logger?.warn(
        { reason: LeaderEvent.LeaseReleaseFailed, lease: this.leaseRef },
        `leader election: could not release ${this.leaseRef} (others take over when it expires): ${errorMessage(err)}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The real Lease, through @kubernetes/client-node

export interface KubernetesLeaseClientOptions {
  /** Default: in-cluster service account, else $KUBECONFIG / ~/.kube/config (`loadFromDefault`). */
  kubeConfig?: KubeConfig;
  namespace: string;
  name: string;
  /** Extra labels on the Lease when this process creates it. */
  labels?: Record<string, string>;
}

/** Sets the call's AbortSignal on the request (the generated client has no per-call option for it). */
function signalMiddleware(signal: AbortSignal) {
  return {
    pre: (context: RequestContext) => {
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post: (context: ResponseContext) => new Observable(Promise.resolve(context)),
  };
}

function toRecord(lease: V1Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: timeText(spec.acquireTime),
    renewTime: timeText(spec.renewTime),
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

/** The generated client types MicroTime as a Date but hands back the server's string. */
function timeText(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (value instanceof Date) return value.toISOString();
  return String(value);
}

/** MicroTime must be written with 6 fractional digits; V1MicroTime does that. */
function microTime(text: string | null): V1MicroTime | undefined {
  if (text === null) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? new V1MicroTime(ms) : undefined;
}

function toSpec(record: LeaseRecord): NonNullable<V1Lease['spec']> {
  const acquireTime = microTime(record.acquireTime);
  const renewTime = microTime(record.renewTime);
  return {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    leaseTransitions: record.leaseTransitions,
    ...(acquireTime ? { acquireTime } : {}),
    ...(renewTime ? { renewTime } : {}),
  };
}

function stored(lease: V1Lease, what: string): StoredLease {
  const resourceVersion = lease.metadata?.resourceVersion;
  if (!resourceVersion) throw new Error(`the API server returned ${what} without a resourceVersion`);
  return { record: toRecord(lease), resourceVersion };
}

function apiError(err: unknown, ref: string, verb: string): Error {
  if (err instanceof ApiException) {
    const body = err.body as { message?: unknown; reason?: unknown } | string | undefined;
    const message = typeof body === 'object' && body !== null && typeof body.message === 'string' ? body.message : `HTTP ${err.code}`;
    if (err.code === 409) return new LeaseConflictError(`${verb} ${ref}: ${message}`);
    const hint =
      err.code === 401
        ? ' (the credentials were refused)'
        : err.code === 403
          ? ' (the service account needs get, create and update on leases in coordination.k8s.io in this namespace)'
          : '';
    return new Error(`${verb} ${ref} failed: ${message}${hint}`);
  }
  if ((err as { name?: unknown } | null)?.name === 'AbortError') return new Error(`${verb} ${ref}: no answer in time`);
  return new Error(`${verb} ${ref} failed: ${errorMessage(err)}`);
}

/**
 * The pod's service account when in a cluster, else $KUBECONFIG or ~/.kube/config. Throws when
 * there is none (client-node would otherwise quietly aim at http://localhost:8080).
 */
export function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const cluster = kc.getCurrentCluster();
  if (!cluster || (cluster.name === 'cluster' && cluster.server === 'http://localhost:8080')) {
    throw new Error(
      'leader election through a Kubernetes Lease found no cluster to talk to: run it in a pod with a service account, ' +
        'set KUBECONFIG, or choose LEADER_ELECTION=postgres (or none for a single process)',
    );
  }
  return kc;
}

/** {@link LeaseClient} for the Lease `namespace/name` through @kubernetes/client-node. */
export function kubernetesLeaseClient(options: KubernetesLeaseClientOptions): LeaseClient {
  const kubeConfig = options.kubeConfig ?? defaultKubeConfig();
  const api = kubeConfig.makeApiClient(CoordinationV1Api);
  const { namespace, name } = options;
  const ref = `Lease ${namespace}/${name}`;
  const callOptions = (signal: AbortSignal) => ({ middleware: [signalMiddleware(signal)], middlewareMergeStrategy: 'append' as const });

  return {
    async get(signal) {
      try {
        return stored(await api.readNamespacedLease({ name, namespace }, callOptions(signal)), ref);
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return null;
        throw apiError(err, ref, 'reading');
      }
    },
    async create(record, signal) {
      const body: V1Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace, ...(options.labels ? { labels: options.labels } : {}) },
        spec: toSpec(record),
      };
      try {
        return stored(await api.createNamespacedLease({ namespace, body }, callOptions(signal)), ref);
      } catch (err) {
        throw apiError(err, ref, 'creating');
      }
    },
    async update(record, resourceVersion, signal) {
      // A PUT of the whole object: labels and annotations of the read are not kept, as client-go's
      // LeaseLock does not keep them either; the spec is all the election uses.
      const body: V1Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace, resourceVersion, ...(options.labels ? { labels: options.labels } : {}) },
        spec: toSpec(record),
      };
      try {
        return stored(await api.replaceNamespacedLease({ name, namespace, body }, callOptions(signal)), ref);
      } catch (err) {
        throw apiError(err, ref, 'updating');
      }
    },
  };
}
