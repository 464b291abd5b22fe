/**
 * The Heroku app-webhooks receiver (`POST /webhooks/heroku`). A delivery only says *which* add-on
 * to look at (STYLE.md #1): the handler verifies the signature over the raw body, picks the add-on
 * id out of `api:addon` and `api:addon-attachment` events and enqueues it. Nothing else in the
 * payload is believed; the reconcile reads the add-on afresh from the Platform API.
 *
 * Answers:
 * - 202 `{status: "queued"}` — accepted and enqueued;
 * - 200 `{status: "duplicate"}` — this delivery was accepted before (a replay or a retry);
 * - 200 `{status: "ignored"}` — a signed event of another entity (`api:release`, …);
 * - 400 malformed JSON or a payload without the fields needed; 401 missing or bad signature;
 *   405 not POST; 408 body not received in time; 413 body over the size limit.
 *
 * Never logs a secret, the signature header or the body.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
import { readBody } from '../http/read-body.js';
import type { ReplayStore } from './replay-store.js';
import { sendJson, sendJsonAndClose, singleHeader } from '../http/respond.js';
import { WebhookDelivery } from '../reasons.js';

/** The header Heroku signs deliveries in: base64(HMAC-SHA256(secret, raw body)). */
export const SIGNATURE_HEADER = 'Heroku-Webhook-Hmac-SHA256';

/** The webhook entities that name an add-on; the subscription's `include`. */
export const ADDON_ENTITIES = ['api:addon', 'api:addon-attachment'] as const;
export type AddonEntity = (typeof ADDON_ENTITIES)[number];

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
const DEFAULT_READ_TIMEOUT_MS = 10_000;
const DIGEST_BYTES = 32;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Delivery and event ids are UUIDs at Heroku; anything far longer is not an id. */
const MAX_ID_LENGTH = 200;

/**
 * True when `header` is the base64 HMAC-SHA256 of `rawBody` under any of `secrets` (several are
 * allowed so a secret can be rotated). Constant-time in the signature; a header of the wrong
 * length or encoding is false, never an exception. Empty secrets never match.
 */
export function verifyHerokuSignature(rawBody: Buffer, header: string | undefined, secrets: readonly string[]): boolean {
  if (typeof header !== 'string') return false;
  const text = header.trim();
  const given = Buffer.from(text, 'base64');
  // Node's base64 decoder skips characters it does not know; insist on the canonical encoding.
  if (given.length !== DIGEST_BYTES || given.toString('base64') !== text) return false;
  let match = false;
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    const expected = createHmac('sha256', secret).update(rawBody).digest();
    // No early exit: which secret matched (or that none did) does not show in the timing.
    if (timingSafeEqual(expected, given)) match = true;
  }
  return match;
}

/** Signs `rawBody` as Heroku does; for tests and tools that play Heroku's side. */
export function signHerokuWebhook(rawBody: Buffer | string, secret: string): string {
  return createHmac('sha256', secret).update(rawBody).digest('base64');
}

/** What a verified, parsed delivery asks for. */
export type WebhookEvent =
  | {
      kind: 'addon';
      /** The replay key: the delivery id, with the event id when the payload has one. */
      replayKey: string;
      deliveryId: string;
      entity: AddonEntity;
      action: string | null;
      addonId: string;
    }
  | { kind: 'ignored'; deliveryId: string; entity: string }
  | { kind: 'invalid'; problem: string };

/**
 * Reads the few fields the receiver needs from a delivery's JSON. The examples Heroku publishes
 * do not validate strictly against the current schema (they carry `published_at`, `sequence`,
 * `webhook_metadata`, …), so this checks only what it uses, and fails closed on those.
 */
export function parseWebhookEvent(payload: unknown): WebhookEvent {
  if (!isObject(payload)) return { kind: 'invalid', problem: 'the body is not a JSON object' };
  const metadata = payload['webhook_metadata'];
  const delivery = isObject(metadata) ? metadata['delivery'] : undefined;
  const deliveryId = isObject(delivery) ? delivery['id'] : undefined;
  if (!isId(deliveryId)) return { kind: 'invalid', problem: 'webhook_metadata.delivery.id is missing' };

  // The subscription's entity (`api:addon`); older payloads only name the resource (`addon`).
  const event = isObject(metadata) ? metadata['event'] : undefined;
  const include = isObject(event) ? event['include'] : undefined;
  const resource = payload['resource'];
  const entity = typeof include === 'string' ? include : typeof resource === 'string' ? `api:${resource}` : null;
  if (entity === null) return { kind: 'invalid', problem: 'neither webhook_metadata.event.include nor resource says what the event is about' };
  if (!(ADDON_ENTITIES as readonly string[]).includes(entity)) return { kind: 'ignored', deliveryId, entity };

  const data = payload['data'];
  if (!isObject(data)) return { kind: 'invalid', problem: 'data is missing' };
  const addonId = entity === 'api:addon' ? data['id'] : isObject(data['addon']) ? data['addon']['id'] : undefined;
  if (typeof addonId !== 'string' || !UUID.test(addonId)) {
    return { kind: 'invalid', problem: entity === 'api:addon' ? 'data.id is not an add-on id' : 'data.addon.id is not an add-on id' };
  }
  const eventId = isObject(event) && isId(event['id']) ? event['id'] : isId(payload['id']) ? payload['id'] : null;
  const action = typeof payload['action'] === 'string' ? payload['action'] : null;
  return {
    kind: 'addon',
    // A delivery carries one event, so adding the event id never splits a true replay; it keeps
    // two events that share a delivery id (as Heroku's published examples all do) apart.
    replayKey: eventId === null ? deliveryId : `${deliveryId}/${eventId}`,
    deliveryId,
    entity: entity as AddonEntity,
    action,
    addonId: addonId.toLowerCase(),
  };
}

