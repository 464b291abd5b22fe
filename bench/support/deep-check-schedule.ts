/**
 * Where an add-on's deep-check times stand in a controller that has run passes on a one-minute
 * grid for longer than its windows: the benchmark puts the store there instead of running the
 * hours of passes it would take, and computes from there when a check would next come due.
 *
 * The phase is the one `isDeepCheckDue` gives an add-on (src/reconciler/deep-checks.ts: the first
 * four bytes of the SHA-256 of its id, modulo the window); every result is checked against
 * `deepCheckDue` itself, so a change of that formula fails the benchmark instead of skewing it.
 */
import { createHash } from 'node:crypto';
import { deepCheckDue, type DeepCheckWindows } from '../../src/reconciler/deep-checks.js';

const PASS_MS = 60_000;

function phase(addonId: string, windowMs: number): number {
  return createHash('sha256').update(addonId).digest().readUInt32BE(0) % windowMs;
}

/** The latest window boundary at or before `t`: where the add-on's epoch last changed. */
function latestBoundary(addonId: string, windowMs: number, t: number): number {
  const p = phase(addonId, windowMs);
  return p + Math.floor((t - p) / windowMs) * windowMs;
}

/** The first pass of the grid (`anchor` + k minutes) at or after `t`. */
function firstPassFrom(anchor: number, t: number): number {
  return anchor + Math.ceil((t - anchor) / PASS_MS) * PASS_MS;
}

/**
 * The add-on's check times just after the pass at `at` (a time of the grid through `anchor`), for
 * a controller that has used `windows` for at least one full window: its full check at the first
 * pass after its latest full-window boundary, its exposure check (when that window is shorter) at
 * the first pass after its latest exposure boundary, or its full check if that came later.
 */
export function lastChecksInSteadyState(addonId: string, windows: DeepCheckWindows, anchor: number, at: number): { deepCheckedAt: Date; exposureCheckedAt: Date } {
  const full = firstPassFrom(anchor, latestBoundary(addonId, windows.fullMs, at));
  let exposure = full;
  if (windows.exposureMs < windows.fullMs) exposure = Math.max(full, firstPassFrom(anchor, latestBoundary(addonId, windows.exposureMs, at)));
  const state = { deepCheckedAt: new Date(full), exposureCheckedAt: new Date(exposure) };
  // Checked against the controller's own function: nothing is overdue at `at`, and each check
  // was due at the pass it is placed at (not yet at the pass before).
  const due = (s: { deepCheckedAt: number; exposureCheckedAt: number }, t: number) =>
    deepCheckDue(addonId, { deepCheckedAt: new Date(s.deepCheckedAt), exposureCheckedAt: new Date(s.exposureCheckedAt) }, new Date(t), windows);
  const ok =
    due({ deepCheckedAt: full, exposureCheckedAt: exposure }, at) === 'none' &&
    due({ deepCheckedAt: full - PASS_MS, exposureCheckedAt: full - PASS_MS }, full) === 'full' &&
    (exposure === full || due({ deepCheckedAt: full, exposureCheckedAt: exposure - PASS_MS }, exposure) === 'exposure');
  if (!ok) throw new Error(`bench: the steady-state check times of ${addonId} disagree with deepCheckDue (has its phase formula changed?)`);
  return state;
}

/** The nearest-rank percentile (`q` in 0..1) of `values`. */
export function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}
