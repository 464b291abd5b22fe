/**
 * A throttling AWS proxy for tests and benchmarks: an HTTP reverse proxy that the AWS SDK uses as
 * its endpoint and that forwards to moto, adding latency and enforcing per-account, per-service
 * token buckets the way AWS does (moto itself never throttles; DESIGN.md "Known behaviour").
 *
 * - Service: from the SigV4 credential scope in `Authorization` (`…/<region>/<service>/aws4_request`).
 * - Operation: IAM/STS from `Action=` in the form body, the tagging API from `X-Amz-Target`, S3
 *   from method + path + query (path-style addressing, as the stand uses).
 * - Account: learnt from STS `AssumeRole` calls passing through (the RoleArn's account, keyed by the
 *   AccessKeyId of the answer); any other access key counts as `defaultAccountId`.
 * - Over-limit calls get the real AWS throttling answers: IAM/STS `400 Throttling` (query-protocol
 *   `ErrorResponse`), S3 `503 SlowDown`, tagging `400 ThrottlingException` (JSON protocol).
 *
 * Every call is counted by account, service and operation, and logged with the time it was
 * admitted, so a test can measure the highest rate in any window (`maxInWindow`).
 */
import { randomUUID } from 'node:crypto';
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TokenBucket } from '../../src/queue/token-bucket.js';
import { isMutation } from '../../src/sinks/aws/api-calls.js';

export type ProxyService = 's3' | 'iam' | 'sts' | 'tagging' | 'unknown';

/** A rate in calls per second; `burst` defaults to one second's worth (at least 1). */
export interface Rate {
  perSecond: number;
  burst?: number;
}

/** Per service: a limit for mutating calls and one for reads; absent means unlimited. */
export type ServiceLimits = Partial<Record<Exclude<ProxyService, 'unknown'>, { mutations?: Rate; reads?: Rate }>>;

export interface ThrottlingProxyOptions {
  /** moto's URL, e.g. http://127.0.0.1:5000 */
  target: string;
  limits?: ServiceLimits;
  /** Added to every call before it is answered (ms); a function draws one value per call. */
  latencyMs?: number | (() => number);
  /** The account of access keys not learnt from an AssumeRole (moto's default account). */
  defaultAccountId?: string;
  /** Keep the per-call log (time, account, service, operation, …); on by default. */
  log?: boolean;
}

export interface ProxyCall {
  /** When the proxy admitted or refused the call (ms since the epoch). */
  at: number;
  accountId: string;
  service: ProxyService;
  operation: string;
  mutation: boolean;
  throttled: boolean;
  /** The status code answered (moto's, or the throttling answer's). */
  status: number;
  /** How long moto took to answer (ms); 0 for a throttled call. */
  upstreamMs: number;
}

export interface ProxyCounts {
  total: number;
  throttled: number;
  /** `service:operation` -> calls (throttled ones included). */
  byOperation: Record<string, number>;
  /** `service:operation` -> throttled answers. */
  throttledByOperation: Record<string, number>;
}

