import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { CreateBucketCommand, GetObjectCommand, ListBucketsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateUserCommand, IAMClient, ListUsersCommand } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import {
  MOTO_DEFAULT_ACCOUNT_ID,
  accountClientConfig,
  assumeRoleCredentials,
  freshPostgresDatabase,
  motoClientConfig,
  motoUrl,
  postgresUrl,
  randomAccountId,
  randomName,
} from '../support/stand.js';

describe('test stand: moto (no auth)', () => {
  it('serves S3 path-style with static credentials', async () => {
    expect(motoUrl()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const s3 = new S3Client(motoClientConfig());
    const bucket = randomName('stand');
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: 'hello' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'k' }));
    expect(await got.Body?.transformToString()).toBe('hello');
    const who = await new STSClient(motoClientConfig()).send(new GetCallerIdentityCommand({}));
    expect(who.Account).toBe(MOTO_DEFAULT_ACCOUNT_ID);
  });

  it('randomAccountId gives 12 digits, never the default account', () => {
    for (let i = 0; i < 1000; i++) {
      const id = randomAccountId();
      expect(id).toMatch(/^[1-9]\d{11}$/);
      expect(id).not.toBe(MOTO_DEFAULT_ACCOUNT_ID);
    }
  });

  it('AssumeRole reaches separate accounts: own identity, own buckets, own IAM users', async () => {
    const [a, b] = [randomAccountId(), randomAccountId()];
    const [cfgA, cfgB] = await Promise.all([accountClientConfig(a), accountClientConfig(b)]);
    expect((await new STSClient(cfgA).send(new GetCallerIdentityCommand({}))).Account).toBe(a);
    expect((await new STSClient(cfgB).send(new GetCallerIdentityCommand({}))).Account).toBe(b);

    const [s3A, s3B] = [new S3Client(cfgA), new S3Client(cfgB)];
    const [bucketA, bucketB] = [randomName('stand-a'), randomName('stand-b')];
    await s3A.send(new CreateBucketCommand({ Bucket: bucketA }));
    await s3B.send(new CreateBucketCommand({ Bucket: bucketB }));
    const names = async (s3: S3Client) => ((await s3.send(new ListBucketsCommand({}))).Buckets ?? []).map((x) => x.Name);
    expect(await names(s3A)).toEqual([bucketA]);
    expect(await names(s3B)).toEqual([bucketB]);

    const iamA = new IAMClient(cfgA);
    await iamA.send(new CreateUserCommand({ UserName: 'stand-user' }));
    const usersB = (await new IAMClient(cfgB).send(new ListUsersCommand({}))).Users ?? [];
    expect(usersB).toEqual([]);
    expect(((await iamA.send(new ListUsersCommand({}))).Users ?? []).map((u) => u.Arn)).toEqual([`arn:aws:iam::${a}:user/stand-user`]);
  });

  it('S3 bucket names are global across accounts (as on AWS)', async () => {
    const bucket = randomName('stand-g');
    await new S3Client(await accountClientConfig(randomAccountId())).send(new CreateBucketCommand({ Bucket: bucket }));
    await expect(new S3Client(await accountClientConfig(randomAccountId())).send(new CreateBucketCommand({ Bucket: bucket }))).rejects.toMatchObject({
      name: 'BucketAlreadyExists',
    });
  });

  it('AssumeRole validates nothing without auth: missing role, odd ARNs all succeed', async () => {
    const acct = randomAccountId();
    const creds = await assumeRoleCredentials(acct, { roleName: 'does-not-exist' });
    const who = await new STSClient(motoClientConfig(creds)).send(new GetCallerIdentityCommand({}));
    expect(who).toMatchObject({ Account: acct, Arn: `arn:aws:sts::${acct}:assumed-role/does-not-exist/stand` });
    const sts = new STSClient(motoClientConfig());
    for (const RoleArn of ['not-an-arn', 'arn:aws:iam::12345:role/x', `arn:aws:iam::${acct}:user/x`]) {
      const out = await sts.send(new AssumeRoleCommand({ RoleArn, RoleSessionName: 's' }));
      expect(out.Credentials?.AccessKeyId).toBeTruthy();
    }
  });
});

describe('test stand: PostgreSQL', () => {
  it('gives fresh, separate databases and drops them', async () => {
    expect(postgresUrl()).toMatch(/^postgres(ql)?:\/\//);
    const [one, two] = await Promise.all([freshPostgresDatabase('stand'), freshPostgresDatabase('stand')]);
    expect(one.name).not.toBe(two.name);
    const c1 = new pg.Client({ connectionString: one.url });
    const c2 = new pg.Client({ connectionString: two.url });
    c1.on('error', () => {}); // terminated by drop() below
    await c1.connect();
    await c2.connect();
    try {
      await c1.query('CREATE TABLE t (v text)');
      await c1.query("INSERT INTO t VALUES ('x')");
      expect((await c1.query('SELECT v FROM t')).rows).toEqual([{ v: 'x' }]);
      expect((await c1.query('SELECT current_database() AS d')).rows[0].d).toBe(one.name);
      await expect(c2.query('SELECT v FROM t')).rejects.toThrow(/does not exist/);
    } finally {
      await c2.end();
    }
    // drop() works with a connection still open (WITH (FORCE)).
    await one.drop();
    await c1.end().catch(() => {});
    await two.drop();
    const admin = new pg.Client({ connectionString: postgresUrl() });
    await admin.connect();
    try {
      const left = await admin.query('SELECT datname FROM pg_database WHERE datname = ANY($1)', [[one.name, two.name]]);
      expect(left.rows).toEqual([]);
    } finally {
      await admin.end();
    }
  });
});
