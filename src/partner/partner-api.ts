/**
 * The Heroku Add-on Partner API (v3) endpoints, mounted on `/heroku/resources`, so this controller
 * can be the add-on's provider:
 *
 * - `POST /heroku/resources` — a provisioning request. Recorded once per `uuid` (Heroku delivers at
 *   least once; a repeat answers the same and changes nothing), answered `202 {id, message}` at
 *   once, and the add-on id is enqueued. The OAuth grant is exchanged after the answer (Heroku
 *   wants one within seconds), retried on transient failures; see {@link PartnerTokens}.
 * - `PUT /heroku/resources/:id` — plan change: the new plan is stored (its settings profile follows
 *   from it), the add-on enqueued; `200 {message}`.
 * - `DELETE /heroku/resources/:id` — the add-on was removed: marked deprovisioned with the short
 *   grace (GC_GRACE_DEPROVISIONED), enqueued; `204`. A repeat answers 204 again.
 *
 * Every call needs HTTP Basic auth with the manifest id and password (401 otherwise, before the
 * body is read). Other answers: 400 malformed body (a sentence saying what is wrong), 404 an id
 * never provisioned here, 410 a plan change for an add-on already deprovisioned, 405 another
 * method, 408 body too slow, 413 body over the limit. Errors are `{"message": …}`, the field
 * Heroku shows to the user.
 *
 * Never logs or answers a password, the client secret, the grant code, a token or the body.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MountedRoute } from '../http/public-listener.js';
import type { PartnerAddonStore } from '../store/partner-addon-store.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { checkBasicAuth } from './basic-auth.js';
import { HerokuOAuthClient, type FetchLike } from './oauth-client.js';
import { PartnerActions, type PartnerActionResult } from './partner-actions.js';
import { PartnerTokens, type OAuthTokenSource } from './partner-tokens.js';
import { PartnerPlatformClient } from './platform-client.js';
import { isAddonId, parsePlanChange, parseProvisionRequest } from './provision-request.js';
import { readBody } from '../http/read-body.js';
import { sendJson, sendJsonAndClose, singleHeader } from '../http/respond.js';
import { PartnerEvent } from '../reasons.js';

export const PARTNER_API_PREFIX = '/heroku/resources';

const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
const DEFAULT_READ_TIMEOUT_MS = 10_000;
const PROVISION_MESSAGE = 'Your bucket is being created; its credentials appear as config vars in a few seconds.';

export interface PartnerApiDeps {
  store: PartnerAddonStore;
  /** ADDON_MANIFEST_ID: the user of Heroku's Basic auth. */
  manifestId: string;
  /** ADDON_MANIFEST_PASSWORD: the accepted passwords (the current one, and the previous during a rotation). */
  manifestPasswords: readonly string[];
  /** ADDON_CLIENT_SECRET: authenticates the grant exchange and refreshes. */
  clientSecret: string;
  /** HEROKU_OAUTH_URL, default https://id.heroku.com. */
  oauthUrl?: string;
  /** HEROKU_API_URL, default https://api.heroku.com: where actions and add-on config go. */
  herokuApiUrl?: string;
  /** Puts an add-on id on the work queue; must not block. */
  enqueue(addonId: string): void;
  /** The explicit-deprovision grace (GC_GRACE_DEPROVISIONED). Default 5 minutes. */
  deprovisionGraceMs?: number;
  fetch?: FetchLike;
  /** Replaces the OAuth client built from `oauthUrl`/`clientSecret` (tests). */
  oauth?: OAuthTokenSource;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  exchangeRetryDelaysMs?: readonly number[];
  requestTimeoutMs?: number;
  maxBodyBytes?: number;
  readTimeoutMs?: number;
  logger?: Logger;
}

/** The mounted handler plus what the reconcile side calls. */
export interface PartnerApi extends MountedRoute {
  /** See {@link PartnerActions.markReady}. */
  markReady(addonId: string): Promise<PartnerActionResult>;
  /** See {@link PartnerActions.markFailed}. */
  markFailed(addonId: string, reason: string): Promise<PartnerActionResult>;
  /** The `addon-config` delivery mode; see {@link PartnerActions.deliverAddonConfig}. */
  deliverAddonConfig(addonId: string, vars: Readonly<Record<string, string | null>>): Promise<void>;
  readonly tokens: PartnerTokens;
  readonly actions: PartnerActions;
  /** Resolves when every background grant exchange started so far has finished (tests, shutdown). */
  settle(): Promise<void>;
}

