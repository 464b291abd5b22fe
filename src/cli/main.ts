#!/usr/bin/env node
/**
 * The `heroku-s3-controller` binary. Exit codes: 0 success or in sync, 1 changes pending (`plan`),
 * 2 usage or runtime error, 130/143 interrupted by SIGINT/SIGTERM (`serve` exits 0 on its first
 * signal). An error is one plain sentence on stderr saying what to do.
 */
import { Command, CommanderError, Option } from 'commander';
import { loadConfig } from '../config/config.js';
import { SecretBox } from '../crypto/secret-box.js';
import { openStore } from '../runtime.js';
import { demoCommand } from './demo-command.js';
import { eventsRemoveCommand, eventsSetupCommand } from './events-commands.js';
import { gcApproveCommand } from './gc-commands.js';
import { linkCommand, linksCommand, unlinkCommand } from './link-commands.js';
import { parseOutput } from './output.js';
import { exitCodeFor, reconcileCommand } from './reconcile-commands.js';
import { rotateApproveCommand, rotateCommand, rotationsCommand } from './rotate-commands.js';
import { serveCommand } from './serve-command.js';
import { tokenCreateCommand, tokenRevokeCommand, tokensCommand } from './token-commands.js';
import { webhooksRegisterCommand } from './webhook-commands.js';

/** Errors whose message is written for the operator; anything else is a bug or an outage. */
const OPERATOR_ERRORS = new Set([
  'UserError',
  'ConfigError',
  'DatabaseUrlError',
  'DatabaseConnectionError',
  'FernetKeyError',
  'SecretDecryptError',
]);

/**
 * SIGINT/SIGTERM during a one-shot command (`serve` has its own shutdown): the first one lets the
 * step in flight end — a pass stops before its next action, a link or an approval is one write —
 * so the store is closed cleanly and nothing is left half-done; the command then exits 130/143
 * with one line saying so. A second signal exits at once.
 */
let interruptedBy: NodeJS.Signals | null = null;
const interrupted = () => interruptedBy;

function trapSignals(): void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (interruptedBy !== null) {
      process.stderr.write(`heroku-s3-controller: ${signal} again: exiting at once.\n`);
      process.exit(exitCodeFor(signal));
    }
    interruptedBy = signal;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

const outputOption = () =>
  new Option('-o, --output <format>', 'output format: text or json').default('text').argParser(parseOutput);

