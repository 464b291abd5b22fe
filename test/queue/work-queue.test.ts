/**
 * The keyed work queue with a hand-moved clock: dedupe, one run in flight per key, the dirty
 * re-run, concurrency, backoff growth, cap and reset, the global token bucket, deadlines and
 * shutdown. No test waits for real time.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  WorkQueue,
  WorkQueueShutdownError,
  WorkTimeoutError,
  type WorkOutcome,
  type WorkQueueOptions,
  type WorkResult,
} from '../../src/queue/work-queue.js';
import { TerminalError } from '../../src/util/errors.js';
import { ManualClock, settle } from './manual-clock.js';

interface RunRecord {
  key: string;
  at: number;
  signal: AbortSignal;
  finish(result: WorkResult): void;
  fail(error: unknown): void;
  ended: boolean;
}

/**
 * Handlers whose runs stay open until the test ends them (`auto` answers at once instead), with
 * bookkeeping of what ran when and how many overlapped.
 */
class Handlers {
  readonly runs: RunRecord[] = [];
  private readonly active = new Map<string, number>();
  maxActive = 0;
  maxPerKey = 0;

  constructor(
    private readonly clock: ManualClock,
    private readonly auto?: (key: string, runIndex: number) => WorkResult | Error,
  ) {}

  readonly handler = (key: string, signal: AbortSignal): Promise<WorkResult> => {
    const perKey = (this.active.get(key) ?? 0) + 1;
    this.active.set(key, perKey);
    this.maxPerKey = Math.max(this.maxPerKey, perKey);
    this.maxActive = Math.max(this.maxActive, [...this.active.values()].reduce((a, b) => a + b, 0));
    const end = () => {
      const n = (this.active.get(key) ?? 1) - 1;
      if (n === 0) this.active.delete(key);
      else this.active.set(key, n);
    };
    return new Promise<WorkResult>((resolve, reject) => {
      const record: RunRecord = {
        key,
        at: this.clock.now(),
        signal,
        ended: false,
        finish: (result) => {
          record.ended = true;
          end();
          resolve(result);
        },
        fail: (error) => {
          record.ended = true;
          end();
          reject(error);
        },
      };
      this.runs.push(record);
      if (this.auto) {
        const answer = this.auto(key, this.runs.filter((r) => r.key === key).length - 1);
        if (answer instanceof Error) record.fail(answer);
        else record.finish(answer);
      }
    });
  };

  keys(): string[] {
    return this.runs.map((r) => r.key);
  }

  times(key: string): number[] {
    return this.runs.filter((r) => r.key === key).map((r) => r.at);
  }

  open(key?: string): RunRecord[] {
    return this.runs.filter((r) => !r.ended && (key === undefined || r.key === key));
  }

  /** Ends the one open run of `key`. */
  finish(key: string, result: WorkResult = 'done'): void {
    const open = this.open(key);
    expect(open, `open runs of ${key}`).toHaveLength(1);
    open[0]!.finish(result);
  }
}

const NO_LIMIT = { qps: Infinity, burst: 1 };

let queues: WorkQueue[] = [];
afterEach(async () => {
  // Leave nothing running between tests; handlers left open are abandoned after the grace.
  const pending = queues.map((q) => q.shutDown({ timeoutMs: 0 }));
  queues = [];
  void pending;
  vi.useRealTimers();
});

function setup(
  options: Partial<WorkQueueOptions> = {},
  auto?: (key: string, runIndex: number) => WorkResult | Error,
): { clock: ManualClock; handlers: Handlers; queue: WorkQueue } {
  const clock = new ManualClock();
  const handlers = new Handlers(clock, auto);
  const queue = new WorkQueue({ handler: handlers.handler, rateLimit: NO_LIMIT, clock, ...options });
  queues.push(queue);
  return { clock, handlers, queue };
}

