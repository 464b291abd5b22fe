/**
 * Reads the config vars of apps, for the deep checks of credential delivery. One call per app, so
 * only the apps of add-ons whose deep check is due are read (spread over DEEP_CHECK_WINDOW). An app
 * that cannot be read is left out: its vars are not judged this pass, rather than judged wrong.
 */
import { mapLimit } from '../../util/map-limit.js';
import { seg, type HerokuApi } from '../../heroku/heroku-api.js';

export async function readAppConfigVars(
  api: HerokuApi,
  appIds: readonly string[],
  onError: (appId: string, err: unknown) => void,
  concurrency = 4,
): Promise<Map<string, Record<string, string>>> {
  const out = new Map<string, Record<string, string>>();
  await mapLimit([...new Set(appIds)], concurrency, async (appId) => {
    try {
      out.set(appId, await api.get<Record<string, string>>(`/apps/${seg(appId)}/config-vars`));
    } catch (err) {
      onError(appId, err);
    }
  });
  return out;
}
