/**
 * Shared helpers for the AWS sink tests: an `AwsConnector` pointed at the stand's moto server,
 * acting in a random account of the test's own through AssumeRole (so test files never collide).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { IAMClient } from '@aws-sdk/client-iam';
import { AwsConnector, type AccountTarget, type ConnectorOptions } from '../../../src/sinks/aws/connect.js';
import { accountClientConfig, motoUrl, randomAccountId, randomName } from '../../support/stand.js';

export const INSTANCE_ID = 'test';

export function connectorOptions(extra: Partial<ConnectorOptions> = {}): ConnectorOptions {
  const url = motoUrl();
  return {
    aws: { region: 'us-east-1', endpoints: { s3: url, iam: url, sts: url, tagging: url }, forcePathStyle: true },
    instanceId: INSTANCE_ID,
    baseCredentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    ...extra,
  };
}

export function newConnector(extra: Partial<ConnectorOptions> = {}): AwsConnector {
  return new AwsConnector(connectorOptions(extra));
}

export function roleTarget(accountId: string): AccountTarget {
  return { accountId, auth: { kind: 'role', roleArn: `arn:aws:iam::${accountId}:role/x`, externalId: null } };
}

/** Plain SDK clients acting in `accountId`, for arranging and checking state beside the sinks. */
export async function rawClients(accountId: string): Promise<{ s3(region?: string): S3Client; iam: IAMClient }> {
  const config = await accountClientConfig(accountId);
  const cache = new Map<string, S3Client>();
  return {
    s3(region = 'us-east-1') {
      let c = cache.get(region);
      if (!c) cache.set(region, (c = new S3Client({ ...config, region })));
      return c;
    },
    iam: new IAMClient(config),
  };
}

/** A bucket name unique across the whole (shared) moto server: bucket names are global. */
export function bucketName(prefix = 'hsc-t-'): string {
  return `${prefix}${randomName('b').slice(2)}`;
}

export { randomAccountId };
