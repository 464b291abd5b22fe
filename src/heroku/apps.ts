/** Resolving an app an operator names (`rotate --app`): Heroku knows apps by name and by id. */
import type { App } from '@heroku-cli/schema';
import { UserError } from '../util/errors.js';
import { HerokuApiError, seg, type HerokuApi } from './heroku-api.js';
import { explainHerokuError } from './teams.js';

/** Heroku does not know the app (404), as against any other failure to ask. */
export class AppNotFoundError extends UserError {}

export async function resolveApp(api: HerokuApi, nameOrId: string): Promise<{ id: string; name: string }> {
  try {
    const app = await api.get<App>(`/apps/${seg(nameOrId)}`);
    return { id: app.id!, name: app.name ?? nameOrId };
  } catch (err) {
    const explained = explainHerokuError(err, `Heroku app "${nameOrId}"`, 'check the name with `heroku apps`, and that HEROKU_API_TOKEN may see it');
    throw err instanceof HerokuApiError && err.statusCode === 404 ? new AppNotFoundError(explained.message) : explained;
  }
}
