/**
 * Subscribes apps to the controller's webhook receiver: one app webhook per app, with
 * `include: ['api:addon', 'api:addon-attachment']`, pointing at the receiver's URL and signed with
 * the current secret. Idempotent: an app that already has a subscription to that URL with the
 * same entities and level is left alone; one that differs is updated in place; only an app
 * without one gets a new subscription. Running it twice changes nothing the second time.
 *
 * Heroku never shows a subscription's secret, so an existing one cannot be compared: after
 * rotating the secret, run with `rotateSecret` to write it into every subscription.
 */
import type { TeamApp } from '@heroku-cli/schema';
import { seg } from '../heroku/heroku-api.js';
import { errorMessage, UserError } from '../util/errors.js';
import { mapLimit } from '../util/map-limit.js';
import { ADDON_ENTITIES } from './heroku-webhooks.js';

/**
 * The Platform API calls this needs (a subset of `HerokuApi`).
 * Creating subscriptions spends one request per app without one; listing, one per app.
 */
export interface WebhookApi {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
  patch<T>(path: string, body: unknown): Promise<T>;
}

/** `#/definitions/app-webhook/definitions/app_webhook`: the fields used here. */
export interface AppWebhook {
  id: string;
  url: string;
  include: string[];
  level: 'notify' | 'sync';
}

export type WebhookLevel = 'notify' | 'sync';

export interface RegisterWebhooksOptions {
  /** The public URL of the receiver, e.g. `https://s3-controller.example.com/webhooks/heroku`. */
  url: string;
  /** The signing secret (the first of the receiver's secrets). Sent to Heroku, never printed. */
  secret: string;
  /** `notify`: one delivery attempt (the resync is the safety net); `sync`: Heroku retries. */
  level?: WebhookLevel;
  /** Also write the secret into subscriptions that are otherwise up to date. */
  rotateSecret?: boolean;
  /** Apps handled at once. Default 4. */
  concurrency?: number;
}

export type WebhookRegistration = 'created' | 'updated' | 'unchanged' | 'failed';

export interface AppRegistration {
  appId: string;
  appName: string;
  result: WebhookRegistration;
  /** The subscription's id; null when the app's calls failed before one was known. */
  webhookId: string | null;
  /** Why it failed; never holds the secret. */
  error?: string;
}

export interface RegisterWebhooksSummary {
  created: number;
  updated: number;
  unchanged: number;
  failed: number;
  apps: AppRegistration[];
}

/**
 * Makes sure each app in `apps` has exactly the subscription described by `options`. Failures
 * are per app (reported, not thrown), so one inaccessible app does not stop the rest.
 */
export async function registerWebhooks(
  api: WebhookApi,
  apps: ReadonlyArray<{ id: string; name: string }>,
  options: RegisterWebhooksOptions,
): Promise<RegisterWebhooksSummary> {
  const url = checkUrl(options.url);
  if (options.secret.length === 0) throw new UserError('the webhook signing secret is empty: set it before registering webhooks');
  const level = options.level ?? 'notify';
  const include = [...ADDON_ENTITIES];
  const results = await mapLimit(apps, options.concurrency ?? 4, async (app): Promise<AppRegistration> => {
    const base = `/apps/${seg(app.id)}/webhooks`;
    let webhookId: string | null = null;
    try {
      const existing = await api.get<AppWebhook[]>(base);
      const mine = existing.find((w) => sameUrl(w.url, url));
      if (!mine) {
        const created = await api.post<AppWebhook>(base, { include, level, url, secret: options.secret });
        return { appId: app.id, appName: app.name, result: 'created', webhookId: created.id };
      }
      webhookId = mine.id;
      const upToDate = sameSet(mine.include, include) && mine.level === level;
      if (upToDate && !options.rotateSecret) return { appId: app.id, appName: app.name, result: 'unchanged', webhookId };
      // The secret goes along: a subscription that was not ours to begin with becomes verifiable.
      await api.patch<AppWebhook>(`${base}/${seg(mine.id)}`, { include, level, secret: options.secret });
      return { appId: app.id, appName: app.name, result: 'updated', webhookId };
    } catch (err) {
      return { appId: app.id, appName: app.name, result: 'failed', webhookId, error: redact(errorMessage(err), options.secret) };
    }
  });
  return summarize(results);
}

