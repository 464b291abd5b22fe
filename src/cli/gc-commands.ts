/** `gc approve`: the operator's answer to a tripped mass-deletion breaker. */
import { approveGc } from '../admin/gc.js';
import { loadConfig } from '../config/config.js';
import { openStore } from '../runtime.js';
import { UserError } from '../util/errors.js';
import { cliActor } from './actor.js';

export async function gcApproveCommand(options: { account: string }): Promise<void> {
  if (!/^\d{12}$/.test(options.account)) throw new UserError(`--account "${options.account}" is not a 12-digit AWS account id`);
  const config = loadConfig();
  const store = await openStore(config);
  try {
    const planned = await approveGc({ gcBreakers: store.gcBreakers, journal: store.journal, instanceId: config.instanceId }, options.account, cliActor(), new Date());
    process.stdout.write(
      `Approved: the next pass deletes the resources of ${planned.length} add-on(s) in account ${options.account}:\n${planned.map((id) => `  ${id}`).join('\n')}\n`,
    );
  } finally {
    await store.close();
  }
}
