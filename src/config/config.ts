/**
 * The one place that reads `process.env` (STYLE.md #9). Every setting is validated here, and a
 * bad one is reported as `VARIABLE: what is wrong. What to do.` before anything starts.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import cron from 'node-cron';
import { z } from 'zod';
import type { LeaderElectionSettings } from '../leader/create-leader-elector.js';
import { validateLeaderTimings } from '../leader/leader-election.js';
import { DEFAULT_PROFILES, type ProfileTable, type SettingsProfile } from '../reconciler/profiles.js';
import { DEFAULT_MIN_DELETIONS_FOR_RATIO } from '../reconciler/plan-gc.js';
import { DEFAULT_ROTATION_POLICY } from '../reconciler/rotation.js';
import { parseDatabaseUrl } from '../store/db.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { parseDuration } from '../util/duration.js';

export interface AwsSettings {
  /** Region for the global services (IAM, STS) and the default for buckets. */
  region: string;
  /** Endpoint overrides from the SDK's standard `AWS_ENDPOINT_URL[_<SERVICE>]` variables. */
  endpoints: { s3?: string; iam?: string; sts?: string; tagging?: string; sqs?: string; events?: string };
  /** Path-style S3 addressing: on whenever an S3 endpoint is overridden (moto, MinIO, …). */
  forcePathStyle: boolean;
  /**
   * Client-side pacing of mutating calls per account (AWS_IAM_MUTATIONS_PER_SECOND,
   * AWS_S3_MUTATIONS_PER_SECOND); absent: the defaults of mutation-rate-limit.ts.
   */
  mutationRates?: { iamPerSecond: number; s3PerSecond: number };
}

/** The Heroku Add-on Partner API (v3): set when ADDON_MANIFEST_ID is. Secrets stay in memory only. */
export interface PartnerSettings {
  /** ADDON_MANIFEST_ID: the user of Heroku's Basic auth on `/heroku/resources`. */
  manifestId: string;
  /** ADDON_MANIFEST_PASSWORD, comma-separated: the first is current, all are accepted (rotation). */
  manifestPasswords: string[];
  /** ADDON_CLIENT_SECRET: for the OAuth grant exchange and token refreshes. */
  clientSecret: string;
  /** HEROKU_OAUTH_URL: Heroku's identity service. */
  oauthUrl: string;
}

/** How access keys are rotated (ROTATION_*; see reconciler/rotation.ts). */
export interface RotationSettings {
  /** ROTATION_OVERLAP: the old key stays active this long after every app holds the new one (a rolling restart). */
  overlapMs: number;
  /** ROTATION_DEACTIVATED_GRACE: a deactivated old key is deleted this long after, unless it was used meanwhile. */
  deactivatedGraceMs: number;
  /** ROTATION_MAX_CONCURRENT_APPS: apps of one team restarting because of rotation at once. */
  maxConcurrentApps: number;
  /** ROTATION_MAX_DEACTIVATION_RATIO: age rotations deactivating more than this share of an account's add-ons in one pass stop and ask. */
  maxDeactivationRatio: number;
}

