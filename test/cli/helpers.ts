/** Helpers of the CLI tests that run `serve` and one-shot commands through the binary. */
import { Store } from '../../src/store/store.js';
import type { LinkAuth } from '../../src/store/types.js';

/** Polls `probe` until it gives a value (not undefined), or fails after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Links a team straight in the store (what `link` does after validating the credentials). */
export async function seedLink(
  databaseUrl: string,
  fernetKey: string,
  link: { teamId: string; teamName: string; accountId: string; auth: LinkAuth },
): Promise<void> {
  const store = await Store.open({ databaseUrl, dataDir: '/nonexistent', fernetKeys: [fernetKey] });
  try {
    await store.links.save({ ...link, region: 'us-east-1' });
  } finally {
    await store.close();
  }
}