describe('dedupe', () => {
  it('a key added many times before it starts runs once', async () => {
    const dedupes: string[] = [];
    const { handlers, queue } = setup({ concurrency: 1, hooks: { onDedupe: (k) => dedupes.push(k) } });
    queue.add('blocker'); // occupies the only worker
    expect(queue.add('a')).toBe(true);
    for (let i = 0; i < 9; i++) expect(queue.add('a')).toBe(false);
    expect(queue.depth).toBe(1);
    expect(dedupes).toHaveLength(9);
    handlers.finish('blocker');
    await settle();
    handlers.finish('a');
    await queue.idle();
    expect(handlers.keys()).toEqual(['blocker', 'a']);
  });

  it('keys start in the order they were first added', async () => {
    const { handlers, queue } = setup({ concurrency: 1 }, () => 'done');
    queue.add('blocker-is-auto');
    queue.enqueueAll(['c', 'a', 'b', 'a', 'c']);
    await queue.idle();
    expect(handlers.keys()).toEqual(['blocker-is-auto', 'c', 'a', 'b']);
  });

  it('a storm of 500 adds for one key while it runs causes exactly one more run', async () => {
    const { handlers, queue } = setup();
    queue.add('addon-1');
    for (let i = 0; i < 500; i++) queue.add('addon-1');
    expect(handlers.open('addon-1')).toHaveLength(1);
    handlers.finish('addon-1');
    await settle();
    handlers.finish('addon-1');
    await queue.idle();
    expect(handlers.times('addon-1')).toHaveLength(2);
  });

  it('a storm of 500 delayed adds within the delay collapses into one run', async () => {
    const { clock, handlers, queue } = setup({}, () => 'done');
    for (let i = 0; i < 500; i++) {
      queue.addAfter('addon-1', 1_000);
      await clock.advance(1); // the storm lasts 500 ms, shorter than the delay
    }
    await clock.advance(1_000);
    expect(handlers.times('addon-1')).toEqual([1_000]);
  });
});

describe('one in flight per key', () => {
  it('never runs a key twice at once; an add during the run re-queues it once, after the run', async () => {
    const { handlers, queue } = setup({ concurrency: 4 });
    queue.add('a');
    expect(queue.add('a')).toBe(true); // accepted: marked dirty
    expect(queue.add('a')).toBe(false); // already dirty
    await settle();
    expect(handlers.open('a')).toHaveLength(1);
    expect(queue.stats()).toMatchObject({ queued: 0, running: 1, dirty: 1 });
    handlers.finish('a');
    await settle();
    expect(handlers.open('a')).toHaveLength(1); // the dirty re-run
    handlers.finish('a');
    await queue.idle();
    expect(handlers.times('a')).toHaveLength(2);
    expect(handlers.maxPerKey).toBe(1);
  });

  it('other keys run beside it', async () => {
    const { handlers, queue } = setup({ concurrency: 4 });
    queue.enqueueAll(['a', 'b', 'c']);
    queue.add('a');
    await settle();
    expect(handlers.open().map((r) => r.key).sort()).toEqual(['a', 'b', 'c']);
    expect(handlers.maxPerKey).toBe(1);
  });

  it('a dirty key whose run failed is still re-run at once (as in controller-runtime), and its pending retry is cancelled', async () => {
    const { clock, handlers, queue } = setup({ backoff: { baseMs: 1_000, maxMs: 60_000 } });
    queue.add('a');
    queue.add('a'); // dirty
    handlers.finish('a', 'retry');
    await settle();
    expect(handlers.times('a')).toEqual([0, 0]);
    handlers.finish('a', 'done');
    await clock.advance(10_000);
    expect(handlers.times('a')).toEqual([0, 0]); // the retry scheduled at 1 s was covered by the re-run
  });
});

describe('concurrency', () => {
  it('runs at most `concurrency` handlers, and starts the next as one ends', async () => {
    const { handlers, queue } = setup({ concurrency: 3 });
    queue.enqueueAll(['k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7']);
    await settle();
    expect(handlers.open().map((r) => r.key)).toEqual(['k1', 'k2', 'k3']);
    expect(queue.depth).toBe(4);
    handlers.finish('k2');
    await settle();
    expect(handlers.open().map((r) => r.key)).toEqual(['k1', 'k3', 'k4']);
    for (const k of ['k1', 'k3', 'k4']) handlers.finish(k);
    await settle();
    for (const k of ['k5', 'k6', 'k7']) handlers.finish(k);
    await queue.idle();
    expect(handlers.maxActive).toBe(3);
    expect(handlers.keys()).toEqual(['k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7']);
  });
});

