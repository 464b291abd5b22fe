/**
 * Issue 16, access-key rotation on the stand: the authenticating moto (S3, IAM, STS: signatures
 * checked), the Heroku fake, the real AWS SDK adapters, a PostgreSQL store and a movable clock.
 *
 * - By age: a key older than KEY_MAX_AGE is replaced end to end (new key, delivery, overlap,
 *   deactivation, grace, deletion). At every sampled instant the key the app holds (its config
 *   vars in the Heroku fake) authenticates to STS as the add-on's user AND is listed Active by
 *   IAM. Instants are sampled between passes and inside them: right before and right after every
 *   mutating AWS call the controller makes (an SDK middleware) and right before every mutating
 *   Heroku request (the fake's gate), so every state the world passes through is seen.
 * - `rotate --compromised` (an 'emergency' row through the store): the old key is Inactive at the
 *   end of the very pass that delivered the new one, and is deleted after the grace even though
 *   it was used after its deactivation.
 * - A rotated-out key used after its deactivation is switched back on at the end of the grace,
 *   not deleted (the real adapter's GetAccessKeyLastUsed); one rotated beside it and not used is
 *   deleted in the same pass.
 * - A delivery that fails mid-rotation (Heroku 503 on one of two attached apps): the old key stays
 *   active, the next pass delivers to the apps still behind, and the overlap counts from then.
 *
 * moto quirks this file relies on (moto 5.2.1; see .venv/moto/.../moto/iam/access_control.py,
 * moto/iam/models.py mark_account_as_visited, moto/sts/models.py get_caller_identity):
 * - moto's authentication never looks at a key's status: an Inactive key still signs requests
 *   that succeed. So "the held key works" is checked twice: STS GetCallerIdentity (signature and
 *   key id known, answers the user's ARN) AND IAM ListAccessKeys lists it Active.
 * - Without authentication (the other moto) GetCallerIdentity with an unknown or deleted key
 *   answers a default identity `arn:aws:sts::<acct>:user/moto`, and no signature is checked:
 *   that is why this file runs on the authenticating server.
 * - moto records a key's last use (GetAccessKeyLastUsed) on ANY request signed with it, active or
 *   not, and stamps it with the real time (moto's `utcnow()`), never the controller's injected
 *   clock. A "use after deactivation" is therefore only seen when the deactivation was stamped
 *   (injected clock) at or before the real time of the use: the tests that need it keep the
 *   clock at the real time until the deactivation, and move it forward only afterwards.
 */
import { randomBytes } from 'node:crypto';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { GetUserCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ClientHook } from '../../src/sinks/aws/connect.js';
import { isMutation } from '../../src/sinks/aws/api-calls.js';
import type { ResourceRecord } from '../../src/store/types.js';
import { assumeRoleOnAuthServer, type AwsKey } from '../support/moto-auth.js';
import { motoAuthEnv, motoAuthUrl, newMotoAuthPrincipal, type MotoAuthPrincipal } from '../support/stand.js';
import { DAY, HOUR, MovableClock, PassRunner, expectNoSecretInJournal, gcRuntime, journalRows } from './gc-support.js';
import { SERVICE, createWorld, type World } from './stand-world.js';

const MINUTE = 60_000;
const ATTACHMENT = 'BUCKET';
const keyIdVar = (attachment: string) => `${attachment}_AWS_ACCESS_KEY_ID`;
const secretVar = (attachment: string) => `${attachment}_AWS_SECRET_ACCESS_KEY`;
const KEY_ID_VAR = keyIdVar(ATTACHMENT);
const SECRET_VAR = secretVar(ATTACHMENT);

let principal: MotoAuthPrincipal;
/** The linked account's IAM as the test sees it: the link's own role, on the authenticating moto. */
let iam: IAMClient;

beforeAll(async () => {
  principal = await newMotoAuthPrincipal();
  const roleKey = await assumeRoleOnAuthServer(motoAuthUrl(), principal, principal.assumableRoleArn, 'key-rotation-test');
  iam = new IAMClient({ endpoint: motoAuthUrl(), region: 'us-east-1', credentials: roleKey });
}, 60_000);

afterAll(() => {
  iam?.destroy();
});

function sts(key: AwsKey): STSClient {
  return new STSClient({ endpoint: motoAuthUrl(), region: 'us-east-1', credentials: key, maxAttempts: 1 });
}

