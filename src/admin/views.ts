/**
 * What the admin API and console show, built from the store and the latest pass: teams with their
 * add-ons (bucket, user, key, delivery per attachment, drift), orphans with the time left in their
 * grace, and the mass-deletion breakers. Pure functions over a read model, so they are tested
 * without a database; nothing here holds or shows a secret (a record's secret key is dropped).
 */
import type { LatestPassView } from '../metrics/pass-outcome.js';
import type { DriftItem, DriftReport } from '../reconciler/drift.js';
import type { DeliveryRecord, GcBreaker, KeyRotation, Link, ResourceRecord } from '../store/types.js';
import { describeLink } from './links.js';

export interface AdminReadModel {
  links: Link[];
  records: ResourceRecord[];
  deliveries: DeliveryRecord[];
  breakers: GcBreaker[];
  /** Key rotations in flight (absent: none shown). */
  rotations?: KeyRotation[];
  report: DriftReport | null;
  pass: LatestPassView | null;
  now: Date;
  /** KEY_MAX_AGE: keys older than this are flagged. */
  keyMaxAgeMs: number;
}

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export interface LinkHealth {
  status: 'ok' | 'failing' | 'unknown';
  error: string | null;
  checkedAt: string | null;
}

/** How a linked account read on the latest pass: `ok`, `failing` (with the error) or `unknown` before one. */
export function linkHealth(m: AdminReadModel, accountId: string): LinkHealth {
  const read = m.pass?.accounts.find((a) => a.accountId === accountId);
  if (!m.pass || !read) return { status: 'unknown', error: null, checkedAt: null };
  return { status: read.complete ? 'ok' : 'failing', error: read.error, checkedAt: m.pass.at.toISOString() };
}

export function linkViews(m: AdminReadModel) {
  return m.links.map((link) => ({ ...describeLink(link), ...linkKeyAge(m, link), health: linkHealth(m, link.accountId) }));
}

/** For a link by access keys: whether its own key is older than KEY_MAX_AGE (null when its age is unknown). */
function linkKeyAge(m: AdminReadModel, link: Link): { accessKeyPastMaxAge?: boolean | null } {
  if (link.auth.kind !== 'keys') return {};
  const made = link.accessKeyCreatedAt;
  return { accessKeyPastMaxAge: pastMaxAge(m, made ?? null) };
}

export function teamSummaries(m: AdminReadModel) {
  return m.links.map((link) => {
    const records = m.records.filter((r) => r.teamId === link.teamId);
    const drifted = new Set(driftOf(m).filter((d) => records.some((r) => r.addonId === d.addonId)).map((d) => d.addonId));
    const desired = m.pass?.teams.find((t) => t.teamId === link.teamId);
    return {
      teamId: link.teamId,
      teamName: link.teamName,
      accountId: link.accountId,
      addons: desired?.addons.length ?? records.filter((r) => r.orphan === null).length,
      drifted: drifted.size,
      orphans: records.filter((r) => r.orphan !== null).length,
      health: linkHealth(m, link.accountId),
    };
  });
}

/** One team: its link and every add-on the controller knows of there, wanted or orphaned. */
export function teamDetail(m: AdminReadModel, team: string) {
  const link = m.links.find((l) => l.teamId === team || l.teamName === team);
  if (!link) return null;
  const desired = m.pass?.teams.find((t) => t.teamId === link.teamId) ?? null;
  const records = new Map(m.records.filter((r) => r.teamId === link.teamId).map((r) => [r.addonId, r]));
  const ids = new Set([...(desired?.addons.map((a) => a.addonId) ?? []), ...records.keys()]);
  const addons = [...ids].map((addonId) => addonView(m, addonId, records.get(addonId) ?? null, desired?.addons.find((a) => a.addonId === addonId) ?? null));
  addons.sort((a, b) => (a.addonName ?? a.addonId).localeCompare(b.addonName ?? b.addonId));
  return {
    teamId: link.teamId,
    teamName: link.teamName,
    link: { ...describeLink(link), ...linkKeyAge(m, link), health: linkHealth(m, link.accountId) },
    readAt: iso(m.pass?.at),
    herokuComplete: desired?.complete ?? null,
    addons,
  };
}

