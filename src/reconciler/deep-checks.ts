/**
 * When each resource gets its deep check (every setting, every key). Each add-on has its own
 * phase in the window, taken from a hash of its id, and is checked once per window at that phase:
 * the checks spread evenly over the window whenever the resources were made, instead of coming
 * due all at once.
 */
import { createHash } from 'node:crypto';

export function isDeepCheckDue(addonId: string, lastCheckedAt: Date | null, now: Date, windowMs: number): boolean {
  if (lastCheckedAt === null || windowMs <= 0) return true;
  const phase = createHash('sha256').update(addonId).digest().readUInt32BE(0) % windowMs;
  const epoch = (t: Date) => Math.floor((t.getTime() - phase) / windowMs);
  return epoch(now) > epoch(lastCheckedAt);
}
