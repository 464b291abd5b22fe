/**
 * `events setup` and `events remove` (issue 17): the change-event queue and rules in a linked
 * team's AWS account, made by the controller with the link's credentials, or printed as a
 * CloudFormation template for the account's admin to apply.
 */
import { loadConfig, type Config } from '../config/config.js';
import { changeEventsTemplate } from '../change-events/template.js';
import { removeChangeEvents, setUpChangeEvents, setupRegions, type ChangeEventsSetup } from '../change-events/setup.js';
import type { EventNaming } from '../change-events/catalogue.js';
import { openStore } from '../runtime.js';
import { AwsConnector } from '../sinks/aws/connect.js';
import type { Store } from '../store/store.js';
import type { Link } from '../store/types.js';
import { UserError } from '../util/errors.js';
import { printJson, type OutputFormat } from './output.js';

export interface EventsSetupOptions {
  team: string;
  print?: boolean;
  output: OutputFormat;
}

export async function eventsSetupCommand(options: EventsSetupOptions): Promise<void> {
  await withLinkedTeam(options.team, async ({ config, store, link, regions }) => {
    const naming = namingOf(config);
    if (options.print) {
      printJson(changeEventsTemplate(naming));
      process.stderr.write(
        `Apply this template as one CloudFormation stack in each of ${regions.join(', ')} of AWS account ${link.accountId} ` +
          `(e.g. \`aws cloudformation deploy --stack-name ${config.instanceId}-change-events --template-file FILE --region REGION\`), ` +
          `then run \`heroku-s3-controller events setup --team ${options.team}\` to record it.\n`,
      );
      return;
    }
    const setup = await withAccount(config, link, (clients) => setUpChangeEvents({ clients, eventSources: store.eventSources, naming }, regions));
    printSetup(link, setup, options.output);
  });
}

export interface EventsRemoveOptions {
  team: string;
  yes?: boolean;
  output: OutputFormat;
}

export async function eventsRemoveCommand(options: EventsRemoveOptions): Promise<void> {
  await withLinkedTeam(options.team, async ({ config, store, link, regions }) => {
    const recorded = (await store.eventSources.forAccount(link.accountId)).map((s) => s.region);
    const all = [...new Set([...regions, ...recorded])].sort();
    const removal = await withAccount(config, link, (clients) => removeChangeEvents({ clients, eventSources: store.eventSources, naming: namingOf(config) }, all, { dryRun: !options.yes }));
    if (options.output === 'json') printJson({ team: link.teamName, removed: options.yes === true, ...removal });
    else if (removal.resources.length === 0 && removal.forgotten.length === 0) process.stdout.write(`No change-event queue or rule of this controller is in AWS account ${link.accountId} (${all.join(', ')}): nothing to remove.\n`);
    else {
      process.stdout.write(`${options.yes ? 'Removed' : 'Would remove'} from AWS account ${link.accountId}:\n`);
      for (const r of removal.resources) process.stdout.write(`  ${r.region}  ${r.resource}\n`);
      if (removal.forgotten.length > 0) process.stdout.write(`  and ${options.yes ? 'forgot' : 'forget'} the record of ${removal.forgotten.join(', ')}\n`);
    }
    if (!options.yes && (removal.resources.length > 0 || removal.forgotten.length > 0)) {
      throw new UserError('nothing changed: add --yes to delete these (change events then stop; drift is found by deep checks alone)');
    }
  });
}

interface LinkedTeam {
  config: Config;
  store: Store;
  link: Link;
  /** The regions the account needs a queue in. */
  regions: string[];
}

/** Runs `fn` with the store and the team's link, or fails with one line (the store unchanged) when the team is not linked. */
async function withLinkedTeam(team: string, fn: (linked: LinkedTeam) => Promise<void>): Promise<void> {
  const config = loadConfig();
  const store = await openStore(config);
  try {
    const link = await store.links.findByTeam(team);
    if (!link) throw new UserError(`team "${team}" is not linked; \`heroku-s3-controller links\` lists the linked teams`);
    const regions = setupRegions(link, config.aws.region, await store.resources.listByAccount(link.accountId));
    await fn({ config, store, link, regions });
  } finally {
    await store.close();
  }
}

/** Runs `fn` with clients acting in the link's account, closed again after. */
async function withAccount<T>(config: Config, link: Link, fn: (clients: ReturnType<AwsConnector['connect']>) => Promise<T>): Promise<T> {
  const connector = new AwsConnector({ aws: config.aws, instanceId: config.instanceId, requestTimeoutMs: config.requestTimeoutMs });
  try {
    return await fn(connector.connect({ accountId: link.accountId, auth: link.auth }));
  } finally {
    connector.destroy();
  }
}

function namingOf(config: Config): EventNaming {
  return { instanceId: config.instanceId, bucketPrefix: config.bucketPrefix, iamUserPrefix: config.iamUserPrefix };
}

function printSetup(link: Link, setup: ChangeEventsSetup, output: OutputFormat): void {
  if (output === 'json') return printJson({ team: link.teamName, ...setup });
  const where = `AWS account ${link.accountId} (${setup.regions.map((r) => r.region).join(', ')})`;
  if (setup.alreadySetUp) {
    process.stdout.write(`Change events are already set up for team ${link.teamName} in ${where}: nothing changed.\n`);
    return;
  }
  process.stdout.write(`Change events set up for team ${link.teamName} in ${where}:\n`);
  for (const c of setup.changes) process.stdout.write(`  ${c.region}  ${c.resource}: ${c.change}\n`);
  if (setup.changes.length === 0) process.stdout.write(`  the queue and rules were in place (made by hand from the template): recorded them\n`);
  for (const r of setup.regions) process.stdout.write(`  ${r.region}  queue ${r.queueUrl}\n`);
}
