/**
 * Desired state from Heroku: for every linked team, the add-ons of the configured services and
 * where they are attached. Spends one paginated listing of add-ons and one of apps per team, plus
 * one listing of attachments for the whole pass, never a call per app (DESIGN.md "Efficiency").
 * A team whose read failed in any page is marked incomplete: nothing is ever deleted on its behalf.
 */
import type { AddOn, AddOnAttachment, App, TeamApp } from '@heroku-cli/schema';
import type { DesiredAddon, TeamDesiredState } from '../../reconciler/model.js';
import type { Link } from '../../store/types.js';
import { errorMessage } from '../../util/errors.js';
import { mapLimit } from '../../util/map-limit.js';
import { HerokuApiError, seg, type HerokuApi } from './heroku-api.js';
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
  const attachments = settle(api.get<AddOnAttachment[]>('/addon-attachments'));
  const services = new Set(options.addonServices);
  return mapLimit(links, options.concurrency ?? 4, async (link) => {
    const team: TeamDesiredState = { teamId: link.teamId, teamName: link.teamName, complete: true, error: null, addons: [], deprovisioned: [] };
    try {
      const [addons, apps, allAttachments] = await Promise.all([
        api.get<AddOn[]>(`/teams/${seg(link.teamId)}/addons`),
        api.get<TeamApp[]>(`/teams/${seg(link.teamId)}/apps`),
        attachments.then(unwrap),
      ]);
      assertWellFormed(addons, apps, allAttachments);
      const appsById = new Map(apps.map((app) => [app.id, app]));
      const ours = addons.filter(
        (addon) => services.has(addon.addon_service?.name ?? '') && addon.state !== 'deprovisioned' && addon.app?.id,
      );
      const ourIds = new Set(ours.map((addon) => addon.id));
      const byAddon = new Map<string, AddOnAttachment[]>();
      for (const attachment of allAttachments) {
        const addonId = attachment.addon?.id;
        if (addonId && ourIds.has(addonId)) byAddon.set(addonId, [...(byAddon.get(addonId) ?? []), attachment]);
      }
      team.deprovisioned = addons
        .filter((addon) => services.has(addon.addon_service.name ?? '') && addon.state === 'deprovisioned')
        .map((addon) => addon.id);
      team.addons = ours.map((addon) => toDesired(addon, byAddon.get(addon.id) ?? [], appsById, link, options));
    } catch (err) {
      team.complete = false;
      team.error = errorMessage(err);
    }
    return team;
  });
}

function toDesired(
  addon: AddOn,
  attachments: AddOnAttachment[],
  appsById: Map<string | undefined, TeamApp>,
  link: Link,
  options: DesiredStateOptions,
): DesiredAddon {
  const appId = addon.app.id!;
  const app = appsById.get(appId);
  return {
    addonId: addon.id,
    addonName: addon.name,
    service: addon.addon_service.name ?? '',
    plan: addon.plan?.name ?? '',
    appId,
    appName: addon.app.name ?? appId,
    teamId: link.teamId,
    region: awsRegionFor(app?.region?.name, link.region, options.defaultRegion),
    attachments: attachments
      .filter((a) => a.id && a.name && a.app?.id)
      .map((a) => ({ id: a.id!, name: a.name!, appId: a.app!.id!, appName: a.app!.name ?? a.app!.id! }))
      .sort((a, b) => a.id.localeCompare(b.id)),
    ownedConfigVars: Array.isArray(addon.config_vars) ? (addon.config_vars as string[]) : [],
  };
}

/**
 * Fail closed on a malformed answer: an add-on or attachment the controller cannot read must make
 * the team's read incomplete, never look like an add-on that was removed (safety invariant 2).
 */
