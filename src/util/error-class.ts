/**
 * One classification of failures, used by the executor (logs, journal, the add-on's last error),
 * the work queue (retry with backoff, or wait for someone to fix it) and the reports: is asking
 * again useful, and what went wrong in plain words. It reads errors by their shape (an AWS SDK
 * error's name and HTTP status, a Heroku API error's status), so it needs neither SDK.
 */
import { TerminalError } from './errors.js';

export type ErrorKind =
  /** Refused for lack of permission: the linked role, key or token does not allow the call. */
  | 'access-denied'
  /** Rate limited: retried later, with backoff. */
  | 'throttled'
  /** The thing is not there (any more). */
  | 'not-found'
  /** Refused as it is (bad request, conflict, a limit reached): asking again will not help. */
  | 'refused'
  /** Will keep failing until something outside the controller changes (TerminalError). */
  | 'terminal'
  /** The service failed or could not be reached: retried later. */
  | 'unavailable';

export interface ErrorClass {
  kind: ErrorKind;
  /** True when the same call may succeed later without anyone changing anything. */
  retryable: boolean;
  /** One sentence for an operator, naming what to do where that is known. */
  explanation: string;
}

const ACCESS_DENIED_CODES = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'AuthorizationError',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidAccessKeyId',
]);
const THROTTLED_CODES = new Set(['Throttling', 'ThrottlingException', 'SlowDown', 'TooManyRequestsException', 'RequestLimitExceeded']);

/** The error's code: an AWS SDK error's `Code`/`code`/`name`, a Heroku error's `id`. */
export function errorCodeOf(err: unknown): string | null {
  if (err && typeof err === 'object') {
    const e = err as { name?: unknown; Code?: unknown; code?: unknown; id?: unknown };
    for (const value of [e.Code, e.code, e.id, e.name]) if (typeof value === 'string' && value !== 'Error' && value !== '') return value;
  }
  return null;
}

/** The HTTP status the error came with: an AWS SDK error's `$metadata`, a Heroku error's `statusCode`. */
export function httpStatusOf(err: unknown): number | null {
  const e = err as { statusCode?: unknown; $metadata?: { httpStatusCode?: unknown } } | null;
  const status = e?.$metadata?.httpStatusCode ?? e?.statusCode;
  return typeof status === 'number' ? status : null;
}

/**
 * Whether trying again, even after a fresh read, cannot succeed until someone changes something
 * outside the controller: access denied, refused, terminal. Not so a not-found: the next read sees
 * what is gone and plans for it. Work queues wait their longest backoff at once for these.
 */
export function needsOutsideChange(kind: ErrorKind): boolean {
  return kind === 'access-denied' || kind === 'refused' || kind === 'terminal';
}

export function classifyError(err: unknown): ErrorClass {
  const code = errorCodeOf(err);
  const status = httpStatusOf(err);
  if (err instanceof TerminalError) return { kind: 'terminal', retryable: false, explanation: err.message };
  if ((code && ACCESS_DENIED_CODES.has(code)) || status === 401 || status === 403) {
    return {
      kind: 'access-denied',
      retryable: false,
      explanation: `the call was refused for lack of permission (${code ?? `HTTP ${status}`}): check the linked role's policy (README, "IAM policy") or the Heroku token's access; it is tried again on later passes`,
    };
  }
  if ((code && THROTTLED_CODES.has(code)) || status === 429) return { kind: 'throttled', retryable: true, explanation: `rate limited (${code ?? 'HTTP 429'}): retried with backoff` };
  if (status === 404 || code === 'NoSuchBucket' || code === 'NoSuchEntity' || code === 'NoSuchEntityException' || code === 'not_found') {
    return { kind: 'not-found', retryable: false, explanation: `not found (${code ?? 'HTTP 404'})` };
  }
  if (status !== null && status >= 400 && status < 500) return { kind: 'refused', retryable: false, explanation: `refused (${code ?? `HTTP ${status}`}): asking again as it is will not help` };
  return { kind: 'unavailable', retryable: true, explanation: `failed (${code ?? (status !== null ? `HTTP ${status}` : 'no answer')}): retried later` };
}
