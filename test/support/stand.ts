/**
 * What a test file needs from the shared test stand started by `global-setup.ts`.
 *
 * Isolation rules, since test files run in parallel against one stand:
 * - never reset moto; use your own random AWS account ids (`randomAccountId()`), reached through
 *   AssumeRole into `arn:aws:iam::<account>:role/...`, so no other file sees your buckets or users;
 * - use `freshPostgresDatabase()` for a database of your own on the PostgreSQL server.
 *
 * Verified moto (no-auth server, 5.2.1) behaviour:
 * - AssumeRole validates nothing: the role need not exist, and even a malformed RoleArn
 *   ("not-an-arn", a 5-digit account, a user ARN) succeeds. The credentials act in the account
 *   named in the ARN (GetCallerIdentity -> Account = it, Arn = arn:aws:sts::<acct>:assumed-role/<role>/<session>);
 *   a RoleArn without an account falls back to 123456789012.
 * - No signature check: any secret works, unknown keys act in 123456789012.
 * - S3 bucket names are global across accounts (BucketAlreadyExists from another account), so
 *   use random bucket names too. Creating your own bucket again in us-east-1 succeeds.
 * - The auth server: see moto-auth.ts.
 */
import { readFileSync } from 'node:fs';
import { randomBytes, randomInt } from 'node:crypto';
import { inject } from 'vitest';
import pg from 'pg';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { KubeConfig } from '@kubernetes/client-node';
import { createMotoAuthPrincipal, type MotoAuthAdmin, type MotoAuthPrincipal } from './moto-auth.js';
import type { KubeStandInfo } from './global-setup.js';

export type { MotoAuthAdmin, MotoAuthPrincipal } from './moto-auth.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** moto server for S3, IAM and STS, no authentication: http://127.0.0.1:PORT */
    motoUrl: string;
    /** A second moto server with IAM authentication switched on (for bad-credential tests). */
    motoAuthUrl: string;
    /** PostgreSQL server URL of a maintenance database (`postgres`) on the throw-away cluster. */
    postgresUrl: string;
    /** Shared principal on the auth server (see moto-auth.ts). */
    motoAuthPrincipal: MotoAuthPrincipal;
    /** Allow-everything principals on the auth server, to create principals of your own. */
    motoAuthAdmin: MotoAuthAdmin;
    /** Where the stand writes its kube-apiserver's address, or why there is none (use `kubeStand()`). */
    kubeStandFile: string;
    /** The Chromium binary for browser tests, or why there is none (use `chromiumPath()`). */
    chromium: { path: string } | { error: string };
  }
}

/** The stand's Chromium (scripts/stand/ensure-chromium.sh); throws why there is none. */
export function chromiumPath(): string {
  const chromium = inject('chromium');
  if ('error' in chromium) throw new Error(`test stand: no Chromium for browser tests: ${chromium.error}`);
  return chromium.path;
}

export function motoUrl(): string {
  return inject('motoUrl');
}

export function motoAuthUrl(): string {
  return inject('motoAuthUrl');
}

export function postgresUrl(): string {
  return inject('postgresUrl');
}

/** moto's default account: where unknown keys land. Never use it for test data. */
export const MOTO_DEFAULT_ACCOUNT_ID = '123456789012';

/** A random 12-digit AWS account id (first digit 1-9, never 123456789012). */
export function randomAccountId(): string {
  for (;;) {
    const id = String(randomInt(1, 10)) + String(randomInt(0, 100_000)).padStart(5, '0') + String(randomInt(0, 1_000_000)).padStart(6, '0');
    if (id !== MOTO_DEFAULT_ACCOUNT_ID) return id;
  }
}

/** A random name of lowercase letters and digits, e.g. for buckets: `randomName('b')` -> `b-1a2b3c4d5e6f`. */
export function randomName(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Client config for an AWS SDK v3 client; `forcePathStyle` is used by S3Client only. */
export interface MotoClientConfig {
  endpoint: string;
  region: string;
  credentials: AwsCredentials;
  forcePathStyle: true;
}

/** Static credentials for the no-auth moto server (they act in 123456789012). */
export const MOTO_STATIC_CREDENTIALS: AwsCredentials = Object.freeze({ accessKeyId: 'test', secretAccessKey: 'test' });

/** Config for `new S3Client(...)`, `new IAMClient(...)`, `new STSClient(...)` against moto. */
export function motoClientConfig(credentials: AwsCredentials = MOTO_STATIC_CREDENTIALS, url: string = motoUrl()): MotoClientConfig {
  return { endpoint: url, region: 'us-east-1', credentials: { ...credentials }, forcePathStyle: true };
}

/** Role name used by `assumeRoleCredentials` unless told otherwise. */
export const STAND_ROLE_NAME = 'heroku-s3-controller';

/**
 * Temporary credentials acting in `accountId` on the no-auth moto server, from
 * AssumeRole into `arn:aws:iam::<accountId>:role/<roleName>` (the role need not exist).
 */
export async function assumeRoleCredentials(
  accountId: string,
  opts: { roleName?: string; sessionName?: string; url?: string } = {},
): Promise<Required<AwsCredentials>> {
  const roleArn = `arn:aws:iam::${accountId}:role/${opts.roleName ?? STAND_ROLE_NAME}`;
  const sts = new STSClient(motoClientConfig(MOTO_STATIC_CREDENTIALS, opts.url ?? motoUrl()));
  try {
    const out = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: opts.sessionName ?? 'stand' }));
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) throw new Error(`AssumeRole ${roleArn}: no credentials in moto's answer`);
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
  } finally {
    sts.destroy();
  }
}

