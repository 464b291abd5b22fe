/** The in-memory replay store: first sight, repeats, the size bound (LRU) and the age bound. */
import { describe, expect, it } from 'vitest';
import { MemoryReplayStore } from '../../src/webhooks/replay-store.js';

describe('MemoryReplayStore', () => {
  it('says true the first time an id is seen and false after', () => {
    const store = new MemoryReplayStore();
    expect(store.remember('a')).toBe(true);
    expect(store.remember('a')).toBe(false);
    expect(store.remember('b')).toBe(true);
    store.forget('a');
    expect(store.remember('a')).toBe(true);
  });

  it('keeps at most maxEntries, dropping the least recently seen', () => {
    const store = new MemoryReplayStore({ maxEntries: 3 });
    for (const id of ['a', 'b', 'c']) store.remember(id);
    expect(store.remember('a')).toBe(false); // a is now the most recent
    store.remember('d'); // evicts b
    expect(store.size).toBe(3);
    expect(store.remember('a')).toBe(false);
    expect(store.remember('c')).toBe(false);
    expect(store.remember('b')).toBe(true); // forgotten, so new again (and evicts d)
    expect(store.remember('d')).toBe(true);
  });

  it('forgets ids not seen for maxAgeMs', () => {
    let now = 0;
    const store = new MemoryReplayStore({ maxAgeMs: 1_000, now: () => now });
    store.remember('a');
    now = 500;
    store.remember('b');
    now = 999;
    expect(store.remember('a')).toBe(false); // seen again: its age restarts
    now = 1_600;
    expect(store.size).toBe(2);
    expect(store.remember('b')).toBe(true); // b last seen at 500: expired
    expect(store.remember('a')).toBe(false); // a last seen at 999: still there
    now = 10_000;
    expect(store.remember('x')).toBe(true);
    expect(store.size).toBe(1);
  });

  it('stays bounded under a flood of distinct ids', () => {
    const store = new MemoryReplayStore({ maxEntries: 100 });
    for (let i = 0; i < 10_000; i++) store.remember(`id-${i}`);
    expect(store.size).toBe(100);
    expect(store.remember('id-9999')).toBe(false);
    expect(store.remember('id-0')).toBe(true);
  });

  it('refuses nonsense bounds', () => {
    expect(() => new MemoryReplayStore({ maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => new MemoryReplayStore({ maxAgeMs: 0 })).toThrow(/maxAgeMs/);
  });
});
