/**
 * The IAM user sink against moto, through `AwsConnector` (AssumeRole into a random account).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateUserCommand,
  GetUserCommand,
  ListAccessKeysCommand,
  ListUserTagsCommand,
  PutUserPolicyCommand,
  IAMClient,
} from '@aws-sdk/client-iam';
import { AwsConnector } from '../../../src/sinks/aws/connect.js';
import {
  createAccessKey,
  createUser,
  deleteAccessKey,
  deleteUserPolicy,
  listAccessKeys,
  listUsers,
  putUserPolicy,
  tagUser,
} from '../../../src/sinks/aws/iam-user.js';
import { errorCode } from '../../../src/sinks/aws/aws-errors.js';
import { TAG, USER_POLICY_NAME, canonicalPolicy, userPolicyDocument } from '../../../src/reconciler/spec.js';
import { accountClientConfig, motoAuthPrincipal, motoAuthUrl } from '../../support/stand.js';
import { connectorOptions, newConnector, randomAccountId, rawClients, roleTarget } from './support.js';

const PATH = '/heroku-s3-controller/';
const tagsFor = (addonId: string) => ({ [TAG.instance]: 'test', [TAG.addonId]: addonId, [TAG.appId]: 'app-1', [TAG.teamId]: 'team-1' });

let connector: AwsConnector;
let accountId: string;
let iam: IAMClient;
let raw: Awaited<ReturnType<typeof rawClients>>;
let n = 0;
const userName = () => `hsc-user-${++n}-${Math.random().toString(36).slice(2, 8)}`;

/** A sleep that never waits, recording the delays asked for. */
function fakeSleep() {
  const delays: number[] = [];
  return { delays, sleep: async (ms: number) => void delays.push(ms) };
}

beforeAll(async () => {
  connector = newConnector();
  accountId = randomAccountId();
  iam = connector.connect(roleTarget(accountId)).iam;
  raw = await rawClients(accountId);
});

afterAll(() => connector.destroy());

