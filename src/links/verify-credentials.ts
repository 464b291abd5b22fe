/**
 * Checks a link's AWS credentials before anything is stored: STS GetCallerIdentity with the keys,
 * or AssumeRole (with the controller's own credential chain) then GetCallerIdentity as the role.
 * Every failure becomes one sentence saying what is wrong and what to do, never echoing a secret.
 */
import { IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsSettings } from '../config/config.js';
import { errorCode } from '../sinks/aws/aws-errors.js';
import type { LinkAuth } from '../store/types.js';
import { UserError, errorMessage } from '../util/errors.js';

export interface VerifiedIdentity {
  accountId: string;
  arn: string;
  /**
   * For access keys: when AWS made the key (ListAccessKeys of the caller itself), so its age can
   * be reported; null when the user may not list its own keys (iam:ListAccessKeys) or for a role.
   */
  keyCreatedAt: Date | null;
}

export interface VerifyOptions {
  aws: AwsSettings;
  instanceId: string;
  /** REQUEST_TIMEOUT: how long one STS or IAM call may take (default 30 s): a link never hangs. */
  requestTimeoutMs?: number;
  onClient?: (client: STSClient) => void;
  /**
   * How the errors name the parts of the link to check, as the person who typed them saw them:
   * the CLI's flags (the default), the console's labels or the API's fields.
   */
  field?: LinkFieldName;
  /**
   * Refuse a role that can be assumed without the external id given: then anyone who knows its
   * ARN could have the controller assume it (the confused deputy).
   */
  externalIdRequired?: boolean;
}

export type LinkField = 'accessKeyId' | 'secretAccessKey' | 'externalId' | 'roleArn' | 'region';
export type LinkFieldName = (field: LinkField) => string;