export class ThrottlingProxy {
  readonly calls: ProxyCall[] = [];
  private readonly keyAccounts = new Map<string, string>();
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private limits: ServiceLimits;
  private counts: ProxyCounts = emptyCounts();
  private readonly target: URL;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly options: ThrottlingProxyOptions,
  ) {
    this.limits = options.limits ?? {};
    this.target = new URL(options.target);
  }

  /** Starts a proxy on a free loopback port. */
  static async start(options: ThrottlingProxyOptions): Promise<ThrottlingProxy> {
    let proxy: ThrottlingProxy | undefined;
    const server = createServer((req, res) => {
      proxy!.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`throttling proxy: ${err.message}`);
      });
    });
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    proxy = new ThrottlingProxy(server, `http://127.0.0.1:${port}`, options);
    return proxy;
  }

  /** Replaces the limits; the token buckets start afresh (full). */
  setLimits(limits: ServiceLimits): void {
    this.limits = limits;
    this.buckets.clear();
  }

  /** Forgets the log and the counts (not the learnt accounts, not the buckets' levels). */
  reset(): void {
    this.calls.length = 0;
    this.counts = emptyCounts();
  }

  stats(): ProxyCounts {
    return { ...this.counts, byOperation: { ...this.counts.byOperation }, throttledByOperation: { ...this.counts.throttledByOperation } };
  }

  /** The account an access key acts in, as far as this proxy knows. */
  accountOf(accessKeyId: string): string {
    return this.keyAccounts.get(accessKeyId) ?? this.options.defaultAccountId ?? '123456789012';
  }

  /**
   * The most calls matching `filter` that the proxy admitted (not throttled) within any window of
   * `windowMs`: the rate a client actually achieved at its peak.
   */
  maxInWindow(filter: (call: ProxyCall) => boolean, windowMs = 1_000): number {
    const times = this.calls.filter((c) => !c.throttled && filter(c)).map((c) => c.at).sort((a, b) => a - b);
    let best = 0;
    let start = 0;
    for (let end = 0; end < times.length; end++) {
      while (times[end]! - times[start]! >= windowMs) start++;
      best = Math.max(best, end - start + 1);
    }
    return best;
  }

  async close(): Promise<void> {
    this.agent.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readAll(req);
    const auth = parseAuthorization(req.headers.authorization);
    const service = auth.service;
    const operation = operationOf(service, req, body);
    const accountId = this.accountOf(auth.accessKeyId);
    const mutation = service === 's3' ? isS3Mutation(req.method ?? 'GET') : isMutation(operation);
    const latency = typeof this.options.latencyMs === 'function' ? this.options.latencyMs() : (this.options.latencyMs ?? 0);
    if (latency > 0) await new Promise((r) => setTimeout(r, latency));

    const at = Date.now();
    const throttled = !this.admit(accountId, service, mutation, at);
    const key = `${service}:${operation}`;
    this.counts.total += 1;
    this.counts.byOperation[key] = (this.counts.byOperation[key] ?? 0) + 1;
    const record = (status: number, upstreamMs = 0) => {
      if (this.options.log !== false) this.calls.push({ at, accountId, service, operation, mutation, throttled, status, upstreamMs });
    };
    if (throttled) {
      this.counts.throttled += 1;
      this.counts.throttledByOperation[key] = (this.counts.throttledByOperation[key] ?? 0) + 1;
      const answer = throttlingAnswer(service, req.method === 'HEAD');
      record(answer.status);
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
      return;
    }

    const upstream = await this.forward(req, body);
    if (service === 'sts' && operation === 'AssumeRole' && upstream.status === 200) this.learn(body, upstream.body);
    record(upstream.status, Date.now() - at);
    res.writeHead(upstream.status, upstream.headers);
    res.end(upstream.body);
  }

  /** Takes a token from the account's bucket for this service and kind of call, if it is limited. */
  private admit(accountId: string, service: ProxyService, mutation: boolean, now: number): boolean {
    if (service === 'unknown') return true;
    const rate = mutation ? this.limits[service]?.mutations : this.limits[service]?.reads;
    if (!rate || rate.perSecond === Infinity) return true;
    const name = `${accountId}:${service}:${mutation ? 'mutation' : 'read'}`;
    let bucket = this.buckets.get(name);
    if (!bucket) {
      bucket = new TokenBucket({ qps: rate.perSecond, burst: rate.burst ?? Math.max(1, rate.perSecond) });
      this.buckets.set(name, bucket);
    }
    return bucket.take(now) === 0;
  }

  private forward(req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: Record<string, string | string[]>; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const headers = { ...req.headers };
      delete headers.connection;
      headers['content-length'] = String(body.length);
      delete headers['transfer-encoding'];
      const out = httpRequest(
        {
          protocol: this.target.protocol,
          hostname: this.target.hostname,
          port: this.target.port,
          method: req.method,
          path: req.url,
          headers,
          agent: this.agent,
        },
        (upstream) => {
          readAll(upstream).then((data) => {
            const responseHeaders: Record<string, string | string[]> = {};
            for (const [name, value] of Object.entries(upstream.headers)) {
              if (value === undefined || name === 'connection' || name === 'keep-alive' || name === 'transfer-encoding') continue;
              responseHeaders[name] = value;
            }
            // HEAD answers announce the length of a body they do not carry: keep moto's header.
            if (req.method !== 'HEAD') responseHeaders['content-length'] = String(data.length);
            resolve({ status: upstream.statusCode ?? 502, headers: responseHeaders, body: data });
          }, reject);
        },
      );
      out.once('error', reject);
      out.end(body);
    });
  }

  /** Remembers which account the credentials of an AssumeRole answer act in. */
  private learn(requestBody: Buffer, responseBody: Buffer): void {
    const form = new URLSearchParams(requestBody.toString('utf8'));
    const xml = responseBody.toString('utf8');
    const accessKeyId = /<AccessKeyId>([^<]+)<\/AccessKeyId>/.exec(xml)?.[1];
    const account =
      /^arn:aws[\w-]*:iam::(\d{12}):/.exec(form.get('RoleArn') ?? '')?.[1] ??
      /<Arn>arn:aws[\w-]*:sts::(\d{12}):assumed-role\//.exec(xml)?.[1];
    if (accessKeyId && account) this.keyAccounts.set(accessKeyId, account);
  }
}

function emptyCounts(): ProxyCounts {
  return { total: 0, throttled: 0, byOperation: {}, throttledByOperation: {} };
}

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/** `AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/iam/aws4_request, SignedHeaders=…, Signature=…` */
export function parseAuthorization(header: string | undefined): { accessKeyId: string; service: ProxyService } {
  const scope = /Credential=([^/,\s]+)\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(header ?? '');
  if (!scope) return { accessKeyId: '', service: 'unknown' };
  const raw = scope[2]!;
  const service: ProxyService = raw === 's3' || raw === 'iam' || raw === 'sts' ? raw : raw === 'tagging' ? 'tagging' : 'unknown';
  return { accessKeyId: scope[1]!, service };
}