describe('backoff', () => {
  it('grows exponentially from base and stops at max', async () => {
    const retries: Array<[number, number]> = [];
    const { clock, handlers, queue } = setup(
      { backoff: { baseMs: 100, maxMs: 1_000 }, hooks: { onRetry: (_k, delay, failures) => retries.push([delay, failures]) } },
      () => 'retry',
    );
    queue.add('a');
    await clock.advance(5_000);
    // Runs at 0, then after 100, 200, 400, 800, 1000, 1000, …
    expect(handlers.times('a').slice(0, 8)).toEqual([0, 100, 300, 700, 1_500, 2_500, 3_500, 4_500]);
    expect(retries.slice(0, 7)).toEqual([
      [100, 1],
      [200, 2],
      [400, 3],
      [800, 4],
      [1_000, 5],
      [1_000, 6],
      [1_000, 7],
    ]);
    expect(queue.numRequeues('a')).toBeGreaterThanOrEqual(8);
  });

  it('a throw counts as a retry and is reported; so does a result that is neither done nor retry', async () => {
    const errors: Array<[string, unknown]> = [];
    const outcomes: WorkOutcome[] = [];
    const { clock, handlers, queue } = setup(
      {
        backoff: { baseMs: 100, maxMs: 100 },
        hooks: { onError: (k, e) => errors.push([k, e]), onWorkDuration: (_k, _ms, outcome) => outcomes.push(outcome) },
      },
      (_key, run) => (run === 0 ? new Error('Heroku answered 503') : run === 1 ? ('maybe' as WorkResult) : 'done'),
    );
    queue.add('a');
    await clock.advance(1_000);
    expect(handlers.times('a')).toEqual([0, 100, 200]);
    expect(outcomes).toEqual(['error', 'error', 'done']);
    expect(errors.map(([k, e]) => [k, (e as Error).message])).toEqual([
      ['a', 'Heroku answered 503'],
      ['a', "work queue handler returned maybe for a; expected 'done', 'retry' or 'wait'"],
    ]);
    expect(queue.numRequeues('a')).toBe(0);
  });

  it('a failure that asking again soon will not fix waits the maximum backoff at once; a retryable one waits the first step', async () => {
    const retries: Array<[string, number, number]> = [];
    const failures: Array<[string, string, boolean]> = [];
    // Shaped as the AWS SDK throws them: a name and the HTTP status in $metadata.
    const denied = Object.assign(new Error('User: arn:aws:sts::111122223333:assumed-role/x is not authorized to perform: s3:PutBucketTagging'), {
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    const unavailable = Object.assign(new Error('Service Unavailable'), { name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } });
    const { clock, handlers, queue } = setup(
      {
        backoff: { baseMs: 100, maxMs: 10_000 },
        hooks: {
          onRetry: (k, delay, n) => retries.push([k, delay, n]),
          onError: (k, _e, failure) => failures.push([k, failure.kind, failure.retryable]),
        },
      },
      (key, run) => (run > 0 ? 'done' : key === 'denied' ? denied : key === 'flaky' ? unavailable : 'wait'),
    );
    queue.add('denied');
    queue.add('flaky');
    queue.add('waits');
    await clock.advance(9_999);
    expect(handlers.times('flaky')).toEqual([0, 100]);
    expect(handlers.times('denied')).toEqual([0]);
    expect(handlers.times('waits')).toEqual([0]);
    await clock.advance(1);
    expect(handlers.times('denied')).toEqual([0, 10_000]);
    expect(handlers.times('waits')).toEqual([0, 10_000]);
    expect(retries.sort()).toEqual([
      ['denied', 10_000, 1],
      ['flaky', 100, 1],
      ['waits', 10_000, 1],
    ]);
    expect(failures.sort()).toEqual([
      ['denied', 'access-denied', false],
      ['flaky', 'unavailable', true],
    ]);
    // Success forgets it as for any failure.
    expect(queue.numRequeues('denied')).toBe(0);
  });

  it('a TerminalError or a refused request (4xx) also waits the maximum backoff; a 429 or a not-found backs off step by step', async () => {
    const { clock, handlers, queue } = setup({ backoff: { baseMs: 100, maxMs: 5_000 } }, (key, run) =>
      run > 0
        ? 'done'
        : key === 'terminal'
          ? new TerminalError('the linked role does not exist', 'NoSuchEntity')
          : key === 'refused'
            ? Object.assign(new Error('Invalid request'), { statusCode: 422, id: 'invalid_params' })
            : key === 'gone'
              ? Object.assign(new Error('The specified bucket does not exist'), { name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } })
              : Object.assign(new Error('Rate limit exceeded'), { statusCode: 429, id: 'rate_limit' }),
    );
    for (const key of ['terminal', 'refused', 'throttled', 'gone']) queue.add(key);
    await clock.advance(5_000);
    expect(handlers.times('throttled')).toEqual([0, 100]);
    expect(handlers.times('gone')).toEqual([0, 100]); // the next run reads afresh and sees it gone
    expect(handlers.times('terminal')).toEqual([0, 5_000]);
    expect(handlers.times('refused')).toEqual([0, 5_000]);
  });

  it('a handler that throws synchronously is a retry, not a crash of the queue', async () => {
    const clock = new ManualClock();
    let calls = 0;
    const queue = new WorkQueue({
      handler: () => {
        calls++;
        if (calls === 1) throw new Error('sync throw');
        return Promise.resolve('done');
      },
      rateLimit: NO_LIMIT,
      backoff: { baseMs: 50, maxMs: 50 },
      clock,
    });
    queues.push(queue);
    queue.add('a');
    await clock.advance(100);
    expect(calls).toBe(2);
  });

  it('success forgets the backoff: the next failure starts again from base', async () => {
    const { clock, handlers, queue } = setup({ backoff: { baseMs: 100, maxMs: 10_000 } }, (_key, run) =>
      run < 3 ? 'retry' : run === 3 ? 'done' : run === 4 ? 'retry' : 'done',
    );
    queue.add('a');
    await clock.advance(1_000);
    expect(handlers.times('a')).toEqual([0, 100, 300, 700]); // 3 failures, then done at 700
    expect(queue.numRequeues('a')).toBe(0);
    queue.add('a');
    await clock.advance(1_000);
    // fails at 1000, retried after base (100) again, not after 800
    expect(handlers.times('a')).toEqual([0, 100, 300, 700, 1_000, 1_100]);
  });

  it('backoff is per key: one failing key does not slow another', async () => {
    const { clock, handlers, queue } = setup({ backoff: { baseMs: 1_000, maxMs: 1_000 } }, (key) => (key === 'bad' ? 'retry' : 'done'));
    queue.add('bad');
    queue.add('good');
    await clock.advance(10);
    queue.add('good');
    await clock.advance(10);
    expect(handlers.times('good')).toEqual([0, 10]);
    expect(queue.numRequeues('bad')).toBe(1);
    expect(queue.numRequeues('good')).toBe(0);
  });

  it('addRateLimited and forget can be called by hand; nextBackoff says what comes next', async () => {
    const { clock, handlers, queue } = setup({ backoff: { baseMs: 200, maxMs: 500 } }, () => 'done');
    expect(queue.nextBackoff('a')).toBe(200);
    queue.addRateLimited('a');
    expect(queue.nextBackoff('a')).toBe(400);
    expect(queue.numRequeues('a')).toBe(1);
    await clock.advance(199);
    expect(handlers.runs).toHaveLength(0);
    await clock.advance(1);
    expect(handlers.times('a')).toEqual([200]);
    // the run answered done, which forgets
    expect(queue.numRequeues('a')).toBe(0);
    queue.addRateLimited('b');
    queue.addRateLimited('b');
    queue.addRateLimited('b');
    expect(queue.nextBackoff('b')).toBe(500);
    queue.forget('b');
    expect(queue.nextBackoff('b')).toBe(200);
  });

  it('a plain add does not wait for a pending backoff, and the run it starts covers the retry', async () => {
    const { clock, handlers, queue } = setup({ backoff: { baseMs: 1_000, maxMs: 1_000 } }, () => 'done');
    queue.addRateLimited('a');
    await clock.advance(100);
    queue.add('a');
    await clock.advance(5_000);
    expect(handlers.times('a')).toEqual([100]);
  });

  it('addAfter keeps the sooner of two delayed adds', async () => {
    const { clock, handlers, queue } = setup({}, () => 'done');
    expect(queue.addAfter('a', 500)).toBe(true);
    expect(queue.addAfter('a', 900)).toBe(false);
    expect(queue.addAfter('a', 300)).toBe(true);
    await clock.advance(2_000);
    expect(handlers.times('a')).toEqual([300]);
  });
});

