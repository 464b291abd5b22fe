/**
 * One vocabulary of reasons (issue 14): every `reason` the program writes — in a log line, a
 * journal row, a metric label, a Kubernetes event, a stored mark — is a constant of src/reasons.ts.
 * Read from the source files, so a new `reason: 'some-literal'` anywhere else in src fails here,
 * and so does a value given to two constants (a concept named twice drifts apart).
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as reasons from '../../src/reasons.js';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');
const VOCABULARY = path.join(SRC, 'reasons.ts');

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

const isReasonName = (name: ts.PropertyName): boolean => (ts.isIdentifier(name) || ts.isStringLiteral(name)) && name.text === 'reason';

/**
 * The string literals a `reason` property's value (or type) can be: through parentheses, `as`,
 * `satisfies`, either branch of `?:`, either side of `??` and `||`, and every member of a union type.
 */
function literalsIn(node: ts.Node): ts.Node[] {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return [node];
  if (ts.isLiteralTypeNode(node)) return literalsIn(node.literal);
  if (ts.isParenthesizedExpression(node) || ts.isAsExpression(node) || ts.isSatisfiesExpression(node) || ts.isTypeAssertionExpression(node)) {
    return literalsIn(node.expression);
  }
  if (ts.isConditionalExpression(node)) return [...literalsIn(node.whenTrue), ...literalsIn(node.whenFalse)];
  if (ts.isBinaryExpression(node) && [ts.SyntaxKind.QuestionQuestionToken, ts.SyntaxKind.BarBarToken].includes(node.operatorToken.kind)) {
    return [...literalsIn(node.left), ...literalsIn(node.right)];
  }
  if (ts.isUnionTypeNode(node)) return node.types.flatMap(literalsIn);
  if (ts.isParenthesizedTypeNode(node)) return literalsIn(node.type);
  return [];
}

/** `file:line: text` of every `reason` written as a string literal in `text`. */
export function reasonLiterals(text: string, file = 'sample.ts'): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    let value: ts.Node | undefined;
    if (ts.isPropertyAssignment(node) && isReasonName(node.name)) value = node.initializer;
    else if ((ts.isPropertySignature(node) || ts.isPropertyDeclaration(node)) && isReasonName(node.name)) value = node.type ?? (ts.isPropertyDeclaration(node) ? node.initializer : undefined);
    for (const literal of value ? literalsIn(value) : []) {
      const { line } = source.getLineAndCharacterOfPosition(literal.getStart(source));
      found.push(`${file}:${line + 1}: ${literal.getText(source)}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The exported constant groups of src/reasons.ts: name → (member → value). */
const groups = (Object.entries(reasons) as [string, unknown][]).filter((entry): entry is [string, Record<string, string>] => typeof entry[1] === 'object' && entry[1] !== null);

describe('one vocabulary of reasons', () => {
  it('finds reason literals however they are written (the check below can fail)', () => {
    const sample = [
      `log.warn({ reason: 'quoted-once' }, 'message');`,
      `log.warn({ reason: "quoted-twice" }, 'message');`,
      `log.info({ 'reason': 'quoted-key' });`,
      `log.info({ reason: leading ? 'either' : ('or' as const) });`,
      `log.info({ reason: given ?? \`fallback\` });`,
      `interface Mark { reason: 'a' | 'b' | null }`,
    ].join('\n');
    expect(reasonLiterals(sample).map((f) => f.replace(/^sample\.ts:\d+: /, ''))).toEqual([
      `'quoted-once'`,
      `"quoted-twice"`,
      `'quoted-key'`,
      `'either'`,
      `'or'`,
      '`fallback`',
      `'a'`,
      `'b'`,
    ]);
    const fine = [
      `log.warn({ reason: FastLaneEvent.NotLeader, addonId: 'x' });`,
      `log.warn({ reason: action.reason }, 'message');`,
      `return { reason: \`waited \${ms} ms\` };`,
      `interface Row { orphan_reason: 'deprovisioned' | null; reason: OrphanReason }`,
      `// a comment may quote { reason: 'observe-failed' }`,
    ].join('\n');
    expect(reasonLiterals(fine)).toEqual([]);
  });

  it('no file under src but src/reasons.ts writes a reason as a string literal', () => {
    const files = filesUnder(SRC).filter((file) => file !== VOCABULARY);
    expect(files.length).toBeGreaterThan(50);
    const offending = files.flatMap((file) => reasonLiterals(readFileSync(file, 'utf8'), path.relative(SRC, file)));
    expect(offending, 'use (or add) a constant of src/reasons.ts').toEqual([]);
  });

  it('no two constants share a value: one concept, one constant', () => {
    expect(groups.length).toBeGreaterThan(10);
    const owners = new Map<string, string[]>();
    for (const [group, members] of groups) {
      for (const [member, value] of Object.entries(members)) {
        expect(typeof value, `${group}.${member}`).toBe('string');
        owners.set(value, [...(owners.get(value) ?? []), `${group}.${member}`]);
      }
    }
    const shared = [...owners].filter(([, names]) => names.length > 1).map(([value, names]) => `${value}: ${names.join(', ')}`);
    expect(shared).toEqual([]);
  });

  it('the Reason type is the union of every group, and every event reason says when it is written', () => {
    const text = readFileSync(VOCABULARY, 'utf8');
    const union = /export type Reason =([^;]*);/.exec(text)?.[1] ?? '';
    const named = union.split('|').map((s) => s.trim()).filter(Boolean);
    expect(named.sort()).toEqual(groups.map(([group]) => group).sort());

    // DriftKind's members name what differs and need no sentence; every other member has one.
    const source = ts.createSourceFile(VOCABULARY, text, ts.ScriptTarget.Latest, true);
    const undocumented: string[] = [];
    source.forEachChild((statement) => {
      if (!ts.isVariableStatement(statement)) return;
      for (const declaration of statement.declarationList.declarations) {
        const group = declaration.name.getText(source);
        let init = declaration.initializer;
        while (init && ts.isAsExpression(init)) init = init.expression;
        if (group === 'DriftKind' || !init || !ts.isObjectLiteralExpression(init)) continue;
        for (const property of init.properties) {
          if (ts.getJSDocCommentsAndTags(property).length === 0) undocumented.push(`${group}.${property.name?.getText(source)}`);
        }
      }
    });
    expect(undocumented).toEqual([]);
  });
});
