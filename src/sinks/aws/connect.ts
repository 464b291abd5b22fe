/**
 * Connect per account (STYLE.md #4): clients bound to one linked account's credentials, either
 * the link's static keys or a role assumed with the controller's own credential chain. Clients are
 * cached per account and per region; assumed-role credentials refresh themselves before they expire.
 * When the credentials of an account change (`link --rotate`, a re-link), the next connect makes
 * new clients and retires the old ones, so no pass goes on with a key the customer may delete.
 */
import { createHash } from 'node:crypto';
import { IAMClient } from '@aws-sdk/client-iam';
import { ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { STSClient } from '@aws-sdk/client-sts';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { AwsSettings } from '../../config/config.js';
import type { LinkAuth } from '../../store/types.js';
import type { ApiCallRecorder } from './api-calls.js';
import { AccountMutationGates, DEFAULT_MUTATION_RATES, paceMutations } from './mutation-rate-limit.js';

/** Everything needed to reach one account; `accountId` is the one recorded when linking. */
export interface AccountTarget {
  accountId: string;
  auth: LinkAuth;
}

export interface AccountClients {
  accountId: string;
  destroy(): void;
  iam: IAMClient;
  sts: STSClient;
  /** S3 client for one region: bucket calls must go to the bucket's own region. */
  s3(region: string): S3Client;
  /** Resource Groups Tagging API for one region: bucket tags in bulk, 100 a page. */
  tagging(region: string): ResourceGroupsTaggingAPIClient;
  /** SQS for one region: the account's change-event queue there (events setup, and the poller). */
  sqs(region: string): SQSClient;
  /** EventBridge for one region: the rules that send change events to that queue, and the probe. */
  events(region: string): EventBridgeClient;
}

type AnyClient = S3Client | IAMClient | STSClient | ResourceGroupsTaggingAPIClient | SQSClient | EventBridgeClient;
type Service = 's3' | 'iam' | 'sts' | 'tagging' | 'sqs' | 'events';

export type ClientHook = (client: AnyClient, service: Service) => void;

export interface ConnectorOptions {
  aws: AwsSettings;
  /** Names the assumed-role sessions, so CloudTrail shows which controller acted. */
  instanceId: string;
  recorder?: ApiCallRecorder;
  /** Called for every client made: tests add middleware here (fault injection, counting). */
  onClient?: ClientHook;
  requestTimeoutMs?: number;
  /**
   * The controller's own credentials, used only to assume the links' roles. Default: the SDK's
   * standard chain (environment, web identity, container or instance role).
   */
  baseCredentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /**
   * How long replaced clients live on before they are destroyed (default 10 minutes): a pass that
   * took them before the credentials changed may still be in a call (up to 5 attempts of
   * REQUEST_TIMEOUT each). Destroying a client only closes its sockets; it would still work.
   */
  retireAfterMs?: number;
  /** Clock for {@link retireAfterMs}; tests move it. */
  now?: () => number;
}

const RETIRE_AFTER_MS = 10 * 60_000;

export class AwsConnector {
  /**
   * One set of clients per account, for the credentials it was last reached with: a pass reaches
   * each account through one link (the reconciler's account targets), so other credentials for
   * the account mean its link changed, and the clients made with the old ones are retired.
   */
  private readonly cache = new Map<string, { credentials: string; clients: AccountClients }>();
  /** Clients replaced by newer credentials, destroyed once {@link ConnectorOptions.retireAfterMs} has passed. */
  private retired: { clients: AccountClients; at: number }[] = [];
  /** Per account, not per link: two links to one account share its IAM and S3 rates. */
  private readonly gates = new Map<string, AccountMutationGates>();

  constructor(private readonly options: ConnectorOptions) {}

  /** Clients for one account; cached, so call it freely on every pass. New credentials for the account get new clients. */
  connect(target: AccountTarget): AccountClients {
    this.destroyRetired();
    // A digest, so no secret sits in the cache where a heap dump or a debugger would show it.
    const credentials = createHash('sha256').update(JSON.stringify([target.accountId, target.auth])).digest('hex');
    const cached = this.cache.get(target.accountId);
    if (cached?.credentials === credentials) return cached.clients;
    if (cached) this.retired.push({ clients: cached.clients, at: this.now() });
    const clients = this.build(target);
    this.cache.set(target.accountId, { credentials, clients });
    return clients;
  }

  /** Credentials for a link, usable before the account id is known (link validation). */
  credentialsFor(auth: LinkAuth): AwsCredentialIdentity | AwsCredentialIdentityProvider | undefined {
    if (auth.kind === 'keys') {
      return { accessKeyId: auth.accessKeyId, secretAccessKey: auth.secretAccessKey };
    }
    return fromTemporaryCredentials({
      params: {
        RoleArn: auth.roleArn,
        RoleSessionName: `heroku-s3-controller-${this.options.instanceId}`.slice(0, 64),
        ...(auth.externalId ? { ExternalId: auth.externalId } : {}),
        DurationSeconds: 3600,
      },
      clientConfig: this.baseConfig('sts'),
      ...(this.options.baseCredentials ? { masterCredentials: this.options.baseCredentials } : {}),
    });
  }

  /** An STS client acting as the link (for `link` validation); not cached. */
  stsFor(auth: LinkAuth, accountLabel = 'unlinked'): STSClient {
    const client = new STSClient({ ...this.baseConfig('sts'), credentials: this.credentialsFor(auth) });
    this.hook(client, accountLabel, 'sts');
    return client;
  }

  destroy(): void {
    for (const { clients } of [...this.cache.values(), ...this.retired]) {
      clients.destroy();
    }
    this.cache.clear();
    this.retired = [];
  }

  private destroyRetired(): void {
    if (this.retired.length === 0) return;
    const before = this.now() - (this.options.retireAfterMs ?? RETIRE_AFTER_MS);
    const due = this.retired.filter((r) => r.at <= before);
    if (due.length === 0) return;
    this.retired = this.retired.filter((r) => r.at > before);
    for (const { clients } of due) clients.destroy();
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private build(target: AccountTarget): AccountClients {
    const credentials = this.credentialsFor(target.auth);
    let gates = this.gates.get(target.accountId);
    if (!gates) {
      gates = new AccountMutationGates(this.options.aws.mutationRates ?? DEFAULT_MUTATION_RATES);
      this.gates.set(target.accountId, gates);
    }
    const iam = new IAMClient({ ...this.baseConfig('iam'), credentials });
    paceMutations(iam.middlewareStack, gates.iam);
    this.hook(iam, target.accountId, 'iam');
    const sts = new STSClient({ ...this.baseConfig('sts'), credentials });
    this.hook(sts, target.accountId, 'sts');
    const perRegion = <C extends AnyClient>(service: Service, make: (region: string) => C) => {
      const clients = new Map<string, C>();
      const get = (region: string): C => {
        let client = clients.get(region);
        if (!client) {
          client = make(region);
          this.hook(client, target.accountId, service);
          clients.set(region, client);
        }
        return client;
      };
      return { get, all: () => [...clients.values()] };
    };
    const s3Gate = gates.s3;
    const s3 = perRegion('s3', (region) => {
      const client = new S3Client({
        ...this.baseConfig('s3'),
        region,
        credentials,
        forcePathStyle: this.options.aws.forcePathStyle,
        followRegionRedirects: true,
      });
      // One S3 rate per account, whichever region's client makes the call.
      paceMutations(client.middlewareStack, s3Gate);
      return client;
    });
    const tagging = perRegion('tagging', (region) => new ResourceGroupsTaggingAPIClient({ ...this.baseConfig('tagging'), region, credentials }));
    const sqs = perRegion('sqs', (region) => new SQSClient({ ...this.baseConfig('sqs'), region, credentials }));
    const events = perRegion('events', (region) => new EventBridgeClient({ ...this.baseConfig('events'), region, credentials }));
    return {
      accountId: target.accountId,
      iam,
      sts,
      s3: s3.get,
      tagging: tagging.get,
      sqs: sqs.get,
      events: events.get,
      destroy: () => {
        for (const client of [iam, sts, ...s3.all(), ...tagging.all(), ...sqs.all(), ...events.all()]) client.destroy();
      },
    };
  }

  private baseConfig(service: Service) {
    const endpoint = this.options.aws.endpoints[service];
    const timeout = this.options.requestTimeoutMs ?? 30_000;
    return {
      region: this.options.aws.region,
      ...(endpoint ? { endpoint } : {}),
      // Standard retry mode: throttling (Throttling, SlowDown, …) and 5xx are retried with jittered
      // backoff (500 ms base for throttling). The pacing middleware keeps throttles rare, so five
      // attempts are plenty; adaptive mode would slow every call of a client after one throttle.
      maxAttempts: 5,
      // throwOnRequestTimeout: without it the SDK's HTTP handler only warns when an answer is late,
      // and a call to an endpoint that accepts but never answers waits forever.
      requestHandler: { requestTimeout: timeout, connectionTimeout: Math.min(timeout, 10_000), throwOnRequestTimeout: true },
    };
  }

  private hook(client: AnyClient, accountId: string, service: Service): void {
    this.options.recorder?.instrument(client.middlewareStack, accountId, service);
    this.options.onClient?.(client, service);
  }
}