function addonView(m: AdminReadModel, addonId: string, record: ResourceRecord | null, desired: LatestPassView['teams'][number]['addons'][number] | null) {
  const deliveries = m.deliveries.filter((d) => d.addonId === addonId);
  const attachments = desired
    ? desired.attachments.map((a) => {
        const delivered = deliveries.find((d) => d.attachmentId === a.id);
        return { attachmentId: a.id, name: a.name, appId: a.appId, appName: a.appName, delivered: delivered !== undefined, deliveredAt: iso(delivered?.deliveredAt) };
      })
    : deliveries.map((d) => ({ attachmentId: d.attachmentId, name: null, appId: d.appId, appName: null, delivered: true, deliveredAt: iso(d.deliveredAt) }));
  const drift = driftOf(m).filter((d) => d.addonId === addonId).map((d) => ({ kind: d.kind, status: d.status, resource: d.resource, field: d.field, expected: d.expected, actual: d.actual }));
  return {
    addonId,
    addonName: desired?.addonName ?? record?.addonName ?? null,
    appName: desired?.appName ?? null,
    plan: desired?.plan ?? record?.plan ?? null,
    kind: record?.kind ?? null,
    wanted: desired !== null,
    state: record?.state ?? 'pending',
    lastError: record?.lastError ?? null,
    region: record?.region ?? desired?.region ?? null,
    resourceName: record?.resourceName ?? null,
    userName: record?.userName ?? null,
    accessKeyId: record?.accessKeyId ?? null,
    keyCreatedAt: iso(record?.accessKeyId ? record.accessKeyCreatedAt : null),
    keyPastMaxAge: record?.accessKeyId ? pastMaxAge(m, record.accessKeyCreatedAt) : null,
    orphan: record?.orphan ? orphanMark(m, record) : null,
    rotation: rotationOf(m, addonId),
    attachments,
    drift,
  };
}

/** The add-on's key rotation in flight: its step, since when, and the key it retires (ids only). */
function rotationOf(m: AdminReadModel, addonId: string) {
  const r = m.rotations?.find((x) => x.addonId === addonId);
  return r ? { step: r.step, since: r.stepAt.toISOString(), trigger: r.trigger, oldAccessKeyId: r.oldAccessKeyId } : null;
}

function pastMaxAge(m: AdminReadModel, made: Date | null): boolean | null {
  return made ? m.now.getTime() - made.getTime() > m.keyMaxAgeMs : null;
}

function orphanMark(m: AdminReadModel, record: ResourceRecord) {
  const orphan = record.orphan!;
  return {
    reason: orphan.reason,
    since: orphan.since.toISOString(),
    deleteAfter: orphan.deleteAfter.toISOString(),
    secondsLeft: Math.max(0, Math.round((orphan.deleteAfter.getTime() - m.now.getTime()) / 1000)),
    heldByBreaker: m.breakers.some((b) => b.accountId === record.accountId && b.planned.includes(record.addonId) && b.approvedAt === null),
    retained: record.state === 'retained',
  };
}

/** Every orphan, soonest deletion first. */
export function orphanViews(m: AdminReadModel, teams?: ReadonlySet<string>) {
  return m.records
    .filter((r) => r.orphan !== null && (!teams || teams.has(r.teamId)))
    .sort((a, b) => a.orphan!.deleteAfter.getTime() - b.orphan!.deleteAfter.getTime())
    .map((r) => ({
      addonId: r.addonId,
      addonName: r.addonName,
      teamId: r.teamId,
      accountId: r.accountId,
      kind: r.kind,
      resourceName: r.resourceName,
      userName: r.userName,
      ...orphanMark(m, r),
    }));
}

/** The tripped breakers, each with the add-ons (and their resources) its approval would delete. */
export function breakerViews(m: AdminReadModel) {
  return m.breakers.map((b) => ({
    accountId: b.accountId,
    trippedAt: b.trippedAt.toISOString(),
    approvedAt: iso(b.approvedAt),
    planned: b.planned.map((addonId) => {
      const r = m.records.find((x) => x.addonId === addonId);
      return { addonId, addonName: r?.addonName ?? null, teamId: r?.teamId ?? null, resourceName: r?.resourceName ?? null, userName: r?.userName ?? null };
    }),
  }));
}

function driftOf(m: AdminReadModel): DriftItem[] {
  return m.report?.items ?? [];
}
