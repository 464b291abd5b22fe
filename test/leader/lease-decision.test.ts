import { describe, expect, it } from 'vitest';
import { decide, expiresAtMs, observe, releasedRecord, sameRecord, type LeaseDecision, type LeaseRecord, type Observation } from '../../src/leader/lease-decision.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const ME = 'pod-a';
const OTHER = 'pod-b';

function record(over: Partial<LeaseRecord> = {}): LeaseRecord {
  return { holderIdentity: OTHER, leaseDurationSeconds: 15, acquireTime: iso(T0), renewTime: iso(T0), leaseTransitions: 3, ...over };
}

interface Case {
  reason: string;
  current: LeaseRecord | null;
  /** When we first saw `current` (local clock); null: we had not seen it before this read. */
  observedAtMs: number | null;
  nowMs: number;
  expect: LeaseDecision['kind'];
  takeover?: boolean;
  transitions?: number;
}

const cases: Case[] = [
  { reason: 'no Lease yet: create it with us as holder', current: null, observedAtMs: null, nowMs: T0, expect: 'create', transitions: 0 },
  {
    reason: 'another holder, record changed 1 s ago on our clock: still valid',
    current: record(),
    observedAtMs: T0,
    nowMs: T0 + 1_000,
    expect: 'held-by-other',
  },
  {
    reason: 'another holder, unchanged for exactly the lease duration: expired, take over',
    current: record(),
    observedAtMs: T0,
    nowMs: T0 + 15_000,
    expect: 'update',
    takeover: true,
    transitions: 4,
  },
  {
    reason: 'another holder whose renewTime is an hour old (its clock lags) but we saw it change just now: valid',
    current: record({ renewTime: iso(T0 - 3_600_000) }),
    observedAtMs: T0 + 5_000,
    nowMs: T0 + 5_000,
    expect: 'held-by-other',
  },
  {
    reason: 'another holder whose renewTime is in the future (its clock runs ahead) but unchanged for 16 s here: expired',
    current: record({ renewTime: iso(T0 + 3_600_000) }),
    observedAtMs: T0,
    nowMs: T0 + 16_000,
    expect: 'update',
    takeover: true,
    transitions: 4,
  },
  {
    reason: 'another holder, first read (never observed before): valid for a full duration from now',
    current: record({ renewTime: iso(T0 - 3_600_000) }),
    observedAtMs: null,
    nowMs: T0,
    expect: 'held-by-other',
  },
  {
    reason: "the holder's own (short) duration counts, not ours",
    current: record({ leaseDurationSeconds: 2 }),
    observedAtMs: T0,
    nowMs: T0 + 2_000,
    expect: 'update',
    takeover: true,
    transitions: 4,
  },
  {
    reason: 'released (no holder): take over at once',
    current: record({ holderIdentity: '', leaseDurationSeconds: 1 }),
    observedAtMs: T0,
    nowMs: T0,
    expect: 'update',
    takeover: true,
    transitions: 4,
  },
  {
    reason: 'we hold it: renew, keeping acquireTime and transitions',
    current: record({ holderIdentity: ME }),
    observedAtMs: T0,
    nowMs: T0 + 2_000,
    expect: 'update',
    takeover: false,
    transitions: 3,
  },
  {
    reason: 'we hold it even though it looks expired (e.g. this pod restarted): renew, no new transition',
    current: record({ holderIdentity: ME }),
    observedAtMs: T0,
    nowMs: T0 + 60_000,
    expect: 'update',
    takeover: false,
    transitions: 3,
  },
];

describe('decide (client-go tryAcquireOrRenew)', () => {
  for (const c of cases) {
    it(c.reason, () => {
      const observation: Observation | null = c.current && c.observedAtMs !== null ? { record: c.current, observedAtMs: c.observedAtMs } : null;
      const d = decide({ identity: ME, leaseDurationSeconds: 15, nowMs: c.nowMs, current: c.current, observation });
      expect(d.kind).toBe(c.expect);
      if (d.kind === 'update' || d.kind === 'create') {
        expect(d.record.holderIdentity).toBe(ME);
        expect(d.record.leaseDurationSeconds).toBe(15);
        expect(d.record.renewTime).toBe(iso(c.nowMs));
        if (c.transitions !== undefined) expect(d.record.leaseTransitions).toBe(c.transitions);
      }
      if (d.kind === 'update') {
        expect(d.takeover).toBe(c.takeover);
        // A renewal keeps the acquire time; a takeover starts a new one.
        expect(d.record.acquireTime).toBe(d.takeover ? iso(c.nowMs) : c.current!.acquireTime);
      }
      if (d.kind === 'held-by-other') {
        expect(d.holder).toBe(OTHER);
        expect(d.untilMs).toBeGreaterThan(c.nowMs);
      }
    });
  }
});

describe('observe', () => {
  it('keeps the first observation time while the record does not change', () => {
    const first = observe(null, record(), T0);
    expect(first.observedAtMs).toBe(T0);
    const again = observe(first, record(), T0 + 10_000);
    expect(again.observedAtMs).toBe(T0);
    expect(expiresAtMs(again)).toBe(T0 + 15_000);
  });

  it('restarts the clock when the holder renews (renewTime changes)', () => {
    const first = observe(null, record(), T0);
    const renewed = observe(first, record({ renewTime: iso(T0 + 2_000) }), T0 + 9_000);
    expect(renewed.observedAtMs).toBe(T0 + 9_000);
  });

  it('treats the same instant at another precision as unchanged', () => {
    const a = record({ renewTime: '2026-01-01T00:00:00.000000Z' });
    const b = record({ renewTime: '2026-01-01T00:00:00Z' });
    expect(sameRecord(a, b)).toBe(true);
    expect(observe({ record: a, observedAtMs: T0 }, b, T0 + 5_000).observedAtMs).toBe(T0);
  });

  it('sees any change of holder, duration or transitions', () => {
    const base = record();
    for (const changed of [record({ holderIdentity: 'x' }), record({ leaseDurationSeconds: 16 }), record({ leaseTransitions: 4 }), record({ acquireTime: null })]) {
      expect(sameRecord(base, changed)).toBe(false);
    }
  });
});

describe('releasedRecord', () => {
  it('clears the holder, shortens the duration to 1 s and keeps the transitions', () => {
    expect(releasedRecord(record({ holderIdentity: ME }), T0 + 1_000)).toEqual({
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTime: iso(T0 + 1_000),
      renewTime: iso(T0 + 1_000),
      leaseTransitions: 3,
    });
  });
});
