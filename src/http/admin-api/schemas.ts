/**
 * JSON Schemas of the admin API's bodies and answers. They validate requests, shape the JSON
 * written (fastify's serializer drops any property a schema does not name, a last guard against
 * a secret slipping into an answer) and make the OpenAPI document (`/api/v1/openapi.json`).
 */
const str = { type: 'string' } as const;
const nullableStr = { type: ['string', 'null'] } as const;
const time = { type: 'string', format: 'date-time' } as const;
const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const;

export const obj = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  ({ type: 'object', required: Object.keys(properties), additionalProperties: false, properties, ...extra }) as const;

export const ErrorAnswer = obj({ error: { ...str, description: 'What is wrong and what to do, in one sentence.' } });

export const LinkHealth = obj({
  status: { type: 'string', enum: ['ok', 'failing', 'unknown'], description: 'How the account read on the latest pass; unknown before one.' },
  error: nullableStr,
  checkedAt: nullableTime,
});

export const LinkView = {
  type: 'object',
  required: ['teamId', 'teamName', 'accountId', 'region', 'auth', 'createdAt', 'health'],
  additionalProperties: false,
  properties: {
    teamId: str,
    teamName: str,
    accountId: { type: 'string', pattern: '^\\d{12}$' },
    region: nullableStr,
    auth: { type: 'string', enum: ['keys', 'role'] },
    accessKeyId: { ...str, description: 'For a link by access keys; the secret is never shown.' },
    accessKeyCreatedAt: { ...nullableTime, description: 'When AWS made that key, read when linking (null: the user may not list its own keys, or it was linked before this was kept).' },
    accessKeyPastMaxAge: { type: ['boolean', 'null'], description: 'The key is older than KEY_MAX_AGE: replace it (null: its age is unknown).' },
    roleArn: str,
    externalId: { type: ['string', 'null'], enum: ['set', null], description: '"set" when the role needs one; its value is never shown.' },
    createdAt: time,
    health: LinkHealth,
  },
} as const;

export const LinkRequest = {
  type: 'object',
  required: ['team'],
  additionalProperties: false,
  properties: {
    team: { type: 'string', minLength: 1, maxLength: 100, description: 'Heroku Team name or id.' },
    region: { type: 'string', description: 'AWS region for the team\'s buckets; default: mapped from each app\'s region.' },
    accessKeyId: { type: 'string', minLength: 1, maxLength: 128 },
    secretAccessKey: { type: 'string', minLength: 1, maxLength: 256, writeOnly: true },
    roleArn: { type: 'string', minLength: 1, maxLength: 2048 },
    externalId: { type: 'string', minLength: 2, maxLength: 1224, writeOnly: true },
  },
} as const;

export const TeamSummary = obj({
  teamId: str,
  teamName: str,
  accountId: str,
  addons: { type: 'integer', minimum: 0 },
  drifted: { type: 'integer', minimum: 0 },
  orphans: { type: 'integer', minimum: 0 },
  health: LinkHealth,
});

const OrphanMark = obj({
  reason: { type: 'string', enum: ['deprovisioned', 'orphaned'] },
  since: time,
  deleteAfter: time,
  secondsLeft: { type: 'integer', minimum: 0, description: 'Until the grace ends; 0 when it has.' },
  heldByBreaker: { type: 'boolean' },
  retained: { type: 'boolean', description: 'Kept by its plan\'s retain setting: never deleted.' },
});

const DriftEntry = obj({
  kind: str,
  status: { type: 'string', enum: ['repairable', 'blocked', 'flapping', 'waiting', 'retained'] },
  resource: str,
  field: str,
  expected: nullableStr,
  actual: nullableStr,
});

const Attachment = obj({
  attachmentId: str,
  name: nullableStr,
  appId: str,
  appName: nullableStr,
  delivered: { type: 'boolean' },
  deliveredAt: nullableTime,
});

export const AddonView = obj({
  addonId: str,
  addonName: nullableStr,
  appName: nullableStr,
  plan: nullableStr,
  kind: nullableStr,
  wanted: { type: 'boolean', description: 'Heroku still lists the add-on; false for an orphan.' },
  state: { type: 'string', enum: ['pending', 'ready', 'error', 'retained'] },
  lastError: nullableStr,
  region: nullableStr,
  resourceName: nullableStr,
  userName: nullableStr,
  accessKeyId: nullableStr,
  keyCreatedAt: { ...nullableTime, description: 'When AWS made the key (null: no key, or not known until its next deep check).' },
  keyPastMaxAge: { type: ['boolean', 'null'], description: 'The key is older than KEY_MAX_AGE (null: no key, or its age is unknown).' },
  orphan: { anyOf: [OrphanMark, { type: 'null' }] },
  rotation: {
    anyOf: [
      obj({
        step: { type: 'string', enum: ['requested', 'creating', 'delivered', 'deactivated', 'reactivated'] },
        since: time,
        trigger: { type: 'string', enum: ['age', 'on-demand', 'emergency'] },
        oldAccessKeyId: { ...str, description: 'The key the rotation retires; accessKeyId is the new one once it is made.' },
      }),
      { type: 'null' },
    ],
    description: 'The key rotation in flight, if any.',
  },
  attachments: { type: 'array', items: Attachment },
  drift: { type: 'array', items: DriftEntry },
});

export const TeamDetail = obj({
  teamId: str,
  teamName: str,
  link: LinkView,
  readAt: nullableTime,
  herokuComplete: { type: ['boolean', 'null'] },
  addons: { type: 'array', items: AddonView },
});

export const OrphanView = obj({
  addonId: str,
  addonName: str,
  teamId: str,
  accountId: str,
  kind: str,
  resourceName: nullableStr,
  userName: str,
  ...OrphanMark.properties,
});

