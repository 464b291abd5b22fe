// Reading the config vars heroku-s3-controller delivers to an app (attachment name BUCKET):
//   BUCKET_BUCKET_NAME, BUCKET_AWS_REGION, BUCKET_AWS_ACCESS_KEY_ID, BUCKET_AWS_SECRET_ACCESS_KEY
// Uploads a file and prints a presigned download URL valid for 15 minutes. The bucket is private
// and denies plain-HTTP requests, so share objects with presigned URLs, never public ACLs.
//
//   npm install @aws-sdk/client-s3 @aws-sdk/s3-request-presigner
//   node bucket.mjs report.pdf
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

export function bucketFromEnv(env = process.env, prefix = 'BUCKET') {
  const need = (name) => {
    const value = env[`${prefix}_${name}`];
    if (!value) throw new Error(`${prefix}_${name} is not set: is the add-on attached to this app as ${prefix}?`);
    return value;
  };
  const client = new S3Client({
    region: need('AWS_REGION'),
    credentials: { accessKeyId: need('AWS_ACCESS_KEY_ID'), secretAccessKey: need('AWS_SECRET_ACCESS_KEY') },
    // Only for trying this against a local stand-in such as moto; unset on Heroku.
    ...(env.S3_ENDPOINT_URL ? { endpoint: env.S3_ENDPOINT_URL, forcePathStyle: true } : {}),
  });
  return { client, bucket: need('BUCKET_NAME') };
}

export async function uploadAndShare({ client, bucket }, key, body, contentType = 'application/octet-stream') {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
  return getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 15 * 60 });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node bucket.mjs <file>');
    process.exit(2);
  }
  const s3 = bucketFromEnv();
  const url = await uploadAndShare(s3, `uploads/${path.basename(file)}`, await readFile(file));
  console.log(url);
  s3.client.destroy();
}
