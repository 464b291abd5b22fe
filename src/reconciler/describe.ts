/** How plan() writes what it saw into drift details: names and ids only, never a secret. */

/** Tags as `key=value, …`: tag values are ids, never secrets. */
export function describeTags(tags: Record<string, string>): string {
  const entries = Object.entries(tags).sort(([a], [b]) => a.localeCompare(b));
  return entries.length === 0 ? 'none' : entries.map(([k, v]) => `${k}=${v}`).join(', ');
}

export function pick(tags: Record<string, string>, keys: string[]): Record<string, string> {
  return Object.fromEntries(keys.filter((k) => k in tags).map((k) => [k, tags[k]!]));
}

