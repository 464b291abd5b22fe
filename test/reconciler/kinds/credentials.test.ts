/**
 * The credentials kind (issue 14, point 4): its policy template is checked at start (a template
 * that would grant `*` on `*` is refused in plain words), filled in per add-on, and plan() gives
 * such an add-on a user, that policy, a key and config vars without any bucket, through the same
 * core as a bucket: in sync it plans nothing, a changed policy is repaired, a kind change is
 * refused, and garbage collection tears down the user alone.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/config.js';
import type { Action } from '../../../src/reconciler/actions.js';
import { credentialsKind } from '../../../src/reconciler/kinds/credentials/kind.js';
import { renderPolicy, templateProblems } from '../../../src/reconciler/kinds/credentials/policy-template.js';
import type { PlanInput } from '../../../src/reconciler/model.js';
import { plan, type PlanLimits } from '../../../src/reconciler/plan.js';
import { profileFor } from '../../../src/reconciler/profiles.js';
import { TAG, USER_POLICY_NAME, configVarsFingerprint } from '../../../src/reconciler/spec.js';
import { KINDS, createRuntime } from '../../../src/runtime.js';
import { silentLogger } from '../../../src/util/log.js';
import { buildDriftReport } from '../../../src/reconciler/drift-report.js';
import { ACCOUNT, ADDON, BUCKET, KEY_ID, NOW, POLICY, SECRET, TEAM, USER, account, addon, inSync, link, record, syncedBucket, syncedUser } from '../fixtures.js';

const TEMPLATE = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Sid: 'Shared', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: 'arn:aws:s3:::shared-${team}/${app}/*' },
    { Sid: 'Queues', Effect: 'Allow', Action: 'sqs:*', Resource: 'arn:aws:sqs:*:${account}:${app}-*' },
  ],
});
const PLAN = 's3-bucket:app-role';
const LIMITS: PlanLimits = { profiles: { [PLAN]: { kind: 'credentials', policy: TEMPLATE } }, kinds: KINDS };
const RENDERED = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Sid: 'Shared', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: 'arn:aws:s3:::shared-acme/acme-web/*' },
    { Sid: 'Queues', Effect: 'Allow', Action: 'sqs:*', Resource: `arn:aws:sqs:*:${ACCOUNT}:acme-web-*` },
  ],
});

const policy = (statement: object) => JSON.stringify({ Version: '2012-10-17', Statement: [statement] });

describe('the credentials policy template', () => {
  it.each([
    ['no policy', null, /is kind "credentials" and needs a "policy"/],
    ['an unknown variable', policy({ Effect: 'Allow', Action: 'sqs:*', Resource: 'arn:aws:sqs:*:*:${queue}' }), /uses \$\{queue\}; the variables are \$\{addon\}/],
    ['not JSON once filled in', '{"Statement": [${app}]}', /is not a JSON document once its variables are filled in/],
    ['no Statement', JSON.stringify({ Version: '2012-10-17' }), /has no "Statement"/],
    ['* on *', policy({ Effect: 'Allow', Action: '*', Resource: '*' }), /would grant every action on every resource \("\*" on "\*"\)/],
    ['*:* on * among others', policy({ Sid: 'Wide', Effect: 'Allow', Action: ['s3:GetObject', '*:*'], Resource: ['arn:aws:s3:::x/*', '*'] }), /statement Wide, would grant every action on every resource/],
    ['* on every ARN', policy({ Effect: 'Allow', Action: '*', Resource: 'arn:aws:*:*:*:*' }), /would grant every action on every resource/],
    ['*? on arn:*', policy({ Effect: 'Allow', Action: '*?', Resource: 'arn:*' }), /would grant every action on every resource/],
    ['a lowercase allow', policy({ Effect: 'allow', Action: '*', Resource: '*' }), /has Effect "allow"; it must be "Allow" or "Deny"/],
    ['no Effect', policy({ Action: '*', Resource: '*' }), /has Effect null; it must be "Allow" or "Deny"/],
    ['iam:* on its own users', policy({ Effect: 'Allow', Action: 'iam:*', Resource: 'arn:aws:iam::${account}:user/*' }), /allows iam:\*, with which an app could grant itself anything/],
    ['iam:PutUserPolicy', policy({ Effect: 'Allow', Action: ['iam:GetUser', 'iam:PutUserPolicy'], Resource: '*' }), /allows iam:PutUserPolicy, with which/],
    ['sts:AssumeRole', policy({ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: 'arn:aws:iam::${account}:role/admin' }), /allows sts:AssumeRole, with which/],
    ['s3:* on *', policy({ Effect: 'Allow', Action: 's3:*', Resource: '*' }), /allows S3 on every bucket of the account, the other add-ons' buckets included/],
    ['S3 reads of every object', policy({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::*/*' }), /allows S3 on every bucket of the account/],
    ['a Principal', policy({ Effect: 'Allow', Principal: '*', Action: 'sqs:SendMessage', Resource: 'arn:aws:sqs:*:${account}:${app}-*' }), /names a Principal, which IAM refuses/],
    ['an Allow with NotAction', policy({ Effect: 'Allow', NotAction: 'iam:*', Resource: '*' }), /allows with NotAction or NotResource/],
    ['longer than AWS allows', policy({ Effect: 'Allow', Action: Array.from({ length: 200 }, (_, i) => `sqs:Action${i}`), Resource: 'arn:aws:sqs:*:${account}:${app}-*' }), /over the 2048 AWS allows/],
  ])('refuses %s with a plain message', (_name, template, message) => {
    const problems = templateProblems(PLAN, template);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
    expect(problems[0]).toContain(PLAN);
  });

  it('accepts a scoped template, and a Deny of everything', () => {
    expect(templateProblems(PLAN, TEMPLATE)).toEqual([]);
    expect(templateProblems(PLAN, policy({ Effect: 'Deny', Action: '*', Resource: '*' }))).toEqual([]);
    expect(templateProblems(PLAN, policy({ Effect: 'Allow', Action: ['iam:GetUser', 'iam:ListAccessKeys', 's3:GetObject'], Resource: ['arn:aws:iam::${account}:user/*', 'arn:aws:s3:::shared-${team}/*'] }))).toEqual([]);
  });

  it('fills in every variable for the add-on, JSON-escaped', () => {
    const ctx = { addon: { addonId: 'id-1', addonName: 'name-1', appId: 'app-id', appName: 'app "x"', teamId: 'team-id' }, teamName: 'acme', accountId: '123', resource: null, profile: profileFor({}, 'x') };
    expect(renderPolicy('${addon} ${addon_id} ${app} ${app_id} ${team} ${team_id} ${account}', ctx)).toBe('name-1 id-1 app \\"x\\" app-id acme team-id 123');
  });

  it('is checked at start: a template granting * on * stops the runtime with what to fix, before anything is opened', async () => {
    const config = loadConfig({ PLAN_PROFILES: JSON.stringify({ wide: { kind: 'credentials', policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] } } }) });
    await expect(createRuntime(config, silentLogger())).rejects.toThrow(/^PLAN_PROFILES: plan wide's policy, statement 1, would grant every action on every resource/);
  });

  it('PLAN_PROFILES takes the policy as a document or as its JSON text, and a kind the controller lacks is refused at start', async () => {
    const asObject = loadConfig({ PLAN_PROFILES: JSON.stringify({ role: { kind: 'credentials', policy: JSON.parse(TEMPLATE) } }) });
    expect(profileFor(asObject.profiles, 's3-bucket:role')).toMatchObject({ kind: 'credentials', policy: TEMPLATE });
    expect(() => loadConfig({ PLAN_PROFILES: JSON.stringify({ role: { kind: 'Queue!' } }) })).toThrow(/PLAN_PROFILES: has a bad profile at role.kind/);
    const unknown = loadConfig({ PLAN_PROFILES: JSON.stringify({ role: { kind: 'queue' } }) });
    await expect(createRuntime(unknown, silentLogger())).rejects.toThrow(/^PLAN_PROFILES: plan role names kind "queue"; the kinds are bucket, credentials/);
  });
});

