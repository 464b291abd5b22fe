/**
 * The Heroku Platform API through heroku-client: typed errors, request counting and the
 * remaining rate-limit budget read from every response's `RateLimit-Remaining` header.
 */
import Heroku from 'heroku-client';

export interface HerokuRequest {
  method: string;
  path: string;
  status: number;
}

/** A failed Heroku call, with Heroku's own error id (`not_found`, `rate_limit`, …) when it sent one. */
export class HerokuApiError extends Error {
  override readonly name = 'HerokuApiError';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly statusCode: number | null,
    readonly id: string | null,
    detail: string,
  ) {
    super(`Heroku ${method} ${path} failed: ${statusCode ?? 'no response'}${id ? ` ${id}` : ''}: ${detail}`);
  }
}

export interface HerokuApiOptions {
  url: string;
  token: string;
  timeoutMs?: number;
  onRequest?: (request: HerokuRequest) => void;
}

export class HerokuApi {
  private readonly client: Heroku;
  /** The budget Heroku reported on its latest answer; null before the first call. */
  rateLimitRemaining: number | null = null;

  constructor(private readonly options: HerokuApiOptions) {
    this.client = new Heroku({
      token: options.token,
      host: options.url,
      timeout: options.timeoutMs ?? 30_000,
      userAgent: 'heroku-s3-controller',
      // Heroku's versioned media type; never If-None-Match: a 304 makes heroku-client hang.
      headers: { Accept: 'application/vnd.heroku+json; version=3' },
      middleware: (response, next) => {
        const remaining = Number(response.headers['ratelimit-remaining']);
        if (Number.isFinite(remaining)) this.rateLimitRemaining = remaining;
        const request = (response as unknown as { req?: { method?: string; path?: string } }).req;
        options.onRequest?.({
          method: request?.method ?? 'GET',
          path: request?.path ?? '',
          status: response.statusCode ?? 0,
        });
        next();
      },
    });
  }

  /** GET, following `Next-Range` through every page; fails whole if any page fails. */
  get<T>(path: string): Promise<T> {
    return this.call('GET', path, () => this.client.get<T>(path));
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.call('PATCH', path, () => this.client.patch<T>(path, { body }));
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.call('POST', path, () => this.client.post<T>(path, { body }));
  }

  private async call<T>(method: string, path: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      const e = err as { statusCode?: number; body?: unknown; message?: string };
      const body = e.body && typeof e.body === 'object' ? (e.body as { id?: string; message?: string }) : null;
      throw new HerokuApiError(
        method,
        path,
        e.statusCode ?? null,
        body?.id ?? null,
        body?.message ?? e.message ?? String(err),
      );
    }
  }
}

/** Path segment for a name or id taken from input. */
export function seg(value: string): string {
  return encodeURIComponent(value);
}
