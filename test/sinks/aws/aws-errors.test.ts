/**
 * Reading AWS SDK errors and retrying IAM's eventual consistency, with an injected sleep: no real
 * waiting, every delay counted.
 */
import { describe, expect, it } from 'vitest';
import { NoSuchEntityException } from '@aws-sdk/client-iam';
import { NoSuchBucket } from '@aws-sdk/client-s3';
import { errorCode, hasCode, retryWhilePropagating } from '../../../src/sinks/aws/aws-errors.js';
import { httpStatusOf } from '../../../src/util/error-class.js';

function awsError(fields: Record<string, unknown>): Error {
  return Object.assign(new Error('boom'), fields);
}

function fakeSleep() {
  const delays: number[] = [];
  return { delays, sleep: async (ms: number) => void delays.push(ms) };
}

describe('errorCode / hasCode / httpStatusOf', () => {
  it('reads Code, then code, then name; ignores the generic name "Error"', () => {
    expect(errorCode(awsError({ Code: 'LimitExceeded', name: 'LimitExceededException' }))).toBe('LimitExceeded');
    expect(errorCode(awsError({ code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED');
    expect(errorCode(awsError({ name: 'NoSuchBucket' }))).toBe('NoSuchBucket');
    expect(errorCode(new Error('plain'))).toBe('Unknown');
    expect(errorCode({ Code: 42, name: 'Throttling' })).toBe('Throttling');
    expect(errorCode(undefined)).toBe('Unknown');
    expect(errorCode(null)).toBe('Unknown');
    expect(errorCode('a string')).toBe('Unknown');
  });

  it('reads modelled SDK exceptions by name', () => {
    const e = new NoSuchEntityException({ message: 'no user', $metadata: { httpStatusCode: 404 } });
    expect(errorCode(e)).toBe('NoSuchEntityException');
    expect(hasCode(e, 'NoSuchEntity', 'NoSuchEntityException')).toBe(true);
    expect(httpStatusOf(e)).toBe(404);
    const b = new NoSuchBucket({ message: 'no bucket', $metadata: {} });
    expect(hasCode(b, 'NoSuchBucket')).toBe(true);
    expect(httpStatusOf(b)).toBeNull();
  });

  it('hasCode matches any of the codes given, and none when given none', () => {
    const e = awsError({ name: 'BucketAlreadyOwnedByYou' });
    expect(hasCode(e, 'BucketAlreadyExists', 'BucketAlreadyOwnedByYou')).toBe(true);
    expect(hasCode(e, 'BucketAlreadyExists')).toBe(false);
    expect(hasCode(e)).toBe(false);
    expect(httpStatusOf(null)).toBeNull();
    expect(httpStatusOf(awsError({ $metadata: { httpStatusCode: 503 } }))).toBe(503);
  });
});

describe('retryWhilePropagating', () => {
  it('returns at once when the first call works', async () => {
    const { delays, sleep } = fakeSleep();
    let calls = 0;
    expect(await retryWhilePropagating(async () => ++calls, ['NoSuchEntity'], { sleep })).toBe(1);
    expect(calls).toBe(1);
    expect(delays).toEqual([]);
  });

  it('retries the named codes with doubling delays until the call works', async () => {
    const { delays, sleep } = fakeSleep();
    let calls = 0;
    const result = await retryWhilePropagating(
      async () => {
        calls += 1;
        if (calls < 4) throw awsError({ name: calls % 2 ? 'NoSuchEntity' : 'NoSuchEntityException' });
        return 'done';
      },
      ['NoSuchEntity', 'NoSuchEntityException'],
      { sleep },
    );
    expect(result).toBe('done');
    expect(calls).toBe(4);
    expect(delays).toEqual([250, 500, 1000]);
  });

  it('gives up after the attempt limit (default 7), rethrowing the last error; delays cap at 8 s', async () => {
    const { delays, sleep } = fakeSleep();
    let calls = 0;
    const last = awsError({ name: 'NoSuchEntity', attempt: 0 });
    await expect(
      retryWhilePropagating(
        async () => {
          calls += 1;
          (last as unknown as { attempt: number }).attempt = calls;
          throw last;
        },
        ['NoSuchEntity'],
        { sleep },
      ),
    ).rejects.toMatchObject({ name: 'NoSuchEntity', attempt: 7 });
    expect(calls).toBe(7);
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 8000]);

    const more = fakeSleep();
    calls = 0;
    await expect(
      retryWhilePropagating(
        async () => {
          calls += 1;
          throw awsError({ name: 'NoSuchEntity' });
        },
        ['NoSuchEntity'],
        { sleep: more.sleep, attempts: 10, firstDelayMs: 1000 },
      ),
    ).rejects.toThrow('boom');
    expect(calls).toBe(10);
    expect(more.delays).toEqual([1000, 2000, 4000, 8000, 8000, 8000, 8000, 8000, 8000]);
  });

  it('does not retry other codes, nor errors without a code', async () => {
    for (const err of [awsError({ name: 'AccessDenied' }), new Error('plain'), awsError({ Code: 'Throttling' })]) {
      const { delays, sleep } = fakeSleep();
      let calls = 0;
      await expect(
        retryWhilePropagating(
          async () => {
            calls += 1;
            throw err;
          },
          ['NoSuchEntity'],
          { sleep },
        ),
      ).rejects.toBe(err);
      expect(calls).toBe(1);
      expect(delays).toEqual([]);
    }
  });

  it('stops retrying as soon as a different error comes', async () => {
    const { delays, sleep } = fakeSleep();
    let calls = 0;
    const denied = awsError({ name: 'AccessDenied' });
    await expect(
      retryWhilePropagating(
        async () => {
          calls += 1;
          throw calls < 3 ? awsError({ name: 'NoSuchEntity' }) : denied;
        },
        ['NoSuchEntity'],
        { sleep },
      ),
    ).rejects.toBe(denied);
    expect(calls).toBe(3);
    expect(delays).toEqual([250, 500]);
  });

  it('attempts: 1 means no retry at all', async () => {
    const { delays, sleep } = fakeSleep();
    let calls = 0;
    await expect(
      retryWhilePropagating(
        async () => {
          calls += 1;
          throw awsError({ name: 'NoSuchEntity' });
        },
        ['NoSuchEntity'],
        { sleep, attempts: 1 },
      ),
    ).rejects.toThrow('boom');
    expect(calls).toBe(1);
    expect(delays).toEqual([]);
  });
});