export const BreakerView = obj({
  accountId: str,
  trippedAt: time,
  approvedAt: nullableTime,
  planned: {
    type: 'array',
    items: obj({ addonId: str, addonName: nullableStr, teamId: nullableStr, resourceName: nullableStr, userName: nullableStr }),
  },
});

export const ApproveRequest = obj(
  { addonIds: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 10_000, description: 'Exactly the add-ons the breaker holds, as shown: a changed plan is refused.' } },
);

export const DriftReportSchema = obj({
  generatedAt: time,
  summary: obj({
    managed: { type: 'integer' },
    inSync: { type: 'integer' },
    drifted: { type: 'integer' },
    missing: { type: 'integer' },
    orphaned: { type: 'integer' },
    flapping: { type: 'integer' },
  }),
  items: { type: 'array', items: obj({ ...DriftEntry.properties, accountId: str, addonId: str }) },
});

export const JournalEntry = obj({
  id: { type: 'integer' },
  at: time,
  instanceId: str,
  accountId: nullableStr,
  addonId: nullableStr,
  action: str,
  resource: str,
  phase: { type: 'string', enum: ['intent', 'ok', 'failed'] },
  actor: { ...nullableStr, description: 'Who made the change: token:NAME, heroku:EMAIL, cli:LOGIN; null for the controller itself.' },
  detail: { type: 'object', additionalProperties: true, description: 'What the journal line records beside; never a secret.' },
});

export const JournalQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    action: { type: 'string', maxLength: 64 },
    addon: { type: 'string', maxLength: 64 },
    account: { type: 'string', pattern: '^\\d{12}$' },
    actor: { type: 'string', maxLength: 200 },
    after: { type: 'integer', minimum: 0 },
    before: { type: 'integer', minimum: 1 },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
  },
} as const;

const accountId = { type: 'string', pattern: '^\\d{12}$' } as const;
const trigger = { type: 'string', enum: ['age', 'on-demand', 'emergency'], description: 'age: KEY_MAX_AGE; on-demand: an operator; emergency: an operator who said the key leaked (no overlap).' } as const;

export const RotationView = obj({
  addonId: str,
  addonName: nullableStr,
  teamId: nullableStr,
  accountId: str,
  step: { type: 'string', enum: ['requested', 'creating', 'delivered', 'deactivated', 'reactivated'], description: 'requested: waits for its turn; creating: the new key is made and delivered; delivered: the old key stays active for ROTATION_OVERLAP; deactivated: deleted after ROTATION_DEACTIVATED_GRACE; reactivated: the old key was used after its deactivation and waits for an operator.' },
  since: { ...time, description: 'When it reached its step.' },
  trigger,
  oldAccessKeyId: str,
  newAccessKeyId: { ...nullableStr, description: 'Null until it is made. Key ids only: no secret is ever shown.' },
  requestedAt: time,
  requestedBy: { ...str, description: 'cli:LOGIN, token:NAME, heroku:EMAIL, or controller for the age trigger.' },
  approved: { type: 'boolean', description: 'The rotation breaker does not hold its deactivation.' },
  next: { ...str, description: 'What happens next, or what it waits for.' },
});

const PlannedRotation = obj({
  addonId: str,
  addonName: str,
  teamId: str,
  teamName: nullableStr,
  accountId: str,
  appId: str,
  appName: { ...nullableStr, description: 'Known when the selection was an app.' },
  accessKeyId: { ...str, description: 'The key the rotation replaces.' },
  keyCreatedAt: nullableTime,
  keyAgeSeconds: { type: ['integer', 'null'], minimum: 0 },
  step: { type: 'string', enum: ['request', 'resume', 'escalate'], description: 'request: a new rotation; resume: one waiting in step reactivated goes on; escalate: --compromised on a rotation in flight makes it an emergency.' },
  trigger,
  effect: { ...str, description: 'What happens to the apps and the old key.' },
});

export const RotationPlanAnswer = obj({
  requested: { type: 'boolean', description: 'False for a dry run: nothing was written.' },
  selection: obj({ by: { type: 'string', enum: ['addon', 'app', 'team', 'account'] }, value: str }),
  compromised: { type: 'boolean' },
  rotations: { type: 'array', items: PlannedRotation },
  skipped: { type: 'array', items: obj({ addonId: str, addonName: str, reason: str }), description: 'Selected add-ons left out (no key yet, team not linked).' },
});

export const RotateRequest = {
  type: 'object',
  additionalProperties: false,
  description: 'Exactly one of addon, app, team or account names the keys to rotate.',
  properties: {
    addon: { type: 'string', minLength: 1, maxLength: 200, description: 'One add-on, by id or name.' },
    app: { type: 'string', minLength: 1, maxLength: 200, description: 'Every add-on whose key the app holds (its own and those attached to it), by name or id.' },
    team: { type: 'string', minLength: 1, maxLength: 100, description: 'Every add-on of a linked team, by name or id.' },
    account: { ...accountId, description: 'Every add-on in an AWS account.' },
    compromised: { type: 'boolean', default: false, description: 'The keys leaked: each old key is deactivated as soon as its apps hold the new one (no overlap), and deleted after the grace even if used.' },
    dryRun: { type: 'boolean', default: false, description: 'Answer the plan and write nothing.' },
  },
} as const;

export const RotateApproveRequest = obj({ account: { ...accountId, description: 'The account whose rotation breaker holds deactivations.' } });

export const Whoami = obj({
  kind: { type: 'string', enum: ['operator', 'team-admin'] },
  name: str,
  scope: { type: 'string', enum: ['read', 'write'] },
});

/** The answers every authenticated route may give besides its own. */
export const COMMON_ERRORS = { 401: ErrorAnswer, 403: ErrorAnswer, 429: ErrorAnswer } as const;
