/**
 * Heroku's identity service (id.heroku.com) for the fake: the OAuth 2.0 web flow a third-party web
 * app uses to let a Heroku user sign in (Dev Center, "OAuth", web application authorization).
 *
 * - `GET /oauth/authorize?client_id=…&response_type=code&scope=…&state=…[&redirect_uri=…]`: an
 *   unknown client, a `redirect_uri` other than the client's registered one, a `response_type`
 *   other than `code`, or a missing or unknown scope answer a 400 HTML error page and never
 *   redirect. Otherwise the fake has no login of its own, so it either
 *   - redirects at once (302) with a code, when a test signed a user in (`fake.signInAs(email)`,
 *     the fake's stand-in for a browser already signed in to Heroku that has authorized the client
 *     before): what non-browser tests use; or
 *   - answers a small accessible HTML page: a form with a labelled email field and "Allow" and
 *     "Deny" buttons, posting back to `POST /oauth/authorize` with the same parameters: what a
 *     browser test drives.
 * - On allow it redirects (302) to the client's registered redirect URI with `code` and the exact
 *   `state`; on deny with `error=access_denied` and `state`. An unknown email re-renders the form
 *   (401) with an alert. Codes are single-use and expire after `codeTtlSeconds` (five minutes, as
 *   Heroku's grants do) on the fake's clock.
 * - `POST /oauth/token` (form-encoded as Heroku documents; a JSON body or query parameters are read
 *   too) exchanges `grant_type=authorization_code&code=…&client_secret=…`, or
 *   `grant_type=refresh_token&refresh_token=…&client_secret=…`, for the flat answer Heroku
 *   documents: `{access_token, expires_in, refresh_token, token_type: "Bearer", user_id,
 *   session_nonce}`. The endpoint is shared with the Add-on Partner grant exchange
 *   (`partner.ts`): a request is answered here when its code or refresh token was issued here, or
 *   its client secret is a registered client's; every other one goes to the partner side, as before.
 * - `POST /oauth/tokens` (the Platform API's "OAuth Token Create", JSON body `{grant: {code, type},
 *   client: {secret}, refresh_token: {token}}`) does the same exchange and answers 201 with the
 *   nested `#/definitions/oauth-token`, checked against the schema.
 *
 * Access tokens are `HRKU-` prefixed (Dev Center, "Prefixed OAuth Tokens") and valid for
 * `accessTokenTtlSeconds` (28,799 s, the documented example); with one the Platform API answers as
 * its user, within its scopes (`server.ts`).
 *
 * Not settled by any public source, so chosen here (as on the partner side): the token endpoint's
 * error bodies, `{"id","message"}` with 401 `unauthorized` for a wrong client secret and 400
 * `invalid_grant` for an unknown, used or expired code or refresh token; that a refresh keeps the
 * refresh token; that refresh tokens carry the `HRKU-` prefix too; that scopes may be separated by
 * spaces or commas; that a missing scope is refused rather than defaulted.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeAccounts } from './accounts.js';
import { validate } from './schema.js';
import type { RecordedRequest } from './server.js';

/** Heroku's OAuth scopes (Dev Center, "OAuth", scopes). */
export const OAUTH_SCOPES = ['global', 'identity', 'read', 'write', 'read-protected', 'write-protected'] as const;
export type OAuthScope = (typeof OAUTH_SCOPES)[number];

export interface OAuthClient {
  id: string;
  secret: string;
  name: string;
  /** Heroku redirects here only (the client's registered redirect URI). */
  redirectUri: string;
}

/** Who a Platform API request comes from: the controller's token, or a signed-in user's. */
export type Principal =
  | { kind: 'operator' }
  | { kind: 'user'; accountId: string; scopes: ReadonlySet<OAuthScope>; tokenId: string };

/** What the flat `POST /oauth/token` answers (Dev Center, "OAuth", token exchange). */
export interface TokenExchangeAnswer {
  access_token: string;
  expires_in: number;
  refresh_token: string;
  token_type: 'Bearer';
  user_id: string;
  session_nonce: string;
}