/** GetCallerIdentity as `key`: the ARN it authenticates as, or the error's name. */
async function callerArn(key: AwsKey): Promise<{ arn: string } | { error: string }> {
  const client = sts(key);
  try {
    const out = await client.send(new GetCallerIdentityCommand({}));
    return { arn: out.Arn ?? '' };
  } catch (err) {
    return { error: (err as { name?: string }).name ?? String(err) };
  } finally {
    client.destroy();
  }
}

async function keysOf(userName: string): Promise<{ id: string; status: string }[]> {
  const keys = (await iam.send(new ListAccessKeysCommand({ UserName: userName }))).AccessKeyMetadata ?? [];
  return keys.map((k) => ({ id: k.AccessKeyId!, status: k.Status! })).sort((a, b) => a.id.localeCompare(b.id));
}

interface Subject {
  app: string;
  /** The attachment's name: its config vars' prefix on that app. */
  attachment: string;
  userName: string;
  userArn: string;
}

interface Sample {
  where: string;
  app: string;
  keyId: string;
  ok: boolean;
  problem?: string;
}

/**
 * Takes, at one instant, the key each subject app holds in the Heroku fake, and checks that it
 * authenticates to STS as the add-on's user and is listed Active by IAM. A sample is one instant
 * only if the app's vars did not change while it ran (another add-on's delivery may run beside
 * it): else it is taken again.
 */
class Sampler {
  readonly samples: Sample[] = [];
  subjects: Subject[] = [];

  constructor(private readonly world: World) {}

  /** Never throws: a problem is recorded (the controller must not see the test's failures). */
  async sample(where: string): Promise<void> {
    for (const subject of this.subjects) {
      for (let attempt = 0; attempt < 5; attempt++) {
        const before = this.world.fake.configVars(subject.app);
        const keyId = before[keyIdVar(subject.attachment)];
        const secret = before[secretVar(subject.attachment)];
        if (!keyId || !secret) {
          this.samples.push({ where, app: subject.app, keyId: '', ok: false, problem: 'the app holds no key' });
          break;
        }
        const problems: string[] = [];
        try {
          const [identity, keys] = await Promise.all([callerArn({ accessKeyId: keyId, secretAccessKey: secret }), keysOf(subject.userName)]);
          if ('error' in identity) problems.push(`STS GetCallerIdentity failed: ${identity.error}`);
          else if (identity.arn !== subject.userArn) problems.push(`STS says ${identity.arn}, not ${subject.userArn}`);
          const status = keys.find((k) => k.id === keyId)?.status ?? 'absent';
          if (status !== 'Active') problems.push(`IAM lists it ${status}`);
        } catch (err) {
          problems.push(`sampling failed: ${String(err)}`);
        }
        const after = this.world.fake.configVars(subject.app);
        if (after[keyIdVar(subject.attachment)] !== keyId || after[secretVar(subject.attachment)] !== secret) continue;
        this.samples.push({ where, app: subject.app, keyId, ok: problems.length === 0, ...(problems.length ? { problem: problems.join('; ') } : {}) });
        break;
      }
    }
  }

  /** An SDK middleware: a sample right before and right after every mutating AWS call. */
  readonly hook: ClientHook = ((client: { middlewareStack: { add: Function } }) => {
    client.middlewareStack.add(
      (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
        const op = (context.commandName ?? '').replace(/Command$/, '');
        const watched = this.subjects.length > 0 && isMutation(op) && op !== 'AssumeRole';
        if (watched) await this.sample(`before ${op}`);
        const out = await next(args);
        if (watched) await this.sample(`after ${op}`);
        return out;
      },
      { step: 'initialize', name: 'rotation-sampler' },
    );
  }) as unknown as ClientHook;

  /** A sample right before every mutating Heroku request the controller sends. */
  watchHeroku(): void {
    this.world.fake.gateRequests((method, path) => (method !== 'GET' && this.subjects.length > 0 ? this.sample(`before Heroku ${method} ${path}`) : undefined));
  }

  failures(): Sample[] {
    return this.samples.filter((s) => !s.ok);
  }

  keysSeen(): Set<string> {
    return new Set(this.samples.map((s) => s.keyId));
  }
}

interface Stand {
  world: World;
  clock: MovableClock;
  sampler: Sampler;
  runner: PassRunner;
  team: string;
}