export interface Config {
  /** PostgreSQL server; null means the embedded PGlite database under `dataDir`. */
  databaseUrl: string | null;
  dataDir: string;
  /** Fernet keys: the first encrypts, all decrypt. Empty when unset (checked by `need`). */
  fernetKeys: string[];
  herokuApiToken: string | null;
  herokuApiUrl: string;
  /** The Add-on Partner API endpoints; null (not mounted) without ADDON_MANIFEST_ID. */
  partner: PartnerSettings | null;
  /** How credentials reach the apps: the apps' config vars, or the add-on's config (partner token). */
  credentialDelivery: 'app-config-vars' | 'addon-config';
  /** ADDON_CONFIG_VARS_PREFIX: the manifest's config var prefix, for `addon-config` delivery. */
  addonConfigVarsPrefix: string;
  /** Add-on service names that mean "a bucket for this app". */
  addonServices: string[];
  /**
   * Goes into every ownership tag: a resource without it is never touched. Until the store is
   * opened (`openStore`), INSTANCE_ID or `default`; then the id the store holds (see
   * `instanceIdConfigured`).
   */
  instanceId: string;
  /**
   * INSTANCE_ID was set. If not, the store chooses the id once and keeps it, so two deployments
   * left at the default, each with its own store, never take each other's resources for theirs.
   */
  instanceIdConfigured: boolean;
  resyncSchedule: string;
  /** The private listener: health, readiness, metrics, drift, the admin API and console. */
  port: number;
  /** The public listener: only Heroku's webhooks and the add-on Partner API. */
  publicPort: number;
  /** The admin console on the private listener. */
  console: {
    /** CONSOLE_URL: the console's address as browsers reach it (the OAuth redirect goes back there). */
    url: string | null;
    /** Heroku sign-in for team admins (HEROKU_OAUTH_ID/SECRET); null: operators sign in with API tokens only. */
    herokuOAuth: { clientId: string; clientSecret: string; identityUrl: string } | null;
    /** SESSION_TTL: how long a console session lasts (never longer than the Heroku token behind it). */
    sessionTtlMs: number;
  };
  http: {
    /** METRICS_REQUIRE_TOKEN: /metrics asks for a read token like the admin API. */
    metricsRequireToken: boolean;
    /** PUBLIC_RATE_LIMIT: requests per client and minute on the public listener. */
    publicRequestsPerMinute: number;
    /** TRUST_PROXY: how many proxy hops (an Ingress) the public listener believes `X-Forwarded-For` from; 0 none. The private listener believes none. */
    trustProxyHops: number;
  };
  bucketPrefix: string;
  iamPath: string;
  iamUserPrefix: string;
  /**
   * Drift-loop breaker: an attribute repaired `maxRepairs` times within `windowMs` is no longer
   * repaired, and is reported as flapping.
   */
  flapBreaker: { maxRepairs: number; windowMs: number };
  gc: {
    mode: 'enabled' | 'dry-run' | 'off';
    graceDeprovisionedMs: number;
    graceOrphanedMs: number;
    maxDeletions: number;
    maxDeletionRatio: number;
    /** The ratio rule applies from this many deletions in one pass on (GC_BREAKER_MIN_DELETIONS). */
    minDeletionsForRatio: number;
    /** Object versions deleted per bucket per pass, so one huge bucket never blocks the loop. */
    emptyKeysPerPass: number;
  };
  /** Which replica acts (safety invariant 7): a Kubernetes Lease, a PostgreSQL advisory lock, or this one. */
  leaderElection: LeaderElectionSettings;
  /** Settings profiles by plan name: the defaults (private, versioned, read-only, cors) plus PLAN_PROFILES. */
  profiles: ProfileTable;
  /** Every bucket's settings and every user's keys are read in full once per this window. */
  deepCheckWindowMs: number;
  /** A bucket's public-exposure settings (public access block, policy, ownership) are read once per this shorter window. */
  exposureCheckWindowMs: number;
  /** The two windows of an account whose change events arrive (`events setup`): longer, since its drift is found from the events. */
  deepCheckWindowsWithEvents: { fullMs: number; exposureMs: number };
  /** KEY_MAX_AGE: delivered access keys are rotated before they are this old, and reported past it. */
  keyMaxAgeMs: number;
  /** How access keys are rotated (issue 16). */
  rotation: RotationSettings;
  /** How long the loop waits on one Heroku or AWS call before giving up on it. */
  requestTimeoutMs: number;
  /**
   * WEBHOOK_SECRETS: signing secrets of Heroku app webhooks. The first signs new subscriptions
   * (`webhooks register`); all verify deliveries, so a secret can be rotated. Empty: no
   * `POST /webhooks/heroku`. Never logged or printed.
   */
  webhookSecrets: string[];
  /** The keyed work queue behind webhooks: reconciles at once, and how long event keys are coalesced. */
  fastPath: { concurrency: number; coalesceMs: number };
  /**
   * The Heroku request budget (safety invariant 9): the account's refill per hour, the share of
   * it this controller may spend per hour, and the remaining-token floor under which full
   * resyncs wait.
   */
  herokuBudget: { tokensPerHour: number; maxShare: number; floor: number };
  /** How long one Heroku request may wait on retries of 429 before it fails (0: no retry). */
  herokuRateLimitMaxWaitMs: number;
  /**
   * On SIGTERM/SIGINT `serve` lets the pass in flight finish for at most this long, then abandons
   * it and exits; below Kubernetes' default 30 s terminationGracePeriodSeconds.
   */
  shutdownTimeoutMs: number;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  aws: AwsSettings;
}