/** `#/definitions/oauth-token`, what `POST /oauth/tokens` answers. */
export interface OAuthTokenAnswer {
  access_token: { expires_in: number | null; id: string; token: string };
  authorization: { id: string };
  client: { secret: string } | null;
  created_at: string;
  grant: { code: string; type: string };
  id: string;
  refresh_token: { expires_in: number | null; id: string; token: string };
  session: { id: string };
  updated_at: string;
  user: { id: string };
}

export interface IdentityTokenRequest {
  endpoint: '/oauth/token' | '/oauth/tokens';
  grantType: string;
  status: number;
}

export interface AuthorizeDecision {
  clientId: string;
  /** The signed-in user's email; null on deny from the form. */
  email: string | null;
  decision: 'allow' | 'deny';
  /** `session`: redirected at once for the user of `signInAs`; `form`: the HTML form was posted. */
  via: 'session' | 'form';
  scopes: OAuthScope[];
}

interface CodeRec {
  clientId: string;
  accountId: string;
  scopes: OAuthScope[];
  expiresAt: number;
  used: boolean;
}

interface RefreshRec {
  id: string;
  token: string;
  clientId: string;
  accountId: string;
  scopes: OAuthScope[];
  authorizationId: string;
  sessionNonce: string;
  revoked: boolean;
}

interface AccessRec {
  id: string;
  token: string;
  accountId: string;
  scopes: OAuthScope[];
  expiresAt: number;
  revoked: boolean;
}

interface Issued {
  access: AccessRec;
  refresh: RefreshRec;
  client: OAuthClient;
  grant: { code: string; type: string };
}

type Failure = { status: number; id: string; message: string };

type Send = (status: number, contentType: string, body: string, headers?: Record<string, string>) => void;

/** Heroku's timestamp format (whole seconds). */
function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** `read write`, `read,write` → scopes; null when empty or any is unknown. */
export function parseScopes(raw: string | undefined): OAuthScope[] | null {
  const parts = (raw ?? '').split(/[\s,]+/).filter((s) => s !== '');
  if (parts.length === 0) return null;
  if (!parts.every((p) => (OAUTH_SCOPES as readonly string[]).includes(p))) return null;
  return [...new Set(parts)] as OAuthScope[];
}

export class FakeIdentity {
  /** Lifetime of issued user access tokens: Heroku's documented example answer says 28,799 s. */
  accessTokenTtlSeconds = 28_799;
  /** Lifetime of an authorization code (Heroku: about five minutes). */
  codeTtlSeconds = 300;
  readonly tokenRequests: IdentityTokenRequest[] = [];
  readonly decisions: AuthorizeDecision[] = [];
  /** Every code and token issued (so tests can check none shows up where it must not). */
  readonly issuedSecrets: string[] = [];

  private readonly clients = new Map<string, OAuthClient>();
  private readonly clientsBySecret = new Map<string, OAuthClient>();
  private session: string | null = null;
  private readonly codes = new Map<string, CodeRec>();
  private readonly accessTokens = new Map<string, AccessRec>();
  private readonly refreshTokens = new Map<string, RefreshRec>();

  constructor(
    private readonly accounts: FakeAccounts,
    private readonly violations: string[],
    private readonly requests: RecordedRequest[],
    private readonly clock: () => number,
  ) {}

  // ---- test controls -----------------------------------------------------------------------------

  /** Registers an OAuth client (Heroku: `heroku clients:create NAME REDIRECT_URI`). */
  registerClient(o: { redirectUri: string; id?: string; secret?: string; name?: string }): OAuthClient {
    let uri: URL;
    try {
      uri = new URL(o.redirectUri);
    } catch {
      throw new Error(`redirect URI ${o.redirectUri} is not an absolute URL`);
    }
    if (uri.protocol !== 'https:' && uri.protocol !== 'http:') throw new Error(`redirect URI ${o.redirectUri} must be http(s)`);
    const client: OAuthClient = {
      id: o.id ?? randomUUID(),
      secret: o.secret ?? randomUUID(),
      name: o.name ?? 'heroku-s3-controller',
      redirectUri: o.redirectUri,
    };
    if (this.clients.has(client.id)) throw new Error(`OAuth client ${client.id} exists`);
    if (this.clientsBySecret.has(client.secret)) throw new Error('OAuth client secret is taken');
    this.clients.set(client.id, client);
    this.clientsBySecret.set(client.secret, client);
    this.issuedSecrets.push(client.secret);
    return { ...client };
  }

