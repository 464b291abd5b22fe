/**
 * How old the delivered access keys of an account are, against KEY_MAX_AGE (AWS Security Hub
 * IAM.3 fails keys past 90 days): what the metrics export and `plan`/`reconcile` print.
 */
export interface KeyAgeSummary {
  /** Keys delivered (recorded for a wanted add-on). */
  delivered: number;
  /** Of those, keys whose creation time is known (the others learn it at their next deep check). */
  ageKnown: number;
  pastMaxAge: number;
  /** The oldest known key's age; null when no age is known. */
  oldestAgeMs: number | null;
}

export function keyAgeSummary(createdAt: readonly (Date | null)[], now: Date, maxAgeMs: number): KeyAgeSummary {
  const ages = createdAt.filter((d): d is Date => d !== null).map((d) => Math.max(0, now.getTime() - d.getTime()));
  return {
    delivered: createdAt.length,
    ageKnown: ages.length,
    pastMaxAge: ages.filter((age) => age > maxAgeMs).length,
    oldestAgeMs: ages.length === 0 ? null : Math.max(...ages),
  };
}
