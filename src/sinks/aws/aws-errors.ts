/** Reading AWS SDK v3 errors: codes, not-found checks, and retry of eventual-consistency errors. */
import { errorCodeOf } from '../../util/error-class.js';

/** The error's code (`NoSuchBucket`, `AccessDenied`, …), or `Unknown`. */
export function errorCode(err: unknown): string {
  return errorCodeOf(err) ?? 'Unknown';
}

export function hasCode(err: unknown, ...codes: string[]): boolean {
  return codes.includes(errorCode(err));
}

export type Sleep = (ms: number) => Promise<void>;
export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * IAM is eventually consistent: a user or key made a moment ago may be unknown to the next call
 * for 5-15 s. Retries only the named errors, with exponential backoff, instead of a fixed sleep.
 */
export async function retryWhilePropagating<T>(
  fn: () => Promise<T>,
  codes: string[],
  options: { sleep?: Sleep; attempts?: number; firstDelayMs?: number } = {},
): Promise<T> {
  const sleep = options.sleep ?? realSleep;
  const attempts = options.attempts ?? 7;
  let delay = options.firstDelayMs ?? 250;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || !hasCode(err, ...codes)) throw err;
      await sleep(delay);
      delay = Math.min(delay * 2, 8_000);
    }
  }
}
