/**
 * In-memory fakes of the reconciler's ports (issue 14): a cloud of accounts holding buckets and
 * IAM users, Heroku's desired state as plain data, and apps' config vars. They keep what they
 * are told, answer observations the way the AWS adapter does (same shapes, deep reads only where
 * asked), and log every write, so the controller and the executor are tested without a stand.
 */
import type {
  AddonRead,
  AddonWhereabouts,
  AppConfigVars,
  BucketSettings,
  CloudAccount,
  CloudAccounts,
  DesiredAddon,
  DesiredStateSource,
  ExpectedResources,
  ObserveOptions,
  ObservedAccount,
  ObservedBucket,
  ObservedResource,
  ObservedUser,
  ResourceHandle,
  TeamDesiredState,
  UnknownResource,
  UserHandle,
} from '../../src/reconciler/ports.js';
import type { BucketHandle } from '../../src/reconciler/kinds/bucket/ports.js';
import type { Link } from '../../src/store/types.js';
import { TerminalError } from '../../src/util/errors.js';

export interface MemoryBucket {
  region: string;
  createdAt: Date;
  tags: Record<string, string>;
  settings: BucketSettings;
  objects: number;
}

export interface MemoryUser {
  path: string;
  tags: Record<string, string>;
  policies: Record<string, string>;
  keys: { accessKeyId: string; secretAccessKey: string; status: 'Active' | 'Inactive'; createdAt?: Date; lastUsed?: Date }[];
}

const NO_SETTINGS = (): BucketSettings => ({ publicAccessBlock: null, encryption: null, objectOwnership: null, policy: null, lifecycleRules: [], versioning: null, cors: null });

/** An error shaped like the AWS SDK's (a name and an HTTP status). */
export function awsError(name: string, status: number): Error {
  return Object.assign(new Error(`${name} (fake)`), { name, $metadata: { httpStatusCode: status } });
}

/** A resource of another kind than a bucket: a name, tags and a creation time (any simple AWS resource). */
export interface MemoryResource {
  region: string;
  createdAt: Date;
  tags: Record<string, string>;
}

/** The handle the in-memory cloud gives for a resource of another kind than a bucket. */
export interface MemoryResourceHandle extends ResourceHandle {
  create(tags: Record<string, string>): Promise<void>;
  delete(): Promise<void>;
}

export class MemoryAccount {
  readonly buckets = new Map<string, MemoryBucket>();
  /** Resources of other kinds, by kind then name: what a new kind's adapter would observe and write. */
  readonly resources = new Map<string, Map<string, MemoryResource>>();
  readonly users = new Map<string, MemoryUser>();
  /** Set to make every call into this account fail with it. */
  failWith: Error | null = null;
  /** The account's IAM user quota (GetAccountSummary's UsersQuota). */
  userQuota = 5000;
  /** Every bucket settings read, as `deep <bucket>` or `exposure <bucket>`, in order. */
  readonly reads: string[] = [];

  constructor(
    readonly accountId: string,
    private readonly cloud: MemoryCloud,
  ) {}

  private check(): void {
    if (this.failWith) throw this.failWith;
  }

  private write(what: string): void {
    this.check();
    this.cloud.writes.push(`${this.accountId} ${what}`);
  }

  handle(): CloudAccount {
    return {
      accountId: this.accountId,
      observe: async (expected, options) => this.observe(expected, options),
      observeAddon: async (expected) => {
        const observed = this.observe({ resources: expected.resource ? [expected.resource] : [], users: [expected.user] }, { instanceTag: { key: '', value: '' }, addonTagKey: '', namePrefix: expected.resource?.name ?? '\u0000', iamPath: '/', listRegion: '' }, false);
        // As the adapter: the quota is read when the add-on's user is missing.
        if (observed.complete && !observed.users.has(expected.user.name)) observed.iamUserQuota = { used: this.users.size, quota: this.userQuota };
        return observed;
      },
      observeUser: async (userName) => {
        const observed = await this.observe({ resources: [], users: [{ name: userName, deep: false }] }, { instanceTag: { key: '', value: '' }, addonTagKey: '', namePrefix: '\u0000', iamPath: '\u0000', listRegion: '' }, false);
        return observed;
      },
      // A bucket, or a simple resource of any other kind (see MemoryResourceHandle).
      resource: (kind, name, region) => (kind === 'bucket' ? this.bucketHandle(name, region) : this.resourceHandle(kind, name, region)),
      user: (name) => this.userHandle(name),
    };
  }

