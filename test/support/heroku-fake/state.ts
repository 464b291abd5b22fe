/**
 * In-memory state of the Heroku Platform API fake and the JSON representations it serves.
 *
 * Representations follow the official schema definitions exactly (every declared property, no
 * others): `#/definitions/team`, `team-app`, `app`, `add-on`, `add-on-attachment`.
 */
import { randomBytes, randomUUID } from 'node:crypto';

export type Region = 'us' | 'eu';
/**
 * A member's role in a team. `admin`, `collaborator`, `member` and `owner` are the read enum of
 * `#/definitions/team/definitions/role`; `viewer` is in `team-member/definitions/team_role` (what a
 * team admin may set) but missing from that read enum (see `schema.ts`).
 */
export type TeamRole = 'admin' | 'collaborator' | 'member' | 'owner' | 'viewer';
export type AddOnState = 'provisioning' | 'provisioned' | 'deprovisioned';

// ---- representations (what the fake serves) ------------------------------------------------

export interface IdName {
  id: string;
  name: string;
}

/** `#/definitions/team` */
export interface Team {
  id: string;
  created_at: string;
  credit_card_collections: boolean;
  default: boolean;
  enterprise_account: IdName | null;
  identity_provider: null;
  membership_limit: number | null;
  name: string;
  provisioned_licenses: boolean;
  role: TeamRole | null;
  type: 'enterprise' | 'team';
  updated_at: string;
}

/** `#/definitions/team-app` */
export interface TeamApp {
  archived_at: string | null;
  buildpack_provided_description: string | null;
  build_stack: IdName;
  created_at: string;
  git_url: string;
  id: string;
  internal_routing: boolean | null;
  joined: boolean;
  locked: boolean;
  maintenance: boolean;
  name: string;
  team: { name: string } | null;
  owner: { email: string; id: string } | null;
  region: IdName;
  released_at: string | null;
  repo_size: number | null;
  slug_size: number | null;
  space: IdName | null;
  stack: IdName;
  updated_at: string;
  web_url: string | null;
}

/** `#/definitions/app` */
export interface App {
  acm: boolean;
  archived_at: string | null;
  buildpack_provided_description: string | null;
  build_stack: IdName;
  created_at: string;
  generation: IdName;
  git_url: string;
  id: string;
  internal_routing: boolean | null;
  maintenance: boolean;
  name: string;
  owner: { email: string; id: string };
  organization: IdName | null;
  team: IdName | null;
  region: IdName;
  released_at: string | null;
  repo_size: number | null;
  slug_size: number | null;
  space: (IdName & { shield: boolean }) | null;
  stack: IdName;
  updated_at: string;
  web_url: string | null;
}

/** `#/definitions/add-on` */
export interface AddOn {
  actions: unknown[];
  addon_service: IdName;
  billing_entity: { id: string; name: string; type: 'app' | 'team' };
  app: IdName;
  billed_price: { cents: number; contract: boolean; unit: string } | null;
  config_vars: string[];
  created_at: string;
  id: string;
  name: string;
  plan: IdName;
  provider_id: string;
  provision_message: string;
  state: AddOnState;
  updated_at: string;
  web_url: string | null;
}

/** `#/definitions/add-on-attachment` */
export interface AddOnAttachment {
  addon: { id: string; name: string; app: IdName };
  app: IdName;
  created_at: string;
  id: string;
  name: string;
  namespace: string | null;
  updated_at: string;
  web_url: string | null;
  log_input_url: string | null;
}

// ---- records (what the fake stores) ----------------------------------------------------------

interface TeamRec {
  id: string;
  name: string;
  createdAt: string;
  updatedAt: string;
}

interface AppRec {
  id: string;
  name: string;
  teamId: string;
  region: Region;
  webHost: string;
  createdAt: string;
  updatedAt: string;
  configVars: Map<string, string>;
}

