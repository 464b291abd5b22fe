/**
 * The credentials kind's policy: a JSON policy document from the plan's profile, with variables
 * filled in per add-on, e.g. `arn:aws:s3:::shared-${team}/${app}/*` or
 * `arn:aws:sqs:*:${account}:${app}-*`. Checked at start, so a template that cannot work, or that
 * would grant everything, stops the controller with a plain message instead of reaching AWS.
 */
import type { PolicyContext } from '../kind.js';

/** The variables a template may use, and where each comes from. */
const VARIABLES: Record<string, (ctx: PolicyContext) => string> = {
  addon: (ctx) => ctx.addon.addonName,
  addon_id: (ctx) => ctx.addon.addonId,
  app: (ctx) => ctx.addon.appName,
  app_id: (ctx) => ctx.addon.appId,
  team: (ctx) => ctx.teamName,
  team_id: (ctx) => ctx.addon.teamId,
  account: (ctx) => ctx.accountId,
};

const VARIABLE = /\$\{([^}]*)\}/g;

/** AWS's limit for all inline policies of one user, counted without whitespace. */
export const USER_INLINE_POLICY_MAX_CHARS = 2048;

/**
 * The template with every variable replaced by its value, as it appears inside a JSON string
 * (Heroku names are lowercase letters, digits and dashes, so that is the value itself).
 */
export function renderPolicy(template: string, ctx: PolicyContext): string {
  return template.replace(VARIABLE, (_whole, name: string) => {
    const value = VARIABLES[name];
    if (!value) throw new Error(`unknown policy variable \${${name}}`);
    return JSON.stringify(value(ctx)).slice(1, -1);
  });
}

/** Values as long as Heroku and AWS allow, to check a template the way its longest add-on would fill it. */
const LONGEST: PolicyContext = {
  addon: { addonId: '01234567-89ab-cdef-0123-456789abcdef', addonName: `${'a'.repeat(56)}-1234`, appId: '01234567-89ab-cdef-0123-456789abcdef', appName: 'a'.repeat(30), teamId: '01234567-89ab-cdef-0123-456789abcdef' },
  teamName: 'a'.repeat(30),
  accountId: '123456789012',
  bucket: null,
  profile: { kind: 'credentials', access: 'read-write', versioning: false, corsOrigins: [], retain: false, policy: null },
};

/** What is wrong with a credentials plan's template, one sentence each; none when it is usable. */
export function templateProblems(plan: string, template: string | null): string[] {
  if (template === null || template.trim() === '') {
    return [`plan ${plan} is kind "credentials" and needs a "policy": the IAM policy document its users get, e.g. {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:*","Resource":"arn:aws:sqs:*:\${account}:\${app}-*"}]}`];
  }
  const unknown = [...template.matchAll(VARIABLE)].map((m) => m[1]!).filter((name) => !(name in VARIABLES));
  if (unknown.length > 0) {
    return [`plan ${plan}'s policy uses ${[...new Set(unknown)].map((n) => `\${${n}}`).join(', ')}; the variables are ${Object.keys(VARIABLES).map((n) => `\${${n}}`).join(', ')}`];
  }
  const rendered = renderPolicy(template, LONGEST);
  let document: unknown;
  try {
    document = JSON.parse(rendered);
  } catch (err) {
    return [`plan ${plan}'s policy is not a JSON document once its variables are filled in (${(err as Error).message})`];
  }
  const statements = statementsOf(document);
  if (statements === null) return [`plan ${plan}'s policy has no "Statement": write it as {"Version":"2012-10-17","Statement":[…]}`];
  const problems: string[] = [];
  statements.forEach((statement, i) => {
    if (statement.Effect !== 'Allow') return;
    const where = `plan ${plan}'s policy, statement ${typeof statement.Sid === 'string' ? statement.Sid : i + 1}`;
    if ('NotAction' in statement || 'NotResource' in statement) {
      problems.push(`${where} allows with NotAction or NotResource, which grants everything else in the account; name the actions and resources it allows instead`);
      return;
    }
    const actions = listOf(statement.Action);
    const resources = listOf(statement.Resource);
    if (actions.some((a) => a === '*' || a === '*:*') && resources.includes('*')) {
      problems.push(`${where} would grant every action on every resource ("*" on "*"); name the services' actions and the resources the apps need`);
    }
  });
  const size = rendered.replace(/\s/g, '').length;
  if (size > USER_INLINE_POLICY_MAX_CHARS) {
    problems.push(`plan ${plan}'s policy takes up to ${size} characters once filled in for the longest names, over the ${USER_INLINE_POLICY_MAX_CHARS} AWS allows a user's inline policies; make it shorter (wildcards, fewer statements)`);
  }
  return problems;
}

type Statement = Record<string, unknown>;

function statementsOf(document: unknown): Statement[] | null {
  if (document === null || typeof document !== 'object') return null;
  const raw = (document as { Statement?: unknown }).Statement;
  const list = Array.isArray(raw) ? raw : raw !== undefined ? [raw] : null;
  if (!list || list.length === 0 || !list.every((s) => s !== null && typeof s === 'object')) return null;
  return list as Statement[];
}

function listOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