  private observe(expected: ExpectedResources, options: ObserveOptions, inventory = true): ObservedAccount {
    try {
      this.check();
    } catch (err) {
      return { accountId: this.accountId, complete: false, error: (err as Error).message, resources: new Map(), users: new Map(), iamUsersInAccount: 0, iamUserQuota: null };
    }
    const observed: ObservedAccount = {
      accountId: this.accountId,
      complete: true,
      error: null,
      resources: new Map(),
      users: new Map(),
      iamUsersInAccount: this.users.size,
      // As GetAccountSummary: read by the full pass's inventory only.
      iamUserQuota: inventory ? { used: this.users.size, quota: this.userQuota } : null,
    };
    const deepBuckets = new Map(expected.resources.filter((r) => r.kind === 'bucket').map((b) => [b.name, b]));
    const buckets = new Map<string, ObservedBucket>();
    for (const [name, bucket] of this.buckets) {
      const wanted = deepBuckets.get(name);
      if (!name.startsWith(options.namePrefix) && !wanted) continue;
      // As the adapter: every setting for a deep check, the public-exposure ones for an exposure check.
      const { publicAccessBlock, objectOwnership, policy } = bucket.settings;
      const settings = wanted?.deep ? structuredClone(bucket.settings) : wanted?.exposure ? structuredClone({ publicAccessBlock, objectOwnership, policy }) : null;
      if (settings) this.reads.push(`${wanted!.deep ? 'deep' : 'exposure'} ${name}`);
      buckets.set(name, { name, creationDate: bucket.createdAt, tags: { ...bucket.tags }, settings });
    }
    observed.resources.set('bucket', buckets);
    // Every other kind as its adapter would: those with the prefix or expected, and (in a full
    // pass) those with this instance's tag that nothing expected names.
    const expectedNames = new Set(expected.resources.map((r) => `${r.kind}/${r.name}`));
    if (inventory) observed.unknownResources = new Map([['bucket', new Map()]]);
    for (const [kind, resources] of this.resources) {
      const found = new Map<string, ObservedResource>();
      const unknown = new Map<string, UnknownResource>();
      for (const [name, resource] of resources) {
        const isExpected = expectedNames.has(`${kind}/${name}`);
        if (isExpected || (inventory && name.startsWith(options.namePrefix))) found.set(name, { name, creationDate: resource.createdAt, tags: { ...resource.tags }, settings: null });
        if (inventory && !isExpected && resource.tags[options.instanceTag.key] === options.instanceTag.value && resource.tags[options.addonTagKey]) {
          unknown.set(name, { name, region: resource.region, tags: { ...resource.tags } });
        }
      }
      observed.resources.set(kind, found);
      observed.unknownResources?.set(kind, unknown);
    }
    const deepUsers = new Map(expected.users.map((u) => [u.name, u.deep]));
    for (const [name, user] of this.users) {
      if (!(inventory && user.path.startsWith(options.iamPath)) && !deepUsers.has(name)) continue;
      const observedUser: ObservedUser = { userName: name, path: user.path, tags: { ...user.tags }, inlinePolicies: { ...user.policies }, accessKeys: null };
      if (deepUsers.get(name)) observedUser.accessKeys = user.keys.map((k) => ({ accessKeyId: k.accessKeyId, status: k.status, createdAt: k.createdAt ?? null }));
      observed.users.set(name, observedUser);
    }
    return observed;
  }

