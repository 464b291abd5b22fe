/** Human and JSON output for CLI commands; every listing takes `--output json`. */

export type OutputFormat = 'text' | 'json';

export function parseOutput(value: string): OutputFormat {
  if (value !== 'text' && value !== 'json') throw new Error(`--output must be "text" or "json", not "${value}"`);
  return value;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A plain column-aligned table. */
export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write(`${[line(headers), ...rows.map(line)].join('\n')}\n`);
}