/** A world with one credentials add-on (no record yet) in an empty account. */
function newWorld(): PlanInput {
  return {
    links: [link()],
    desired: [{ teamId: TEAM, teamName: 'acme', complete: true, error: null, addons: [addon({ plan: PLAN, attachments: [{ id: 'att-1', name: 'AWS', appId: 'app-0001', appName: 'acme-web' }] })], deprovisioned: [] }],
    observed: new Map([[ACCOUNT, account([], [])]]),
    records: new Map(),
    deliveries: [],
    configVars: new Map(),
    recentRepairs: new Map(),
    breakers: new Map(),
    now: NOW,
  };
}

/** The same world converged: record, user with the rendered policy and one key, the delivery. */
function syncedWorld(): PlanInput {
  const input = newWorld();
  const r = record({ plan: PLAN, kind: 'credentials', resourceName: null });
  const vars = credentialsKind.configVars('AWS', { resourceName: null, region: 'us-east-1', accessKeyId: KEY_ID, secretAccessKey: SECRET });
  return {
    ...input,
    records: new Map([[ADDON, r]]),
    observed: new Map([
      [ACCOUNT, account([], [{ userName: USER, path: POLICY.iamPath, tags: { [TAG.instance]: 'test', [TAG.addonId]: ADDON, [TAG.appId]: 'app-0001', [TAG.teamId]: TEAM, [TAG.kind]: 'credentials' }, inlinePolicies: { [USER_POLICY_NAME]: RENDERED }, accessKeys: [{ accessKeyId: KEY_ID, status: 'Active' }] }])],
    ]),
    deliveries: [{ addonId: ADDON, attachmentId: 'att-1', appId: 'app-0001', varNames: Object.keys(vars), fingerprint: configVarsFingerprint(vars), deliveredAt: NOW }],
  };
}