const list = (text: string | undefined): string[] =>
  (text ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

const httpUrl = (what: string) =>
  optionalText.refine((value) => value === undefined || /^https?:\/\/[^\s/]+/.test(value), {
    message: `must be an http(s) URL such as https://${what}`,
  });

const envSchema = z.object({
  DATABASE_URL: optionalText.superRefine((value, ctx) => {
    if (value === undefined) return;
    try {
      parseDatabaseUrl(value);
    } catch (err) {
      // The store's own check, whose message never repeats the URL (and so the password).
      ctx.addIssue({ code: 'custom', message: errorMessage(err).replace(/^DATABASE_URL:? ?/, '') + '; or unset it to use the embedded database' });
    }
  }),
  DATA_DIR: optionalText,
  FERNET_KEYS: optionalText,
  HEROKU_API_TOKEN: optionalText,
  HEROKU_API_URL: httpUrl('api.heroku.com'),
  ADDON_MANIFEST_ID: optionalText.refine((value) => value === undefined || /^[a-z0-9][a-z0-9-]{0,62}$/.test(value), {
    message: 'must be the add-on manifest id (its slug): lowercase letters, digits and dashes',
  }),
  ADDON_MANIFEST_PASSWORD: optionalText,
  ADDON_CLIENT_SECRET: optionalText,
  HEROKU_OAUTH_URL: httpUrl('id.heroku.com'),
  HEROKU_OAUTH_ID: optionalText.refine((value) => value === undefined || /^[0-9a-f-]{36}$/i.test(value), {
    message: 'must be the id (a UUID) of the OAuth client made for the console (`heroku clients:create "S3 console" CONSOLE_URL/auth/heroku/callback`)',
  }),
  HEROKU_OAUTH_SECRET: optionalText,
  CONSOLE_URL: httpUrl('s3-console.example.com').refine((value) => value === undefined || !/[?#]/.test(value), {
    message: 'must be the console\'s base URL without query or fragment, e.g. https://s3-console.internal.example.com',
  }),
  ROTATION_OVERLAP: optionalText.refine((value) => value === undefined || parseDuration(value) !== null, {
    message: 'must be a duration such as 1h (how long the old key stays active after the new one is delivered)',
  }),
  ROTATION_DEACTIVATED_GRACE: optionalText.refine((value) => value === undefined || parseDuration(value) !== null, {
    message: 'must be a duration such as 1d (how long a deactivated old key is kept before it is deleted)',
  }),
  ROTATION_MAX_CONCURRENT_APPS: optionalText.refine((value) => value === undefined || (/^[1-9]\d*$/.test(value) && Number(value) <= 10_000), {
    message: 'must be a whole number of apps, at least 1 (e.g. 5)',
  }),
  ROTATION_MAX_DEACTIVATION_RATIO: optionalText.refine((value) => value === undefined || /^(0(\.\d+)?|1(\.0+)?)$/.test(value), {
    message: 'must be a ratio between 0 and 1 such as 0.5',
  }),
  KEY_MAX_AGE: optionalText.refine((value) => value === undefined || (parseDuration(value) ?? 0) >= 86_400_000, {
    message: 'must be a duration of at least 1d, such as 90d (AWS Security Hub IAM.3 fails keys older than 90 days)',
  }),
  SESSION_TTL: optionalText.refine((value) => value === undefined || (parseDuration(value) ?? 0) >= 60_000, {
    message: 'must be a duration of at least 1m, such as 8h',
  }),
  CREDENTIAL_DELIVERY: z.enum(['app-config-vars', 'addon-config']).optional(),
  ADDON_CONFIG_VARS_PREFIX: optionalText.refine((value) => value === undefined || /^[A-Z][A-Z0-9_]*$/.test(value), {
    message: 'must be the prefix of the add-on manifest\'s config vars in capitals, e.g. S3_BUCKET',
  }),
  ADDON_SERVICES: optionalText.refine(
    (value) => list(value).every((name) => /^[a-z0-9][a-z0-9-]*$/.test(name)),
    { message: 'must be comma-separated add-on service names such as "bucketeer,s3-bucket" (lowercase letters, digits, dashes)' },
  ),
  INSTANCE_ID: optionalText.refine((value) => value === undefined || /^[a-z0-9][a-z0-9-]{0,62}$/.test(value), {
    message: 'must be 1-63 lowercase letters, digits or dashes; it goes into every ownership tag, so keep it stable',
  }),
  RESYNC_SCHEDULE: optionalText.refine((value) => value === undefined || cron.validate(value), {
    message: 'is not a cron expression. Use five or six fields, for example "* * * * *" for every minute',
  }),
  PORT: optionalText.refine((value) => value === undefined || (/^\d+$/.test(value) && Number(value) < 65536), {
    message: 'must be a TCP port number between 0 and 65535',
  }),
  PUBLIC_PORT: optionalText.refine((value) => value === undefined || (/^\d+$/.test(value) && Number(value) < 65536), {
    message: 'must be a TCP port number between 0 and 65535',
  }),
  METRICS_REQUIRE_TOKEN: optionalText.refine((value) => value === undefined || value === 'true' || value === 'false', {
    message: 'must be true or false (true: /metrics needs an operator API token with read scope)',
  }),
  PUBLIC_RATE_LIMIT: optionalText.refine((value) => value === undefined || (/^[1-9]\d*$/.test(value) && Number(value) <= 1_000_000), {
    message: 'must be a whole number of requests per client and minute on the public listener, e.g. 1200',
  }),
  TRUST_PROXY: optionalText.refine((value) => value === undefined || (/^\d$/.test(value)), {
    message: 'must be the number of proxy hops in front of the controller (0-9), e.g. 1 behind one Ingress',
  }),
  BUCKET_PREFIX: optionalText.refine((value) => value === undefined || /^[a-z0-9][a-z0-9-]{0,17}$/.test(value), {
    message: 'must be 1-18 lowercase letters, digits or dashes, starting with a letter or digit (bucket names are at most 63 characters)',
  }),
  IAM_PATH: optionalText.refine((value) => value === undefined || /^\/([\w+=,.@-]+\/)+$/.test(value), {
    message: 'must be an IAM path such as /heroku-s3-controller/ (starts and ends with a slash)',
  }),
  IAM_USER_PREFIX: optionalText.refine((value) => value === undefined || /^[\w+=,.@-]{1,20}$/.test(value), {
    message: 'must be 1-20 characters of letters, digits and +=,.@_-',
  }),
  // The message never repeats a secret, only what is wrong with it.
  WEBHOOK_SECRETS: optionalText.refine((value) => list(value).every((secret) => secret.length >= 16 && !/\s/.test(secret)), {
    message: 'must be comma-separated secrets of at least 16 characters without spaces (e.g. from `openssl rand -hex 32`); the first signs new webhooks, all verify',
  }),
  FAST_PATH_CONCURRENCY: optionalText.refine((value) => value === undefined || (/^[1-9]\d*$/.test(value) && Number(value) <= 64), {
    message: 'must be a whole number of add-ons reconciled at once, from 1 to 64 (e.g. 4)',
  }),
  FAST_PATH_COALESCE: optionalText.refine((value) => value === undefined || parseDuration(value) !== null, {
    message: 'must be a duration such as 1s (0 reconciles each event at once)',
  }),
  REQUEST_TIMEOUT: optionalText.refine((value) => value === undefined || parseDuration(value) !== null, {
    message: 'must be a duration such as 30s or 2m',
  }),
  SHUTDOWN_TIMEOUT: optionalText.refine((value) => value === undefined || parseDuration(value) !== null, {
    message: 'must be a duration such as 20s (keep it below the pod\'s terminationGracePeriodSeconds)',
  }),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).optional(),
  AWS_REGION: optionalText.refine((value) => value === undefined || /^[a-z]{2}(-[a-z]+)+-\d$/.test(value), {
    message: 'must be an AWS region such as us-east-1',
  }),
  AWS_ENDPOINT_URL: httpUrl('s3.example.com'),
  AWS_ENDPOINT_URL_S3: httpUrl('s3.example.com'),
  AWS_ENDPOINT_URL_IAM: httpUrl('iam.example.com'),
  AWS_ENDPOINT_URL_STS: httpUrl('sts.example.com'),
  AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API: httpUrl('tagging.example.com'),
  AWS_ENDPOINT_URL_SQS: httpUrl('sqs.example.com'),
  AWS_ENDPOINT_URL_EVENTBRIDGE: httpUrl('events.example.com'),
  AWS_IAM_MUTATIONS_PER_SECOND: optionalText.refine((value) => value === undefined || (/^\d+(\.\d+)?$/.test(value) && Number(value) > 0), {
    message: "must be a number of calls per second above 0 (e.g. 5): stay below the account's IAM rate, about 5-10 mutations per second, shared with everything else in the account",
  }),
  AWS_S3_MUTATIONS_PER_SECOND: optionalText.refine((value) => value === undefined || (/^\d+(\.\d+)?$/.test(value) && Number(value) > 0), {
    message: 'must be a number of calls per second above 0 (e.g. 20)',
  }),
  FLAP_MAX_REPAIRS: optionalText.refine((value) => value === undefined || /^[1-9]\d*$/.test(value), {
    message: 'must be a whole number of repairs, at least 1 (e.g. 3)',
  }),
  FLAP_WINDOW: optionalText.refine((value) => value === undefined || parseDuration(value) !== null, {
    message: 'must be a duration such as 1h',
  }),
  PLAN_PROFILES: optionalText.superRefine((value, ctx) => {
    if (value === undefined) return;
    const problem = profileTableProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  LEADER_ELECTION: z.enum(['kubernetes', 'postgres', 'none']).optional(),
  LEASE_NAME: optionalText.refine((value) => value === undefined || /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(value), {
    message: 'must be a Kubernetes object name: lowercase letters, digits, dashes and dots',
  }),
  LEASE_NAMESPACE: optionalText,
  POD_NAMESPACE: optionalText,
  POD_NAME: optionalText,
  LEASE_DURATION: optionalText.refine((value) => value === undefined || parseDuration(value) !== null, { message: 'must be a duration such as 15s' }),
  LEASE_RENEW_DEADLINE: optionalText.refine((value) => value === undefined || parseDuration(value) !== null, { message: 'must be a duration such as 10s' }),
  LEASE_RETRY_PERIOD: optionalText.refine((value) => value === undefined || parseDuration(value) !== null, { message: 'must be a duration such as 2s' }),
  GC_MODE: z.enum(['enabled', 'dry-run', 'off']).optional(),
  GC_GRACE_DEPROVISIONED: optionalText.refine((value) => value === undefined || parseDuration(value) !== null, {
    message: 'must be a duration such as 5m',
  }),
  GC_GRACE_ORPHANED: optionalText.refine((value) => value === undefined || parseDuration(value) !== null, {
    message: 'must be a duration such as 24h',
  }),
  GC_MAX_DELETIONS: optionalText.refine((value) => value === undefined || /^\d+$/.test(value), {
    message: 'must be a whole number (e.g. 10)',
  }),
  GC_MAX_DELETION_RATIO: optionalText.refine((value) => value === undefined || (/^(0(\.\d+)?|1(\.0+)?)$/.test(value)), {
    message: 'must be a ratio between 0 and 1 such as 0.5',
  }),
  GC_BREAKER_MIN_DELETIONS: optionalText.refine((value) => value === undefined || /^[1-9]\d*$/.test(value), {
    message: 'must be a whole number of deletions, at least 1 (e.g. 5)',
  }),
  GC_EMPTY_KEYS_PER_PASS: optionalText.refine((value) => value === undefined || /^[1-9]\d*$/.test(value), {
    message: 'must be a whole number of object versions, at least 1 (e.g. 10000)',
  }),
  DEEP_CHECK_WINDOW: optionalText.refine((value) => value === undefined || parseDuration(value) !== null, {
    message: 'must be a duration such as 1h or 30m (0 checks every resource in full on every pass)',
  }),
  DEEP_CHECK_EXPOSURE_WINDOW: optionalText.refine((value) => value === undefined || parseDuration(value) !== null, {
    message: "must be a duration such as 15m: how often a bucket's public access block, policy and ownership are read",
  }),
  DEEP_CHECK_WINDOW_WITH_EVENTS: optionalText.refine((value) => value === undefined || parseDuration(value) !== null, {
    message: 'must be a duration such as 24h: the deep-check window of an account whose change events arrive',
  }),
  DEEP_CHECK_EXPOSURE_WINDOW_WITH_EVENTS: optionalText.refine((value) => value === undefined || parseDuration(value) !== null, {
    message: 'must be a duration such as 30m: the exposure-check window of an account whose change events arrive',
  }),
  HEROKU_BUDGET_TOKENS_PER_HOUR: optionalText.refine((value) => value === undefined || /^[1-9]\d*$/.test(value), {
    message: "must be a whole number of tokens, at least 1: the Heroku account's refill per hour (4500)",
  }),
  HEROKU_BUDGET_MAX_SHARE: optionalText.refine((value) => value === undefined || (/^(0?\.\d+|1(\.0+)?)$/.test(value) && Number(value) > 0), {
    message: "must be a ratio above 0 and at most 1 such as 0.5: the share of the Heroku account's hourly tokens this controller may spend",
  }),
  HEROKU_RATE_LIMIT_MAX_WAIT: optionalText.refine((value) => value === undefined || parseDuration(value) !== null, {
    message: 'must be a duration such as 3m (0 fails a read at its first 429)',
  }),
  HEROKU_BUDGET_FLOOR: optionalText.refine((value) => value === undefined || /^\d+$/.test(value), {
    message: 'must be a whole number of tokens (e.g. 1000): under it, full resyncs wait for the Heroku budget to refill',
  }),
});

const profileSchema = z
  .object({
    access: z.enum(['read-write', 'read-only']).optional(),
    versioning: z.boolean().optional(),
    corsOrigins: z.array(z.string().min(1)).optional(),
    retain: z.boolean().optional(),
    /**
     * What the plan stands for: a bucket (default), IAM credentials alone, or another kind the
     * controller is built with; a name it lacks is refused when it starts (with the kinds it has).
     */
    kind: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'a kind is a lowercase name such as bucket or credentials').optional(),
    /** `credentials`: the users' IAM policy, a document (or its JSON text) with ${...} variables. */
    policy: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).optional(),
  })
  .strict();

