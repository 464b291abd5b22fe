/**
 * Add-ons Heroku asked this controller to provide through the Add-on Partner API (v3), one row per
 * provisioning request (`partner_addons`), keyed by the request's `uuid`. The OAuth grant code and
 * the partner tokens are stored Fernet-encrypted and decrypted only in memory.
 */
import type { SecretBox } from '../crypto/secret-box.js';
import type { Db } from './types.js';

export type PartnerAddonState = 'provisioning' | 'provisioned' | 'failed' | 'deprovisioned';

/** The partner OAuth tokens of one add-on (plaintext, in memory only). */
export interface PartnerTokenSet {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: Date;
}

/** What Heroku sent in `POST /heroku/resources`, as stored. */
export interface PartnerAddonInput {
  /** The request's `uuid`: Heroku's add-on id, and the `id` answered. */
  uuid: string;
  name: string | null;
  herokuId: string | null;
  plan: string;
  region: string | null;
  callbackUrl: string | null;
  options: Record<string, unknown>;
  /** `oauth_grant.code`, to be exchanged for tokens; null when the request carried none. */
  grantCode: string | null;
  grantExpiresAt: Date | null;
}

export interface PartnerAddon extends Omit<PartnerAddonInput, 'grantCode'> {
  state: PartnerAddonState;
  /** True while a grant code waits to be exchanged (the code itself is never read back out). */
  hasGrant: boolean;
  /** Null until the grant was exchanged. */
  tokens: PartnerTokenSet | null;
  tokenExchangedAt: Date | null;
  tokenError: string | null;
  tokenFailures: number;
  provisionedSentAt: Date | null;
  failedSentAt: Date | null;
  failureReason: string | null;
  planChangedAt: Date | null;
  deprovisionedAt: Date | null;
  deleteAfter: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

interface PartnerAddonRow {
  uuid: string;
  name: string | null;
  heroku_id: string | null;
  plan: string;
  region: string | null;
  callback_url: string | null;
  options: Record<string, unknown>;
  state: PartnerAddonState;
  grant_code_enc: string | null;
  grant_expires_at: Date | null;
  access_token_enc: string | null;
  refresh_token_enc: string | null;
  access_token_expires_at: Date | null;
  token_exchanged_at: Date | null;
  token_error: string | null;
  token_failures: number;
  provisioned_sent_at: Date | null;
  failed_sent_at: Date | null;
  failure_reason: string | null;
  plan_changed_at: Date | null;
  deprovisioned_at: Date | null;
  delete_after: Date | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `uuid, name, heroku_id, plan, region, callback_url, options, state, grant_code_enc,
  grant_expires_at, access_token_enc, refresh_token_enc, access_token_expires_at, token_exchanged_at,
  token_error, token_failures, provisioned_sent_at, failed_sent_at, failure_reason, plan_changed_at,
  deprovisioned_at, delete_after, created_at, updated_at`;

export class PartnerAddonStore {
  readonly #db: Db;
  readonly #box: SecretBox;

  constructor(db: Db, box: SecretBox) {
    this.#db = db;
    this.#box = box;
  }

  /**
   * Records a provisioning request once: a second request with the same `uuid` (Heroku delivers at
   * least once) changes nothing and returns the first record with `created: false`.
   */
  async create(input: PartnerAddonInput): Promise<{ addon: PartnerAddon; created: boolean }> {
    const rows = await this.#db.query<PartnerAddonRow>(
      `INSERT INTO partner_addons (uuid, name, heroku_id, plan, region, callback_url, options,
         grant_code_enc, grant_expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::timestamptz)
       ON CONFLICT (uuid) DO NOTHING
       RETURNING ${COLUMNS}`,
      [
        input.uuid,
        input.name,
        input.herokuId,
        input.plan,
        input.region,
        input.callbackUrl,
        JSON.stringify(input.options),
        input.grantCode === null ? null : this.#box.encrypt(input.grantCode),
        input.grantExpiresAt,
      ],
    );
    if (rows[0]) return { addon: this.#toAddon(rows[0]), created: true };
    const existing = await this.get(input.uuid);
    if (!existing) throw new Error(`partner add-on ${input.uuid} vanished while it was being recorded`);
    return { addon: existing, created: false };
  }

  async get(uuid: string): Promise<PartnerAddon | null> {
    const row = await this.#row(uuid);
    return row ? this.#toAddon(row) : null;
  }

