/**
 * What the controller made for each add-on: what every kind has in `managed_resources` (the
 * add-on, its IAM user and key, its life), and what its kind makes beyond the user in
 * `kind_resources`, one row per (add-on, kind). The generated secret access key is stored
 * Fernet-encrypted so credentials can be re-delivered without rotating the key.
 */
import type { SecretBox } from '../crypto/secret-box.js';
import type { Db, OrphanMark, ResourceKindName, ResourceRecord, ResourceState } from './types.js';

/**
 * What {@link ResourceStore.upsert} takes: a record without its timestamps; the key's creation
 * time only when known (a recorded key keeps its own while its id is unchanged).
 */
export type ResourceInput = Omit<ResourceRecord, 'createdAt' | 'updatedAt' | 'deepCheckedAt' | 'exposureCheckedAt' | 'orphan' | 'teardownStartedAt' | 'accessKeyCreatedAt'> & {
  accessKeyCreatedAt?: Date | null;
};

interface ResourceRow {
  addon_id: string;
  addon_name: string;
  account_id: string;
  team_id: string;
  app_id: string;
  plan: string;
  kind: ResourceKindName;
  resource_name: string | null;
  region: string;
  user_name: string;
  access_key_id: string | null;
  secret_access_key_enc: string | null;
  access_key_created_at: Date | null;
  resource_create_started_at: Date | null;
  deep_checked_at: Date | null;
  exposure_checked_at: Date | null;
  orphaned_at: Date | null;
  orphan_reason: 'deprovisioned' | 'orphaned' | null;
  delete_after: Date | null;
  teardown_started_at: Date | null;
  state: ResourceState;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
}

/** A record is its add-on's row with the row of the kind it was made as, when that kind made one. */
const RECORDS = `SELECT m.addon_id, m.addon_name, m.account_id, m.team_id, m.app_id, m.plan, m.kind,
  r.name AS resource_name, m.region, m.user_name, m.access_key_id, m.secret_access_key_enc,
  m.access_key_created_at, r.create_started_at AS resource_create_started_at, m.deep_checked_at, m.exposure_checked_at, m.orphaned_at,
  m.orphan_reason, m.delete_after, m.teardown_started_at, m.state, m.last_error, m.created_at,
  m.updated_at
  FROM managed_resources m LEFT JOIN kind_resources r ON r.addon_id = m.addon_id AND r.kind = m.kind`;

export class ResourceStore {
  readonly #db: Db;
  readonly #box: SecretBox;

  constructor(db: Db, box: SecretBox) {
    this.#db = db;
    this.#box = box;
  }

