/**
 * Desired state from Heroku: for every linked team, the add-ons of the configured services and
 * where they are attached. Spends one paginated listing of add-ons and one of apps per team, plus
 * one listing of attachments for the whole pass, never a call per app (DESIGN.md "Efficiency").
 * A team whose read failed in any page is marked incomplete: nothing is ever deleted on its behalf.
 */
import type { AddOn, AddOnAttachment, App, TeamApp } from '@heroku-cli/schema';
import type { AddonRead, AddonWhereabouts, DesiredAddon, DesiredStateSource, TeamDesiredState } from '../../reconciler/ports.js';
import type { Link } from '../../store/types.js';
import { errorMessage } from '../../util/errors.js';
import { mapLimit } from '../../util/map-limit.js';
import { HerokuApiError, seg, type HerokuApi } from '../../heroku/heroku-api.js';
import { awsRegionFor } from './regions.js';

export interface DesiredStateOptions {
  addonServices: string[];
  /** Bucket region when neither the link nor the app's region decides it. */
  defaultRegion: string;
  /** Teams read at once. */
  concurrency?: number;
}

export async function readDesiredState(api: HerokuApi, links: Link[], options: DesiredStateOptions): Promise<TeamDesiredState[]> {
  if (links.length === 0) return [];
  const attachments = settle(api.list('/addon-attachments', slimAttachment));
  const services = new Set(options.addonServices);
  return mapLimit(links, options.concurrency ?? 4, async (link) => {
    const team: TeamDesiredState = { teamId: link.teamId, teamName: link.teamName, complete: true, error: null, addons: [], deprovisioned: [] };
    try {
      const [addons, apps, allAttachments] = await Promise.all([
        // Only the configured services' add-ons are kept from the listing, page by page.
        api.list(`/teams/${seg(link.teamId)}/addons`, (item: AddOn) => {
          const addon = slimAddon(item);
          return services.has(addon.service) ? addon : undefined;
        }),
        api.list(`/teams/${seg(link.teamId)}/apps`, slimApp),
        attachments.then(unwrap),
      ]);
      const regionByApp = new Map(apps.map((app) => [app.id, app.region]));
      const ours = addons.filter((addon) => addon.state !== 'deprovisioned');
      const ourIds = new Set(ours.map((addon) => addon.id));
      const byAddon = new Map<string, SlimAttachment[]>();
      for (const attachment of allAttachments) {
        if (!ourIds.has(attachment.addonId)) continue;
        const list = byAddon.get(attachment.addonId);
        if (list) list.push(attachment);
        else byAddon.set(attachment.addonId, [attachment]);
      }
      team.deprovisioned = addons.filter((addon) => addon.state === 'deprovisioned').map((addon) => addon.id);
      team.addons = ours.map((addon) => toDesired(addon, byAddon.get(addon.id) ?? [], regionByApp, link, options));
    } catch (err) {
      team.complete = false;
      team.error = errorMessage(err);
    }
    return team;
  });
}

/** What the controller keeps of a Heroku add-on. */
interface SlimAddon {
  id: string;
  name: string;
  state: string;
  service: string;
  plan: string;
  appId: string;
  appName: string;
  configVars: string[];
}

/** What the controller keeps of an attachment. */
interface SlimAttachment {
  id: string;
  name: string;
  addonId: string;
  appId: string;
  appName: string;
}

/**
 * Fail closed on a malformed item: an add-on or attachment the controller cannot read must make
 * the team's read incomplete, never look like an add-on that was removed (safety invariant 2).
 */
function slimAddon(item: AddOn): SlimAddon {
  const addon = item as unknown as Record<string, any>;
  if (typeof addon?.id !== 'string' || typeof addon.state !== 'string' || typeof addon.addon_service?.name !== 'string' || typeof addon.app?.id !== 'string') {
    throw new Error('Heroku answered with an add-on lacking its id, state, service or app');
  }
  return {
    id: addon.id,
    name: typeof addon.name === 'string' ? addon.name : addon.id,
    state: addon.state,
    service: addon.addon_service.name,
    plan: typeof addon.plan?.name === 'string' ? addon.plan.name : '',
    appId: addon.app.id,
    appName: typeof addon.app.name === 'string' ? addon.app.name : addon.app.id,
    configVars: Array.isArray(addon.config_vars) ? addon.config_vars.filter((name: unknown): name is string => typeof name === 'string') : [],
  };
}

function slimApp(item: TeamApp | App): { id: string; region: string | undefined } {
  const app = item as unknown as Record<string, any>;
  if (typeof app?.id !== 'string') throw new Error('Heroku answered the team app listing with an app lacking its id');
  return { id: app.id, region: typeof app.region?.name === 'string' ? app.region.name : undefined };
}

function slimAttachment(item: AddOnAttachment): SlimAttachment {
  const attachment = item as unknown as Record<string, any>;
  if (typeof attachment?.id !== 'string' || typeof attachment.name !== 'string' || typeof attachment.addon?.id !== 'string' || typeof attachment.app?.id !== 'string') {
    throw new Error('Heroku answered the attachment listing with an attachment lacking its id, name, add-on or app');
  }
  const appName: unknown = attachment.app.name;
  return { id: attachment.id, name: attachment.name, addonId: attachment.addon.id, appId: attachment.app.id, appName: typeof appName === 'string' ? appName : attachment.app.id };
}

