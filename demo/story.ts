/**
 * The demo's scripted story, told in plain words while the real controller runs against the
 * sandbox: add-ons appear and get buckets; someone breaks a setting and deletes a config var, and
 * the controller reports and repairs it; a review app goes away and its bucket and user are
 * collected after the grace period. Each step's evidence is written to `story.json` in the
 * sandbox, read back from the sandbox itself, not from what the controller says it did.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { DeletePublicAccessBlockCommand, GetPublicAccessBlockCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { GetUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { loadConfig } from '../src/config/config.js';
import { linkCommand } from '../src/cli/link-commands.js';
import { apiTokenAuthenticator } from '../src/http/authentication.js';
import type { HttpServer } from '../src/http/listen.js';
import { startPrivateListener } from '../src/http/private-listener.js';
import { failedPassRecord, publishPass } from '../src/metrics/pass-outcome.js';
import type { Action } from '../src/reconciler/actions.js';
import type { PassResult } from '../src/reconciler/controller.js';
import { configVarNames } from '../src/reconciler/spec.js';
import { createRuntime, type Runtime } from '../src/runtime.js';
import { createLogger } from '../src/util/log.js';
import { ACCOUNT_ID, SERVICE, type Sandbox } from './sandbox.js';
import { abortableSleep } from '../src/util/abortable-sleep.js';

/** Short enough to watch, long enough to see the wait: the review app's bucket goes after this. */
export const DEMO_GRACE = '10s';

export interface StoryOptions {
  port: number;
  signal: AbortSignal;
  say: (line: string) => void;
}

/** The controller the story leaves running, for the demo's loop and prompt. */
export interface DemoSession {
  evidence: StoryEvidence;
  runtime: Runtime;
  /** One pass, narrated when it changes something. */
  pass(): Promise<PassResult>;
  close(): Promise<void>;
}

export interface StoryEvidence {
  buckets: Record<string, string>;
  users: Record<string, string>;
  credentialsDelivered: Record<string, string[]>;
  /** Whom STS says the key delivered to the web app belongs to. */
  deliveredKeyIdentity: string | null;
  unlinkedTeamUntouched: boolean;
  drift: { seen: string[]; repaired: boolean; publicAccessBlockRestored: boolean; configVarRestored: boolean };
  reviewApp: { orphanedAt: string | null; bucketGone: boolean; userGone: boolean };
  urls: { metrics: string; drift: string };
  /** A read-only operator API token made for the demo: /drift and the admin API ask for one. */
  readToken: string;
}

/** The controller's environment: what a user would export, pointed at the sandbox. */
export function controllerEnv(sandbox: Sandbox, port: number): Record<string, string> {
  return {
    DATA_DIR: path.join(sandbox.dir, 'data'),
    HEROKU_API_URL: sandbox.fake.url,
    HEROKU_API_TOKEN: sandbox.fake.token,
    ADDON_SERVICES: SERVICE,
    INSTANCE_ID: 'demo',
    AWS_ENDPOINT_URL: sandbox.motoUrl,
    AWS_REGION: 'us-east-1',
    // Check every setting of every resource on every pass (the default spreads it over an hour).
    DEEP_CHECK_WINDOW: '0',
    GC_GRACE_DEPROVISIONED: DEMO_GRACE,
    GC_GRACE_ORPHANED: DEMO_GRACE,
    LEADER_ELECTION: 'none',
    LOG_LEVEL: 'error',
    PORT: String(port),
  };
}