  /**
   * The browser session of the fake: with a user signed in, `GET /oauth/authorize` redirects at
   * once with a code for that user (as Heroku does for a signed-in user who authorized the client
   * before); `null` signs out, and the authorize page shows its form again.
   */
  signInAs(userRef: string | null): void {
    this.session = userRef === null ? null : this.accounts.user(userRef).id;
  }

  /** Mints a user token without the web flow (for tests that are not about signing in). */
  issueToken(userRef: string, o: { scopes?: OAuthScope[]; client?: string } = {}): TokenExchangeAnswer {
    const account = this.accounts.user(userRef);
    const client = o.client === undefined ? this.anyClient() : this.clients.get(o.client);
    if (!client) throw new Error(`no OAuth client ${o.client}`);
    const issued = this.issue(client, account.id, o.scopes ?? ['global'], { code: '', type: 'authorization_code' });
    return this.flat(issued);
  }

  /** Makes the user's (or every) access token invalid now, as expiry would; refresh tokens still work. */
  expireAccessTokens(userRef?: string): void {
    const id = userRef === undefined ? undefined : this.accounts.user(userRef).id;
    for (const t of this.accessTokens.values()) if (id === undefined || t.accountId === id) t.revoked = true;
  }

  /** Revokes the user's (or every) access and refresh tokens, as revoking the authorization does. */
  revokeTokens(userRef?: string): void {
    this.expireAccessTokens(userRef);
    const id = userRef === undefined ? undefined : this.accounts.user(userRef).id;
    for (const t of this.refreshTokens.values()) if (id === undefined || t.accountId === id) t.revoked = true;
  }

  // ---- the Platform API's view -------------------------------------------------------------------

  /** The user a bearer token belongs to, while it is valid; null otherwise. */
  principal(token: string): Principal | null {
    const t = this.accessTokens.get(token);
    if (!t || t.revoked || t.expiresAt <= this.clock()) return null;
    return { kind: 'user', accountId: t.accountId, scopes: new Set(t.scopes), tokenId: t.id };
  }

  // ---- HTTP --------------------------------------------------------------------------------------

  /** The routes served here, besides the shared `POST /oauth/token` (see {@link ownsTokenRequest}). */
  handles(method: string, path: string): boolean {
    if (path === '/oauth/authorize') return method === 'GET' || method === 'HEAD' || method === 'POST';
    return method === 'POST' && path === '/oauth/tokens';
  }

  /**
   * Whether a `POST /oauth/token` is the web flow's: its code or refresh token was issued here, or
   * its client secret is a registered client's. Everything else is the add-on partner's grant.
   */
  ownsTokenRequest(params: Record<string, string>): boolean {
    const grantType = params['grant_type'];
    if (grantType === 'authorization_code' && this.codes.has(params['code'] ?? '')) return true;
    if (grantType === 'refresh_token' && this.refreshTokens.has(params['refresh_token'] ?? '')) return true;
    return this.clientsBySecret.has(params['client_secret'] ?? '');
  }

  /** The parameters of a token request: query string, then a form-encoded or JSON body over it. */
  static tokenParams(req: IncomingMessage, rawBody: string): Record<string, string> | null {
    const url = new URL(req.url ?? '/', 'http://fake');
    const out: Record<string, string> = Object.fromEntries(url.searchParams);
    const type = String(req.headers['content-type'] ?? '');
    if (rawBody.trim() === '') return out;
    if (type.includes('json')) {
      let body: unknown;
      try {
        body = JSON.parse(rawBody);
      } catch {
        return null;
      }
      if (body === null || typeof body !== 'object' || Array.isArray(body)) return null;
      for (const [k, v] of Object.entries(body)) if (typeof v === 'string') out[k] = v;
      return out;
    }
    for (const [k, v] of new URLSearchParams(rawBody)) out[k] = v;
    return out;
  }

