/**
 * `npm run demo` (and `heroku-s3-controller demo` from a checkout): the whole loop on this machine
 * in two minutes, with no AWS account and no Heroku Team. Starts the sandbox (moto, the Heroku API
 * fake, an embedded database), tells the scripted story, then keeps reconciling until Ctrl-C, when
 * it stops everything it started.
 *
 *   npm run demo [-- --exit-after-story] [--port 8080] [--dir .demo] [--moto-url URL] [--resync 10]
 *
 * DEMO_EXIT_AFTER_STORY=1 does what --exit-after-story does (for scripts and tests).
 */
import { createServer } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { errorMessage } from '../src/util/errors.js';
import { ACCOUNT_ID, DemoSetupError, ROOT, startSandbox, type Sandbox } from './sandbox.js';
import { narrate, sleep, step, tellStory, type DemoSession } from './story.js';

const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'exit-after-story': { type: 'boolean', default: process.env.DEMO_EXIT_AFTER_STORY === '1' },
      port: { type: 'string', default: '8080' },
      dir: { type: 'string', default: path.join(ROOT, '.demo') },
      'moto-url': { type: 'string', default: process.env.DEMO_MOTO_URL ?? '' },
      resync: { type: 'string', default: '10' },
    },
    strict: true,
  });
  const resyncSeconds = Number(values.resync);
  if (!Number.isFinite(resyncSeconds) || resyncSeconds < 1) throw new DemoSetupError(`--resync ${values.resync}: give a number of seconds, 1 or more`);
  const stop = new AbortController();
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts += 1;
    if (interrupts > 1) {
      say(`\n${signal} again: leaving now.`);
      process.exit(130);
    }
    say(`\n${signal}: stopping the demo and everything it started…`);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  say('heroku-s3-controller demo: the real controller against a sandbox on this machine.');
  say('Nothing here touches AWS or Heroku: moto stands in for S3, IAM and STS, and a fake for the Heroku Platform API.');
  step(say, 1, 'Starting the sandbox');
  const sandbox = await startSandbox({ dir: values.dir, ...(values['moto-url'] ? { motoUrl: values['moto-url'] } : {}) });
  let session: DemoSession | null = null;
  try {
    writeFileSync(
      path.join(sandbox.dir, 'sandbox.json'),
      `${JSON.stringify({ pid: process.pid, motoPid: sandbox.motoPid, motoUrl: sandbox.motoUrl, herokuApiUrl: sandbox.fake.url }, null, 2)}\n`,
    );
    describeSandbox(sandbox);
    const port = await portOrFree(Number(values.port));
    session = await tellStory(sandbox, { port, signal: stop.signal, say });
    if (values['exit-after-story'] || stop.signal.aborted) return 0;

    say('');
    say(`The controller keeps reconciling every ${resyncSeconds} s. Press Ctrl-C to stop the demo and everything it started.`);
    const running = session;
    let busy: Promise<unknown> = Promise.resolve();
    const serially = (fn: () => Promise<unknown>) => (busy = busy.then(fn).catch((err) => say(`  ${errorMessage(err)}`)));
    const prompt = process.stdin.isTTY ? startPrompt(running, serially, () => stop.abort()) : null;
    while (!stop.signal.aborted) {
      await sleep(resyncSeconds * 1_000, stop.signal);
      if (!stop.signal.aborted) await serially(() => running.pass());
    }
    prompt?.close();
    await busy;
    return 0;
  } finally {
    await session?.close().catch(() => {});
    await sandbox.stop();
    say(`Demo stopped: moto${sandbox.motoPid ? ` (pid ${sandbox.motoPid})` : ''}, the Heroku fake and the controller are down. The sandbox folder ${path.relative(process.cwd(), sandbox.dir) || sandbox.dir} stays until the next run.`);
  }
}

function describeSandbox(sandbox: Sandbox): void {
  const { world } = sandbox;
  say(`  moto (S3, IAM, STS)        ${sandbox.motoUrl}   AWS account ${ACCOUNT_ID}`);
  say(`  Heroku Platform API fake   ${sandbox.fake.url}   team ${world.team}: apps ${world.web}, ${world.worker}, ${world.reviewApp}; team ${world.otherTeam}: globex-api`);
  say(`  sandbox folder             ${sandbox.dir}   embedded database (PGlite) and its generated Fernet key`);
}

/**
 * Commands typed while the demo runs. They run inside this process: the sandbox's embedded
 * database belongs to it (against PostgreSQL, the same commands run from a second terminal).
 */
function startPrompt(session: DemoSession, serially: (fn: () => Promise<unknown>) => Promise<unknown>, quit: () => void) {
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: 'demo> ' });
  say('Type a command: plan, links, drift, pass, help or quit.');
  rl.prompt();
  rl.on('line', (line) => {
    const command = line.trim();
    void serially(async () => {
      switch (command) {
        case '':
          break;
        case 'plan': {
          const result = await session.runtime.controller.reconcileOnce({ dryRun: true });
          const pending = result.actions.filter((a) => a.kind !== 'blocked');
          say(pending.length === 0 ? 'In sync: the next pass would change nothing.' : `${pending.length} change(s) pending:`);
          for (const a of result.actions) say(`  ${a.kind} (${a.reason}) add-on ${a.addonId}`);
          break;
        }
        case 'links':
          for (const link of await session.runtime.store.links.list()) say(`  team ${link.teamName} (${link.teamId}) → AWS account ${link.accountId} with ${link.auth.kind === 'keys' ? `keys ${link.auth.accessKeyId}` : `role ${link.auth.roleArn}`}`);
          break;
        case 'drift': {
          const report = session.runtime.reports.latest;
          say(report ? JSON.stringify(report.summary) : 'No pass has finished yet.');
          for (const d of report?.items ?? []) say(`  ${d.kind} ${d.status}: ${d.resource} ${d.field}`);
          break;
        }
        case 'pass':
          narrate(say, 0, await session.pass(), '  Pass:');
          break;
        case 'quit':
        case 'exit':
          quit();
          return;
        default:
          say('Commands: plan (what would change), links (linked teams), drift (latest report), pass (reconcile now), quit.');
      }
      rl.prompt();
    });
  });
  rl.on('SIGINT', () => process.emit('SIGINT'));
  return rl;
}

/** The port asked for, or a free one when it is taken (a second demo, or something on 8080). */
function portOrFree(port: number): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => {
      const any = createServer();
      any.listen(0, '127.0.0.1', () => {
        const free = (any.address() as { port: number }).port;
        any.close(() => {
          say(`  (port ${port} is taken: the controller's HTTP server uses ${free} instead)`);
          resolve(free);
        });
      });
    });
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(port)));
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const known = err instanceof DemoSetupError || (err as Error)?.name === 'UserError' || (err as Error)?.name === 'ConfigError';
    process.stderr.write(`demo: ${known ? (err as Error).message : `unexpected error: ${(err as Error)?.stack ?? String(err)}`}\n`);
    process.exit(known ? 2 : 1);
  },
);
