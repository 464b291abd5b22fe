/**
 * AWS client hooks the history harness puts on every client a deployment makes: a record of every
 * access key created (with its secret, so the harness can tell working credentials from others
 * without asking the controller), and a kill switch that makes the process "die" after its n-th
 * mutating call: that call happens at AWS, its answer is lost, and nothing else is sent.
 */
import { isMutation } from '../../../src/sinks/aws/api-calls.js';
import type { ClientHook } from '../../../src/sinks/aws/connect.js';

type Stack = { middlewareStack: { add: Function } };
type Next = (args: { input: unknown }) => Promise<{ output: unknown }>;

/** Every access key created through hooked clients (or registered by hand), with its secret and user. */
export class KeyRegistry {
  private readonly keys = new Map<string, { userName: string; secret: string }>();

  register(accessKeyId: string, userName: string, secret: string): void {
    this.keys.set(accessKeyId, { userName, secret });
  }

  get(accessKeyId: string): { userName: string; secret: string } | undefined {
    return this.keys.get(accessKeyId);
  }

  readonly hook: ClientHook = ((client: Stack, service: string) => {
    if (service !== 'iam') return;
    client.middlewareStack.add(
      (next: Next, context: { commandName?: string }) => async (args: { input: unknown }) => {
        const result = await next(args);
        if (context.commandName === 'CreateAccessKeyCommand') {
          const key = (result.output as { AccessKey?: { AccessKeyId?: string; SecretAccessKey?: string; UserName?: string } }).AccessKey;
          if (key?.AccessKeyId && key.SecretAccessKey && key.UserName) this.register(key.AccessKeyId, key.UserName, key.SecretAccessKey);
        }
        return result;
      },
      { step: 'initialize', name: 'harness-key-registry' },
    );
  }) as unknown as ClientHook;
}

/**
 * Arms at `after` mutating calls, to AWS or to Heroku's Platform API: the call that reaches it is
 * made, then the process is "dead": the call's answer is lost and every later AWS call fails before
 * it is sent. `dead()` is what the deployment's leader check reads, so no action starts afterwards
 * either; a Heroku change still in flight is applied and its answer lost too.
 */
export class KillSwitch {
  private mutations = 0;
  private killed = false;

  constructor(private readonly after: number) {}

  dead(): boolean {
    return this.killed;
  }

  /** For the Heroku fake's `onMutationApplied`: true (answer lost) from the fatal call on. */
  readonly heroku = (): boolean => {
    if (!this.killed && ++this.mutations >= this.after) this.killed = true;
    return this.killed;
  };

  readonly hook: ClientHook = ((client: Stack, service: string) => {
    client.middlewareStack.add(
      (next: Next, context: { commandName?: string }) => async (args: { input: unknown }) => {
        if (this.killed) throw Object.assign(new Error('the process is dead'), { name: 'HarnessCrash' });
        const operation = String(context.commandName ?? '').replace(/Command$/, '');
        const result = await next(args);
        // Mutations of the account (STS's AssumeRole changes nothing there).
        if ((service === 's3' || service === 'iam') && isMutation(operation) && ++this.mutations >= this.after) {
          this.killed = true;
          throw Object.assign(new Error(`the process died right after ${operation}`), { name: 'HarnessCrash' });
        }
        return result;
      },
      { step: 'initialize', name: 'harness-kill-switch' },
    );
  }) as unknown as ClientHook;
}
