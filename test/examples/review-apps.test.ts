/**
 * The review-apps example in examples/review-apps/: its app.json declares the add-on under the
 * attachment name whose config vars bucket.mjs reads (the names the controller really delivers),
 * and bucket.mjs really uploads and shares a file through a presigned URL (run against moto, with
 * an IAM user's key as an app would have).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { describe, expect, it } from 'vitest';
import { configVarNames } from '../../src/reconciler/spec.js';
import { accountClientConfig, motoUrl, randomAccountId } from '../support/stand.js';

const DIR = path.resolve(import.meta.dirname, '../../examples/review-apps');

interface BucketExample {
  bucketFromEnv(env: Record<string, string>, prefix?: string): { client: S3Client; bucket: string };
  uploadAndShare(s3: { client: S3Client; bucket: string }, key: string, body: Buffer | string, contentType?: string): Promise<string>;
}

describe('examples/review-apps', () => {
  it('app.json declares the add-on as BUCKET in every environment, and bucket.mjs reads exactly the delivered names', () => {
    const app = JSON.parse(readFileSync(path.join(DIR, 'app.json'), 'utf8')) as {
      addons: { plan: string; as: string }[];
      environments: Record<string, { addons: { plan: string; as: string }[] }>;
    };
    for (const addons of [app.addons, app.environments.review!.addons, app.environments.test!.addons]) {
      expect(addons).toEqual([{ plan: 's3-bucket:standard', as: 'BUCKET' }]);
    }
    const source = readFileSync(path.join(DIR, 'bucket.mjs'), 'utf8');
    const names = configVarNames('BUCKET');
    for (const name of [names.bucketName, names.region, names.accessKeyId, names.secretAccessKey]) {
      expect(source, name).toContain(name.replace(/^BUCKET_/, "need('").replace(/$/, "')"));
    }
  });

  it('bucket.mjs uploads with the delivered key and shares the object through a presigned URL', async () => {
    const accountId = randomAccountId();
    const config = await accountClientConfig(accountId);
    const bucket = `example-${randomBytes(4).toString('hex')}`;
    const admin = new S3Client(config);
    const iam = new IAMClient(config);
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    await iam.send(new CreateUserCommand({ UserName: 'app' }));
    const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: 'app' }));
    admin.destroy();
    iam.destroy();

    const example = (await import(pathToFileURL(path.join(DIR, 'bucket.mjs')).href)) as BucketExample;
    const names = configVarNames('BUCKET');
    const s3 = example.bucketFromEnv({
      [names.bucketName]: bucket,
      [names.region]: 'us-east-1',
      [names.accessKeyId]: AccessKey!.AccessKeyId!,
      [names.secretAccessKey]: AccessKey!.SecretAccessKey!,
      S3_ENDPOINT_URL: motoUrl(),
    });
    const url = await example.uploadAndShare(s3, 'uploads/hello.txt', 'hello from a review app', 'text/plain');
    s3.client.destroy();
    expect(url).toContain('X-Amz-Signature=');
    expect(url).toContain('X-Amz-Expires=900');
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('hello from a review app');
    expect(() => example.bucketFromEnv({})).toThrow(/BUCKET_AWS_REGION is not set: is the add-on attached to this app as BUCKET\?/);
  });
});
