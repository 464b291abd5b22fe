/**
 * Helpers of the garbage-collection end-to-end tests (GitHub issue #4): a movable controller
 * clock, in-process runtimes on it, buckets filled with object versions and delete markers,
 * version counts, whole-account snapshots (to prove nothing was touched), fault injection into
 * the AWS SDK, and direct reads of the journal and the records.
 */
import {
  CreateMultipartUploadCommand,
  DeleteBucketPolicyCommand,
  DeleteObjectsCommand,
  HeadBucketCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { GetUserCommand, ListUsersCommand, type IAMClient } from '@aws-sdk/client-iam';
import { expect } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import type { ClientHook } from '../../src/sinks/aws/connect.js';
import { putBucketPolicy } from '../../src/sinks/aws/s3-bucket.js';
import { tlsOnlyBucketPolicy } from '../../src/reconciler/spec.js';
import { mapLimit } from '../../src/util/map-limit.js';
import { silentLogger } from '../../src/util/log.js';
import { bucketSnapshot, sql, userSnapshot } from './drift-support.js';
import type { World } from './stand-world.js';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

// ---- the controller's clock -------------------------------------------------------------------

/** The time an in-process controller sees; tests move it instead of waiting out grace periods. */
export class MovableClock {
  constructor(private current: Date = new Date()) {}

  get now(): Date {
    return this.current;
  }

  set(at: Date): Date {
    this.current = at;
    return at;
  }

  /** Moves the clock by `ms` (negative goes back). */
  advance(ms: number): Date {
    return this.set(new Date(this.current.getTime() + ms));
  }

  /** The real time plus `ms`. */
  real(ms = 0): Date {
    return this.set(new Date(Date.now() + ms));
  }

  readonly read = (): Date => this.current;
}

export interface RuntimeOptions {
  clock?: MovableClock;
  /** Settings on top of the world's environment. */
  env?: Record<string, string>;
  onClient?: ClientHook;
}

/** An in-process runtime on the world's configuration, the test's clock and optional faults. */
export function gcRuntime(world: World, options: RuntimeOptions = {}): Promise<Runtime> {
  return createRuntime(loadConfig({ ...world.env, ...options.env }), silentLogger(), {
    keepAwsCalls: true,
    baseCredentials: world.controllerCredentials,
    ...(options.clock ? { clock: options.clock.read } : {}),
    ...(options.onClient ? { onClient: options.onClient } : {}),
  });
}

/** One in-process pass on a fresh runtime, closed afterwards. */
export async function passWith(world: World, options: RuntimeOptions = {}) {
  const runtime = await gcRuntime(world, options);
  try {
    const pass = await runtime.controller.reconcileOnce();
    return { pass, mutations: runtime.recorder.mutations().map((c) => `${c.operation}${c.outcome === 'error' ? ' (error)' : ''}`) };
  } finally {
    await runtime.close();
  }
}

/** Passes on one long-lived runtime (cheaper than a runtime per pass), on the given clock. */
export class PassRunner {
  private runtime: Promise<Runtime> | null = null;

  constructor(
    private readonly world: World,
    private readonly options: RuntimeOptions = {},
  ) {}

  async pass() {
    const runtime = await (this.runtime ??= gcRuntime(this.world, this.options));
    runtime.recorder.reset();
    const pass = await runtime.controller.reconcileOnce();
    return { pass, mutations: runtime.recorder.mutations().map((c) => `${c.operation}${c.outcome === 'error' ? ' (error)' : ''}`) };
  }

  async close(): Promise<void> {
    const runtime = this.runtime;
    this.runtime = null;
    if (runtime) await (await runtime).close();
  }
}

// ---- fault injection ---------------------------------------------------------------------------

/**
 * A middleware that fails the first call of `operation`: `before` it reaches AWS (nothing
 * happened), or `after` AWS did it (as a crash right after the call would look).
 */
export function failOnce(operation: string, when: 'before' | 'after'): ClientHook & { fired: () => boolean } {
  let armed = true;
  const hook = (client: { middlewareStack: { add: Function } }) => {
    client.middlewareStack.add(
      (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
        const ours = armed && context.commandName === `${operation}Command`;
        if (ours && when === 'before') {
          armed = false;
          throw Object.assign(new Error(`injected failure before ${operation}`), { name: 'InjectedFailure' });
        }
        const result = await next(args);
        if (ours && when === 'after') {
          armed = false;
          throw Object.assign(new Error(`injected crash right after ${operation}`), { name: 'InjectedFailure' });
        }
        return result;
      },
      { step: 'initialize', name: `fail-once-${operation}-${when}` },
    );
  };
  return Object.assign(hook as unknown as ClientHook, { fired: () => !armed });
}

// ---- bucket contents ---------------------------------------------------------------------------

export interface WrittenContents {
  /** Object versions written (each PutObject in a versioned bucket makes one). */
  versions: number;
  deleteMarkers: number;
  /** Sum of the sizes of all versions written. */
  bytes: number;
}

/**
 * Fills a managed bucket: `objects` keys, `extraVersions` of them written a second time, and
 * `deleteMarkers` others deleted (a marker in a versioned bucket). The bucket's TLS-only policy
 * denies object operations over moto's plain HTTP, so it is deleted first and put back exactly
 * as the controller writes it (`putBucketPolicy`) afterwards; versioning is switched on so that
 * versions and delete markers exist at all.
 */
export async function fillBucket(
  s3: S3Client,
  bucket: string,
  spec: { objects: number; extraVersions: number; deleteMarkers: number },
): Promise<WrittenContents> {
  if (spec.extraVersions + spec.deleteMarkers > spec.objects) throw new Error('more extra versions and markers than keys');
  await s3.send(new DeleteBucketPolicyCommand({ Bucket: bucket }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  let bytes = 0;
  const put = async (key: string, size: number) => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x'.repeat(size) }));
    bytes += size;
  };
  const keys = Array.from({ length: spec.objects }, (_, i) => `data/${String(i).padStart(5, '0')}.txt`);
  await mapLimit(keys, 16, (key, i) => put(key, 1 + (i % 97)));
  await mapLimit(keys.slice(0, spec.extraVersions), 16, (key, i) => put(key, 100 + (i % 13)));
  // A delete without a version id puts a delete marker; DeleteObjects does up to 1,000 at once.
  const markerKeys = keys.slice(spec.extraVersions, spec.extraVersions + spec.deleteMarkers);
  for (let i = 0; i < markerKeys.length; i += 1000) {
    const out = await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Quiet: true, Objects: markerKeys.slice(i, i + 1000).map((Key) => ({ Key })) } }),
    );
    expect(out.Errors ?? []).toEqual([]);
  }
  await putBucketPolicy(s3, bucket, tlsOnlyBucketPolicy(bucket));
  const written = { versions: spec.objects + spec.extraVersions, deleteMarkers: spec.deleteMarkers, bytes };
  expect(await countVersions(s3, bucket), 'the bucket holds what was written').toEqual(written);
  return written;
}