export function createPartnerApi(deps: PartnerApiDeps): PartnerApi {
  if (deps.manifestId.trim() === '') throw new RangeError('the Partner API needs the add-on manifest id (ADDON_MANIFEST_ID)');
  const passwords = deps.manifestPasswords.filter((p) => p.length > 0);
  if (passwords.length === 0) throw new RangeError('the Partner API needs at least one manifest password (ADDON_MANIFEST_PASSWORD)');
  const now = deps.now ?? (() => new Date());
  const log = deps.logger;
  const graceMs = deps.deprovisionGraceMs ?? 5 * 60_000;
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const readTimeoutMs = deps.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;

  const oauth =
    deps.oauth ??
    new HerokuOAuthClient({
      url: deps.oauthUrl ?? 'https://id.heroku.com',
      clientSecret: deps.clientSecret,
      now,
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    });
  const tokens = new PartnerTokens({
    store: deps.store,
    oauth,
    now,
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    ...(deps.exchangeRetryDelaysMs ? { exchangeRetryDelaysMs: deps.exchangeRetryDelaysMs } : {}),
    ...(log ? { logger: log } : {}),
  });
  const platform = new PartnerPlatformClient({
    url: deps.herokuApiUrl ?? 'https://api.heroku.com',
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    ...(deps.requestTimeoutMs ? { timeoutMs: deps.requestTimeoutMs } : {}),
  });
  const actions = new PartnerActions({ store: deps.store, tokens, platform, now, ...(log ? { logger: log } : {}) });
  const background = new Set<Promise<unknown>>();

  const enqueue = (addonId: string): void => {
    try {
      deps.enqueue(addonId);
    } catch (err) {
      // The record is stored: the periodic resync still finds the add-on.
      log?.error({ reason: PartnerEvent.EnqueueFailed, addonId, error: errorMessage(err) }, `partner add-on ${addonId}: not queued; the next resync picks it up`);
    }
  };

  const exchangeLater = (addonId: string): void => {
    const job = tokens.exchangeWithRetry(addonId).finally(() => background.delete(job));
    background.add(job);
  };

  async function provision(res: ServerResponse, body: unknown): Promise<void> {
    const parsed = parseProvisionRequest(body);
    if (!parsed.ok) {
      log?.warn({ reason: PartnerEvent.RequestMalformed, problem: parsed.problem }, `provisioning request refused: ${parsed.problem}`);
      return sendJson(res, 400, { message: parsed.problem });
    }
    const { addon, created } = await deps.store.create(parsed.value);
    if (created) {
      log?.info({ reason: PartnerEvent.ProvisionReceived, addonId: addon.uuid, plan: addon.plan, region: addon.region }, `partner add-on ${addon.uuid}: provisioning request received`);
      enqueue(addon.uuid);
      exchangeLater(addon.uuid);
    } else {
      log?.debug({ reason: PartnerEvent.ProvisionDuplicate, addonId: addon.uuid }, `partner add-on ${addon.uuid}: provisioning request received again`);
      // No token yet (the exchange failed or is under way): the repeat's grant is the one to use.
      if (!addon.tokens && parsed.value.grantCode !== null && (await deps.store.replaceGrant(addon.uuid, parsed.value.grantCode, parsed.value.grantExpiresAt))) {
        exchangeLater(addon.uuid);
      }
    }
    sendJson(res, 202, { id: addon.uuid, message: PROVISION_MESSAGE });
  }

  async function changePlan(res: ServerResponse, addonId: string, body: unknown): Promise<void> {
    const parsed = parsePlanChange(body);
    if (!parsed.ok) return sendJson(res, 400, { message: parsed.problem });
    const existing = await deps.store.get(addonId);
    if (!existing) return sendJson(res, 404, { message: `no add-on ${addonId} was provisioned here` });
    if (existing.state === 'deprovisioned') return sendJson(res, 410, { message: `add-on ${addonId} was deprovisioned` });
    await deps.store.changePlan(addonId, parsed.value.plan, now());
    log?.info({ reason: PartnerEvent.PlanChanged, addonId, from: existing.plan, plan: parsed.value.plan }, `partner add-on ${addonId}: plan ${existing.plan} → ${parsed.value.plan}`);
    enqueue(addonId);
    sendJson(res, 200, { message: `Plan changed to ${parsed.value.plan}; the bucket's settings follow in a few seconds.` });
  }

  async function deprovision(res: ServerResponse, addonId: string): Promise<void> {
    const at = now();
    const addon = await deps.store.markDeprovisioned(addonId, at, new Date(at.getTime() + graceMs));
    if (!addon) return sendJson(res, 404, { message: `no add-on ${addonId} was provisioned here` });
    log?.info({ reason: PartnerEvent.DeprovisionReceived, addonId, deleteAfter: addon.deleteAfter?.toISOString() }, `partner add-on ${addonId}: deprovisioned by Heroku`);
    enqueue(addonId);
    res.writeHead(204, { 'cache-control': 'no-store' });
    res.end();
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const rest = path.slice(PARTNER_API_PREFIX.length).replace(/^\/+|\/+$/g, '');
    const segments = rest === '' ? [] : rest.split('/');
    const allowed = segments.length === 0 ? 'POST' : 'PUT, DELETE';
    if (segments.length > 1) return reject(res, 404, 'not found');
    const method = req.method ?? 'GET';
    if ((segments.length === 0 && method !== 'POST') || (segments.length === 1 && method !== 'PUT' && method !== 'DELETE')) {
      res.setHeader('allow', allowed);
      return reject(res, 405, 'method not allowed');
    }
    if (!checkBasicAuth(singleHeader(req, 'authorization'), deps.manifestId, passwords)) {
      log?.warn({ reason: PartnerEvent.Unauthorized, remote: req.socket.remoteAddress, method }, 'Partner API call refused: missing or wrong Basic credentials');
      res.setHeader('www-authenticate', 'Basic realm="heroku-s3-controller"');
      return reject(res, 401, 'missing or wrong add-on manifest credentials');
    }
    let addonId: string | null = null;
    if (segments.length === 1) {
      let id: string;
      try {
        id = decodeURIComponent(segments[0]!);
      } catch {
        return reject(res, 404, 'not found');
      }
      if (!isAddonId(id)) return reject(res, 404, `no add-on ${id.slice(0, 64)} was provisioned here`);
      addonId = id.toLowerCase();
    }

    let body: unknown = undefined;
    if (method !== 'DELETE') {
      const read = await readBody(req, maxBodyBytes, readTimeoutMs);
      if (read.kind === 'too-large') return reject(res, 413, `body larger than ${maxBodyBytes} bytes`);
      if (read.kind === 'timeout') return reject(res, 408, `body not received within ${readTimeoutMs} ms`);
      if (read.kind === 'aborted') {
        res.destroy();
        return;
      }
      try {
        body = JSON.parse(read.body.toString('utf8'));
      } catch {
        return sendJson(res, 400, { message: 'the body is not valid JSON' });
      }
    }
    try {
      if (addonId === null) return await provision(res, body);
      if (method === 'PUT') return await changePlan(res, addonId, body);
      return await deprovision(res, addonId);
    } catch (err) {
      log?.error({ reason: PartnerEvent.RequestFailed, addonId, method, error: errorMessage(err) }, 'Partner API call failed');
      return sendJson(res, 503, { message: 'the add-on service cannot answer right now; try again' });
    }
  };

  return {
    prefix: PARTNER_API_PREFIX,
    handle,
    markReady: (addonId) => actions.markReady(addonId),
    markFailed: (addonId, reason) => actions.markFailed(addonId, reason),
    deliverAddonConfig: (addonId, vars) => actions.deliverAddonConfig(addonId, vars),
    tokens,
    actions,
    async settle() {
      while (background.size > 0) await Promise.allSettled([...background]);
    },
  };
}