describe('users', () => {
  it('createUser with tags + putUserPolicy: listUsers returns it with tags and the URL-decoded inline policy', async () => {
    const name = userName();
    await createUser(iam, name, PATH, tagsFor('addon-a'));
    const policy = userPolicyDocument('hsc-bucket-a');
    await putUserPolicy(iam, name, USER_POLICY_NAME, policy);

    const users = await listUsers(iam, PATH);
    const user = users.get(name);
    expect(user).toEqual({
      userName: name,
      path: PATH,
      tags: tagsFor('addon-a'),
      inlinePolicies: { [USER_POLICY_NAME]: expect.any(String) },
      accessKeys: null,
    });
    const doc = user!.inlinePolicies[USER_POLICY_NAME]!;
    expect(doc.trimStart().startsWith('{')).toBe(true);
    expect(JSON.parse(doc)).toEqual(JSON.parse(policy));
    expect(canonicalPolicy(doc)).toBe(canonicalPolicy(policy));
  });

  it('decodes policy documents with characters that need escaping', async () => {
    const name = userName();
    await createUser(iam, name, PATH, tagsFor('addon-esc'));
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 's3:GetObject',
          Resource: 'arn:aws:s3:::bucket/a b+c%20d&e=f/ü/*',
        },
      ],
    });
    await putUserPolicy(iam, name, 'odd', policy);
    const user = (await listUsers(iam, PATH)).get(name)!;
    expect(JSON.parse(user.inlinePolicies.odd!)).toEqual(JSON.parse(policy));
  });

  it('excludes users outside the path, including look-alike paths', async () => {
    const inside = userName();
    const nested = userName();
    const root = userName();
    const other = userName();
    const lookAlike = userName();
    await createUser(iam, inside, PATH, tagsFor('addon-in'));
    await createUser(iam, nested, `${PATH}team-x/`, tagsFor('addon-nested'));
    await raw.iam.send(new CreateUserCommand({ UserName: root }));
    await raw.iam.send(new CreateUserCommand({ UserName: other, Path: '/other/' }));
    await raw.iam.send(new CreateUserCommand({ UserName: lookAlike, Path: '/heroku-s3-controller-old/' }));

    const users = await listUsers(iam, PATH);
    expect(users.has(inside)).toBe(true);
    // IAM path-prefix semantics: sub-paths are under the path.
    expect(users.get(nested)?.path).toBe(`${PATH}team-x/`);
    for (const name of [root, other, lookAlike]) expect(users.has(name)).toBe(false);
    for (const user of users.values()) expect(user.path.startsWith(PATH)).toBe(true);
    // A user without inline policies or tags is listed with empty maps.
    await raw.iam.send(new CreateUserCommand({ UserName: `${inside}-bare`, Path: PATH }));
    expect((await listUsers(iam, PATH)).get(`${inside}-bare`)).toEqual({
      userName: `${inside}-bare`,
      path: PATH,
      tags: {},
      inlinePolicies: {},
      accessKeys: null,
    });
  });

  it('createUser twice does not throw, and does not change the existing user', async () => {
    const name = userName();
    await createUser(iam, name, PATH, tagsFor('first'));
    await expect(createUser(iam, name, PATH, tagsFor('first'))).resolves.toBeUndefined();
    expect((await listUsers(iam, PATH)).get(name)?.tags).toEqual(tagsFor('first'));
  });

  it('"already exists" is success only for a user with our tags: any other is refused, untouched (issue 13, defect 4)', async () => {
    const name = userName();
    await createUser(iam, name, PATH, tagsFor('first'));
    await expect(createUser(iam, name, PATH, tagsFor('second'))).rejects.toMatchObject({ name: 'TerminalError', code: 'not-owned' });
    expect((await listUsers(iam, PATH)).get(name)?.tags).toEqual(tagsFor('first'));
    // A same-named user elsewhere, with no tags: refused with where it is, never adopted.
    const foreign = userName();
    await raw.iam.send(new CreateUserCommand({ UserName: foreign, Path: '/' }));
    await expect(createUser(iam, foreign, PATH, tagsFor('x'))).rejects.toThrow(`IAM user ${foreign} already exists (under /) without this controller's ownership tags`);
    const got = await raw.iam.send(new GetUserCommand({ UserName: foreign }));
    expect(got.User?.Path).toBe('/');
    expect((await raw.iam.send(new ListUserTagsCommand({ UserName: foreign }))).Tags ?? []).toEqual([]);
    // The caller decides what "ours" means (the executor: this instance and this add-on).
    await expect(createUser(iam, name, PATH, tagsFor('second'), () => true)).resolves.toBeUndefined();
  });

  it('other createUser errors pass through (AccessDenied on the authenticating server)', async () => {
    // moto validates no user name, path or tag: use a principal that may not call iam:CreateUser.
    const url = motoAuthUrl();
    const principal = motoAuthPrincipal();
    const denied = new AwsConnector({ ...connectorOptions(), aws: { region: 'us-east-1', endpoints: { s3: url, iam: url, sts: url, tagging: url }, forcePathStyle: true } });
    try {
      const clients = denied.connect({
        accountId: principal.accountId,
        auth: { kind: 'keys', accessKeyId: principal.accessKeyId, secretAccessKey: principal.secretAccessKey },
      });
      await expect(createUser(clients.iam, userName(), PATH, tagsFor('denied'))).rejects.toSatisfy((e: unknown) => errorCode(e) === 'AccessDenied');
    } finally {
      denied.destroy();
    }
  });

  it('tagUser adds and overwrites tags', async () => {
    const name = userName();
    await createUser(iam, name, PATH, { a: '1', b: '2' });
    await tagUser(iam, name, { b: '3', c: '4' });
    expect((await listUsers(iam, PATH)).get(name)?.tags).toEqual({ a: '1', b: '3', c: '4' });
  });

  it('putUserPolicy replaces the document; deleteUserPolicy removes it and tolerates a missing one', async () => {
    const name = userName();
    await createUser(iam, name, PATH, tagsFor('addon-p'));
    await putUserPolicy(iam, name, USER_POLICY_NAME, userPolicyDocument('first-bucket'));
    await putUserPolicy(iam, name, USER_POLICY_NAME, userPolicyDocument('second-bucket'));
    let user = (await listUsers(iam, PATH)).get(name)!;
    expect(Object.keys(user.inlinePolicies)).toEqual([USER_POLICY_NAME]);
    expect(canonicalPolicy(user.inlinePolicies[USER_POLICY_NAME]!)).toBe(canonicalPolicy(userPolicyDocument('second-bucket')));

    // Another inline policy (not ours) stays when ours goes.
    await raw.iam.send(new PutUserPolicyCommand({ UserName: name, PolicyName: 'someone-elses', PolicyDocument: userPolicyDocument('x') }));
    await deleteUserPolicy(iam, name, USER_POLICY_NAME);
    user = (await listUsers(iam, PATH)).get(name)!;
    expect(Object.keys(user.inlinePolicies)).toEqual(['someone-elses']);
    await expect(deleteUserPolicy(iam, name, USER_POLICY_NAME)).resolves.toBeUndefined();
    await expect(deleteUserPolicy(iam, userName(), USER_POLICY_NAME)).resolves.toBeUndefined();
  });

  it('putUserPolicy for a user IAM does not know yet retries NoSuchEntity (injected sleep), then gives up', async () => {
    const { delays, sleep } = fakeSleep();
    const err = await putUserPolicy(iam, userName(), USER_POLICY_NAME, userPolicyDocument('b'), sleep).then(
      () => null,
      (e: unknown) => e,
    );
    expect(errorCode(err)).toBe('NoSuchEntity');
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 8000]);
  });
});

