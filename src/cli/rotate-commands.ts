/**
 * `rotate`, `rotate approve` and `rotations`: an operator's key rotations (issue 16). `rotate`
 * prints what it would rotate and changes nothing without `--yes`; with it, the rotations are
 * queued all or none and the next pass starts them.
 */
import { loadConfig, type Config } from '../config/config.js';
import { approveRotations, planRotations, requestRotations, ROTATION_TARGETS, rotationViews, type RotationDeps, type RotationPlan, type RotationSelection, type RotationTarget } from '../admin/rotations.js';
import { appResolverFor, herokuApi, openStore } from '../runtime.js';
import type { Store } from '../store/store.js';
import { humanDuration } from '../util/duration.js';
import { UserError } from '../util/errors.js';
import { cliActor } from './actor.js';
import { printJson, printTable, type OutputFormat } from './output.js';

export interface RotateOptions {
  addon?: string;
  app?: string;
  team?: string;
  account?: string;
  compromised?: boolean;
  yes?: boolean;
  output: OutputFormat;
}

/** The one selection the flags make; checked before anything is opened. */
export function selectionFrom(options: RotateOptions): RotationSelection {
  const given = ROTATION_TARGETS.filter((by) => options[by] !== undefined);
  if (given.length !== 1) {
    throw new UserError(`give exactly one of --addon, --app, --team or --account (the keys to rotate)${given.length > 1 ? `, not ${given.map((by) => `--${by}`).join(' and ')}` : ''}`);
  }
  const by = given[0]!;
  return { by, value: options[by]! };
}

export async function rotateCommand(options: RotateOptions): Promise<void> {
  const selection = selectionFrom(options);
  await withStore(async (config, store) => {
    const deps = rotationDeps(config, store);
    const plan = await planRotations(deps, selection, { compromised: options.compromised === true }, new Date());
    const keys = `${plan.rotations.length} key${plan.rotations.length === 1 ? '' : 's'}`;
    if (!options.yes) {
      printPlan(plan, false, options.output);
      throw new UserError(`nothing changed: add --yes to ${plan.rotations.some((r) => r.step === 'request') ? 'rotate' : 'resume the rotation of'} ${plan.rotations.length === 1 ? 'this key' : `these ${keys}`}`);
    }
    await requestRotations(deps, plan, cliActor(), new Date());
    printPlan(plan, true, options.output);
  });
}

export async function rotateApproveCommand(options: { account: string }): Promise<void> {
  if (!/^\d{12}$/.test(options.account)) throw new UserError(`--account "${options.account}" is not a 12-digit AWS account id`);
  await withStore(async (config, store) => {
    const approved = await approveRotations({ store, instanceId: config.instanceId }, options.account, cliActor(), new Date());
    process.stdout.write(`Approved ${approved} key rotation(s) in account ${options.account}: the next pass deactivates their old keys once each overlap is over.\n`);
  });
}

export async function rotationsCommand(options: { output: OutputFormat }): Promise<void> {
  await withStore(async (config, store) => {
    const rotations = await rotationViews(store, config.rotation);
    if (options.output === 'json') return printJson(rotations);
    if (rotations.length === 0) {
      process.stdout.write('No key rotation is in flight. Start one with `heroku-s3-controller rotate --addon NAME`.\n');
      return;
    }
    printTable(
      ['ADD-ON', 'STEP', 'SINCE', 'TRIGGER', 'OLD KEY', 'NEW KEY', 'ASKED BY', 'NEXT'],
      rotations.map((r) => [r.addonName ?? r.addonId, r.step, r.since, r.trigger, r.oldAccessKeyId, r.newAccessKeyId ?? '(not made yet)', r.requestedBy, r.next]),
    );
  });
}

/** Runs `fn` with the configuration and the store, closed again whatever happens. */
async function withStore(fn: (config: Config, store: Store) => Promise<void>): Promise<void> {
  const config = loadConfig();
  const store = await openStore(config);
  try {
    await fn(config, store);
  } finally {
    await store.close();
  }
}

function rotationDeps(config: Config, store: Store): RotationDeps {
  return { store, resolveApp: appResolverFor(config, herokuApi(config)), instanceId: config.instanceId, timing: config.rotation };
}

const TARGET_NAME: Record<RotationTarget, string> = { addon: 'add-on', app: 'app', team: 'team', account: 'AWS account' };

function printPlan(plan: RotationPlan, requested: boolean, output: OutputFormat): void {
  if (output === 'json') return printJson({ requested, ...plan });
  const n = plan.rotations.length;
  const what = `${n} access key${n === 1 ? '' : 's'} of ${TARGET_NAME[plan.selection.by]} ${plan.selection.value}${plan.compromised ? ', as compromised (no overlap)' : ''}`;
  process.stdout.write(requested ? `Requested the rotation of ${what}: the next pass starts ${n === 1 ? 'it' : 'them'}; \`heroku-s3-controller rotations\` shows progress.\n` : `Would rotate ${what}:\n`);
  printTable(
    ['ADD-ON', 'APP', 'TEAM', 'ACCOUNT', 'KEY', 'AGE', 'WHAT HAPPENS'],
    plan.rotations.map((r) => [
      r.addonName,
      r.appName ?? r.appId,
      r.teamName ?? r.teamId,
      r.accountId,
      r.accessKeyId,
      r.keyAgeSeconds === null ? (r.step === 'request' ? 'unknown' : `(${r.step === 'resume' ? 'resumed' : 'escalated'})`) : humanDuration(r.keyAgeSeconds),
      r.effect,
    ]),
  );
  for (const s of plan.skipped) process.stdout.write(`Left out: ${s.addonName}: ${s.reason}.\n`);
}