/** PLAN_PROFILES as the controller uses it: a policy given as a JSON object becomes its text. */
function parseProfiles(text: string): ProfileTable {
  const table = JSON.parse(text) as Record<string, Partial<SettingsProfile> & { policy?: string | object }>;
  return Object.fromEntries(
    Object.entries(table).map(([plan, profile]) => [plan, profile.policy !== undefined && typeof profile.policy !== 'string' ? { ...profile, policy: JSON.stringify(profile.policy) } : profile]),
  ) as ProfileTable;
}

/** Why PLAN_PROFILES is unusable, or null when it is fine. */
function profileTableProblem(text: string): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return 'is not JSON. Write it like {"s3-bucket:versioned": {"versioning": true}, "read-only": {"access": "read-only"}}';
  }
  const table = z.record(z.string(), profileSchema).safeParse(parsed);
  if (table.success) return null;
  const issue = table.error.issues[0]!;
  return `has a bad profile at ${issue.path.join('.') || 'the top level'} (${issue.message}); a profile may set kind ("bucket" or "credentials"); a bucket's access ("read-write" or "read-only"), versioning (true/false), corsOrigins (a list of origins) and retain (true/false); credentials' policy (an IAM policy document with \${addon}, \${app}, \${team} and \${account} variables)`;
}

