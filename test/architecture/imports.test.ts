/**
 * The import graph shows the architecture (issue 14): the reconciler owns its ports and imports
 * no adapter, no AWS SDK and no Heroku client; adapters import from the reconciler only its ports,
 * and only their types. Read from the source files, so a new import that breaks this fails here.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

interface Import {
  file: string;
  specifier: string;
  /** Resolved path relative to src/ for relative imports; the package name otherwise. */
  target: string;
  typeOnly: boolean;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

export function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const out: Import[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[3] ?? match[4]!;
    const target = specifier.startsWith('.') ? path.relative(SRC, path.resolve(path.dirname(file), specifier)).replace(/\.js$/, '.ts') : specifier;
    out.push({ file: path.relative(SRC, file), specifier, target, typeOnly: match[2] !== undefined });
  }
  return out;
}

const inside = (folder: string) => (target: string) => target === folder || target.startsWith(`${folder}/`);
const all = (folder: string) => filesUnder(path.join(SRC, folder)).flatMap(importsOf);

describe('the import graph', () => {
  it('reads imports the way TypeScript writes them (the check below can fail)', () => {
    const sample = importsOf(path.join(SRC, 'sinks/aws/aws-cloud.ts'));
    expect(sample.map((i) => i.target)).toContain('reconciler/ports.ts');
    expect(sample.find((i) => i.target === 'reconciler/ports.ts')?.typeOnly).toBe(true);
    expect(sample.map((i) => i.target)).toContain('sinks/aws/s3-bucket.ts');
  });

  it('the reconciler imports no adapter, no AWS SDK and no Heroku client', () => {
    const forbidden = ['sinks', 'sources', 'heroku', 'webhooks', 'http', 'queue', 'fast-lane', 'partner', 'cli', 'runtime.ts'].map(inside);
    const offending = all('reconciler').filter((i) => forbidden.some((f) => f(i.target)) || i.target.startsWith('@aws-sdk/') || i.target === 'heroku-client');
    expect(offending.map((i) => `${i.file} -> ${i.specifier}`)).toEqual([]);
  });

  it('adapters import from the reconciler only the types of its ports', () => {
    const fromReconciler = [...all('sinks'), ...all('sources')].filter((i) => inside('reconciler')(i.target));
    expect(fromReconciler.length).toBeGreaterThan(0);
    const offending = fromReconciler.filter((i) => i.target !== 'reconciler/ports.ts' || !i.typeOnly);
    expect(offending.map((i) => `${i.file} -> ${i.specifier}${i.typeOnly ? '' : ' (a value import)'}`)).toEqual([]);
  });
});
