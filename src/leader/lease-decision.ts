/**
 * client-go's leader-election decision (`tryAcquireOrRenew` in
 * k8s.io/client-go/tools/leaderelection), as pure functions of the lease record read, what this
 * process observed before, its identity and the local time. No I/O: the caller reads and writes
 * the Lease (see kubernetes-lease.ts).
 *
 * Expiry is judged from the LOCAL time at which this process last saw the record change, plus the
 * record's `leaseDurationSeconds`, never from the remote `renewTime`, so clocks of different
 * machines need not agree, only run at about the same rate.
 */

/** The election fields of a Lease's spec. Times are as the API server returned them (RFC 3339). */
export interface LeaseRecord {
  /** '' when nobody holds it (e.g. released). */
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: string | null;
  renewTime: string | null;
  leaseTransitions: number;
}

/** The record as last seen, and when (local clock) it was first seen with this content. */
export interface Observation {
  record: LeaseRecord;
  observedAtMs: number;
}

export function sameRecord(a: LeaseRecord, b: LeaseRecord): boolean {
  return (
    a.holderIdentity === b.holderIdentity &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    sameInstant(a.acquireTime, b.acquireTime) &&
    sameInstant(a.renewTime, b.renewTime) &&
    a.leaseTransitions === b.leaseTransitions
  );
}

/** Same instant whatever the precision written (`…00Z` vs `…00.000000Z`). */
function sameInstant(a: string | null, b: string | null): boolean {
  if (a === b) return true;
  if (a === null || b === null) return false;
  const ta = Date.parse(a);
  const tb = Date.parse(b);
  return Number.isFinite(ta) && ta === tb;
}

/**
 * The observation after reading `current` at `nowMs`: unchanged when the record is the same as
 * before (so its expiry keeps counting from when it last changed), else restarted at `nowMs`.
 */
export function observe(previous: Observation | null, current: LeaseRecord, nowMs: number): Observation {
  if (previous && sameRecord(previous.record, current)) return previous;
  return { record: current, observedAtMs: nowMs };
}

/** Local time at which an observed lease stops being valid. */
export function expiresAtMs(observation: Observation): number {
  return observation.observedAtMs + observation.record.leaseDurationSeconds * 1000;
}

export type LeaseDecision =
  /** No Lease yet: create it holding it ourselves. `AlreadyExists` means another won the race. */
  | { kind: 'create'; record: LeaseRecord }
  /**
   * Write `record` with the resourceVersion that was read: a renewal when we hold it already, a
   * takeover (`leaseTransitions` + 1) when it was free or expired. `409 Conflict` means another
   * process wrote first: we lost this round.
   */
  | { kind: 'update'; record: LeaseRecord; takeover: boolean }
  /** Another process holds a lease that is still valid until `untilMs` (local clock). */
  | { kind: 'held-by-other'; holder: string; untilMs: number };

export interface DecideInput {
  identity: string;
  /** Our lease duration, written into the record. Whole seconds. */
  leaseDurationSeconds: number;
  nowMs: number;
  /** The record read from the server, or null when the Lease does not exist. */
  current: LeaseRecord | null;
  /** What we observed up to and including this read (see {@link observe}); null when `current` is. */
  observation: Observation | null;
}

/** What to do with the Lease just read. Pure. */
export function decide(input: DecideInput): LeaseDecision {
  const { identity, leaseDurationSeconds, nowMs, current, observation } = input;
  const now = new Date(nowMs).toISOString();
  if (current === null) {
    return {
      kind: 'create',
      record: { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
    };
  }
  const holder = current.holderIdentity;
  if (holder !== '' && holder !== identity) {
    // Judged from when *we* saw the record change; without an observation, it changed just now.
    const untilMs = observation ? expiresAtMs(observation) : nowMs + current.leaseDurationSeconds * 1000;
    if (untilMs > nowMs) return { kind: 'held-by-other', holder, untilMs };
  }
  if (holder === identity) {
    return {
      kind: 'update',
      takeover: false,
      record: {
        holderIdentity: identity,
        leaseDurationSeconds,
        acquireTime: current.acquireTime ?? now,
        renewTime: now,
        leaseTransitions: current.leaseTransitions,
      },
    };
  }
  // Free (released) or expired: take it over.
  return {
    kind: 'update',
    takeover: true,
    record: {
      holderIdentity: identity,
      leaseDurationSeconds,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: current.leaseTransitions + 1,
    },
  };
}

/**
 * The record written on release (client-go's `release()`): no holder, a 1 s duration so anyone
 * still judging by duration takes over almost at once, transitions kept.
 */
export function releasedRecord(current: LeaseRecord, nowMs: number): LeaseRecord {
  const now = new Date(nowMs).toISOString();
  return { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: current.leaseTransitions };
}