  private resourceHandle(kind: string, name: string, region: string): MemoryResourceHandle {
    const ofKind = () => this.resources.get(kind) ?? this.resources.set(kind, new Map()).get(kind)!;
    return {
      create: async (tags) => {
        this.write(`Create ${kind} ${name}`);
        if (!ofKind().has(name)) ofKind().set(name, { region, createdAt: this.cloud.now(), tags: { ...tags } });
      },
      tags: async () => {
        this.check();
        const resource = ofKind().get(name);
        return resource ? { ...resource.tags } : null;
      },
      mergeTags: async (set, remove = []) => {
        const resource = ofKind().get(name);
        if (!resource) return;
        this.write(`Tag ${kind} ${name}`);
        resource.tags = { ...resource.tags, ...set };
        for (const key of remove) delete resource.tags[key];
      },
      delete: async () => {
        this.write(`Delete ${kind} ${name}`);
        ofKind().delete(name);
      },
    };
  }

  private bucketHandle(name: string, region: string): BucketHandle {
    const get = () => {
      const bucket = this.buckets.get(name);
      if (!bucket) throw awsError('NoSuchBucket', 404);
      return bucket;
    };
    const set = <K extends keyof BucketSettings>(key: K, what: string) => async (value: BucketSettings[K]) => {
      this.write(`${what} ${name}`);
      get().settings[key] = value;
    };
    return {
      create: async (tags, objectOwnership) => {
        this.write(`CreateBucket ${name}`);
        if (this.buckets.has(name)) return;
        this.buckets.set(name, { region, createdAt: this.cloud.now(), tags: { ...tags }, settings: { ...NO_SETTINGS(), objectOwnership }, objects: 0 });
      },
      tags: async () => {
        this.check();
        const bucket = this.buckets.get(name);
        return bucket ? { ...bucket.tags } : null;
      },
      tag: async (ours, mayTag) => {
        const bucket = get();
        if (!mayTag(bucket.tags)) throw new TerminalError(`bucket ${name} carries another owner's tags`, 'not-owned');
        this.write(`PutBucketTagging ${name}`);
        bucket.tags = { ...bucket.tags, ...ours };
      },
      mergeTags: async (setTags, remove = []) => {
        const bucket = this.buckets.get(name);
        if (!bucket) return;
        this.write(`PutBucketTagging ${name}`);
        bucket.tags = { ...bucket.tags, ...setTags };
        for (const key of remove) delete bucket.tags[key];
      },
      settings: async () => {
        this.check();
        return structuredClone(get().settings);
      },
      putPublicAccessBlock: set('publicAccessBlock', 'PutPublicAccessBlock'),
      putObjectOwnership: set('objectOwnership', 'PutBucketOwnershipControls'),
      putEncryption: async (algorithm) => set('encryption', 'PutBucketEncryption')({ algorithm, kmsKeyId: null }),
      putLifecycle: async (spec) =>
        set('lifecycleRules', 'PutBucketLifecycleConfiguration')([
          ...spec.otherRules.map((raw) => ({ id: (raw as { ID?: string }).ID ?? '', enabled: true, prefix: '', abortIncompleteMultipartUploadDays: null, raw })),
          { id: spec.ours.id, enabled: true, prefix: '', abortIncompleteMultipartUploadDays: spec.ours.abortIncompleteMultipartUploadDays, raw: {} },
        ]),
      putVersioning: async (enabled) => set('versioning', 'PutBucketVersioning')(enabled ? 'Enabled' : 'Suspended'),
      putCors: set('cors', 'PutBucketCors'),
      putPolicy: set('policy', 'PutBucketPolicy'),
      deletePolicy: async () => set('policy', 'DeleteBucketPolicy')(null),
      emptyStep: async (maxKeys) => {
        const bucket = this.buckets.get(name);
        const deleted = Math.min(bucket?.objects ?? 0, maxKeys);
        if (bucket && deleted > 0) {
          this.write(`DeleteObjects ${name}`);
          bucket.objects -= deleted;
        }
        return { done: (bucket?.objects ?? 0) === 0, deletedObjects: deleted, deleteMarkers: 0, deletedBytes: 0 };
      },
      expiresEverything: async () => false,
      expireEverything: async () => this.write(`PutBucketLifecycleConfiguration ${name} (expire everything)`),
      delete: async () => {
        this.write(`DeleteBucket ${name}`);
        if ((this.buckets.get(name)?.objects ?? 0) > 0) throw awsError('BucketNotEmpty', 409);
        this.buckets.delete(name);
      },
    };
  }