  /** Every partner add-on, oldest first. */
  async list(): Promise<PartnerAddon[]> {
    const rows = await this.#db.query<PartnerAddonRow>(`SELECT ${COLUMNS} FROM partner_addons ORDER BY created_at, uuid`);
    return rows.map((row) => this.#toAddon(row));
  }

  /** The stored grant code, decrypted; null once exchanged (or when there was none). */
  async grantCode(uuid: string): Promise<{ code: string; expiresAt: Date | null } | null> {
    const row = await this.#row(uuid);
    if (!row?.grant_code_enc) return null;
    return { code: this.#box.decrypt(row.grant_code_enc, `partner_addons.grant_code_enc of ${uuid}`), expiresAt: row.grant_expires_at };
  }

  /**
   * Takes the grant of a repeated provisioning request while no tokens were obtained yet (the
   * first grant may have expired or failed); false when tokens are stored (nothing changes then).
   */
  async replaceGrant(uuid: string, code: string, expiresAt: Date | null): Promise<boolean> {
    const rows = await this.#db.query(
      `UPDATE partner_addons SET grant_code_enc = $2, grant_expires_at = $3::timestamptz, updated_at = now()
       WHERE uuid = $1 AND access_token_enc IS NULL RETURNING uuid`,
      [uuid, this.#box.encrypt(code), expiresAt],
    );
    return rows.length > 0;
  }

  /**
   * Stores the tokens a grant was exchanged for and forgets the grant, only when no tokens are
   * stored yet (another replica may have exchanged first); false when skipped.
   */
  async saveExchangedTokens(uuid: string, tokens: PartnerTokenSet, at: Date): Promise<boolean> {
    const rows = await this.#db.query(
      `UPDATE partner_addons SET access_token_enc = $2, refresh_token_enc = $3,
         access_token_expires_at = $4::timestamptz, token_exchanged_at = $5::timestamptz,
         grant_code_enc = NULL, token_error = NULL, token_failures = 0, updated_at = now()
       WHERE uuid = $1 AND access_token_enc IS NULL
       RETURNING uuid`,
      [uuid, this.#box.encrypt(tokens.accessToken), this.#box.encrypt(tokens.refreshToken), tokens.accessTokenExpiresAt, at],
    );
    return rows.length > 0;
  }

  /**
   * Replaces refreshed tokens, only if the access token is still the one that was refreshed
   * (compare-and-set on its expiry), so a concurrent refresh elsewhere is never overwritten by an
   * older one. False when skipped.
   */
  async saveRefreshedTokens(uuid: string, tokens: PartnerTokenSet, previousExpiresAt: Date): Promise<boolean> {
    const rows = await this.#db.query(
      `UPDATE partner_addons SET access_token_enc = $2, refresh_token_enc = $3,
         access_token_expires_at = $4::timestamptz, token_error = NULL, token_failures = 0, updated_at = now()
       WHERE uuid = $1 AND access_token_expires_at = $5::timestamptz
       RETURNING uuid`,
      [uuid, this.#box.encrypt(tokens.accessToken), this.#box.encrypt(tokens.refreshToken), tokens.accessTokenExpiresAt, previousExpiresAt],
    );
    return rows.length > 0;
  }

  /** Records a failed exchange or refresh. `problem` must be a plain sentence without any token. */
  async recordTokenFailure(uuid: string, problem: string): Promise<void> {
    await this.#db.query(
      `UPDATE partner_addons SET token_error = $2, token_failures = token_failures + 1, updated_at = now() WHERE uuid = $1`,
      [uuid, problem],
    );
  }

  /** Plan change (`PUT /heroku/resources/:id`); null for an unknown add-on. */
  async changePlan(uuid: string, plan: string, at: Date): Promise<PartnerAddon | null> {
    const rows = await this.#db.query<PartnerAddonRow>(
      `UPDATE partner_addons SET plan = $2,
         plan_changed_at = CASE WHEN plan = $2 THEN plan_changed_at ELSE $3::timestamptz END, updated_at = now()
       WHERE uuid = $1 RETURNING ${COLUMNS}`,
      [uuid, plan, at],
    );
    return rows[0] ? this.#toAddon(rows[0]) : null;
  }

  /**
   * Marks the add-on deprovisioned (`DELETE /heroku/resources/:id`); a repeated call keeps the first
   * moment and grace. Null for an unknown add-on.
   */
  async markDeprovisioned(uuid: string, at: Date, deleteAfter: Date): Promise<PartnerAddon | null> {
    const rows = await this.#db.query<PartnerAddonRow>(
      `UPDATE partner_addons SET state = 'deprovisioned',
         deprovisioned_at = COALESCE(deprovisioned_at, $2::timestamptz),
         delete_after = COALESCE(delete_after, $3::timestamptz), updated_at = now()
       WHERE uuid = $1 RETURNING ${COLUMNS}`,
      [uuid, at, deleteAfter],
    );
    return rows[0] ? this.#toAddon(rows[0]) : null;
  }