/** Reads and validates the configuration; throws a {@link ConfigError} naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    const message =
      issue.code === 'invalid_value' ? `must be one of ${issue.values.join(', ')}` : issue.message;
    throw new ConfigError(variable, `${message}.`);
  }
  const e = parsed.data;
  const instanceId = e.INSTANCE_ID ?? 'default';
  const mode = e.LEADER_ELECTION ?? (e.DATABASE_URL ? 'postgres' : 'none');
  if (mode === 'postgres' && !e.DATABASE_URL) {
    throw new ConfigError('LEADER_ELECTION', 'is postgres, which needs DATABASE_URL: the embedded database serves one process only. Set DATABASE_URL, or LEADER_ELECTION=none for a single replica.');
  }
  const timings = {
    leaseDurationMs: parseDuration(e.LEASE_DURATION ?? '15s')!,
    renewDeadlineMs: parseDuration(e.LEASE_RENEW_DEADLINE ?? '10s')!,
    retryPeriodMs: parseDuration(e.LEASE_RETRY_PERIOD ?? '2s')!,
  };
  try {
    validateLeaderTimings(timings, { leaseDuration: 'LEASE_DURATION', renewDeadline: 'LEASE_RENEW_DEADLINE', retryPeriod: 'LEASE_RETRY_PERIOD' });
  } catch (err) {
    throw new ConfigError('LEASE_DURATION', `${errorMessage(err)}.`);
  }
  const leaderElection: LeaderElectionSettings = {
    mode,
    identity: e.POD_NAME ?? `${os.hostname()}_${randomBytes(4).toString('hex')}`,
    leaseName: e.LEASE_NAME ?? `heroku-s3-controller-${instanceId}`,
    leaseNamespace: e.LEASE_NAMESPACE ?? e.POD_NAMESPACE ?? null,
    timings,
  };
  const herokuBudget = {
    tokensPerHour: Number(e.HEROKU_BUDGET_TOKENS_PER_HOUR ?? 4500),
    maxShare: Number(e.HEROKU_BUDGET_MAX_SHARE ?? 0.5),
    floor: Number(e.HEROKU_BUDGET_FLOOR ?? 1000),
  };
  if (herokuBudget.floor >= herokuBudget.tokensPerHour) {
    throw new ConfigError('HEROKU_BUDGET_FLOOR', `is ${herokuBudget.floor}, not below the account's ${herokuBudget.tokensPerHour} tokens (HEROKU_BUDGET_TOKENS_PER_HOUR), so full resyncs would never run. Lower it, e.g. to ${Math.floor(herokuBudget.tokensPerHour / 4)}.`);
  }
  const deepChecks = deepCheckSettings(e);
  const port = Number(e.PORT ?? 8080);
  if (port !== 0 && Number(e.PUBLIC_PORT ?? 8081) === port) {
    throw new ConfigError('PUBLIC_PORT', `is ${port}, the same as PORT: the public listener (webhooks, Partner API) and the private one (admin API, metrics) need two ports. Set PUBLIC_PORT to another port, e.g. ${port + 1}.`);
  }
  const partner = partnerSettings(e);
  const consoleConfig = consoleSettings(e);
  const credentialDelivery = e.CREDENTIAL_DELIVERY ?? 'app-config-vars';
  if (credentialDelivery === 'addon-config' && partner === null) {
    throw new ConfigError('CREDENTIAL_DELIVERY', 'is addon-config, which needs the Add-on Partner API: set ADDON_MANIFEST_ID, ADDON_MANIFEST_PASSWORD and ADDON_CLIENT_SECRET, or use app-config-vars.');
  }
  const generic = e.AWS_ENDPOINT_URL;
  const endpoints: AwsSettings['endpoints'] = {};
  const s3 = e.AWS_ENDPOINT_URL_S3 ?? generic;
  const iam = e.AWS_ENDPOINT_URL_IAM ?? generic;
  const sts = e.AWS_ENDPOINT_URL_STS ?? generic;
  if (s3) endpoints.s3 = s3;
  if (iam) endpoints.iam = iam;
  if (sts) endpoints.sts = sts;
  const tagging = e.AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API ?? generic;
  if (tagging) endpoints.tagging = tagging;
  const sqs = e.AWS_ENDPOINT_URL_SQS ?? generic;
  if (sqs) endpoints.sqs = sqs;
  const events = e.AWS_ENDPOINT_URL_EVENTBRIDGE ?? generic;
  if (events) endpoints.events = events;
  return {
    databaseUrl: e.DATABASE_URL ?? null,
    dataDir: path.resolve(e.DATA_DIR ?? '.data'),
    fernetKeys: list(e.FERNET_KEYS),
    herokuApiToken: e.HEROKU_API_TOKEN ?? null,
    herokuApiUrl: (e.HEROKU_API_URL ?? 'https://api.heroku.com').replace(/\/+$/, ''),
    partner,
    credentialDelivery,
    addonConfigVarsPrefix: e.ADDON_CONFIG_VARS_PREFIX ?? (list(e.ADDON_SERVICES)[0] ?? 's3-bucket').toUpperCase().replace(/[^A-Z0-9]+/g, '_'),
    addonServices: list(e.ADDON_SERVICES),
    instanceId,
    instanceIdConfigured: e.INSTANCE_ID !== undefined,
    leaderElection,
    resyncSchedule: e.RESYNC_SCHEDULE ?? '* * * * *',
    port,
    publicPort: Number(e.PUBLIC_PORT ?? 8081),
    console: consoleConfig,
    http: {
      metricsRequireToken: e.METRICS_REQUIRE_TOKEN === 'true',
      publicRequestsPerMinute: Number(e.PUBLIC_RATE_LIMIT ?? 1200),
      trustProxyHops: Number(e.TRUST_PROXY ?? 0),
    },
    bucketPrefix: e.BUCKET_PREFIX ?? 'hs3-',
    iamPath: e.IAM_PATH ?? '/heroku-s3-controller/',
    iamUserPrefix: e.IAM_USER_PREFIX ?? 'hs3-',
    requestTimeoutMs: parseDuration(e.REQUEST_TIMEOUT ?? '30s')!,
    webhookSecrets: list(e.WEBHOOK_SECRETS),
    fastPath: { concurrency: Number(e.FAST_PATH_CONCURRENCY ?? 4), coalesceMs: parseDuration(e.FAST_PATH_COALESCE ?? '1s')! },
    shutdownTimeoutMs: parseDuration(e.SHUTDOWN_TIMEOUT ?? '20s')!,
    ...deepChecks,
    keyMaxAgeMs: e.KEY_MAX_AGE ? parseDuration(e.KEY_MAX_AGE)! : DEFAULT_ROTATION_POLICY.keyMaxAgeMs,
    rotation: {
      overlapMs: e.ROTATION_OVERLAP ? parseDuration(e.ROTATION_OVERLAP)! : DEFAULT_ROTATION_POLICY.overlapMs,
      deactivatedGraceMs: e.ROTATION_DEACTIVATED_GRACE ? parseDuration(e.ROTATION_DEACTIVATED_GRACE)! : DEFAULT_ROTATION_POLICY.deactivatedGraceMs,
      maxConcurrentApps: Number(e.ROTATION_MAX_CONCURRENT_APPS ?? DEFAULT_ROTATION_POLICY.maxConcurrentApps),
      maxDeactivationRatio: Number(e.ROTATION_MAX_DEACTIVATION_RATIO ?? DEFAULT_ROTATION_POLICY.maxDeactivationRatio),
    },
    herokuBudget,
    herokuRateLimitMaxWaitMs: parseDuration(e.HEROKU_RATE_LIMIT_MAX_WAIT ?? '3m')!,
    profiles: { ...DEFAULT_PROFILES, ...(e.PLAN_PROFILES ? parseProfiles(e.PLAN_PROFILES) : {}) },
    gc: {
      mode: e.GC_MODE ?? 'enabled',
      graceDeprovisionedMs: parseDuration(e.GC_GRACE_DEPROVISIONED ?? '5m')!,
      graceOrphanedMs: parseDuration(e.GC_GRACE_ORPHANED ?? '24h')!,
      maxDeletions: Number(e.GC_MAX_DELETIONS ?? 10),
      maxDeletionRatio: Number(e.GC_MAX_DELETION_RATIO ?? 0.5),
      emptyKeysPerPass: Number(e.GC_EMPTY_KEYS_PER_PASS ?? 10_000),
      minDeletionsForRatio: Number(e.GC_BREAKER_MIN_DELETIONS ?? DEFAULT_MIN_DELETIONS_FOR_RATIO),
    },
    flapBreaker: { maxRepairs: Number(e.FLAP_MAX_REPAIRS ?? 3), windowMs: parseDuration(e.FLAP_WINDOW ?? '1h')! },
    logLevel: e.LOG_LEVEL ?? 'info',
    aws: {
      region: e.AWS_REGION ?? 'us-east-1',
      endpoints,
      forcePathStyle: s3 !== undefined,
      mutationRates: {
        iamPerSecond: Number(e.AWS_IAM_MUTATIONS_PER_SECOND ?? 5),
        s3PerSecond: Number(e.AWS_S3_MUTATIONS_PER_SECOND ?? 20),
      },
    },
  };
}

/**
 * How often resources are read beyond the bulk inventory: in full, and their public-exposure
 * settings alone; each on longer windows for an account whose change events arrive. An exposure
 * window longer than its full window would never come round first: refused.
 */
