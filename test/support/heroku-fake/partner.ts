/**
 * Heroku's side of the Add-on Partner API (v3), for the fake: `fake.partner`.
 *
 * - It sends provisioning requests to the add-on (`provision`, `changePlan`, `deprovision`), with
 *   HTTP Basic auth (manifest id : password) and a fresh OAuth grant per provisioning request.
 * - It serves the identity service's `POST /oauth/token` (`authorization_code` and `refresh_token`
 *   grants, form-encoded or JSON, authenticated by the client secret), issuing access tokens that
 *   expire after `accessTokenTtlSeconds` (short by default), each scoped to one add-on.
 * - It serves `POST /addons/{id}/actions/provision` and `…/deprovision` (the add-on's state
 *   changes; answered with the add-on, checked against `#/definitions/add-on`) and
 *   `GET`/`PATCH /addons/{id}/config` (checked against `#/definitions/add-on-config`). A PATCH
 *   goes through `FakeState.setProviderConfig`: names come with the manifest's
 *   `config_vars_prefix` (`fake.setManifestPrefix`; default the normalized service slug,
 *   `s3-bucket` → `S3_BUCKET`), and each app the add-on is attached to gets them with that prefix
 *   replaced by its attachment's name, as Heroku does; the add-on's `config_vars` lists them as
 *   the owning app sees them. These need that add-on's partner token (`Bearer`, or Basic with the token as
 *   password); the controller's own token is refused there (403), as a user token would be.
 *
 * Not settled by any public source, so chosen here: the token endpoint's error bodies
 * (`{"id","message"}`, 401 for a wrong client secret, 400 `invalid_grant` for a bad grant or
 * refresh token), and that a refresh keeps the refresh token.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RecordedRequest } from './server.js';
import { validate } from './schema.js';
import { validatePartner } from './partner-schema.js';
import type { FakeState } from './state.js';
import { NotFound } from './state.js';

/** Where the fake sends Heroku's calls to the add-on. */
export interface PartnerTarget {
  /** The add-on's base URL (the manifest's `base_url` minus `/heroku/resources`). */
  url: string;
  manifestId: string;
  password: string;
}

export interface PartnerAction {
  addonId: string;
  action: 'provision' | 'deprovision';
  /** The bearer token it came with. */
  token: string;
}

export interface PartnerConfigPatch {
  addonId: string;
  config: Array<{ name: string; value: string | null }>;
  token: string;
}

export interface TokenRequest {
  grantType: string;
  status: number;
}

export interface PartnerCallResult {
  status: number;
  body: unknown;
}

interface Grant {
  addonId: string;
  expiresAt: number;
  used: boolean;
}

interface AccessToken {
  addonId: string;
  expiresAt: number;
  revoked: boolean;
}

export class FakePartner {
  /** The add-on's OAuth client secret, as the Partner Portal shows it. */
  readonly clientSecret = `fake-client-secret-${randomBytes(12).toString('hex')}`;
  /** Lifetime of issued access tokens (Heroku's are hours; short here so tests see refreshes). */
  accessTokenTtlSeconds = 300;
  readonly actions: PartnerAction[] = [];
  readonly configPatches: PartnerConfigPatch[] = [];
  readonly tokenRequests: TokenRequest[] = [];
  /** Every token issued (so tests can check none shows up where it must not). */
  readonly issuedSecrets: string[] = [];

  private readonly grants = new Map<string, Grant>();
  private readonly accessTokens = new Map<string, AccessToken>();
  private readonly refreshTokens = new Map<string, string>(); // refresh token → add-on id

  constructor(
    private readonly state: FakeState,
    private readonly violations: string[],
    private readonly requests: RecordedRequest[],
  ) {}

  // ---- Heroku → add-on ---------------------------------------------------------------------------

