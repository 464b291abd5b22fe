/** Credential delivery: config vars set on one app through the Platform API. */
import { seg, type HerokuApi } from '../../sources/heroku/heroku-api.js';

/**
 * Sets (or, with `null`, removes) config vars on one app. Idempotent: Heroku answers with the
 * whole map and a PATCH of equal values changes nothing.
 */
export async function patchConfigVars(api: HerokuApi, appId: string, vars: Record<string, string | null>): Promise<void> {
  await api.patch<Record<string, string>>(`/apps/${seg(appId)}/config-vars`, vars);
}