/** `motoClientConfig` with credentials acting in `accountId` (see `assumeRoleCredentials`). */
export async function accountClientConfig(accountId: string, opts: { roleName?: string; url?: string } = {}): Promise<MotoClientConfig> {
  const url = opts.url ?? motoUrl();
  return motoClientConfig(await assumeRoleCredentials(accountId, { ...opts, url }), url);
}

export interface FreshDatabase {
  /** postgres://… URL of the new database. */
  url: string;
  name: string;
  /** Drops the database (closing any connections still open to it). */
  drop(): Promise<void>;
}

/** CREATE DATABASE with a random name on the stand's PostgreSQL server. */
export async function freshPostgresDatabase(prefix = 'test'): Promise<FreshDatabase> {
  const server = postgresUrl();
  const name = `${prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_${randomBytes(6).toString('hex')}`;
  await withClient(server, (c) => c.query(`CREATE DATABASE "${name}"`));
  const u = new URL(server);
  u.pathname = `/${name}`;
  let dropped = false;
  return {
    url: u.toString(),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      await withClient(server, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The shared principal on the auth server; read-only use (see moto-auth.ts). */
/** The environment of a controller on the authenticating moto, as `principal` (keys and roles checked for real). */
export function motoAuthEnv(principal: MotoAuthPrincipal): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: motoAuthUrl(),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: principal.accessKeyId,
    AWS_SECRET_ACCESS_KEY: principal.secretAccessKey,
  };
}

export function motoAuthPrincipal(): MotoAuthPrincipal {
  return inject('motoAuthPrincipal');
}

/** The allow-everything principals on the auth server (see moto-auth.ts). */
export function motoAuthAdmin(): MotoAuthAdmin {
  return inject('motoAuthAdmin');
}

/** A new principal of your own on the auth server (random names; see moto-auth.ts). */
export function newMotoAuthPrincipal(): Promise<MotoAuthPrincipal> {
  return createMotoAuthPrincipal(motoAuthUrl(), motoAuthAdmin());
}

// --- Kubernetes -------------------------------------------------------------------------------

export type KubeApiserver = Omit<KubeStandInfo, 'error'>;

/**
 * How long a test file waits for the kube-apiserver: on a machine's first run it is being built
 * (about 1,000 s of CPU, shared with the rest of the suite). Use it as the `beforeAll` timeout.
 */
export const KUBE_WAIT_MS = 45 * 60_000;

let kube: KubeApiserver | null = null;

/**
 * Waits until the stand's real kube-apiserver (etcd-backed, loopback, RBAC on) is up, which it
 * does in the background; call it in `beforeAll(…, KUBE_WAIT_MS)` of a `*.kube.test.ts` file
 * (those run last, so the wait overlaps the rest of the suite). Rejects, failing the file with the
 * reason, when the stand has none (the binary could not be built or installed, or STAND_KUBE=0).
 * Isolation: use a namespace or object names of your own (`randomName`).
 */
export async function kubeStand(): Promise<KubeApiserver> {
  const file = inject('kubeStandFile');
  const deadline = Date.now() + KUBE_WAIT_MS;
  for (;;) {
    let text: string | null = null;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      /* not settled yet */
    }
    if (text !== null) {
      const { error, ...info } = JSON.parse(text) as KubeStandInfo;
      if (error || !info.url) throw new Error(error || 'test stand: no kube-apiserver');
      kube = info;
      return info;
    }
    if (Date.now() > deadline) throw new Error(`test stand: the kube-apiserver was not up within ${KUBE_WAIT_MS / 60_000} min (still building? see the [stand] lines)`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/** The stand's kube-apiserver, once `kubeStand()` has resolved. */
export function kubeApiserver(): KubeApiserver {
  if (!kube) throw new Error('test stand: call `await kubeStand()` in beforeAll before using the kube-apiserver');
  return kube;
}

/**
 * A @kubernetes/client-node KubeConfig for the stand's API server: as the admin (system:masters)
 * by default, or as `stand-user` (no permissions until an RBAC binding grants some).
 */
export function kubeConfig(as: 'admin' | 'user' = 'admin'): KubeConfig {
  const kube = kubeApiserver();
  const kc = new KubeConfig();
  const user = as === 'admin' ? 'stand-admin' : 'stand-user';
  kc.loadFromOptions({
    clusters: [{ name: 'stand', server: kube.url, skipTLSVerify: true }],
    users: [{ name: user, token: as === 'admin' ? kube.adminToken : kube.userToken }],
    contexts: [{ name: 'stand', cluster: 'stand', user, namespace: 'default' }],
    currentContext: 'stand',
  });
  return kc;
}