function assertWellFormed(addons: unknown, apps: unknown, attachments: unknown): void {
  const list = (value: unknown, what: string): Record<string, any>[] => {
    if (!Array.isArray(value)) throw new Error(`Heroku answered ${what} with something that is not a list`);
    return value as Record<string, any>[];
  };
  for (const addon of list(addons, 'the team add-on listing')) {
    if (typeof addon?.id !== 'string' || typeof addon.state !== 'string' || typeof addon.addon_service?.name !== 'string' || typeof addon.app?.id !== 'string') {
      throw new Error('Heroku answered the team add-on listing with an add-on lacking its id, state, service or app');
    }
  }
  for (const app of list(apps, 'the team app listing')) {
    if (typeof app?.id !== 'string') throw new Error('Heroku answered the team app listing with an app lacking its id');
  }
  for (const attachment of list(attachments, 'the attachment listing')) {
    if (typeof attachment?.id !== 'string' || typeof attachment.name !== 'string' || typeof attachment.addon?.id !== 'string' || typeof attachment.app?.id !== 'string') {
      throw new Error('Heroku answered the attachment listing with an attachment lacking its id, name, add-on or app');
    }
  }
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
 * What Heroku says about one add-on, for a single-key reconcile. Only an answer that settles the
 * question decides anything: `gone` is Heroku's own 404 `not_found` for the add-on; every other
 * failure (429, 5xx, a timeout, a malformed answer, a 404 on a later read) is `unknown`, and an
 * unknown read never leads to garbage collection (safety invariant 2).
 */
export type AddonReadResult =
  | {
      status: 'found';
      /** The add-on as the full pass would see it; null when it is not this controller's to act on. */
      addon: DesiredAddon | null;
      /** Heroku lists it as deprovisioned: the short grace applies, as in the full pass. */
      deprovisioned: boolean;
      /** The linked team owning the add-on's app, when there is one. */
      link: Link | null;
      /** Why it is not ours (another service, an app outside every linked team), for logs. */
      notOurs: string | null;
    }
  | { status: 'gone' }
  | { status: 'unknown'; error: string };

/**
 * Reads one add-on: `GET /addons/{id}`, then its app (for the team and region) and its
 * attachments side by side: three requests, whatever the size of the team. An add-on of a service
 * not in `addonServices`, or whose app is not in a linked team, is reported as not ours after the
 * fewest reads that show it.
 */
export async function readDesiredAddon(api: HerokuApi, addonId: string, links: Link[], options: DesiredStateOptions): Promise<AddonReadResult> {
  let raw: AddOn;
  try {
    raw = await api.get<AddOn>(`/addons/${seg(addonId)}`);
  } catch (err) {
    if (err instanceof HerokuApiError && err.statusCode === 404 && err.id === 'not_found') return { status: 'gone' };
    return { status: 'unknown', error: errorMessage(err) };
  }
  try {
    const addon = raw as unknown as Record<string, any>;
    if (typeof addon?.id !== 'string' || typeof addon.state !== 'string' || typeof addon.addon_service?.name !== 'string' || typeof addon.app?.id !== 'string') {
      throw new Error('Heroku answered the add-on read with an add-on lacking its id, state, service or app');
    }
    if (addon.id.toLowerCase() !== addonId.toLowerCase()) throw new Error(`Heroku answered the read of add-on ${addonId} with add-on ${addon.id}`);
    if (!options.addonServices.includes(raw.addon_service.name!)) {
      return { status: 'found', addon: null, deprovisioned: false, link: null, notOurs: `add-on service ${raw.addon_service.name} is not in ADDON_SERVICES` };
    }
    const [app, attachments] = await Promise.all([
      api.get<App>(`/apps/${seg(raw.app.id!)}`),
      api.get<AddOnAttachment[]>(`/addons/${seg(raw.id)}/addon-attachments`),
    ]);
    assertWellFormed([raw], [app], attachments);
    const teamId = app.team?.id ?? null;
    const link = links.find((l) => l.teamId === teamId) ?? null;
    if (!link) return { status: 'found', addon: null, deprovisioned: false, link: null, notOurs: `app ${app.name ?? app.id} is not in a linked team` };
    if (raw.state === 'deprovisioned') return { status: 'found', addon: null, deprovisioned: true, link, notOurs: null };
    const appsById = new Map<string | undefined, TeamApp>([[app.id, app as TeamApp]]);
    const own = attachments.filter((a) => a.addon?.id === raw.id);
    return { status: 'found', addon: toDesired(raw, own, appsById, link, options), deprovisioned: false, link, notOurs: null };
  } catch (err) {
    return { status: 'unknown', error: errorMessage(err) };
  }
}