/** Every object version and delete marker of a bucket, counted page by page; null: no bucket. */
export async function countVersions(s3: S3Client, bucket: string): Promise<WrittenContents | null> {
  const count: WrittenContents = { versions: 0, deleteMarkers: 0, bytes: 0 };
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  try {
    for (;;) {
      const page = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }));
      for (const v of page.Versions ?? []) {
        count.versions += 1;
        count.bytes += v.Size ?? 0;
      }
      count.deleteMarkers += (page.DeleteMarkers ?? []).length;
      if (!page.IsTruncated) return count;
      keyMarker = page.NextKeyMarker;
      versionIdMarker = page.NextVersionIdMarker;
    }
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchBucket') return null;
    throw err;
  }
}

/**
 * Starts a multipart upload with one part and leaves it incomplete (the bucket policy dance of
 * `fillBucket`, for the same reason). Returns the upload id.
 */
export async function leaveIncompleteUpload(s3: S3Client, bucket: string, key: string): Promise<string> {
  await s3.send(new DeleteBucketPolicyCommand({ Bucket: bucket }));
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: 'part one' }));
  await putBucketPolicy(s3, bucket, tlsOnlyBucketPolicy(bucket));
  return UploadId!;
}

export async function incompleteUploads(s3: S3Client, bucket: string): Promise<string[]> {
  return ((await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []).map((u) => u.UploadId!);
}

export async function bucketExists(s3: S3Client, bucket: string): Promise<boolean> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return true;
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === 'NotFound' || e.name === 'NoSuchBucket' || e.$metadata?.httpStatusCode === 404) return false;
    throw err;
  }
}

