/**
 * Issue 14, point 4, end to end on the stand: a plan mapped to the `credentials` kind gets an IAM
 * user whose inline policy is the plan's template filled in for the add-on (compared as JSON), a
 * key that works, and config vars without any bucket var; no bucket is made. A policy changed by
 * hand is repaired on the next pass (inline policies come with the bulk read); when the add-on
 * goes away, its user, key and vars are collected after the grace period, and nothing else.
 */
import { GetUserPolicyCommand, ListUserTagsCommand, PutUserPolicyCommand, type IAMClient } from '@aws-sdk/client-iam';
import { ListBucketsCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TAG, USER_POLICY_NAME } from '../../src/reconciler/spec.js';
import { runCli } from '../support/cli.js';
import { sql } from './drift-support.js';
import { DAY, MovableClock, PassRunner, recordRow, userExists } from './gc-support.js';
import { SERVICE, callerAccount, createWorld, type World } from './stand-world.js';

const TEMPLATE = {
  Version: '2012-10-17',
  Statement: [
    { Sid: 'SharedPrefix', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: 'arn:aws:s3:::shared-${team}/${app}/*' },
    { Sid: 'OwnQueues', Effect: 'Allow', Action: 'sqs:*', Resource: 'arn:aws:sqs:*:${account}:${app}-*' },
  ],
};

let world: World;
let iam: IAMClient;
let s3: S3Client;
let runner: PassRunner;
const clock = new MovableClock();
let addon: { id: string; name: string };
let userName: string;

beforeAll(async () => {
  world = await createWorld();
  Object.assign(world.env, {
    PLAN_PROFILES: JSON.stringify({ [`${SERVICE}:app-role`]: { kind: 'credentials', policy: TEMPLATE } }),
    GC_MAX_DELETION_RATIO: '1',
  });
  world.fake.addTeam({ name: 'acme' });
  world.fake.addApp({ name: 'acme-worker', team: 'acme', region: 'us' });
  world.fake.setConfigVar('acme-worker', 'OTHER_SETTING', 'kept');
  addon = world.fake.addAddon({ app: 'acme-worker', service: SERVICE, plan: `${SERVICE}:app-role`, attachmentName: 'AWS' });
  iam = await world.iam(world.accountA);
  s3 = await world.s3(world.accountA);
  expect((await runCli(['link', '--team', 'acme', '--role-arn', world.roleArn(world.accountA)], world.env)).code).toBe(0);
  runner = new PassRunner(world, { clock });
}, 60_000);

afterAll(async () => {
  await runner?.close();
  expect(world.fake.schemaViolations).toEqual([]);
  await world.stop();
});

async function inlinePolicy(): Promise<unknown> {
  const out = await iam.send(new GetUserPolicyCommand({ UserName: userName, PolicyName: USER_POLICY_NAME }));
  return JSON.parse(decodeURIComponent(out.PolicyDocument ?? ''));
}

const rendered = () => ({
  Version: '2012-10-17',
  Statement: [
    { Sid: 'SharedPrefix', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: 'arn:aws:s3:::shared-acme/acme-worker/*' },
    { Sid: 'OwnQueues', Effect: 'Allow', Action: 'sqs:*', Resource: `arn:aws:sqs:*:${world.accountA}:acme-worker-*` },
  ],
});

describe('the credentials kind', () => {
  it('gives the add-on a user with the rendered policy and a working key, delivered without bucket vars, and no bucket', async () => {
    const { pass } = await runner.pass();
    expect(pass.execution?.failed).toBe(0);
    const [row] = await sql<{ kind: string; resources: number; user_name: string }>(world, 'SELECT m.kind, (SELECT count(*)::int FROM kind_resources r WHERE r.addon_id = m.addon_id) AS resources, m.user_name FROM managed_resources m WHERE m.addon_id = $1', [addon.id]);
    expect(row).toMatchObject({ kind: 'credentials', resources: 0 });
    userName = row!.user_name;
    expect(await inlinePolicy()).toEqual(rendered());
    const vars = world.fake.configVars('acme-worker');
    expect(Object.keys(vars).sort()).toEqual(['AWS_AWS_ACCESS_KEY_ID', 'AWS_AWS_REGION', 'AWS_AWS_SECRET_ACCESS_KEY', 'OTHER_SETTING']);
    expect(vars.AWS_AWS_REGION).toBe('us-east-1');
    expect(await callerAccount(vars.AWS_AWS_ACCESS_KEY_ID!, vars.AWS_AWS_SECRET_ACCESS_KEY!)).toBe(world.accountA);
    // No bucket of any name was made in the account, and the user says its kind.
    const buckets = (await s3.send(new ListBucketsCommand({}))).Buckets ?? [];
    expect(buckets.filter((b) => b.Name?.includes(addon.id))).toEqual([]);
    expect(pass.actions.some((a) => a.kind === 'create-bucket')).toBe(false);
    const tags = (await iam.send(new ListUserTagsCommand({ UserName: userName }))).Tags ?? [];
    expect(Object.fromEntries(tags.map((t) => [t.Key, t.Value]))).toMatchObject({ [TAG.kind]: 'credentials', [TAG.addonId]: addon.id });
  });

  it('is in sync on the next passes: nothing to do', async () => {
    await runner.pass();
    const { pass, mutations } = await runner.pass();
    expect(pass.actions).toEqual([]);
    expect(mutations).toEqual([]);
  });

  it('repairs a policy widened by hand on the next pass, with the rendered template', async () => {
    await iam.send(
      new PutUserPolicyCommand({ UserName: userName, PolicyName: USER_POLICY_NAME, PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }) }),
    );
    const { pass, mutations } = await runner.pass();
    expect(pass.actions.map((a) => [a.kind, a.reason])).toEqual([['put-user-policy', 'policy-changed']]);
    expect(pass.drift.items.map((i) => [i.kind, i.field])).toEqual([['policy-changed', `inline policy ${USER_POLICY_NAME}`]]);
    expect(mutations).toEqual(['PutUserPolicy']);
    expect(await inlinePolicy()).toEqual(rendered());
  });

  it('collects the user, its key and its vars after the grace period once the add-on is gone, and nothing else', async () => {
    world.fake.destroyAddon(addon.id);
    const marked = await runner.pass();
    expect(marked.pass.actions.map((a) => [a.kind, a.reason])).toEqual([['mark-orphan', 'orphaned-user']]);
    expect(await userExists(iam, userName)).toBe(true);
    clock.advance(2 * DAY);
    const { pass } = await runner.pass();
    expect(pass.execution?.failed).toBe(0);
    expect(pass.actions.map((a) => a.kind)).toEqual(['remove-config-vars', 'delete-user-keys', 'delete-user-policies', 'delete-user', 'forget-resource']);
    expect(await userExists(iam, userName)).toBe(false);
    expect(world.fake.configVars('acme-worker')).toEqual({ OTHER_SETTING: 'kept' });
    expect(await recordRow(world, addon.id)).toBeUndefined();
  });
});
