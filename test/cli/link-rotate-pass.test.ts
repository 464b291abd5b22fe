/**
 * "No pass failing in between" (issue 16): a controller that runs on with a team linked by access
 * keys takes the new key from `link --rotate` on its next pass, in the same process, so the
 * customer may delete the old key right away. On the authenticating moto, where a deleted key
 * really stops working. (It fails, with InvalidClientTokenId on the second pass, when the
 * connector's clients are cached by account alone and not renewed when the link's key changes.)
 */
import { randomBytes } from 'node:crypto';
import { CreateAccessKeyCommand, CreateUserCommand, DeleteAccessKeyCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { SecretBox } from '../../src/crypto/secret-box.js';
import type { PassResult } from '../../src/reconciler/controller.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { silentLogger } from '../../src/util/log.js';
import { runCli } from '../support/cli.js';
import { HerokuFake } from '../support/heroku-fake/index.js';
import { freshPostgresDatabase, motoAuthAdmin, motoAuthEnv, motoAuthPrincipal, motoAuthUrl, type FreshDatabase } from '../support/stand.js';

const SERVICE = 's3-bucket';
const ALLOW_ALL = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] });

let fake: HerokuFake;
let db: FreshDatabase;
let env: Record<string, string>;
let adminIam: IAMClient;
let runtime: Runtime | undefined;
const userName = `rotate-linker-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  fake = await HerokuFake.start();
  fake.addTeam({ name: 'acme' });
  fake.addApp({ name: 'acme-web', team: 'acme', region: 'us' });
  fake.addAddon({ app: 'acme-web', service: SERVICE, attachmentName: 'BUCKET' });
  db = await freshPostgresDatabase('rotate');
  env = {
    DATABASE_URL: db.url,
    FERNET_KEYS: SecretBox.generateKey(),
    HEROKU_API_TOKEN: fake.token,
    HEROKU_API_URL: fake.url,
    ADDON_SERVICES: SERVICE,
    INSTANCE_ID: `rot-${randomBytes(3).toString('hex')}`,
    BUCKET_PREFIX: `rot${randomBytes(3).toString('hex')}-`,
    LOG_LEVEL: 'warn',
    AWS_IAM_MUTATIONS_PER_SECOND: '1000',
    AWS_S3_MUTATIONS_PER_SECOND: '1000',
    ...motoAuthEnv(motoAuthPrincipal()),
  };
  const admin = motoAuthAdmin();
  adminIam = new IAMClient({ endpoint: motoAuthUrl(), region: 'us-east-1', credentials: { accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey }, maxAttempts: 1 });
  // The customer's IAM user for the controller, in the admin's account, allowed everything.
  await adminIam.send(new CreateUserCommand({ UserName: userName }));
  await adminIam.send(new PutUserPolicyCommand({ UserName: userName, PolicyName: 'controller', PolicyDocument: ALLOW_ALL }));
});

afterAll(async () => {
  await runtime?.close();
  adminIam?.destroy();
  expect(fake.schemaViolations).toEqual([]);
  await fake.stop();
  await db.drop();
});

async function newKey(): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  const key = (await adminIam.send(new CreateAccessKeyCommand({ UserName: userName }))).AccessKey!;
  return { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
}

async function keyWorks(key: { accessKeyId: string; secretAccessKey: string }): Promise<boolean> {
  const sts = new STSClient({ endpoint: motoAuthUrl(), region: 'us-east-1', credentials: key, maxAttempts: 1 });
  try {
    await sts.send(new GetCallerIdentityCommand({}));
    return true;
  } catch {
    return false;
  } finally {
    sts.destroy();
  }
}

function expectClean(pass: PassResult): void {
  expect(pass.accounts.map((a) => ({ accountId: a.accountId, complete: a.complete, error: a.error }))).toEqual([{ accountId: motoAuthAdmin().accountId, complete: true, error: null }]);
  expect(pass.execution?.outcomes.filter((o) => o.result === 'failed') ?? []).toEqual([]);
  expect(pass.execution?.failed).toBe(0);
}

describe('link --rotate beside a running controller', () => {
  it('the next pass in the same process uses the new key; the old one may be deleted at once', async () => {
    const k1 = await newKey();
    const linked = await runCli(['link', '--team', 'acme', '--access-key-id', k1.accessKeyId, '--secret-access-key', '-'], env, k1.secretAccessKey);
    expect(linked.stderr).toBe('');
    expect(linked.code).toBe(0);

    runtime = await createRuntime(loadConfig(env), silentLogger());
    const first = await runtime.controller.reconcileOnce();
    expectClean(first);
    expect(first.execution!.applied).toBeGreaterThan(0); // the bucket, user and key were made with K1
    expect(fake.configVars('acme-web').BUCKET_AWS_ACCESS_KEY_ID).toBeTruthy();

    const k2 = await newKey();
    const rotated = await runCli(['link', '--team', 'acme', '--access-key-id', k2.accessKeyId, '--secret-access-key', '-', '--rotate'], env, k2.secretAccessKey);
    expect(rotated.stderr).toBe('');
    expect(rotated.code).toBe(0);
    await adminIam.send(new DeleteAccessKeyCommand({ UserName: userName, AccessKeyId: k1.accessKeyId }));
    expect(await keyWorks(k1)).toBe(false); // moto really refuses the deleted key now

    const second = await runtime.controller.reconcileOnce();
    expectClean(second);
    const third = await runtime.controller.reconcileOnce();
    expectClean(third);
    expect(third.actions).toEqual([]); // in sync, through the new key
    expect((await runtime.store.links.list()).map((l) => l.auth.kind === 'keys' && l.auth.accessKeyId)).toEqual([k2.accessKeyId]);
  });
});