const stands: Stand[] = [];

/**
 * A world of its own (Heroku fake, database, instance id) on the authenticating moto: the
 * controller is the file's principal, and the team is linked to the principal's role.
 */
async function stand(env: Record<string, string> = {}): Promise<Stand> {
  const world = await createWorld();
  Object.assign(world.env, motoAuthEnv(principal), env);
  world.controllerCredentials = { accessKeyId: principal.accessKeyId, secretAccessKey: principal.secretAccessKey };
  const clock = new MovableClock();
  clock.real();
  const sampler = new Sampler(world);
  sampler.watchHeroku();
  const team = `acme-${randomBytes(3).toString('hex')}`;
  world.fake.addTeam({ name: team });
  const runtime = await gcRuntime(world);
  try {
    await runtime.store.links.save({
      teamId: world.fake.team(team).id,
      teamName: team,
      accountId: principal.roleAccountId,
      region: null,
      auth: { kind: 'role', roleArn: principal.assumableRoleArn, externalId: null },
    });
  } finally {
    await runtime.close();
  }
  const s: Stand = { world, clock, sampler, runner: new PassRunner(world, { clock, onClient: sampler.hook }), team };
  stands.push(s);
  return s;
}

afterEach(async () => {
  for (const s of stands.splice(0)) {
    await s.runner.close();
    s.world.fake.gateRequests(undefined);
    expect(s.world.fake.schemaViolations).toEqual([]);
    await s.world.stop();
  }
});

/** One full pass on the stand's clock, with a sample after it; fails on any failed action. */
async function pass(s: Stand, label: string) {
  const { pass: result, mutations } = await s.runner.pass();
  const failed = (result.execution?.outcomes ?? []).filter((o) => o.result === 'failed').map((o) => `${o.action.kind}: ${o.error}`);
  expect(failed, `${label}: failed actions`).toEqual([]);
  expect(result.accounts.every((a) => a.complete), `${label}: account read`).toBe(true);
  await s.sampler.sample(`after pass: ${label}`);
  return { result, mutations: mutations.filter((m) => !m.startsWith('AssumeRole')), kinds: result.actions.map((a) => a.kind) };
}

/**
 * Add-ons on apps of their own, provisioned by one pass; each attached app becomes a sampled
 * subject. With `shared`, each add-on is also attached to a second app, as SHARED.
 */
async function provision(s: Stand, n: number, options: { shared?: boolean } = {}): Promise<{ addonId: string; app: string; sharedApp: string | null; record: ResourceRecord }[]> {
  const made = [];
  for (let i = 0; i < n; i++) {
    const app = `${s.team}-app-${i}`;
    s.world.fake.addApp({ name: app, team: s.team, region: 'us' });
    const addonId = s.world.fake.addAddon({ app, service: SERVICE, attachmentName: ATTACHMENT }).id;
    let sharedApp: string | null = null;
    if (options.shared) {
      sharedApp = `${s.team}-other-${i}`;
      s.world.fake.addApp({ name: sharedApp, team: s.team, region: 'us' });
      s.world.fake.attach({ addon: addonId, app: sharedApp, name: 'SHARED' });
    }
    made.push({ addonId, app, sharedApp });
  }
  const { kinds } = await pass(s, 'provisioning');
  expect(kinds).toContain('create-access-key');
  const out = [];
  for (const m of made) {
    const record = await store(s, (st) => st.resources.get(m.addonId));
    expect(record?.accessKeyId).toBeTruthy();
    const userArn = (await iam.send(new GetUserCommand({ UserName: record!.userName }))).User!.Arn!;
    for (const [app, attachment] of [[m.app, ATTACHMENT], ...(m.sharedApp ? [[m.sharedApp, 'SHARED']] : [])] as [string, string][]) {
      expect(s.world.fake.configVars(app)[keyIdVar(attachment)]).toBe(record!.accessKeyId);
      s.sampler.subjects.push({ app, attachment, userName: record!.userName, userArn });
    }
    out.push({ ...m, record: record! });
  }
  await s.sampler.sample('after provisioning');
  expect(s.sampler.failures()).toEqual([]);
  return out;
}

/** The store, through a short-lived runtime of the world's configuration. */
async function store<T>(s: Stand, fn: (st: Awaited<ReturnType<typeof gcRuntime>>['store']) => Promise<T>): Promise<T> {
  const runtime = await gcRuntime(s.world);
  try {
    return await fn(runtime.store);
  } finally {
    await runtime.close();
  }
}

