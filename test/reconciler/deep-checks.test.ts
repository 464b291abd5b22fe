import { describe, expect, it } from 'vitest';
import { isDeepCheckDue } from '../../src/reconciler/deep-checks.js';

const HOUR = 3_600_000;
const start = new Date('2026-11-22T00:00:00Z');

describe('isDeepCheckDue', () => {
  it('is due for a resource never checked, and on every pass with a zero window', () => {
    expect(isDeepCheckDue('a', null, start, HOUR)).toBe(true);
    expect(isDeepCheckDue('a', start, new Date(start.getTime() + 1), 0)).toBe(true);
  });

  it('checks each resource exactly once per window', () => {
    for (const id of ['a', 'b', 'c', 'd', 'e']) {
      let last: Date = start;
      let checks = 0;
      for (let minute = 1; minute <= 10 * 60; minute++) {
        const now = new Date(start.getTime() + minute * 60_000);
        if (isDeepCheckDue(id, last, now, HOUR)) {
          checks++;
          last = now;
        }
      }
      expect(checks, id).toBe(10);
    }
  });

  it('spreads resources made at the same moment over the window', () => {
    const ids = Array.from({ length: 600 }, (_, i) => `addon-${i}`);
    const perPass: number[] = [];
    const last = new Map(ids.map((id) => [id, start]));
    for (let minute = 1; minute <= 120; minute++) {
      const now = new Date(start.getTime() + minute * 60_000);
      const due = ids.filter((id) => isDeepCheckDue(id, last.get(id)!, now, HOUR));
      for (const id of due) last.set(id, now);
      perPass.push(due.length);
    }
    // 600 resources over two hours of one-minute passes: each checked twice, about 10 a pass,
    // never the whole fleet at once.
    expect(perPass.reduce((a, b) => a + b, 0)).toBe(1200);
    expect(Math.max(...perPass)).toBeLessThan(40);
  });
});
