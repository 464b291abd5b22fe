/**
 * When each resource gets its deep check (every setting, every key), and when its public-exposure
 * check (the settings that can make a bucket public: its public access block, policy and object
 * ownership), risk first: those few reads come round on a shorter window than the rest.
 *
 * Each add-on has its own phase in a window, taken from a hash of its id, and is checked once per
 * window at that phase: the checks spread evenly over the window whenever the resources were
 * made, instead of coming due all at once.
 */
import { addonHash } from './addon-hash.js';

/** How often an add-on's resources are read in full, and how often their public-exposure settings. */
export interface DeepCheckWindows {
  fullMs: number;
  exposureMs: number;
  /**
   * When these windows took over from others (an account's change events stopped or started): a
   * check made before counts as made then. Without it, shorter windows taking over from longer
   * ones would find nearly every resource overdue and read them all in one pass; with it, they
   * come round spread over one window from then, as always.
   */
  since?: Date | null;
}

/** What a pass reads of one add-on's resources beyond the bulk inventory. */
export type DeepCheckDepth = 'full' | 'exposure' | 'none';

export function isDeepCheckDue(addonId: string, lastCheckedAt: Date | null, now: Date, windowMs: number): boolean {
  if (lastCheckedAt === null || windowMs <= 0) return true;
  const phase = addonHash(addonId) % windowMs;
  const epoch = (t: Date) => Math.floor((t.getTime() - phase) / windowMs);
  return epoch(now) > epoch(lastCheckedAt);
}

/**
 * The check an add-on is due for now: the full one when its window has come round, else the
 * exposure one when that shorter window has, else none. A full check reads the exposure settings
 * too (and records both times), so an exposure window as long as the full one adds nothing.
 */
export function deepCheckDue(
  addonId: string,
  checked: { deepCheckedAt: Date | null; exposureCheckedAt: Date | null },
  now: Date,
  windows: DeepCheckWindows,
): DeepCheckDepth {
  const since = windows.since ?? null;
  // A resource never checked is due at once, whenever the windows changed.
  const counted = (at: Date | null) => (at !== null && since !== null && at < since ? since : at);
  if (isDeepCheckDue(addonId, counted(checked.deepCheckedAt), now, windows.fullMs)) return 'full';
  if (windows.exposureMs < windows.fullMs && isDeepCheckDue(addonId, counted(checked.exposureCheckedAt ?? checked.deepCheckedAt), now, windows.exposureMs)) return 'exposure';
  return 'none';
}