  /** A new OAuth grant for the add-on, valid for five minutes (as sent in `oauth_grant`). */
  issueGrant(addonId: string): { code: string; expires_at: string; type: 'authorization_code' } {
    const code = `grant-${randomBytes(16).toString('hex')}`;
    const expiresAt = Date.now() + 5 * 60_000;
    this.grants.set(code, { addonId, expiresAt, used: false });
    this.issuedSecrets.push(code);
    return { code, expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'), type: 'authorization_code' };
  }

  /** The v3 provisioning request body for an add-on the fake knows, with a fresh grant. */
  provisionBody(addonRef: string, o: { plan?: string; region?: string; options?: Record<string, unknown> } = {}): Record<string, unknown> {
    const addon = this.state.addon(addonRef);
    const app = this.state.app(addon.appId);
    return {
      callback_url: `https://api.heroku.com/addons/${addon.id}`,
      heroku_id: `app${app.id.slice(0, 8)}@heroku.com`,
      name: addon.name,
      oauth_grant: this.issueGrant(addon.id),
      options: o.options ?? {},
      plan: o.plan ?? addon.plan.split(':')[1] ?? addon.plan,
      region: o.region ?? `amazon-web-services::${app.region === 'eu' ? 'eu-west-1' : 'us-east-1'}`,
      uuid: addon.id,
      log_input_url: `https://token:t.${randomBytes(8).toString('hex')}@1.us.logplex.io/logs`,
      log_drain_token: `d.${randomBytes(8).toString('hex')}`,
    };
  }

  /** Sends `POST /heroku/resources` as Heroku does (`body` defaults to {@link provisionBody}). */
  provision(target: PartnerTarget, addonRef: string, o: { plan?: string; body?: unknown; password?: string } = {}): Promise<PartnerCallResult> {
    const body = o.body ?? this.provisionBody(addonRef, o.plan === undefined ? {} : { plan: o.plan });
    return this.callAddon(target, 'POST', '/heroku/resources', body, o.password);
  }

  /** Sends `PUT /heroku/resources/{id}` (plan change). */
  changePlan(target: PartnerTarget, addonId: string, plan: string): Promise<PartnerCallResult> {
    return this.callAddon(target, 'PUT', `/heroku/resources/${addonId}`, { heroku_id: 'app@heroku.com', plan, uuid: addonId });
  }

  /** Sends `DELETE /heroku/resources/{id}`. */
  deprovision(target: PartnerTarget, addonId: string): Promise<PartnerCallResult> {
    return this.callAddon(target, 'DELETE', `/heroku/resources/${addonId}`, undefined);
  }

  /** Any call to the add-on with Heroku's Basic auth and Accept header. */
  async callAddon(target: PartnerTarget, method: string, path: string, body: unknown, password = target.password): Promise<PartnerCallResult> {
    const res = await fetch(`${target.url}${path}`, {
      method,
      headers: {
        // What Heroku sends to v3 add-ons (unconfirmed by a primary source; the add-on does not depend on it).
        accept: 'application/vnd.heroku-addons+json; version=3',
        authorization: `Basic ${Buffer.from(`${target.manifestId}:${password}`).toString('base64')}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed };
  }

  // ---- test controls -----------------------------------------------------------------------------

  /** Makes every access token (of one add-on, or all) invalid now, as expiry would. */
  expireAccessTokens(addonId?: string): void {
    for (const t of this.accessTokens.values()) if (addonId === undefined || t.addonId === addonId) t.revoked = true;
  }

  /** The add-on's config as its provider set it (`PATCH /addons/{id}/config`, or seeded with
   * `providerConfig`), in the manifest's prefix form. */
  config(addonId: string): Record<string, string> {
    return this.state.providerConfig(addonId);
  }

  // ---- add-on → Heroku ---------------------------------------------------------------------------

  /** True for the routes served here (they bypass the Platform API token check). */
  handles(method: string, path: string): boolean {
    if (method === 'POST' && path === '/oauth/token') return true;
    if (method === 'POST' && /^\/addons\/[^/]+\/actions\/(provision|deprovision)$/.test(path)) return true;
    return (method === 'PATCH' || method === 'GET') && /^\/addons\/[^/]+\/config$/.test(path);
  }

  dispatch(req: IncomingMessage, res: ServerResponse, method: string, path: string, rawBody: string): void {
    const send = (status: number, body: unknown): void => {
      this.requests.push({ method, path, status, requestId: randomBytes(8).toString('hex') });
      const text = JSON.stringify(body);
      res.statusCode = status;
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.setHeader('Content-Length', Buffer.byteLength(text));
      res.end(text);
    };
    if (path === '/oauth/token') return this.token(req, rawBody, send);

    const [, , rawId = '', kind = '', action] = path.split('/');
    const addonRef = decodeURIComponent(rawId);
    let addon;
    try {
      addon = this.state.addon(addonRef);
    } catch (err) {
      if (err instanceof NotFound) return send(404, { id: 'not_found', message: err.message });
      throw err;
    }
    const token = bearer(req.headers['authorization']);
    const grant = token === null ? undefined : this.accessTokens.get(token);
    if (!grant || grant.revoked || grant.expiresAt <= Date.now()) {
      return send(401, { id: 'unauthorized', message: 'Invalid credentials provided.' });
    }
    if (grant.addonId !== addon.id) return send(403, { id: 'forbidden', message: 'You do not have access to this resource.' });

    if (kind === 'actions') {
      this.actions.push({ addonId: addon.id, action: action as 'provision' | 'deprovision', token: token! });
      const json = this.state.setAddonState(addon.id, action === 'provision' ? 'provisioned' : 'deprovisioned');
      for (const e of validate('add-on', json)) this.violations.push(`${method} ${path} (#/definitions/add-on): ${e}`);
      return send(200, json);
    }

    if (method === 'PATCH') {
      let body: unknown;
      try {
        body = JSON.parse(rawBody);
      } catch {
        return send(400, { id: 'bad_request', message: 'Request body is not valid JSON.' });
      }
      for (const e of validatePartner('add-on-config-update', body)) this.violations.push(`request PATCH ${path} (add-on-config PATCH schema): ${e}`);
      const config = (body as { config?: unknown }).config;
      if (!Array.isArray(config) || !config.every((c) => typeof c?.name === 'string' && /^\w+$/.test(c.name) && (typeof c.value === 'string' || c.value === null))) {
        return send(422, { id: 'invalid_params', message: 'Config must be a list of {name, value}.' });
      }
      this.configPatches.push({ addonId: addon.id, config: config.map((c: { name: string; value: string | null }) => ({ name: c.name, value: c.value })), token: token! });
      this.state.setProviderConfig(addon.id, Object.fromEntries((config as Array<{ name: string; value: string | null }>).map((c) => [c.name, c.value])));
    }
    const list = Object.entries(this.config(addon.id)).map(([name, value]) => ({ name, value }));
    for (const e of validatePartner('add-on-config-list', list)) this.violations.push(`${method} ${path} (#/definitions/add-on-config): ${e}`);
    return send(200, list);
  }

  private token(req: IncomingMessage, rawBody: string, send: (status: number, body: unknown) => void): void {
    const type = String(req.headers['content-type'] ?? '');
    let params: Record<string, string>;
    try {
      params = type.includes('json') ? (JSON.parse(rawBody) as Record<string, string>) : Object.fromEntries(new URLSearchParams(rawBody));
    } catch {
      return send(400, { id: 'bad_request', message: 'Request body is not valid.' });
    }
    const grantType = String(params['grant_type'] ?? '');
    const answer = (status: number, body: unknown): void => {
      this.tokenRequests.push({ grantType, status });
      send(status, body);
    };
    if (params['client_secret'] !== this.clientSecret) return answer(401, { id: 'unauthorized', message: 'Invalid OAuth client secret.' });
    let addonId: string;
    let refreshToken: string;
    if (grantType === 'authorization_code') {
      const grant = this.grants.get(String(params['code'] ?? ''));
      if (!grant || grant.used || grant.expiresAt <= Date.now()) return answer(400, { id: 'invalid_grant', message: 'The grant is invalid, expired or already used.' });
      grant.used = true;
      addonId = grant.addonId;
      refreshToken = `refresh-${randomBytes(16).toString('hex')}`;
      this.refreshTokens.set(refreshToken, addonId);
      this.issuedSecrets.push(refreshToken);
    } else if (grantType === 'refresh_token') {
      refreshToken = String(params['refresh_token'] ?? '');
      const known = this.refreshTokens.get(refreshToken);
      if (known === undefined) return answer(400, { id: 'invalid_grant', message: 'The refresh token is invalid.' });
      addonId = known;
    } else {
      return answer(400, { id: 'unsupported_grant_type', message: 'grant_type must be authorization_code or refresh_token.' });
    }
    const accessToken = `access-${randomBytes(16).toString('hex')}`;
    this.accessTokens.set(accessToken, { addonId, expiresAt: Date.now() + this.accessTokenTtlSeconds * 1000, revoked: false });
    this.issuedSecrets.push(accessToken);
    answer(200, { access_token: accessToken, refresh_token: refreshToken, expires_in: this.accessTokenTtlSeconds, token_type: 'Bearer' });
  }
}

function bearer(header: string | string[] | undefined): string | null {
  if (typeof header !== 'string') return null;
  const [scheme = '', value = ''] = header.trim().split(/\s+/, 2);
  if (/^bearer$/i.test(scheme)) return value;
  if (/^basic$/i.test(scheme)) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) : null;
  }
  return null;
}
