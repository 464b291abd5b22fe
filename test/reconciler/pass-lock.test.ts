/**
 * The lock that keeps a full pass and keyed reconciles apart (controller.ts): keyed reconciles
 * share it, a full pass holds it alone, and it is granted in arrival order, so a stream of keyed
 * reconciles cannot starve the resync.
 */
import { describe, expect, it } from 'vitest';
import { PassLock } from '../../src/reconciler/controller.js';
import { gate, tick } from '../support/gate.js';


describe('PassLock', () => {
  it('keyed reconciles run side by side; a full pass waits for them and runs alone', async () => {
    const lock = new PassLock();
    const log: string[] = [];
    const a = gate();
    const b = gate();
    const full = gate();
    const keyedA = lock.shared(async () => { log.push('A start'); await a.opened; log.push('A end'); });
    const keyedB = lock.shared(async () => { log.push('B start'); await b.opened; log.push('B end'); });
    const pass = lock.exclusive(async () => { log.push('full start'); await full.opened; log.push('full end'); });
    // Arrives after the full pass: waits for it, although only keyed reconciles run now.
    const keyedC = lock.shared(async () => { log.push('C'); });
    await tick();
    expect(log).toEqual(['A start', 'B start']);
    a.open();
    await tick();
    expect(log).toEqual(['A start', 'B start', 'A end']);
    b.open();
    await tick();
    expect(log).toEqual(['A start', 'B start', 'A end', 'B end', 'full start']);
    full.open();
    await Promise.all([keyedA, keyedB, pass, keyedC]);
    expect(log).toEqual(['A start', 'B start', 'A end', 'B end', 'full start', 'full end', 'C']);
  });

  it('a failing holder releases the lock', async () => {
    const lock = new PassLock();
    await expect(lock.exclusive(async () => { throw new Error('pass failed'); })).rejects.toThrow('pass failed');
    await expect(lock.shared(async () => { throw new Error('keyed failed'); })).rejects.toThrow('keyed failed');
    expect(await lock.exclusive(async () => 'ran')).toBe('ran');
  });
});
