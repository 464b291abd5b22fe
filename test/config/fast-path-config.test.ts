/** WEBHOOK_SECRETS, FAST_PATH_CONCURRENCY and FAST_PATH_COALESCE (src/config/config.ts). */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';

describe('fast-path configuration', () => {
  it('defaults: no webhook secrets (no receiver), 4 at once, events coalesced for 1 s', () => {
    const config = loadConfig({});
    expect(config.webhookSecrets).toEqual([]);
    expect(config.fastPath).toEqual({ concurrency: 4, coalesceMs: 1_000 });
  });

  it('reads comma-separated secrets in order (the first signs, all verify) and the queue settings', () => {
    const config = loadConfig({ WEBHOOK_SECRETS: ' 0123456789abcdef0123 , fedcba9876543210fedc ', FAST_PATH_CONCURRENCY: '8', FAST_PATH_COALESCE: '500ms' });
    expect(config.webhookSecrets).toEqual(['0123456789abcdef0123', 'fedcba9876543210fedc']);
    expect(config.fastPath).toEqual({ concurrency: 8, coalesceMs: 500 });
    expect(loadConfig({ FAST_PATH_COALESCE: '0' }).fastPath.coalesceMs).toBe(0);
  });

  it('refuses a short secret without repeating it', () => {
    const secret = 'short-secret';
    let message = '';
    try {
      loadConfig({ WEBHOOK_SECRETS: `0123456789abcdef0123,${secret}` });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^WEBHOOK_SECRETS/);
    expect(message).toContain('at least 16 characters');
    expect(message).not.toContain(secret);
  });

  it('refuses a concurrency of 0 or above 64, and a bad duration', () => {
    expect(() => loadConfig({ FAST_PATH_CONCURRENCY: '0' })).toThrow(/FAST_PATH_CONCURRENCY/);
    expect(() => loadConfig({ FAST_PATH_CONCURRENCY: '65' })).toThrow(/FAST_PATH_CONCURRENCY/);
    expect(() => loadConfig({ FAST_PATH_COALESCE: 'soon' })).toThrow(/FAST_PATH_COALESCE/);
  });
});
