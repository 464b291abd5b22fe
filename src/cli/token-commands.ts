/**
 * `token create`, `tokens` and `token revoke`: operator API tokens for the private listener (the
 * admin API, /drift, and /metrics when METRICS_REQUIRE_TOKEN is set). A token is printed once,
 * when made; the store keeps only its hash.
 */
import { loadConfig } from '../config/config.js';
import { openStore } from '../runtime.js';
import { TokenNameTakenError, type ApiTokenRecord, type ApiTokenScope } from '../store/api-token-store.js';
import { parseDuration } from '../util/duration.js';
import { UserError } from '../util/errors.js';
import { cliActor } from './actor.js';
import { printJson, printTable, type OutputFormat } from './output.js';

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export async function tokenCreateCommand(options: { name: string; scope: string; expiresIn?: string; output: OutputFormat }): Promise<void> {
  if (!NAME.test(options.name)) throw new UserError(`--name "${options.name}" must be 1-63 lowercase letters, digits, dots, dashes or underscores, e.g. grafana-reader`);
  if (/^[0-9a-f]{12}$/.test(options.name)) throw new UserError(`--name "${options.name}" looks like a token id: choose a name with a letter beyond a-f or another length, e.g. ci-${options.name.slice(0, 4)}`);
  if (options.scope !== 'read' && options.scope !== 'write') throw new UserError(`--scope "${options.scope}" must be read (see everything) or write (also link, unlink and approve deletions)`);
  const lifetime = options.expiresIn === undefined ? null : parseDuration(options.expiresIn);
  if (lifetime === null && options.expiresIn !== undefined) throw new UserError(`--expires-in "${options.expiresIn}" is not a duration such as 90d or 12h`);
  if (lifetime !== null && lifetime <= 0) throw new UserError('--expires-in must be longer than 0');
  const config = loadConfig();
  const store = await openStore(config);
  try {
    const actor = cliActor();
    const expiresAt = lifetime === null ? null : new Date(Date.now() + lifetime);
    const made = await store.apiTokens
      .create({ name: options.name, scope: options.scope as ApiTokenScope, createdBy: actor, expiresAt })
      .catch((err: unknown) => {
        if (err instanceof TokenNameTakenError) throw new UserError(`a live token is already named "${options.name}": revoke it first (\`heroku-s3-controller token revoke ${options.name}\`) or choose another name`);
        throw err;
      });
    await store.journal.append({
      instanceId: config.instanceId,
      accountId: null,
      addonId: null,
      action: 'token-create',
      resource: made.record.id,
      phase: 'ok',
      detail: { actor, name: made.record.name, scope: made.record.scope, expiresAt: made.record.expiresAt?.toISOString() ?? null },
    });
    if (options.output === 'json') return printJson({ ...describeToken(made.record), token: made.token });
    process.stdout.write(
      `${made.token}\n` +
        `Made ${made.record.scope} token "${made.record.name}" (id ${made.record.id}${expiresAt ? `, expires ${expiresAt.toISOString()}` : ', no expiry'}). ` +
        'It is shown only now: store it in a secret manager. Send it as "Authorization: Bearer <token>".\n',
    );
  } finally {
    await store.close();
  }
}

export async function tokensCommand(options: { output: OutputFormat }): Promise<void> {
  const store = await openStore(loadConfig());
  try {
    const tokens = (await store.apiTokens.list()).map(describeToken);
    if (options.output === 'json') return printJson(tokens);
    if (tokens.length === 0) {
      process.stdout.write('No API token yet. Make one with `heroku-s3-controller token create --name NAME --scope read|write`.\n');
      return;
    }
    printTable(
      ['ID', 'NAME', 'SCOPE', 'STATE', 'CREATED', 'BY', 'LAST USED'],
      tokens.map((t) => [t.id, t.name, t.scope, t.state, t.createdAt, t.createdBy, t.lastUsedAt ?? 'never']),
    );
  } finally {
    await store.close();
  }
}

export async function tokenRevokeCommand(options: { token: string }): Promise<void> {
  const config = loadConfig();
  const store = await openStore(config);
  try {
    const actor = cliActor();
    const revoked = await store.apiTokens.revoke(options.token, actor, new Date());
    if (!revoked) throw new UserError(`no live token has the id or name "${options.token}"; \`heroku-s3-controller tokens\` lists them`);
    await store.journal.append({
      instanceId: config.instanceId,
      accountId: null,
      addonId: null,
      action: 'token-revoke',
      resource: revoked.id,
      phase: 'ok',
      detail: { actor, name: revoked.name },
    });
    process.stdout.write(`Revoked token "${revoked.name}" (id ${revoked.id}): it is refused from the next request on.\n`);
  } finally {
    await store.close();
  }
}

/** What listings show of a token: never its secret or hash. */
export function describeToken(t: ApiTokenRecord) {
  const state = t.revokedAt !== null ? 'revoked' : t.expiresAt !== null && t.expiresAt.getTime() <= Date.now() ? 'expired' : 'live';
  return {
    id: t.id,
    name: t.name,
    scope: t.scope,
    state,
    createdAt: t.createdAt.toISOString(),
    createdBy: t.createdBy,
    expiresAt: t.expiresAt?.toISOString() ?? null,
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
    revokedBy: t.revokedBy,
  };
}
