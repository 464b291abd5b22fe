/**
 * Team admins sign in to the console with Heroku OAuth (the web flow of id.heroku.com): the
 * browser is sent to Heroku's authorize page, comes back with a code, and the code is exchanged
 * for a token of that user, with which Heroku says who they are and which teams they administer.
 * Only teams where their role is `admin` (or `owner`) are theirs to see and link.
 */
import { HerokuApi, HerokuApiError } from '../../heroku/heroku-api.js';
import type { TeamRef } from '../../store/session-store.js';
import { UserError } from '../../util/errors.js';

export interface HerokuSignInSettings {
  clientId: string;
  clientSecret: string;
  /** id.heroku.com */
  identityUrl: string;
  /** api.heroku.com */
  apiUrl: string;
  /** CONSOLE_URL/auth/heroku/callback, as registered with the OAuth client. */
  redirectUri: string;
  fetch?: typeof fetch;
}

/** `identity` to read who they are, `read` to read their teams and roles; nothing that writes. */
export const SIGN_IN_SCOPE = 'identity read';

const ADMIN_ROLES = new Set(['admin', 'owner']);

export interface SignedIn {
  email: string;
  userId: string;
  adminTeams: TeamRef[];
  token: string;
  /** When Heroku's token expires; the session ends no later. */
  expiresAt: Date;
}

export function authorizeUrl(s: HerokuSignInSettings, state: string): string {
  const query = new URLSearchParams({ client_id: s.clientId, response_type: 'code', scope: SIGN_IN_SCOPE, state, redirect_uri: s.redirectUri });
  return `${s.identityUrl}/oauth/authorize?${query}`;
}

/** Exchanges the code and asks Heroku who signed in and what they administer. */
export async function completeSignIn(s: HerokuSignInSettings, code: string, now: Date): Promise<SignedIn> {
  const res = await (s.fetch ?? fetch)(`${s.identityUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, client_secret: s.clientSecret }),
    signal: AbortSignal.timeout(15_000),
  });
  const body = (await res.json().catch(() => null)) as { access_token?: string; expires_in?: number; message?: string } | null;
  if (!res.ok || typeof body?.access_token !== 'string') {
    throw new UserError(`Heroku did not accept the sign-in (${res.status}${body?.message ? `: ${body.message}` : ''}); sign in again`);
  }
  const token = body.access_token;
  const api = new HerokuApi({ url: s.apiUrl, token, timeoutMs: 15_000 });
  const account = await api.get<{ id: string; email: string }>('/account').catch(explain);
  return {
    email: account.email,
    userId: account.id,
    adminTeams: await adminTeamsOf(s, token),
    token,
    expiresAt: new Date(now.getTime() + Math.max(60, body.expires_in ?? 3600) * 1000),
  };
}

/** The teams Heroku says the token's user administers now. */
export async function adminTeamsOf(s: Pick<HerokuSignInSettings, 'apiUrl'>, token: string): Promise<TeamRef[]> {
  const api = new HerokuApi({ url: s.apiUrl, token, timeoutMs: 15_000 });
  const teams = await api.get<{ id: string; name: string; role: string | null }[]>('/teams').catch(explain);
  return teams.filter((t) => t.role !== null && ADMIN_ROLES.has(t.role)).map((t) => ({ id: t.id, name: t.name }));
}

/** Asks Heroku again, with the user's own token, whether they administer `team` now. */
export async function administers(s: Pick<HerokuSignInSettings, 'apiUrl'>, token: string, team: string): Promise<TeamRef | null> {
  const api = new HerokuApi({ url: s.apiUrl, token, timeoutMs: 15_000 });
  try {
    const found = await api.get<{ id: string; name: string; role: string | null }>(`/teams/${encodeURIComponent(team)}`);
    return found.role !== null && ADMIN_ROLES.has(found.role) ? { id: found.id, name: found.name } : null;
  } catch (err) {
    if (err instanceof HerokuApiError && (err.statusCode === 403 || err.statusCode === 404)) return null;
    throw explain(err);
  }
}

/** The user's Heroku token no longer works: they must sign in again. */
export class SignInExpiredError extends UserError {}

function explain(err: unknown): never {
  if (err instanceof HerokuApiError && err.statusCode === 401) throw new SignInExpiredError('your Heroku sign-in has expired: sign in again');
  throw new UserError(`Heroku could not be asked who you are (${err instanceof Error ? err.message : String(err)}); try again`);
}
