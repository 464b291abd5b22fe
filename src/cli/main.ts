#!/usr/bin/env node
/**
 * The `heroku-s3-controller` binary. Exit codes: 0 success or in sync, 1 changes pending (`plan`),
 * 2 usage or runtime error. An error is one plain sentence on stderr saying what to do.
 */
import { Command, CommanderError, Option } from 'commander';
import { loadConfig } from '../config/config.js';
import { SecretBox } from '../crypto/secret-box.js';
import { openStore } from '../runtime.js';
import { gcApproveCommand } from './gc-commands.js';
import { linkCommand, linksCommand, unlinkCommand } from './link-commands.js';
import { parseOutput } from './output.js';
import { reconcileCommand } from './reconcile-commands.js';
import { serveCommand } from './serve-command.js';

/** Errors whose message is written for the operator; anything else is a bug or an outage. */
const OPERATOR_ERRORS = new Set([
  'UserError',
  'ConfigError',
  'DatabaseUrlError',
  'DatabaseConnectionError',
  'FernetKeyError',
  'SecretDecryptError',
]);

const outputOption = () =>
  new Option('-o, --output <format>', 'output format: text or json').default('text').argParser(parseOutput);

function program(): Command {
  const cli = new Command('heroku-s3-controller')
    .description('Gives every Heroku app in a linked Heroku Team its own S3 bucket in the team\'s AWS account.')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) })
    .showSuggestionAfterError();

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
      process.exitCode = await reconcileCommand({ dryRun: false, output: opts.output });
    });

  cli
    .command('plan')
    .description('print what the next pass would change, changing nothing (exit 1 when changes are pending)')
    .addOption(outputOption())
    .action(async (opts) => {
      process.exitCode = await reconcileCommand({ dryRun: true, output: opts.output });
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

  const gc = cli.command('gc').description('garbage collection of orphaned buckets and users');
  gc.command('approve')
    .description('let the deletions held by a tripped mass-deletion breaker proceed, once')
    .requiredOption('--account <id>', 'AWS account id whose breaker tripped')
    .action(async (opts) => gcApproveCommand(opts));

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
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    const e = err as Error;
    const known = OPERATOR_ERRORS.has(e?.name) || OPERATOR_ERRORS.has(e?.constructor?.name);
    process.stderr.write(`heroku-s3-controller: ${known ? e.message : `unexpected error: ${e?.message ?? String(err)}`}\n`);
    process.exitCode = 2;
  }
}

await main(process.argv);
