/**
 * AWS client hooks the history harness puts on every client a deployment makes: a record of every
 * access key created (with its secret, so the harness can tell working credentials from others
 * without asking the controller), AWS's clock kept with the controller's, and a kill switch that
 * makes the process "die" after its n-th mutating call: that call happens at AWS, its answer is
 * lost, and nothing else is sent.
 */
import { isMutation } from '../../../src/sinks/aws/api-calls.js';
import type { ClientHook } from '../../../src/sinks/aws/connect.js';

type Stack = { middlewareStack: { add: Function } };
type Next = (args: { input: unknown }) => Promise<{ output: unknown }>;

interface KeyMetadata {
  AccessKeyId?: string;
  CreateDate?: Date;
}

/**
 * Every access key created through hooked clients (or registered by hand), with its secret, its
 * user, and when it was made by the harness's clock.
 *
 * The hook also keeps AWS's clock with the controller's: moto stamps a key's CreateDate with the
 * real time, while the controller's clock moves minutes per pass and days at a time (`age-keys`),
 * so a key made after the clock moved would look as old as the move, and be rotated again and
 * again. Answers of CreateAccessKey and ListAccessKeys say instead when the harness's clock saw the
 * key made, as AWS would on a clock that moved with the controller's. It also notes every
 * `LimitExceeded` IAM answers (a third key): never expected.
 */
export class KeyRegistry {
  private readonly keys = new Map<string, { userName: string; secret: string; madeAt: Date }>();
  /** IAM calls answered LimitExceeded, as `Operation user`. */
  readonly limitExceeded: string[] = [];

  constructor(private readonly now: () => Date = () => new Date()) {}

  register(accessKeyId: string, userName: string, secret: string): void {
    this.keys.set(accessKeyId, { userName, secret, madeAt: this.now() });
  }

  get(accessKeyId: string): { userName: string; secret: string } | undefined {
    return this.keys.get(accessKeyId);
  }

  /** The key's CreateDate on the harness's clock; AWS's own when the key was never seen made. */
  private stamp(key: KeyMetadata | undefined): void {
    const known = key?.AccessKeyId ? this.keys.get(key.AccessKeyId) : undefined;
    if (key && known) key.CreateDate = known.madeAt;
  }

  readonly hook: ClientHook = ((client: Stack, service: string) => {
    if (service !== 'iam') return;
    client.middlewareStack.add(
      (next: Next, context: { commandName?: string }) => async (args: { input: unknown }) => {
        let result: { output: unknown };
        try {
          result = await next(args);
        } catch (err) {
          const name = (err as { name?: string }).name ?? '';
          if (/LimitExceeded/.test(name)) this.limitExceeded.push(`${String(context.commandName).replace(/Command$/, '')} ${(args.input as { UserName?: string }).UserName ?? ''}`);
          throw err;
        }
        if (context.commandName === 'CreateAccessKeyCommand') {
          const key = (result.output as { AccessKey?: KeyMetadata & { SecretAccessKey?: string; UserName?: string } }).AccessKey;
          if (key?.AccessKeyId && key.SecretAccessKey && key.UserName) this.register(key.AccessKeyId, key.UserName, key.SecretAccessKey);
          this.stamp(key);
        }
        if (context.commandName === 'ListAccessKeysCommand') for (const key of (result.output as { AccessKeyMetadata?: KeyMetadata[] }).AccessKeyMetadata ?? []) this.stamp(key);
        return result;
      },
      // Inside the kill switch: a key whose answer the "dying" process loses is still registered.
      { step: 'initialize', priority: 'low', name: 'harness-key-registry' },
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
  /** The call the process died after (`Operation` for AWS, `METHOD /path` for Heroku); null while alive. */
  fatal: string | null = null;

  constructor(private readonly after: number) {}

  dead(): boolean {
    return this.killed;
  }

  /** For the Heroku fake's `onMutationApplied`: true (answer lost) from the fatal call on. */
  readonly heroku = (method: string, path: string): boolean => {
    if (!this.killed && ++this.mutations >= this.after) {
      this.killed = true;
      this.fatal = `${method} ${path.replace(/^\/apps\/[^/]+/, '/apps/:app')}`;
    }
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
          this.fatal = operation;
          throw Object.assign(new Error(`the process died right after ${operation}`), { name: 'HarnessCrash' });
        }
        return result;
      },
      { step: 'initialize', name: 'harness-kill-switch' },
    );
  }) as unknown as ClientHook;
}