/** Answers and closes the connection: the body may not have been read to its end. */
function reject(res: ServerResponse, status: number, message: string): void {
  sendJsonAndClose(res, status, { message });
}



/**
 * The Partner API as configured (`config.partner`), or null when ADDON_MANIFEST_ID is unset (the
 * endpoints are then not mounted). For `serve`: mount the result in `routes`, give it the work
 * queue's `enqueue`, and `await settle()` on shutdown.
 */
export function createPartnerApiFromConfig(
  config: {
    partner: { manifestId: string; manifestPasswords: string[]; clientSecret: string; oauthUrl: string } | null;
    herokuApiUrl: string;
    requestTimeoutMs: number;
    gc: { graceDeprovisionedMs: number };
  },
  deps: Pick<PartnerApiDeps, 'store' | 'enqueue' | 'logger' | 'now' | 'fetch'>,
): PartnerApi | null {
  if (!config.partner) return null;
  return createPartnerApi({
    ...deps,
    manifestId: config.partner.manifestId,
    manifestPasswords: config.partner.manifestPasswords,
    clientSecret: config.partner.clientSecret,
    oauthUrl: config.partner.oauthUrl,
    herokuApiUrl: config.herokuApiUrl,
    requestTimeoutMs: config.requestTimeoutMs,
    deprovisionGraceMs: config.gc.graceDeprovisionedMs,
  });
}
