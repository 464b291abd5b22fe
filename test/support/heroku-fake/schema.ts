/**
 * Validation against the official Heroku Platform API JSON hyper-schema
 * (`../shared/heroku/platform-api-schema.json`, draft-04, interagent flavour).
 *
 * The schema uses interagent's `strictProperties: true`, which ajv does not know. Its meaning (as
 * implemented by brandur/json_schema, the validator the interagent tooling uses): every property
 * listed in `properties` is required and no key other than those in `properties` or matching
 * `patternProperties` is allowed. It is added here as an ajv macro keyword, so the fake cannot add
 * undeclared fields or leave declared ones out.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import AjvDraft04Module from 'ajv-draft-04';
import type { ErrorObject, ValidateFunction } from 'ajv-draft-04';

/** The definitions the fake serves. `config-vars` is a response map (string values only);
 * `config-vars-update` is the PATCH request body (string or null values); `add-on-update` and
 * `team-app-transfer` are the request bodies of the add-on "Update" and team-app "Transfer to
 * Team" links. `account`, `team-member` and `oauth-token` are what a signed-in user's token is
 * answered (`GET /account`, `GET /teams/{team}/members`, `POST /oauth/tokens`). */
export type DefinitionName =
  | 'team'
  | 'team-app'
  | 'app'
  | 'add-on'
  | 'add-on-attachment'
  | 'config-vars'
  | 'config-vars-update'
  | 'rate-limit'
  | 'app-webhook'
  | 'app-webhook-create'
  | 'app-webhook-update'
  | 'add-on-update'
  | 'team-app-transfer'
  | 'account'
  | 'team-member'
  | 'oauth-token';

/**
 * False when HEROKU_PLATFORM_SCHEMA=off: the fake then answers without validating anything. Only
 * for the demo on a machine without the schema file; the tests always validate.
 */
export function schemaValidation(): boolean {
  return process.env['HEROKU_PLATFORM_SCHEMA'] !== 'off';
}

/** Where the schema lives: `<repo>/../shared/heroku/platform-api-schema.json`, unless overridden. */
export function schemaPath(): string {
  const override = process.env['HEROKU_PLATFORM_SCHEMA'];
  if (override) return override;
  return fileURLToPath(new URL('../../../../shared/heroku/platform-api-schema.json', import.meta.url));
}

const ROOT_ID = 'http://api.heroku.com/schema';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Keys whose values are maps of names to schemas (so a key named `example` there is a name). */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', 'definitions', 'dependencies']);

/** Deep copy without `example` keywords (they are free-form and confuse ajv) and `$schema`
 * (the interagent meta-schema URI is not resolvable; the document is draft-04). */