  private userHandle(name: string): UserHandle {
    const get = () => {
      const user = this.users.get(name);
      if (!user) throw awsError('NoSuchEntity', 404);
      return user;
    };
    return {
      create: async (path, tags, owns) => {
        this.write(`CreateUser ${name}`);
        const existing = this.users.get(name);
        if (existing && !owns(existing.tags)) throw new TerminalError(`IAM user ${name} is not ours`, 'not-owned');
        if (!existing) this.users.set(name, { path, tags: { ...tags }, policies: {}, keys: [] });
      },
      readTags: async () => {
        this.check();
        const user = this.users.get(name);
        return user ? { path: user.path, tags: { ...user.tags } } : null;
      },
      tag: async (tags) => {
        this.write(`TagUser ${name}`);
        const user = get();
        user.tags = { ...user.tags, ...tags };
      },
      untag: async (keys) => {
        this.write(`UntagUser ${name}`);
        const user = this.users.get(name);
        for (const key of keys) if (user) delete user.tags[key];
      },
      putPolicy: async (policyName, document) => {
        this.write(`PutUserPolicy ${name} ${policyName}`);
        get().policies[policyName] = document;
      },
      deletePolicy: async (policyName) => {
        this.write(`DeleteUserPolicy ${name} ${policyName}`);
        delete this.users.get(name)?.policies[policyName];
      },
      accessKeys: async () => {
        this.check();
        return (this.users.get(name)?.keys ?? []).map((k) => ({ accessKeyId: k.accessKeyId, status: k.status, createdAt: k.createdAt ?? null }));
      },
      createAccessKey: async () => {
        this.write(`CreateAccessKey ${name}`);
        const user = get();
        if (user.keys.length >= 2) throw awsError('LimitExceeded', 409);
        const key = { accessKeyId: `AKIA${String(++this.cloud.keyCounter).padStart(16, '0')}`, secretAccessKey: `secret-${this.cloud.keyCounter}`, status: 'Active' as const, createdAt: this.cloud.now() };
        user.keys.push(key);
        return { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, createdAt: key.createdAt };
      },
      deleteAccessKey: async (accessKeyId) => {
        this.write(`DeleteAccessKey ${name} ${accessKeyId}`);
        const user = this.users.get(name);
        if (user) user.keys = user.keys.filter((k) => k.accessKeyId !== accessKeyId);
      },
      setAccessKeyStatus: async (accessKeyId, status) => {
        this.write(`UpdateAccessKey ${name} ${accessKeyId} ${status}`);
        const key = this.users.get(name)?.keys.find((k) => k.accessKeyId === accessKeyId);
        if (!key) throw awsError('NoSuchEntity', 404);
        key.status = status;
      },
      accessKeyLastUsed: async (accessKeyId) => {
        this.check();
        for (const user of this.users.values()) {
          const key = user.keys.find((k) => k.accessKeyId === accessKeyId);
          if (key) return key.lastUsed ?? null;
        }
        throw awsError('NoSuchEntity', 404);
      },
      deleteAllAccessKeys: async () => {
        const user = this.users.get(name);
        const ids = user?.keys.map((k) => k.accessKeyId) ?? [];
        if (user) {
          this.write(`DeleteAccessKey ${name} *`);
          user.keys = [];
        }
        return ids;
      },
      deleteAllPolicies: async () => {
        const user = this.users.get(name);
        const inline = Object.keys(user?.policies ?? {});
        if (user) {
          this.write(`DeleteUserPolicy ${name} *`);
          user.policies = {};
        }
        return { inline, detached: [] };
      },
      delete: async () => {
        this.write(`DeleteUser ${name}`);
        this.users.delete(name);
      },
    };
  }
}

export class MemoryCloud implements CloudAccounts {
  readonly accounts = new Map<string, MemoryAccount>();
  /** Every write, as `<account> <Operation> <resource>`, in order. */
  readonly writes: string[] = [];
  keyCounter = 0;