function deepCheckSettings(e: z.infer<typeof envSchema>): Pick<Config, 'deepCheckWindowMs' | 'exposureCheckWindowMs' | 'deepCheckWindowsWithEvents'> {
  const full = parseDuration(e.DEEP_CHECK_WINDOW ?? '1h')!;
  const exposure = e.DEEP_CHECK_EXPOSURE_WINDOW ? parseDuration(e.DEEP_CHECK_EXPOSURE_WINDOW)! : Math.min(15 * 60_000, full);
  const fullWithEvents = parseDuration(e.DEEP_CHECK_WINDOW_WITH_EVENTS ?? '24h')!;
  const withEvents = {
    fullMs: fullWithEvents,
    exposureMs: e.DEEP_CHECK_EXPOSURE_WINDOW_WITH_EVENTS ? parseDuration(e.DEEP_CHECK_EXPOSURE_WINDOW_WITH_EVENTS)! : Math.min(30 * 60_000, fullWithEvents),
  };
  if (exposure > full) {
    throw new ConfigError('DEEP_CHECK_EXPOSURE_WINDOW', `is ${e.DEEP_CHECK_EXPOSURE_WINDOW}, longer than DEEP_CHECK_WINDOW (${e.DEEP_CHECK_WINDOW ?? '1h'}), whose full checks read those settings too. Set it to at most ${e.DEEP_CHECK_WINDOW ?? '1h'}, or unset it (then 15m, or DEEP_CHECK_WINDOW when that is shorter).`);
  }
  if (withEvents.exposureMs > withEvents.fullMs) {
    throw new ConfigError('DEEP_CHECK_EXPOSURE_WINDOW_WITH_EVENTS', `is ${e.DEEP_CHECK_EXPOSURE_WINDOW_WITH_EVENTS}, longer than DEEP_CHECK_WINDOW_WITH_EVENTS (${e.DEEP_CHECK_WINDOW_WITH_EVENTS ?? '24h'}), whose full checks read those settings too. Set it to at most ${e.DEEP_CHECK_WINDOW_WITH_EVENTS ?? '24h'}, or unset it (then 30m, or DEEP_CHECK_WINDOW_WITH_EVENTS when that is shorter).`);
  }
  return { deepCheckWindowMs: full, exposureCheckWindowMs: exposure, deepCheckWindowsWithEvents: withEvents };
}

