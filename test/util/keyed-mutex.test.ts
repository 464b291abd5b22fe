import { describe, expect, it } from 'vitest';
import { KeyedMutex } from '../../src/util/keyed-mutex.js';
import { gate, tick } from '../support/gate.js';

describe('KeyedMutex', () => {
  it('runs the tasks of one key one at a time, in the order they asked', async () => {
    const mutex = new KeyedMutex();
    const log: string[] = [];
    const first = gate();
    const a = mutex.run('app-1', async () => {
      log.push('a starts');
      await first.opened;
      log.push('a ends');
      return 'a';
    });
    const b = mutex.run('app-1', async () => {
      log.push('b runs');
      return 'b';
    });
    await tick();
    expect(log).toEqual(['a starts']);
    first.open();
    expect(await Promise.all([a, b])).toEqual(['a', 'b']);
    expect(log).toEqual(['a starts', 'a ends', 'b runs']);
    expect(mutex.busyKeys).toBe(0);
  });

  it('lets other keys run meanwhile', async () => {
    const mutex = new KeyedMutex();
    const held = gate();
    const slow = mutex.run('app-1', () => held.opened);
    expect(await mutex.run('app-2', async () => 'other')).toBe('other');
    held.open();
    await slow;
  });

  it('a task that fails passes its error on and does not stop the next one', async () => {
    const mutex = new KeyedMutex();
    const failing = mutex.run('app-1', async () => {
      throw new Error('boom');
    });
    const next = mutex.run('app-1', async () => 'next');
    await expect(failing).rejects.toThrow('boom');
    expect(await next).toBe('next');
    expect(mutex.busyKeys).toBe(0);
  });
});
