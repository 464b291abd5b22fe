/**
 * The AWS adapter of the reconciler's cloud port ({@link CloudAccounts}): account handles over the
 * connector's cached, paced clients. It speaks the API and its error codes; every value it writes
 * comes from the caller.
 */
import type { LinkAuth } from '../../store/types.js';
import type { BucketHandle, CloudAccount, CloudAccounts, UserHandle } from '../../reconciler/ports.js';
import { hasCode, type Sleep } from './aws-errors.js';
import * as teardown from './bucket-teardown.js';
import type { AccountClients, AwsConnector } from './connect.js';
import * as iam from './iam-user.js';
import { observeAccount, observeAddonResources, observeUser } from './observe-account.js';
import * as s3 from './s3-bucket.js';
import * as userTeardown from './user-teardown.js';

export class AwsCloud implements CloudAccounts {
  constructor(
    private readonly connector: AwsConnector,
    private readonly options: { sleep?: Sleep } = {},
  ) {}

  account(target: { accountId: string; auth: LinkAuth }): CloudAccount {
    return awsAccount(this.connector.connect(target), this.options.sleep);
  }

  async keyIdentity(accountId: string, key: { accessKeyId: string; secretAccessKey: string }): Promise<string> {
    const sts = this.connector.stsFor({ kind: 'keys', ...key }, accountId);
    try {
      return await iam.callerArn(sts);
    } finally {
      sts.destroy();
    }
  }
}

function awsAccount(clients: AccountClients, sleep: Sleep | undefined): CloudAccount {
  return {
    accountId: clients.accountId,
    observe: (expected, options) => observeAccount(clients, expected, options),
    observeAddon: (expected, options) => observeAddonResources(clients, expected, options),
    observeUser: (userName) => observeUser(clients, userName),
    bucket: (name, region) => bucketHandle(clients, name, region),
    user: (name) => userHandle(clients, name, sleep),
  };
}

function bucketHandle(clients: AccountClients, bucket: string, region: string): BucketHandle {
  const client = clients.s3(region);
  return {
    create: (tags, objectOwnership) => s3.createBucket(client, bucket, region, tags, objectOwnership),
    tags: async () => {
      try {
        return await s3.getBucketTags(client, bucket);
      } catch (err) {
        if (hasCode(err, 'NoSuchBucket')) return null;
        throw err;
      }
    },
    tag: (ours, mayTag) => s3.tagBucket(client, bucket, ours, mayTag),
    mergeTags: (set, remove) => s3.mergeBucketTags(client, bucket, set, remove),
    settings: () => s3.getBucketSettings(client, bucket),
    putPublicAccessBlock: (block) => s3.putPublicAccessBlock(client, bucket, block),
    putObjectOwnership: (ownership) => s3.putOwnershipControls(client, bucket, ownership),
    putEncryption: (algorithm) => s3.putEncryption(client, bucket, algorithm),
    putLifecycle: (spec) => s3.putLifecycle(client, bucket, spec),
    putVersioning: (enabled) => s3.putVersioning(client, bucket, enabled),
    putCors: (rules) => s3.putCors(client, bucket, rules),
    putPolicy: (document) => s3.putBucketPolicy(client, bucket, document),
    deletePolicy: () => teardown.deleteBucketPolicy(client, bucket),
    emptyStep: (maxKeys) => teardown.emptyBucketStep(client, bucket, { maxKeys }),
    expiresEverything: (spec) => teardown.hasExpireEverythingLifecycle(client, bucket, spec),
    expireEverything: (spec) => teardown.putExpireEverythingLifecycle(client, bucket, spec),
    delete: () => teardown.deleteBucket(client, bucket),
  };
}

function userHandle(clients: AccountClients, userName: string, sleep: Sleep | undefined): UserHandle {
  const client = clients.iam;
  return {
    create: (path, tags, owns) => iam.createUser(client, userName, path, tags, owns),
    readTags: () => iam.readUserTags(client, userName),
    tag: (tags) => iam.tagUser(client, userName, tags),
    untag: (keys) => iam.untagUser(client, userName, keys),
    putPolicy: (policyName, document) => iam.putUserPolicy(client, userName, policyName, document, sleep),
    deletePolicy: (policyName) => iam.deleteUserPolicy(client, userName, policyName),
    accessKeys: async () => {
      try {
        return await iam.listAccessKeys(client, userName);
      } catch (err) {
        if (hasCode(err, 'NoSuchEntity', 'NoSuchEntityException')) return [];
        throw err;
      }
    },
    createAccessKey: () => iam.createAccessKey(client, userName, sleep),
    deleteAccessKey: (accessKeyId) => iam.deleteAccessKey(client, userName, accessKeyId),
    deleteAllAccessKeys: () => userTeardown.deleteAllAccessKeys(client, userName),
    deleteAllPolicies: async () => ({
      inline: await userTeardown.deleteInlinePolicies(client, userName),
      detached: await userTeardown.detachManagedPolicies(client, userName),
    }),
    delete: () => userTeardown.deleteUser(client, userName),
  };
}