  /**
   * Creates or replaces the record of `record.addonId`, writing every field as given (including a
   * null key), in one transaction: the add-on's row, and the row of its kind's resource (none left
   * for a record without one). created_at is kept on replace. A resource or IAM user already
   * recorded for another add-on is refused by a unique constraint (SQLSTATE 23505).
   */
  async upsert(record: ResourceInput): Promise<ResourceRecord> {
    const addonId = record.addonId;
    await this.#db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO managed_resources (addon_id, addon_name, account_id, team_id, app_id, plan,
           region, user_name, access_key_id, secret_access_key_enc, state, last_error, kind, access_key_created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::timestamptz)
         ON CONFLICT (addon_id) DO UPDATE SET
           addon_name = EXCLUDED.addon_name, account_id = EXCLUDED.account_id,
           team_id = EXCLUDED.team_id, app_id = EXCLUDED.app_id, plan = EXCLUDED.plan,
           region = EXCLUDED.region, user_name = EXCLUDED.user_name,
           access_key_created_at = CASE WHEN managed_resources.access_key_id IS NOT DISTINCT FROM EXCLUDED.access_key_id
             THEN COALESCE(EXCLUDED.access_key_created_at, managed_resources.access_key_created_at)
             ELSE EXCLUDED.access_key_created_at END,
           access_key_id = EXCLUDED.access_key_id, secret_access_key_enc = EXCLUDED.secret_access_key_enc,
           state = EXCLUDED.state, last_error = EXCLUDED.last_error, kind = EXCLUDED.kind, updated_at = now()`,
        [
          addonId,
          record.addonName,
          record.accountId,
          record.teamId,
          record.appId,
          record.plan,
          record.region,
          record.userName,
          record.accessKeyId,
          this.#seal(record.secretAccessKey),
          record.state,
          record.lastError,
          record.kind,
          record.accessKeyCreatedAt ?? null,
        ],
      );
      await tx.query('DELETE FROM kind_resources WHERE addon_id = $1 AND (kind <> $2 OR $3::text IS NULL)', [addonId, record.kind, record.resourceName]);
      if (record.resourceName !== null) {
        await tx.query(
          `INSERT INTO kind_resources (addon_id, kind, name, create_started_at) VALUES ($1, $2, $3, $4::timestamptz)
           ON CONFLICT (addon_id, kind) DO UPDATE SET name = EXCLUDED.name,
             create_started_at = EXCLUDED.create_started_at, updated_at = now()`,
          [addonId, record.kind, record.resourceName, record.resourceCreateStartedAt],
        );
      }
    });
    const saved = await this.get(addonId);
    if (!saved) throw new Error(`the record of add-on ${addonId} was written but cannot be read back`);
    return saved;
  }

  async get(addonId: string): Promise<ResourceRecord | null> {
    const rows = await this.#db.query<ResourceRow>(
      `${RECORDS} WHERE m.addon_id = $1`,
      [addonId],
    );
    return rows[0] ? this.#toRecord(rows[0]) : null;
  }

  /** The records of one AWS account, ordered by add-on id. */
  async listByAccount(accountId: string): Promise<ResourceRecord[]> {
    const rows = await this.#db.query<ResourceRow>(
      `${RECORDS} WHERE m.account_id = $1 ORDER BY m.addon_id`,
      [accountId],
    );
    return rows.map((row) => this.#toRecord(row));
  }

  /** Every record, ordered by account then add-on id. */
  async listAll(): Promise<ResourceRecord[]> {
    const rows = await this.#db.query<ResourceRow>(
      `${RECORDS} ORDER BY m.account_id, m.addon_id`,
    );
    return rows.map((row) => this.#toRecord(row));
  }

  /**
   * Makes the record follow what Heroku says of the add-on now: its name, team, app and plan
   * (safety invariant 10: retention is judged by the plan it has now, collection by the team that
   * holds it now). Fields left out stay. Returns false if there is no record.
   */
  async follow(addonId: string, changes: Partial<Pick<ResourceRecord, 'addonName' | 'teamId' | 'appId' | 'plan'>>): Promise<boolean> {
    const rows = await this.#db.query(
      `UPDATE managed_resources SET addon_name = COALESCE($2, addon_name), team_id = COALESCE($3, team_id),
         app_id = COALESCE($4, app_id), plan = COALESCE($5, plan), updated_at = now()
       WHERE addon_id = $1 RETURNING addon_id`,
      [addonId, changes.addonName ?? null, changes.teamId ?? null, changes.appId ?? null, changes.plan ?? null],
    );
    return rows.length > 0;
  }

  /**
   * Records the access key (id and secret) delivered for `addonId`; pass nulls to forget it.
   * Returns false if there is no record.
   */
  async setKey(
    addonId: string,
    accessKeyId: string | null,
    secretAccessKey: string | null,
    createdAt: Date | null = null,
  ): Promise<boolean> {
    const rows = await this.#db.query(
      `UPDATE managed_resources
       SET access_key_id = $2, secret_access_key_enc = $3, access_key_created_at = $4::timestamptz, updated_at = now()
       WHERE addon_id = $1 RETURNING addon_id`,
      [addonId, accessKeyId, this.#seal(secretAccessKey), createdAt],
    );
    return rows.length > 0;
  }

  /**
   * When the recorded key was made, as a deep check read it (a key recorded before this was kept):
   * written only while that key is still the recorded one and its time is unknown.
   */
  async setKeyCreatedAt(addonId: string, accessKeyId: string, createdAt: Date): Promise<boolean> {
    const rows = await this.#db.query(
      `UPDATE managed_resources SET access_key_created_at = $3::timestamptz
       WHERE addon_id = $1 AND access_key_id = $2 AND access_key_created_at IS NULL RETURNING addon_id`,
      [addonId, accessKeyId, createdAt],
    );
    return rows.length > 0;
  }

  /**
   * Records the add-on's resource by its name, of the kind the add-on was made as, and when its
   * create call (CreateBucket) is about to be sent, or null to clear that; write it before the
   * call. A record whose resource row was lost gets it back. Returns false if there is no record.
   */
  async setCreateStarted(addonId: string, name: string, at: Date | null): Promise<boolean> {
    const rows = await this.#db.query(
      `INSERT INTO kind_resources (addon_id, kind, name, create_started_at)
         SELECT addon_id, kind, $2, $3::timestamptz FROM managed_resources WHERE addon_id = $1
       ON CONFLICT (addon_id, kind) DO UPDATE SET name = EXCLUDED.name,
         create_started_at = EXCLUDED.create_started_at, updated_at = now()
       RETURNING addon_id`,
      [addonId, name, at],
    );
    return rows.length > 0;
  }

  /**
   * Records that the settings and keys of these add-ons' resources were read at `at`: in full
   * (which reads the public-exposure settings too), or only the public-exposure settings
   * (`exposure`). With null, that they must be read again on the next pass (after a change of ours).
   */
  async setDeepChecked(addonIds: readonly string[], at: Date | null, scope: 'full' | 'exposure' = 'full'): Promise<void> {
    if (addonIds.length === 0) return;
    const set = scope === 'full' ? 'deep_checked_at = $2::timestamptz, exposure_checked_at = $2::timestamptz' : 'exposure_checked_at = $2::timestamptz';
    await this.#db.query(`UPDATE managed_resources SET ${set} WHERE addon_id = ANY($1::text[])`, [addonIds, at]);
  }

  /** The regions each account's records hold resources in (where its change events come from). */
  async regionsByAccount(): Promise<Map<string, string[]>> {
    const rows = await this.#db.query<{ account_id: string; region: string }>('SELECT DISTINCT account_id, region FROM managed_resources ORDER BY account_id, region');
    const out = new Map<string, string[]>();
    for (const row of rows) out.set(row.account_id, [...(out.get(row.account_id) ?? []), row.region]);
    return out;
  }

  /**
   * The add-on whose record names this resource in this account: its kind's resource (a bucket's
   * name) or its IAM user. Null when no record does (the name is not ours, or not any more).
   */
  async findByName(accountId: string, name: { resource: string } | { user: string }): Promise<ResourceRecord | null> {
    const rows =
      'resource' in name
        ? await this.#db.query<ResourceRow>(`${RECORDS} WHERE m.account_id = $1 AND r.name = $2`, [accountId, name.resource])
        : await this.#db.query<ResourceRow>(`${RECORDS} WHERE m.account_id = $1 AND m.user_name = $2`, [accountId, name.user]);
    return rows[0] ? this.#toRecord(rows[0]) : null;
  }

  /** Marks `addonId` as an orphan with its grace period, or (null) as wanted again. */
  async setOrphan(addonId: string, orphan: OrphanMark | null): Promise<boolean> {
    const rows = await this.#db.query(
      `UPDATE managed_resources SET orphaned_at = $2::timestamptz, orphan_reason = $3,
         delete_after = $4::timestamptz, teardown_started_at = CASE WHEN $2::timestamptz IS NULL THEN NULL ELSE teardown_started_at END,
         updated_at = now()
       WHERE addon_id = $1 RETURNING addon_id`,
      [addonId, orphan?.since ?? null, orphan?.reason ?? null, orphan?.deleteAfter ?? null],
    );
    return rows.length > 0;
  }

  /** Records that the teardown of `addonId` has begun (kept if already set). */
  async setTeardownStarted(addonId: string, at: Date): Promise<void> {
    await this.#db.query(
      `UPDATE managed_resources SET teardown_started_at = COALESCE(teardown_started_at, $2::timestamptz), updated_at = now()
       WHERE addon_id = $1`,
      [addonId, at],
    );
  }

  /** Sets the state and last error of `addonId`; false if there is no record. */
  async setState(addonId: string, state: ResourceState, lastError: string | null): Promise<boolean> {
    const rows = await this.#db.query(
      `UPDATE managed_resources SET state = $2, last_error = $3, updated_at = now()
       WHERE addon_id = $1 RETURNING addon_id`,
      [addonId, state, lastError],
    );
    return rows.length > 0;
  }

  /** Deletes the record of `addonId`; false if there was none. */
  async remove(addonId: string): Promise<boolean> {
    const rows = await this.#db.query(
      'DELETE FROM managed_resources WHERE addon_id = $1 RETURNING addon_id',
      [addonId],
    );
    return rows.length > 0;
  }

  /** Re-encrypts stored secrets not encrypted with the first key; returns how many changed. */
  async reencryptAll(): Promise<number> {
    const rows = await this.#db.query<{ addon_id: string; secret_access_key_enc: string }>(
      `SELECT addon_id, secret_access_key_enc FROM managed_resources
       WHERE secret_access_key_enc IS NOT NULL`,
    );
    let changed = 0;
    for (const row of rows) {
      if (!this.#box.needsReencrypt(row.secret_access_key_enc)) continue;
      const token = this.#box.reencrypt(row.secret_access_key_enc, context(row.addon_id));
      // Compare-and-set: a concurrent setKey() or upsert() wins over this rewrite.
      const updated = await this.#db.query(
        `UPDATE managed_resources SET secret_access_key_enc = $2
         WHERE addon_id = $1 AND secret_access_key_enc = $3 RETURNING addon_id`,
        [row.addon_id, token, row.secret_access_key_enc],
      );
      changed += updated.length;
    }
    return changed;
  }

  #seal(secret: string | null): string | null {
    return secret === null ? null : this.#box.encrypt(secret);
  }

  #toRecord(row: ResourceRow): ResourceRecord {
    return {
      addonId: row.addon_id,
      addonName: row.addon_name,
      accountId: row.account_id,
      teamId: row.team_id,
      appId: row.app_id,
      plan: row.plan,
      kind: row.kind,
      resourceName: row.resource_name,
      region: row.region,
      userName: row.user_name,
      accessKeyId: row.access_key_id,
      secretAccessKey:
        row.secret_access_key_enc === null
          ? null
          : this.#box.decrypt(row.secret_access_key_enc, context(row.addon_id)),
      accessKeyCreatedAt: row.access_key_created_at,
      resourceCreateStartedAt: row.resource_create_started_at,
      deepCheckedAt: row.deep_checked_at,
      exposureCheckedAt: row.exposure_checked_at,
      orphan:
        row.orphaned_at && row.orphan_reason && row.delete_after
          ? { since: row.orphaned_at, reason: row.orphan_reason, deleteAfter: row.delete_after }
          : null,
      teardownStartedAt: row.teardown_started_at,
      state: row.state,
      lastError: row.last_error,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }
}

function context(addonId: string): string {
  return `managed_resources.secret_access_key_enc of add-on ${addonId}`;
}