export async function tellStory(sandbox: Sandbox, options: StoryOptions): Promise<DemoSession> {
  const { say } = options;
  const env = controllerEnv(sandbox, options.port);
  const { world } = sandbox;
  const s3 = new S3Client({ endpoint: sandbox.motoUrl, region: 'us-east-1', forcePathStyle: true, credentials: sandbox.linkKeys });
  const iam = new IAMClient({ endpoint: sandbox.motoUrl, region: 'us-east-1', credentials: sandbox.linkKeys });
  let runtime: Runtime | null = null;
  let server: HttpServer | null = null;
  try {
    step(say, 2, `Linking team ${world.team} to AWS account ${ACCOUNT_ID} (the keys are checked with STS before they are stored, encrypted)`);
    say(`  $ heroku-s3-controller link --team ${world.team} --access-key-id ${sandbox.linkKeys.accessKeyId} --secret-access-key -`);
    await withEnv(env, () => linkCommand({ team: world.team, ...sandbox.linkKeys }));
    say(`  Team ${world.otherTeam} is not linked: the controller never touches its add-on.`);

    const config = loadConfig({ ...process.env, ...env });
    runtime = await createRuntime(config, createLogger(config.logLevel));
    const rt = runtime;
    let lastPassAt: Date | null = null;
    server = await startPrivateListener(
      options.port,
      { health: { lastPassAt: () => lastPassAt, maxPassAgeMs: 10 * 60_000 }, metrics: rt.metrics, drift: () => rt.reports.latest, authenticator: apiTokenAuthenticator(rt.store.apiTokens) },
      '127.0.0.1',
    );
    // As `heroku-s3-controller token create --name demo-reader --scope read` would make it.
    const { token: readToken } = await rt.store.apiTokens.create({ name: `demo-reader-${Date.now().toString(36)}`, scope: 'read', createdBy: 'demo', expiresAt: null });
    const urls = { metrics: `${server.url}/metrics`, drift: `${server.url}/drift` };
    let passes = 0;
    const pass = async (): Promise<PassResult> => {
      const startedAt = new Date();
      try {
        const result = await rt.controller.reconcileOnce();
        publishPass(rt.metrics, rt.reports, result);
        passes += 1;
        return result;
      } catch (err) {
        rt.metrics.recordPass(failedPassRecord(startedAt));
        throw err;
      } finally {
        lastPassAt = new Date();
      }
    };

    step(say, 3, `Add-ons appear: ${SERVICE} on ${world.web} (shared with ${world.worker}) and on the review app ${world.reviewApp}`);
    const unlinkedVarsBefore = JSON.stringify(sandbox.fake.configVars('globex-api'));
    const first = await pass();
    narrate(say, passes, first);
    const records = await rt.store.resources.listAll();
    const evidence: StoryEvidence = {
      buckets: {},
      users: {},
      credentialsDelivered: {},
      deliveredKeyIdentity: null,
      unlinkedTeamUntouched: false,
      drift: { seen: [], repaired: false, publicAccessBlockRestored: false, configVarRestored: false },
      reviewApp: { orphanedAt: null, bucketGone: false, userGone: false },
      urls,
      readToken,
    };
    for (const r of records) {
      await s3.send(new HeadBucketCommand({ Bucket: r.resourceName! }));
      await iam.send(new GetUserCommand({ UserName: r.userName }));
      evidence.buckets[r.addonName] = r.resourceName!;
      evidence.users[r.addonName] = r.userName;
    }
    const names = configVarNames('BUCKET');
    for (const app of [world.web, world.worker, world.reviewApp]) {
      const vars = sandbox.fake.configVars(app);
      evidence.credentialsDelivered[app] = Object.keys(vars).filter((k) => k.startsWith('BUCKET_')).sort();
      say(`  ${app}: bucket ${vars[names.bucketName]}, config vars ${evidence.credentialsDelivered[app]!.join(', ')}`);
    }
    const webVars = sandbox.fake.configVars(world.web);
    const sts = new STSClient({
      endpoint: sandbox.motoUrl,
      region: 'us-east-1',
      credentials: { accessKeyId: webVars[names.accessKeyId] ?? '', secretAccessKey: webVars[names.secretAccessKey] ?? '' },
    });
    const caller = await sts.send(new GetCallerIdentityCommand({})).finally(() => sts.destroy());
    evidence.deliveredKeyIdentity = caller.Arn ?? null;
    say(`  The delivered key is a real one: STS says it is ${caller.Arn}.`);
    evidence.unlinkedTeamUntouched = !records.some((r) => r.addonName === 'globex-assets') && JSON.stringify(sandbox.fake.configVars('globex-api')) === unlinkedVarsBefore;
    const second = await pass();
    say(`  Pass ${passes}: ${second.actions.length === 0 ? 'nothing to do — the second pass makes no change' : `${second.actions.length} more actions`}.`);

    const shared = records.find((r) => r.addonName === 'acme-assets')!;
    step(say, 4, `Someone turns off Block Public Access on ${shared.resourceName} and deletes ${names.secretAccessKey} from ${world.worker}`);
    await s3.send(new DeletePublicAccessBlockCommand({ Bucket: shared.resourceName! }));
    sandbox.fake.setConfigVar(world.worker, names.secretAccessKey, null);
    const repair = await pass();
    const drift = rt.reports.latest?.items ?? [];
    evidence.drift.seen = drift.map((d) => `${d.kind} ${d.resource} ${d.field}`);
    say(`  Pass ${passes} found ${drift.length} drift item(s), now on ${urls.drift} and in ${urls.metrics}:`);
    for (const d of drift) say(`    ${d.kind}: ${d.resource} ${d.field} (expected ${d.expected ?? '-'}, found ${d.actual ?? '-'})`);
    say(`    ${(await metricLines(urls.metrics, 'drift_items')).filter((l) => !l.endsWith(' 0')).join('\n    ') || '(no drift metric above 0)'}`);
    narrate(say, passes, repair, '  and repaired it in the same pass:');
    const pab = await s3.send(new GetPublicAccessBlockCommand({ Bucket: shared.resourceName! }));
    evidence.drift.publicAccessBlockRestored = Object.values(pab.PublicAccessBlockConfiguration ?? {}).every((v) => v === true);
    evidence.drift.configVarRestored = (sandbox.fake.configVars(world.worker)[names.secretAccessKey] ?? '') !== '';
    await pass();
    evidence.drift.repaired = (rt.reports.latest?.items.length ?? -1) === 0 && evidence.drift.publicAccessBlockRestored && evidence.drift.configVarRestored;
    say(`  Pass ${passes}: ${evidence.drift.repaired ? 'no drift left.' : 'drift is still there (see /drift).'}`);

    const review = records.find((r) => r.addonName === 'acme-pr-42-assets')!;
    step(say, 5, `The review app ${world.reviewApp} is destroyed (its pull request was merged)`);
    sandbox.fake.destroyApp(world.reviewApp);
    narrate(say, passes + 1, await pass());
    const marked = (await rt.store.resources.listAll()).find((r) => r.addonId === review.addonId);
    evidence.reviewApp.orphanedAt = marked?.orphan ? new Date().toISOString() : null;
    say(`  ${review.resourceName} and its user wait out the grace period (GC_GRACE_DEPROVISIONED=${DEMO_GRACE} here; 5m by default) in case the add-on comes back.`);
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline && !options.signal.aborted) {
      await sleep(2_000, options.signal);
      const result = await pass();
      if (result.actions.length > 0) narrate(say, passes, result);
      evidence.reviewApp.bucketGone = !(await exists(() => s3.send(new HeadBucketCommand({ Bucket: review.resourceName! }))));
      evidence.reviewApp.userGone = !(await exists(() => iam.send(new GetUserCommand({ UserName: review.userName }))));
      if (evidence.reviewApp.bucketGone && evidence.reviewApp.userGone) break;
    }
    say(
      evidence.reviewApp.bucketGone && evidence.reviewApp.userGone
        ? `  ${review.resourceName} and ${review.userName} are gone. ${shared.resourceName}, still wanted, was never touched.`
        : `  ${review.resourceName} is not collected yet (see ${urls.drift}).`,
    );

    step(say, 6, 'Where to look');
    say(`  ${urls.metrics}   Prometheus metrics (drift, managed resources, API calls, passes)`);
    say(`  ${urls.drift}     the latest drift report as JSON, for an operator API token:`);
    say(`    curl -H 'Authorization: Bearer ${readToken}' ${urls.drift}`);
    say(`  The sandbox's AWS (moto) answers on ${sandbox.motoUrl}: break something there and watch the next pass repair it.`);
    writeFileSync(path.join(sandbox.dir, 'story.json'), `${JSON.stringify(evidence, null, 2)}\n`);
    const session: DemoSession = {
      evidence,
      runtime: rt,
      pass: async () => {
        const result = await pass();
        if (result.actions.length > 0) narrate(say, passes, result);
        return result;
      },
      close: async () => {
        s3.destroy();
        iam.destroy();
        await server?.close();
        await rt.close();
      },
    };
    return session;
  } catch (err) {
    s3.destroy();
    iam.destroy();
    await server?.close();
    await runtime?.close();
    throw err;
  }
}

