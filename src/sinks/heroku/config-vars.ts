/** Credential delivery: config vars set on one app through the Platform API. */
import type { AppConfigVars } from '../../reconciler/ports.js';
import { readAppConfigVars } from '../../sources/heroku/app-config-vars.js';
import { HerokuApiError, seg, type HerokuApi } from '../../heroku/heroku-api.js';

/**
 * Sets (or, with `null`, removes) config vars on one app. Idempotent: Heroku answers with the
 * whole map and a PATCH of equal values changes nothing.
 */
export async function patchConfigVars(api: HerokuApi, appId: string, vars: Record<string, string | null>): Promise<void> {
  await api.patch<Record<string, string>>(`/apps/${seg(appId)}/config-vars`, vars);
}

/** The app's config vars as they are now; null when the app no longer exists. */
export async function readConfigVars(api: HerokuApi, appId: string): Promise<Record<string, string> | null> {
  try {
    return await api.get<Record<string, string>>(`/apps/${seg(appId)}/config-vars`);
  } catch (err) {
    if (err instanceof HerokuApiError && err.statusCode === 404) return null;
    throw err;
  }
}

/**
 * Removes exactly the named config vars from an app. An app that no longer exists has none to
 * remove: that is success.
 */
export async function removeConfigVars(api: HerokuApi, appId: string, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  try {
    await patchConfigVars(api, appId, Object.fromEntries(names.map((name) => [name, null])));
  } catch (err) {
    if (err instanceof HerokuApiError && err.statusCode === 404) return;
    throw err;
  }
}

/** The apps' config vars through the Platform API, as the reconciler's port. */
export function herokuConfigVars(api: HerokuApi): AppConfigVars {
  return {
    read: (appId) => readConfigVars(api, appId),
    readMany: (appIds, onError) => readAppConfigVars(api, appIds, onError),
    set: (appId, vars) => patchConfigVars(api, appId, vars),
    remove: (appId, names) => removeConfigVars(api, appId, names),
  };
}
