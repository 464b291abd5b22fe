/** `gc approve`: the operator's answer to a tripped mass-deletion breaker. */
import { loadConfig } from '../config/config.js';
import { openStore } from '../runtime.js';
import { UserError } from '../util/errors.js';

export async function gcApproveCommand(options: { account: string }): Promise<void> {
  if (!/^\d{12}$/.test(options.account)) throw new UserError(`--account "${options.account}" is not a 12-digit AWS account id`);
  const config = loadConfig();
  const store = await openStore(config);
  try {
    const breaker = await store.gcBreakers.get(options.account);
    if (!breaker) {
      throw new UserError(`garbage collection is not held in account ${options.account}: there is nothing to approve`);
    }
    const approved = await store.gcBreakers.approve(options.account, new Date());
    await store.journal.append({
      instanceId: config.instanceId,
      accountId: options.account,
      addonId: null,
      action: 'gc-approve',
      resource: options.account,
      phase: 'ok',
      detail: { planned: approved?.planned ?? [] },
    });
    process.stdout.write(
      `Approved: the next pass deletes the resources of ${breaker.planned.length} add-on(s) in account ${options.account}:\n${breaker.planned.map((id) => `  ${id}`).join('\n')}\n`,
    );
  } finally {
    await store.close();
  }
}