export function step(say: (line: string) => void, n: number, text: string): void {
  say('');
  say(`[${n}/6] ${text}`);
}

/** One line per add-on: what the pass did to it, in words. */
export function narrate(say: (line: string) => void, n: number, result: PassResult, heading = `  Pass ${n}:`): void {
  const outcomes = result.execution?.outcomes ?? [];
  const failed = outcomes.filter((o) => o.result === 'failed');
  say(`${heading} ${outcomes.filter((o) => o.result === 'applied').length} action(s) applied${failed.length ? `, ${failed.length} failed` : ''} in ${(result.durationMs / 1000).toFixed(1)} s`);
  const byAddon = new Map<string, string[]>();
  for (const o of outcomes.filter((o) => o.result === 'applied')) {
    const words = describe(o.action);
    if (!words) continue;
    const list = byAddon.get(o.action.addonId) ?? [];
    if (!list.includes(words)) list.push(words);
    byAddon.set(o.action.addonId, list);
  }
  for (const [, list] of byAddon) say(`    - ${list.join('; ')}`);
  for (const o of failed) say(`    ! ${o.action.kind} failed: ${o.error ?? ''}`);
}

function describe(a: Action): string | null {
  switch (a.kind) {
    case 'create-bucket':
      return `bucket ${a.bucket} created`;
    case 'put-public-access-block':
      return `Block Public Access set on ${a.bucket}`;
    case 'create-user':
      return `IAM user ${a.userName} created`;
    case 'put-user-policy':
      return `its policy allows only its own bucket`;
    case 'create-access-key':
      return `access key created`;
    case 'deliver-config-vars':
      return `credentials delivered to ${a.appName}`;
    case 'mark-orphan':
      return a.orphan ? `${a.bucket} marked orphaned: no add-on wants it any more` : `${a.bucket} wanted again`;
    case 'delete-user':
      return `IAM user ${a.userName} deleted`;
    case 'empty-bucket':
      return `${a.bucket} emptied`;
    case 'delete-bucket':
      return `bucket ${a.bucket} deleted`;
    case 'blocked':
      return `held back: ${a.message}`;
    default:
      return null; // the other settings and bookkeeping steps: shown on /drift and in the logs
  }
}

async function metricLines(url: string, name: string): Promise<string[]> {
  const text = await (await fetch(url)).text();
  return text.split('\n').filter((l) => l.includes(name) && !l.startsWith('#'));
}

async function exists(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return true;
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404 || /NoSuchEntity|NotFound|NoSuchBucket/.test((err as Error).name)) return false;
    throw err;
  }
}

/** Runs `fn` with these variables set, as the CLI would see them, and puts the old ones back. */
async function withEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

export const sleep = abortableSleep;

