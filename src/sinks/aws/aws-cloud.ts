/**
 * The AWS adapter of the reconciler's cloud port ({@link CloudAccounts}): account handles over the
 * connector's cached, paced clients, with the users observed here and each kind's resources by
 * that kind's adapter (wired in runtime.ts). It speaks the API and its error codes; every value it
 * writes comes from the caller.
 */
import type { LinkAuth } from '../../store/types.js';
import type { CloudAccount, CloudAccounts, UserHandle } from '../../reconciler/ports.js';
import { hasCode, type Sleep } from './aws-errors.js';
import type { AccountClients, AwsConnector } from './connect.js';
import * as iam from './iam-user.js';
import { observeAccount, observeAddonResources, observeUser, type KindAdapters } from './observe-account.js';
import * as userTeardown from './user-teardown.js';

export class AwsCloud implements CloudAccounts {
  constructor(
    private readonly connector: AwsConnector,
    /** The adapter of each kind that makes resources beyond the user (runtime.ts wires them with the kinds). */
    private readonly kinds: KindAdapters,
    private readonly options: { sleep?: Sleep } = {},
  ) {}

  account(target: { accountId: string; auth: LinkAuth }): CloudAccount {
    return awsAccount(this.connector.connect(target), this.kinds, this.options.sleep);
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

function awsAccount(clients: AccountClients, kinds: KindAdapters, sleep: Sleep | undefined): CloudAccount {
  return {
    accountId: clients.accountId,
    observe: (expected, options) => observeAccount(clients, expected, options, kinds),
    observeAddon: (expected, options) => observeAddonResources(clients, expected, options, kinds),
    observeUser: (userName) => observeUser(clients, userName),
    resource: (kind, name, region) => {
      const adapter = kinds.get(kind);
      if (!adapter) throw new Error(`no adapter writes resources of kind "${kind}"`);
      return adapter.handle(clients, name, region, sleep);
    },
    user: (name) => userHandle(clients, name, sleep),
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
    setAccessKeyStatus: (accessKeyId, status) => iam.setAccessKeyStatus(client, userName, accessKeyId, status),
    accessKeyLastUsed: (accessKeyId) => iam.accessKeyLastUsed(client, accessKeyId),
    deleteAllAccessKeys: () => userTeardown.deleteAllAccessKeys(client, userName),
    deleteAllPolicies: async () => ({
      inline: await userTeardown.deleteInlinePolicies(client, userName),
      detached: await userTeardown.detachManagedPolicies(client, userName),
    }),
    delete: () => userTeardown.deleteUser(client, userName),
  };
}
