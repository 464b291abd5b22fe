/**
 * The add-on's side of Heroku's OAuth token endpoint (`POST {HEROKU_OAUTH_URL}/oauth/token`, by
 * default https://id.heroku.com): the provisioning request's grant code is exchanged for an access
 * and a refresh token (`grant_type=authorization_code`), and the access token is renewed with the
 * refresh token (`grant_type=refresh_token`), both authenticated with the add-on's client secret
 * (ADDON_CLIENT_SECRET). Parameters are sent form-encoded, as OAuth 2 token requests are.
 *
 * No error raised here ever carries a token, a code or the client secret: only the HTTP status and
 * Heroku's error id.
 */
import { TerminalError } from '../util/errors.js';
import type { PartnerTokenSet } from '../store/partner-addon-store.js';

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface OAuthClientOptions {
  /** The identity service's base URL, e.g. https://id.heroku.com (no trailing slash needed). */
  url: string;
  clientSecret: string;
  fetch?: FetchLike;
  /** Deadline of one token request. Default 10 s. */
  timeoutMs?: number;
  now?: () => Date;
}

/** A token request that failed in a way that may pass on a later try (network, 5xx, 429). */
export class OAuthTransientError extends Error {
  override readonly name = 'OAuthTransientError';
}

/** Heroku's token endpoint refused the request (bad or expired grant, revoked refresh token, wrong secret). */
export class OAuthRefusedError extends TerminalError {}

/** The token endpoint's answer: `expires_in` in seconds; `refresh_token` may be left out on refresh. */
interface TokenAnswer {
  access_token?: unknown;
  refresh_token?: unknown;
  expires_in?: unknown;
  token_type?: unknown;
}

export class HerokuOAuthClient {
  readonly #url: string;
  readonly #clientSecret: string;
  readonly #fetch: FetchLike;
  readonly #timeoutMs: number;
  readonly #now: () => Date;

  constructor(options: OAuthClientOptions) {
    if (options.clientSecret.trim() === '') throw new RangeError('the OAuth client needs the add-on client secret (ADDON_CLIENT_SECRET)');
    this.#url = options.url.replace(/\/+$/, '');
    this.#clientSecret = options.clientSecret;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#now = options.now ?? (() => new Date());
  }

  /** Exchanges a provisioning request's `oauth_grant.code`; a code can be exchanged only once. */
  exchangeGrant(code: string): Promise<PartnerTokenSet> {
    return this.#request({ grant_type: 'authorization_code', code }, null, 'exchange the OAuth grant');
  }

  /** A fresh access token; Heroku may answer without a new refresh token, then the old one stays. */
  refresh(refreshToken: string): Promise<PartnerTokenSet> {
    return this.#request({ grant_type: 'refresh_token', refresh_token: refreshToken }, refreshToken, 'refresh the partner access token');
  }

  /** Never printed: the secret stays inside. */
  toJSON(): string {
    return 'HerokuOAuthClient';
  }

  async #request(params: Record<string, string>, previousRefresh: string | null, what: string): Promise<PartnerTokenSet> {
    const body = new URLSearchParams({ ...params, client_secret: this.#clientSecret });
    let response: Response;
    try {
      response = await this.#fetch(`${this.#url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: body.toString(),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      const why = err instanceof Error && err.name === 'TimeoutError' ? `no answer within ${this.#timeoutMs} ms` : 'the token endpoint could not be reached';
      throw new OAuthTransientError(`cannot ${what}: ${why}`);
    }
    const answer = (await response.json().catch(() => null)) as (TokenAnswer & { id?: unknown; error?: unknown }) | null;
    if (!response.ok) {
      // Only the status and the error id: a message could echo what was sent.
      const id = typeof answer?.id === 'string' ? answer.id : typeof answer?.error === 'string' ? answer.error : null;
      const detail = `cannot ${what}: Heroku answered ${response.status}${id ? ` ${safeId(id)}` : ''}`;
      if (response.status === 429 || response.status >= 500) throw new OAuthTransientError(detail);
      throw new OAuthRefusedError(`${detail}; the grant or refresh token is not valid (expired, used or revoked) or ADDON_CLIENT_SECRET is wrong`, 'oauth-refused');
    }
    const access = answer?.access_token;
    const refresh = typeof answer?.refresh_token === 'string' && answer.refresh_token !== '' ? answer.refresh_token : previousRefresh;
    const expiresIn = Number(answer?.expires_in);
    if (typeof access !== 'string' || access === '' || refresh === null || !Number.isFinite(expiresIn) || expiresIn <= 0) {
      throw new OAuthTransientError(`cannot ${what}: the token endpoint answered without access_token, refresh_token or expires_in`);
    }
    return { accessToken: access, refreshToken: refresh, accessTokenExpiresAt: new Date(this.#now().getTime() + expiresIn * 1000) };
  }
}

/** Error ids are short words; anything else is not repeated. */
function safeId(id: string): string {
  return /^[a-z0-9_.-]{1,64}$/i.test(id) ? id : '(error)';
}