function program(): Command {
  const cli = new Command('heroku-s3-controller')
    .description('Gives every Heroku app in a linked Heroku Team its own S3 bucket in the team\'s AWS account.')
    .exitOverride()
    // A subcommand's flags stay its own (`rotate approve --account` is not `rotate --account`).
    .enablePositionalOptions()
    .configureOutput({ outputError: (text, write) => write(text) })
    .showSuggestionAfterError()
    .hook('preAction', (_cli, command) => {
      if (command.name() !== 'serve' && command.name() !== 'demo') trapSignals();
    });

  cli
    .command('serve')
    .description('run the reconcile loop on RESYNC_SCHEDULE, with /healthz and /readyz on PORT')
    .action(async () => serveCommand());

  cli
    .command('reconcile')
    .description('run one full reconcile pass and print a summary')
    .requiredOption('--once', 'run a single pass and exit (use `serve` for the loop)')
    .addOption(outputOption())
    .action(async (opts) => {
      process.exitCode = await reconcileCommand({ dryRun: false, output: opts.output, interrupted });
    });

  cli
    .command('plan')
    .description('print what the next pass would change, changing nothing (exit 1 when changes are pending)')
    .addOption(outputOption())
    .action(async (opts) => {
      process.exitCode = await reconcileCommand({ dryRun: true, output: opts.output, interrupted });
    });

  cli
    .command('link')
    .description('link a Heroku Team to an AWS account (keys or a role to assume)')
    .requiredOption('--team <name|id>', 'Heroku Team name or id')
    .option('--access-key-id <id>', 'access key id of an IAM user in the team\'s AWS account')
    .option('--secret-access-key <secret>', 'its secret access key ("-" reads it from standard input)')
    .option('--role-arn <arn>', 'IAM role in the team\'s AWS account for the controller to assume')
    .option('--external-id <id>', 'external id the role\'s trust policy requires')
    .option('--region <region>', 'AWS region for the team\'s buckets (default: mapped from each app\'s region)')
    .option('--rotate', 'replace the access key of a team already linked by keys with a new key of the same IAM user (checked with STS); the old key is left for you to delete')
    .action(async (opts) => linkCommand(opts));

  cli
    .command('unlink')
    .description('unlink a Heroku Team; its buckets and users stay where they are')
    .requiredOption('--team <name|id>', 'Heroku Team name or id')
    .action(async (opts) => unlinkCommand(opts));

  cli
    .command('links')
    .description('list linked teams (never shows a secret)')
    .addOption(outputOption())
    .action(async (opts) => linksCommand({ output: opts.output }));

  const webhooks = cli.command('webhooks').description('Heroku app webhooks: events that reconcile one add-on at once');
  webhooks
    .command('register')
    .description('subscribe every app of the linked teams to POST /webhooks/heroku, signed with the first of WEBHOOK_SECRETS (idempotent)')
    .requiredOption('--url <url>', 'public URL of the receiver, e.g. https://s3-controller.example.com/webhooks/heroku')
    .addOption(new Option('--level <level>', 'notify: one delivery attempt (the resync is the safety net); sync: Heroku retries').choices(['notify', 'sync']).default('notify'))
    .option('--rotate-secret', 'also write the current secret into existing subscriptions (after rotating WEBHOOK_SECRETS)')
    .addOption(outputOption())
    .action(async (opts) => {
      process.exitCode = await webhooksRegisterCommand({ url: opts.url, output: opts.output, level: opts.level, rotateSecret: opts.rotateSecret === true });
    });

  const events = cli.command('events').description('change events: AWS\'s record of calls on the buckets and users, through EventBridge to an SQS queue, so drift is repaired within a minute');
  events
    .command('setup')
    .description('make (or check, and correct) the queue and rules in the team\'s AWS account and record them; idempotent')
    .requiredOption('--team <name|id>', 'Heroku Team name or id (linked)')
    .option('--print', 'print a CloudFormation template instead, for the account\'s admin to apply by hand (one stack per region)')
    .addOption(outputOption())
    .action(async (opts) => eventsSetupCommand({ team: opts.team, print: opts.print === true, output: opts.output }));
  events
    .command('remove')
    .description('delete the queue and rules of this controller in the team\'s AWS account and forget them (prints what it would delete without --yes)')
    .requiredOption('--team <name|id>', 'Heroku Team name or id (linked)')
    .option('--yes', 'do it (without: print what would be deleted and change nothing)')
    .addOption(outputOption())
    .action(async (opts) => eventsRemoveCommand({ team: opts.team, yes: opts.yes === true, output: opts.output }));

  const gc = cli.command('gc').description('garbage collection of orphaned buckets and users');
  gc.command('approve')
    .description('let the deletions held by a tripped mass-deletion breaker proceed, once')
    .requiredOption('--account <id>', 'AWS account id whose breaker tripped')
    .action(async (opts) => gcApproveCommand(opts));

  const rotate = cli
    .command('rotate')
    .description('rotate the access keys of add-ons: prints the plan, and with --yes queues it for the next pass')
    .enablePositionalOptions()
    .option('--addon <id|name>', 'one add-on')
    .option('--app <name|id>', 'every add-on whose key the app holds (its own and those attached to it)')
    .option('--team <name|id>', 'every add-on of a linked team')
    .option('--account <id>', 'every add-on in an AWS account')
    .option('--compromised', 'the keys leaked: deactivate each old key as soon as its apps hold the new one (no overlap), journaled as an emergency')
    .option('--yes', 'do it (without: print the plan and change nothing)')
    .addOption(outputOption())
    .action(async (opts) => rotateCommand(opts));
  rotate
    .command('approve')
    .description('let the old-key deactivations held by the rotation breaker of an account proceed')
    .requiredOption('--account <id>', 'AWS account id whose rotations are held')
    .action(async (opts) => rotateApproveCommand(opts));
  cli
    .command('rotations')
    .description('list key rotations in flight: step, since when, trigger, old and new key ids, who asked')
    .addOption(outputOption())
    .action(async (opts) => rotationsCommand({ output: opts.output }));

  const token = cli.command('token').description('operator API tokens for the private listener (admin API, /drift, metrics)');
  token
    .command('create')
    .description('make a token and print it once (only its hash is stored)')
    .requiredOption('--name <name>', 'what the token is for, e.g. grafana-reader (shown in the journal)')
    .addOption(new Option('--scope <scope>', 'read: see everything; write: also link, unlink and approve deletions').makeOptionMandatory())
    .option('--expires-in <duration>', 'lifetime such as 90d (default: until revoked)')
    .addOption(outputOption())
    .action(async (opts) => tokenCreateCommand({ name: opts.name, scope: opts.scope, expiresIn: opts.expiresIn, output: opts.output }));
  token
    .command('revoke')
    .description('revoke a token by id or name; it is refused from the next request on')
    .argument('<token>', 'the token\'s id or name (see `tokens`)')
    .action(async (id: string) => tokenRevokeCommand({ token: id }));
  cli
    .command('tokens')
    .description('list API tokens (never shows a token)')
    .addOption(outputOption())
    .action(async (opts) => tokensCommand({ output: opts.output }));

  cli
    .command('migrate')
    .description('apply pending database migrations (also done at every start)')
    .action(async () => {
      const store = await openStore(loadConfig());
      try {
        const applied = store.migrationsApplied;
        process.stdout.write(applied.length ? `Applied ${applied.join(', ')}.\n` : 'The database schema is up to date.\n');
      } finally {
        await store.close();
      }
    });

  cli
    .command('demo')
    .description('see the whole loop work in a local sandbox (moto, a Heroku API fake), narrated; from a source checkout')
    .option('--exit-after-story', 'stop after the scripted story instead of running until Ctrl-C')
    .option('--port <port>', 'port of the controller\'s HTTP server (a free one if taken)', '8080')
    .action(async (opts) => {
      process.exitCode = await demoCommand([...(opts.exitAfterStory ? ['--exit-after-story'] : []), '--port', opts.port]);
    });

  cli
    .command('fernet-key')
    .description('print a new random Fernet key for FERNET_KEYS')
    .action(() => {
      process.stdout.write(`${SecretBox.generateKey()}\n`);
    });

  return cli;
}

async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
    const signal = interrupted();
    if (signal !== null && process.exitCode !== exitCodeFor(signal)) {
      // A pass says itself what it did; any other command finished its one step first.
      process.stderr.write(`heroku-s3-controller: interrupted by ${signal}; the command finished the step it was on (above) and stopped.\n`);
      process.exitCode = exitCodeFor(signal);
    }
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    const e = err as Error;
    const known = OPERATOR_ERRORS.has(e?.name) || OPERATOR_ERRORS.has(e?.constructor?.name);
    process.stderr.write(`heroku-s3-controller: ${known ? e.message : `unexpected error: ${e?.message ?? String(err)}`}\n`);
    const signal = interrupted();
    process.exitCode = signal === null ? 2 : exitCodeFor(signal);
  }
}

await main(process.argv);