/** The CLI's names: `--secret-access-key`. */
export const FLAG_NAME: LinkFieldName = (field) => `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

export async function verifyCredentials(auth: LinkAuth, options: VerifyOptions): Promise<VerifiedIdentity> {
  const base = {
    region: options.aws.region,
    ...(options.aws.endpoints.sts ? { endpoint: options.aws.endpoints.sts } : {}),
    maxAttempts: 2,
    requestHandler: requestHandler(options),
  };
  const make = (credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) => {
    const client = new STSClient({ ...base, ...(credentials ? { credentials } : {}) });
    options.onClient?.(client);
    return client;
  };
  let caller: STSClient;
  if (auth.kind === 'keys') {
    caller = make({ accessKeyId: auth.accessKeyId, secretAccessKey: auth.secretAccessKey });
  } else {
    const sts = make();
    let assumed;
    try {
      assumed = await sts.send(
        new AssumeRoleCommand({
          RoleArn: auth.roleArn,
          RoleSessionName: `heroku-s3-controller-${options.instanceId}-link`.slice(0, 64),
          ...(auth.externalId ? { ExternalId: auth.externalId } : {}),
          DurationSeconds: 900,
        }),
      );
    } catch (err) {
      throw new UserError(explainAssumeRole(auth.roleArn, err, options.field ?? FLAG_NAME));
    } finally {
      sts.destroy();
    }
    if (options.externalIdRequired) await refuseWithoutExternalId(make, auth, options.instanceId);
    const c = assumed.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey) throw new UserError(`AssumeRole of ${auth.roleArn} returned no credentials; try again`);
    caller = make({ accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}) });
  }
  try {
    const identity = await caller.send(new GetCallerIdentityCommand({}));
    if (!identity.Account) throw new UserError('AWS STS did not say which account these credentials belong to; try again');
    const keyCreatedAt = auth.kind === 'keys' ? await keyCreationTime(auth, options) : null;
    return { accountId: identity.Account, arn: identity.Arn ?? '', keyCreatedAt };
  } catch (err) {
    if (err instanceof UserError) throw err;
    // The AWS error stays the cause: a caller may tell a refused key from a failed call.
    throw new UserError(explainCallerIdentity(auth, err, options.field ?? FLAG_NAME), { cause: err });
  } finally {
    caller.destroy();
  }
}

/**
 * Every call ends: REQUEST_TIMEOUT for an answer, at most 10 s to connect. (Without
 * throwOnRequestTimeout the SDK only warns about a late answer, and waits on.)
 */
function requestHandler(options: VerifyOptions): { requestTimeout: number; connectionTimeout: number; throwOnRequestTimeout: true } {
  const timeout = options.requestTimeoutMs ?? 30_000;
  return { requestTimeout: timeout, connectionTimeout: Math.min(timeout, 10_000), throwOnRequestTimeout: true };
}

/** When AWS made the link's own key: ListAccessKeys without a user name lists the caller's. Null when refused. */
async function keyCreationTime(auth: Extract<LinkAuth, { kind: 'keys' }>, options: VerifyOptions): Promise<Date | null> {
  const iam = new IAMClient({
    region: options.aws.region,
    ...(options.aws.endpoints.iam ? { endpoint: options.aws.endpoints.iam } : {}),
    credentials: { accessKeyId: auth.accessKeyId, secretAccessKey: auth.secretAccessKey },
    maxAttempts: 1,
    // Optional: a slow IAM makes the age unknown, never the link late.
    requestHandler: { ...requestHandler(options), requestTimeout: Math.min(options.requestTimeoutMs ?? 30_000, 10_000) },
  });
  try {
    const out = await iam.send(new ListAccessKeysCommand({}));
    return out.AccessKeyMetadata?.find((k) => k.AccessKeyId === auth.accessKeyId)?.CreateDate ?? null;
  } catch {
    return null; // not allowed to list its own keys (or no answer): the age stays unknown, the link is still good
  } finally {
    iam.destroy();
  }
}

/** AssumeRole once more, without the external id: it must be refused. */
async function refuseWithoutExternalId(make: () => STSClient, auth: Extract<LinkAuth, { kind: 'role' }>, instanceId: string): Promise<void> {
  const sts = make();
  try {
    await sts.send(new AssumeRoleCommand({ RoleArn: auth.roleArn, RoleSessionName: `heroku-s3-controller-${instanceId}-probe`.slice(0, 64), DurationSeconds: 900 }));
  } catch {
    return; // refused (or unreachable): the role does not let just anyone through this controller
  } finally {
    sts.destroy();
  }
  throw new UserError(
    `role ${auth.roleArn} can be assumed without its external id: add the condition {"StringEquals": {"sts:ExternalId": "${auth.externalId ?? ''}"}} to its trust policy, so that no one but this team can link it`,
  );
}

function explainCallerIdentity(auth: LinkAuth, err: unknown, field: LinkFieldName): string {
  const code = errorCode(err);
  if (auth.kind === 'keys') {
    if (code === 'InvalidClientTokenId') return `AWS does not recognise access key id ${auth.accessKeyId}: check ${field('accessKeyId')}, and that the key is active`;
    if (code === 'SignatureDoesNotMatch') return `the secret access key does not match access key id ${auth.accessKeyId}: check ${field('secretAccessKey')}`;
  }
  if (code === 'ExpiredToken') return 'the credentials have expired: create new ones and link again';
  if (code === 'AccessDenied') return `AWS refused GetCallerIdentity for these credentials (${code}); check that they are active`;
  return unreachable(err);
}

function explainAssumeRole(roleArn: string, err: unknown, field: LinkFieldName): string {
  const code = errorCode(err);
  if (code === 'AccessDenied' || code === 'AccessDeniedException') {
    return `cannot assume role ${roleArn}: access denied. Check that the role's trust policy allows the controller's AWS identity, and give ${field('externalId')} if the role requires one`;
  }
  if (code === 'CredentialsProviderError') {
    return `cannot assume role ${roleArn}: the controller has no AWS credentials of its own to assume it with. Give it some (environment, web identity, instance role), or link with ${field('accessKeyId')} and ${field('secretAccessKey')}`;
  }
  if (code === 'ValidationError' || code === 'MalformedPolicyDocument') return `cannot assume role ${roleArn}: ${errorMessage(err)}`;
  if (code === 'InvalidClientTokenId' || code === 'SignatureDoesNotMatch') {
    return `cannot assume role ${roleArn}: AWS refused the controller's own credentials (${code}); fix the controller's AWS credentials`;
  }
  return `cannot assume role ${roleArn}: ${unreachable(err)}`;
}

function unreachable(err: unknown): string {
  const code = errorCode(err);
  const message = errorMessage(err);
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|socket hang up/i.test(`${code} ${message}`)) {
    return `cannot reach AWS STS (${message}); check the network and AWS_ENDPOINT_URL_STS`;
  }
  return `AWS STS refused the credentials: ${code}: ${message}`;
}