/** The Partner API settings: all three of id, password and client secret, or none (never echoes a value). */
function consoleSettings(e: z.infer<typeof envSchema>): Config['console'] {
  const url = e.CONSOLE_URL?.replace(/\/+$/, '') ?? null;
  if (url !== null && /^http:/i.test(url) && !/^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/i.test(url)) {
    throw new ConfigError('CONSOLE_URL', `is ${url}: browsers keep the console's Secure cookies on https:// or http://localhost only, so sign-in would fail there. Use an https:// address (or a port-forward to http://localhost:PORT).`);
  }
  let herokuOAuth: Config['console']['herokuOAuth'] = null;
  if (e.HEROKU_OAUTH_ID !== undefined || e.HEROKU_OAUTH_SECRET !== undefined) {
    if (e.HEROKU_OAUTH_ID === undefined) throw new ConfigError('HEROKU_OAUTH_ID', 'is not set but HEROKU_OAUTH_SECRET is. Set both (the console\'s OAuth client), or neither.');
    if (e.HEROKU_OAUTH_SECRET === undefined) throw new ConfigError('HEROKU_OAUTH_SECRET', 'is not set but HEROKU_OAUTH_ID is. Set it to the secret of that OAuth client.');
    if (url === null) throw new ConfigError('CONSOLE_URL', 'is not set, and Heroku sign-in needs it: set it to the console\'s address as browsers reach it; the OAuth client\'s redirect URI is CONSOLE_URL/auth/heroku/callback.');
    herokuOAuth = { clientId: e.HEROKU_OAUTH_ID, clientSecret: e.HEROKU_OAUTH_SECRET, identityUrl: (e.HEROKU_OAUTH_URL ?? 'https://id.heroku.com').replace(/\/+$/, '') };
  }
  return { url, herokuOAuth, sessionTtlMs: parseDuration(e.SESSION_TTL ?? '8h')! };
}