export interface TeamRef {
  id: string;
  name: string;
}

export interface RegisterForTeamsSummary extends RegisterWebhooksSummary {
  /** Teams whose app listing failed: their apps were not visited. */
  teamsFailed: Array<{ teamId: string; teamName: string; error: string }>;
}

/** `registerWebhooks` on every app of the given (linked) teams: one app listing per team. */
export async function registerWebhooksForTeams(
  api: WebhookApi,
  teams: readonly TeamRef[],
  options: RegisterWebhooksOptions,
): Promise<RegisterForTeamsSummary> {
  checkUrl(options.url);
  const teamsFailed: RegisterForTeamsSummary['teamsFailed'] = [];
  const listed = await mapLimit(teams, options.concurrency ?? 4, async (team) => {
    try {
      const apps = await api.get<TeamApp[]>(`/teams/${seg(team.id)}/apps`);
      return apps.filter((a) => typeof a.id === 'string' && typeof a.name === 'string').map((a) => ({ id: a.id!, name: a.name! }));
    } catch (err) {
      teamsFailed.push({ teamId: team.id, teamName: team.name, error: redact(errorMessage(err), options.secret) });
      return [];
    }
  });
  const summary = await registerWebhooks(api, listed.flat(), options);
  return { ...summary, teamsFailed };
}

/**
 * The `webhooks register` command, apart from reading configuration: registers on every app of
 * the linked teams and prints a summary. Returns the exit code: 0 all done, 2 anything failed.
 */
export async function registerWebhooksCommand(
  options: RegisterWebhooksOptions & { output: 'text' | 'json' },
  deps: { api: WebhookApi; links: { list(): Promise<Array<{ teamId: string; teamName: string }>> }; write?: (text: string) => void },
): Promise<number> {
  const write = deps.write ?? ((text: string) => void process.stdout.write(text));
  const links = await deps.links.list();
  if (links.length === 0) throw new UserError('no team is linked yet: link one with `heroku-s3-controller link --team <name>` first');
  const summary = await registerWebhooksForTeams(
    deps.api,
    links.map((l) => ({ id: l.teamId, name: l.teamName })),
    options,
  );
  if (options.output === 'json') write(`${JSON.stringify(summary, null, 2)}\n`);
  else write(`${formatRegisterSummary(summary).join('\n')}\n`);
  return summary.failed > 0 || summary.teamsFailed.length > 0 ? 2 : 0;
}

/** Human output: one line per app that changed or failed, then the totals. */
export function formatRegisterSummary(summary: RegisterForTeamsSummary): string[] {
  const lines: string[] = [];
  for (const team of summary.teamsFailed) lines.push(`team ${team.teamName}: apps not listed: ${team.error}`);
  for (const app of summary.apps) {
    if (app.result === 'unchanged') continue;
    lines.push(`${app.result.padEnd(8)} ${app.appName}${app.error ? `: ${app.error}` : ''}`);
  }
  lines.push(
    `${summary.apps.length} app(s): ${summary.created} created, ${summary.updated} updated, ${summary.unchanged} unchanged, ${summary.failed} failed.`,
  );
  return lines;
}

function summarize(apps: AppRegistration[]): RegisterWebhooksSummary {
  const count = (r: WebhookRegistration) => apps.filter((a) => a.result === r).length;
  return { created: count('created'), updated: count('updated'), unchanged: count('unchanged'), failed: count('failed'), apps };
}

function checkUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UserError(`webhook URL "${text}" is not a URL: give the public address of POST /webhooks/heroku, e.g. https://controller.example.com/webhooks/heroku`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UserError(`webhook URL "${text}" must be http(s): Heroku delivers webhooks over HTTPS`);
  }
  if (url.username || url.password) throw new UserError('webhook URL must not carry credentials: the deliveries are signed instead');
  return text;
}

/** Two URLs naming the same endpoint (`https://x/a` and `HTTPS://X/a`). */
function sameUrl(a: string, b: string): boolean {
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return a === b;
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
}

/** Defence in depth: an error text never carries the secret, even if a server echoed it. */
function redact(text: string, secret: string): string {
  return secret.length > 0 ? text.split(secret).join('[redacted]') : text;
}