interface AddonRec {
  id: string;
  name: string;
  appId: string;
  service: string;
  plan: string;
  state: AddOnState;
  /**
   * The config the add-on's provider set (`PATCH /addons/{id}/config`, or seeded the same way),
   * named as the provider sends it: with the manifest's `config_vars_prefix` (`S3_BUCKET_URL`).
   * Insertion order is the order `config_vars` lists them in.
   */
  providerConfig: Map<string, string>;
  providerId: string;
  provisionMessage: string;
  createdAt: string;
  updatedAt: string;
}

interface AttachmentRec {
  id: string;
  name: string;
  addonId: string;
  appId: string;
  namespace: string | null;
  createdAt: string;
  updatedAt: string;
}

// ---- constants -----------------------------------------------------------------------------

/** Heroku's region ids. */
const REGIONS: Record<Region, IdName> = {
  us: { id: '59accabd-516d-4f0e-83e6-6e3757701145', name: 'us' },
  eu: { id: 'ed30241c-ed8c-4bb6-9714-61953675d0b4', name: 'eu' },
};
const STACK: IdName = { id: 'ae20c3a5-1b29-4f3f-bb8c-0f6a5f7d8b61', name: 'heroku-24' };
const GENERATION: IdName = { id: '2a7b5c1e-4f8d-4e6a-9b3c-7d1e0f2a3b4c', name: 'cedar' };

export const APP_NAME = /^[a-z][a-z0-9-]{1,28}[a-z0-9]$/;
export const ADDON_NAME = /^[a-zA-Z][A-Za-z0-9_-]+$/;
export const CONFIG_VAR_KEY = /^\w+$/;
const ATTACHMENT_COLORS = ['AQUA', 'BLUE', 'CRIMSON', 'GOLD', 'GREEN', 'JADE', 'OLIVE', 'ONYX', 'ORANGE', 'PINK'];
const ADJECTIVES = ['rigid', 'curved', 'shallow', 'silent', 'fluffy', 'cubic', 'amorphous', 'vertical', 'spherical', 'opaque'];

/** ISO-8601 without milliseconds, as Heroku writes timestamps. */
export function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** `bucketeer` → `BUCKETEER`, `heroku-postgresql` → `HEROKU_POSTGRESQL`. */
export function defaultAttachmentName(service: string): string {
  return service.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
}

/**
 * The manifest's default `config_vars_prefix`: the add-on service slug normalized, `s3-bucket` →
 * `S3_BUCKET`, `fast-db` → `FAST_DB` (the same rule as the default attachment name).
 */
export function defaultManifestPrefix(service: string): string {
  return defaultAttachmentName(service);
}

/** A timestamp later than `prev`: now, or one second after `prev` when now is not later yet
 * (timestamps have whole seconds), so a change always shows in `updated_at`. */