describe('access keys', () => {
  it('createAccessKey / listAccessKeys / deleteAccessKey', async () => {
    const name = userName();
    await createUser(iam, name, PATH, tagsFor('addon-k'));
    expect(await listAccessKeys(iam, name)).toEqual([]);

    const before = Date.now() - 60_000;
    const first = await createAccessKey(iam, name);
    expect(first.accessKeyId).toMatch(/^[A-Z0-9]{16,128}$/);
    expect(first.secretAccessKey.length).toBeGreaterThanOrEqual(20);
    // AWS's CreateDate comes back with the key, and again with every listing.
    expect(first.createdAt?.getTime()).toBeGreaterThan(before);
    const second = await createAccessKey(iam, name);
    expect(second.accessKeyId).not.toBe(first.accessKeyId);
    expect((await listAccessKeys(iam, name)).sort((a, b) => a.accessKeyId.localeCompare(b.accessKeyId))).toEqual(
      [
        { accessKeyId: first.accessKeyId, status: 'Active', createdAt: first.createdAt },
        { accessKeyId: second.accessKeyId, status: 'Active', createdAt: second.createdAt },
      ].sort((a, b) => a.accessKeyId.localeCompare(b.accessKeyId)),
    );

    await deleteAccessKey(iam, name, first.accessKeyId);
    expect(await listAccessKeys(iam, name)).toEqual([{ accessKeyId: second.accessKeyId, status: 'Active', createdAt: second.createdAt }]);
    // Deleting it again, or a key that never existed, or for a user that does not exist: fine.
    await expect(deleteAccessKey(iam, name, first.accessKeyId)).resolves.toBeUndefined();
    await expect(deleteAccessKey(iam, name, 'AKIAIOSFODNN7EXAMPLE')).resolves.toBeUndefined();
    await expect(deleteAccessKey(iam, userName(), second.accessKeyId)).resolves.toBeUndefined();
    expect((await raw.iam.send(new ListAccessKeysCommand({ UserName: name }))).AccessKeyMetadata?.map((k) => k.AccessKeyId)).toEqual([
      second.accessKeyId,
    ]);
  });

  it('a third key is refused (AWS allows two per user)', async () => {
    const name = userName();
    await createUser(iam, name, PATH, tagsFor('addon-3'));
    await createAccessKey(iam, name);
    await createAccessKey(iam, name);
    // IAM's LimitExceeded surfaces as LimitExceededException, which the SDK classifies as
    // throttling and retries with backoff (several seconds with the connector's maxAttempts of 5):
    // try the third key with a client that makes one attempt.
    const once = new IAMClient({ ...(await accountClientConfig(accountId)), maxAttempts: 1 });
    const err = await createAccessKey(once, name).then(
      () => null,
      (e: unknown) => e,
    );
    expect(errorCode(err)).toBe('LimitExceeded');
    expect(err).toMatchObject({ name: 'LimitExceededException', $metadata: { httpStatusCode: 409, attempts: 1 } });
    once.destroy();
    expect(await listAccessKeys(iam, name)).toHaveLength(2);
  });

  it('createAccessKey for a user IAM does not know yet retries NoSuchEntity (injected sleep), then gives up', async () => {
    const { delays, sleep } = fakeSleep();
    const missing = userName();
    const err = await createAccessKey(iam, missing, sleep).then(
      () => null,
      (e: unknown) => e,
    );
    expect(errorCode(err)).toBe('NoSuchEntity');
    expect(delays).toHaveLength(6); // 7 attempts
  });

  it('createAccessKey succeeds once the user appears while it is retrying', async () => {
    const name = userName();
    const delays: number[] = [];
    // The user "propagates" during the second wait.
    const sleep = async (ms: number) => {
      delays.push(ms);
      if (delays.length === 2) await createUser(iam, name, PATH, tagsFor('late'));
    };
    const key = await createAccessKey(iam, name, sleep);
    expect(delays).toEqual([250, 500]);
    expect(await listAccessKeys(iam, name)).toEqual([{ accessKeyId: key.accessKeyId, status: 'Active', createdAt: key.createdAt }]);
  });

  it('listAccessKeys of a missing user fails with NoSuchEntity', async () => {
    await expect(listAccessKeys(iam, userName())).rejects.toSatisfy((e: unknown) => errorCode(e) === 'NoSuchEntity');
  });
});
