import { describe, expect, it } from 'vitest';
import { ApiCallRecorder, type ApiCall } from '../../../src/sinks/aws/api-calls.js';

const call = (operation: string): ApiCall => ({ accountId: '111122223333', service: 's3', operation, outcome: 'ok' });

describe('ApiCallRecorder', () => {
  it('keeps no calls by default (a long-running controller), while its listeners hear every one', () => {
    const recorder = new ApiCallRecorder();
    const heard: string[] = [];
    recorder.onCall((c) => heard.push(c.operation));
    for (let i = 0; i < 10_000; i++) recorder.record(call(i % 2 ? 'ListBuckets' : 'PutBucketTagging'));
    expect(heard).toHaveLength(10_000);
    expect(recorder.calls).toEqual([]);
    expect(recorder.mutations()).toEqual([]);
  });

  it('keeps them until reset when asked to (tests and benchmarks count them)', () => {
    const recorder = new ApiCallRecorder({ keepCalls: true });
    recorder.record(call('ListBuckets'));
    recorder.record(call('PutBucketTagging'));
    expect(recorder.calls.map((c) => c.operation)).toEqual(['ListBuckets', 'PutBucketTagging']);
    expect(recorder.mutations().map((c) => c.operation)).toEqual(['PutBucketTagging']);
    recorder.reset();
    expect(recorder.calls).toEqual([]);
  });
});