  constructor(readonly now: () => Date = () => new Date()) {}

  get(accountId: string): MemoryAccount {
    let account = this.accounts.get(accountId);
    if (!account) {
      account = new MemoryAccount(accountId, this);
      this.accounts.set(accountId, account);
    }
    return account;
  }

  account(target: { accountId: string }): CloudAccount {
    return this.get(target.accountId).handle();
  }

  async keyIdentity(accountId: string, key: { accessKeyId: string; secretAccessKey: string }): Promise<string> {
    for (const [name, user] of this.get(accountId).users) {
      if (user.keys.some((k) => k.accessKeyId === key.accessKeyId && k.secretAccessKey === key.secretAccessKey)) return `arn:aws:iam::${accountId}:user${user.path}${name}`;
    }
    throw awsError('InvalidClientTokenId', 403);
  }
}

/** Heroku's desired state as data: teams with their add-ons; `failTeams` makes a team's read incomplete. */
export class MemoryDesiredState implements DesiredStateSource {
  readonly addons = new Map<string, DesiredAddon>();
  readonly failTeams = new Set<string>();
  /** Add-ons Heroku answers "not found" for; any other unknown id is unknown. */
  readonly gone = new Set<string>();
  readonly reads: string[] = [];

  async teams(links: Link[]): Promise<TeamDesiredState[]> {
    this.reads.push('teams');
    return links.map((link) => {
      const failed = this.failTeams.has(link.teamId);
      return {
        teamId: link.teamId,
        teamName: link.teamName,
        complete: !failed,
        error: failed ? 'fake: the team read failed' : null,
        addons: failed ? [] : [...this.addons.values()].filter((a) => a.teamId === link.teamId).map((a) => structuredClone(a)),
        deprovisioned: [],
      };
    });
  }

  async addon(addonId: string, links: Link[]): Promise<AddonRead> {
    this.reads.push(`addon ${addonId}`);
    const addon = this.addons.get(addonId);
    if (!addon) return this.gone.has(addonId) ? { status: 'gone' } : { status: 'unknown', error: 'fake: no answer' };
    const link = links.find((l) => l.teamId === addon.teamId) ?? null;
    const whereabouts: AddonWhereabouts = { status: 'alive', teamId: addon.teamId, appId: addon.appId, plan: addon.plan, addonName: addon.addonName };
    return { status: 'found', addon: link ? structuredClone(addon) : null, deprovisioned: false, link, notOurs: link ? null : 'not in a linked team', whereabouts };
  }

  async whereabouts(addonId: string): Promise<AddonWhereabouts> {
    this.reads.push(`whereabouts ${addonId}`);
    const addon = this.addons.get(addonId);
    if (addon) return { status: 'alive', teamId: addon.teamId, appId: addon.appId, plan: addon.plan, addonName: addon.addonName };
    return this.gone.has(addonId) ? { status: 'gone' } : { status: 'unknown', error: 'fake: no answer' };
  }
}

/** Apps' config vars as data. */
export class MemoryConfigVars implements AppConfigVars {
  readonly apps = new Map<string, Record<string, string>>();
  readonly writes: string[] = [];

  async read(appId: string): Promise<Record<string, string> | null> {
    const vars = this.apps.get(appId);
    return vars ? { ...vars } : null;
  }

  async readMany(appIds: readonly string[]): Promise<Map<string, Record<string, string>>> {
    const out = new Map<string, Record<string, string>>();
    for (const appId of appIds) {
      const vars = this.apps.get(appId);
      if (vars) out.set(appId, { ...vars });
    }
    return out;
  }

  async set(appId: string, vars: Record<string, string>): Promise<void> {
    this.writes.push(`set ${appId} ${Object.keys(vars).sort().join(',')}`);
    this.apps.set(appId, { ...(this.apps.get(appId) ?? {}), ...vars });
  }

  async remove(appId: string, names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    this.writes.push(`remove ${appId} ${[...names].sort().join(',')}`);
    const vars = this.apps.get(appId);
    for (const name of names) if (vars) delete vars[name];
  }
}
