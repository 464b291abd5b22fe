/** Resolving the team an administrator names on `link`. */
import type { Team } from '@heroku-cli/schema';
import { UserError } from '../util/errors.js';
import { HerokuApiError, seg, type HerokuApi } from './heroku-api.js';

export async function resolveTeam(api: HerokuApi, nameOrId: string): Promise<{ id: string; name: string }> {
  try {
    const team = await api.get<Team>(`/teams/${seg(nameOrId)}`);
    return { id: team.id!, name: team.name ?? nameOrId };
  } catch (err) {
    throw explainHerokuError(err, `Heroku team "${nameOrId}"`);
  }
}

/**
 * One sentence for a failed Heroku call, saying what to do; `check` is how to look the subject up
 * when Heroku does not know it (a team's by default).
 */
export function explainHerokuError(err: unknown, subject: string, check = 'check the name with `heroku teams`, and that HEROKU_API_TOKEN belongs to a member of it'): Error {
  if (!(err instanceof HerokuApiError)) return err as Error;
  if (err.statusCode === 404) return new UserError(`${subject} was not found: ${check}`);
  if (err.statusCode === 401) return new UserError('Heroku refused HEROKU_API_TOKEN (401): create a new token with `heroku authorizations:create`');
  if (err.statusCode === 403) return new UserError(`Heroku denied access to ${subject} (403): the token's account needs access to that team`);
  if (err.statusCode === 429) return new UserError('Heroku rate limit reached (429): wait a few minutes and try again');
  if (err.statusCode === null) return new UserError(`cannot reach the Heroku API (${err.message}); check HEROKU_API_URL and the network`);
  return new UserError(`Heroku answered ${err.statusCode} for ${subject}; try again later`);
}
