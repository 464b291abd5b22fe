/**
 * The import graph shows the architecture (issue 14): the reconciler owns its ports and reaches no
 * adapter, no AWS SDK and no Heroku client, not even through another module; adapters import from
 * the reconciler only its ports (the core's, and each kind's own `kinds/<kind>/ports.ts`), and
 * only their types. Read with the TypeScript parser from the
 * source files, so every form of import counts: multi-line, `export … from`, `import()` and
 * `require()`.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

interface Import {
  /** The importing file, relative to src/. */
  file: string;
  specifier: string;
  /** The file imported, relative to src/, for a relative import; the package name otherwise. */
  target: string;
  /** Erased when compiled: `import type`, `export type`, or only `type` names. */
  typeOnly: boolean;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

function importsOfText(file: string, text: string): Import[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: Import[] = [];
  const add = (specifier: string, typeOnly: boolean) => {
    const target = specifier.startsWith('.') ? path.relative(SRC, path.resolve(path.dirname(file), specifier)).replace(/\.js$/, '.ts') : specifier;
    out.push({ file: path.relative(SRC, file), specifier, target, typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const named = clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings.elements : null;
      const typeOnly = !!clause && (clause.isTypeOnly || (!clause.name && !!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier.text, typeOnly);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const named = node.exportClause && ts.isNamedExports(node.exportClause) ? node.exportClause.elements : null;
      add(node.moduleSpecifier.text, node.isTypeOnly || (!!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
    } else if (ts.isCallExpression(node) && node.arguments.length > 0) {
      const isImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === 'require';
      if (isImport || isRequire) {
        const arg = node.arguments[0]!;
        // A computed specifier cannot be checked: it is refused outright.
        add(ts.isStringLiteralLike(arg) ? arg.text : `<computed: ${arg.getText(source)}>`, false);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

const importsOf = (file: string) => importsOfText(file, readFileSync(file, 'utf8'));
const inside = (folder: string) => (target: string) => target === folder || target.startsWith(`${folder}/`);
const all = (folder: string) => filesUnder(path.join(SRC, folder)).flatMap(importsOf);

/** Every file the reconciler's files load at run time (value imports, followed through src/). */
function runtimeClosure(start: string[]): Map<string, Import[]> {
  const seen = new Map<string, Import[]>();
  const queue = [...start];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    const imports = importsOf(path.join(SRC, file)).filter((i) => !i.typeOnly);
    seen.set(file, imports);
    for (const i of imports) if (i.target.endsWith('.ts') && !seen.has(i.target)) queue.push(i.target);
  }
  return seen;
}

const FORBIDDEN = ['sinks', 'sources', 'heroku', 'webhooks', 'http', 'queue', 'fast-lane', 'partner', 'cli', 'runtime.ts'].map(inside);
const forbiddenTarget = (target: string) => FORBIDDEN.some((f) => f(target)) || target.startsWith('@aws-sdk/') || target.startsWith('@smithy/') || target === 'heroku-client' || target.startsWith('<computed');

describe('the import graph', () => {
  it('reads every form of import (the checks below can fail)', () => {
    const file = path.join(SRC, 'reconciler/example.ts');
    const found = importsOfText(
      file,
      [
        "import type { A } from '../sinks/a.js';",
        "import { type B, type C } from '../sinks/b.js';",
        "import { type D, e } from '../sinks/c.js';",
        "import {\n  f, // a comment with ' and ;\n  g,\n} from '../sinks/d.js';",
        "export * from '../sources/e.js';",
        "export type { H } from './ports.js';",
        "const lazy = () => import(`../heroku/f.js`);",
        "const req = require('@aws-sdk/client-s3');",
        "const dyn = (x: string) => import(x);",
      ].join('\n'),
    );
    expect(found.map((i) => [i.target, i.typeOnly])).toEqual([
      ['sinks/a.ts', true],
      ['sinks/b.ts', true],
      ['sinks/c.ts', false],
      ['sinks/d.ts', false],
      ['sources/e.ts', false],
      ['reconciler/ports.ts', true],
      ['heroku/f.ts', false],
      ['@aws-sdk/client-s3', false],
      ['<computed: x>', false],
    ]);
  });

  it('the reconciler imports no adapter, no AWS SDK and no Heroku client', () => {
    const offending = all('reconciler').filter((i) => forbiddenTarget(i.target));
    expect(offending.map((i) => `${i.file} -> ${i.specifier}`)).toEqual([]);
  });

  it('nor does anything the reconciler loads at run time, however indirectly', () => {
    const closure = runtimeClosure(filesUnder(path.join(SRC, 'reconciler')).map((f) => path.relative(SRC, f)));
    const offending = [...closure.values()].flat().filter((i) => forbiddenTarget(i.target));
    expect(offending.map((i) => `${i.file} -> ${i.specifier}`)).toEqual([]);
    // What it does load, beside itself: the shared vocabulary and small utilities.
    const outside = [...closure.keys()].filter((f) => !inside('reconciler')(f)).sort();
    expect(outside.every((f) => f === 'reasons.ts' || inside('util')(f)), outside.join(', ')).toBe(true);
  });

  it('adapters import from the reconciler only the types of its ports and its kinds\' ports', () => {
    const fromReconciler = [...all('sinks'), ...all('sources')].filter((i) => inside('reconciler')(i.target));
    expect(fromReconciler.length).toBeGreaterThan(0);
    const isPort = (target: string) => target === 'reconciler/ports.ts' || /^reconciler\/kinds\/[a-z-]+\/ports\.ts$/.test(target);
    expect(fromReconciler.some((i) => i.target === 'reconciler/kinds/bucket/ports.ts')).toBe(true);
    const offending = fromReconciler.filter((i) => !isPort(i.target) || !i.typeOnly);
    expect(offending.map((i) => `${i.file} -> ${i.specifier}${i.typeOnly ? '' : ' (a value import)'}`)).toEqual([]);
  });
});
