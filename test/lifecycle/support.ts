/**
 * What the history tests share: deployments of the controller running in this process on the
 * test stand (their own store, clock and AWS client hooks), linking teams the way `link` stores
 * them, and fault injection the stand does not have by itself (a lagging tagging API).
 */
import { loadConfig } from '../../src/config/config.js';
import type { PassResult } from '../../src/reconciler/controller.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import type { ClientHook } from '../../src/sinks/aws/connect.js';
import { silentLogger } from '../../src/util/log.js';
import { configVarNames } from '../../src/reconciler/spec.js';
import type { World } from '../e2e/stand-world.js';
import { MovableClock } from '../e2e/gc-support.js';

export { MovableClock };

/** Settings of a deployment beyond the world's environment. */
export interface DeploymentOptions {
  clock?: MovableClock;
  env?: Record<string, string | undefined>;
  /** Client hooks (fault injection), called for every AWS client the deployment makes. */
  hooks?: ClientHook[];
  mayMutate?: () => boolean;
}

/**
 * One deployment of the controller, in this process: a runtime on the world's environment (or
 * its own database and settings), kept across passes like `serve` keeps it.
 */
export class Deployment {
  private constructor(
    readonly runtime: Runtime,
    readonly clock: MovableClock,
  ) {}

  static async start(world: World, options: DeploymentOptions = {}): Promise<Deployment> {
    const clock = options.clock ?? new MovableClock();
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries({ ...world.env, ...options.env })) if (value !== undefined) env[key] = value;
    const hooks = options.hooks ?? [];
    const runtime = await createRuntime(loadConfig(env), silentLogger(), {
      keepAwsCalls: true,
      baseCredentials: world.controllerCredentials,
      clock: clock.read,
      ...(hooks.length > 0 ? { onClient: (client, service) => hooks.forEach((hook) => hook(client, service)) } : {}),
      ...(options.mayMutate ? { mayMutate: options.mayMutate } : {}),
    });
    return new Deployment(runtime, clock);
  }

  get instanceId(): string {
    return this.runtime.config.instanceId;
  }

  /** One full pass; the AWS mutations it made, as `Operation` names. */
  async pass(): Promise<{ pass: PassResult; mutations: string[] }> {
    this.runtime.recorder.reset();
    const pass = await this.runtime.controller.reconcileOnce();
    return { pass, mutations: this.runtime.recorder.mutations().map((c) => c.operation) };
  }

  /** Links a team to an account as `link --role-arn` stores it (the STS check is tested elsewhere). */
  async link(world: World, team: { id: string; name: string }, accountId: string): Promise<void> {
    await this.runtime.store.links.save({ teamId: team.id, teamName: team.name, accountId, region: null, auth: { kind: 'role', roleArn: world.roleArn(accountId), externalId: null } });
  }

  async close(): Promise<void> {
    await this.runtime.close();
  }
}

/** The credentials an app holds under one attachment name, as delivered config vars. */
export function heldCredentials(world: World, app: string, attachment: string) {
  const vars = world.fake.configVars(app);
  const names = configVarNames(attachment);
  return { bucketName: vars[names.bucketName], accessKeyId: vars[names.accessKeyId], secretAccessKey: vars[names.secretAccessKey], url: vars[names.url] };
}

/**
 * The Resource Groups Tagging API lagging behind S3 (it does on AWS): once `freeze()` is called,
 * each GetResources request is answered with what the same request got back before, however the
 * buckets' tags have changed since. `thaw()` ends the lag.
 */
export function laggingTagReads(): ClientHook & { freeze(): void; thaw(): void; frozen(): boolean; replayed(): number } {
  const seen = new Map<string, unknown>();
  let frozen = false;
  let replayed = 0;
  const hook = (client: { middlewareStack: { add: Function } }, service: string) => {
    if (service !== 'tagging') return;
    client.middlewareStack.add(
      (next: (args: { input: unknown }) => Promise<{ output: unknown }>, context: { commandName?: string }) => async (args: { input: unknown }) => {
        if (context.commandName !== 'GetResourcesCommand') return next(args);
        const key = JSON.stringify(args.input);
        if (frozen && seen.has(key)) {
          replayed += 1;
          return { output: structuredClone(seen.get(key)), response: {} };
        }
        const result = await next(args);
        if (!frozen) seen.set(key, structuredClone(result.output));
        return result;
      },
      { step: 'initialize', name: 'lagging-tag-reads' },
    );
  };
  return Object.assign(hook as unknown as ClientHook, {
    freeze: () => {
      frozen = true;
    },
    thaw: () => {
      frozen = false;
      seen.clear();
    },
    frozen: () => frozen,
    replayed: () => replayed,
  });
}
