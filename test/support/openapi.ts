/**
 * Checks an OpenAPI 3.1 document (against the official schema, through
 * @seriousme/openapi-schema-validator) and every answer a test receives against it: the status must
 * be documented for that path and method, and the body must match its schema (ajv, draft 2020-12).
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020Module, { type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// CommonJS modules seen from ESM: the classes sit on `default`.
const Ajv2020 = Ajv2020Module.default;
const addFormats = addFormatsModule.default;

interface Operation {
  responses?: Record<string, { content?: Record<string, { schema?: object }> }>;
}
type PathItem = Record<string, Operation>;

export interface OpenApiChecker {
  document: { paths: Record<string, PathItem> };
  /** The documented path template a concrete path matches, e.g. `/api/v1/teams/{team}`. */
  templateOf(path: string): string | null;
  /** Throws when this answer is not one the document allows. */
  check(method: string, path: string, status: number, body: unknown): void;
  /** Path templates and methods answered so far, to show coverage. */
  seen: Set<string>;
}

export async function documentProblems(document: object): Promise<string[]> {
  const result = await new Validator().validate(document as Record<string, unknown>);
  if (result.valid) return [];
  return Array.isArray(result.errors) ? result.errors.map((e) => `${e.instancePath} ${e.message}`) : [String(result.errors)];
}

export function openApiChecker(document: { paths: Record<string, PathItem> }): OpenApiChecker {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const compiled = new Map<string, ValidateFunction>();
  const templates = Object.keys(document.paths).map((template) => ({
    template,
    pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
  }));
  const seen = new Set<string>();
  const templateOf = (path: string) => templates.find((t) => t.pattern.test(path.split('?')[0]!))?.template ?? null;
  return {
    document,
    seen,
    templateOf,
    check(method, path, status, body) {
      const template = templateOf(path);
      if (!template) throw new Error(`${method} ${path}: no such path in the OpenAPI document`);
      const operation = document.paths[template]![method.toLowerCase()];
      if (!operation) throw new Error(`${method} ${template}: no such operation in the OpenAPI document`);
      const response = operation.responses?.[String(status)];
      if (!response) throw new Error(`${method} ${template} answered ${status}, which the document does not list (${Object.keys(operation.responses ?? {}).join(', ')})`);
      const schema = response.content?.['application/json']?.schema;
      if (!schema) throw new Error(`${method} ${template} ${status}: the document gives no JSON schema`);
      const key = `${method} ${template} ${status}`;
      const validate = compiled.get(key) ?? ajv.compile(schema);
      compiled.set(key, validate);
      if (!validate(body)) throw new Error(`${key}: the answer does not match the document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 2000)}`);
      seen.add(`${method} ${template}`);
    },
  };
}
