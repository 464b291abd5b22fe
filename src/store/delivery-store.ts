/** Credentials delivered per attachment: config var names and a fingerprint, never the values. */
import type { Db, DeliveryRecord } from './types.js';

/** What {@link DeliveryStore.record} takes; `deliveredAt` defaults to now. */
export type DeliveryInput = Omit<DeliveryRecord, 'deliveredAt'> & { deliveredAt?: Date };

interface DeliveryRow {
  addon_id: string;
  attachment_id: string;
  app_id: string;
  var_names: string[];
  fingerprint: string;
  value_hashes: Record<string, string> | null;
  delivered_at: Date;
}

const COLUMNS = 'addon_id, attachment_id, app_id, var_names, fingerprint, value_hashes, delivered_at';

export class DeliveryStore {
  readonly #db: Db;

  /** `box` is accepted for symmetry with the other repositories; deliveries hold no secret. */
  constructor(db: Db, _box?: unknown) {
    this.#db = db;
  }

  /** Deliveries of one add-on, ordered by attachment id. */
  async listForAddon(addonId: string): Promise<DeliveryRecord[]> {
    const rows = await this.#db.query<DeliveryRow>(
      `SELECT ${COLUMNS} FROM deliveries WHERE addon_id = $1 ORDER BY attachment_id`,
      [addonId],
    );
    return rows.map(toRecord);
  }

  /** Every delivery, ordered by add-on then attachment id. */
  async listAll(): Promise<DeliveryRecord[]> {
    const rows = await this.#db.query<DeliveryRow>(
      `SELECT ${COLUMNS} FROM deliveries ORDER BY addon_id, attachment_id`,
    );
    return rows.map(toRecord);
  }

  /** Creates or replaces the delivery of (addonId, attachmentId). */
  async record(delivery: DeliveryInput): Promise<DeliveryRecord> {
    const rows = await this.#db.query<DeliveryRow>(
      `INSERT INTO deliveries (addon_id, attachment_id, app_id, var_names, fingerprint, value_hashes, delivered_at)
       VALUES ($1, $2, $3, $4::text[], $5, $6::jsonb, COALESCE($7::timestamptz, now()))
       ON CONFLICT (addon_id, attachment_id) DO UPDATE SET
         app_id = EXCLUDED.app_id, var_names = EXCLUDED.var_names,
         fingerprint = EXCLUDED.fingerprint, value_hashes = EXCLUDED.value_hashes,
         delivered_at = EXCLUDED.delivered_at
       RETURNING ${COLUMNS}`,
      [
        delivery.addonId,
        delivery.attachmentId,
        delivery.appId,
        [...delivery.varNames],
        delivery.fingerprint,
        delivery.valueHashes ? JSON.stringify(delivery.valueHashes) : null,
        delivery.deliveredAt ?? null,
      ],
    );
    const row = rows[0];
    if (!row) throw new Error('the database returned no row for INSERT … RETURNING');
    return toRecord(row);
  }

  /** Deletes one delivery; false if there was none. */
  async remove(addonId: string, attachmentId: string): Promise<boolean> {
    const rows = await this.#db.query(
      'DELETE FROM deliveries WHERE addon_id = $1 AND attachment_id = $2 RETURNING addon_id',
      [addonId, attachmentId],
    );
    return rows.length > 0;
  }

  /** Deletes every delivery of one add-on; returns how many. */
  async removeForAddon(addonId: string): Promise<number> {
    const rows = await this.#db.query(
      'DELETE FROM deliveries WHERE addon_id = $1 RETURNING attachment_id',
      [addonId],
    );
    return rows.length;
  }
}

function toRecord(row: DeliveryRow): DeliveryRecord {
  return {
    addonId: row.addon_id,
    attachmentId: row.attachment_id,
    appId: row.app_id,
    varNames: row.var_names,
    fingerprint: row.fingerprint,
    valueHashes: row.value_hashes,
    deliveredAt: row.delivered_at,
  };
}
