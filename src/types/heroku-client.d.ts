// heroku-client ships no types; this covers the part of its API the controller uses.
declare module 'heroku-client' {
  import type { IncomingMessage } from 'node:http';

  interface HerokuClientOptions {
    token?: string;
    host?: string;
    timeout?: number;
    headers?: Record<string, string>;
    /** Sees every response before the client handles it; must call `next()`. */
    middleware?: (response: IncomingMessage, next: () => void) => void;
    partial?: boolean;
    userAgent?: string;
  }

  interface RequestOptions extends HerokuClientOptions {
    method?: string;
    path?: string;
    body?: unknown;
  }

  class Heroku {
    constructor(options?: HerokuClientOptions);
    request<T = unknown>(options: RequestOptions): Promise<T>;
    get<T = unknown>(path: string, options?: RequestOptions): Promise<T>;
    post<T = unknown>(path: string, options?: RequestOptions): Promise<T>;
    put<T = unknown>(path: string, options?: RequestOptions): Promise<T>;
    patch<T = unknown>(path: string, options?: RequestOptions): Promise<T>;
    delete<T = unknown>(path: string, options?: RequestOptions): Promise<T>;
  }

  export = Heroku;
}