  dispatch(req: IncomingMessage, res: ServerResponse, method: string, path: string, rawBody: string): void {
    const send: Send = (status, contentType, body, headers = {}) => {
      this.requests.push({ method, path, status, requestId: randomUUID() });
      res.statusCode = status;
      res.setHeader('Content-Type', contentType);
      res.setHeader('Cache-Control', 'no-store');
      for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
      res.setHeader('Content-Length', Buffer.byteLength(body));
      res.end(method === 'HEAD' ? undefined : body);
    };
    if (path === '/oauth/authorize') {
      if (method === 'POST') return this.authorizePost(rawBody, send);
      return this.authorizeGet(new URL(req.url ?? '/', 'http://fake').searchParams, send);
    }
    if (path === '/oauth/token') {
      const params = FakeIdentity.tokenParams(req, rawBody);
      if (!params) return this.jsonAnswer(send, '/oauth/token', '', { status: 400, id: 'bad_request', message: 'Request body is not valid.' });
      return this.tokenFlat(params, send);
    }
    return this.tokensNested(rawBody, send);
  }

  // ---- authorize ---------------------------------------------------------------------------------

  /** Checks an authorize request; the client and the scopes, or the error page's message. */
  private checkAuthorize(p: URLSearchParams): { client: OAuthClient; scopes: OAuthScope[] } | string {
    const client = this.clients.get(p.get('client_id') ?? '');
    if (!client) return 'Unknown OAuth client: check the client_id.';
    const redirect = p.get('redirect_uri');
    if (redirect !== null && redirect !== client.redirectUri) return 'The redirect_uri does not match the one registered for this OAuth client.';
    if (p.get('response_type') !== 'code') return 'Unsupported response_type: use response_type=code.';
    const scopes = parseScopes(p.get('scope') ?? undefined);
    if (!scopes) return `Invalid scope: use one or more of ${OAUTH_SCOPES.join(', ')}.`;
    return { client, scopes };
  }

  private authorizeGet(p: URLSearchParams, send: Send): void {
    const checked = this.checkAuthorize(p);
    if (typeof checked === 'string') return send(400, 'text/html; charset=utf-8', errorPage(checked));
    if (this.session !== null) {
      const account = this.accounts.user(this.session);
      this.decisions.push({ clientId: checked.client.id, email: account.email, decision: 'allow', via: 'session', scopes: checked.scopes });
      return this.redirectWithCode(checked.client, account.id, checked.scopes, p.get('state'), send);
    }
    send(200, 'text/html; charset=utf-8', consentPage(checked.client, checked.scopes, p, null, ''));
  }

  private authorizePost(rawBody: string, send: Send): void {
    const p = new URLSearchParams(rawBody);
    const checked = this.checkAuthorize(p);
    if (typeof checked === 'string') return send(400, 'text/html; charset=utf-8', errorPage(checked));
    const state = p.get('state');
    if (p.get('decision') === 'deny') {
      this.decisions.push({ clientId: checked.client.id, email: null, decision: 'deny', via: 'form', scopes: checked.scopes });
      const to = new URL(checked.client.redirectUri);
      to.searchParams.set('error', 'access_denied');
      to.searchParams.set('error_description', 'The user denied the authorization.');
      if (state !== null) to.searchParams.set('state', state);
      return send(302, 'text/plain; charset=utf-8', '', { Location: to.toString() });
    }
    if (p.get('decision') !== 'allow') {
      return send(400, 'text/html; charset=utf-8', consentPage(checked.client, checked.scopes, p, 'Choose Allow or Deny.', p.get('email') ?? ''));
    }
    const email = (p.get('email') ?? '').trim();
    if (!this.accounts.hasUser(email)) {
      const message = email === '' ? 'Enter the email address of your Heroku account.' : `No Heroku account has the email address ${email}.`;
      return send(401, 'text/html; charset=utf-8', consentPage(checked.client, checked.scopes, p, message, email));
    }
    const account = this.accounts.user(email);
    this.decisions.push({ clientId: checked.client.id, email: account.email, decision: 'allow', via: 'form', scopes: checked.scopes });
    this.redirectWithCode(checked.client, account.id, checked.scopes, state, send);
  }

