/**
 * App webhook subscriptions of the Heroku fake (`/apps/{app}/webhooks`), served as
 * `#/definitions/app-webhook/definitions/app_webhook`. The secret and the custom `authorization`
 * are write-only, as at Heroku: stored, never served; tests read them with `HerokuFake.webhooks()`.
 *
 * Not copied from Heroku because no source settles them: whether a second subscription with the
 * same URL is refused (here it is allowed; tests count subscriptions instead), and which `include`
 * entities are accepted (here any `api:<entity>` name).
 */
import { randomUUID } from 'node:crypto';
import { InvalidParams, NotFound, now } from './state.js';
import type { IdName } from './state.js';

/** `#/definitions/app-webhook/definitions/app_webhook` */
export interface AppWebhook {
  app: IdName;
  created_at: string;
  id: string;
  include: string[];
  level: 'notify' | 'sync';
  updated_at: string;
  url: string;
}

interface WebhookRec {
  id: string;
  appId: string;
  include: string[];
  level: 'notify' | 'sync';
  url: string;
  secret: string | null;
  authorization: string | null;
  createdAt: string;
  updatedAt: string;
}

const ENTITY = /^api:[a-z][a-z-]*$/;

export class FakeWebhooks {
  private readonly byId = new Map<string, WebhookRec>();

  list(appId: string): WebhookRec[] {
    return [...this.byId.values()].filter((w) => w.appId === appId);
  }

  get(appId: string, id: string): WebhookRec {
    const w = this.byId.get(id);
    if (!w || w.appId !== appId) throw new NotFound('app webhook');
    return w;
  }

  create(appId: string, body: unknown): WebhookRec {
    const b = object(body);
    if (b['include'] === undefined || b['level'] === undefined || b['url'] === undefined) {
      throw new InvalidParams('include, level and url are required.');
    }
    const ts = now();
    const rec: WebhookRec = {
      id: randomUUID(),
      appId,
      include: include(b['include']),
      level: level(b['level']),
      url: url(b['url']),
      secret: nullableString(b, 'secret') ?? null,
      authorization: nullableString(b, 'authorization') ?? null,
      createdAt: ts,
      updatedAt: ts,
    };
    this.byId.set(rec.id, rec);
    return rec;
  }

  update(appId: string, id: string, body: unknown): WebhookRec {
    const rec = this.get(appId, id);
    const b = object(body);
    // Validate everything before changing anything.
    const next = {
      include: b['include'] === undefined ? rec.include : include(b['include']),
      level: b['level'] === undefined ? rec.level : level(b['level']),
      url: b['url'] === undefined ? rec.url : url(b['url']),
      secret: nullableString(b, 'secret'),
      authorization: nullableString(b, 'authorization'),
    };
    rec.include = next.include;
    rec.level = next.level;
    rec.url = next.url;
    if (next.secret !== undefined) rec.secret = next.secret;
    if (next.authorization !== undefined) rec.authorization = next.authorization;
    rec.updatedAt = now();
    return rec;
  }

  remove(appId: string, id: string): WebhookRec {
    const rec = this.get(appId, id);
    this.byId.delete(rec.id);
    return rec;
  }

  json(rec: WebhookRec, app: IdName): AppWebhook {
    return {
      app: { id: app.id, name: app.name },
      created_at: rec.createdAt,
      id: rec.id,
      include: [...rec.include],
      level: rec.level,
      updated_at: rec.updatedAt,
      url: rec.url,
    };
  }
}

function object(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new InvalidParams('Request body must be a JSON object.');
  return body as Record<string, unknown>;
}

function include(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string' && ENTITY.test(v))) {
    throw new InvalidParams('Include must be a non-empty list of entities such as api:addon.');
  }
  return [...new Set(value as string[])];
}

function level(value: unknown): 'notify' | 'sync' {
  if (value !== 'notify' && value !== 'sync') throw new InvalidParams('Level must be notify or sync.');
  return value;
}

function url(value: unknown): string {
  if (typeof value !== 'string') throw new InvalidParams('Url is invalid.');
  try {
    const parsed = new URL(value);
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error('scheme');
  } catch {
    throw new InvalidParams('Url is invalid.');
  }
  return value;
}

/** A string-or-null field: `undefined` when absent. */
function nullableString(b: Record<string, unknown>, key: string): string | null | undefined {
  const v = b[key];
  if (v === undefined || v === null) return v;
  if (typeof v !== 'string') throw new InvalidParams(`${key[0]!.toUpperCase()}${key.slice(1)} must be a string.`);
  return v;
}
