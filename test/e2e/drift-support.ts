/**
 * Helpers of the drift end-to-end tests (GitHub issue #3): the `plan`/`reconcile` CLI as parsed
 * JSON, in-process runtimes for exact call counting, full snapshots of a bucket and an IAM user
 * (to prove something was left untouched), and direct reads of the controller's database.
 */
import {
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketOwnershipControlsCommand,
  GetBucketPolicyCommand,
  GetBucketTaggingCommand,
  GetBucketVersioningCommand,
  GetPublicAccessBlockCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  GetUserCommand,
  GetUserPolicyCommand,
  ListAccessKeysCommand,
  ListAttachedUserPoliciesCommand,
  ListUserPoliciesCommand,
  ListUserTagsCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import pg from 'pg';
import { expect } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import type { DriftItem, DriftSummary } from '../../src/reconciler/drift.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { silentLogger } from '../../src/util/log.js';
import { runCli, type CliResult } from '../support/cli.js';
import type { World } from './stand-world.js';

/** What `plan -o json` / `reconcile --once -o json` print. */
export interface PassJson {
  teams: { teamId: string; team: string; complete: boolean; error: string | null; addons: number }[];
  accounts: { accountId: string; complete: boolean; error: string | null; buckets: number; users: number; iamUserQuota: { used: number; quota: number } | null }[];
  actions: { kind: string; reason: string; accountId: string; addonId: string; resource: string; result: string; error?: string }[];
  drift: { generatedAt: string; summary: DriftSummary; items: DriftItem[] };
  totals: Record<string, number>;
}

export interface ParsedRun extends CliResult {
  json: PassJson;
}

async function runJson(world: World, args: string[], env: Record<string, string> = {}): Promise<ParsedRun> {
  const run = await runCli([...args, '-o', 'json'], { ...world.env, ...env });
  let json: PassJson;
  try {
    json = JSON.parse(run.stdout) as PassJson;
  } catch {
    throw new Error(`\`${args.join(' ')} -o json\` exited ${run.code} without JSON on stdout:\n${run.stdout}\n${run.stderr}`);
  }
  return { ...run, json };
}

/** `plan -o json`: exit 0 in sync, 1 drift, 2 error. */
export function planJson(world: World, env: Record<string, string> = {}): Promise<ParsedRun> {
  return runJson(world, ['plan'], env);
}

/** `reconcile --once -o json`. */
export function reconcileJson(world: World, env: Record<string, string> = {}): Promise<ParsedRun> {
  return runJson(world, ['reconcile', '--once'], env);
}

/** Asserts `plan` finds nothing to do: exit 0, no drift item, no action. */
export async function expectInSync(world: World): Promise<PassJson> {
  const plan = await planJson(world);
  expect(plan.json.drift.items, 'plan finds no drift').toEqual([]);
  expect(plan.json.actions).toEqual([]);
  expect(plan.code).toBe(0);
  return plan.json;
}

/** An in-process runtime on the world's configuration (plus `env`), for exact call counting. */
export function inProcessRuntime(world: World, env: Record<string, string> = {}): Promise<Runtime> {
  return createRuntime(loadConfig({ ...world.env, ...env }), silentLogger(), { baseCredentials: world.controllerCredentials, keepAwsCalls: true });
}

/** Operation names of the mutating AWS calls a runtime made, e.g. `['PutBucketEncryption']`. */
export function mutationOps(runtime: Runtime): string[] {
  return runtime.recorder.mutations().map((c) => c.operation);
}

// ---- the controller's database -----------------------------------------------------------------

export async function sql<Row = Record<string, unknown>>(world: World, text: string, params: unknown[] = []): Promise<Row[]> {
  const client = new pg.Client({ connectionString: world.db.url });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as Row[];
  } finally {
    await client.end();
  }
}

export async function journalCount(world: World): Promise<number> {
  const [row] = await sql<{ n: string }>(world, 'SELECT count(*) AS n FROM journal');
  return Number(row!.n);
}

// ---- snapshots -------------------------------------------------------------------------------

/** A read's value, or the error code it failed with: both are part of a snapshot. */
async function attempt<T>(read: () => Promise<T>): Promise<T | { error: string }> {
  try {
    return await read();
  } catch (err) {
    return { error: (err as { name?: string }).name ?? String(err) };
  }
}

function parsePolicy(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  const raw = text.trimStart().startsWith('{') ? text : decodeURIComponent(text);
  return JSON.parse(raw);
}

/** Every setting of a bucket the controller manages or could touch. */
export async function bucketSnapshot(s3: S3Client, bucket: string) {
  return {
    tags: await attempt(async () => bucketTags(s3, bucket)),
    policy: await attempt(async () => parsePolicy((await s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy)),
    publicAccessBlock: await attempt(async () => (await s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }))).PublicAccessBlockConfiguration),
    encryption: await attempt(async () => (await s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }))).ServerSideEncryptionConfiguration),
    ownership: await attempt(async () => (await s3.send(new GetBucketOwnershipControlsCommand({ Bucket: bucket }))).OwnershipControls),
    lifecycle: await attempt(async () => (await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }))).Rules),
    versioning: await attempt(async () => (await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status ?? null),
  };
}

export async function bucketTags(s3: S3Client, bucket: string): Promise<Record<string, string>> {
  try {
    const out = await s3.send(new GetBucketTaggingCommand({ Bucket: bucket }));
    return Object.fromEntries((out.TagSet ?? []).map((t) => [t.Key!, t.Value!]));
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchTagSet') return {};
    throw err;
  }
}

/** Every attribute of an IAM user the controller manages or could touch. */
export async function userSnapshot(iam: IAMClient, userName: string) {
  const user = await attempt(async () => {
    const u = (await iam.send(new GetUserCommand({ UserName: userName }))).User!;
    return { name: u.UserName, path: u.Path, arn: u.Arn };
  });
  return {
    user,
    tags: await attempt(async () =>
      Object.fromEntries(((await iam.send(new ListUserTagsCommand({ UserName: userName }))).Tags ?? []).map((t) => [t.Key!, t.Value!])),
    ),
    inlinePolicies: await attempt(async () => inlinePolicies(iam, userName)),
    attachedPolicies: await attempt(
      async () => ((await iam.send(new ListAttachedUserPoliciesCommand({ UserName: userName }))).AttachedPolicies ?? []).map((p) => p.PolicyArn),
    ),
    accessKeys: await attempt(async () => accessKeys(iam, userName)),
  };
}

export async function inlinePolicies(iam: IAMClient, userName: string): Promise<Record<string, unknown>> {
  const names = (await iam.send(new ListUserPoliciesCommand({ UserName: userName }))).PolicyNames ?? [];
  const out: Record<string, unknown> = {};
  for (const name of names.sort()) {
    out[name] = parsePolicy((await iam.send(new GetUserPolicyCommand({ UserName: userName, PolicyName: name }))).PolicyDocument);
  }
  return out;
}

export async function accessKeys(iam: IAMClient, userName: string): Promise<{ id: string; status: string }[]> {
  const keys = (await iam.send(new ListAccessKeysCommand({ UserName: userName }))).AccessKeyMetadata ?? [];
  return keys.map((k) => ({ id: k.AccessKeyId!, status: k.Status! })).sort((a, b) => a.id.localeCompare(b.id));
}

/** `key=value, …` sorted by key: how drift items describe tags. */
export function describeTags(tags: Record<string, string>): string {
  return Object.entries(tags)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}
