/**
 * The bodies Heroku sends to the Add-on Partner API (v3), checked for the fields the controller
 * uses. Unknown fields are allowed (Heroku may add some). `log_input_url` and `log_drain_token`
 * carry log-drain credentials the controller has no use for: they are neither kept nor logged.
 */
import type { PartnerAddonInput } from '../store/partner-addon-store.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_TEXT = 1000;

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

/** `POST /heroku/resources`: `{uuid, name, heroku_id, callback_url, plan, region, options, oauth_grant{code, expires_at, type}, …}`. */
export function parseProvisionRequest(body: unknown): Parsed<PartnerAddonInput> {
  if (!isObject(body)) return fail('the body must be a JSON object');
  const uuid = body['uuid'];
  if (typeof uuid !== 'string' || !UUID.test(uuid)) return fail('uuid must be the add-on id Heroku sends (a UUID)');
  const plan = text(body, 'plan');
  if (!plan.ok) return plan;
  if (plan.value === null) return fail('plan is required');
  const fields = {
    name: text(body, 'name'),
    herokuId: text(body, 'heroku_id'),
    region: text(body, 'region'),
    callbackUrl: text(body, 'callback_url'),
  };
  for (const field of Object.values(fields)) if (!field.ok) return field;
  const options = body['options'] ?? {};
  if (!isObject(options)) return fail('options must be a JSON object');
  const grant = body['oauth_grant'];
  if (!isObject(grant)) return fail('oauth_grant is required: this add-on uses the Add-on Partner API v3, whose provisioning requests carry an OAuth grant');
  const code = grant['code'];
  if (typeof code !== 'string' || code.trim() === '' || code.length > MAX_TEXT) return fail('oauth_grant.code must be a non-empty string');
  const expires = grant['expires_at'];
  let grantExpiresAt: Date | null = null;
  if (expires !== undefined && expires !== null) {
    grantExpiresAt = typeof expires === 'string' ? new Date(expires) : new Date(NaN);
    if (Number.isNaN(grantExpiresAt.getTime())) return fail('oauth_grant.expires_at must be a date-time');
  }
  return {
    ok: true,
    value: {
      uuid: uuid.toLowerCase(),
      plan: plan.value,
      name: value(fields.name),
      herokuId: value(fields.herokuId),
      region: value(fields.region),
      callbackUrl: value(fields.callbackUrl),
      options,
      grantCode: code,
      grantExpiresAt,
    },
  };
}

/** `PUT /heroku/resources/:id`: `{plan, heroku_id, uuid}`; only `plan` is used. */
export function parsePlanChange(body: unknown): Parsed<{ plan: string }> {
  if (!isObject(body)) return fail('the body must be a JSON object');
  const plan = text(body, 'plan');
  if (!plan.ok) return plan;
  if (plan.value === null) return fail('plan is required');
  return { ok: true, value: { plan: plan.value } };
}

/** True for the shape of an add-on id in a path. */
export function isAddonId(id: string): boolean {
  return UUID.test(id);
}

function text(body: Record<string, unknown>, key: string): Parsed<string | null> {
  const v = body[key];
  if (v === undefined || v === null) return { ok: true, value: null };
  if (typeof v !== 'string' || v.length > MAX_TEXT) return fail(`${key} must be a string of at most ${MAX_TEXT} characters`);
  return { ok: true, value: v.trim() === '' ? null : v };
}

function value(p: Parsed<string | null>): string | null {
  return p.ok ? p.value : null;
}

function fail(problem: string): { ok: false; problem: string } {
  return { ok: false, problem };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
