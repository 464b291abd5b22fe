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
  resource: null,
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
    const problem = statementProblem(statement);
    if (problem) problems.push(`plan ${plan}'s policy, statement ${typeof statement.Sid === 'string' ? statement.Sid : i + 1}, ${problem}`);
  });
  const size = rendered.replace(/\s/g, '').length;
  if (size > USER_INLINE_POLICY_MAX_CHARS) {
    problems.push(`plan ${plan}'s policy takes up to ${size} characters once filled in for the longest names, over the ${USER_INLINE_POLICY_MAX_CHARS} AWS allows a user's inline policies; make it shorter (wildcards, fewer statements)`);
  }
  return problems;
}

type Statement = Record<string, unknown>;

/**
 * What makes one statement unusable, or too wide to hand to every app on a plan; null when it is
 * fine. A Deny narrows and is never refused; anything that is not exactly a Deny is judged as an
 * Allow (IAM itself takes only "Allow" and "Deny").
 */
function statementProblem(statement: Statement): string | null {
  if ('Principal' in statement || 'NotPrincipal' in statement) return 'names a Principal, which IAM refuses in a user\'s policy; remove it';
  if (statement.Effect !== 'Allow' && statement.Effect !== 'Deny') return `has Effect ${JSON.stringify(statement.Effect ?? null)}; it must be "Allow" or "Deny"`;
  if (statement.Effect === 'Deny') return null;
  if ('NotAction' in statement || 'NotResource' in statement) {
    return 'allows with NotAction or NotResource, which grants everything else in the account; name the actions and resources it allows instead';
  }
  const actions = listOf(statement.Action);
  const resources = listOf(statement.Resource);
  if (actions.some(anyAction) && resources.some(anyResource)) {
    return 'would grant every action on every resource ("*" on "*"); name the services\' actions and the resources the apps need';
  }
  const changesIam = actions.filter(changesIdentities);
  if (changesIam.length > 0) {
    return `allows ${changesIam.join(', ')}, with which an app could grant itself anything (or change the tags this controller owns its users by); a credentials plan may read IAM but not change it`;
  }
  if (actions.some((a) => anyAction(a) || a.toLowerCase().startsWith('s3:')) && resources.some(anyBucket)) {
    return 'allows S3 on every bucket of the account, the other add-ons\' buckets included; name the buckets (or their prefix) the apps need';
  }
  return null;
}

/** Only wildcards: `*`, `*:*`, `?*`, … */
function anyAction(action: string): boolean {
  return /^[*?:]+$/.test(action);
}

/** Every resource of every service: `*`, or an ARN whose service and resource are only wildcards. */
function anyResource(resource: string): boolean {
  if (resource === '*') return true;
  const parts = resource.split(':');
  if (parts[0] !== 'arn') return false;
  return onlyWildcards(parts[2] ?? '*') && onlyWildcards(parts.slice(5).join(':') || '*');
}

/** Every S3 bucket (or every object of every bucket). */
function anyBucket(resource: string): boolean {
  if (anyResource(resource)) return true;
  const parts = resource.split(':');
  return parts[0] === 'arn' && parts[2] === 's3' && /^[*?]+(\/[*?]*)?$/.test(parts.slice(5).join(':'));
}

function onlyWildcards(text: string): boolean {
  return /^[*?]*$/.test(text);
}

/**
 * IAM and STS actions that change who may do what: any IAM action but reads (a wildcard in an
 * IAM action may match a write, so it counts), and assuming roles.
 */
function changesIdentities(action: string): boolean {
  const [service = '', name = ''] = action.toLowerCase().split(':');
  if (service === 'iam') return /[*?]/.test(name) || !/^(get|list|simulate|generate)/.test(name);
  if (service === 'sts') return /[*?]/.test(name) || name.startsWith('assumerole');
  return false;
}

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