export async function userExists(iam: IAMClient, userName: string): Promise<boolean> {
  try {
    await iam.send(new GetUserCommand({ UserName: userName }));
    return true;
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchEntityException' || (err as { name?: string }).name === 'NoSuchEntity') return false;
    throw err;
  }
}

// ---- whole-account snapshots ---------------------------------------------------------------------

export async function bucketNames(s3: S3Client): Promise<string[]> {
  return ((await s3.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name!).sort();
}

export async function userNames(iam: IAMClient): Promise<string[]> {
  return ((await iam.send(new ListUsersCommand({}))).Users ?? []).map((u) => u.UserName!).sort();
}

/** Everything in one account: every bucket (settings, tags, contents) and every IAM user. */
export async function accountSnapshot(s3: S3Client, iam: IAMClient) {
  const buckets: Record<string, unknown> = {};
  for (const name of await bucketNames(s3)) buckets[name] = { ...(await bucketSnapshot(s3, name)), contents: await countVersions(s3, name) };
  const users: Record<string, unknown> = {};
  for (const name of await userNames(iam)) users[name] = await userSnapshot(iam, name);
  return { buckets, users };
}

// ---- the controller's database ----------------------------------------------------------------

export interface JournalRow {
  id: string;
  at: Date;
  addon_id: string | null;
  account_id: string | null;
  action: string;
  resource: string;
  phase: 'intent' | 'ok' | 'failed';
  detail: Record<string, any>;
}

export function journalRows(world: World, where = 'TRUE', params: unknown[] = []): Promise<JournalRow[]> {
  return sql<JournalRow>(world, `SELECT id, at, addon_id, account_id, action, resource, phase, detail FROM journal WHERE ${where} ORDER BY id`, params);
}

/** Asserts that no journal row (any column) contains any of the given secret values. */
export async function expectNoSecretInJournal(world: World, secrets: string[]): Promise<void> {
  expect(secrets.length).toBeGreaterThan(0);
  const rows = await sql<{ text: string }>(world, 'SELECT row_to_json(j)::text AS text FROM journal j');
  expect(rows.length).toBeGreaterThan(0);
  for (const secret of secrets) {
    expect(secret.length).toBeGreaterThanOrEqual(20);
    const leaking = rows.filter((r) => r.text.includes(secret));
    expect(leaking, 'journal rows holding a secret value').toEqual([]);
  }
}

export interface RecordRow {
  addon_id: string;
  state: string;
  orphaned_at: Date | null;
  orphan_reason: string | null;
  delete_after: Date | null;
  teardown_started_at: Date | null;
  last_error: string | null;
}

export async function recordRow(world: World, addonId: string): Promise<RecordRow | undefined> {
  const rows = await sql<RecordRow>(
    world,
    'SELECT addon_id, state, orphaned_at, orphan_reason, delete_after, teardown_started_at, last_error FROM managed_resources WHERE addon_id = $1',
    [addonId],
  );
  return rows[0];
}

export async function deliveryRows(world: World, addonId: string): Promise<{ attachment_id: string; app_id: string; var_names: string[] }[]> {
  return sql(world, 'SELECT attachment_id, app_id, var_names FROM deliveries WHERE addon_id = $1 ORDER BY attachment_id', [addonId]);
}
