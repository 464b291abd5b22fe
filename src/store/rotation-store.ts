/**
 * Key rotations in flight (`key_rotations`): requested by an operator or started by the age
 * trigger, advanced one step at a time by the passes, deleted once the old key is. Every step is
 * written by the action that makes it, so a crash between two calls leaves a row the next pass
 * reads the truth around (the record's key and the user's keys, as observed).
 */
import type { Db, KeyRotation, RotationStep, RotationTrigger } from './types.js';

interface RotationRow {
  addon_id: string;
  account_id: string;
  old_access_key_id: string;
  new_access_key_id: string | null;
  trigger: RotationTrigger;
  step: RotationStep;
  requested_at: Date;
  requested_by: string;
  step_at: Date;
  delivered_at: Date | null;
  deactivated_at: Date | null;
  approved_at: Date | null;
}

const COLUMNS =
  'addon_id, account_id, old_access_key_id, new_access_key_id, trigger, step, requested_at, requested_by, step_at, delivered_at, deactivated_at, approved_at';

/** A rotation to request: the add-on's current key is the one it replaces. */
export interface RotationRequest {
  addonId: string;
  accountId: string;
  oldAccessKeyId: string;
  trigger: RotationTrigger;
  requestedBy: string;
}

export class RotationStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async list(): Promise<KeyRotation[]> {
    const rows = await this.#db.query<RotationRow>(`SELECT ${COLUMNS} FROM key_rotations ORDER BY requested_at, addon_id`);
    return rows.map(toRotation);
  }

  async get(addonId: string): Promise<KeyRotation | null> {
    const rows = await this.#db.query<RotationRow>(`SELECT ${COLUMNS} FROM key_rotations WHERE addon_id = $1`, [addonId]);
    return rows[0] ? toRotation(rows[0]) : null;
  }

  /**
   * Queues rotations an operator asked for, all or none: false (and nothing written) when any of
   * these add-ons already has one in flight, or its key is no longer the one named. An operator's
   * request is approved as it is made (the rotation breaker does not hold it).
   */
  async request(requests: readonly RotationRequest[], at: Date): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      for (const r of requests) {
        const inserted = await tx.query(
          `INSERT INTO key_rotations (addon_id, account_id, old_access_key_id, trigger, step, requested_at, requested_by, step_at, approved_at)
           SELECT $1, $2, $3, $4, 'requested', $5::timestamptz, $6, $5::timestamptz, $5::timestamptz
           FROM managed_resources WHERE addon_id = $1 AND access_key_id = $3
           ON CONFLICT (addon_id) DO NOTHING RETURNING addon_id`,
          [r.addonId, r.accountId, r.oldAccessKeyId, r.trigger, at, r.requestedBy],
        );
        if (inserted.length === 0) throw new RequestRefused();
      }
      return true;
    }).catch((err: unknown) => {
      if (err instanceof RequestRefused) return false;
      throw err;
    });
  }

  /**
   * The rotation is admitted: written before the new key is made (the intent). An age rotation
   * gets its row here; a requested one moves on. The caller has seen the old key still the
   * record's, so a row further on (a store restored from before the key changed) starts over.
   * False when the row names another old key.
   */
  async start(r: RotationRequest, at: Date): Promise<boolean> {
    const rows = await this.#db.query(
      `INSERT INTO key_rotations (addon_id, account_id, old_access_key_id, trigger, step, requested_at, requested_by, step_at)
       VALUES ($1, $2, $3, $4, 'creating', $5::timestamptz, $6, $5::timestamptz)
       ON CONFLICT (addon_id) DO UPDATE SET step = 'creating', step_at = EXCLUDED.step_at, new_access_key_id = NULL, delivered_at = NULL, deactivated_at = NULL
         WHERE key_rotations.old_access_key_id = EXCLUDED.old_access_key_id
       RETURNING addon_id`,
      [r.addonId, r.accountId, r.oldAccessKeyId, r.trigger, at, r.requestedBy],
    );
    return rows.length > 0;
  }

  /** The new key was made and recorded as the add-on's key. */
  async keyCreated(addonId: string, newAccessKeyId: string): Promise<void> {
    await this.#db.query('UPDATE key_rotations SET new_access_key_id = $2 WHERE addon_id = $1', [addonId, newAccessKeyId]);
  }

  /**
   * Every attachment holds the new key: the overlap starts, or starts again when an app got the
   * new key once more (its restart needs the old key as much as the first one did).
   */
  async delivered(addonId: string, newAccessKeyId: string, at: Date): Promise<boolean> {
    return this.#move(addonId, 'delivered', at, `delivered_at = $3::timestamptz, new_access_key_id = $4`, [newAccessKeyId], ['requested', 'creating', 'delivered', 'deactivated']);
  }

  async deactivated(addonId: string, at: Date): Promise<boolean> {
    return this.#move(addonId, 'deactivated', at, 'deactivated_at = $3::timestamptz', [], ['delivered', 'deactivated']);
  }

  /**
   * The old key is still in use (after its deactivation, or late in the overlap): the rotation
   * stops for an operator. Written before the key is switched back on (the intent): a crash
   * leaves that to be done again.
   */
  async reactivated(addonId: string, at: Date): Promise<boolean> {
    return this.#move(addonId, 'reactivated', at, 'deactivated_at = NULL', [], ['delivered', 'deactivated', 'reactivated']);
  }

  /**
   * An operator resumes a rotation that found its old key still in use: the overlap starts again
   * from now, approved.
   */
  async resume(addonId: string, at: Date): Promise<boolean> {
    return this.#move(addonId, 'delivered', at, 'delivered_at = $3::timestamptz, approved_at = $3::timestamptz', [], ['reactivated']);
  }

  /**
   * An operator says the old key leaked while its rotation is in flight: it goes on as an
   * emergency (no overlap, approved, never reactivated). One waiting in step `reactivated` goes
   * back to `delivered`, so the next pass deactivates it. False when the row is gone, names
   * another old key, or already is an emergency.
   */
  async escalate(addonId: string, oldAccessKeyId: string, at: Date): Promise<boolean> {
    const rows = await this.#db.query(
      `UPDATE key_rotations SET trigger = 'emergency', approved_at = $3::timestamptz,
         step = CASE WHEN step = 'reactivated' THEN 'delivered' ELSE step END,
         delivered_at = CASE WHEN step = 'reactivated' THEN $3::timestamptz ELSE delivered_at END,
         step_at = CASE WHEN step = 'reactivated' THEN $3::timestamptz ELSE step_at END
       WHERE addon_id = $1 AND old_access_key_id = $2 AND trigger <> 'emergency' RETURNING addon_id`,
      [addonId, oldAccessKeyId, at],
    );
    return rows.length > 0;
  }

  /** Lets the rotation breaker pass the held deactivations of one account; returns how many. */
  async approve(accountId: string, at: Date): Promise<number> {
    const rows = await this.#db.query(
      `UPDATE key_rotations SET approved_at = $2::timestamptz WHERE account_id = $1 AND approved_at IS NULL AND step IN ('creating', 'delivered', 'deactivated') RETURNING addon_id`,
      [accountId, at],
    );
    return rows.length;
  }

  /** The old key is gone: the rotation is over. */
  async finish(addonId: string): Promise<void> {
    await this.#db.query('DELETE FROM key_rotations WHERE addon_id = $1', [addonId]);
  }

  async #move(addonId: string, step: RotationStep, at: Date, set: string, extra: unknown[], from: RotationStep[]): Promise<boolean> {
    const rows = await this.#db.query(
      `UPDATE key_rotations SET step = '${step}', step_at = $3::timestamptz, ${set} WHERE addon_id = $1 AND step = ANY($2::text[]) RETURNING addon_id`,
      [addonId, from, at, ...extra],
    );
    return rows.length > 0;
  }
}

class RequestRefused extends Error {}

function toRotation(row: RotationRow): KeyRotation {
  return {
    addonId: row.addon_id,
    accountId: row.account_id,
    oldAccessKeyId: row.old_access_key_id,
    newAccessKeyId: row.new_access_key_id,
    trigger: row.trigger,
    step: row.step,
    requestedAt: row.requested_at,
    requestedBy: row.requested_by,
    stepAt: row.step_at,
    deliveredAt: row.delivered_at,
    deactivatedAt: row.deactivated_at,
    approvedAt: row.approved_at,
  };
}
