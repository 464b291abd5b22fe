/** The token bucket on its own: burst, refill, cap, and a clock that steps backwards. */
import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/queue/token-bucket.js';

describe('TokenBucket', () => {
  it('gives `burst` tokens at once, then says how long until the next', () => {
    const bucket = new TokenBucket({ qps: 4, burst: 2 });
    expect(bucket.take(0)).toBe(0);
    expect(bucket.take(0)).toBe(0);
    expect(bucket.take(0)).toBe(250);
    expect(bucket.take(100)).toBe(150);
    expect(bucket.take(250)).toBe(0);
  });

  it('refills at qps up to burst, never beyond', () => {
    const bucket = new TokenBucket({ qps: 1, burst: 3 });
    for (let i = 0; i < 3; i++) bucket.take(0);
    expect(bucket.available(1_500)).toBeCloseTo(1.5);
    expect(bucket.available(60_000)).toBe(3);
  });

  it('finds its token when it said it would, despite floating point', () => {
    for (const qps of [3, 7, 0.3, 1 / 3]) {
      const bucket = new TokenBucket({ qps, burst: 1 });
      let now = 0;
      bucket.take(now);
      for (let i = 0; i < 100; i++) {
        const wait = bucket.take(now);
        expect(wait).toBeGreaterThan(0);
        now += wait;
        expect(bucket.take(now), `qps ${qps}, token ${i}`).toBe(0); // never a second wait
      }
      // The rounding up to whole milliseconds costs less than 1 ms per token.
      expect(now).toBeGreaterThanOrEqual((100 / qps) * 1000 - 1);
      expect(now).toBeLessThanOrEqual((100 / qps) * 1000 + 100);
    }
  });

  it('does not mint tokens when the clock steps backwards', () => {
    const bucket = new TokenBucket({ qps: 1, burst: 1 });
    bucket.take(10_000);
    expect(bucket.take(5_000)).toBeGreaterThan(0);
    expect(bucket.available(10_000)).toBeLessThan(1);
    expect(bucket.take(11_000)).toBe(0);
  });

  it('qps Infinity never waits', () => {
    const bucket = new TokenBucket({ qps: Infinity, burst: 1 });
    for (let i = 0; i < 1_000; i++) expect(bucket.take(0)).toBe(0);
  });
});