function partnerSettings(e: z.infer<typeof envSchema>): PartnerSettings | null {
  const passwords = list(e.ADDON_MANIFEST_PASSWORD);
  if (e.ADDON_MANIFEST_ID === undefined) {
    if (passwords.length > 0) throw new ConfigError('ADDON_MANIFEST_PASSWORD', 'is set without ADDON_MANIFEST_ID. Set ADDON_MANIFEST_ID to the add-on manifest id, or unset both.');
    return null;
  }
  if (passwords.length === 0) {
    throw new ConfigError('ADDON_MANIFEST_PASSWORD', 'is not set. Set it to the api.password of the add-on manifest (comma-separate two during a rotation; the first is current), or unset ADDON_MANIFEST_ID.');
  }
  if (e.ADDON_CLIENT_SECRET === undefined) {
    throw new ConfigError('ADDON_CLIENT_SECRET', 'is not set. Set it to the OAuth client secret of the add-on (Partner Portal), needed to exchange the grant of each provisioning request.');
  }
  return {
    manifestId: e.ADDON_MANIFEST_ID,
    manifestPasswords: passwords,
    clientSecret: e.ADDON_CLIENT_SECRET,
    oauthUrl: (e.HEROKU_OAUTH_URL ?? 'https://id.heroku.com').replace(/\/+$/, ''),
  };
}

const REQUIRED = {
  FERNET_KEYS: {
    present: (c: Config) => c.fernetKeys.length > 0,
    help: 'is not set. Generate a key with `heroku-s3-controller fernet-key` and set FERNET_KEYS to it (comma-separate several keys to rotate; the first encrypts)',
  },
  HEROKU_API_TOKEN: {
    present: (c: Config) => c.herokuApiToken !== null,
    help: 'is not set. Create a token with `heroku authorizations:create` and set HEROKU_API_TOKEN to it',
  },
  ADDON_SERVICES: {
    present: (c: Config) => c.addonServices.length > 0,
    help: 'is not set. Set it to the add-on service name(s) that mean "a bucket for this app", e.g. ADDON_SERVICES=s3-bucket',
  },
} as const;

/** Asserts that the settings a command needs are present, naming the first missing one. */
export function need(config: Config, ...variables: (keyof typeof REQUIRED)[]): void {
  for (const variable of variables) {
    const rule = REQUIRED[variable];
    if (!rule.present(config)) throw new ConfigError(variable, `${rule.help}.`);
  }
}