describe('global rate limit', () => {
  it('starts at most `burst` keys at once, then `qps` per second', async () => {
    const { clock, handlers, queue } = setup({ concurrency: 100, rateLimit: { qps: 2, burst: 3 } }, () => 'done');
    queue.enqueueAll(Array.from({ length: 8 }, (_, i) => `k${i}`));
    await clock.advance(3_000);
    expect(handlers.runs.map((r) => r.at)).toEqual([0, 0, 0, 500, 1_000, 1_500, 2_000, 2_500]);
  });

  it('limits retries and re-runs too, since it sits where keys start', async () => {
    const { clock, handlers, queue } = setup({ rateLimit: { qps: 1, burst: 1 }, backoff: { baseMs: 10, maxMs: 10 } }, () => 'retry');
    queue.add('a');
    await clock.advance(3_500);
    expect(handlers.times('a')).toEqual([0, 1_000, 2_000, 3_000]);
  });

  it('refills while idle, up to burst', async () => {
    const { clock, handlers, queue } = setup({ rateLimit: { qps: 1, burst: 2 } }, () => 'done');
    queue.enqueueAll(['a', 'b', 'c']);
    await clock.advance(1_000);
    expect(handlers.runs.map((r) => r.at)).toEqual([0, 0, 1_000]);
    await clock.advance(10_000); // refills to 2, not 10
    queue.enqueueAll(['d', 'e', 'f']);
    await clock.advance(1_000);
    expect(handlers.runs.slice(3).map((r) => r.at)).toEqual([11_000, 11_000, 12_000]);
  });
});