function strip(node: Json, parentKey: string | undefined): Json {
  if (Array.isArray(node)) return node.map((n) => strip(n, undefined));
  if (node === null || typeof node !== 'object') return node;
  const out: { [k: string]: Json } = {};
  const isMap = parentKey !== undefined && SCHEMA_MAPS.has(parentKey);
  for (const [k, v] of Object.entries(node)) {
    if (!isMap && (k === 'example' || k === '$schema')) continue;
    out[k] = strip(v, k);
  }
  return out;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

interface Compiled {
  validators: Map<DefinitionName, ValidateFunction>;
}

let compiled: Compiled | undefined;

// ajv-draft-04 is CommonJS (`module.exports = Ajv; exports.default = Ajv`); under NodeNext the
// default import is typed as the module object, so take `.default` when it is there.
type AjvCtor = typeof import('ajv-draft-04').default;
const Ajv: AjvCtor =
  ((AjvDraft04Module as unknown as { default?: AjvCtor }).default ?? (AjvDraft04Module as unknown as AjvCtor));

function compile(): Compiled {
  if (compiled) return compiled;
  const raw = JSON.parse(readFileSync(schemaPath(), 'utf8')) as Json;
  const full = strip(raw, undefined) as { [k: string]: Json };
  const definitions = full['definitions'] as { [k: string]: { [k: string]: Json } };
  allowViewerRole(definitions);

  // The PATCH request schema of config vars sits in a link of `#/definitions/config-var`.
  const patchLink = (definitions['config-var']!['links'] as Array<{ [k: string]: Json }>).find((l) => l['method'] === 'PATCH');
  if (!patchLink || !patchLink['schema']) throw new Error('schema: no PATCH link on #/definitions/config-var');
  // The request schemas of app webhooks sit in the links of `#/definitions/app-webhook`.
  const webhookLinks = definitions['app-webhook']!['links'] as Array<{ [k: string]: Json }>;
  const webhookCreate = webhookLinks.find((l) => l['method'] === 'POST')?.['schema'];
  const webhookUpdate = webhookLinks.find((l) => l['method'] === 'PATCH')?.['schema'];
  if (!webhookCreate || !webhookUpdate) throw new Error('schema: no POST or PATCH link on #/definitions/app-webhook');
  const linkSchema = (definition: string, title: string): Json => {
    const link = (definitions[definition]!['links'] as Array<{ [k: string]: Json }>).find((l) => l['title'] === title);
    if (!link?.['schema']) throw new Error(`schema: no link "${title}" on #/definitions/${definition}`);
    return link['schema'];
  };
  const addonUpdate = linkSchema('add-on', 'Update');
  const teamAppTransfer = linkSchema('team-app', 'Transfer to Team');

  // Compiling the whole document takes seconds; keep only the definitions the served ones refer
  // to (transitively), without their `links`.
  const needed = new Set<string>();
  const visit = (node: Json): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') {
        const m = /^#\/definitions\/([^/]+)/.exec(v);
        if (m && !needed.has(m[1]!)) {
          needed.add(m[1]!);
          const def = definitions[m[1]!];
          if (!def) throw new Error(`schema: dangling $ref ${v}`);
          visit({ ...def, links: null });
        }
      } else visit(v);
    }
  };
  visit(
    ['team', 'team-app', 'app', 'add-on', 'add-on-attachment', 'config-var', 'rate-limit', 'app-webhook', 'account', 'team-member', 'oauth-token'].map((d) => ({
      $ref: `#/definitions/${d}`,
    })),
  );
  visit(patchLink['schema']);
  visit([webhookCreate, webhookUpdate, addonUpdate, teamAppTransfer]);
  const doc: { [k: string]: Json } = {
    id: `${ROOT_ID}#`,
    definitions: Object.fromEntries([...needed].map((d) => {
      const { links: _links, ...def } = definitions[d]!;
      return [d, def];
    })),
  };

  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, logger: false });
  ajv.addFormat('uuid', UUID);
  ajv.addFormat('date-time', DATE_TIME);
  ajv.addFormat('date', DATE);
  ajv.addFormat('email', EMAIL);
  ajv.addFormat('ipv4', IPV4);
  ajv.addFormat('uri', {
    type: 'string',
    validate: (s: string) => {
      try {
        new URL(s);
        return true;
      } catch {
        return false;
      }
    },
  });
  ajv.addKeyword({
    keyword: 'strictProperties',
    macro: (value: unknown, parentSchema: Record<string, unknown>) => {
      if (value !== true) return true;
      const props = (parentSchema['properties'] ?? {}) as Record<string, unknown>;
      const patterns = (parentSchema['patternProperties'] ?? {}) as Record<string, unknown>;
      const keys = Object.keys(props);
      const out: Record<string, unknown> = {
        properties: Object.fromEntries(keys.map((k) => [k, {}])),
        patternProperties: Object.fromEntries(Object.keys(patterns).map((p) => [p, {}])),
        additionalProperties: false,
      };
      if (keys.length > 0) out['required'] = keys;
      return out;
    },
  });
  ajv.addSchema(doc as object);

  const ref = (pointer: string): ValidateFunction => {
    const v = ajv.getSchema(`${ROOT_ID}#${pointer}`);
    if (!v) throw new Error(`schema: cannot resolve #${pointer}`);
    return v;
  };
  const validators = new Map<DefinitionName, ValidateFunction>([
    ['team', ref('/definitions/team')],
    ['team-app', ref('/definitions/team-app')],
    ['app', ref('/definitions/app')],
    ['add-on', ref('/definitions/add-on')],
    ['add-on-attachment', ref('/definitions/add-on-attachment')],
    ['rate-limit', ref('/definitions/rate-limit')],
    [
      // The map the config-var links answer with, and the definition's own rule that values are
      // strings (the answer never holds null).
      'config-vars',
      ajv.compile({
        allOf: [
          { $ref: `${ROOT_ID}#/definitions/config-var/definitions/config_vars` },
          { $ref: `${ROOT_ID}#/definitions/config-var` },
        ],
      }),
    ],
    ['config-vars-update', ajv.compile(patchLink['schema'] as object)],
    // What the webhook links answer with (the definition itself describes no properties).
    ['app-webhook', ref('/definitions/app-webhook/definitions/app_webhook')],
    ['app-webhook-create', ajv.compile(absoluteRefs(webhookCreate) as object)],
    ['app-webhook-update', ajv.compile(absoluteRefs(webhookUpdate) as object)],
    ['add-on-update', ajv.compile(absoluteRefs(addonUpdate) as object)],
    ['team-app-transfer', ajv.compile(absoluteRefs(teamAppTransfer) as object)],
    ['account', ref('/definitions/account')],
    ['team-member', ref('/definitions/team-member')],
    ['oauth-token', ref('/definitions/oauth-token')],
  ]);
  compiled = { validators };
  return compiled;
}