export interface WebhookHandlerOptions {
  /** Accepted signing secrets: the current one and, during a rotation, the previous one. */
  secrets: readonly string[];
  /** Larger bodies are refused with 413 without reading them to the end. Default 1 MiB. */
  maxBodyBytes?: number;
  /** The body must arrive within this long, or 408. Default 10 s. */
  readTimeoutMs?: number;
  seen: ReplayStore;
  /** Puts an add-on id on the work queue. Must not block; a throw answers 503 (Heroku may redeliver). */
  enqueue(addonId: string): void;
  logger?: Logger;
}

export type WebhookRequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** The handler for `POST /webhooks/heroku`; mount it on any node:http server. */
export function createWebhookHandler(options: WebhookHandlerOptions): WebhookRequestHandler {
  const secrets = options.secrets.filter((s) => s.length > 0);
  if (secrets.length === 0) throw new RangeError('the webhook receiver needs at least one non-empty signing secret');
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const readTimeoutMs = options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  const log = options.logger;

  return async (req, res) => {
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return reject(res, 405, 'method not allowed: deliveries are POSTed');
    }
    const signature = singleHeader(req, SIGNATURE_HEADER.toLowerCase());
    if (signature === undefined || signature === '') {
      log?.warn({ reason: WebhookDelivery.Unsigned, remote: req.socket.remoteAddress }, 'webhook delivery refused: no signature header');
      return reject(res, 401, `missing or invalid ${SIGNATURE_HEADER} signature`);
    }

    const read = await readBody(req, maxBodyBytes, readTimeoutMs);
    if (read.kind === 'too-large') {
      log?.warn({ reason: WebhookDelivery.TooLarge, remote: req.socket.remoteAddress, maxBodyBytes }, 'webhook delivery refused: body over the size limit');
      return reject(res, 413, `body larger than ${maxBodyBytes} bytes`);
    }
    if (read.kind === 'timeout') return reject(res, 408, `body not received within ${readTimeoutMs} ms`);
    if (read.kind === 'aborted') {
      res.destroy();
      return;
    }

    if (!verifyHerokuSignature(read.body, signature, secrets)) {
      log?.warn({ reason: WebhookDelivery.BadSignature, remote: req.socket.remoteAddress }, 'webhook delivery refused: signature does not match');
      return sendJson(res, 401, { error: `missing or invalid ${SIGNATURE_HEADER} signature` });
    }

    let payload: unknown;
    try {
      payload = JSON.parse(read.body.toString('utf8'));
    } catch {
      log?.warn({ reason: WebhookDelivery.Malformed }, 'webhook delivery refused: body is not JSON');
      return sendJson(res, 400, { error: 'body is not valid JSON' });
    }
    const event = parseWebhookEvent(payload);
    if (event.kind === 'invalid') {
      log?.warn({ reason: WebhookDelivery.Malformed, problem: event.problem }, `webhook delivery refused: ${event.problem}`);
      return sendJson(res, 400, { error: event.problem });
    }
    if (event.kind === 'ignored') {
      log?.debug({ reason: WebhookDelivery.Ignored, deliveryId: event.deliveryId, entity: event.entity }, 'webhook delivery ignored: not about an add-on');
      return sendJson(res, 200, { status: 'ignored' });
    }

    if (!(await options.seen.remember(event.replayKey))) {
      log?.debug({ reason: WebhookDelivery.Duplicate, deliveryId: event.deliveryId, addonId: event.addonId }, 'webhook delivery already accepted');
      return sendJson(res, 200, { status: 'duplicate' });
    }
    try {
      options.enqueue(event.addonId);
    } catch (err) {
      // Not accepted after all: let a redelivery through.
      await options.seen.forget(event.replayKey);
      log?.error({ reason: WebhookDelivery.EnqueueFailed, deliveryId: event.deliveryId, addonId: event.addonId, error: errorMessage(err) }, 'webhook delivery not queued');
      return sendJson(res, 503, { error: 'not queued: try again later' });
    }
    log?.info(
      { reason: WebhookDelivery.Queued, deliveryId: event.deliveryId, addonId: event.addonId, entity: event.entity, action: event.action },
      `webhook ${[event.entity, event.action].filter(Boolean).join(' ')}: add-on ${event.addonId} queued`,
    );
    sendJson(res, 202, { status: 'queued' });
  };
}

/**
 * Answers and closes the connection: used when the body was not read to its end, so the socket
 * is not reused with the rest of it still on the wire.
 */
function reject(res: ServerResponse, status: number, error: string): void {
  sendJsonAndClose(res, status, { error });
}



function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH;
}