function toDesired(
  addon: SlimAddon,
  attachments: SlimAttachment[],
  regionByApp: Map<string, string | undefined>,
  link: Link,
  options: DesiredStateOptions,
): DesiredAddon {
  return {
    addonId: addon.id,
    addonName: addon.name,
    service: addon.service,
    plan: addon.plan,
    appId: addon.appId,
    appName: addon.appName,
    teamId: link.teamId,
    region: awsRegionFor(regionByApp.get(addon.appId), link.region, options.defaultRegion),
    attachments: attachments
      .map((a) => ({ id: a.id, name: a.name, appId: a.appId, appName: a.appName }))
      .sort((a, b) => a.id.localeCompare(b.id)),
    ownedConfigVars: addon.configVars,
  };
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Starts a shared read once; each team awaits it and fails on its own if it failed. */
function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

function unwrap<T>(settled: Settled<T>): T {
  if (settled.ok) return settled.value;
  throw settled.error;
}

/**
 * Reads one add-on: `GET /addons/{id}`, then its app (for the team and region) and its
 * attachments side by side: three requests, whatever the size of the team. An add-on of a service
 * not in `addonServices`, or whose app is not in a linked team, is reported as not ours after the
 * fewest reads that show it.
 */
export async function readDesiredAddon(api: HerokuApi, addonId: string, links: Link[], options: DesiredStateOptions): Promise<AddonRead> {
  let raw: AddOn;
  try {
    raw = await api.get<AddOn>(`/addons/${seg(addonId)}`);
  } catch (err) {
    if (err instanceof HerokuApiError && err.statusCode === 404 && err.id === 'not_found') return { status: 'gone' };
    return { status: 'unknown', error: errorMessage(err) };
  }
  try {
    const addon = slimAddon(raw);
    if (addon.id.toLowerCase() !== addonId.toLowerCase()) throw new Error(`Heroku answered the read of add-on ${addonId} with add-on ${addon.id}`);
    if (!options.addonServices.includes(addon.service)) {
      const notOurs = `add-on service ${addon.service} is not in ADDON_SERVICES`;
      return { status: 'found', addon: null, deprovisioned: false, link: null, notOurs, whereabouts: { status: 'unknown', error: notOurs } };
    }
    const [rawApp, attachments] = await Promise.all([
      api.get<App>(`/apps/${seg(addon.appId)}`),
      api.list(`/addons/${seg(addon.id)}/addon-attachments`, slimAttachment),
    ]);
    const app = slimApp(rawApp);
    const teamId = rawApp.team?.id ?? null;
    const link = links.find((l) => l.teamId === teamId) ?? null;
    const whereabouts: AddonWhereabouts =
      addon.state === 'deprovisioned' ? { status: 'deprovisioned', plan: addon.plan } : { status: 'alive', teamId, appId: addon.appId, plan: addon.plan, addonName: addon.name };
    if (!link) return { status: 'found', addon: null, deprovisioned: false, link: null, notOurs: `app ${rawApp.name ?? app.id} is not in a linked team`, whereabouts };
    if (addon.state === 'deprovisioned') return { status: 'found', addon: null, deprovisioned: true, link, notOurs: null, whereabouts };
    const own = attachments.filter((a) => a.addonId === addon.id);
    return { status: 'found', addon: toDesired(addon, own, new Map([[app.id, app.region]]), link, options), deprovisioned: false, link, notOurs: null, whereabouts };
  } catch (err) {
    return { status: 'unknown', error: errorMessage(err) };
  }
}

/**
 * Where one add-on is, asked by id (`GET /addons/{id}`, then its app for the team: at most two
 * requests): what garbage collection needs before it marks an orphan or starts a teardown. Only
 * Heroku's own 404 `not_found` for the add-on says `gone`; any failure is `unknown`.
 */
export async function readAddonWhereabouts(api: HerokuApi, addonId: string): Promise<AddonWhereabouts> {
  let addon: SlimAddon;
  try {
    addon = slimAddon(await api.get<AddOn>(`/addons/${seg(addonId)}`));
  } catch (err) {
    if (err instanceof HerokuApiError && err.statusCode === 404 && err.id === 'not_found') return { status: 'gone' };
    return { status: 'unknown', error: errorMessage(err) };
  }
  if (addon.state === 'deprovisioned') return { status: 'deprovisioned', plan: addon.plan };
  try {
    const app = await api.get<App>(`/apps/${seg(addon.appId)}`);
    return { status: 'alive', teamId: app.team?.id ?? null, appId: addon.appId, plan: addon.plan, addonName: addon.name };
  } catch (err) {
    return { status: 'unknown', error: errorMessage(err) };
  }
}

/** The Heroku Platform API as the reconciler's source of desired state. */
export function herokuDesiredState(api: HerokuApi, options: DesiredStateOptions): DesiredStateSource {
  return {
    teams: (links) => readDesiredState(api, links, options),
    addon: (addonId, links) => readDesiredAddon(api, addonId, links, options),
    whereabouts: (addonId) => readAddonWhereabouts(api, addonId),
  };
}
