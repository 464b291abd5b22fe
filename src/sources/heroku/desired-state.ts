/**
 * Desired state from Heroku: for every linked team, the add-ons of the configured services and
 * where they are attached. Spends one paginated listing of add-ons and one of apps per team, plus
 * one listing of attachments for the whole pass, never a call per app (DESIGN.md "Efficiency").
 * A team whose read failed in any page is marked incomplete: nothing is ever deleted on its behalf.
 */
import type { AddOn, AddOnAttachment, TeamApp } from '@heroku-cli/schema';
import type { DesiredAddon, TeamDesiredState } from '../../reconciler/model.js';
import type { Link } from '../../store/types.js';
import { errorMessage } from '../../util/errors.js';
import { mapLimit } from '../../util/map-limit.js';
import { seg, type HerokuApi } from './heroku-api.js';
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
