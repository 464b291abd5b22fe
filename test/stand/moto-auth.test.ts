/**
 * The authenticating moto server and its bootstrap principals (see test/support/moto-auth.ts).
 * Error names recorded here are what the link command's bad-input tests can rely on.
 */
import { describe, expect, it } from 'vitest';
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { motoAuthPrincipal, motoAuthUrl, motoClientConfig, newMotoAuthPrincipal, randomName, type AwsCredentials } from '../support/stand.js';

function sts(creds: AwsCredentials): STSClient {
  return new STSClient({ ...motoClientConfig(creds, motoAuthUrl()), maxAttempts: 1 });
}

describe('test stand: moto with authentication', () => {
  const p = () => motoAuthPrincipal();
  const key = () => ({ accessKeyId: p().accessKeyId, secretAccessKey: p().secretAccessKey });

  it('right key: GetCallerIdentity returns the user and its account', async () => {
    const who = await sts(key()).send(new GetCallerIdentityCommand({}));
    expect(who.Account).toBe(p().accountId);
    expect(who.Arn).toBe(p().userArn);
    expect(p().accountId).not.toBe(p().roleAccountId);
  });

  it('wrong secret: SignatureDoesNotMatch (403)', async () => {
    const err = await sts({ ...key(), secretAccessKey: `${p().secretAccessKey}x` }).send(new GetCallerIdentityCommand({})).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } });
    const err2 = await sts({ ...key(), secretAccessKey: 'wrong' }).send(new AssumeRoleCommand({ RoleArn: p().assumableRoleArn, RoleSessionName: 's' })).catch((e: unknown) => e);
    expect(err2).toMatchObject({ name: 'SignatureDoesNotMatch' });
  });

  it('unknown access key id (incl. test/test): InvalidClientTokenId (403)', async () => {
    for (const creds of [{ accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'x' }, { accessKeyId: 'test', secretAccessKey: 'test' }]) {
      const err = await sts(creds).send(new GetCallerIdentityCommand({})).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'InvalidClientTokenId', $metadata: { httpStatusCode: 403 } });
    }
  });

  it('AssumeRole of the allowed role works and acts in the role account', async () => {
    const out = await sts(key()).send(new AssumeRoleCommand({ RoleArn: p().assumableRoleArn, RoleSessionName: 'stand-test' }));
    const c = out.Credentials!;
    const creds = { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
    const who = await sts(creds).send(new GetCallerIdentityCommand({}));
    expect(who.Account).toBe(p().roleAccountId);
    // The role has an allow-everything policy.
    const s3 = new S3Client({ ...motoClientConfig(creds, motoAuthUrl()), maxAttempts: 1 });
    const bucket = randomName('stand-auth');
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    expect(((await s3.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name)).toContain(bucket);
    // A wrong session token is refused.
    const bad = await sts({ ...creds, sessionToken: 'nope' }).send(new GetCallerIdentityCommand({})).catch((e: unknown) => e);
    expect(bad).toMatchObject({ name: 'InvalidClientTokenId' });
  });

  it('AssumeRole of any other role: AccessDenied (403), existing or not', async () => {
    for (const RoleArn of [p().forbiddenRoleArn, `arn:aws:iam::${p().roleAccountId}:role/does-not-exist`]) {
      const err = await sts(key()).send(new AssumeRoleCommand({ RoleArn, RoleSessionName: 's' })).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
      expect((err as Error).message).toContain(`User: ${p().userArn} is not authorized to perform: sts:AssumeRole`);
    }
  });

  it('the user may do nothing else (S3 ListBuckets: AccessDenied)', async () => {
    const s3 = new S3Client({ ...motoClientConfig(key(), motoAuthUrl()), maxAttempts: 1 });
    await expect(s3.send(new ListBucketsCommand({}))).rejects.toMatchObject({ name: 'AccessDenied' });
  });

  it('newMotoAuthPrincipal makes an independent principal', async () => {
    const mine = await newMotoAuthPrincipal();
    expect(mine.accessKeyId).not.toBe(p().accessKeyId);
    expect(mine.assumableRoleArn).not.toBe(p().assumableRoleArn);
    const myKey = { accessKeyId: mine.accessKeyId, secretAccessKey: mine.secretAccessKey };
    expect((await sts(myKey).send(new GetCallerIdentityCommand({}))).Arn).toBe(mine.userArn);
    await sts(myKey).send(new AssumeRoleCommand({ RoleArn: mine.assumableRoleArn, RoleSessionName: 's' }));
    await expect(sts(myKey).send(new AssumeRoleCommand({ RoleArn: p().assumableRoleArn, RoleSessionName: 's' }))).rejects.toMatchObject({ name: 'AccessDenied' });
  });
});
