/**
 * Validation of the add-on config endpoints (`#/definitions/add-on-config`, its PATCH link's request
 * schema) against the official schema, for the fake's partner side. Kept apart from `schema.ts`,
 * which compiles the definitions the Platform API fake serves; the add-on config definition refers
 * to nothing outside itself, so it is compiled here on its own, with the same reading of
 * `strictProperties` (every listed property required, no other).
 */
import { readFileSync } from 'node:fs';
import AjvDraft04Module from 'ajv-draft-04';
import type { ValidateFunction } from 'ajv-draft-04';
import { schemaPath, schemaValidation } from './schema.js';

const ROOT_ID = 'http://api.heroku.com/schema';

type AjvCtor = typeof import('ajv-draft-04').default;
const Ajv: AjvCtor = (AjvDraft04Module as unknown as { default?: AjvCtor }).default ?? (AjvDraft04Module as unknown as AjvCtor);

export type PartnerDefinition = 'add-on-config-list' | 'add-on-config-update';

let validators: Map<PartnerDefinition, ValidateFunction> | undefined;

function withoutExamples(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutExamples);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node as Record<string, unknown>)
      .filter(([k]) => k !== 'example' && k !== '$schema' && k !== 'links')
      .map(([k, v]) => [k, withoutExamples(v)]),
  );
}

function absoluteRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(absoluteRefs);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node as Record<string, unknown>).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' && v.startsWith('#') ? `${ROOT_ID}${v}` : absoluteRefs(v)]),
  );
}

function compile(): Map<PartnerDefinition, ValidateFunction> {
  if (validators) return validators;
  const raw = JSON.parse(readFileSync(schemaPath(), 'utf8')) as { definitions: Record<string, { links?: Array<Record<string, unknown>> }> };
  const definition = raw.definitions['add-on-config'];
  if (!definition) throw new Error('schema: no #/definitions/add-on-config');
  const patch = definition.links?.find((l) => l['method'] === 'PATCH')?.['schema'];
  if (!patch) throw new Error('schema: no PATCH link on #/definitions/add-on-config');
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, logger: false });
  ajv.addKeyword({
    keyword: 'strictProperties',
    macro: (value: unknown, parentSchema: Record<string, unknown>) => {
      if (value !== true) return true;
      const keys = Object.keys((parentSchema['properties'] ?? {}) as Record<string, unknown>);
      return { properties: Object.fromEntries(keys.map((k) => [k, {}])), additionalProperties: false, ...(keys.length > 0 ? { required: keys } : {}) };
    },
  });
  ajv.addSchema({ id: `${ROOT_ID}#`, definitions: { 'add-on-config': withoutExamples(definition) } } as object);
  validators = new Map<PartnerDefinition, ValidateFunction>([
    ['add-on-config-list', ajv.compile({ type: ['array'], items: { $ref: `${ROOT_ID}#/definitions/add-on-config` } })],
    ['add-on-config-update', ajv.compile(absoluteRefs(withoutExamples(patch)) as object)],
  ]);
  return validators;
}

/** Errors of `body` against a partner definition; empty when valid. */
export function validatePartner(definition: PartnerDefinition, body: unknown): string[] {
  if (!schemaValidation()) return [];
  const v = compile().get(definition)!;
  if (v(body)) return [];
  return [...new Set((v.errors ?? []).filter((e) => e.keyword !== 'strictProperties').map((e) => `${e.instancePath || '(root)'} ${e.message ?? e.keyword}`))];
}
