/**
 * The one classification of failures (util/error-class.ts), read from errors shaped as the AWS SDK
 * and the Heroku client throw them: whether asking again may help, and in what words.
 */
import { describe, expect, it } from 'vitest';
import { classifyError, errorCodeOf, httpStatusOf, needsOutsideChange, type ErrorKind } from '../../src/util/error-class.js';
import { TerminalError } from '../../src/util/errors.js';

/** As the AWS SDK v3 throws: an Error whose name is the service's code, the status in `$metadata`. */
function awsError(name: string, httpStatusCode: number | undefined, message = `${name} happened`): Error {
  return Object.assign(new Error(message), { name, $fault: httpStatusCode && httpStatusCode < 500 ? 'client' : 'server', $metadata: { httpStatusCode } });
}

/** As the Heroku client throws: the status as `statusCode`, Heroku's error id as `id`. */
function herokuError(statusCode: number, id: string, message = `${id}`): Error {
  return Object.assign(new Error(message), { statusCode, id, body: { id, message } });
}

const TABLE: Array<[string, unknown, ErrorKind, boolean]> = [
  ['AWS AccessDenied (403)', awsError('AccessDenied', 403), 'access-denied', false],
  ['AWS AccessDenied without a status', awsError('AccessDenied', undefined), 'access-denied', false],
  ['a bare 403 with an unknown code', awsError('Forbidden', 403), 'access-denied', false],
  ['AWS InvalidClientTokenId (403)', awsError('InvalidClientTokenId', 403), 'access-denied', false],
  ['AWS ExpiredToken (400)', awsError('ExpiredToken', 400), 'access-denied', false],
  ['Heroku 401 unauthorized', herokuError(401, 'unauthorized'), 'access-denied', false],
  ['Heroku 403 forbidden', herokuError(403, 'forbidden'), 'access-denied', false],
  ['AWS Throttling (400)', awsError('Throttling', 400), 'throttled', true],
  ['AWS SlowDown (503)', awsError('SlowDown', 503), 'throttled', true],
  ['Heroku 429 rate_limit', herokuError(429, 'rate_limit'), 'throttled', true],
  ['a bare 429', { statusCode: 429 }, 'throttled', true],
  ['AWS NoSuchBucket (404)', awsError('NoSuchBucket', 404), 'not-found', false],
  ['AWS NoSuchEntity without a status', awsError('NoSuchEntity', undefined), 'not-found', false],
  ['Heroku 404 not_found', herokuError(404, 'not_found'), 'not-found', false],
  ['AWS MalformedPolicyDocument (400)', awsError('MalformedPolicyDocument', 400), 'refused', false],
  ['AWS BucketAlreadyExists (409)', awsError('BucketAlreadyExists', 409), 'refused', false],
  ['Heroku 422 invalid_params', herokuError(422, 'invalid_params'), 'refused', false],
  ['TerminalError', new TerminalError('the role cannot be assumed', 'AccessDenied'), 'terminal', false],
  ['AWS InternalError (500)', awsError('InternalError', 500), 'unavailable', true],
  ['AWS ServiceUnavailable (503)', awsError('ServiceUnavailable', 503), 'unavailable', true],
  ['Heroku 503', herokuError(503, 'unavailable'), 'unavailable', true],
  ['a plain Error (a network failure, say)', new Error('socket hang up'), 'unavailable', true],
  ['a thrown string', 'boom', 'unavailable', true],
  ['null', null, 'unavailable', true],
];

describe('classifyError', () => {
  it.each(TABLE)('%s → %s', (_what, err, kind, retryable) => {
    const failure = classifyError(err);
    expect(failure.kind).toBe(kind);
    expect(failure.retryable).toBe(retryable);
    // A work queue waits its longest backoff for these; not for a not-found (the next read sees it gone).
    expect(needsOutsideChange(failure.kind)).toBe(['access-denied', 'refused', 'terminal'].includes(kind));
    expect(failure.explanation.length).toBeGreaterThan(0);
  });

  it('explains access denied in plain words, naming the code and where to look', () => {
    expect(classifyError(awsError('AccessDenied', 403)).explanation).toMatch(/^the call was refused for lack of permission \(AccessDenied\): check the linked role's policy/);
    expect(classifyError(awsError('InvalidClientTokenId', 403)).explanation).toContain('(InvalidClientTokenId)');
    expect(classifyError({ statusCode: 403 }).explanation).toContain('(HTTP 403)');
  });

  it('says nothing of the error beyond its code and status: a secret in a message stays out', () => {
    const leaky = awsError('AccessDenied', 403, 'denied for AKIAIOSFODNN7EXAMPLE with secret wJalrXUtnFEMI/K7MDENG');
    for (const err of [leaky, awsError('InternalError', 500, 'wJalrXUtnFEMI/K7MDENG'), new Error('wJalrXUtnFEMI/K7MDENG')]) {
      expect(classifyError(err).explanation).not.toMatch(/AKIA|wJalr/);
    }
  });

  it('reads the code and the status from either shape', () => {
    expect(errorCodeOf(awsError('NoSuchBucket', 404))).toBe('NoSuchBucket');
    expect(errorCodeOf(herokuError(404, 'not_found'))).toBe('not_found');
    expect(errorCodeOf(new Error('plain'))).toBeNull();
    expect(httpStatusOf(awsError('NoSuchBucket', 404))).toBe(404);
    expect(httpStatusOf(herokuError(429, 'rate_limit'))).toBe(429);
    expect(httpStatusOf(new Error('plain'))).toBeNull();
  });
});
