/**
 * A benchmark's world: the Heroku fake (in process), moto (or the throttling proxy in front of it),
 * one AWS account reached by AssumeRole, teams linked to it, and the controller's runtime on an
 * embedded PGlite database in a temp folder, with a clock the benchmark can move.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { SecretBox } from '../../src/crypto/secret-box.js';
import type { ActionOutcome } from '../../src/reconciler/executor.js';
import type { PassResult } from '../../src/reconciler/controller.js';
import { configVarsFingerprint, configVarsFor } from '../../src/reconciler/spec.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { silentLogger } from '../../src/util/log.js';
import { HerokuFake } from '../../test/support/heroku-fake/index.js';
import type { Moto } from './moto.js';

export const SERVICE = 's3-bucket';
export const THROTTLING = /Throttl|SlowDown|Rate exceeded|reduce your request rate/i;

export interface WorldOptions {
  /** The AWS endpoint the controller uses: moto, or the throttling proxy in front of it. */
  endpoint: string;
  iamPerSecond?: number;
  s3PerSecond?: number;
  teams?: number;
  env?: Record<string, string>;
  /** More variables that depend on the fake (its URL, its partner client secret), applied after `env`. */
  envFor?: (fake: HerokuFake) => Record<string, string>;
  /** A PostgreSQL database for the store (as deployed; bench/support/postgres.ts); absent: the embedded PGlite. */
  databaseUrl?: string;
}

export interface Added {
  addonId: string;
  appId: string;
  attachmentId: string;
  teamId: string;
}

export function randomAccountId(): string {
  return String(100_000_000_000 + Math.floor(Math.random() * 800_000_000_000));
}

export class BenchWorld {
  /** Milliseconds added to the real time: the controller's clock. */
  offsetMs = 0;
  private appCount = 0;

  /** The controller's configuration, as variables (for a controller process of its own). */
  env: Record<string, string> = {};

  private constructor(
    readonly fake: HerokuFake,
    readonly runtime: Runtime,
    readonly accountId: string,
    readonly teams: { id: string; name: string }[],
    private readonly dataDir: string,
  ) {}