  /** Heroku accepted `actions/provision`. True if this call recorded it (it was not recorded before). */
  async markProvisionedSent(uuid: string, at: Date): Promise<boolean> {
    const rows = await this.#db.query(
      `UPDATE partner_addons SET provisioned_sent_at = $2::timestamptz,
         state = CASE WHEN state = 'provisioning' THEN 'provisioned' ELSE state END, updated_at = now()
       WHERE uuid = $1 AND provisioned_sent_at IS NULL RETURNING uuid`,
      [uuid, at],
    );
    return rows.length > 0;
  }

  /** Heroku accepted `actions/deprovision` for a terminal failure. True if this call recorded it. */
  async markFailedSent(uuid: string, reason: string, at: Date): Promise<boolean> {
    const rows = await this.#db.query(
      `UPDATE partner_addons SET failed_sent_at = $2::timestamptz, failure_reason = $3,
         state = CASE WHEN state = 'provisioning' THEN 'failed' ELSE state END, updated_at = now()
       WHERE uuid = $1 AND failed_sent_at IS NULL RETURNING uuid`,
      [uuid, at, reason],
    );
    return rows.length > 0;
  }

  /** Re-encrypts stored secrets not encrypted with the first key; returns how many rows changed. */
  async reencryptAll(): Promise<number> {
    const rows = await this.#db.query<PartnerAddonRow>(`SELECT ${COLUMNS} FROM partner_addons`);
    let changed = 0;
    for (const row of rows) {
      const next = {
        grant: this.#rotate(row.grant_code_enc, row.uuid, 'grant_code_enc'),
        access: this.#rotate(row.access_token_enc, row.uuid, 'access_token_enc'),
        refresh: this.#rotate(row.refresh_token_enc, row.uuid, 'refresh_token_enc'),
      };
      if (next.grant === row.grant_code_enc && next.access === row.access_token_enc && next.refresh === row.refresh_token_enc) continue;
      // Compare-and-set: a concurrent exchange or refresh wins over this rewrite.
      const updated = await this.#db.query(
        `UPDATE partner_addons SET grant_code_enc = $2, access_token_enc = $3, refresh_token_enc = $4
         WHERE uuid = $1 AND grant_code_enc IS NOT DISTINCT FROM $5
           AND access_token_enc IS NOT DISTINCT FROM $6 AND refresh_token_enc IS NOT DISTINCT FROM $7
         RETURNING uuid`,
        [row.uuid, next.grant, next.access, next.refresh, row.grant_code_enc, row.access_token_enc, row.refresh_token_enc],
      );
      changed += updated.length;
    }
    return changed;
  }

  async #row(uuid: string): Promise<PartnerAddonRow | null> {
    const rows = await this.#db.query<PartnerAddonRow>(`SELECT ${COLUMNS} FROM partner_addons WHERE uuid = $1`, [uuid]);
    return rows[0] ?? null;
  }

  #rotate(token: string | null, uuid: string, column: string): string | null {
    if (token === null || !this.#box.needsReencrypt(token)) return token;
    return this.#box.reencrypt(token, `partner_addons.${column} of ${uuid}`);
  }

  #toAddon(row: PartnerAddonRow): PartnerAddon {
    const tokens =
      row.access_token_enc !== null && row.refresh_token_enc !== null && row.access_token_expires_at !== null
        ? {
            accessToken: this.#box.decrypt(row.access_token_enc, `partner_addons.access_token_enc of ${row.uuid}`),
            refreshToken: this.#box.decrypt(row.refresh_token_enc, `partner_addons.refresh_token_enc of ${row.uuid}`),
            accessTokenExpiresAt: row.access_token_expires_at,
          }
        : null;
    return {
      uuid: row.uuid,
      name: row.name,
      herokuId: row.heroku_id,
      plan: row.plan,
      region: row.region,
      callbackUrl: row.callback_url,
      options: row.options,
      grantExpiresAt: row.grant_expires_at,
      state: row.state,
      hasGrant: row.grant_code_enc !== null,
      tokens,
      tokenExchangedAt: row.token_exchanged_at,
      tokenError: row.token_error,
      tokenFailures: row.token_failures,
      provisionedSentAt: row.provisioned_sent_at,
      failedSentAt: row.failed_sent_at,
      failureReason: row.failure_reason,
      planChangedAt: row.plan_changed_at,
      deprovisionedAt: row.deprovisioned_at,
      deleteAfter: row.delete_after,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }
}