async function okSteps(s: Stand, addonId: string): Promise<string[]> {
  return (await journalRows(s.world, `addon_id = $1 AND phase = 'ok'`, [addonId])).map((r) => r.action);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('key rotation on the stand (authenticating moto)', () => {
  it('a key older than KEY_MAX_AGE is rotated end to end; the key the app holds authenticates, and is active, at every sampled instant', async () => {
    const s = await stand();
    const [a] = await provision(s, 1, { shared: true });
    const oldKey = a!.record.accessKeyId!;
    const oldSecret = a!.record.secretAccessKey!;

    // 91 days later: past KEY_MAX_AGE (90d), so past its due point (80-90%) too.
    s.clock.real(91 * DAY);
    const first = await pass(s, 'rotation starts');
    expect(first.kinds).toEqual(['create-rotation-key', 'deliver-config-vars', 'deliver-config-vars', 'mark-rotation-delivered']);
    expect(first.result.actions[0]!.reason).toBe('key-past-max-age');
    expect(first.mutations).toEqual(['CreateAccessKey']);
    const record = (await store(s, (st) => st.resources.get(a!.addonId)))!;
    const newKey = record.accessKeyId!;
    expect(newKey).not.toBe(oldKey);
    expect(s.world.fake.configVars(a!.app)[KEY_ID_VAR]).toBe(newKey);
    expect(s.world.fake.configVars(a!.app)[SECRET_VAR]).toBe(record.secretAccessKey);
    expect(s.world.fake.configVars(a!.sharedApp!)[keyIdVar('SHARED')]).toBe(newKey);
    expect(await keysOf(record.userName)).toEqual([{ id: newKey, status: 'Active' }, { id: oldKey, status: 'Active' }].sort((x, y) => x.id.localeCompare(y.id)));

    // Within the overlap: nothing; the old key stays on (a rolling restart may still use it).
    s.clock.advance(30 * MINUTE);
    expect((await pass(s, 'within the overlap')).kinds).toEqual([]);
    expect((await keysOf(record.userName)).find((k) => k.id === oldKey)?.status).toBe('Active');

    s.clock.advance(31 * MINUTE);
    const deactivation = await pass(s, 'overlap over');
    expect(deactivation.kinds).toEqual(['deactivate-access-key']);
    expect(deactivation.mutations).toEqual(['UpdateAccessKey']);
    expect(await keysOf(record.userName)).toEqual([{ id: newKey, status: 'Active' }, { id: oldKey, status: 'Inactive' }].sort((x, y) => x.id.localeCompare(y.id)));

    s.clock.advance(23 * HOUR);
    expect((await pass(s, 'within the grace')).kinds).toEqual([]);
    s.clock.advance(61 * MINUTE);
    const deletion = await pass(s, 'grace over');
    expect(deletion.kinds).toEqual(['delete-access-key']);
    expect(deletion.mutations).toEqual(['DeleteAccessKey']);
    expect(deletion.result.rotations).toEqual([]);

    // Afterwards: exactly one key, active, the record's; the app holds it; the old one is gone.
    expect(await keysOf(record.userName)).toEqual([{ id: newKey, status: 'Active' }]);
    expect((await store(s, (st) => st.resources.get(a!.addonId)))!.accessKeyId).toBe(newKey);
    expect(s.world.fake.configVars(a!.app)[KEY_ID_VAR]).toBe(newKey);
    expect(s.world.fake.configVars(a!.sharedApp!)[keyIdVar('SHARED')]).toBe(newKey);
    expect(await callerArn({ accessKeyId: oldKey, secretAccessKey: oldSecret })).toEqual({ error: 'InvalidClientTokenId' });
    expect(await store(s, (st) => st.rotations.get(a!.addonId))).toBeNull();
    // moto stamps the new key's CreateDate with the real time, so on this clock (92 days on) it
    // would look due again: the pass that finds nothing to do runs on a clock at its true age.
    s.clock.real(2 * HOUR);
    expect((await pass(s, 'settled')).kinds).toEqual([]);

    // Every instant sampled: the held key worked. Both keys were sampled, and the instants right
    // around each step of the rotation were among them.
    expect(s.sampler.failures()).toEqual([]);
    expect(s.sampler.keysSeen()).toEqual(new Set([oldKey, newKey]));
    const where = new Set(s.sampler.samples.map((x) => x.where));
    for (const w of ['before CreateAccessKey', 'after CreateAccessKey', 'before UpdateAccessKey', 'after UpdateAccessKey', 'before DeleteAccessKey', 'after DeleteAccessKey']) expect(where).toContain(w);
    expect([...where].some((w) => w.startsWith('before Heroku PATCH'))).toBe(true);
    expect(new Set(s.sampler.samples.map((x) => x.app))).toEqual(new Set([a!.app, a!.sharedApp]));
    console.log(`age rotation: ${s.sampler.samples.length} samples (2 apps) at ${where.size} kinds of instant, all authenticated as ${a!.record.userName} with an Active key`);

    const steps = await okSteps(s, a!.addonId);
    for (const step of ['create-rotation-key', 'deliver-config-vars', 'mark-rotation-delivered', 'deactivate-access-key', 'delete-access-key']) expect(steps).toContain(step);
    await expectNoSecretInJournal(s.world, [oldSecret, record.secretAccessKey!]);
  });

  it('`rotate --compromised`: the old key is inactive at the end of the pass that delivered the new one, and deleted after the grace even though it was used', async () => {
    const s = await stand();
    const [a] = await provision(s, 1);
    const oldKey = a!.record.accessKeyId!;
    const oldSecret = a!.record.secretAccessKey!;
    const requested = await store(s, (st) =>
      st.rotations.request([{ addonId: a!.addonId, accountId: principal.roleAccountId, oldAccessKeyId: oldKey, trigger: 'emergency', requestedBy: 'cli:ops@example.com' }], s.clock.real()),
    );
    expect(requested).toBe(true);

    const emergency = await pass(s, 'emergency rotation');
    expect(emergency.kinds).toEqual(['create-rotation-key', 'deliver-config-vars', 'mark-rotation-delivered', 'deactivate-access-key']);
    expect(emergency.result.actions[0]!.reason).toBe('key-compromised');
    expect(emergency.mutations).toEqual(['CreateAccessKey', 'UpdateAccessKey']);
    const record = (await store(s, (st) => st.resources.get(a!.addonId)))!;
    const newKey = record.accessKeyId!;
    expect(s.world.fake.configVars(a!.app)[KEY_ID_VAR]).toBe(newKey);
    expect((await keysOf(record.userName)).map((k) => [k.id, k.status])).toEqual(
      [[newKey, 'Active'], [oldKey, 'Inactive']].sort((x, y) => x[0]!.localeCompare(y[0]!)),
    );
    const rotation = (await store(s, (st) => st.rotations.get(a!.addonId)))!;
    expect(rotation.step).toBe('deactivated');
    expect(rotation.deliveredAt!.getTime()).toBe(rotation.deactivatedAt!.getTime());

    // Whoever holds the leaked key uses it after its deactivation (moto lets the inactive key sign).
    await sleep(1_100);
    expect(await callerArn({ accessKeyId: oldKey, secretAccessKey: oldSecret })).toEqual({ arn: s.sampler.subjects[0]!.userArn });

    s.clock.real(DAY + MINUTE);
    const deletion = await pass(s, 'grace over');
    expect(deletion.kinds).toEqual(['delete-access-key']);
    expect(await keysOf(record.userName)).toEqual([{ id: newKey, status: 'Active' }]);
    const deleted = await journalRows(s.world, `addon_id = $1 AND action = 'delete-access-key' AND phase = 'ok'`, [a!.addonId]);
    expect(deleted.at(-1)!.detail).toMatchObject({ usedAfterDeactivation: true });
    expect(await store(s, (st) => st.rotations.get(a!.addonId))).toBeNull();

    expect(s.sampler.failures()).toEqual([]);
    expect(s.sampler.keysSeen()).toEqual(new Set([oldKey, newKey]));
    const steps = await okSteps(s, a!.addonId);
    for (const step of ['create-rotation-key', 'deliver-config-vars', 'mark-rotation-delivered', 'deactivate-access-key', 'delete-access-key']) expect(steps).toContain(step);
  });

  it('a rotated-out key used after its deactivation is switched back on at the end of the grace, not deleted (GetAccessKeyLastUsed); an unused one beside it is deleted', async () => {
    // A short overlap, waited out in real time: moto stamps every use with the real time, so the
    // clock stays at it until the deactivation. The check before it (no use of the old key in the
    // overlap's second half) then sees only the uses from before the delivery.
    const s = await stand({ ROTATION_OVERLAP: '4s' });
    const [used, unused] = await provision(s, 2);
    s.sampler.subjects = [];
    const requested = await store(s, (st) =>
      st.rotations.request(
        [used!, unused!].map((x) => ({ addonId: x.addonId, accountId: principal.roleAccountId, oldAccessKeyId: x.record.accessKeyId!, trigger: 'on-demand' as const, requestedBy: 'cli:ops@example.com' })),
        s.clock.real(),
      ),
    );
    expect(requested).toBe(true);
    expect((await pass(s, 'rotations start')).kinds.filter((k) => k === 'mark-rotation-delivered')).toHaveLength(2);
    await sleep(4_100);
    s.clock.real();
    expect((await pass(s, 'overlap over')).kinds).toEqual(['deactivate-access-key', 'deactivate-access-key']);
    const deactivatedAt = (await store(s, (st) => st.rotations.get(used!.addonId)))!.deactivatedAt!;

    // Something forgotten still uses the old key of `used` after its deactivation.
    await sleep(1_100);
    expect(await callerArn({ accessKeyId: used!.record.accessKeyId!, secretAccessKey: used!.record.secretAccessKey! })).toMatchObject({ arn: expect.stringContaining(used!.record.userName) });

    s.clock.real(DAY + MINUTE);
    const { pass: result } = await s.runner.pass();
    await s.sampler.sample('after pass: grace over');
    const outcomes = result.execution!.outcomes.map((o) => ({ addonId: o.action.addonId, kind: o.action.kind, result: o.result, error: o.error ?? null }));
    expect(outcomes).toContainEqual({ addonId: unused!.addonId, kind: 'delete-access-key', result: 'applied', error: null });
    const refused = outcomes.find((o) => o.addonId === used!.addonId && o.kind === 'delete-access-key');
    expect(refused?.result).toBe('failed');
    expect(refused?.error).toMatch(/was used at .* after its deactivation .* switched back on, not deleted/);

    // `used`: both keys active again, the rotation waits for an operator; `unused`: one key.
    const usedNow = (await store(s, (st) => st.resources.get(used!.addonId)))!;
    expect((await keysOf(used!.record.userName)).map((k) => k.status)).toEqual(['Active', 'Active']);
    expect((await keysOf(used!.record.userName)).map((k) => k.id)).toContain(used!.record.accessKeyId);
    expect((await store(s, (st) => st.rotations.get(used!.addonId)))!.step).toBe('reactivated');
    const unusedNow = (await store(s, (st) => st.resources.get(unused!.addonId)))!;
    expect(await keysOf(unused!.record.userName)).toEqual([{ id: unusedNow.accessKeyId, status: 'Active' }]);
    expect(await store(s, (st) => st.rotations.get(unused!.addonId))).toBeNull();

    // The next pass reports it blocked and deletes nothing.
    const after = await s.runner.pass();
    const blocked = after.pass.actions.filter((x) => x.addonId === used!.addonId);
    expect(blocked.map((x) => [x.kind, x.reason])).toEqual([['blocked', 'rotated-key-in-use']]);
    expect(after.mutations).toEqual([]);
    expect(await keysOf(used!.record.userName)).toHaveLength(2);
    expect(usedNow.accessKeyId).not.toBe(used!.record.accessKeyId);
    expect(deactivatedAt.getTime()).toBeLessThanOrEqual(Date.now());

    expect(s.sampler.failures()).toEqual([]);
  });
  it('an old key used late in the overlap (GetAccessKeyLastUsed) is not switched off: the rotation stops for an operator, both keys work', async () => {
    const s = await stand({ ROTATION_OVERLAP: '4s' });
    const [a] = await provision(s, 1);
    s.sampler.subjects = [];
    const requested = await store(s, (st) =>
      st.rotations.request([{ addonId: a!.addonId, accountId: principal.roleAccountId, oldAccessKeyId: a!.record.accessKeyId!, trigger: 'on-demand', requestedBy: 'cli:ops@example.com' }], s.clock.real()),
    );
    expect(requested).toBe(true);
    expect((await pass(s, 'rotation starts')).kinds).toContain('mark-rotation-delivered');
    // Something the delivery did not reach uses the old key in the overlap's second half.
    await sleep(2_100);
    expect(await callerArn({ accessKeyId: a!.record.accessKeyId!, secretAccessKey: a!.record.secretAccessKey! })).toMatchObject({ arn: expect.stringContaining(a!.record.userName) });
    await sleep(2_100);
    s.clock.real();
    const { pass: result } = await s.runner.pass();
    const refused = result.execution!.outcomes.find((o) => o.action.kind === 'deactivate-access-key');
    expect(refused?.result).toBe('failed');
    expect(refused?.error).toMatch(/something else still uses it, so it stays active and the rotation stops/);
    expect((await keysOf(a!.record.userName)).map((k) => k.status)).toEqual(['Active', 'Active']);
    expect((await store(s, (st) => st.rotations.get(a!.addonId)))!.step).toBe('reactivated');
    const after = await s.runner.pass();
    expect(after.pass.actions.filter((x) => x.addonId === a!.addonId).map((x) => [x.kind, x.reason])).toEqual([['blocked', 'rotated-key-in-use']]);
    expect(after.mutations).toEqual([]);
  });

  it('a delivery that fails mid-rotation (Heroku 503 on one app): the old key stays on; the overlap starts only once every attachment holds the new key', async () => {
    const s = await stand();
    const [a] = await provision(s, 1, { shared: true });
    const oldKey = a!.record.accessKeyId!;
    const other = s.world.fake.app(a!.sharedApp!);
    s.world.fake.failNext({ method: 'PATCH', path: new RegExp(`^/apps/(${other.id}|${other.name})/config-vars$`), status: 503 });

    const t = s.clock.real(91 * DAY);
    const { pass: first } = await s.runner.pass();
    await s.sampler.sample('after pass: delivery failed');
    const failed = first.execution!.outcomes.filter((o) => o.result === 'failed');
    expect(failed.map((o) => [o.action.kind, o.action.kind === 'deliver-config-vars' ? o.action.appName : ''])).toEqual([['deliver-config-vars', a!.sharedApp]]);
    expect(first.execution!.outcomes.find((o) => o.action.kind === 'mark-rotation-delivered')?.result).not.toBe('applied');
    const newKey = (await store(s, (st) => st.resources.get(a!.addonId)))!.accessKeyId!;
    expect(newKey).not.toBe(oldKey);
    expect(s.world.fake.configVars(a!.sharedApp!)[keyIdVar('SHARED')]).toBe(oldKey);
    expect((await store(s, (st) => st.rotations.get(a!.addonId)))!.step).toBe('creating');

    // Half an hour later the delivery lands; the overlap counts from then, not from the new key.
    s.clock.set(new Date(t.getTime() + 30 * MINUTE));
    // Deliveries stop at the first failure (the attachments' order varies): every app still
    // holding the old key gets the new one now, and no other.
    const behind = [a!.app, a!.sharedApp!].filter((app) => s.world.fake.configVars(app)[keyIdVar(app === a!.app ? ATTACHMENT : 'SHARED')] === oldKey);
    expect(behind).toContain(a!.sharedApp);
    const again = await pass(s, 'delivery again');
    expect(again.kinds).toEqual([...behind.map(() => 'deliver-config-vars'), 'mark-rotation-delivered']);
    expect(again.result.actions.flatMap((x) => (x.kind === 'deliver-config-vars' ? [x.appName] : [])).sort()).toEqual([...behind].sort());
    expect(s.world.fake.configVars(a!.sharedApp!)[keyIdVar('SHARED')]).toBe(newKey);
    s.clock.set(new Date(t.getTime() + 61 * MINUTE));
    expect((await pass(s, 'an hour after the new key, half an hour after its last delivery')).kinds).toEqual([]);
    expect((await keysOf(a!.record.userName)).find((k) => k.id === oldKey)?.status).toBe('Active');
    s.clock.set(new Date(t.getTime() + 91 * MINUTE));
    expect((await pass(s, 'overlap over')).kinds).toEqual(['deactivate-access-key']);
    expect((await keysOf(a!.record.userName)).find((k) => k.id === oldKey)?.status).toBe('Inactive');

    expect(s.sampler.failures()).toEqual([]);
    expect(s.sampler.keysSeen()).toEqual(new Set([oldKey, newKey]));
  });
});
