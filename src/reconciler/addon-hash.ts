/**
 * A number from 0 to 2^32 - 1 per add-on, from a hash of its id: where in a window its deep checks
 * fall (deep-checks.ts) and when in its key's life its rotation comes due (rotation.ts), so that
 * add-ons made together are spread instead of all due at once. Every pass asks it for every add-on,
 * up to three times, so it is kept: a memo of a pure function, at most MAX_ENTRIES entries.
 */
import { createHash } from 'node:crypto';

const HASHES = new Map<string, number>();
const MAX_ENTRIES = 200_000;

export function addonHash(addonId: string): number {
  let hash = HASHES.get(addonId);
  if (hash === undefined) {
    hash = createHash('sha256').update(addonId).digest().readUInt32BE(0);
    if (HASHES.size >= MAX_ENTRIES) HASHES.clear();
    HASHES.set(addonId, hash);
  }
  return hash;
}