function operationOf(service: ProxyService, req: IncomingMessage, body: Buffer): string {
  if (service === 'iam' || service === 'sts') {
    const fromBody = new URLSearchParams(body.toString('utf8')).get('Action');
    const fromQuery = new URL(req.url ?? '/', 'http://proxy').searchParams.get('Action');
    return fromBody ?? fromQuery ?? 'Unknown';
  }
  if (service === 'tagging') {
    const target = String(req.headers['x-amz-target'] ?? '');
    return target.split('.').pop() || 'Unknown';
  }
  if (service === 's3') return s3Operation(req.method ?? 'GET', req.url ?? '/', req.headers);
  return 'Unknown';
}

/** Bucket sub-resources and the names of their operations (GetBucket<X>, PutBucket<X>, DeleteBucket<X>). */
const BUCKET_SUBRESOURCES: Record<string, string> = {
  tagging: 'Tagging',
  encryption: 'Encryption',
  ownershipControls: 'OwnershipControls',
  lifecycle: 'LifecycleConfiguration',
  policy: 'Policy',
  versioning: 'Versioning',
  cors: 'Cors',
  acl: 'Acl',
  website: 'Website',
  logging: 'Logging',
  notification: 'NotificationConfiguration',
  replication: 'Replication',
  location: 'Location',
};

/** The S3 operation of a path-style request, from its method, path and query. */
export function s3Operation(method: string, rawUrl: string, headers: IncomingMessage['headers'] = {}): string {
  const url = new URL(rawUrl, 'http://proxy');
  const segments = url.pathname.split('/').filter((s) => s !== '');
  const query = url.searchParams;
  const verb = method.toUpperCase();
  if (segments.length === 0) return verb === 'GET' ? 'ListBuckets' : 'Unknown';
  if (segments.length === 1) {
    if (query.has('publicAccessBlock')) return { GET: 'GetPublicAccessBlock', PUT: 'PutPublicAccessBlock', DELETE: 'DeletePublicAccessBlock' }[verb] ?? 'Unknown';
    if (verb === 'POST' && query.has('delete')) return 'DeleteObjects';
    if (verb === 'GET' && query.has('versions')) return 'ListObjectVersions';
    if (verb === 'GET' && query.has('uploads')) return 'ListMultipartUploads';
    for (const [sub, name] of Object.entries(BUCKET_SUBRESOURCES)) {
      if (!query.has(sub)) continue;
      if (sub === 'location') return 'GetBucketLocation';
      const prefix = { GET: 'GetBucket', PUT: 'PutBucket', DELETE: 'DeleteBucket' }[verb];
      return prefix ? `${prefix}${name}` : 'Unknown';
    }
    if (verb === 'GET') return query.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects';
    return { PUT: 'CreateBucket', DELETE: 'DeleteBucket', HEAD: 'HeadBucket' }[verb] ?? 'Unknown';
  }
  if (verb === 'POST' && query.has('uploads')) return 'CreateMultipartUpload';
  if (verb === 'POST' && query.has('uploadId')) return 'CompleteMultipartUpload';
  if (verb === 'PUT' && query.has('uploadId')) return 'UploadPart';
  if (verb === 'DELETE' && query.has('uploadId')) return 'AbortMultipartUpload';
  if (query.has('tagging')) return { GET: 'GetObjectTagging', PUT: 'PutObjectTagging', DELETE: 'DeleteObjectTagging' }[verb] ?? 'Unknown';
  if (verb === 'PUT') return headers['x-amz-copy-source'] ? 'CopyObject' : 'PutObject';
  return { GET: 'GetObject', HEAD: 'HeadObject', DELETE: 'DeleteObject' }[verb] ?? 'Unknown';
}

/** Whatever is not a GET or HEAD changes something (POST ?delete included). */
function isS3Mutation(method: string): boolean {
  return !['GET', 'HEAD'].includes(method.toUpperCase());
}

/** The answers AWS gives when it throttles, per protocol. */
function throttlingAnswer(service: ProxyService, head: boolean): { status: number; headers: Record<string, string>; body: string } {
  const requestId = randomUUID();
  if (service === 's3') {
    const hostId = Buffer.from(randomUUID()).toString('base64');
    return {
      status: 503,
      headers: { 'content-type': 'application/xml', 'x-amz-request-id': requestId, 'x-amz-id-2': hostId },
      body: head ? '' : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>${requestId}</RequestId><HostId>${hostId}</HostId></Error>`,
    };
  }
  if (service === 'tagging') {
    return {
      status: 400,
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': requestId },
      body: JSON.stringify({ __type: 'ThrottlingException', Message: 'Rate exceeded' }),
    };
  }
  const namespace = service === 'sts' ? 'https://sts.amazonaws.com/doc/2011-06-15/' : 'https://iam.amazonaws.com/doc/2010-05-08/';
  return {
    status: 400,
    headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
    body: `<ErrorResponse xmlns="${namespace}">\n  <Error>\n    <Type>Sender</Type>\n    <Code>Throttling</Code>\n    <Message>Rate exceeded</Message>\n  </Error>\n  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`,
  };
}