/**
 * The one change made to the published schema. A team member's `role` (in `team` and
 * `team-member`) is `#/definitions/team/definitions/role`, whose enum is admin, collaborator,
 * member, owner or null; yet the same schema lets a team admin give the role `viewer`
 * (`#/definitions/team-member/definitions/team_role`, the request body of the member links, and
 * the team preference `default-permission`), and the API answers the role a member has. So the
 * read enum gains `viewer`, and only that: any other value is still a violation. (Unconfirmed
 * whether Heroku answers `viewer` or maps it; the fake answers the role it was given.)
 */
function allowViewerRole(definitions: { [k: string]: { [k: string]: Json } }): void {
  const role = (definitions['team']?.['definitions'] as { [k: string]: { [k: string]: Json } } | undefined)?.['role'];
  const teamRole = (definitions['team-member']?.['definitions'] as { [k: string]: { [k: string]: Json } } | undefined)?.['team_role'];
  if (!role || !Array.isArray(role['enum']) || !Array.isArray(teamRole?.['enum']) || !teamRole['enum'].includes('viewer')) {
    throw new Error('schema: #/definitions/team/definitions/role or team-member team_role changed; review allowViewerRole');
  }
  if (!role['enum'].includes('viewer')) role['enum'] = [...role['enum'], 'viewer'];
}

/** A link's schema compiled on its own: its `#/definitions/…` refs point into the added document. */
function absoluteRefs(node: Json): Json {
  if (Array.isArray(node)) return node.map(absoluteRefs);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' && v.startsWith('#') ? `${ROOT_ID}${v}` : absoluteRefs(v)]),
  );
}

function formatError(e: ErrorObject): string {
  const where = e.instancePath === '' ? '(root)' : e.instancePath;
  const params = e.params && Object.keys(e.params).length > 0 ? ` ${JSON.stringify(e.params)}` : '';
  return `${where} ${e.message ?? e.keyword}${params}`;
}

/** Validate `body` against a definition; returns the list of errors (empty when valid). */
export function validate(definition: DefinitionName, body: unknown): string[] {
  if (!schemaValidation()) return [];
  const v = compile().validators.get(definition);
  if (!v) throw new Error(`schema: unknown definition ${definition}`);
  if (v(body)) return [];
  // The macro keyword adds its own summary error next to the precise ones; drop it and duplicates.
  const errors = (v.errors ?? []).filter((e) => e.keyword !== 'strictProperties').map(formatError);
  return [...new Set(errors)];
}

/** Validate every element of a list answer; errors are prefixed with the element's index. */
export function validateList(definition: DefinitionName, body: unknown): string[] {
  if (!schemaValidation()) return [];
  if (!Array.isArray(body)) return [`(root) must be array, got ${typeof body}`];
  const errors: string[] = [];
  body.forEach((item, i) => {
    for (const e of validate(definition, item)) errors.push(`[${i}]${e}`);
  });
  return errors;
}