function later(prev: string): string {
  const ts = now();
  if (ts > prev) return ts;
  return new Date(Date.parse(prev) + 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class NotFound extends Error {
  constructor(readonly resource: 'team' | 'app' | 'add-on' | 'add-on attachment' | 'app webhook' | 'plan' | 'user') {
    super(`Couldn't find that ${resource}.`);
  }
}

/** A refused change, answered 422 `invalid_params`. */
export class InvalidParams extends Error {}

/** `standard` → `service:standard`; a name with `:` is taken as it is. */
function planName(service: string, plan: string): string {
  return plan.includes(':') ? plan : `${service}:${plan}`;
}

// ---- state ---------------------------------------------------------------------------------

export interface AddAddonOptions {
  app: string;
  service: string;
  /** `standard` (default) → plan `${service}:standard`; a name with `:` is taken as it is. */
  plan?: string;
  name?: string;
  /** Defaults to the service upper-cased with `-` → `_` (e.g. `BUCKETEER`). */
  attachmentName?: string;
  state?: AddOnState;
  /**
   * Config the provider has already set, as it would through `PATCH /addons/{id}/config`: names
   * in the manifest's prefix form (`S3_BUCKET_URL` for service `s3-bucket`, see
   * {@link FakeState.setManifestPrefix}). Goes through the same path as that PATCH: the add-on's
   * `config_vars` list them as the owning app sees them, and every attached app gets them renamed
   * to its attachment's name.
   */
  providerConfig?: Record<string, string>;
  id?: string;
  providerId?: string;
  provisionMessage?: string;
}

export class FakeState {
  private readonly teams = new Map<string, TeamRec>();
  private readonly apps = new Map<string, AppRec>();
  private readonly addons = new Map<string, AddonRec>();
  private readonly attachments = new Map<string, AttachmentRec>();
  private readonly teamNames = new Map<string, TeamRec>();
  private readonly appNames = new Map<string, AppRec>();
  private readonly addonNames = new Map<string, AddonRec>();
  /** app id → attachment names on it */
  private readonly attachmentNames = new Map<string, Set<string>>();
  private readonly serviceIds = new Map<string, string>();
  /** add-on service → the manifest's `config_vars_prefix`, where set (else the default). */
  private readonly manifestPrefixes = new Map<string, string>();
  private readonly planIds = new Map<string, string>();

  // -- lookups (name or id) --

  team(ref: string): TeamRec {
    const t = this.teams.get(ref) ?? this.teamNames.get(ref);
    if (!t) throw new NotFound('team');
    return t;
  }

  app(ref: string): AppRec {
    const a = this.apps.get(ref) ?? this.appNames.get(ref);
    if (!a) throw new NotFound('app');
    return a;
  }

  addon(ref: string): AddonRec {
    const a = this.addons.get(ref) ?? this.addonNames.get(ref);
    if (!a) throw new NotFound('add-on');
    return a;
  }

  attachment(id: string): AttachmentRec {
    const a = this.attachments.get(id);
    if (!a) throw new NotFound('add-on attachment');
    return a;
  }

  /** Whether a name or id refers to an existing add-on or app. */
  has(kind: 'add-on' | 'app', ref: string): boolean {
    return kind === 'app' ? this.apps.has(ref) || this.appNames.has(ref) : this.addons.has(ref) || this.addonNames.has(ref);
  }

  /** An add-on addressed through its owning app (`/apps/{app}/addons/{addon}`): 404 on another app. */
  appAddon(appRef: string, addonRef: string): AddonRec {
    const app = this.app(appRef);
    const addon = this.addon(addonRef);
    if (addon.appId !== app.id) throw new NotFound('add-on');
    return addon;
  }

  /** A plan identity of the API (`service:plan` name, or the id the fake serves for it) → its name. */
  planByIdentity(identity: string): string {
    if (identity.includes(':')) return identity;
    for (const [name, id] of this.planIds) if (id === identity) return name;
    throw new NotFound('plan');
  }

  // -- seeding --

  addTeam(o: { name: string; id?: string }): Team {
    if (this.teamNames.has(o.name)) throw new Error(`team ${o.name} exists`);
    const id = o.id ?? randomUUID();
    if (this.teams.has(id)) throw new Error(`team id ${id} exists`);
    const ts = now();
    const rec: TeamRec = { id, name: o.name, createdAt: ts, updatedAt: ts };
    this.teams.set(id, rec);
    this.teamNames.set(rec.name, rec);
    return this.teamJson(rec);
  }

  addApp(o: { name: string; team: string; region?: Region; id?: string }): App {
    if (!APP_NAME.test(o.name)) throw new Error(`app name ${o.name} does not match ${APP_NAME}`);
    if (this.appNames.has(o.name)) throw new Error(`app ${o.name} exists`);
    const team = this.team(o.team);
    const id = o.id ?? randomUUID();
    if (this.apps.has(id)) throw new Error(`app id ${id} exists`);
    const ts = now();
    const rec: AppRec = {
      id,
      name: o.name,
      teamId: team.id,
      region: o.region ?? 'us',
      webHost: `${o.name}-${hex(6)}.herokuapp.com`,
      createdAt: ts,
      updatedAt: ts,
      configVars: new Map(),
    };
    this.apps.set(id, rec);
    this.appNames.set(rec.name, rec);
    return this.appJson(rec);
  }

  addAddon(o: AddAddonOptions): AddOn {
    const app = this.app(o.app);
    const id = o.id ?? randomUUID();
    if (this.addons.has(id)) throw new Error(`add-on id ${id} exists`);
    const name = o.name ?? this.freshAddonName(o.service);
    if (!ADDON_NAME.test(name)) throw new Error(`add-on name ${name} does not match ${ADDON_NAME}`);
    if (this.addonNames.has(name)) throw new Error(`add-on ${name} exists`);
    const attachmentName = o.attachmentName ?? this.freshAttachmentName(app.id, defaultAttachmentName(o.service));
    this.checkAttachmentName(app.id, attachmentName);
    const providerConfig = new Map<string, string>();
    for (const [k, v] of Object.entries(o.providerConfig ?? {})) {
      if (!CONFIG_VAR_KEY.test(k)) throw new Error(`config var name ${k} is invalid`);
      if (typeof v !== 'string') throw new Error(`config var ${k} must have a string value`);
      providerConfig.set(k, v);
    }
    const plan = planName(o.service, o.plan ?? 'standard');
    const ts = now();
    const rec: AddonRec = {
      id,
      name,
      appId: app.id,
      service: o.service,
      plan,
      state: o.state ?? 'provisioned',
      providerConfig,
      providerId: o.providerId ?? randomUUID(),
      provisionMessage: o.provisionMessage ?? '',
      createdAt: ts,
      updatedAt: ts,
    };
    this.addons.set(id, rec);
    this.addonNames.set(rec.name, rec);
    this.attachRec(rec, app, attachmentName);
    return this.addonJson(rec);
  }

  attach(o: { addon: string; app: string; name: string; namespace?: string | null }): AddOnAttachment {
    const addon = this.addon(o.addon);
    const app = this.app(o.app);
    this.checkAttachmentName(app.id, o.name);
    return this.attachmentJson(this.attachRec(addon, app, o.name, o.namespace ?? null));
  }

  detach(attachmentId: string): void {
    const att = this.attachment(attachmentId);
    this.attachments.delete(att.id);
    this.attachmentNames.get(att.appId)?.delete(att.name);
    const app = this.apps.get(att.appId);
    const addon = this.addons.get(att.addonId);
    if (!app || !addon) return;
    const stillProvided = this.protectedVarNames(app.id);
    for (const k of this.varNamesFor(addon, att.name)) if (!stillProvided.has(k)) app.configVars.delete(k);
    app.updatedAt = now();
  }

  destroyAddon(ref: string): void {
    const addon = this.addon(ref);
    for (const att of [...this.attachments.values()]) if (att.addonId === addon.id) this.detach(att.id);
    this.addons.delete(addon.id);
    this.addonNames.delete(addon.name);
  }

  destroyApp(ref: string): void {
    const app = this.app(ref);
    for (const addon of [...this.addons.values()]) if (addon.appId === app.id) this.destroyAddon(addon.id);
    for (const att of [...this.attachments.values()]) if (att.appId === app.id) this.attachments.delete(att.id);
    this.attachmentNames.delete(app.id);
    this.apps.delete(app.id);
    this.appNames.delete(app.name);
  }

  destroyTeam(ref: string): void {
    const team = this.team(ref);
    for (const app of [...this.apps.values()]) if (app.teamId === team.id) this.destroyApp(app.id);
    this.teams.delete(team.id);
    this.teamNames.delete(team.name);
  }

  setAddonState(ref: string, state: AddOnState): AddOn {
    const addon = this.addon(ref);
    addon.state = state;
    addon.updatedAt = now();
    return this.addonJson(addon);
  }

  /**
   * Heroku's "Transfer to Team" (`PATCH /teams/apps/{app}` with `{owner: team}`): the app, its
   * add-ons (billed to the app) and their attachments go with it; team listings follow.
   */
  moveApp(appRef: string, teamRef: string): App {
    const app = this.app(appRef);
    const team = this.team(teamRef);
    app.teamId = team.id;
    app.updatedAt = later(app.updatedAt);
    return this.appJson(app);
  }

  /**
   * A plan change as `PATCH /apps/{app}/addons/{addon}` with `{plan}` makes it. `plan` is
   * `service:plan` (a plan of another service is refused) or a bare plan name of the add-on's
   * service. Only Heroku's side: the provider's `PUT /heroku/resources/{id}` is
   * `fake.partner.changePlan`.
   */
  changePlan(addonRef: string, plan: string): AddOn {
    const addon = this.addon(addonRef);
    addon.plan = this.checkPlanChange(addon.id, plan);
    addon.updatedAt = later(addon.updatedAt);
    return this.addonJson(addon);
  }

  /** The full plan name `plan` means for the add-on; refuses a plan of another service. */
  checkPlanChange(addonRef: string, plan: string): string {
    const addon = this.addon(addonRef);
    const name = planName(addon.service, plan);
    if (name.slice(0, name.indexOf(':')) !== addon.service || name.endsWith(':')) {
      throw new InvalidParams(`Plan ${name} is not a plan of the add-on's service ${addon.service}.`);
    }
    return name;
  }

  /** Renames an add-on (the `name` of the same PATCH). */
  renameAddon(addonRef: string, name: string): AddOn {
    const addon = this.addon(addonRef);
    if (name === addon.name) return this.addonJson(addon);
    this.checkAddonName(addon.id, name);
    this.addonNames.delete(addon.name);
    addon.name = name;
    this.addonNames.set(name, addon);
    addon.updatedAt = later(addon.updatedAt);
    return this.addonJson(addon);
  }

  /** Refuses an add-on name that is malformed or taken by another add-on. */
  checkAddonName(addonRef: string, name: string): void {
    const addon = this.addon(addonRef);
    if (!ADDON_NAME.test(name)) throw new InvalidParams(`Name must match ${ADDON_NAME}.`);
    const other = this.addonNames.get(name);
    if (other && other.id !== addon.id) throw new InvalidParams(`Name ${name} is already taken.`);
  }

  /**
   * Heroku has no attachment rename; the CLI's way is `addons:attach --as NEW` then
   * `addons:detach OLD`. So: a new attachment (new id, same add-on, app and namespace) named
   * `newName`, then the old one detached. The app's vars move from the old prefix to the new one.
   */
  renameAttachment(attachmentId: string, newName: string): AddOnAttachment {
    const old = this.attachment(attachmentId);
    const fresh = this.attach({ addon: old.addonId, app: old.appId, name: newName, namespace: old.namespace });
    this.detach(old.id);
    return fresh;
  }

  // -- provider config (what the add-on's provider sets through the Partner API) --

  /** The manifest's `config_vars_prefix` of a service: set, or {@link defaultManifestPrefix}. */
  manifestPrefix(service: string): string {
    return this.manifestPrefixes.get(service) ?? defaultManifestPrefix(service);
  }

  /**
   * Sets a service's manifest `config_vars_prefix`. Refused once an add-on of that service has
   * provider config: its stored names carry the old prefix (a manifest's prefix is fixed anyway).
   */
  setManifestPrefix(service: string, prefix: string): void {
    if (!/^[A-Z][A-Z0-9_]*$/.test(prefix)) throw new Error(`manifest prefix ${prefix} must be capitals, digits and _`);
    for (const a of this.addons.values()) {
      if (a.service === service && a.providerConfig.size > 0) {
        throw new Error(`add-on ${a.name} of ${service} already has provider config: set the prefix first`);
      }
    }
    this.manifestPrefixes.set(service, prefix);
  }

  /** The add-on's config as its provider set it (manifest-prefix names). */
  providerConfig(addonRef: string): Record<string, string> {
    return Object.fromEntries(this.addon(addonRef).providerConfig);
  }

  /**
   * What `PATCH /addons/{id}/config` does at Heroku: stores the provider's vars (`null` removes
   * one) and sets them on every app the add-on is attached to, each renamed for its attachment
   * ({@link exposedName}). Refuses names that are not `\w+` (before changing anything).
   */
  setProviderConfig(addonRef: string, vars: Record<string, string | null>): AddOn {
    const addon = this.addon(addonRef);
    const entries = Object.entries(vars);
    const bad = entries.filter(([k, v]) => !CONFIG_VAR_KEY.test(k) || (v !== null && typeof v !== 'string')).map(([k]) => k);
    if (bad.length > 0) throw new InvalidParams(`Invalid config: ${bad.join(', ')}.`);
    for (const [name, value] of entries) {
      if (value === null) addon.providerConfig.delete(name);
      else addon.providerConfig.set(name, value);
    }
    for (const att of [...this.attachments.values()].filter((t) => t.addonId === addon.id)) {
      const app = this.apps.get(att.appId)!;
      // A removed var stays when another attachment on the app still provides that name.
      const stillProvided = this.protectedVarNames(app.id);
      for (const [name, value] of entries) {
        const target = this.exposedName(addon, att.name, name);
        if (value !== null) app.configVars.set(target, value);
        else if (!stillProvided.has(target)) app.configVars.delete(target);
      }
      if (entries.length > 0) app.updatedAt = now();
    }
    return this.addonJson(addon);
  }

  configVars(ref: string): Record<string, string> {
    return Object.fromEntries(this.app(ref).configVars);
  }

  /** Seed helper: sets (or with `null` deletes) a var without the API's protections. */
  setConfigVar(ref: string, key: string, value: string | null): void {
    const app = this.app(ref);
    if (value === null) app.configVars.delete(key);
    else app.configVars.set(key, value);
    app.updatedAt = now();
  }

  /** The API's `PATCH /apps/{app}/config-vars`: refuses bad keys and add-on owned vars. */
  patchConfigVars(ref: string, body: Record<string, unknown>): Record<string, string> {
    const app = this.app(ref);
    const bad = Object.keys(body).filter((k) => !CONFIG_VAR_KEY.test(k));
    if (bad.length > 0) throw new InvalidParams(`Invalid config var key: ${bad.join(', ')}. Keys may contain only letters, digits and underscores.`);
    const badValues = Object.entries(body).filter(([, v]) => v !== null && typeof v !== 'string');
    if (badValues.length > 0) throw new InvalidParams(`Config var values must be strings or null: ${badValues.map(([k]) => k).join(', ')}.`);
    const owned = this.protectedVarNames(app.id);
    const clash = Object.keys(body).filter((k) => owned.has(k));
    if (clash.length > 0) throw new InvalidParams(`Cannot overwrite attachment values ${clash.join(', ')}.`);
    for (const [k, v] of Object.entries(body)) {
      if (v === null) app.configVars.delete(k);
      else app.configVars.set(k, v as string);
    }
    if (Object.keys(body).length > 0) app.updatedAt = now();
    return Object.fromEntries(app.configVars);
  }

  /** A var's name as the attachment named `attachmentName` exposes it. */
  exposedName(addon: AddonRec, attachmentName: string, name: string): string {
    const prefix = `${this.manifestPrefix(addon.service)}_`;
    // Heroku substitutes the attachment name for the manifest's prefix. A var not starting with the
    // prefix (the manifest should not declare one) keeps its name here: unconfirmed by a primary
    // source.
    return name.startsWith(prefix) ? `${attachmentName}_${name.slice(prefix.length)}` : name;
  }

  // -- listings (records, unsorted) --

  allTeams(): TeamRec[] {
    return [...this.teams.values()];
  }

  teamApps(teamRef: string): AppRec[] {
    const team = this.team(teamRef);
    return [...this.apps.values()].filter((a) => a.teamId === team.id);
  }

  allApps(): AppRec[] {
    return [...this.apps.values()];
  }

  teamAddons(teamRef: string): AddonRec[] {
    const team = this.team(teamRef);
    return [...this.addons.values()].filter((a) => this.apps.get(a.appId)?.teamId === team.id);
  }

  appAddons(appRef: string): AddonRec[] {
    const app = this.app(appRef);
    return [...this.addons.values()].filter((a) => a.appId === app.id);
  }

  allAddons(): AddonRec[] {
    return [...this.addons.values()];
  }

  allAttachments(): AttachmentRec[] {
    return [...this.attachments.values()];
  }

  addonAttachments(addonRef: string): AttachmentRec[] {
    const addon = this.addon(addonRef);
    return [...this.attachments.values()].filter((a) => a.addonId === addon.id);
  }

  appAttachments(appRef: string): AttachmentRec[] {
    const app = this.app(appRef);
    return [...this.attachments.values()].filter((a) => a.appId === app.id);
  }

  // -- representations --

  /**
   * `role` is the role of whoever asks: `admin` for the controller's own token (it sees every team
   * as today), the member's role for a user's token (`FakeAccounts`).
   */
  teamJson(t: TeamRec, role: TeamRole = 'admin'): Team {
    return {
      id: t.id,
      created_at: t.createdAt,
      credit_card_collections: false,
      default: false,
      enterprise_account: null,
      identity_provider: null,
      membership_limit: null,
      name: t.name,
      provisioned_licenses: false,
      role,
      type: 'team',
      updated_at: t.updatedAt,
    };
  }

  private owner(team: TeamRec): { email: string; id: string } {
    return { email: `${team.name}@herokumanager.com`, id: team.id };
  }

  teamAppJson(a: AppRec): TeamApp {
    const team = this.teams.get(a.teamId)!;
    return {
      archived_at: null,
      buildpack_provided_description: null,
      build_stack: { ...STACK },
      created_at: a.createdAt,
      git_url: `https://git.heroku.com/${a.name}.git`,
      id: a.id,
      internal_routing: null,
      joined: false,
      locked: false,
      maintenance: false,
      name: a.name,
      team: { name: team.name },
      owner: this.owner(team),
      region: { ...REGIONS[a.region] },
      released_at: a.updatedAt,
      repo_size: null,
      slug_size: null,
      space: null,
      stack: { ...STACK },
      updated_at: a.updatedAt,
      web_url: `https://${a.webHost}/`,
    };
  }

  appJson(a: AppRec): App {
    const team = this.teams.get(a.teamId)!;
    return {
      acm: false,
      archived_at: null,
      buildpack_provided_description: null,
      build_stack: { ...STACK },
      created_at: a.createdAt,
      generation: { ...GENERATION },
      git_url: `https://git.heroku.com/${a.name}.git`,
      id: a.id,
      internal_routing: null,
      maintenance: false,
      name: a.name,
      owner: this.owner(team),
      organization: { id: team.id, name: team.name },
      team: { id: team.id, name: team.name },
      region: { ...REGIONS[a.region] },
      released_at: a.updatedAt,
      repo_size: null,
      slug_size: null,
      space: null,
      stack: { ...STACK },
      updated_at: a.updatedAt,
      web_url: `https://${a.webHost}/`,
    };
  }

  addonJson(a: AddonRec): AddOn {
    const app = this.apps.get(a.appId)!;
    return {
      actions: [],
      addon_service: { id: this.stableId(this.serviceIds, a.service), name: a.service },
      billing_entity: { id: app.id, name: app.name, type: 'app' },
      app: { id: app.id, name: app.name },
      billed_price: { cents: 0, contract: false, unit: 'month' },
      config_vars: this.listedConfigVars(a),
      created_at: a.createdAt,
      id: a.id,
      name: a.name,
      plan: { id: this.stableId(this.planIds, a.plan), name: a.plan },
      provider_id: a.providerId,
      provision_message: a.provisionMessage,
      state: a.state,
      updated_at: a.updatedAt,
      web_url: `https://addons-sso.heroku.com/apps/${app.id}/addons/${a.id}`,
    };
  }

  attachmentJson(t: AttachmentRec): AddOnAttachment {
    const addon = this.addons.get(t.addonId)!;
    const owner = this.apps.get(addon.appId)!;
    const app = this.apps.get(t.appId)!;
    return {
      addon: { id: addon.id, name: addon.name, app: { id: owner.id, name: owner.name } },
      app: { id: app.id, name: app.name },
      created_at: t.createdAt,
      id: t.id,
      name: t.name,
      namespace: t.namespace,
      updated_at: t.updatedAt,
      web_url: `https://addons-sso.heroku.com/apps/${app.id}/addons/${addon.id}`,
      log_input_url: null,
    };
  }

  // -- internals --

  private stableId(map: Map<string, string>, key: string): string {
    let id = map.get(key);
    if (!id) {
      id = randomUUID();
      map.set(key, id);
    }
    return id;
  }

  private freshAddonName(service: string): string {
    const base = /^[a-zA-Z]/.test(service) ? service : `addon-${service}`;
    for (;;) {
      const adj = ADJECTIVES[Math.floor(Math.random() * ADJECTIVES.length)]!;
      const name = `${base}-${adj}-${Math.floor(10000 + Math.random() * 90000)}`.replace(/[^A-Za-z0-9_-]/g, '-');
      if (!this.addonNames.has(name)) return name;
    }
  }

  private attachmentTaken(appId: string, name: string): boolean {
    return this.attachmentNames.get(appId)?.has(name) ?? false;
  }

  private freshAttachmentName(appId: string, base: string): string {
    if (!this.attachmentTaken(appId, base)) return base;
    for (const c of ATTACHMENT_COLORS) if (!this.attachmentTaken(appId, `${base}_${c}`)) return `${base}_${c}`;
    for (let i = 2; ; i++) if (!this.attachmentTaken(appId, `${base}_${i}`)) return `${base}_${i}`;
  }

  private checkAttachmentName(appId: string, name: string): void {
    if (!CONFIG_VAR_KEY.test(name)) throw new Error(`attachment name ${name} must match ${CONFIG_VAR_KEY}`);
    if (this.attachmentTaken(appId, name)) throw new Error(`attachment name ${name} is taken on that app`);
  }

  /** The add-on's provider vars as an attachment named `attachmentName` exposes them. */
  private varNamesFor(addon: AddonRec, attachmentName: string): string[] {
    return [...addon.providerConfig.keys()].map((n) => this.exposedName(addon, attachmentName, n));
  }

  /**
   * `config_vars` of the AddOn representation: only the provider's vars (never an app's own), as
   * the owning app sees them, i.e. renamed for the owning attachment. Chosen here, unconfirmed:
   * the owning attachment is the oldest attachment on the owning app (after
   * {@link renameAttachment} of it, the new one); with none left on that app, the names are listed
   * in the manifest's prefix form.
   */
  private listedConfigVars(addon: AddonRec): string[] {
    if (addon.providerConfig.size === 0) return []; // the common case; skips the scan at 10k add-ons
    const owning = [...this.attachments.values()].find((t) => t.addonId === addon.id && t.appId === addon.appId);
    if (owning) return this.varNamesFor(addon, owning.name);
    return [...addon.providerConfig.keys()];
  }

  /** Names of the config vars that add-ons attached to the app own there. */
  protectedVarNames(appId: string): Set<string> {
    const out = new Set<string>();
    for (const att of this.attachments.values()) {
      if (att.appId !== appId) continue;
      const addon = this.addons.get(att.addonId);
      if (addon) for (const k of this.varNamesFor(addon, att.name)) out.add(k);
    }
    return out;
  }

  private attachRec(addon: AddonRec, app: AppRec, name: string, namespace: string | null = null): AttachmentRec {
    const ts = now();
    const rec: AttachmentRec = { id: randomUUID(), name, addonId: addon.id, appId: app.id, namespace, createdAt: ts, updatedAt: ts };
    this.attachments.set(rec.id, rec);
    let names = this.attachmentNames.get(app.id);
    if (!names) this.attachmentNames.set(app.id, (names = new Set()));
    names.add(name);
    for (const [original, value] of addon.providerConfig) app.configVars.set(this.exposedName(addon, name, original), value);
    app.updatedAt = ts;
    return rec;
  }
}
