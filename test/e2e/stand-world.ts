/**
 * The end-to-end world on the test stand: a Heroku fake with linked and unlinked teams, two moto
 * accounts reached through AssumeRole, a fresh PostgreSQL database, and the controller's environment.
 */
import { randomBytes } from 'node:crypto';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { S3Client } from '@aws-sdk/client-s3';
import { IAMClient } from '@aws-sdk/client-iam';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { HerokuFake } from '../support/heroku-fake/index.js';
import { accountClientConfig, freshPostgresDatabase, motoUrl, randomAccountId, type FreshDatabase } from '../support/stand.js';

export const SERVICE = 's3-bucket';

export interface World {
  fake: HerokuFake;
  db: FreshDatabase;
  accountA: string;
  accountB: string;
  instanceId: string;
  env: Record<string, string>;
  /** What AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY give the CLI, for in-process runtimes. */
  controllerCredentials: { accessKeyId: string; secretAccessKey: string };
  roleArn(accountId: string): string;
  s3(accountId: string): Promise<S3Client>;
  iam(accountId: string): Promise<IAMClient>;
  stop(): Promise<void>;
}

export async function createWorld(): Promise<World> {
  const fake = await HerokuFake.start();
  const db = await freshPostgresDatabase('e2e');
  const accountA = randomAccountId();
  const accountB = randomAccountId();
  const instanceId = `e2e-${randomBytes(3).toString('hex')}`;
  const env = {
    DATABASE_URL: db.url,
    FERNET_KEYS: SecretBox.generateKey(),
    HEROKU_API_TOKEN: fake.token,
    HEROKU_API_URL: fake.url,
    ADDON_SERVICES: SERVICE,
    INSTANCE_ID: instanceId,
    AWS_ENDPOINT_URL: motoUrl(),
    AWS_REGION: 'us-east-1',
    // The controller's own identity, used only to assume the links' roles.
    AWS_ACCESS_KEY_ID: 'controller',
    AWS_SECRET_ACCESS_KEY: 'controller',
    LOG_LEVEL: 'warn',
    // moto never throttles: no client-side pacing here (throttled-convergence.test.ts tests it).
    AWS_IAM_MUTATIONS_PER_SECOND: '1000',
    AWS_S3_MUTATIONS_PER_SECOND: '1000',
  };
  const clients: { close(): void }[] = [];
  return {
    fake,
    db,
    accountA,
    accountB,
    instanceId,
    env,
    controllerCredentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
    roleArn: (accountId) => `arn:aws:iam::${accountId}:role/heroku-s3-controller`,
    async s3(accountId) {
      const client = new S3Client(await accountClientConfig(accountId));
      clients.push({ close: () => client.destroy() });
      return client;
    },
    async iam(accountId) {
      const client = new IAMClient(await accountClientConfig(accountId));
      clients.push({ close: () => client.destroy() });
      return client;
    },
    async stop() {
      for (const c of clients) c.close();
      await fake.stop();
      await db.drop();
    },
  };
}

/** The account moto attributes a key to: proves delivered credentials are real ones. */
export async function callerAccount(accessKeyId: string, secretAccessKey: string): Promise<string | undefined> {
  const sts = new STSClient({ endpoint: motoUrl(), region: 'us-east-1', credentials: { accessKeyId, secretAccessKey } });
  try {
    return (await sts.send(new GetCallerIdentityCommand({}))).Account;
  } finally {
    sts.destroy();
  }
}
