/**
 * The few Platform API calls an add-on partner makes with its per-add-on OAuth token (never with
 * HEROKU_API_TOKEN): `POST /addons/{id}/actions/provision` and `…/actions/deprovision`, and
 * `PATCH /addons/{id}/config`. A plain `fetch` client rather than {@link HerokuApi}: the token
 * changes per add-on and per refresh, and it is sent as `Authorization: Bearer`.
 *
 * Errors carry the method, path, status and Heroku's error id; never the token or a config value.
 */
import { seg } from '../heroku/heroku-api.js';
import type { FetchLike } from './oauth-client.js';

/** Heroku's versioned media type for the Platform API. */
export const PLATFORM_ACCEPT = 'application/vnd.heroku+json; version=3';

/** One config var of an add-on (`#/definitions/add-on-config`); `null` removes it. */
export interface AddonConfigVar {
  name: string;
  value: string | null;
}

export class PartnerPlatformError extends Error {
  override readonly name = 'PartnerPlatformError';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly statusCode: number | null,
    readonly id: string | null,
    detail: string,
  ) {
    super(`Heroku ${method} ${path} with the partner token failed: ${statusCode ?? 'no response'}${id ? ` ${id}` : ''}: ${detail}`);
  }

  /** Worth another try later: no answer, throttled, or a server error. */
  get transient(): boolean {
    return this.statusCode === null || this.statusCode === 429 || this.statusCode >= 500;
  }
}

export interface PartnerPlatformOptions {
  /** HEROKU_API_URL, e.g. https://api.heroku.com. */
  url: string;
  fetch?: FetchLike;
  timeoutMs?: number;
}

export class PartnerPlatformClient {
  readonly #url: string;
  readonly #fetch: FetchLike;
  readonly #timeoutMs: number;

  constructor(options: PartnerPlatformOptions) {
    this.#url = options.url.replace(/\/+$/, '');
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** Tells Heroku the add-on is ready (`provision`) or could not be made (`deprovision`). */
  async action(token: string, addonId: string, action: 'provision' | 'deprovision'): Promise<unknown> {
    return this.#call(token, 'POST', `/addons/${seg(addonId)}/actions/${action}`, undefined);
  }

  /** Sets (or with `null` removes) add-on config vars; Heroku puts them on every attached app. */
  async patchConfig(token: string, addonId: string, config: readonly AddonConfigVar[]): Promise<unknown> {
    return this.#call(token, 'PATCH', `/addons/${seg(addonId)}/config`, { config: config.map(({ name, value }) => ({ name, value })) });
  }

  async #call(token: string, method: string, path: string, body: unknown): Promise<unknown> {
    let response: Response;
    try {
      response = await this.#fetch(`${this.#url}${path}`, {
        method,
        headers: {
          accept: PLATFORM_ACCEPT,
          authorization: `Bearer ${token}`,
          'user-agent': 'heroku-s3-controller',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      const why = err instanceof Error && err.name === 'TimeoutError' ? `no answer within ${this.#timeoutMs} ms` : 'Heroku could not be reached';
      throw new PartnerPlatformError(method, path, null, null, why);
    }
    const answer = (await response.json().catch(() => null)) as { id?: unknown; message?: unknown } | null;
    if (!response.ok) {
      const id = typeof answer?.id === 'string' && /^[a-z0-9_]{1,64}$/.test(answer.id) ? answer.id : null;
      throw new PartnerPlatformError(method, path, response.status, id, response.statusText || 'refused');
    }
    return answer;
  }
}