const shape = (actions: Action[]) => actions.map((a) => [a.kind, a.reason]);

describe('plan() for a credentials add-on', () => {
  it('records it without a bucket, makes its user with the kind tag, the rendered policy and a key, and delivers no bucket var', () => {
    const actions = plan(newWorld(), POLICY, LIMITS);
    expect(shape(actions)).toEqual([
      ['record-resource', 'missing-bucket'],
      ['create-user', 'missing-user'],
      ['put-user-policy', 'missing-user'],
      ['create-access-key', 'missing-user'],
      ['deliver-config-vars', 'config-vars-missing'],
    ]);
    expect(actions[0]).toMatchObject({ record: { kind: 'credentials', resourceName: null, region: 'us-east-1' } });
    expect(actions[1]).toMatchObject({ tags: { [TAG.kind]: 'credentials', [TAG.addonId]: ADDON } });
    expect(actions[2]).toMatchObject({ document: RENDERED });
    expect(credentialsKind.configVars('AWS', { resourceName: null, region: 'eu-west-1', accessKeyId: 'AKIA1', secretAccessKey: 's' })).toEqual({
      AWS_AWS_ACCESS_KEY_ID: 'AKIA1',
      AWS_AWS_SECRET_ACCESS_KEY: 's',
      AWS_AWS_REGION: 'eu-west-1',
    });
  });

  it('plans nothing in sync, and repairs a policy someone changed', () => {
    expect(plan(syncedWorld(), POLICY, LIMITS)).toEqual([]);
    const drifted = syncedWorld();
    drifted.observed.get(ACCOUNT)!.users.get(USER)!.inlinePolicies[USER_POLICY_NAME] = policy({ Effect: 'Allow', Action: '*', Resource: '*' });
    const actions = plan(drifted, POLICY, LIMITS);
    expect(shape(actions)).toEqual([['put-user-policy', 'policy-changed']]);
    expect(actions[0]).toMatchObject({ document: RENDERED });
  });

  it('refuses to turn a bucket add-on into credentials: reported, and it goes on as the bucket it was, under its old plan', () => {
    const input = inSync();
    input.desired[0]!.addons[0]!.plan = PLAN;
    const actions = plan(input, POLICY, LIMITS);
    // Nothing but the report: the record keeps its plan, the bucket its settings, the apps their vars.
    expect(shape(actions)).toEqual([['blocked', 'kind-changed']]);
    expect(actions[0]).toMatchObject({ message: expect.stringMatching(/was made as a bucket, and its plan s3-bucket:app-role now means a credentials; .* goes on with it as it was made/) });
    expect(buildDriftReport(input.desired, actions, NOW).items.map((i) => [i.kind, i.status])).toEqual([['kind-changed', 'blocked']]);
    // Its key deleted by someone else meanwhile: replaced and delivered all the same (found by the fuzz, seed 4242).
    input.observed.get(ACCOUNT)!.users.get(USER)!.accessKeys = [];
    expect(shape(plan(input, POLICY, LIMITS))).toEqual([
      ['blocked', 'kind-changed'],
      ['create-access-key', 'missing-key'],
      ['deliver-config-vars', 'config-vars-missing'],
      ['deliver-config-vars', 'config-vars-missing'],
    ]);
  });

  it('after a store loss, takes the kind from the resources: a bucket add-on whose plan now means credentials is recorded as a bucket and blocked', () => {
    const input = newWorld();
    // What a bucket add-on left: its user, without a kind tag, and its bucket.
    input.observed = new Map([[ACCOUNT, account([syncedBucket()], [syncedUser()])]]);
    const actions = plan(input, POLICY, LIMITS);
    expect(shape(actions)).toEqual([['record-resource', 'missing-bucket'], ['blocked', 'kind-changed']]);
    expect(actions[0]).toMatchObject({ record: { kind: 'bucket', resourceName: BUCKET } });
    // And the other way round: a credentials user, its plan now a bucket plan.
    const back = syncedWorld();
    back.records = new Map();
    back.desired[0]!.addons[0]!.plan = 's3-bucket:standard';
    const reversed = plan(back, POLICY, LIMITS);
    expect(shape(reversed)).toEqual([['record-resource', 'missing-bucket'], ['blocked', 'kind-changed']]);
    expect(reversed[0]).toMatchObject({ record: { kind: 'credentials', resourceName: null } });
  });

  it('once gone and past its grace, tears down the user and its vars, and no bucket', () => {
    const input = syncedWorld();
    input.desired[0]!.addons = [];
    input.records.set(ADDON, record({ plan: PLAN, kind: 'credentials', resourceName: null, orphan: { since: NOW, reason: 'deprovisioned', deleteAfter: new Date(NOW.getTime() - 1) } }));
    input.whereabouts = new Map([[ADDON, { status: 'gone' }]]);
    const actions = plan(input, POLICY, { ...LIMITS, gc: { mode: 'enabled', graceDeprovisionedMs: 0, graceOrphanedMs: 0, maxDeletions: 10, maxDeletionRatio: 1, minDeletionsForRatio: 1 } });
    expect(actions.map((a) => a.kind)).toEqual(['remove-config-vars', 'delete-user-keys', 'delete-user-policies', 'delete-user', 'forget-resource']);
    expect(actions[0]).toMatchObject({ bucket: null, varNames: ['AWS_AWS_ACCESS_KEY_ID', 'AWS_AWS_SECRET_ACCESS_KEY', 'AWS_AWS_REGION'] });
  });

  it('is reported as an orphaned user, and counted among the orphans, while it waits and while the breaker holds it', () => {
    const gone = (deleteAfter: Date) => {
      const input = syncedWorld();
      input.desired[0]!.addons = [];
      input.records.set(ADDON, record({ plan: PLAN, kind: 'credentials', resourceName: null, orphan: { since: NOW, reason: 'deprovisioned', deleteAfter } }));
      input.whereabouts = new Map([[ADDON, { status: 'gone' }]]);
      return input;
    };
    const report = (input: ReturnType<typeof gone>, gc: PlanLimits['gc']) =>
      buildDriftReport(input.desired, plan(input, POLICY, { ...LIMITS, gc }), NOW, { records: [...input.records.values()], links: input.links });
    const gc = { mode: 'enabled' as const, graceDeprovisionedMs: 0, graceOrphanedMs: 0, maxDeletions: 10, maxDeletionRatio: 1, minDeletionsForRatio: 1 };

    const waiting = report(gone(new Date(NOW.getTime() + 60_000)), gc);
    expect(waiting.items).toEqual([expect.objectContaining({ addonId: ADDON, kind: 'orphaned-user', status: 'waiting', resource: USER })]);
    expect(waiting.summary.orphaned).toBe(1);

    // No deletion allowed at all: the breaker holds the teardown of the user.
    const held = report(gone(new Date(NOW.getTime() - 1)), { ...gc, maxDeletions: 0 });
    expect(held.items).toContainEqual(expect.objectContaining({ addonId: ADDON, kind: 'orphaned-user', status: 'blocked', resource: USER }));
    expect(held.summary.orphaned).toBe(1);
  });
});