  private redirectWithCode(client: OAuthClient, accountId: string, scopes: OAuthScope[], state: string | null, send: Send): void {
    const code = randomUUID();
    this.codes.set(code, { clientId: client.id, accountId, scopes, expiresAt: this.clock() + this.codeTtlSeconds * 1000, used: false });
    this.issuedSecrets.push(code);
    this.accounts.signedIn(accountId);
    const to = new URL(client.redirectUri);
    to.searchParams.set('code', code);
    if (state !== null) to.searchParams.set('state', state);
    send(302, 'text/plain; charset=utf-8', '', { Location: to.toString() });
  }

  // ---- token exchange ----------------------------------------------------------------------------

  private jsonAnswer(send: Send, endpoint: IdentityTokenRequest['endpoint'], grantType: string, out: Failure | { status: number; body: unknown }): void {
    this.tokenRequests.push({ endpoint, grantType, status: out.status });
    const body = 'body' in out ? out.body : { id: out.id, message: out.message };
    send(out.status, 'application/json; charset=utf-8', JSON.stringify(body));
  }

  private tokenFlat(params: Record<string, string>, send: Send): void {
    const grantType = params['grant_type'] ?? '';
    const out = this.exchange(grantType, params['code'], params['refresh_token'], params['client_secret']);
    if ('status' in out) return this.jsonAnswer(send, '/oauth/token', grantType, out);
    this.jsonAnswer(send, '/oauth/token', grantType, { status: 200, body: this.flat(out) });
  }

  private tokensNested(rawBody: string, send: Send): void {
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(rawBody);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      return this.jsonAnswer(send, '/oauth/tokens', '', { status: 400, id: 'bad_request', message: 'Request body is not valid JSON.' });
    }
    const field = (o: unknown, k: string): string | undefined => {
      const v = o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined;
      return typeof v === 'string' ? v : undefined;
    };
    const grantType = field(body['grant'], 'type') ?? '';
    const out = this.exchange(grantType, field(body['grant'], 'code'), field(body['refresh_token'], 'token'), field(body['client'], 'secret'));
    if ('status' in out) return this.jsonAnswer(send, '/oauth/tokens', grantType, out);
    const json = this.nested(out);
    for (const e of validate('oauth-token', json)) this.violations.push(`POST /oauth/tokens (#/definitions/oauth-token): ${e}`);
    this.jsonAnswer(send, '/oauth/tokens', grantType, { status: 201, body: json });
  }

  /** The exchange both token endpoints make; a failure is answered as `{id, message}`. */
  private exchange(grantType: string, code: string | undefined, refreshToken: string | undefined, secret: string | undefined): Issued | Failure {
    const badSecret: Failure = { status: 401, id: 'unauthorized', message: 'Invalid OAuth client secret.' };
    if (grantType === 'authorization_code') {
      const grant = this.codes.get(code ?? '');
      if (!grant) {
        if (!this.clientsBySecret.has(secret ?? '')) return badSecret;
        return { status: 400, id: 'invalid_grant', message: 'The authorization code is invalid.' };
      }
      const client = this.clients.get(grant.clientId)!;
      if (secret !== client.secret) return badSecret;
      if (grant.used) return { status: 400, id: 'invalid_grant', message: 'The authorization code has already been used.' };
      if (grant.expiresAt <= this.clock()) return { status: 400, id: 'invalid_grant', message: 'The authorization code has expired.' };
      grant.used = true;
      return this.issue(client, grant.accountId, grant.scopes, { code: code!, type: grantType });
    }
    if (grantType === 'refresh_token') {
      const refresh = this.refreshTokens.get(refreshToken ?? '');
      if (!refresh) {
        if (!this.clientsBySecret.has(secret ?? '')) return badSecret;
        return { status: 400, id: 'invalid_grant', message: 'The refresh token is invalid.' };
      }
      const client = this.clients.get(refresh.clientId)!;
      if (secret !== client.secret) return badSecret;
      if (refresh.revoked) return { status: 400, id: 'invalid_grant', message: 'The refresh token has been revoked.' };
      return this.issue(client, refresh.accountId, refresh.scopes, { code: '', type: grantType }, refresh);
    }
    return { status: 400, id: 'unsupported_grant_type', message: 'grant_type must be authorization_code or refresh_token.' };
  }

  private issue(client: OAuthClient, accountId: string, scopes: OAuthScope[], grant: { code: string; type: string }, refresh?: RefreshRec): Issued {
    if (!refresh) {
      refresh = {
        id: randomUUID(),
        token: `HRKU-${randomUUID()}`,
        clientId: client.id,
        accountId,
        scopes,
        authorizationId: randomUUID(),
        sessionNonce: randomBytes(4).toString('hex'),
        revoked: false,
      };
      this.refreshTokens.set(refresh.token, refresh);
      this.issuedSecrets.push(refresh.token);
    }
    const access: AccessRec = {
      id: randomUUID(),
      token: `HRKU-${randomUUID()}`,
      accountId,
      scopes,
      expiresAt: this.clock() + this.accessTokenTtlSeconds * 1000,
      revoked: false,
    };
    this.accessTokens.set(access.token, access);
    this.issuedSecrets.push(access.token);
    return { access, refresh, client, grant };
  }

  private flat(i: Issued): TokenExchangeAnswer {
    return {
      access_token: i.access.token,
      expires_in: this.accessTokenTtlSeconds,
      refresh_token: i.refresh.token,
      token_type: 'Bearer',
      user_id: i.access.accountId,
      session_nonce: i.refresh.sessionNonce,
    };
  }

  private nested(i: Issued): OAuthTokenAnswer {
    const ts = iso(this.clock());
    return {
      access_token: { expires_in: this.accessTokenTtlSeconds, id: i.access.id, token: i.access.token },
      authorization: { id: i.refresh.authorizationId },
      client: { secret: i.client.secret },
      created_at: ts,
      grant: i.grant,
      id: i.access.id,
      refresh_token: { expires_in: null, id: i.refresh.id, token: i.refresh.token },
      session: { id: i.refresh.id },
      updated_at: ts,
      user: { id: i.access.accountId },
    };
  }

  private anyClient(): OAuthClient {
    const first = this.clients.values().next();
    if (!first.done) return first.value;
    return this.registerClient({ redirectUri: 'https://heroku-fake.example.com/oauth/callback', name: 'heroku-fake tokens' });
  }
}

