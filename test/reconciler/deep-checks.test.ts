import { describe, expect, it } from 'vitest';
import { deepCheckDue, isDeepCheckDue } from '../../src/reconciler/deep-checks.js';

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

describe('deepCheckDue (risk-ordered: public exposure first)', () => {
  const windows = { fullMs: HOUR, exposureMs: 15 * 60_000 };

  it('over an hour of one-minute passes, reads each add-on in full once and its exposure settings alone three more times', () => {
    for (const id of ['a', 'b', 'c', 'd']) {
      const checked = { deepCheckedAt: start as Date | null, exposureCheckedAt: start as Date | null };
      const seen: string[] = [];
      for (let minute = 1; minute <= 60; minute++) {
        const now = new Date(start.getTime() + minute * 60_000);
        const depth = deepCheckDue(id, checked, now, windows);
        if (depth === 'full') checked.deepCheckedAt = checked.exposureCheckedAt = now;
        if (depth === 'exposure') checked.exposureCheckedAt = now;
        if (depth !== 'none') seen.push(depth);
      }
      expect(seen.filter((d) => d === 'full'), id).toHaveLength(1);
      expect(seen.filter((d) => d === 'exposure'), id).toHaveLength(3);
    }
  });

  it('never checks exposure alone when its window is no shorter than the full one, and reads an add-on never checked in full', () => {
    const checked = { deepCheckedAt: start, exposureCheckedAt: start };
    for (let minute = 1; minute <= 120; minute++) {
      expect(deepCheckDue('a', checked, new Date(start.getTime() + minute * 60_000), { fullMs: HOUR, exposureMs: HOUR })).not.toBe('exposure');
    }
    expect(deepCheckDue('a', { deepCheckedAt: null, exposureCheckedAt: start }, start, windows)).toBe('full');
    // Recorded before exposure checks existed: the full check's time stands for both.
    expect(deepCheckDue('a', { deepCheckedAt: new Date(start.getTime() - 2 * HOUR), exposureCheckedAt: null }, start, windows)).toBe('full');
  });
});

describe('deepCheckDue when the windows change (an account\'s change events start or stop)', () => {
  it('spreads the checks the shorter windows find overdue over one window from the change, instead of one pass', () => {
    const ids = Array.from({ length: 300 }, (_, i) => `addon-${i}`);
    const lastChecked = new Date(start.getTime() - 20 * HOUR); // on a 24h window, while events arrived
    const windows = { fullMs: HOUR, exposureMs: 15 * 60_000 };
    const checked = new Map(ids.map((id) => [id, { deepCheckedAt: lastChecked as Date | null, exposureCheckedAt: lastChecked as Date | null }]));
    const perPass: number[] = [];
    for (let minute = 1; minute <= 60; minute++) {
      const now = new Date(start.getTime() + minute * 60_000);
      let due = 0;
      for (const id of ids) {
        const c = checked.get(id)!;
        const depth = deepCheckDue(id, c, now, { ...windows, since: start });
        if (depth === 'full') c.deepCheckedAt = c.exposureCheckedAt = now;
        if (depth === 'exposure') c.exposureCheckedAt = now;
        if (depth !== 'none') due++;
      }
      perPass.push(due);
    }
    // Without `since` all 300 would be due at the first pass; with it, each is read once in full
    // within the hour, and no pass reads more than a few times its share.
    expect(deepCheckDue('addon-0', { deepCheckedAt: lastChecked, exposureCheckedAt: lastChecked }, new Date(start.getTime() + 60_000), windows)).toBe('full');
    expect([...checked.values()].every((c) => c.deepCheckedAt! > start)).toBe(true);
    expect(Math.max(...perPass)).toBeLessThan(40);
  });
});
