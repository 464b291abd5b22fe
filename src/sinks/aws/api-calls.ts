/**
 * Counts every AWS API call by account, service, operation and outcome, through an SDK
 * middleware. The counts feed metrics and let tests prove that a pass in sync mutates nothing.
 */
import type { MiddlewareStack } from '@smithy/types';
import { classifyError, type ErrorKind } from '../../util/error-class.js';

export interface ApiCall {
  accountId: string;
  service: string;
  operation: string;
  outcome: 'ok' | 'error';
  /** For an error: its kind (util/error-class.ts), one of a handful, so a metric label stays bounded. */
  failure?: ErrorKind;
}

/** Read operations never change anything; everything else counts as a mutation. */
export function isMutation(operation: string): boolean {
  return !/^(Get|List|Head|Describe)/.test(operation);
}

export class ApiCallRecorder {
  /**
   * Every call since the last {@link reset}, when built with `keepCalls` (tests and benchmarks
   * count them); otherwise always empty. A long-running controller must not keep them: at 10,000
   * add-ons it makes about 2,300 calls a minute, which kept would grow the heap by some 300 MB a
   * day. Its metrics hear every call through {@link onCall}.
   */
  readonly calls: ApiCall[] = [];
  private readonly listeners: ((call: ApiCall) => void)[] = [];
  private readonly keepCalls: boolean;

  constructor(options: { keepCalls?: boolean } = {}) {
    this.keepCalls = options.keepCalls ?? false;
  }

  record(call: ApiCall): void {
    if (this.keepCalls) this.calls.push(call);
    for (const listener of this.listeners) listener(call);
  }

  onCall(listener: (call: ApiCall) => void): void {
    this.listeners.push(listener);
  }

  mutations(): ApiCall[] {
    return this.calls.filter((call) => isMutation(call.operation));
  }

  reset(): void {
    this.calls.length = 0;
  }

  /**
   * Adds the counting middleware to a client's stack. It sits at `initialize`, so one logical call
   * counts once however many times the SDK retries it.
   */
  instrument(stack: MiddlewareStack<any, any>, accountId: string, service: string): void {
    stack.add(
      (next, context) => async (args) => {
        const operation = String(context.commandName ?? 'Unknown').replace(/Command$/, '');
        try {
          const result = await next(args);
          this.record({ accountId, service, operation, outcome: 'ok' });
          return result;
        } catch (err) {
          this.record({ accountId, service, operation, outcome: 'error', failure: classifyError(err).kind });
          throw err;
        }
      },
      { step: 'initialize', name: 'heroku-s3-controller-api-calls', override: true },
    );
  }
}
