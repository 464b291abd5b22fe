/** The failed-authentication counter: per client and minute, bounded however many clients fail. */
import { describe, expect, it } from 'vitest';
import { FailureCounter } from '../../src/http/authentication.js';

describe('FailureCounter', () => {
  it('exhausts a client after its allowance, for the rest of its minute only', () => {
    let now = 0;
    const failures = new FailureCounter({ perMinute: 2, now: () => now });
    failures.record('a');
    expect(failures.exhausted('a')).toBe(false);
    failures.record('a');
    expect(failures.exhausted('a')).toBe(true);
    expect(failures.exhausted('b')).toBe(false);
    now = 59_999;
    expect(failures.exhausted('a')).toBe(true);
    now = 60_000;
    expect(failures.exhausted('a')).toBe(false);
  });

  it('remembers at most 100,000 clients at once, the latest, and forgets expired ones', () => {
    let now = 0;
    const failures = new FailureCounter({ perMinute: 1, now: () => now });
    for (let i = 0; i < 100_050; i += 1) failures.record(`10.0.${i >> 8}.${i & 255}-${i}`);
    expect(failures.size).toBe(100_000);
    expect(failures.exhausted('10.0.0.0-0')).toBe(false); // the oldest went
    expect(failures.exhausted(`10.0.${100_049 >> 8}.${100_049 & 255}-100049`)).toBe(true);
    now = 60_000;
    failures.record('late');
    expect(failures.size).toBe(1);
  });
});
