/** Durations as operators write them: `90s`, `5m`, `24h`, `7d`; a bare number means seconds. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses a duration to milliseconds, or returns null when the text is not one. */
export function parseDuration(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) return null;
  const unit = match[2] ?? 's';
  return Number(match[1]) * (UNIT_MS[unit] ?? 1_000);
}

/** A span of time as people read it: `3 d 4 h`, `1 d`, `2 h 5 min`, `7 min`, `40 s`. */
export function humanDuration(seconds: number): string {
  const m = Math.floor(seconds / 60);
  const h = Math.floor(m / 60);
  const d = Math.floor(h / 24);
  if (d > 0) return h % 24 > 0 ? `${d} d ${h % 24} h` : `${d} d`;
  if (h > 0) return m % 60 > 0 ? `${h} h ${m % 60} min` : `${h} h`;
  if (m > 0) return `${m} min`;
  return `${seconds} s`;
}