  static async create(options: WorldOptions): Promise<BenchWorld> {
    const fake = await HerokuFake.start({ rateLimitRemaining: 100_000_000 });
    const dataDir = mkdtempSync(path.join(tmpdir(), 'hsc-bench-'));
    const env: Record<string, string> = {
      DATA_DIR: dataDir,
      FERNET_KEYS: SecretBox.generateKey(),
      HEROKU_API_TOKEN: fake.token,
      HEROKU_API_URL: fake.url,
      ADDON_SERVICES: SERVICE,
      INSTANCE_ID: `bench-${randomBytes(3).toString('hex')}`,
      AWS_ENDPOINT_URL: options.endpoint,
      AWS_REGION: 'us-east-1',
      LOG_LEVEL: 'silent',
      // The fake's budget is unlimited; so is ours, so that only AWS is measured.
      HEROKU_BUDGET_TOKENS_PER_HOUR: '100000000',
      HEROKU_BUDGET_MAX_SHARE: '1',
      HEROKU_BUDGET_FLOOR: '0',
      AWS_IAM_MUTATIONS_PER_SECOND: String(options.iamPerSecond ?? 100_000),
      AWS_S3_MUTATIONS_PER_SECOND: String(options.s3PerSecond ?? 100_000),
      ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl, LEADER_ELECTION: 'none' } : {}),
      ...options.env,
      ...options.envFor?.(fake),
    };
    let world: BenchWorld | undefined;
    const runtime = await createRuntime(loadConfig(env), silentLogger(), {
      keepAwsCalls: true,
      baseCredentials: { accessKeyId: 'controller', secretAccessKey: 'controller' },
      clock: () => new Date(Date.now() + (world?.offsetMs ?? 0)),
    });
    const accountId = randomAccountId();
    const teams = [];
    for (let t = 0; t < (options.teams ?? 1); t++) {
      const team = fake.addTeam({ name: `team-${t}` });
      teams.push({ id: team.id, name: team.name });
      await runtime.store.links.save({
        teamId: team.id,
        teamName: team.name,
        accountId,
        region: null,
        auth: { kind: 'role', roleArn: `arn:aws:iam::${accountId}:role/heroku-s3-controller`, externalId: null },
      });
    }
    world = new BenchWorld(fake, runtime, accountId, teams, dataDir);
    world.env = env;
    return world;
  }

  /** `n` new add-ons, each on an app of its own, spread over the teams round-robin. */
  addAddons(n: number): Added[] {
    const added: Added[] = [];
    for (let i = 0; i < n; i++) {
      const team = this.teams[this.appCount % this.teams.length]!;
      const app = this.fake.addApp({ name: `app-${this.appCount++}`, team: team.name, region: 'us' });
      const addon = this.fake.addAddon({ app: app.name, service: SERVICE, attachmentName: 'BUCKET' });
      const attachment = this.fake.attachments(app.name).find((a) => a.addon.id === addon.id)!;
      added.push({ addonId: addon.id, appId: app.id, attachmentId: attachment.id, teamId: team.id });
    }
    return added;
  }

  /** Apps only (no add-on), for the Heroku listing benchmark. */
  addApps(n: number): void {
    for (let i = 0; i < n; i++) {
      const team = this.teams[this.appCount % this.teams.length]!;
      this.fake.addApp({ name: `app-${this.appCount++}`, team: team.name, region: 'us' });
    }
  }

  /**
   * Full passes until one has nothing to do (at most `maxPasses`). Returns the time until the last
   * action was applied, and every failed action.
   */
  async converge(maxPasses = 5): Promise<{ passes: PassResult[]; appliedMs: number; failed: ActionOutcome[] }> {
    const started = Date.now();
    const passes: PassResult[] = [];
    let appliedMs = 0;
    const failed: ActionOutcome[] = [];
    for (let p = 0; p < maxPasses; p++) {
      const pass = await this.runtime.controller.reconcileOnce();
      passes.push(pass);
      if (pass.accounts.some((a) => !a.complete)) throw new Error(`bench: account unreadable: ${pass.accounts.map((a) => a.error).join('; ')}`);
      failed.push(...(pass.execution?.outcomes ?? []).filter((o) => o.result === 'failed'));
      if (pass.actions.length === 0) break;
      appliedMs = Date.now() - started;
    }
    return { passes, appliedMs, failed };
  }

  /**
   * Makes `added` look exactly like `template` after the controller converged it: the bucket and
   * user cloned inside moto (settings, policies, tags; a fresh access key each), the controller's
   * records, keys and deliveries stored, the config vars on the apps. In seconds, where creating
   * them through moto's HTTP API takes minutes; the next pass must find nothing to do.
   */
  async cloneConverged(moto: Moto, template: string, added: Added[], batch = 500): Promise<void> {
    const store = this.runtime.store;
    const record = (await store.resources.get(template))!;
    const now = new Date(Date.now() + this.offsetMs);
    for (let i = 0; i < added.length; i += batch) {
      const chunk = added.slice(i, i + batch);
      const keys = await moto.clone(
        this.accountId,
        record.region,
        { bucket: record.resourceName!, user: record.userName },
        chunk.map((a) => ({
          bucket: record.resourceName!.replace(template, a.addonId),
          user: record.userName.replace(template, a.addonId),
          replace: [[template, a.addonId], [record.appId, a.appId], [record.teamId, a.teamId]],
        })),
      );
      for (const [j, a] of chunk.entries()) {
        const key = keys[j]!;
        const bucketName = record.resourceName!.replace(template, a.addonId);
        await store.resources.upsert({
          ...record,
          addonId: a.addonId,
          addonName: this.fake.addon(a.addonId).name,
          appId: a.appId,
          teamId: a.teamId,
          resourceName: bucketName,
          userName: record.userName.replace(template, a.addonId),
          accessKeyId: key.accessKeyId,
          secretAccessKey: key.secretAccessKey,
          state: 'ready',
          lastError: null,
        });
        const vars = configVarsFor({ name: 'BUCKET' }, { resourceName: bucketName, region: record.region, accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey });
        for (const [k, v] of Object.entries(vars)) this.fake.setConfigVar(a.appId, k, v);
        await store.deliveries.record({ addonId: a.addonId, attachmentId: a.attachmentId, appId: a.appId, varNames: Object.keys(vars), fingerprint: configVarsFingerprint(vars), deliveredAt: now });
      }
      await store.resources.setDeepChecked(chunk.map((a) => a.addonId), now);
    }
  }

  async close(): Promise<void> {
    await this.runtime.close();
    await this.fake.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
