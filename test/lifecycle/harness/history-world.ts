/**
 * One history replayed on the real test stand: the Heroku fake with four teams and five apps, two
 * moto accounts, a PostgreSQL store, and the controller as `serve` runs it (leading through the
 * PostgreSQL advisory lock, one runtime kept across passes, its clock moved a minute per pass).
 * Each step is applied, the controller runs, and the invariants are checked against a small model
 * the harness keeps itself: what exists in Heroku, what was done in AWS by whom, which keys and
 * secrets were made. Nothing is taken from the controller's own store to judge it.
 */
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  ListAccessKeysCommand,
  ListUserTagsCommand,
  PutUserPolicyCommand,
  TagUserCommand,
  UntagUserCommand,
  UpdateAccessKeyCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import {
  CreateBucketCommand,
  DeleteBucketEncryptionCommand,
  DeleteBucketLifecycleCommand,
  DeleteBucketOwnershipControlsCommand,
  DeleteBucketPolicyCommand,
  DeletePublicAccessBlockCommand,
  GetBucketPolicyCommand,
  GetObjectCommand,
  PutBucketCorsCommand,
  PutBucketPolicyCommand,
  PutBucketTaggingCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../../../src/config/config.js';
import { oneShotLeadership } from '../../../src/cli/reconcile-commands.js';
import { PostgresAdvisoryLockElector } from '../../../src/leader/postgres-advisory-lock.js';
import { TAG, bucketNameFor, configVarNames, userNameFor } from '../../../src/reconciler/spec.js';
import { UserError, errorMessage } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/log.js';
import { bucketSnapshot, bucketTags, userSnapshot } from '../../e2e/drift-support.js';
import { accountSnapshot, bucketExists } from '../../e2e/gc-support.js';
import { SERVICE, createWorld, type World } from '../../e2e/stand-world.js';
import { freshPostgresDatabase, type FreshDatabase } from '../../support/stand.js';
import { Deployment, MovableClock, laggingTagReads } from '../support.js';
import { KeyRegistry, KillSwitch } from './faults.js';
import {
  ADDONS,
  APPS,
  LINKED_AT_START,
  RETAINING_PLANS,
  TEAMS,
  describeStep,
  type AddonLabel,
  type AppName,
  type History,
  type Step,
  type TeamName,
} from './steps.js';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
/**
 * Key rotation in the harness's world: overlap and grace of a few passes (one pass is a minute),
 * so that a rotation walks through every step within a history and crash points land in each;
 * KEY_MAX_AGE is the default, reached with `age-keys`.
 */
const ROTATION_ENV = { KEY_MAX_AGE: '90d', ROTATION_OVERLAP: '3m', ROTATION_DEACTIVATED_GRACE: '5m' };
/** Settling runs this many passes, and up to as many again while a reachable add-on's rotation is in flight. */
const SETTLE_PASSES = 6;
const BUCKET_PREFIX = 'hs3-';
/**
 * A plan a pass saw the add-on on. A bucket's retention follows the bucket plans it was seen on:
 * a plan of the credentials kind (`role`) is never applied to a bucket add-on (the controller
 * refuses to change an add-on's kind), so its bucket keeps the plan tag of the last bucket plan.
 */
function seePlan(m: { seenPlan: string }, plan: string): void {
  if (plan.slice(plan.indexOf(':') + 1) === 'role' && m.seenPlan !== '') return;
  m.seenPlan = plan;
}

/** Passes an attached app may go without working credentials while nothing stops the controller. */
export const CREDENTIALS_WITHIN_PASSES = 3;
/** Tables of the store, for a backup and its restore. */
const TABLES = ['links', 'managed_resources', 'kind_resources', 'deliveries', 'key_rotations', 'journal', 'gc_breakers', 'partner_addons', 'controller_settings'];

/** A broken invariant: which one, and what was seen. */
export class Violation extends Error {
  override readonly name = 'Violation';
}

/** What the harness knows of one add-on of the history. */
interface ModelAddon {
  label: AddonLabel;
  id: string;
  /** Created in Heroku (and not destroyed). */
  exists: boolean;
  deprovisioned: boolean;
  /** The account its resources belong in: its team's account when it was created. */
  account: 'A' | 'B';
  /** The plan the controller has seen in a complete read of the team holding it. */
  seenPlan: string;
  /** A retaining plan seen before it went away, or a retain tag put on its bucket: the data stays. */
  mustKeepData: boolean;
  /** Our marker object was written into its bucket. */
  marked: boolean;
  /** Something took its deterministic bucket or user name first: the controller must leave it. */
  squatted: boolean;
  /** Someone stripped the ownership tags off its bucket or user: the controller may have to leave it. */
  tampered: boolean;
  /**
   * The store was lost or restored from a backup while the add-on existed: the controller may not
   * know what it delivered, nor the add-on's plan once Heroku has forgotten it (the bucket is then
   * kept, unless its plan tag says otherwise).
   */
  recordMayBeLost: boolean;
  /**
   * The store was restored from a backup while the add-on existed: deliveries made after the
   * backup are unknown to it (a wiped store has none, and finds them on the owning app).
   */
  storeRestored: boolean;
  /** The app it was created on: its vars are found again after a store loss. */
  ownerApp: AppName | null;
  /**
   * By attachment id: since when (controller clock) and for how many passes in a row the app has
   * lacked working credentials while the controller could reach it.
   */
  debt: Map<string, { since: number; passes: number }>;
  /** Attachments (`id name`) that held working credentials at the last check. */
  worked: Set<string>;
  /** The controller had a key rotation of it in flight at the last check (a `key_rotations` row). */
  rotating: boolean;
  /**
   * When someone else last broke its credentials (deleted or deactivated its key, deleted a var on
   * an app): the controller sees that in the resource's deep check, within DEEP_CHECK_WINDOW.
   */
  damagedAt: number | null;
  /** The team holding it when it went away (for what settling must collect). */
  teamAtEnd: TeamName | null;
}

/** A resource someone else made, with what it looked like: it must never change. */
interface Foreign {
  what: string;
  account: 'A' | 'B';
  kind: 'bucket' | 'user';
  name: string;
  snapshot: unknown;
}

export class HistoryWorld {
  private readonly addons = new Map<AddonLabel, ModelAddon>();
  /** Add-ons in the order they were created. */
  private readonly created: ModelAddon[] = [];
  /** Steps that changed something, by kind (a step whose subject is missing changes nothing). */
  readonly effective = new Map<string, number>();
  /** Actions the controller applied, by kind: what the histories made it do. */
  readonly applied = new Map<string, number>();
  /** Actions the controller reported blocked, by reason. */
  readonly blocked = new Map<string, number>();
  /** AWS calls the harness made that change something (someone else's changes, look-alikes). */
  private harnessMutations = 0;
  private readonly teamIds = new Map<TeamName, string>();
  private readonly foreign: Foreign[] = [];
  /** Config vars someone else set (name → value by app): never changed by the controller. */
  private readonly foreignVars = new Map<string, Map<string, string>>();
  /** Keys the harness itself deleted or deactivated (the controller is not to blame for them). */
  private readonly killedByHarness = new Set<string>();
  private readonly keys = new KeyRegistry(() => this.clock.now);
  /** Rotations an operator asked for that the store took (`rotate` steps that did something). */
  private rotationsRequested = 0;
  /** Actions that failed with LimitExceeded (a third access key), as the pass reported them. */
  private readonly limitFailures: string[] = [];
  /** The controller's clock at the last check of the invariants; null before the first. */
  private lastCheckAt: number | null = null;
  /** Each `crash` step that killed the process: the call it died after, and whether a rotation was in flight. */
  readonly crashes: { fatal: string; inRotation: boolean }[] = [];
  private readonly lag = laggingTagReads();
  private linked = new Set<TeamName>(LINKED_AT_START);
  private backup: { rows: Record<string, unknown[]>; linked: Set<TeamName> } | null = null;
  private serve!: Deployment;
  private elector!: PostgresAdvisoryLockElector;
  private second: { deployment: Deployment; db: FreshDatabase } | null = null;
  /** Databases the store moved to (a lost store, a restore): dropped at the end. */
  private readonly databases: FreshDatabase[] = [];
  private readonly clock = new MovableClock();
  private s3!: Record<'A' | 'B', S3Client>;
  private iam!: Record<'A' | 'B', IAMClient>;
  /** A line per step and pass, for the report of a failed history. */
  readonly log: string[] = [];

  private constructor(
    readonly world: World,
    readonly history: History,
  ) {}

  static async start(history: History): Promise<HistoryWorld> {
    const world = await createWorld();
    const h = new HistoryWorld(world, history);
    try {
      await h.setUp();
    } catch (err) {
      await h.stop();
      throw err;
    }
    return h;
  }

  private accountId(account: 'A' | 'B'): string {
    return account === 'A' ? this.world.accountA : this.world.accountB;
  }

  private async setUp(): Promise<void> {
    const { world } = this;
    Object.assign(world.env, {
      GC_GRACE_DEPROVISIONED: '2m',
      GC_GRACE_ORPHANED: '4m',
      DEEP_CHECK_WINDOW: `${this.history.deepCheckMinutes}m`,
      PLAN_PROFILES: JSON.stringify({
        archive: { retain: true },
        versioned: { versioning: true },
        'read-only': { access: 'read-only' },
        role: { kind: 'credentials', policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sqs:*', Resource: 'arn:aws:sqs:*:${account}:${app}-*' }] } },
      }),
      // Repeated drift is the harness's doing, not a writer fighting the controller.
      FLAP_MAX_REPAIRS: '1000',
      // An injected 429 must make the read incomplete, not be waited out.
      HEROKU_RATE_LIMIT_MAX_WAIT: '0',
      LEADER_ELECTION: 'postgres',
      LEASE_DURATION: '120s',
      LEASE_RENEW_DEADLINE: '90s',
      LEASE_RETRY_PERIOD: '1s',
      // The Add-on Partner API: the controller is the add-on's provider and Heroku tells it of removals.
      ADDON_MANIFEST_ID: 'hsc-history',
      ADDON_MANIFEST_PASSWORD: randomBytes(12).toString('hex'),
      ADDON_CLIENT_SECRET: world.fake.partner.clientSecret,
      HEROKU_OAUTH_URL: world.fake.url,
      ...ROTATION_ENV,
    });
    this.s3 = { A: await world.s3(world.accountA), B: await world.s3(world.accountB) };
    this.iam = { A: await world.iam(world.accountA), B: await world.iam(world.accountB) };
    for (const client of [...Object.values(this.s3), ...Object.values(this.iam)] as unknown as { middlewareStack: { add: Function } }[]) {
      client.middlewareStack.add(
        (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
          if (!/^(Get|List|Head)/.test(String(context.commandName))) this.harnessMutations += 1;
          return next(args);
        },
        { step: 'initialize', name: 'harness-mutations' },
      );
    }
    for (const team of Object.keys(TEAMS) as TeamName[]) this.teamIds.set(team, world.fake.addTeam({ name: team }).id);
    for (const [app, team] of Object.entries(APPS)) {
      world.fake.addApp({ name: app, team });
      this.setForeignVar(app, 'FOREIGN_SETTING', `theirs-${randomBytes(4).toString('hex')}`);
    }
    // Another add-on on web-2 whose provider owns config vars there.
    world.fake.addAddon({ app: 'web-2', service: 'bucketeer', attachmentName: 'BUCKETEER', providerConfig: { BUCKETEER_URL: 's3://theirs' } });
    for (const label of ADDONS) {
      this.addons.set(label, {
        label,
        id: randomUUID(),
        exists: false,
        deprovisioned: false,
        account: 'A',
        seenPlan: '',
        mustKeepData: false,
        marked: false,
        squatted: false,
        tampered: false,
        recordMayBeLost: false,
        storeRestored: false,
        ownerApp: null,
        debt: new Map(),
        worked: new Set(),
        rotating: false,
        damagedAt: null,
        teamAtEnd: null,
      });
    }
    // `serve` leads: it holds the election's advisory lock for the whole history.
    this.elector = this.newElector();
    await this.elector.start();
    this.serve = await this.startServe();
    for (const team of this.linked) await this.serve.link(world, { id: this.teamIds.get(team)!, name: team }, this.accountId(TEAMS[team]));
  }

  /** What a step may change, in one string: Heroku's state, the links, the store's place, time. */
  private fingerprint(): string {
    const { fake } = this.world;
    const addons = [...this.addons.values()].map((m) => {
      const a = this.heroku(m);
      return a ? [a.id, a.plan.name, a.state] : null;
    });
    return JSON.stringify([
      addons,
      fake.attachments().map((a) => [a.id, a.name]),
      Object.keys(APPS).map((app) => [fake.app(app).team?.id, fake.configVars(app)]),
      [...this.linked],
      this.harnessMutations,
      this.world.env.DATABASE_URL,
      this.backup !== null,
      this.second !== null,
      this.clock.now.getTime(),
      this.lag.frozen(),
      this.rotationsRequested,
    ]);
  }

  private startServe(kill?: KillSwitch): Promise<Deployment> {
    return Deployment.start(this.world, {
      clock: this.clock,
      hooks: [this.keys.hook, this.lag, ...(kill ? [kill.hook] : [])],
      mayMutate: () => this.elector.isLeader() && !kill?.dead(),
    });
  }

  async stop(): Promise<void> {
    await this.serve?.close().catch(() => undefined);
    await this.second?.deployment.close().catch(() => undefined);
    await this.second?.db.drop().catch(() => undefined);
    await this.elector?.stop().catch(() => undefined);
    for (const db of this.databases) await db.drop().catch(() => undefined);
    await this.world.stop();
  }

  /**
   * The store is lost (no rows) or restored from a backup (its rows): `serve` stops, a new
   * database takes the place of the old one (the journal refuses TRUNCATE, as it should), and
   * `serve` starts on it; after a loss an operator links the teams again.
   */
  private async switchStore(rows: Record<string, unknown[]> | null): Promise<void> {
    for (const m of this.created) m.recordMayBeLost = true;
    await this.serve.close();
    await this.elector.stop();
    const db = await freshPostgresDatabase('history');
    this.databases.push(db);
    this.world.env.DATABASE_URL = db.url;
    this.serve = await this.startServe(); // opens the store: migrations run
    if (rows) {
      await this.serve.close();
      for (const table of TABLES) {
        // The new store is empty but for the instance id its first start claimed; the journal
        // refuses DELETE, and has no row yet.
        if (table !== 'journal') await query(db.url, `DELETE FROM ${table}`);
        await query(db.url, `INSERT INTO ${table} SELECT * FROM json_populate_recordset(NULL::${table}, $1::json)`, [JSON.stringify(rows[table])]);
      }
      // As pg_restore does: the journal's id sequence goes on after the restored rows (found with
      // seed 2468: without it every journal write collided until the sequence caught up).
      await query(db.url, `SELECT setval(pg_get_serial_sequence('journal', 'id'), COALESCE((SELECT MAX(id) FROM journal), 0) + 1, false)`);
    }
    this.elector = this.newElector();
    await this.elector.start();
    if (rows) this.serve = await this.startServe();
    else for (const team of this.linked) await this.serve.link(this.world, { id: this.teamIds.get(team)!, name: team }, this.accountId(TEAMS[team]));
  }

  private newElector(): PostgresAdvisoryLockElector {
    return new PostgresAdvisoryLockElector({
      databaseUrl: this.world.env.DATABASE_URL!,
      lockName: loadConfig(this.world.env).leaderElection.leaseName,
      identity: 'serve',
      renewDeadlineMs: 90_000,
      retryPeriodMs: 1_000,
    });
  }

  // ---- replaying ------------------------------------------------------------------------------

  /** Applies every step with the passes after it, checking the invariants each time, then settles. */
  async replay(): Promise<void> {
    for (const [i, step] of this.history.steps.entries()) {
      const where = `step ${i + 1} (${describeStep(step)})`;
      this.log.push(`${i + 1}. ${describeStep(step)}`);
      try {
        await this.step(step);
      } catch (err) {
        if (err instanceof Violation) throw new Violation(`${where}: ${err.message}`);
        throw new Error(`${where}: ${errorMessage(err)}`, { cause: err });
      }
    }
    try {
      await this.settle();
    } catch (err) {
      if (err instanceof Violation) throw new Violation(`after the history settled: ${err.message}`);
      throw err;
    }
  }

  private async step(step: Step): Promise<void> {
    let pass: 'full' | 'keyed' | 'crash' = 'full';
    let faultTeams: ReadonlySet<TeamName> = new Set();
    let crashAfter = 0;
    let cliBeside = false;
    switch (step.t) {
      case 'fail-team':
        this.world.fake.failNext({ path: `/teams/${this.teamIds.get(step.team)}/addons`, status: step.status, times: 1000 });
        faultTeams = new Set([step.team]);
        break;
      case 'fail-attachments':
        this.world.fake.failNext({ path: '/addon-attachments', status: 503, times: 1000 });
        faultTeams = new Set(Object.keys(TEAMS) as TeamName[]);
        break;
      case 'crash':
        pass = 'crash';
        crashAfter = step.after;
        break;
      case 'webhook':
      case 'change-event':
        pass = 'keyed';
        break;
      case 'cli-beside-serve':
        cliBeside = true;
        break;
      default: {
        const before = this.fingerprint();
        await this.apply(step);
        if (this.fingerprint() === before) this.log.push('   (changed nothing)');
        else this.effective.set(step.t, (this.effective.get(step.t) ?? 0) + 1);
        // An operator's request and the passing of days change nothing a check reads: the pass
        // that acts on them is the next step's (a crash, a destroy, a rename, ...) or the settling.
        if (step.t === 'rotate' || step.t === 'age-keys') return;
      }
    }
    if (pass !== 'full' || faultTeams.size > 0 || cliBeside) this.effective.set(step.t, (this.effective.get(step.t) ?? 0) + 1);
    const varsBefore = this.allVars();
    const stepTarget = step.t === 'webhook' || step.t === 'change-event' ? this.target(step.addon) : null;
    if (pass === 'keyed' && stepTarget?.exists) {
      this.clock.advance(MINUTE);
      const keyed = await this.serve.runtime.controller.reconcileAddon(stepTarget.id, { deepCheck: step.t === 'change-event' });
      this.count(keyed.execution?.outcomes);
      if (keyed.heroku === 'found' && keyed.complete) seePlan(stepTarget, this.heroku(stepTarget)?.plan.name ?? stepTarget.seenPlan);
    } else if (pass === 'crash') {
      const kill = new KillSwitch(crashAfter);
      const dying = await this.startServe(kill);
      const old = this.serve;
      this.serve = dying;
      await old.close();
      const rotatingBefore = (await dying.runtime.store.rotations.list()).length > 0;
      this.clock.advance(MINUTE);
      this.world.fake.onMutationApplied(kill.heroku);
      await dying
        .pass()
        .then(({ pass }) => this.count(pass.execution?.outcomes))
        .catch(() => undefined);
      this.world.fake.onMutationApplied(undefined);
      // The process is gone; a new one starts on the same store.
      await dying.close();
      this.serve = await this.startServe();
      if (kill.fatal) {
        const inRotation = rotatingBefore || (await this.serve.runtime.store.rotations.list()).length > 0;
        this.crashes.push({ fatal: kill.fatal, inRotation });
        this.log.push(`   (died right after ${kill.fatal}${inRotation ? ', a key rotation in flight' : ''})`);
        if (inRotation) {
          const where = `crash in a rotation, after ${kill.fatal.replace(/^PATCH .*config-vars$/, 'a config-var PATCH')}`;
          this.effective.set(where, (this.effective.get(where) ?? 0) + 1);
        }
      }
    } else {
      await this.fullPass(cliBeside);
    }
    this.world.fake.clearFaults();
    await this.checkAlways(varsBefore, faultTeams, pass === 'crash');
  }

  /** One full pass of `serve` (with the second deployment's after it, if there is one). */
  private async fullPass(cliBeside = false): Promise<void> {
    this.clock.advance(MINUTE);
    const passes: Promise<unknown>[] = [this.serve.pass()];
    if (cliBeside) passes.push(this.oneShotBesideServe());
    const [result] = (await Promise.all(passes)) as [Awaited<ReturnType<Deployment['pass']>>];
    this.notePlansSeen(result.pass.teams);
    this.count(result.pass.execution?.outcomes);
    if (this.second) await this.second.deployment.pass();
  }

  private count(outcomes: { action: { kind: string; reason: string }; result: string; error?: string }[] | undefined): void {
    const done = (outcomes ?? []).filter((o) => o.result === 'applied').map((o) => o.action.kind);
    if (done.length > 0) this.log.push(`   applied: ${[...new Set(done)].map((kind) => `${kind}${done.filter((k) => k === kind).length > 1 ? ` x${done.filter((k) => k === kind).length}` : ''}`).join(', ')}`);
    for (const o of outcomes ?? []) {
      if (o.result === 'failed') this.log.push(`   failed: ${o.action.kind} (${o.error ?? ''})`);
      if (o.result === 'applied') this.applied.set(o.action.kind, (this.applied.get(o.action.kind) ?? 0) + 1);
      if (o.result === 'blocked') this.blocked.set(o.action.reason, (this.blocked.get(o.action.reason) ?? 0) + 1);
      if (o.error && /LimitExceeded|exceed quota for AccessKeysPerUser/i.test(o.error)) this.limitFailures.push(`${o.action.kind}: ${o.error}`);
    }
  }

  /** `reconcile --once` while `serve` leads: it must refuse, changing nothing. */
  private async oneShotBesideServe(): Promise<void> {
    const config = loadConfig(this.world.env);
    try {
      const elector = await oneShotLeadership(config, silentLogger());
      await elector.stop();
    } catch (err) {
      if (err instanceof UserError && /second writer/.test(err.message)) return;
      throw err;
    }
    throw new Violation('`reconcile --once` ran beside the leading `serve` instead of refusing');
  }

  /** The plan of each add-on whose team the pass read in full is the plan the controller knows. */
  private notePlansSeen(teams: { teamId: string; complete: boolean }[]): void {
    const complete = new Set(teams.filter((t) => t.complete).map((t) => t.teamId));
    for (const m of this.addons.values()) {
      if (!m.exists) continue;
      const addon = this.heroku(m);
      if (!addon) continue;
      const team = this.teamOfApp(addon.app.name);
      if (complete.has(this.teamIds.get(team)!)) seePlan(m, addon.plan.name);
    }
  }

  // ---- steps ----------------------------------------------------------------------------------

  private async apply(step: Step): Promise<void> {
    const { fake } = this.world;
    switch (step.t) {
      case 'create': {
        const m = this.addons.get(step.addon)!;
        if (m.exists || m.teamAtEnd !== null) return; // a label is one add-on, once
        if (fake.appAttachments(step.app).some((a) => a.name === step.as)) return;
        fake.addAddon({ id: m.id, app: step.app, service: SERVICE, plan: step.plan, attachmentName: step.as });
        m.exists = true;
        m.ownerApp = step.app;
        this.created.push(m);
        m.account = TEAMS[this.teamOfApp(step.app)];
        return;
      }
      case 'destroy':
      case 'partner-deprovision':
      case 'deprovision': {
        const m = this.target(step.addon);
        if (!m) return;
        if (!m.exists || (step.t === 'deprovision' && m.deprovisioned)) return;
        const addon = this.heroku(m)!;
        // What the controller last saw decides retention; a retain tag on the bucket does too.
        if (RETAINING_PLANS.has(m.seenPlan.slice(m.seenPlan.indexOf(':') + 1))) m.mustKeepData = true;
        m.teamAtEnd = this.teamOfApp(addon.app.name);
        if (step.t === 'partner-deprovision') {
          // What `DELETE /heroku/resources/:id` records (the HTTP route: test/partner), for an
          // add-on this controller provisioned; Heroku then forgets the add-on.
          const partner = this.serve.runtime.store.partnerAddons;
          await partner.create({ uuid: m.id, name: addon.name, herokuId: null, plan: addon.plan.name, region: null, callbackUrl: null, options: {}, grantCode: null, grantExpiresAt: null });
          await partner.markDeprovisioned(m.id, this.clock.now, new Date(this.clock.now.getTime() + 2 * MINUTE));
        }
        if (step.t !== 'deprovision') {
          fake.destroyAddon(m.id);
          m.exists = false;
        } else {
          fake.setAddonState(m.id, 'deprovisioned');
          m.deprovisioned = true;
        }
        return;
      }
      case 'attach': {
        const m = this.target(step.addon);
        if (!m) return;
        if (!m.exists || m.deprovisioned) return;
        if (fake.appAttachments(step.app).some((a) => a.name === step.as || a.addon.id === m.id)) return;
        fake.attach({ addon: m.id, app: step.app, name: step.as });
        return;
      }
      case 'detach': {
        const m = this.target(step.addon);
        if (!m) return;
        if (!m.exists) return;
        const owner = this.heroku(m)!.app.name;
        const attachment = fake.addonAttachments(m.id).find((a) => a.app.name === step.app && step.app !== owner);
        if (attachment) fake.detach(attachment.id);
        return;
      }
      case 'rename': {
        const m = this.target(step.addon);
        if (!m) return;
        if (!m.exists) return;
        const attachment = fake.addonAttachments(m.id).find((a) => a.app.name === step.app);
        if (!attachment || fake.appAttachments(step.app).some((a) => a.name === step.as)) return;
        fake.renameAttachment(attachment.id, step.as);
        return;
      }
      case 'plan': {
        const m = this.target(step.addon);
        if (!m) return;
        if (m.exists) fake.changePlan(m.id, step.plan);
        return;
      }
      case 'move':
        fake.moveApp(step.app, step.team);
        return;
      case 'unlink': {
        if (!this.linked.delete(step.team)) return;
        await this.serve.runtime.store.links.remove(this.teamIds.get(step.team)!);
        await this.second?.deployment.runtime.store.links.remove(this.teamIds.get(step.team)!);
        return;
      }
      case 'link': {
        if (this.linked.has(step.team)) return;
        this.linked.add(step.team);
        const team = { id: this.teamIds.get(step.team)!, name: step.team };
        await this.serve.link(this.world, team, this.accountId(TEAMS[step.team]));
        await this.second?.deployment.link(this.world, team, this.accountId(TEAMS[step.team]));
        return;
      }
      case 'bucket-drift':
        return this.bucketDrift(step.addon, step.what);
      case 'user-drift': {
        const m = this.target(step.addon);
        if (!m) return;
        if (m.squatted) return;
        const userName = this.userName(m);
        const document =
          step.what === 'policy-loosened'
            ? JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] })
            : JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:ListAllMyBuckets', Resource: '*' }] });
        const name = step.what === 'policy-loosened' ? 'heroku-s3-controller-bucket-access' : 'added-by-hand';
        await this.iam[m.account].send(new PutUserPolicyCommand({ UserName: userName, PolicyName: name, PolicyDocument: document })).catch(ignoreMissing);
        return;
      }
      case 'key':
        return this.keyChange(step.addon, step.what, step.newest ?? false);
      case 'rotate': {
        // As `rotate` will: the add-on's key now, from its record; refused while one is in flight.
        const m = this.target(step.addon);
        if (!m?.exists || m.deprovisioned) return;
        const store = this.serve.runtime.store;
        const record = await store.resources.get(m.id);
        if (!record?.accessKeyId || !record.secretAccessKey || (await store.rotations.get(m.id))) return;
        const request = { addonId: m.id, accountId: record.accountId, oldAccessKeyId: record.accessKeyId, trigger: step.compromised ? ('emergency' as const) : ('on-demand' as const), requestedBy: 'cli:harness' };
        if (await store.rotations.request([request], this.clock.now)) this.rotationsRequested += 1;
        return;
      }
      case 'age-keys':
        this.clock.advance(step.days * DAY);
        return;
      case 'tags':
        return this.tagChange(step);
      case 'var': {
        if (step.what === 'set-foreign') {
          this.setForeignVar(step.app, `FOREIGN_${randomBytes(2).toString('hex').toUpperCase()}`, randomBytes(6).toString('hex'));
          return;
        }
        const ours = Object.keys(fake.configVars(step.app)).filter((name) => /_(BUCKET_NAME|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_REGION|URL)$/.test(name) && name !== 'BUCKETEER_URL');
        if (ours.length === 0) return;
        fake.setConfigVar(step.app, ours[0]!, null);
        for (const a of fake.appAttachments(step.app)) {
          const m = [...this.addons.values()].find((x) => x.id === a.addon.id);
          if (m) m.damagedAt = this.clock.now.getTime();
        }
        return;
      }
      case 'lookalike':
        return this.lookalike(step.what);
      case 'squat':
        return this.squat(step.addon, step.what);
      case 'lag-tags':
        if (step.on) this.lag.freeze();
        else this.lag.thaw();
        return;
      case 'wipe-store':
        return this.switchStore(null);
      case 'snapshot-store': {
        const rows: Record<string, unknown[]> = {};
        for (const table of TABLES) rows[table] = await query(this.world.env.DATABASE_URL!, `SELECT * FROM ${table}`);
        this.backup = { rows, linked: new Set(this.linked) };
        return;
      }
      case 'restore-store': {
        if (!this.backup) return;
        for (const m of this.created) m.storeRestored = true;
        await this.switchStore(this.backup.rows);
        this.linked = new Set(this.backup.linked);
        return;
      }
      case 'second-deployment': {
        if (this.second) return;
        const db = await freshPostgresDatabase('second');
        const deployment = await Deployment.start(this.world, { clock: this.clock, hooks: [this.keys.hook], env: { INSTANCE_ID: undefined, DATABASE_URL: db.url, LEADER_ELECTION: 'none' } });
        this.second = { deployment, db };
        for (const team of this.linked) await deployment.link(this.world, { id: this.teamIds.get(team)!, name: team }, this.accountId(TEAMS[team]));
        return;
      }
      case 'time':
        this.clock.advance(step.minutes * MINUTE);
        return;
      case 'fail-team':
      case 'fail-attachments':
      case 'crash':
      case 'webhook':
      case 'change-event':
      case 'cli-beside-serve':
        return;
    }
  }

  private async bucketDrift(label: AddonLabel, what: Step & { t: 'bucket-drift' } extends { what: infer W } ? W : never): Promise<void> {
    const m = this.target(label);
    if (!m) return;
    if (m.squatted) return;
    const s3 = this.s3[m.account];
    const Bucket = this.bucketName(m);
    if (!(await bucketExists(s3, Bucket))) return;
    const commands = {
      'public-access-block-off': () =>
        s3.send(new PutPublicAccessBlockCommand({ Bucket, PublicAccessBlockConfiguration: { BlockPublicAcls: false, IgnorePublicAcls: false, BlockPublicPolicy: false, RestrictPublicBuckets: false } })),
      'encryption-off': () => s3.send(new DeleteBucketEncryptionCommand({ Bucket })),
      'tls-policy-off': () => s3.send(new DeleteBucketPolicyCommand({ Bucket })),
      'ownership-off': () => s3.send(new DeleteBucketOwnershipControlsCommand({ Bucket })),
      'lifecycle-off': () => s3.send(new DeleteBucketLifecycleCommand({ Bucket })),
      'versioning-on': () => s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } })),
      'cors-added': () => s3.send(new PutBucketCorsCommand({ Bucket, CORSConfiguration: { CORSRules: [{ AllowedOrigins: ['*'], AllowedMethods: ['GET'] }] } })),
    };
    await commands[what]();
  }

  private async keyChange(label: AddonLabel, what: 'delete' | 'deactivate' | 'add', newest: boolean): Promise<void> {
    const m = this.target(label);
    if (!m) return;
    if (m.squatted) return;
    const iam = this.iam[m.account];
    const UserName = this.userName(m);
    const listed = await iam.send(new ListAccessKeysCommand({ UserName })).catch(() => null);
    if (!listed) return;
    const keys = listed.AccessKeyMetadata ?? [];
    if (what === 'add') {
      if (keys.length >= 2) return;
      const created = (await iam.send(new CreateAccessKeyCommand({ UserName }))).AccessKey!;
      this.keys.register(created.AccessKeyId!, UserName, created.SecretAccessKey!);
      return;
    }
    // moto lists a user's keys in the order they were made.
    const key = (newest ? keys.at(-1) : keys[0])?.AccessKeyId;
    if (!key) return;
    this.killedByHarness.add(key);
    m.damagedAt = this.clock.now.getTime();
    if (what === 'delete') await iam.send(new DeleteAccessKeyCommand({ UserName, AccessKeyId: key }));
    else await iam.send(new UpdateAccessKeyCommand({ UserName, AccessKeyId: key, Status: 'Inactive' }));
  }

  private async tagChange(step: Step & { t: 'tags' }): Promise<void> {
    const m = this.target(step.addon);
        if (!m) return;
    if (m.squatted) return; // the name holds someone else's resource
    if (step.what === 'strip') m.tampered = true;
    if (step.on === 'bucket') {
      const s3 = this.s3[m.account];
      const Bucket = this.bucketName(m);
      if (!(await bucketExists(s3, Bucket))) return;
      const tags = await bucketTags(s3, Bucket);
      if (step.what === 'strip') for (const key of Object.keys(tags)) if (key.startsWith('heroku-s3-controller:') && key !== TAG.retain) delete tags[key];
      if (step.what === 'alter') tags[TAG.appId] = 'altered-by-hand';
      if (step.what === 'add-foreign') tags['cost-center'] = randomBytes(2).toString('hex');
      if (step.what === 'retain') {
        tags[TAG.retain] = 'true';
        m.mustKeepData = true;
      }
      await s3.send(new PutBucketTaggingCommand({ Bucket, Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) } }));
      return;
    }
    const iam = this.iam[m.account];
    const UserName = this.userName(m);
    try {
      if (step.what === 'strip') await iam.send(new UntagUserCommand({ UserName, TagKeys: [TAG.instance, TAG.addonId, TAG.appId, TAG.teamId] }));
      else if (step.what === 'alter') await iam.send(new TagUserCommand({ UserName, Tags: [{ Key: TAG.appId, Value: 'altered-by-hand' }] }));
      else if (step.what === 'add-foreign') await iam.send(new TagUserCommand({ UserName, Tags: [{ Key: 'cost-center', Value: '42' }] }));
    } catch (err) {
      ignoreMissing(err);
    }
  }

  private async lookalike(what: Step & { t: 'lookalike' } extends { what: infer W } ? W : never): Promise<void> {
    const account = 'A' as const;
    const suffix = randomBytes(4).toString('hex');
    if (what === 'bucket-untagged' || what === 'bucket-other-instance') {
      const name = `${BUCKET_PREFIX}lookalike-${suffix}`;
      await this.foreignBucket(account, name, what === 'bucket-other-instance' ? { [TAG.instance]: 'another-instance', [TAG.addonId]: randomUUID() } : {}, what);
      return;
    }
    const name = `${BUCKET_PREFIX}lookalike-${suffix}`;
    await this.foreignUser(account, name, what === 'user-outside-path' ? '/someone-else/' : '/heroku-s3-controller/', what === 'user-other-instance' ? { [TAG.instance]: 'another-instance', [TAG.addonId]: randomUUID() } : {}, what);
  }

  /** Someone takes the deterministic name of an add-on before the controller makes it. */
  private async squat(label: AddonLabel, what: Step & { t: 'squat' } extends { what: infer W } ? W : never): Promise<void> {
    const m = this.addons.get(label)!;
    if (m.exists || m.teamAtEnd !== null) return; // only before it is created
    const kind = what.startsWith('bucket') ? 'bucket' : 'user';
    if (this.foreign.some((f) => f.kind === kind && f.what.startsWith('squat') && f.name === (kind === 'bucket' ? bucketNameFor(this.naming(), this.accountId('A'), m.id) : userNameFor(this.naming(), m.id)))) return; // taken already
    m.squatted = true;
    // Squat where it will most likely be made (acme's and initech's account): a squat in the other
    // account is a look-alike.
    const account = 'A' as const;
    const otherOwner = { [TAG.instance]: 'another-instance', [TAG.addonId]: m.id };
    if (what === 'bucket-untagged' || what === 'bucket-other-instance') {
      await this.foreignBucket(account, bucketNameFor(this.naming(), this.accountId(account), m.id), what === 'bucket-other-instance' ? otherOwner : {}, `squat ${what}`);
      return;
    }
    const tags: Record<string, string> = what === 'user-other-instance' ? otherOwner : what === 'user-partial-tags' ? { [TAG.instance]: this.world.instanceId } : {};
    await this.foreignUser(account, userNameFor(this.naming(), m.id), what === 'user-outside-path' ? '/someone-else/' : '/heroku-s3-controller/', tags, `squat ${what}`);
  }

  private async foreignBucket(account: 'A' | 'B', name: string, tags: Record<string, string>, what: string): Promise<void> {
    const s3 = this.s3[account];
    await s3.send(new CreateBucketCommand({ Bucket: name }));
    if (Object.keys(tags).length > 0) await s3.send(new PutBucketTaggingCommand({ Bucket: name, Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) } }));
    await s3.send(new PutObjectCommand({ Bucket: name, Key: 'theirs.txt', Body: 'their data' }));
    this.foreign.push({ what, account, kind: 'bucket', name, snapshot: await this.foreignSnapshot(account, 'bucket', name) });
  }

  private async foreignUser(account: 'A' | 'B', name: string, path: string, tags: Record<string, string>, what: string): Promise<void> {
    const iam = this.iam[account];
    await iam.send(new CreateUserCommand({ UserName: name, Path: path, Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }));
    await iam.send(new PutUserPolicyCommand({ UserName: name, PolicyName: 'theirs', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:ListAllMyBuckets', Resource: '*' }] }) }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey!;
    this.keys.register(key.AccessKeyId!, name, key.SecretAccessKey!);
    this.foreign.push({ what, account, kind: 'user', name, snapshot: await this.foreignSnapshot(account, 'user', name) });
  }

  private async foreignSnapshot(account: 'A' | 'B', kind: 'bucket' | 'user', name: string): Promise<unknown> {
    if (kind === 'user') return userSnapshot(this.iam[account], name).catch((err) => `gone: ${errorMessage(err)}`);
    const s3 = this.s3[account];
    if (!(await bucketExists(s3, name))) return 'gone';
    return { ...(await bucketSnapshot(s3, name)), contents: await this.objectBody(s3, name, 'theirs.txt') };
  }

  private setForeignVar(app: string, name: string, value: string): void {
    this.world.fake.setConfigVar(app, name, value);
    let vars = this.foreignVars.get(app);
    if (!vars) this.foreignVars.set(app, (vars = new Map()));
    vars.set(name, value);
  }

  /**
   * The add-on a step names: that one if it was created, else one that was (the label's number
   * modulo how many), so that generated steps mostly act on something; undefined before any.
   */
  private target(label: AddonLabel): ModelAddon | undefined {
    const named = this.addons.get(label)!;
    if (this.created.includes(named)) return named;
    if (this.created.length === 0) return undefined;
    return this.created[(Number(label.slice(1)) - 1) % this.created.length];
  }

  // ---- the world as it is -----------------------------------------------------------------------

  private naming() {
    return { instanceId: this.world.instanceId, bucketPrefix: BUCKET_PREFIX, iamPath: '/heroku-s3-controller/', iamUserPrefix: BUCKET_PREFIX };
  }

  private bucketName(m: ModelAddon): string {
    return bucketNameFor(this.naming(), this.accountId(m.account), m.id);
  }

  private userName(m: ModelAddon): string {
    return userNameFor(this.naming(), m.id);
  }

  /** The add-on as Heroku has it now; null when it does not exist. */
  private heroku(m: ModelAddon) {
    try {
      return this.world.fake.addon(m.id);
    } catch {
      return null;
    }
  }

  private teamOfApp(app: string): TeamName {
    const teamId = this.world.fake.app(app).team!.id;
    return [...this.teamIds].find(([, id]) => id === teamId)![0];
  }

  private allVars(): Map<string, Record<string, string>> {
    return new Map(Object.keys(APPS).map((app) => [app, this.world.fake.configVars(app)]));
  }

  private async objectBody(s3: S3Client, bucket: string, key: string): Promise<string | null> {
    return withoutPolicy(s3, bucket, async () => {
      try {
        const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return await out.Body!.transformToString();
      } catch (err) {
        if ((err as { name?: string }).name === 'NoSuchKey') return null;
        throw err;
      }
    });
  }

  /**
   * Writes the harness's marker into every live add-on's bucket that has none yet: the app's data,
   * which must outlive anything but the add-on's own removal (or outlive even that, when kept).
   * The bucket may have been made in the other account than expected (its app moved before it
   * was made): the marker goes where it is.
   */
  private async markBuckets(): Promise<void> {
    for (const m of this.addons.values()) {
      if (m.marked || !m.exists || m.squatted) continue;
      if (!(await bucketExists(this.s3[m.account], this.bucketName(m)))) {
        const other = m.account === 'A' ? 'B' : 'A';
        if (!(await bucketExists(this.s3[other], bucketNameFor(this.naming(), this.accountId(other), m.id)))) continue;
        m.account = other;
      }
      const s3 = this.s3[m.account];
      const Bucket = this.bucketName(m);
      await withoutPolicy(s3, Bucket, () => s3.send(new PutObjectCommand({ Bucket, Key: 'harness-marker.txt', Body: m.label })));
      m.marked = true;
    }
  }

  /** Whether the add-on's user holds `accessKeyId` active now. */
  private async activeKeys(m: ModelAddon): Promise<{ id: string; status: string }[] | null> {
    try {
      const out = await this.iam[m.account].send(new ListAccessKeysCommand({ UserName: this.userName(m) }));
      return (out.AccessKeyMetadata ?? []).map((k) => ({ id: k.AccessKeyId!, status: k.Status! }));
    } catch (err) {
      if (/NoSuchEntity/.test((err as { name?: string }).name ?? '')) return null;
      throw err;
    }
  }

  // ---- invariants -------------------------------------------------------------------------------

  /** After every step: what must hold at every moment (safety invariants 1, 5, 10). */
  private async checkAlways(varsBefore: Map<string, Record<string, string>>, faultTeams: ReadonlySet<TeamName>, crashed: boolean): Promise<void> {
    await this.checkForeignUntouched();
    await this.markBuckets();
    await this.checkDataKept();
    await this.checkVars(varsBefore);
    await this.checkKeys(faultTeams, crashed);
  }

  /** Nothing without our ownership was modified: every foreign resource byte for byte as made. */
  private async checkForeignUntouched(): Promise<void> {
    for (const f of this.foreign) {
      const now = await this.foreignSnapshot(f.account, f.kind, f.name);
      if (JSON.stringify(now) !== JSON.stringify(f.snapshot)) {
        throw new Violation(`the ${f.kind} ${f.name} someone else made (${f.what}) was changed: ${JSON.stringify(f.snapshot)} -> ${JSON.stringify(now)}`);
      }
    }
  }

  /** No live add-on's bucket emptied or deleted; kept buckets keep their data. */
  private async checkDataKept(): Promise<void> {
    for (const m of this.addons.values()) {
      if (!m.marked) continue;
      const live = m.exists && !m.deprovisioned;
      if (!live && !m.mustKeepData) continue;
      const s3 = this.s3[m.account];
      const bucket = this.bucketName(m);
      if (!(await bucketExists(s3, bucket))) throw new Violation(`the bucket of ${m.label} (${live ? 'a live add-on' : 'kept by its plan or retain tag'}) was deleted`);
      if ((await this.objectBody(s3, bucket, 'harness-marker.txt')) === null) throw new Violation(`the bucket of ${m.label} (${live ? 'a live add-on' : 'kept by its plan or retain tag'}) lost its data`);
    }
  }

  /**
   * No config var that is not ours, or no longer ours, changed or removed by the passes; ours only
   * where a live attachment of ours delivers them, and never removed there. One exception: under
   * a name a live add-on took over that cannot deliver (its bucket or user name squatted, its tags
   * stripped), another, gone add-on's vars may go.
   */
  private async checkVars(before: Map<string, Record<string, string>>): Promise<void> {
    const after = this.allVars();
    const ourSuffix = /_(BUCKET_NAME|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_REGION|URL)$/;
    for (const [app, was] of before) {
      const now = after.get(app)!;
      /** Each name a live attachment delivers, with the var naming the bucket and that add-on (when it cannot deliver). */
      const live = new Map<string, { bucketVar: string; bucket: string; stuck: boolean }>();
      for (const a of this.world.fake.appAttachments(app)) {
        const m = [...this.addons.values()].find((x) => x.id === a.addon.id && x.exists && !x.deprovisioned);
        if (!m) continue;
        const names = configVarNames(a.name);
        for (const name of Object.values(names)) live.set(name, { bucketVar: names.bucketName, bucket: this.bucketName(m), stuck: m.squatted || m.tampered });
      }
      for (const name of new Set([...Object.keys(was), ...Object.keys(now)])) {
        if (was[name] === now[name]) continue;
        const change = now[name] === undefined ? 'removed' : was[name] === undefined ? 'added' : 'changed';
        if (this.foreignVars.get(app)?.has(name) || !ourSuffix.test(name) || name.startsWith('BUCKETEER_')) {
          throw new Violation(`config var ${name} on app ${app}, not ours, was ${change}`);
        }
        const deliveredFor = live.get(name);
        if (deliveredFor && change === 'removed' && (!deliveredFor.stuck || was[deliveredFor.bucketVar] === deliveredFor.bucket)) {
          throw new Violation(`config var ${name} on app ${app}, delivered for a live attachment, was removed`);
        }
        if (!live.has(name) && change !== 'removed') throw new Violation(`config var ${name} on app ${app} was ${change}, though no live attachment of ours delivers it`);
        // An add-on's bucket is one: its app is never moved to another (empty) bucket of it.
        const owner = [...this.addons.values()].find((m) => was[name]?.startsWith(`${BUCKET_PREFIX}${m.id}-`));
        if (name.endsWith('_BUCKET_NAME') && change === 'changed' && owner && now[name]!.startsWith(`${BUCKET_PREFIX}${owner.id}-`)) {
          throw new Violation(`app ${app} was moved from bucket ${was[name]} of ${owner.label} to ${now[name]}, leaving its data behind`);
        }
      }
    }
  }

  /**
   * Keys and credentials (DESIGN.md invariant 10 and issue 16), at every check:
   *
   * - IAM never answered `LimitExceeded` (a third key) and no action failed with it; no user holds
   *   more than two keys.
   * - No attached app of a live add-on holds a key of that add-on's user that the controller
   *   deleted or deactivated (only someone else may have done that to a key an app holds).
   * - While a key rotation of the add-on is in flight (a `key_rotations` row at this check or the
   *   one before), every attachment that held working credentials at the check before still does
   *   (its key exists, is active, with its secret): a rotation never needs the allowance below,
   *   crash, fault or store loss notwithstanding; only someone else's damage to that add-on's key
   *   or vars since the check before excuses it.
   * - Otherwise an attached app of a live add-on the controller can reach holds working credentials
   *   within {@link CREDENTIALS_WITHIN_PASSES} passes (DEEP_CHECK_WINDOW after someone else's
   *   damage): an app holding a deleted or inactive key while a usable one exists is repaired
   *   within that allowance, not left.
   */
  private async checkKeys(faultTeams: ReadonlySet<TeamName>, crashed: boolean): Promise<void> {
    if (this.keys.limitExceeded.length > 0) throw new Violation(`IAM answered LimitExceeded to ${this.keys.limitExceeded.join('; ')}`);
    if (this.limitFailures.length > 0) throw new Violation(`an action failed with LimitExceeded: ${this.limitFailures[0]}`);
    const rotating = new Set((await this.serve.runtime.store.rotations.list()).map((r) => r.addonId));
    const since = this.lastCheckAt;
    this.lastCheckAt = this.clock.now.getTime();
    for (const m of this.addons.values()) {
      const keys = await this.activeKeys(m);
      if (keys && keys.length > 2) throw new Violation(`the user of ${m.label} has ${keys.length} access keys`);
      const inRotation = m.rotating || rotating.has(m.id);
      m.rotating = rotating.has(m.id);
      const workedBefore = m.worked;
      m.worked = new Set();
      if (!m.exists || m.deprovisioned) continue;
      const damagedSince = m.damagedAt !== null && since !== null && m.damagedAt >= since;
      for (const attachment of this.world.fake.addonAttachments(m.id)) {
        const held = this.world.fake.configVars(attachment.app.name)[configVarNames(attachment.name).accessKeyId];
        const key = held ? this.keys.get(held) : undefined;
        if (held && key?.userName === this.userName(m) && !this.killedByHarness.has(held) && !(await this.keyActiveAnywhere(m, held, keys))) {
          throw new Violation(`app ${attachment.app.name} holds access key ${held} of ${m.label} as ${attachment.name}, which the controller deleted or deactivated`);
        }
        const slot = `${attachment.id} ${attachment.name}`;
        if (await this.holdsWorkingCredentials(m, attachment.app.name, attachment.name, keys)) {
          m.worked.add(slot);
          m.debt.delete(attachment.id);
          continue;
        }
        if (inRotation && workedBefore.has(slot) && !damagedSince) {
          const vars = this.world.fake.configVars(attachment.app.name);
          const state = keys?.find((k) => k.id === held)?.status.toLowerCase() ?? 'deleted';
          const status = !held ? 'no key' : state !== 'active' ? `${held} (${state})` : key?.secret !== vars[configVarNames(attachment.name).secretAccessKey] ? `${held} with a secret not its own` : `${held}, and the bucket ${vars[configVarNames(attachment.name).bucketName] ?? 'missing'}`;
          throw new Violation(`app ${attachment.app.name} lost its working credentials of ${m.label} as ${attachment.name} during a rotation of its key: it holds ${status}, the user ${keys?.map((k) => `${k.id} ${k.status.toLowerCase()}`).join(', ') || 'no key'}`);
        }
        const reachable = this.reachable(m, attachment.app.name, faultTeams) && !crashed;
        if (!reachable) continue;
        const now = this.clock.now.getTime();
        const debt = m.debt.get(attachment.id) ?? { since: now, passes: 0 };
        debt.passes += 1;
        m.debt.set(attachment.id, debt);
        // Damage done by someone else is found by the resource's deep check: within the window.
        const window = m.damagedAt !== null && now - m.damagedAt <= this.history.deepCheckMinutes * MINUTE + CREDENTIALS_WITHIN_PASSES * MINUTE ? this.history.deepCheckMinutes * MINUTE : 0;
        if (debt.passes > CREDENTIALS_WITHIN_PASSES && now - debt.since > window) {
          throw new Violation(`app ${attachment.app.name} has had no working credentials of ${m.label} as ${attachment.name} for ${debt.passes} passes (${Math.round((now - debt.since) / MINUTE)} min)`);
        }
      }
    }
  }

  /** Whether the key is active on the add-on's user, in the account its resources are in or the other. */
  private async keyActiveAnywhere(m: ModelAddon, keyId: string, keys: { id: string; status: string }[] | null): Promise<boolean> {
    if (keys?.some((k) => k.id === keyId && k.status === 'Active')) return true;
    const other = m.account === 'A' ? 'B' : 'A';
    try {
      const out = await this.iam[other].send(new ListAccessKeysCommand({ UserName: this.userName(m) }));
      return (out.AccessKeyMetadata ?? []).some((k) => k.AccessKeyId === keyId && k.Status === 'Active');
    } catch {
      return false;
    }
  }

  /**
   * Whether the controller can and must deliver to this attachment now: its add-on's team is
   * linked to the account its resources are in, nothing took its names, and no fault hides its team.
   */
  private reachable(m: ModelAddon, _app: string, faultTeams: ReadonlySet<TeamName>): boolean {
    const addon = this.heroku(m);
    if (!addon || m.squatted || m.tampered) return false;
    const team = this.teamOfApp(addon.app.name);
    return this.linked.has(team) && TEAMS[team] === m.account && !faultTeams.has(team);
  }

  private async holdsWorkingCredentials(m: ModelAddon, app: string, attachmentName: string, keys: { id: string; status: string }[] | null): Promise<boolean> {
    const vars = this.world.fake.configVars(app);
    const names = configVarNames(attachmentName);
    const keyId = vars[names.accessKeyId];
    if (!keyId || !keys?.some((k) => k.id === keyId && k.status === 'Active')) return false;
    if (this.keys.get(keyId)?.secret !== vars[names.secretAccessKey]) return false;
    // Credentials alone (the kind its user was made as): a working key and its region, no bucket.
    if (await this.madeAsCredentials(m)) return vars[names.region] !== undefined;
    if (vars[names.bucketName] !== this.bucketName(m)) return false;
    return bucketExists(this.s3[m.account], this.bucketName(m));
  }

  /** The add-on's user says it was made as the credentials kind (a plan change never turns it into the other). */
  private async madeAsCredentials(m: ModelAddon): Promise<boolean> {
    try {
      const out = await this.iam[m.account].send(new ListUserTagsCommand({ UserName: this.userName(m) }));
      return (out.Tags ?? []).some((t) => t.Key === TAG.kind && t.Value === 'credentials');
    } catch (err) {
      if (/NoSuchEntity/.test((err as { name?: string }).name ?? '')) return false;
      throw err;
    }
  }

  // ---- settling -------------------------------------------------------------------------------------

  /**
   * The faults end; passes run with time moving on past every grace period (an operator approves
   * a tripped breaker, as one would after checking); then nothing may have leaked, and every app
   * of a live add-on the controller reaches holds working credentials.
   */
  private async settle(): Promise<void> {
    this.log.push('settle');
    this.world.fake.clearFaults();
    this.lag.thaw();
    // Five minutes a pass: a rotation started in the last one is over three passes later (overlap
    // 3m, grace 5m); one that becomes due meanwhile gets the passes it needs.
    for (let i = 0; i < SETTLE_PASSES || (i < 2 * SETTLE_PASSES && (await this.rotationsInFlight()).length > 0); i++) {
      this.clock.advance(5 * MINUTE);
      const varsBefore = this.allVars();
      await this.fullPass();
      const { store } = this.serve.runtime;
      for (const breaker of await store.gcBreakers.list()) await store.gcBreakers.approve(breaker.accountId, this.clock.now);
      if (this.second) for (const breaker of await this.second.deployment.runtime.store.gcBreakers.list()) await this.second.deployment.runtime.store.gcBreakers.approve(breaker.accountId, this.clock.now);
      // Deactivations held by the rotation breaker: approved, as an operator would after checking.
      if ((await store.rotations.list()).length > 0) for (const account of ['A', 'B'] as const) await store.rotations.approve(this.accountId(account), this.clock.now);
      await this.checkAlways(varsBefore, new Set(), false);
    }
    const unfinished = await this.rotationsInFlight();
    if (unfinished.length > 0) {
      throw new Violation(`key rotations of live add-ons are still in flight: ${unfinished.map((r) => `${this.labelOf(r.addonId)} at ${r.step} since ${r.stepAt.toISOString()} (${r.trigger})`).join(', ')}`);
    }
    for (const m of this.addons.values()) {
      if (m.exists && !m.deprovisioned) {
        for (const attachment of this.world.fake.addonAttachments(m.id)) {
          if (!this.reachable(m, attachment.app.name, new Set())) continue;
          if (!(await this.holdsWorkingCredentials(m, attachment.app.name, attachment.name, await this.activeKeys(m)))) {
            throw new Violation(`app ${attachment.app.name} holds no working credentials of ${m.label} as ${attachment.name}`);
          }
          const keys = (await this.activeKeys(m)) ?? [];
          if (keys.length !== 1) throw new Violation(`the user of live add-on ${m.label} has ${keys.length} access keys, not the one its apps hold`);
        }
        continue;
      }
      if (m.teamAtEnd === null) continue; // never created
      // Gone: collected unless its team is not linked (kept until an operator decides).
      const collectable = this.linked.has(m.teamAtEnd) && [...this.linked].some((t) => TEAMS[t] === m.account);
      const bucketThere = await bucketExists(this.s3[m.account], this.bucketName(m));
      const userThere = (await this.activeKeys(m)) !== null;
      if (m.mustKeepData && m.marked && !bucketThere) throw new Violation(`the kept bucket of ${m.label} is gone`);
      if (!collectable || m.squatted || m.tampered) continue;
      if (userThere) throw new Violation(`the IAM user of ${m.label}, gone from Heroku, leaked`);
      if (bucketThere && !m.mustKeepData) throw new Violation(`the bucket of ${m.label}, gone from Heroku, leaked`);
      // After a store loss the controller no longer knows what it delivered where: it finds what
      // is on the app that owns the add-on, unless a restored store thinks it knows.
      const apps = !m.recordMayBeLost ? Object.keys(APPS) : !m.storeRestored && m.ownerApp ? [m.ownerApp] : [];
      for (const app of apps) {
        const left = Object.entries(this.world.fake.configVars(app)).filter(([, value]) => value === this.bucketName(m));
        if (left.length > 0) throw new Violation(`config var ${left[0]![0]} on app ${app} still names the bucket of ${m.label}, gone from Heroku`);
      }
    }
    await this.checkNoStrayOwned();
  }

  /**
   * The `key_rotations` rows of live add-ons the controller reaches and may change (names not
   * taken, tags not stripped): what settling must bring to an end.
   */
  private async rotationsInFlight() {
    const rows = await this.serve.runtime.store.rotations.list();
    return rows.filter((r) => {
      const m = [...this.addons.values()].find((x) => x.id === r.addonId);
      return m !== undefined && m.exists && !m.deprovisioned && this.reachable(m, '', new Set());
    });
  }

  private labelOf(addonId: string): string {
    return [...this.addons.values()].find((m) => m.id === addonId)?.label ?? addonId;
  }

  /** Every bucket and user carrying our instance's tags belongs to an add-on the model knows. */
  private async checkNoStrayOwned(): Promise<void> {
    const known = new Set([...this.addons.values()].map((m) => m.id));
    for (const account of ['A', 'B'] as const) {
      const snapshot = await accountSnapshot(this.s3[account], this.iam[account]);
      for (const [name, bucket] of Object.entries(snapshot.buckets) as [string, { tags: Record<string, string> }][]) {
        const id = bucket.tags[TAG.addonId];
        if (bucket.tags[TAG.instance] === this.world.instanceId && id && !known.has(id)) throw new Violation(`bucket ${name} carries our tags for an add-on nobody made`);
      }
    }
  }
}

async function query(url: string, text: string, params: unknown[] = []): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, params)).rows;
  } finally {
    await client.end();
  }
}

function ignoreMissing(err: unknown): void {
  if (!/NoSuchEntity/.test((err as { name?: string }).name ?? '')) throw err;
}

/** The bucket policy as text; null when it has none. */
async function rawPolicy(s3: S3Client, bucket: string): Promise<string | null> {
  try {
    return (await s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy ?? null;
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchBucketPolicy') return null;
    throw err;
  }
}

/**
 * Runs `fn` on the bucket's objects with its policy lifted: the TLS-only policy refuses moto's
 * plain HTTP. The policy is put back exactly as it was (the controller's, or a drifted one).
 */
async function withoutPolicy<T>(s3: S3Client, bucket: string, fn: () => Promise<T>): Promise<T> {
  const policy = await rawPolicy(s3, bucket);
  if (policy) await s3.send(new DeleteBucketPolicyCommand({ Bucket: bucket }));
  try {
    return await fn();
  } finally {
    if (policy) await s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: policy }));
  }
}