// ---- pages -----------------------------------------------------------------------------------------

function page(title: string, body: string): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    '</head>',
    '<body>',
    '<main>',
    body,
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function errorPage(message: string): string {
  return page('Authorization error · Heroku (fake)', `<h1>Authorization error</h1>\n<p role="alert">${escapeHtml(message)}</p>`);
}

/** The consent form: every authorize parameter goes back as a hidden field. */
function consentPage(client: OAuthClient, scopes: OAuthScope[], p: URLSearchParams, error: string | null, email: string): string {
  const hidden = ['client_id', 'response_type', 'scope', 'state', 'redirect_uri']
    .filter((k) => p.get(k) !== null)
    .map((k) => `<input type="hidden" name="${k}" value="${escapeHtml(p.get(k)!)}">`)
    .join('\n');
  const alert = error === null ? '' : `<p role="alert" id="email-error">${escapeHtml(error)}</p>\n`;
  const described = error === null ? '' : ' aria-describedby="email-error" aria-invalid="true"';
  return page(
    `Authorize ${client.name} · Heroku (fake)`,
    [
      `<h1>Authorize ${escapeHtml(client.name)}</h1>`,
      `<p>${escapeHtml(client.name)} would like to access your Heroku account (scope: ${escapeHtml(scopes.join(', '))}).</p>`,
      alert + '<form method="post" action="/oauth/authorize">',
      hidden,
      '<label for="email">Email address</label>',
      `<input id="email" name="email" type="email" autocomplete="username" required value="${escapeHtml(email)}"${described}>`,
      '<button type="submit" name="decision" value="allow">Allow</button>',
      '<button type="submit" name="decision" value="deny" formnovalidate>Deny</button>',
      '</form>',
    ].join('\n'),
  );
}