describe('deadlines', () => {
  it("aborts a handler's signal when its own deadline passes, and retries the key", async () => {
    const { clock, handlers, queue } = setup({ handlerTimeoutMs: 1_000, backoff: { baseMs: 100, maxMs: 100 } });
    queue.add('a');
    await clock.advance(999);
    const run = handlers.open('a')[0]!;
    expect(run.signal.aborted).toBe(false);
    await clock.advance(1);
    expect(run.signal.aborted).toBe(true);
    expect(run.signal.reason).toBeInstanceOf(WorkTimeoutError);
    run.fail(run.signal.reason);
    await clock.advance(100);
    expect(handlers.times('a')).toEqual([0, 1_100]);
  });

  it('the deadline timer is cleared when the handler ends in time', async () => {
    const { clock, handlers, queue } = setup({ handlerTimeoutMs: 1_000 });
    queue.add('a');
    const run = handlers.open('a')[0]!;
    handlers.finish('a');
    await clock.advance(5_000);
    expect(run.signal.aborted).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('shutdown', () => {
  it('with nothing running, resolves at once; later adds are refused', async () => {
    const { handlers, queue } = setup();
    await expect(queue.shutDown()).resolves.toEqual({ drained: true, abandoned: [], dropped: 0 });
    expect(queue.shuttingDown).toBe(true);
    expect(queue.add('a')).toBe(false);
    expect(queue.addAfter('a', 10)).toBe(false);
    expect(queue.addRateLimited('a')).toBe(false);
    expect(queue.enqueueAll(['a', 'b'])).toBe(0);
    await settle();
    expect(handlers.runs).toHaveLength(0);
  });

  it('stops taking keys, drops queued ones and pending retries, and waits for in-flight ones', async () => {
    const depths: number[] = [];
    const { clock, handlers, queue } = setup({ concurrency: 2, hooks: { onDepth: (d) => depths.push(d) } });
    queue.enqueueAll(['a', 'b', 'c', 'd']);
    queue.addAfter('e', 1_000);
    queue.add('a'); // dirty
    await settle();
    let result: unknown;
    const done = queue.shutDown({ timeoutMs: 10_000 }).then((r) => (result = r));
    await clock.advance(100);
    expect(result).toBeUndefined();
    handlers.finish('a', 'retry'); // no retry is scheduled while shutting down
    handlers.finish('b');
    await done;
    expect(result).toEqual({ drained: true, abandoned: [], dropped: 4 }); // c, d, dirty a, delayed e
    await clock.advance(60_000);
    expect(handlers.keys()).toEqual(['a', 'b']);
    expect(depths.at(-1)).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('at the deadline aborts the signals of handlers still running; those that stop count as drained', async () => {
    const { clock, handlers, queue } = setup();
    queue.add('slow');
    let result: unknown;
    void queue.shutDown({ timeoutMs: 5_000 }).then((r) => (result = r));
    const run = handlers.open('slow')[0]!;
    run.signal.addEventListener('abort', () => run.fail(run.signal.reason));
    await clock.advance(4_999);
    expect(run.signal.aborted).toBe(false);
    await clock.advance(1);
    expect(run.signal.reason).toBeInstanceOf(WorkQueueShutdownError);
    expect(result).toEqual({ drained: true, abandoned: [], dropped: 0 });
  });

  it('reports handlers that ignore the abort as abandoned after the grace period', async () => {
    const { clock, handlers, queue } = setup({ abortGraceMs: 500 });
    queue.enqueueAll(['stubborn', 'polite']);
    let result: unknown;
    void queue.shutDown({ timeoutMs: 1_000 }).then((r) => (result = r));
    handlers.finish('polite');
    await clock.advance(1_499);
    expect(result).toBeUndefined();
    await clock.advance(1);
    expect(result).toEqual({ drained: false, abandoned: ['stubborn'], dropped: 0 });
    // The key is still held: one in flight per key holds even after shutdown gave up on it.
    expect(queue.inFlight()).toEqual(['stubborn']);
  });

  it('uses the configured default deadline, and a second call returns the same promise', async () => {
    const { clock, handlers, queue } = setup({ shutdownTimeoutMs: 2_000, abortGraceMs: 0 });
    queue.add('a');
    const first = queue.shutDown();
    expect(queue.shutDown()).toBe(first);
    await clock.advance(2_000);
    expect(handlers.open('a')[0]!.signal.aborted).toBe(true);
    await expect(first).resolves.toEqual({ drained: false, abandoned: ['a'], dropped: 0 });
  });
});

describe('metrics hooks and helpers', () => {
  it('report depth, adds, start latency and work durations from the injected clock', async () => {
    const events: string[] = [];
    const { clock, handlers, queue } = setup({
      concurrency: 1,
      hooks: {
        onDepth: (d) => events.push(`depth ${d}`),
        onAdd: (k) => events.push(`add ${k}`),
        onStart: (k, ms) => events.push(`start ${k} after ${ms}`),
        onWorkDuration: (k, ms, outcome) => events.push(`end ${k} ${outcome} in ${ms}`),
      },
    });
    queue.add('a');
    queue.add('b');
    await clock.advance(250);
    handlers.finish('a');
    await clock.advance(100);
    handlers.finish('b', 'retry');
    await settle();
    expect(events).toEqual([
      'add a',
      'start a after 0',
      'add b',
      'depth 1',
      'end a done in 250',
      'start b after 250',
      'depth 0',
      'end b retry in 100',
    ]);
  });

  it('enqueueAll counts the keys it added and skips the ones already pending', async () => {
    const { queue } = setup({ concurrency: 1 });
    queue.add('x'); // running
    expect(queue.enqueueAll(['a', 'b', 'a'])).toBe(2);
    expect(queue.enqueueAll(['a', 'b', 'c', 'x'])).toBe(2); // c new, x marked dirty
    expect(queue.stats()).toEqual({ queued: 3, running: 1, dirty: 1, delayed: 0 });
  });

  it('idle() waits for queued, dirty and running keys, but not for delayed retries', async () => {
    const { clock, handlers, queue } = setup({ backoff: { baseMs: 1_000, maxMs: 1_000 } });
    await queue.idle();
    queue.add('a');
    let idle = false;
    void queue.idle().then(() => (idle = true));
    await settle();
    expect(idle).toBe(false);
    handlers.finish('a', 'retry');
    await settle();
    expect(idle).toBe(true);
    expect(queue.stats().delayed).toBe(1);
    await clock.advance(1_000);
    expect(handlers.times('a')).toEqual([0, 1_000]);
  });

  it('refuses nonsense options', () => {
    const handler = async (): Promise<WorkResult> => 'done';
    expect(() => new WorkQueue({ handler, concurrency: 0 })).toThrow(/concurrency/);
    expect(() => new WorkQueue({ handler, concurrency: 1.5 })).toThrow(/concurrency/);
    expect(() => new WorkQueue({ handler, backoff: { baseMs: 0, maxMs: 10 } })).toThrow(/backoff/);
    expect(() => new WorkQueue({ handler, backoff: { baseMs: 10, maxMs: 5 } })).toThrow(/backoff/);
    expect(() => new WorkQueue({ handler, rateLimit: { qps: 0, burst: 1 } })).toThrow(/qps/);
    expect(() => new WorkQueue({ handler, rateLimit: { qps: 1, burst: 0 } })).toThrow(/burst/);
  });
});

describe('default clock', () => {
  it('works with vitest fake timers (the process clock is looked up at each call)', async () => {
    vi.useFakeTimers({ now: 0 });
    const starts: number[] = [];
    const queue = new WorkQueue({
      handler: async () => {
        starts.push(Date.now());
        return starts.length < 3 ? 'retry' : 'done';
      },
      backoff: { baseMs: 1_000, maxMs: 60_000 },
    });
    queues.push(queue);
    queue.add('a');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(starts).toEqual([0, 1_000, 3_000]);
    await queue.shutDown();
  });
});
