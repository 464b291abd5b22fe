/**
 * Who is asking, on the private listener. An operator sends `Authorization: Bearer <API token>`
 * (made by `heroku-s3-controller token create`); a team admin signed in through Heroku carries a
 * session cookie. Every route says what it needs; anything but `anonymous` answers 401 to a request
 * that proves no identity, and 403 to a read-only identity asking to change something.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiTokenRecord } from '../store/api-token-store.js';
import type { TeamRef } from '../store/session-store.js';

export type Scope = 'read' | 'write';

/** An operator holding an API token: every team, read or also write as the token's scope says. */
export interface OperatorPrincipal {
  kind: 'operator';
  tokenId: string;
  name: string;
  scope: Scope;
}

/**
 * A team admin signed in to the console through Heroku: they see and may link only the teams
 * Heroku said they administer when they signed in (asked again before each link or unlink).
 */
export interface TeamAdminPrincipal {
  kind: 'team-admin';
  email: string;
  teams: TeamRef[];
  /** Their Heroku token, to ask Heroku again; never shown or logged. */
  herokuToken: string;
}

export type Principal = OperatorPrincipal | TeamAdminPrincipal;

/** How a credential becomes a principal; the store's token table implements it. */
export interface Authenticator {
  /** The principal of an API token, or null when it is unknown, revoked, expired or malformed. */
  fromBearerToken(token: string): Promise<Principal | null>;
}

/** Operator API tokens as the store keeps them (`hs3c_…`, only their hash stored). */
export function apiTokenAuthenticator(tokens: { verify(token: string, now: Date): Promise<ApiTokenRecord | null> }, now: () => Date = () => new Date()): Authenticator {
  return {
    async fromBearerToken(token) {
      const record = await tokens.verify(token, now());
      return record && { kind: 'operator', tokenId: record.id, name: record.name, scope: record.scope };
    },
  };
}

/**
 * What a route needs: nothing, any identity, or one that may change things (by API token); or
 * `console`: a console page, which checks its session cookie itself (see console/console.ts).
 */
export type Access = 'anonymous' | Scope | 'console';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Defaults to `read` for GET and HEAD and `write` for everything else. */
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** How the journal names who made a change: `token:<name>` for an operator, `heroku:<email>` for a team admin. */
export function actorOf(principal: Principal): string {
  return principal.kind === 'operator' ? `token:${principal.name}` : `heroku:${principal.email}`;
}

const CHALLENGE = 'Bearer realm="heroku-s3-controller"';
const SIGN_IN_HINT =
  '<!doctype html><html lang="en"><meta charset="utf-8"><title>Sign in · heroku-s3-controller</title>' +
  '<p>This page does not exist, or needs you to sign in. <a href="/login">Sign in</a>, or go to <a href="/teams">Teams</a>.</p></html>';

/** Failed authentications one client may make per minute before it is answered 429. */
export interface FailureLimit {
  perMinute: number;
  now?: () => number;
}

/**
 * Installs the check on every route of `app`. Repeated failures from one client (guessing tokens)
 * are answered 429 until its minute is over, before any token is looked up.
 */
export function requireAuthentication(app: FastifyInstance, authenticator: Authenticator, failures: FailureCounter): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const access = request.routeOptions.config.access ?? (request.method === 'GET' || request.method === 'HEAD' ? 'read' : 'write');
    if (access === 'anonymous' || access === 'console') return;
    if (failures.exhausted(request.ip)) {
      return reply.code(429).header('cache-control', 'no-store').send({ error: 'too many failed sign-ins from this address: wait a minute and try again' });
    }
    const token = bearerToken(request.headers.authorization);
    const principal = token === null ? null : await authenticator.fromBearerToken(token);
    if (principal === null) {
      if (token !== null) failures.record(request.ip);
      reply.code(401).header('www-authenticate', CHALLENGE).header('cache-control', 'no-store');
      // A browser that lands on an unknown page (or one it may not open) is sent to sign in.
      if (!request.url.startsWith('/api/') && token === null && /text\/html/.test(request.headers.accept ?? '')) {
        return reply.type('text/html; charset=utf-8').send(SIGN_IN_HINT);
      }
      return reply.send({
        error: token === null
          ? 'authentication required: send "Authorization: Bearer <token>" with an operator API token (`heroku-s3-controller token create --name NAME --scope read|write`)'
          : 'this API token is unknown, revoked or expired: create a new one with `heroku-s3-controller token create`',
      });
    }
    if (access === 'write' && principal.kind === 'operator' && principal.scope !== 'write') {
      return reply.code(403).header('cache-control', 'no-store').send({ error: `the token "${principal.name}" is read-only: this needs a token with --scope write` });
    }
    request.principal = principal;
  });
}

/** The token of an `Authorization: Bearer …` header, or null when there is none or it is another scheme. */
function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer +(\S+)\s*$/i.exec(header ?? '');
  return match?.[1] ?? null;
}

/** How many clients' failures are remembered at once: about 100 bytes each. */
const MAX_CLIENTS = 100_000;

/**
 * Failed attempts per client address within a fixed one-minute window, shared by the API's token
 * check and the console's sign-in.
 */
export class FailureCounter {
  readonly #perMinute: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, { count: number; endsAt: number }>();
  /** Expired windows are swept at most every 10 s, so a flood of new addresses costs no full scan each. */
  #prunedAt = -Infinity;

  constructor(limit: FailureLimit) {
    this.#perMinute = limit.perMinute;
    this.#now = limit.now ?? Date.now;
  }

  exhausted(client: string): boolean {
    const window = this.#windows.get(client);
    if (!window) return false;
    if (window.endsAt <= this.#now()) {
      this.#windows.delete(client);
      return false;
    }
    return window.count >= this.#perMinute;
  }

  record(client: string): void {
    const now = this.#now();
    const window = this.#windows.get(client);
    if (!window || window.endsAt <= now) {
      // Expired windows of other clients go too, so the map stays as small as the current minute;
      // and however many addresses fail within one minute, it holds the latest MAX_CLIENTS only.
      if (now - this.#prunedAt >= 10_000) {
        this.#prunedAt = now;
        for (const [key, w] of this.#windows) if (w.endsAt <= now) this.#windows.delete(key);
      }
      this.#windows.delete(client);
      while (this.#windows.size >= MAX_CLIENTS) this.#windows.delete(this.#windows.keys().next().value!);
      this.#windows.set(client, { count: 1, endsAt: now + 60_000 });
    } else window.count += 1;
  }

  /** Clients with failures counted in their current minute (for tests of the bound). */
  get size(): number {
    return this.#windows.size;
  }
}
