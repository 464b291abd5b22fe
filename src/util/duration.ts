/** Durations as operators write them: `90s`, `5m`, `24h`, `7d`; a bare number means seconds. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses a duration to milliseconds, or returns null when the text is not one. */
export function parseDuration(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) return null;
  const unit = match[2] ?? 's';
  return Number(match[1]) * (UNIT_MS[unit] ?? 1_000);
}
